//! A certificate authority made in a test, and the server's certificate it signs.

use std::path::PathBuf;

use fleetdeck::listen::tls::TlsFiles;
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A certificate authority made for one test.
pub struct Ca {
    issuer: Issuer<'static, KeyPair>,
    pub pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let cert = params.self_signed(&key).expect("CA certificate");
        Ca {
            pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// A leaf certificate for `names` and its private key, both PEM.
    pub fn leaf(&self, names: &[&str]) -> (String, String) {
        let key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let params = CertificateParams::new(names).expect("leaf params");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        (cert.pem(), key.serialize_pem())
    }
}

pub struct Pki {
    pub ca: Ca,
    pub dir: tempfile::TempDir,
    pub files: TlsFiles,
}

/// A CA, the server's certificate for localhost/127.0.0.1 and, when `verify_clients`, the
/// same CA named as the client CA.
pub fn pki(verify_clients: bool) -> Pki {
    let ca = Ca::new("fleetdeck test CA");
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = ca.leaf(&["localhost", "127.0.0.1"]);
    let write = |name: &str, text: &str| -> PathBuf {
        let p = dir.path().join(name);
        std::fs::write(&p, text).expect("write pem");
        p
    };
    let files = TlsFiles {
        cert: write("server.pem", &cert),
        key: write("server-key.pem", &key),
        client_ca: verify_clients.then(|| write("client-ca.pem", &ca.pem)),
    };
    Pki { ca, dir, files }
}
