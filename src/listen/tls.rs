//! TLS for fleetdeck's listeners (`wss://` and `https://`), with rustls and the aws-lc-rs
//! crypto provider.
//!
//! [`Acceptor`] is built once from the PEM files named in the settings (certificate chain,
//! private key and, optionally, a CA whose certificates clients must present).
//! [`serve`] runs an axum app on a TCP listener with or without it; handlers keep seeing the
//! peer's address through `ConnectInfo<SocketAddr>`, whichever way the app is served.
//!
//! Handshakes run in their own tasks, each bounded by a timeout, so a client that opens a
//! connection and never speaks TLS delays nobody else.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::serve::ListenerExt;
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_rustls::server::TlsStream;
use tokio_util::sync::CancellationToken;

use crate::listen::admission::{Admission, AdmissionConfig, AdmittedListener, Incoming, Tracked};

/// How long a client may take to finish the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The PEM files TLS is configured from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// Certificate chain, leaf first.
    pub cert: PathBuf,
    /// The leaf certificate's private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// When set, clients must present a certificate issued by one of these CAs.
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {what} {path}: {source}")]
    Read {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{what} {path} holds no PEM certificate")]
    NoCertificate { what: &'static str, path: PathBuf },
    #[error("{what} {path} is not valid PEM: {message}")]
    BadPem {
        what: &'static str,
        path: PathBuf,
        message: String,
    },
    #[error("TLS key {path} holds no private key (PKCS#8, PKCS#1 or SEC1 PEM)")]
    NoKey { path: PathBuf },
    #[error("client CA {path}: {message}")]
    BadClientCa { path: PathBuf, message: String },
    #[error("TLS certificate {cert} and key {key} cannot be used together: {message}")]
    Config {
        cert: PathBuf,
        key: PathBuf,
        message: String,
    },
}

/// Accepts TLS connections with one certificate (and, optionally, client verification).
#[derive(Clone)]
pub struct Acceptor {
    inner: tokio_rustls::TlsAcceptor,
    handshake_timeout: Duration,
    verifies_clients: bool,
}

impl std::fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("handshake_timeout", &self.handshake_timeout)
            .field("verifies_clients", &self.verifies_clients)
            .finish_non_exhaustive()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

impl Acceptor {
    /// Reads the files and checks that certificate and key belong together.
    pub fn from_files(files: &TlsFiles) -> Result<Acceptor, TlsError> {
        let read = |what: &'static str, path: &Path| {
            std::fs::read(path).map_err(|source| TlsError::Read {
                what,
                path: path.to_path_buf(),
                source,
            })
        };
        let cert_pem = read("TLS certificate", &files.cert)?;
        let key_pem = read("TLS key", &files.key)?;
        let certs = certificates(&cert_pem, "TLS certificate", &files.cert)?;
        let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => TlsError::NoKey {
                path: files.key.clone(),
            },
            other => TlsError::BadPem {
                what: "TLS key",
                path: files.key.clone(),
                message: other.to_string(),
            },
        })?;
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| config_error(files, e))?;
        let builder = match &files.client_ca {
            None => builder.with_no_client_auth(),
            Some(path) => {
                let ca_pem = read("client CA", path)?;
                let mut roots = RootCertStore::empty();
                for ca in certificates(&ca_pem, "client CA", path)? {
                    roots.add(ca).map_err(|e| TlsError::BadClientCa {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                }
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                        .build()
                        .map_err(|e| TlsError::BadClientCa {
                            path: path.clone(),
                            message: e.to_string(),
                        })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder
            .with_single_cert(certs, key)
            .map_err(|e| config_error(files, e))?;
        // Both listeners speak HTTP/1.1 only (WebSocket upgrades need it).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Acceptor {
            inner: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            handshake_timeout: HANDSHAKE_TIMEOUT,
            verifies_clients: files.client_ca.is_some(),
        })
    }

    /// The same acceptor with another handshake timeout.
    pub fn with_handshake_timeout(mut self, timeout: Duration) -> Acceptor {
        self.handshake_timeout = timeout;
        self
    }

    /// Whether clients must present a certificate from the client CA.
    pub fn verifies_clients(&self) -> bool {
        self.verifies_clients
    }

    /// Wraps a listener: its `accept` yields connections whose handshake succeeded.
    pub fn listen(&self, tcp: AdmittedListener) -> std::io::Result<TlsListener> {
        let local = tcp.local_addr()?;
        // Enough room for a burst of handshakes finishing together; a full queue only makes
        // finished handshakes wait for the HTTP server to take them.
        let (tx, rx) = mpsc::channel(256);
        let stop = CancellationToken::new();
        let accepting = tokio::spawn(accept_loop(tcp, self.clone(), tx, stop.clone()));
        Ok(TlsListener {
            rx,
            local,
            stop,
            accepting,
        })
    }
}

fn config_error(files: &TlsFiles, e: rustls::Error) -> TlsError {
    TlsError::Config {
        cert: files.cert.clone(),
        key: files.key.clone(),
        message: e.to_string(),
    }
}

fn certificates(
    pem: &[u8],
    what: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            what,
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            what,
            path: path.to_path_buf(),
        });
    }
    Ok(certs)
}

/// TLS connections ready for HTTP, as an [`axum::serve::Listener`].
pub struct TlsListener {
    rx: mpsc::Receiver<(Connection, SocketAddr)>,
    local: SocketAddr,
    stop: CancellationToken,
    accepting: JoinHandle<()>,
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.stop.cancel();
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = Connection;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(conn) => conn,
            // The accept loop only ends when this listener is dropped.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

type Connection = TlsStream<Tracked<TcpStream>>;

async fn accept_loop(
    mut tcp: AdmittedListener,
    acceptor: Acceptor,
    ready: mpsc::Sender<(Connection, SocketAddr)>,
    stop: CancellationToken,
) {
    loop {
        let incoming = tokio::select! {
            i = tcp.next() => i,
            _ = stop.cancelled() => return,
        };
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        let stop = stop.clone();
        let admission = tcp.admission().clone();
        tokio::spawn(async move {
            match incoming {
                Incoming::Admitted(io, remote) => {
                    if let Some(tls) = handshake(&acceptor, io, remote, &stop).await {
                        let _ = ready.send((tls, remote)).await;
                    }
                }
                // Over the connection budget: the refusal is said over TLS, so the client
                // can read it.
                Incoming::Refused(io, remote, reason) => {
                    if let Some(tls) = handshake(&acceptor, io, remote, &stop).await {
                        let retry = admission.config().retry_after;
                        admission.refuse(tls, retry, reason);
                    }
                }
            }
        });
    }
}

async fn handshake<S>(
    acceptor: &Acceptor,
    io: S,
    remote: SocketAddr,
    stop: &CancellationToken,
) -> Option<TlsStream<S>>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let handshake = tokio::time::timeout(acceptor.handshake_timeout, acceptor.inner.accept(io));
    let tls = tokio::select! {
        r = handshake => r,
        _ = stop.cancelled() => return None,
    };
    match tls {
        Ok(Ok(tls)) => Some(tls),
        // Failed handshakes are the client's problem (wrong CA, no client certificate, plain
        // HTTP to a TLS port), but an operator needs to see them: logged within a budget,
        // so a scanner cannot flood the log.
        Ok(Err(e)) => {
            static BUDGET: crate::listen::log_budget::LogBudget =
                crate::listen::log_budget::LogBudget::new();
            crate::warn_within!(BUDGET, %remote, error = %e, "TLS handshake refused");
            None
        }
        Err(_) => {
            tracing::debug!(%remote, "TLS handshake timed out");
            None
        }
    }
}

/// Serves `app` on `tcp` (over TLS when `tls` is given) until `shutdown` fires, with no
/// limit on connections (the management API). Handlers get the peer address as
/// `ConnectInfo<SocketAddr>` either way.
pub async fn serve(
    tcp: TcpListener,
    tls: Option<Acceptor>,
    admission: Admission,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    serve_admitted(AdmittedListener::new(tcp, admission), tls, app, shutdown).await
}

/// The admission of a listener with no limit on connections (the management API); only
/// connections that never present a credential are closed, after a few seconds.
pub fn unlimited() -> Admission {
    Admission::new(AdmissionConfig {
        max_connections: usize::MAX,
        max_new_agents: 0,
        ..AdmissionConfig::default()
    })
}

/// Serves `app` on a listener that keeps to its connection budget.
pub async fn serve_admitted(
    listener: AdmittedListener,
    tls: Option<Acceptor>,
    app: Router,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let stop = async move { shutdown.cancelled().await };
    // `tap_io` gives our listeners axum's `ConnectInfo<SocketAddr>` support.
    match tls {
        None => {
            axum::serve(listener.tap_io(|_| {}), app)
                .with_graceful_shutdown(stop)
                .await
        }
        Some(acceptor) => {
            let listener = acceptor.listen(listener)?.tap_io(|_| {});
            axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
        }
    }
}
