//! `/stream`: the fleet live, as server-sent events (what `fleetdeck attach` reads), and
//! `/telemetry`: the sparkline tails of the agents a reader shows.
//!
//! A stream starts with every agent once, then sends, at most every
//! [`COALESCE`], only the agents whose view changed (compared by pointer with the view
//! sent before: the registry shares unchanged views between snapshots). Events go out in
//! batches on the same beat; a reader too slow for the event buffer is told how many it
//! missed. Once a second the fleet's latest throughput, which doubles as a heartbeat.
//! Message shapes: `fleet::stream`.

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};

use super::agents::find_agent;
use super::params::Params;
use super::{ApiError, ApiResult, ApiState};
use crate::fleet::stream::{self, AgentTails, StreamMessage, Tails};
use crate::fleet::telemetry::{Resolution, SERIES_COUNT, Series, now_sec};

/// Changes and events are gathered this long before they are sent: a few messages a
/// second, whatever the fleet's size.
pub const COALESCE: Duration = Duration::from_millis(250);
/// At most this many events per message (a burst becomes several).
const EVENTS_PER_MESSAGE: usize = 1000;
/// Agents one `/telemetry` request may name.
pub const MAX_TAIL_AGENTS: usize = 500;
/// Points per series one `/telemetry` request may ask for.
pub const MAX_TAIL_POINTS: usize = 600;

/// `GET /stream`. With `Accept-Encoding: gzip` the stream is one gzip stream, flushed
/// after every message (the whole fleet and agents' health trees compress well).
pub async fn stream(
    State(s): State<ApiState>,
    uri: Uri,
    headers: axum::http::HeaderMap,
) -> ApiResult<Response> {
    Params::parse(&uri, &[])?;
    let gzip = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|v| v.split(';').next().is_some_and(|e| e.trim() == "gzip"));
    let (tx, rx) = mpsc::channel::<Bytes>(8);
    let out = Out {
        tx,
        gzip: gzip.then(|| flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast())),
    };
    tokio::spawn(feed(s, out));
    let body = Body::from_stream(futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    }));
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if gzip {
        h.insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    Ok(resp)
}

/// Where a stream's messages go: the answer's body, through gzip when asked for.
struct Out {
    tx: mpsc::Sender<Bytes>,
    gzip: Option<flate2::write::GzEncoder<Vec<u8>>>,
}

impl Out {
    /// Sends one message; `Err` when the reader has gone.
    async fn send(&mut self, msg: &StreamMessage) -> Result<(), ()> {
        let bytes = frame(msg);
        let bytes = match &mut self.gzip {
            None => bytes,
            Some(enc) => {
                use std::io::Write;
                // Into a Vec, these cannot fail; the flush hands the reader all of it now.
                enc.write_all(&bytes).map_err(|_| ())?;
                enc.flush().map_err(|_| ())?;
                Bytes::from(std::mem::take(enc.get_mut()))
            }
        };
        self.tx.send(bytes).await.map_err(|_| ())
    }
}

/// One SSE message: `event: <name>` and the JSON on one `data:` line.
fn frame(msg: &StreamMessage) -> Bytes {
    let json = serde_json::to_string(msg).unwrap_or_else(|_| "{}".into());
    Bytes::from(format!("event: {}\ndata: {json}\n\n", msg.name()))
}

/// Writes the stream until the reader leaves or the server stops.
async fn feed(s: ApiState, mut out: Out) {
    let mut snapshots = s.registry.snapshot();
    let mut events = s.registry.subscribe();
    let mut sent = snapshots.borrow_and_update().clone();
    let redactor = s.catalog.redactor();
    for part in stream::full_parts(&sent, stream::FULL_PART) {
        if out.send(&hide_secrets(part, &redactor)).await.is_err() {
            return;
        }
    }
    let mut beat = tokio::time::interval(COALESCE);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut second = tokio::time::interval(Duration::from_secs(1));
    second.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut latest = Vec::with_capacity(SERIES_COUNT);
    let mut buf = Vec::new();
    loop {
        let msgs = tokio::select! {
            _ = s.shutdown.cancelled() => return,
            _ = out.tx.closed() => return,
            _ = beat.tick() => {
                let mut msgs = drain_events(&mut events);
                match snapshots.has_changed() {
                    Ok(true) => {
                        let now = snapshots.borrow_and_update().clone();
                        if let Some(m) = stream::changes(&sent, &now) {
                            msgs.push(hide_secrets(m, &s.catalog.redactor()));
                        }
                        sent = now;
                    }
                    Ok(false) => {}
                    // The registry stopped: so does the stream.
                    Err(_) => return,
                }
                msgs
            }
            _ = second.tick() => {
                latest.clear();
                for series in Series::ALL {
                    s.telemetry.fleet_tail(series, Resolution::Second, 1, &mut buf);
                    latest.push(buf.last().copied().unwrap_or(0.0));
                }
                vec![StreamMessage::Fleet { now: now_sec(), latest: latest.clone() }]
            }
        };
        for msg in msgs {
            if out.send(&msg).await.is_err() {
                return;
            }
        }
    }
}

/// Known secrets hidden in the effective configurations agents report, as
/// `GET /agents/{id}` hides them.
fn hide_secrets(mut msg: StreamMessage, hide: &crate::pipeline::Redactor) -> StreamMessage {
    if let StreamMessage::Full { agents, .. }
    | StreamMessage::Changes {
        changed: agents, ..
    } = &mut msg
    {
        for a in agents.iter_mut() {
            if let Some(cfg) = &mut a.effective_config {
                *cfg = super::agents::redact_config(cfg, hide);
            }
        }
    }
    msg
}

/// The events waiting for this reader, in messages of at most [`EVENTS_PER_MESSAGE`].
fn drain_events(rx: &mut broadcast::Receiver<crate::fleet::FleetEvent>) -> Vec<StreamMessage> {
    let mut out = Vec::new();
    let (mut batch, mut missed) = (Vec::new(), 0u64);
    loop {
        match rx.try_recv() {
            Ok(e) => {
                batch.push(e);
                if batch.len() == EVENTS_PER_MESSAGE {
                    out.push(StreamMessage::Events {
                        events: std::mem::take(&mut batch),
                        missed: std::mem::take(&mut missed),
                    });
                }
            }
            Err(broadcast::error::TryRecvError::Lagged(n)) => missed += n,
            Err(_) => break,
        }
    }
    if !batch.is_empty() || missed > 0 {
        out.push(StreamMessage::Events {
            events: batch,
            missed,
        });
    }
    out
}

/// `GET /telemetry?agents=ID[:FINGERPRINT],…&points=N`: each named agent's tails, one
/// point a second, oldest first, in `Series::ALL` order. An agent given with the
/// fingerprint it was last answered with is left out while its tails read the same.
pub async fn telemetry(State(s): State<ApiState>, uri: Uri) -> ApiResult<Json<Tails>> {
    let p = Params::parse(&uri, &["agents", "points"])?;
    let points = p.count("points", 60, MAX_TAIL_POINTS)?;
    let list = p.str("agents").unwrap_or("");
    let items: Vec<&str> = list.split(',').filter(|k| !k.trim().is_empty()).collect();
    if items.len() > MAX_TAIL_AGENTS {
        return Err(ApiError::bad_request(format!(
            "query parameter 'agents' names at most {MAX_TAIL_AGENTS} agents, got {}",
            items.len()
        ))
        .field("agents"));
    }
    let snap = s.registry.snapshot().borrow().clone();
    let now = now_sec();
    let mut agents = Vec::with_capacity(items.len());
    for item in items {
        let (key, known) = match item.rsplit_once(':') {
            Some((key, fp)) => {
                let fp = fp.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "'{item}' in 'agents': after ':' comes the fingerprint an earlier answer gave"
                    ))
                    .field("agents")
                })?;
                (key, Some(fp))
            }
            None => (item, None),
        };
        let id = find_agent(&snap, key, "agents")?.id;
        let fingerprint = s.telemetry.fingerprint_at(now, &id);
        if known.is_some() && known == fingerprint {
            continue;
        }
        let mut series: [Vec<f64>; SERIES_COUNT] = Default::default();
        s.telemetry.tails_at(now, &id, points, &mut series);
        agents.push(AgentTails {
            id,
            fingerprint,
            series: series.into_iter().collect(),
            refused: s
                .telemetry
                .refusals()
                .get(&id)
                .map(|r| stream::RefusedTail::of(&r)),
        });
    }
    Ok(Json(Tails {
        now,
        points,
        agents,
    }))
}
