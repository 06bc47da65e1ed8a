//! What an own-telemetry offer tells an agent, in domain terms: the OpAMP code turns it into
//! `ConnectionSettingsOffers.own_metrics` (`TelemetryConnectionSettings`: destination_endpoint,
//! headers) and uses [`TelemetryOffer::hash`] as the offers' `hash`, so an unchanged offer is
//! recognised and not sent again.

use sha2::{Digest, Sha256};

use super::token;
use crate::fleet::AgentId;

/// Where and how one agent should send its own metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TelemetryOffer {
    /// Full OTLP/HTTP URL, e.g. `https://fleet.example.net:4320/v1/metrics`.
    pub endpoint: String,
    /// Headers to send with every export: `Authorization: Bearer <per-agent token>`.
    pub headers: Vec<(String, String)>,
}

impl TelemetryOffer {
    /// The offer of own metrics for `id`. `public_url` is `--public-url` (the agent listener as
    /// agents reach it); a trailing `/` is ignored.
    pub fn own_metrics(public_url: &str, secret: &[u8], id: &AgentId) -> Self {
        TelemetryOffer {
            endpoint: format!("{}/v1/metrics", public_url.trim_end_matches('/')),
            headers: vec![(
                "Authorization".to_string(),
                format!("Bearer {}", token::issue(secret, id)),
            )],
        }
    }

    /// SHA-256 over everything the agent would apply; equal offers have equal hashes.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        // Length prefixes keep ("ab","c") and ("a","bc") apart.
        let mut field = |s: &str| {
            h.update((s.len() as u64).to_le_bytes());
            h.update(s.as_bytes());
        };
        field(&self.endpoint);
        for (k, v) in &self.headers {
            field(k);
            field(v);
        }
        h.finalize().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offer_points_at_our_endpoint_with_a_token_that_verifies() {
        let id = AgentId::new_v7();
        let offer = TelemetryOffer::own_metrics("https://fleet.example.net:4320/", b"k", &id);
        assert_eq!(offer.endpoint, "https://fleet.example.net:4320/v1/metrics");
        let (name, value) = &offer.headers[0];
        assert_eq!(name, "Authorization");
        let token = value.strip_prefix("Bearer ").unwrap_or_default();
        assert_eq!(token::verify(b"k", token), Some(id));
    }

    #[test]
    fn hash_changes_only_with_the_offer() {
        let id = AgentId::new_v7();
        let a = TelemetryOffer::own_metrics("http://h:4320", b"k", &id);
        assert_eq!(
            a.hash(),
            TelemetryOffer::own_metrics("http://h:4320/", b"k", &id).hash()
        );
        assert_ne!(
            a.hash(),
            TelemetryOffer::own_metrics("http://h:4321", b"k", &id).hash()
        );
        assert_ne!(
            a.hash(),
            TelemetryOffer::own_metrics("http://h:4320", b"k2", &id).hash()
        );
    }
}
