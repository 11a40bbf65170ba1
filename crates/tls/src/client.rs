//! The client side, for the SMTP client's STARTTLS.
//!
//! [`ClientTls`] holds the trust anchors (the bundled Mozilla roots from
//! `webpki-roots`, plus `smtp_tls_CAfile`) and a [`Verify`] mode:
//!
//! * [`Verify::None`] (security levels `may` and `encrypt`): any
//!   certificate is accepted for the handshake, as Postfix does at those
//!   levels; afterwards the chain is checked against the anchors anyway so
//!   that the log can say `Trusted` or `Untrusted`.
//! * [`Verify::Required`] (`verify`, `secure`): the handshake fails unless
//!   the chain is trusted and names the server.

use crate::{provider, read_certs, TlsError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::Arc;

/// How strictly the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encrypt with anyone (Postfix's `may` and `encrypt`).
    None,
    /// A trusted chain that matches the server name (`verify`, `secure`).
    Required,
}

/// A TLS session over a blocking stream, client side.
pub type ClientStream<S> = StreamOwned<ClientConnection, S>;

/// A client-side TLS configuration.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    checker: Option<Arc<WebPkiServerVerifier>>,
}

/// Accepts any certificate; handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The server's name as rustls wants it: a DNS name or an IP address.
fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = h.parse::<std::net::IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(h.to_string()).map_err(|e| TlsError::Config(format!("{host}: {e}")))
}

impl ClientTls {
    /// The bundled public roots, plus the certificates in `ca_file` when
    /// given (`smtp_tls_CAfile`).
    pub fn new(verify: Verify, ca_file: Option<&Path>) -> Result<ClientTls, TlsError> {
        let mut roots = RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(path) = ca_file {
            for c in read_certs(path)? {
                roots.add(c).map_err(|e| TlsError::File {
                    path: path.to_path_buf(),
                    problem: e.to_string(),
                })?;
            }
        }
        let provider = provider();
        let checker =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let config = match verify {
            Verify::Required => builder
                .with_webpki_verifier(checker.clone())
                .with_no_client_auth(),
            Verify::None => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AcceptAny(provider)))
                .with_no_client_auth(),
        };
        Ok(ClientTls {
            config: Arc::new(config),
            checker: Some(checker),
        })
    }

    /// Runs the client handshake on `stream` (its own timeouts apply) for
    /// the server `host`. Returns the encrypted stream and whether the
    /// server's chain is trusted and matches `host`.
    pub fn connect<S: Read + Write>(
        &self,
        mut stream: S,
        host: &str,
    ) -> Result<(ClientStream<S>, bool), TlsError> {
        let name = server_name(host)?;
        let mut conn = ClientConnection::new(self.config.clone(), name.clone())
            .map_err(|e| TlsError::Handshake(e.to_string()))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut stream)
                .map_err(|e| TlsError::Handshake(e.to_string()))?;
        }
        let trusted = match (&self.checker, conn.peer_certificates()) {
            (Some(checker), Some([leaf, rest @ ..])) => checker
                .verify_server_cert(leaf, rest, &name, &[], UnixTime::now())
                .is_ok(),
            _ => false,
        };
        Ok((StreamOwned::new(conn, stream), trusted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ServerTls;
    use std::os::unix::net::UnixStream;

    fn self_signed(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["mx.example.test".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let c = dir.join("cert.pem");
        let k = dir.join("key.pem");
        std::fs::write(&c, cert.pem()).unwrap();
        std::fs::write(&k, key.serialize_pem()).unwrap();
        (c, k)
    }

    fn run(verify: Verify, ca: bool, host: &str) -> Result<bool, TlsError> {
        let dir = std::env::temp_dir().join(format!(
            "tls-client-{}-{:?}-{ca}-{host}",
            std::process::id(),
            verify
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, k) = self_signed(&dir);
        let server = ServerTls::from_files(&c, &k).unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            if let Ok(mut s) = server.accept(b) {
                let _ = s.write_all(b"hello");
                let _ = s.flush();
            }
        });
        let client = ClientTls::new(verify, ca.then_some(c.as_path())).unwrap();
        let r = client.connect(a, host).map(|(mut s, trusted)| {
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"hello");
            assert!(crate::describe(&s.conn).starts_with("TLSv1.3 with cipher"));
            trusted
        });
        t.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn opportunistic_accepts_anything_and_says_whether_trusted() {
        assert!(!run(Verify::None, false, "mx.example.test").unwrap());
        assert!(run(Verify::None, true, "mx.example.test").unwrap());
        assert!(!run(Verify::None, true, "other.example.test").unwrap());
    }

    #[test]
    fn required_verification_refuses_unknown_issuers() {
        assert!(run(Verify::Required, false, "mx.example.test").is_err());
        assert!(run(Verify::Required, true, "mx.example.test").unwrap());
    }
}
