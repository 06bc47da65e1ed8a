//! Where agents connect from and to: the server URL, source address ranges, TCP sockets
//! bound to a chosen source address before connecting, and TLS on top when the URL asks.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpSocket, TcpStream};

use std::time::Duration;

use hyper::header::HeaderValue;
use tokio_util::sync::CancellationToken;

use super::stats::ClientStats;
use crate::args::SimTransport;

/// How and where agents connect; shared by every agent of a process.
pub struct Link {
    pub server: SocketAddr,
    pub url: ServerUrl,
    pub transport: SimTransport,
    pub authorization: Option<HeaderValue>,
    pub http_gzip: bool,
    /// Set for `wss://` and `https://` servers.
    pub tls: Option<Tls>,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    pub stats: Arc<ClientStats>,
    pub cancel: CancellationToken,
}

/// What `--server` points at, split for both transports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub host: String,
    pub port: u16,
    pub path: String,
    /// `wss://` or `https://`.
    pub tls: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NetError {
    #[error("--server {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("--source-ips {spec:?}: {reason}")]
    BadSourceIps { spec: String, reason: String },
    #[error("{what} {path}: {reason}")]
    Tls {
        what: &'static str,
        path: PathBuf,
        reason: String,
    },
}

impl ServerUrl {
    /// Accepts `ws://`, `http://`, their TLS forms `wss://` and `https://` (the transport
    /// flag decides which protocol is spoken) and a bare `host:port`.
    pub fn parse(url: &str) -> Result<ServerUrl, NetError> {
        let bad = |reason: &str| NetError::BadUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        let with_scheme = if url.contains("://") {
            url.to_string()
        } else {
            format!("http://{url}")
        };
        let uri: hyper::Uri = with_scheme
            .parse()
            .map_err(|e: hyper::http::uri::InvalidUri| bad(&e.to_string()))?;
        let tls = match uri.scheme_str() {
            Some("ws" | "http") => false,
            Some("wss" | "https") => true,
            _ => return Err(bad("expected a ws://, wss://, http:// or https:// URL")),
        };
        let host = uri.host().ok_or_else(|| bad("no host"))?;
        let path = match uri.path() {
            "" | "/" => "/v1/opamp".to_string(),
            p => p.to_string(),
        };
        Ok(ServerUrl {
            host: host.trim_matches(['[', ']']).to_string(),
            port: uri.port_u16().unwrap_or(if tls { 443 } else { 80 }),
            path,
            tls,
        })
    }

    pub fn ws_url(&self) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}{}", self.authority(), self.path)
    }

    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// Resolves once at start; every agent then connects to the same address.
    pub async fn resolve(&self) -> std::io::Result<SocketAddr> {
        tokio::net::lookup_host((self.host.as_str(), self.port))
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other(format!("{} resolves to no address", self.host)))
    }
}

/// Parses `127.0.0.2-127.0.0.40`, a comma list of addresses or ranges, or one address.
pub fn parse_source_ips(spec: &str) -> Result<Vec<IpAddr>, NetError> {
    let bad = |reason: String| NetError::BadSourceIps {
        spec: spec.to_string(),
        reason,
    };
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let parse = |s: &str| {
            s.trim()
                .parse::<IpAddr>()
                .map_err(|_| bad(format!("'{s}' is not an IP address")))
        };
        match part.split_once('-') {
            None => out.push(parse(part)?),
            Some((from, to)) => match (parse(from)?, parse(to)?) {
                (IpAddr::V4(a), IpAddr::V4(b)) if u32::from(a) <= u32::from(b) => {
                    if u32::from(b) - u32::from(a) >= 65_536 {
                        return Err(bad(format!("range {part} is larger than 65536 addresses")));
                    }
                    out.extend(
                        (u32::from(a)..=u32::from(b)).map(|n| IpAddr::V4(Ipv4Addr::from(n))),
                    );
                }
                (IpAddr::V4(_), IpAddr::V4(_)) => {
                    return Err(bad(format!("range {part} ends before it starts")));
                }
                _ => return Err(bad(format!("range {part}: ranges are IPv4 only"))),
            },
        }
    }
    if out.is_empty() {
        return Err(bad("no addresses".to_string()));
    }
    Ok(out)
}

/// Connects to `server`, from `source` when given. The source is bound with
/// IP_BIND_ADDRESS_NO_PORT so the port is picked at connect time per 4-tuple, which is
/// what lets one process hold more than the ~28k ephemeral ports of one address pair.
pub async fn connect(server: SocketAddr, source: Option<IpAddr>) -> std::io::Result<TcpStream> {
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        bind_address_no_port(&socket);
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let stream = socket.connect(server).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

#[cfg(target_os = "linux")]
fn bind_address_no_port(socket: &TcpSocket) {
    use std::os::fd::AsRawFd;
    let on: libc::c_int = 1;
    // SAFETY: a valid socket fd and a correctly sized int option value; socket2 0.6 has
    // no wrapper for this option. Failure only means the kernel reserves a port at bind.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        tracing::debug!(
            "IP_BIND_ADDRESS_NO_PORT not available: {}",
            std::io::Error::last_os_error()
        );
    }
}

#[cfg(not(target_os = "linux"))]
fn bind_address_no_port(_socket: &TcpSocket) {}

/// A client TLS configuration: the server's CA (or the system's roots) and, for mutual
/// TLS, our own certificate.
#[derive(Clone)]
pub struct Tls {
    connector: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tls")
    }
}

/// The flags a TLS configuration's files came from, so an error names the one to fix.
#[derive(Debug, Clone, Copy)]
pub struct TlsFlags {
    pub ca: &'static str,
    pub cert: &'static str,
    pub key: &'static str,
}

impl TlsFlags {
    /// `fleetdeck agent` and `simulate`.
    pub const AGENT: TlsFlags = TlsFlags {
        ca: "--tls-ca",
        cert: "--tls-cert",
        key: "--tls-key",
    };
    /// The management CLI (and its profiles).
    pub const CLI: TlsFlags = TlsFlags {
        ca: "--ca",
        cert: "--client-cert",
        key: "--client-key",
    };
}

/// A rustls client configuration: `ca`, PEM roots to trust (the system's when `None`);
/// `identity`, certificate chain and key files for servers that ask for a client
/// certificate.
pub fn client_config(
    ca: Option<&Path>,
    identity: Option<(&Path, &Path)>,
    flags: TlsFlags,
) -> Result<rustls::ClientConfig, NetError> {
    let fail = |what: &'static str, path: &Path, reason: String| NetError::Tls {
        what,
        path: path.to_path_buf(),
        reason,
    };
    let read = |what: &'static str, path: &Path| {
        std::fs::read(path).map_err(|e| fail(what, path, e.to_string()))
    };
    let mut roots = rustls::RootCertStore::empty();
    match ca {
        Some(path) => {
            let pem = read(flags.ca, path)?;
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| fail(flags.ca, path, e.to_string()))?;
                roots
                    .add(cert)
                    .map_err(|e| fail(flags.ca, path, e.to_string()))?;
            }
            if roots.is_empty() {
                return Err(fail(flags.ca, path, "holds no PEM certificate".into()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(found.certs);
        }
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| NetError::Tls {
            what: "TLS",
            path: PathBuf::new(),
            reason: e.to_string(),
        })?
        .with_root_certificates(roots);
    Ok(match identity {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let cert_pem = read(flags.cert, cert)?;
            let chain = CertificateDer::pem_slice_iter(&cert_pem)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| fail(flags.cert, cert, e.to_string()))?;
            if chain.is_empty() {
                return Err(fail(flags.cert, cert, "holds no PEM certificate".into()));
            }
            let key_pem = read(flags.key, key)?;
            let private = PrivateKeyDer::from_pem_slice(&key_pem)
                .map_err(|e| fail(flags.key, key, e.to_string()))?;
            builder
                .with_client_auth_cert(chain, private)
                .map_err(|e| fail(flags.key, key, e.to_string()))?
        }
    })
}

impl Tls {
    /// `ca`: PEM roots to trust (the system's when `None`); `identity`: certificate
    /// chain and key files for servers that ask for a client certificate.
    pub fn from_files(
        ca: Option<&Path>,
        identity: Option<(&Path, &Path)>,
    ) -> Result<Tls, NetError> {
        let mut config = client_config(ca, identity, TlsFlags::AGENT)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            connector: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }
}

/// A connection to the server, in the clear or over TLS. The TLS state is boxed so the
/// plain case (thousands of simulated agents) stays small.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

/// Connects to the link's server and, for a TLS URL, completes the handshake.
pub async fn connect_stream(link: &Link, source: Option<IpAddr>) -> io::Result<Stream> {
    let tcp = connect(link.server, source).await?;
    match &link.tls {
        None if link.url.tls => Err(io::Error::other(
            "the server URL is wss:// or https:// but no TLS configuration was given",
        )),
        None => Ok(Stream::Plain(tcp)),
        Some(tls) => {
            let name = ServerName::try_from(link.url.host.clone())
                .map_err(|e| io::Error::other(format!("server name {}: {e}", link.url.host)))?;
            // Boxed: the handshake's state is kilobytes, and every agent task (plain
            // ones too) would otherwise be sized for it.
            let stream = Box::pin(tls.connector.connect(name, tcp)).await?;
            Ok(Stream::Tls(Box::new(stream)))
        }
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_server_urls() {
        let u = ServerUrl::parse("ws://127.0.0.1:4320/v1/opamp").expect("url");
        assert_eq!(
            (u.host.as_str(), u.port, u.path.as_str()),
            ("127.0.0.1", 4320, "/v1/opamp")
        );
        let u = ServerUrl::parse("localhost:9000").expect("url");
        assert_eq!((u.port, u.path.as_str()), (9000, "/v1/opamp"));
        assert_eq!(u.ws_url(), "ws://localhost:9000/v1/opamp");
        let u = ServerUrl::parse("wss://x/v1/opamp").expect("url");
        assert!(u.tls);
        assert_eq!(u.ws_url(), "wss://x:443/v1/opamp");
        assert!(ServerUrl::parse("ftp://x/").is_err());
    }

    #[test]
    fn parses_source_ranges() {
        let ips = parse_source_ips("127.0.0.2-127.0.0.40").expect("range");
        assert_eq!(ips.len(), 39);
        assert_eq!(ips[38], "127.0.0.40".parse::<IpAddr>().expect("ip"));
        let ips = parse_source_ips("127.0.0.2, 127.0.1.1-127.0.1.2").expect("list");
        assert_eq!(ips.len(), 3);
        let err = parse_source_ips("127.0.0.9-127.0.0.2").unwrap_err();
        assert!(err.to_string().contains("ends before it starts"), "{err}");
        assert!(
            parse_source_ips("127.0.0.x")
                .unwrap_err()
                .to_string()
                .contains("'127.0.0.x'")
        );
    }

    #[tokio::test]
    async fn connects_from_the_chosen_source_address() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("listen");
        let addr = listener.local_addr().expect("addr");
        let source: IpAddr = "127.0.0.7".parse().expect("ip");
        let (client, accepted) = tokio::join!(connect(addr, Some(source)), listener.accept());
        let client = client.expect("connect");
        let (_, peer) = accepted.expect("accept");
        assert_eq!(peer.ip(), source);
        assert_eq!(client.local_addr().expect("local").ip(), source);
    }
}
