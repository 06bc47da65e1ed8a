//! Per-agent OTLP tokens, stateless: the token carries the agent id and a truncated
//! HMAC-SHA256 of it under the server's agent secret, so any fleetdeck process holding the
//! secret can verify it without a lookup, and a token never outlives a secret rotation.
//!
//! Format: `fdt1.<agent id, 32 hex digits>.<first 16 bytes of HMAC-SHA256, 32 hex digits>`.
//! Agents send it as `Authorization: Bearer <token>` (the own-telemetry offer puts exactly
//! that header in `ConnectionSettingsOffers.own_metrics.headers`).

use hmac::{KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::fleet::AgentId;

type HmacSha256 = hmac::Hmac<Sha256>;

const PREFIX: &str = "fdt1.";
/// 128 bits of tag: forging one is as hard as guessing a random UUID.
const TAG_BYTES: usize = 16;
/// Separates token MACs from any other use of the same secret.
const DOMAIN: &[u8] = b"fleetdeck otlp token v1\0";

fn tag(secret: &[u8], id: &AgentId) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = <HmacSha256 as KeyInit>::new_from_slice(secret)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    mac.update(DOMAIN);
    mac.update(id.as_bytes());
    mac
}

/// The token for one agent.
pub fn issue(secret: &[u8], id: &AgentId) -> String {
    let full = tag(secret, id).finalize().into_bytes();
    format!(
        "{PREFIX}{}.{}",
        hex::encode(id.as_bytes()),
        hex::encode(&full[..TAG_BYTES])
    )
}

/// The agent a token was issued for, if it was issued with this secret.
pub fn verify(secret: &[u8], token: &str) -> Option<AgentId> {
    let rest = token.strip_prefix(PREFIX)?;
    let (id_hex, tag_hex) = rest.split_once('.')?;
    let mut id = [0u8; 16];
    hex::decode_to_slice(id_hex, &mut id).ok()?;
    let mut presented = [0u8; TAG_BYTES];
    hex::decode_to_slice(tag_hex, &mut presented).ok()?;
    let id = AgentId(id);
    tag(secret, &id)
        .verify_truncated_left(&presented)
        .ok()
        .map(|()| id)
}

/// Whether a presented credential is the fleet-wide agent secret (constant time).
pub fn is_fleet_secret(secret: &[u8], presented: &[u8]) -> bool {
    !secret.is_empty() && bool::from(secret.ct_eq(presented))
}

/// Looks like one of our tokens (so a mismatch is a bad token, not a fleet secret).
pub fn looks_like_token(s: &str) -> bool {
    s.starts_with(PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_token_verifies_to_its_agent() {
        let id = AgentId::new_v7();
        let token = issue(b"s3cret", &id);
        assert_eq!(verify(b"s3cret", &token), Some(id));
        assert_eq!(token.len(), PREFIX.len() + 32 + 1 + 32);
    }

    #[test]
    fn forged_or_foreign_tokens_are_refused() {
        let id = AgentId::new_v7();
        let token = issue(b"s3cret", &id);
        assert_eq!(verify(b"other", &token), None);
        // Same tag, another agent id.
        let other = AgentId::new_v7();
        let forged = format!("{PREFIX}{}.{}", hex::encode(other.as_bytes()), &token[38..]);
        assert_eq!(verify(b"s3cret", &forged), None);
        assert_eq!(verify(b"s3cret", "fdt1.zz"), None);
        assert_eq!(verify(b"s3cret", ""), None);
        let mut flipped = token.clone();
        flipped.replace_range(
            token.len() - 1..,
            if token.ends_with('0') { "1" } else { "0" },
        );
        assert_eq!(verify(b"s3cret", &flipped), None);
    }

    #[test]
    fn fleet_secret_matches_exactly() {
        assert!(is_fleet_secret(b"abc", b"abc"));
        assert!(!is_fleet_secret(b"abc", b"abcd"));
        assert!(!is_fleet_secret(b"", b""));
    }
}
