//! The supervisor's end of a tap: a small OTLP/HTTP receiver on 127.0.0.1 that each
//! pipeline of the Collector also exports to (`config.rs` adds the exporter), keeping the
//! last export requests of every pipeline as they came, in a bounded ring. Nothing is
//! decoded while nobody looks: a request from the server decodes only the newest bodies,
//! until it has the items it asked for (`crate::otlp::tap`).
//!
//! Bounds: a body over [`MAX_BODY`] is refused (413; the Collector drops that one batch
//! for the tap exporter only, never for the pipeline's own exporters); each pipeline keeps
//! at most [`RING_BODIES`] bodies and its share of [`TOTAL_BYTES`]; at most
//! [`MAX_PIPELINES`] pipelines are tapped. The receiver answers at once whatever happens,
//! so the Collector's tap exporter never waits on it.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use tokio_util::sync::CancellationToken;

use crate::fleet::tap::{TapAnswer, TapPipeline, TapRequest, TapSignal, now_unix_nano};

/// The header naming the pipeline an export request comes from.
pub const PIPELINE_HEADER: &str = "x-fleetdeck-tap-pipeline";
/// The environment variable that carries the tap exporter's `Authorization` value to the
/// Collector (it is in no file, and not in the effective configuration).
pub const AUTH_ENV: &str = "FLEETDECK_TAP_AUTHORIZATION";
/// The largest export request kept.
pub const MAX_BODY: usize = 16 << 20;
/// Bodies kept per pipeline.
pub const RING_BODIES: usize = 256;
/// Bytes of bodies kept over all pipelines (each gets an equal share, at least 256 KiB).
pub const TOTAL_BYTES: usize = 16 << 20;
/// Pipelines tapped at most (in the order of the configuration).
pub const MAX_PIPELINES: usize = 32;

/// One export request as it came.
struct Kept {
    seq: u64,
    at: u64,
    body: Bytes,
}

#[derive(Default)]
struct Ring {
    bodies: VecDeque<Kept>,
    bytes: usize,
    batches: u64,
    last: u64,
}

#[derive(Default)]
struct Rings {
    /// The pipelines the running configuration has, in its order.
    order: Vec<(String, TapSignal)>,
    rings: HashMap<String, Ring>,
    next_seq: u64,
    /// Requests refused: no such pipeline, too large.
    refused: u64,
}

impl Rings {
    fn share(&self) -> usize {
        (TOTAL_BYTES / self.order.len().max(1)).max(256 << 10)
    }
}

/// The tap receiver and what it keeps. Cheap to share.
pub struct TapHub {
    addr: SocketAddr,
    authorization: String,
    rings: Mutex<Rings>,
}

impl std::fmt::Debug for TapHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TapHub")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl TapHub {
    /// Starts the receiver on 127.0.0.1 (a port of the system's choosing) until `stop`.
    pub async fn start(stop: CancellationToken) -> std::io::Result<Arc<TapHub>> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let secret: [u8; 24] = rand::random();
        let hub = Arc::new(TapHub {
            addr,
            authorization: format!("Bearer {}", hex::encode(secret)),
            rings: Mutex::new(Rings::default()),
        });
        let app = axum::Router::new()
            .route("/v1/{signal}", axum::routing::post(receive))
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .with_state(hub.clone());
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(stop.cancelled_owned())
                .await;
            if let Err(e) = served {
                tracing::warn!("the tap receiver stopped: {e}");
            }
        });
        Ok(hub)
    }

    /// Where the Collector's tap exporters send (`otlphttp` adds `/v1/<signal>`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The `Authorization` value the exporters send.
    pub fn authorization(&self) -> &str {
        &self.authorization
    }

    fn lock(&self) -> MutexGuard<'_, Rings> {
        // A panic while holding it leaves plain data behind; keep going with it.
        self.rings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Collector now runs these pipelines: what was kept for pipelines it no longer
    /// runs is dropped, the rest stays.
    pub fn running(&self, pipelines: Vec<(String, TapSignal)>) {
        let mut r = self.lock();
        r.rings
            .retain(|name, _| pipelines.iter().any(|(p, _)| p == name));
        r.order = pipelines;
        r.order.truncate(MAX_PIPELINES);
    }

    /// Keeps one export request of `pipeline`; false if it is not one we tap.
    fn keep(&self, pipeline: &str, signal: TapSignal, body: Bytes) -> bool {
        let mut r = self.lock();
        if !r.order.iter().any(|(p, s)| p == pipeline && *s == signal) {
            r.refused += 1;
            return false;
        }
        let share = r.share();
        r.next_seq += 1;
        let seq = r.next_seq;
        let at = now_unix_nano();
        let ring = r.rings.entry(pipeline.to_string()).or_default();
        ring.batches += 1;
        ring.last = at;
        ring.bytes += body.len();
        ring.bodies.push_back(Kept { seq, at, body });
        while ring.bodies.len() > RING_BODIES || (ring.bytes > share && ring.bodies.len() > 1) {
            if let Some(old) = ring.bodies.pop_front() {
                ring.bytes -= old.body.len();
            }
        }
        true
    }

    /// The answer to a tap: the newest items of the pipeline asked for.
    pub fn answer(&self, request: &TapRequest) -> TapAnswer {
        let id = request.id;
        // The bodies are taken out of the lock (cheap clones), then decoded.
        let (pipelines, chosen, bodies) = {
            let r = self.lock();
            let pipelines: Vec<TapPipeline> = r
                .order
                .iter()
                .map(|(name, signal)| {
                    let ring = r.rings.get(name);
                    TapPipeline {
                        name: name.clone(),
                        signal: *signal,
                        batches: ring.map_or(0, |x| x.batches),
                        last_unix_nano: ring.map_or(0, |x| x.last),
                    }
                })
                .collect();
            let chosen = match choose(&r.order, request) {
                Ok(c) => c,
                Err(why) => {
                    let mut a = TapAnswer::refused(id, why);
                    a.pipelines = pipelines;
                    return a;
                }
            };
            let bodies: Vec<(u64, u64, Bytes)> = r
                .rings
                .get(&chosen.0)
                .map(|ring| {
                    ring.bodies
                        .iter()
                        .rev()
                        .map(|k| (k.seq, k.at, k.body.clone()))
                        .collect()
                })
                .unwrap_or_default();
            (pipelines, chosen, bodies)
        };
        let (name, signal) = chosen;
        let want = request.limit();
        let mut newest_first = Vec::new();
        let mut unreadable = 0;
        for (seq, at, body) in bodies {
            if newest_first.len() >= want
                || request
                    .after
                    .is_some_and(|a| crate::otlp::tap::seq_of(seq + 1, 0) <= a)
            {
                break;
            }
            match crate::otlp::tap::items(
                signal,
                &body,
                seq,
                at,
                want - newest_first.len(),
                request.after,
            ) {
                Ok((items, _)) => newest_first.extend(items.into_iter().rev()),
                Err(e) => {
                    unreadable += 1;
                    tracing::debug!("a tapped body could not be read: {e}");
                }
            }
        }
        let mut answer = TapAnswer {
            id,
            pipelines,
            pipeline: Some(name),
            signal: Some(signal),
            ..TapAnswer::default()
        };
        answer.fill(newest_first);
        if unreadable > 0 {
            answer.error = Some(format!(
                "{unreadable} export request(s) could not be read as OTLP and were skipped"
            ));
        }
        answer
    }
}

/// The pipeline a request names: by name, else the first of its signal, else the first.
fn choose(
    order: &[(String, TapSignal)],
    request: &TapRequest,
) -> Result<(String, TapSignal), String> {
    let list = || {
        if order.is_empty() {
            "none".to_string()
        } else {
            order
                .iter()
                .map(|(p, _)| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    if order.is_empty() {
        return Err(
            "the Collector runs no pipeline that can be tapped (no configuration yet?)".into(),
        );
    }
    match (&request.pipeline, request.signal) {
        (Some(name), signal) => {
            let found = order.iter().find(|(p, _)| p == name).ok_or_else(|| {
                format!("no pipeline named '{name}'; this agent taps: {}", list())
            })?;
            if let Some(s) = signal
                && s != found.1
            {
                return Err(format!("pipeline '{name}' carries {}, not {s}", found.1));
            }
            Ok(found.clone())
        }
        (None, Some(s)) => order
            .iter()
            .find(|(_, x)| *x == s)
            .cloned()
            .ok_or_else(|| format!("no {s} pipeline; this agent taps: {}", list())),
        (None, None) => Ok(order[0].clone()),
    }
}

/// `POST /v1/{signal}` from the Collector's tap exporters: kept (or not), answered at once.
async fn receive(
    State(hub): State<Arc<TapHub>>,
    Path(signal): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1]) {
    let reply = |code| (code, [("content-type", "application/x-protobuf")]);
    let authorized = headers.get("authorization").is_some_and(|v| {
        use subtle::ConstantTimeEq;
        bool::from(v.as_bytes().ct_eq(hub.authorization.as_bytes()))
    });
    if !authorized {
        return reply(StatusCode::UNAUTHORIZED);
    }
    let Ok(signal) = signal.parse::<TapSignal>() else {
        return reply(StatusCode::NOT_FOUND);
    };
    let pipeline = headers
        .get(PIPELINE_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if headers
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes() != b"identity")
    {
        // The exporters are configured without compression; anything else is not ours.
        return reply(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    hub.keep(pipeline, signal, body);
    // Always a success: a refusal would only make the Collector log and retry.
    reply(StatusCode::OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_names_its_pipeline_or_is_told_which_there_are() {
        let order = vec![
            ("logs/a".to_string(), TapSignal::Logs),
            ("metrics".to_string(), TapSignal::Metrics),
        ];
        let req = |pipeline: Option<&str>, signal| TapRequest {
            pipeline: pipeline.map(str::to_string),
            signal,
            ..TapRequest::default()
        };
        assert_eq!(choose(&order, &req(None, None)).unwrap().0, "logs/a");
        assert_eq!(
            choose(&order, &req(None, Some(TapSignal::Metrics)))
                .unwrap()
                .0,
            "metrics"
        );
        let e = choose(&order, &req(None, Some(TapSignal::Traces))).unwrap_err();
        assert_eq!(e, "no traces pipeline; this agent taps: logs/a, metrics");
        let e = choose(&order, &req(Some("logs/b"), None)).unwrap_err();
        assert!(e.starts_with("no pipeline named 'logs/b'"), "{e}");
        let e = choose(&order, &req(Some("metrics"), Some(TapSignal::Logs))).unwrap_err();
        assert_eq!(e, "pipeline 'metrics' carries metrics, not logs");
    }
}
