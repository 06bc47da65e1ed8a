//! `fleetdeck attach [--server URL | PROFILE]`: the terminal UI as a client of a server
//! that runs elsewhere (a service, another host over SSH). The same UI as `fleetdeck`
//! runs; what changes is where its inputs come from and where its effects go:
//! - [`follow`] reads the API's stream (`GET /api/v1/stream`) into the snapshot `watch`
//!   and the event `broadcast` the UI reads, and the fleet's throughput into
//!   [`telemetry::RemoteTelemetry`]; it reconnects by itself and says so in the header;
//! - [`telemetry::poll`] fetches the sparklines of the agents on screen;
//! - [`remote::Remote`] carries out effects as API calls.
//!
//! Quitting leaves the server and its fleet as they are.

pub mod remote;
pub mod sse;
pub mod telemetry;

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::cli::client::Client;
use crate::fleet::stream::{self as wire, StreamMessage};
use crate::fleet::{FleetEvent, FleetSnapshot};
use crate::tui::{Link, LinkState, ServerInfo, TuiContext, TuiSettings};

/// A stream that says nothing for this long is taken as lost (the server sends the
/// fleet's throughput every second).
const SILENCE: Duration = Duration::from_secs(5);
/// Waits between attempts to reconnect grow to this.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Where the stream's contents go.
struct Sinks {
    snapshot: watch::Sender<Arc<FleetSnapshot>>,
    events: broadcast::Sender<FleetEvent>,
    telemetry: telemetry::RemoteTelemetry,
    link: watch::Sender<Link>,
}

/// Attaches the UI to the server `client` reaches and runs it until the user quits. The
/// first connection must succeed (a wrong token or an unreachable server is an error
/// before the screen is taken); later losses are retried while the UI shows the fleet as
/// it last was.
pub async fn run(client: Client, settings: TuiSettings) -> anyhow::Result<()> {
    let server = client.base().as_str().trim_end_matches('/').to_string();
    // The server and the token are checked first, so a mistake there is said plainly
    // wherever attach runs.
    let first = open_stream(&client).await?;
    if !std::io::stdout().is_terminal() {
        anyhow::bail!(
            "attach shows the terminal UI and stdout is not a terminal (to read {server} from scripts use `fleetdeck get`)"
        );
    }
    let client = Arc::new(client);
    let (snapshot_tx, snapshot_rx) = watch::channel(Arc::new(FleetSnapshot::default()));
    let (events_tx, events_rx) = broadcast::channel(4096);
    let (link_tx, link_rx) = watch::channel(Link {
        server: server.clone(),
        state: LinkState::Connecting,
    });
    let remote_telemetry = telemetry::RemoteTelemetry::default();
    let shutdown = CancellationToken::new();
    let sinks = Sinks {
        snapshot: snapshot_tx,
        events: events_tx.clone(),
        telemetry: remote_telemetry.clone(),
        link: link_tx,
    };
    tokio::spawn(follow(
        client.clone(),
        Some(first),
        sinks,
        shutdown.child_token(),
    ));
    tokio::spawn(telemetry::poll(
        client.clone(),
        remote_telemetry.clone(),
        shutdown.child_token(),
    ));
    let remote = Arc::new(remote::Remote::new(client, events_tx));
    tokio::spawn(refresh_types(remote.clone(), shutdown.child_token()));
    let ctx = TuiContext {
        snapshot: snapshot_rx,
        events: events_rx,
        telemetry: Arc::new(remote_telemetry),
        server_info: ServerInfo {
            listen: ([0, 0, 0, 0], 0).into(),
            api_listen: ([0, 0, 0, 0], 0).into(),
            // Unknown here: the empty-fleet hint says so instead of an address.
            public_url: String::new(),
            secret_file: Default::default(),
            version: env!("CARGO_PKG_VERSION").to_string(),
        },
        settings,
        shutdown: shutdown.clone(),
        services: remote,
        link: Some(link_rx),
    };
    let result = crate::tui::run(ctx).await;
    shutdown.cancel();
    result
}

/// Types applied to the server show up in the builders opened after the next read.
const TYPES_EVERY: Duration = Duration::from_secs(30);

/// Reads the server's resource types now and every [`TYPES_EVERY`] until `stop`.
async fn refresh_types(remote: Arc<remote::Remote>, stop: CancellationToken) {
    loop {
        if let Err(e) = remote.refresh_types().await {
            tracing::debug!(error = %e, "the server's resource types were not read");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(TYPES_EVERY) => {}
        }
    }
}

/// Opens the stream, asking for it compressed.
async fn open_stream(client: &Client) -> anyhow::Result<reqwest::Response> {
    client
        .open(&["stream"], &[], &[("accept-encoding", "gzip")])
        .await
}

/// Reads the stream into the sinks until `stop`; reconnects when it is lost.
async fn follow(
    client: Arc<Client>,
    mut first: Option<reqwest::Response>,
    sinks: Sinks,
    stop: CancellationToken,
) {
    let mut backoff = Duration::from_millis(250);
    loop {
        let opened = match first.take() {
            Some(resp) => Ok(resp),
            None => open_stream(&client).await,
        };
        let error = match opened {
            Ok(resp) => {
                backoff = Duration::from_millis(250);
                match read(resp, &sinks, &stop).await {
                    Ok(()) => return,
                    Err(e) => e,
                }
            }
            Err(e) => format!("{e:#}"),
        };
        if stop.is_cancelled() {
            return;
        }
        tracing::debug!(error = %error, "the stream from the server was lost");
        sinks.link.send_modify(|l| match &mut l.state {
            // The first loss is when it was lost; later failed attempts keep that time.
            LinkState::Lost { error: e, .. } => *e = error.clone(),
            _ => {
                l.state = LinkState::Lost {
                    since: SystemTime::now(),
                    error: error.clone(),
                }
            }
        });
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Reads one stream until it ends (an error) or `stop` (`Ok`).
async fn read(
    mut resp: reqwest::Response,
    sinks: &Sinks,
    stop: &CancellationToken,
) -> Result<(), String> {
    let mut parser = sse::Parser::default();
    let mut follower = wire::Follower::default();
    let gzip = resp
        .headers()
        .get(reqwest::header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let mut unzip = gzip.then(|| flate2::write::GzDecoder::new(Vec::new()));
    loop {
        let chunk = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            c = tokio::time::timeout(SILENCE, resp.chunk()) => c,
        };
        let bytes = match chunk {
            Err(_) => {
                return Err(format!(
                    "the server sent nothing for {} s",
                    SILENCE.as_secs()
                ));
            }
            Ok(Err(e)) => return Err(format!("the stream broke: {e}")),
            Ok(Ok(None)) => return Err("the server closed the stream".into()),
            Ok(Ok(Some(b))) => b,
        };
        let bytes = match &mut unzip {
            None => bytes.to_vec(),
            Some(d) => {
                use std::io::Write;
                d.write_all(&bytes)
                    .and_then(|()| d.flush())
                    .map_err(|e| format!("the stream is not valid gzip: {e}"))?;
                std::mem::take(d.get_mut())
            }
        };
        for event in parser.push(&bytes)? {
            let msg: StreamMessage = match serde_json::from_str(&event.data) {
                Ok(m) => m,
                Err(e) => {
                    tracing::debug!(event = %event.name, error = %e, "a stream message was not understood");
                    continue;
                }
            };
            take(msg, sinks, &mut follower);
        }
    }
}

/// Puts one message where the UI reads it.
fn take(msg: StreamMessage, sinks: &Sinks, follower: &mut wire::Follower) {
    match msg {
        StreamMessage::Events { events, missed } => {
            if missed > 0 {
                // The events pane says so, as it does when the UI itself falls behind.
                let _ = sinks
                    .events
                    .send(FleetEvent::now(crate::fleet::EventKind::Notice {
                        agent: None,
                        message: format!(
                            "{missed} event(s) not received: the stream fell behind a burst"
                        ),
                    }));
            }
            for e in events {
                // No UI listening (it is quitting) is fine.
                let _ = sinks.events.send(e);
            }
        }
        StreamMessage::Fleet { latest, .. } => sinks.telemetry.set_fleet(&latest),
        msg @ (StreamMessage::Full { .. } | StreamMessage::Changes { .. }) => {
            let whole = matches!(msg, StreamMessage::Full { more: false, .. });
            let held = sinks.snapshot.borrow().clone();
            if let Some(next) = follower.apply(&held, msg) {
                sinks.snapshot.send_replace(Arc::new(next));
            }
            // The fleet is whole again: the link is live.
            if whole {
                sinks.link.send_if_modified(|l| {
                    let was = l.state.clone();
                    l.state = LinkState::Live;
                    was != LinkState::Live
                });
            }
        }
    }
}
