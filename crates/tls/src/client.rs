//! The client side, for the SMTP client's STARTTLS.
//!
//! [`ClientTls`] holds the trust anchors ([`Anchors`]: `smtp_tls_CAfile`
//! and `smtp_tls_CApath` when set, with the bundled Mozilla roots of
//! `webpki-roots` only under `tls_append_default_CA`, as Postfix appends
//! the system's; the bundled roots alone when neither is set) and a
//! [`Verify`] mode:
//!
//! * [`Verify::None`] (security levels `may` and `encrypt`): any
//!   certificate is accepted for the handshake, as Postfix does at those
//!   levels; afterwards the chain is checked against the anchors anyway so
//!   that the log can say `Trusted` or `Untrusted`.
//! * [`Verify::Required`] (`verify`, `secure`): the connection fails unless
//!   the chain is trusted and the certificate bears one of the names asked
//!   for ([`NameMatch`]: Postfix's `smtp_tls_verify_cert_match`,
//!   `smtp_tls_secure_cert_match`, a policy's `match=`). The check runs
//!   right after the handshake, before any data is sent.
//!
//! The TLS versions come from [`Protocols`] (`smtp_tls_protocols`,
//! `smtp_tls_mandatory_protocols`).

use crate::{read_certs, Protocols, TlsError};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    StreamOwned,
};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How strictly the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verify {
    /// Encrypt with anyone (Postfix's `may` and `encrypt`).
    None,
    /// A trusted chain that matches the server name (`verify`, `secure`).
    Required,
}

/// A name the server's certificate must bear.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameMatch {
    /// This DNS name (or address); a wildcard in the certificate counts.
    Exact(String),
    /// Any DNS name of the certificate that ends with this suffix, which
    /// starts with a dot (`.example.com`: Postfix's `dot-nexthop`).
    Suffix(String),
}

/// A TLS session over a blocking stream, client side.
pub type ClientStream<S> = StreamOwned<ClientConnection, S>;

/// A client-side TLS configuration.
#[derive(Clone)]
pub struct ClientTls {
    config: Arc<ClientConfig>,
    /// The same, sending no server name (SNI).
    config_no_sni: Arc<ClientConfig>,
    checker: Arc<WebPkiServerVerifier>,
    verify: Verify,
}

/// Accepts any certificate; handshake signatures are still checked.
#[derive(Debug)]
struct AcceptAny(crate::Signatures);

/// The client's certificate chains, offered when a server asks.
#[derive(Debug)]
struct Identity(Vec<Arc<rustls::sign::CertifiedKey>>);

impl rustls::client::ResolvesClientCert for Identity {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        crate::pick_key(&self.0, sigschemes)
    }

    fn has_certs(&self) -> bool {
        !self.0.is_empty()
    }
}

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
        self.0.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.schemes()
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

/// Where the trusted CA certificates come from.
#[derive(Debug, Clone, Default)]
pub struct Anchors {
    /// `smtp_tls_CAfile`: a PEM file of CA certificates.
    pub ca_file: Option<PathBuf>,
    /// `smtp_tls_CApath`: a directory of them (each file's certificates;
    /// files that hold none, such as OpenSSL's hash links to non-PEM
    /// files, are passed over).
    pub ca_path: Option<PathBuf>,
    /// `tls_append_default_CA`: the bundled roots too.
    pub append_default: bool,
}

impl Anchors {
    fn roots(&self) -> Result<RootCertStore, TlsError> {
        let mut roots = RootCertStore::empty();
        let add = |roots: &mut RootCertStore, path: &Path, certs: Vec<CertificateDer<'static>>| {
            for c in certs {
                roots.add(c).map_err(|e| TlsError::File {
                    path: path.to_path_buf(),
                    problem: e.to_string(),
                })?;
            }
            Ok::<(), TlsError>(())
        };
        if let Some(path) = &self.ca_file {
            add(&mut roots, path, read_certs(path)?)?;
        }
        if let Some(dir) = &self.ca_path {
            for cert in crate::read_cert_dir(dir)? {
                // (one that is not a usable CA is passed over)
                let _ = add(&mut roots, dir, vec![cert]);
            }
        }
        let configured = self.ca_file.is_some() || self.ca_path.is_some();
        if !configured || self.append_default {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Ok(roots)
    }
}

impl ClientTls {
    /// The anchors `anchors` says, checked as `verify` says, speaking the
    /// versions `protocols` allows with the TLS 1.2 suites of `ciphers`;
    /// `identity`: the client's own certificate chains, for a server that
    /// asks for one (the first whose key signs with a scheme the server
    /// accepts).
    pub fn new(
        verify: Verify,
        anchors: &Anchors,
        protocols: Protocols,
        ciphers: &crate::Ciphers,
        identity: Vec<crate::KeyChain>,
    ) -> Result<ClientTls, TlsError> {
        let identity = crate::certified(identity)?;
        let roots = anchors.roots()?;
        let provider = ciphers.provider();
        let checker =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| TlsError::Config(e.to_string()))?;
        // The handshake checks the server's signatures; the chain and the
        // names are checked after it (see `connect`), so that more than one
        // name, and name suffixes, can be asked for.
        let config = ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&crate::versions(protocols, ciphers)?)
            .map_err(|e| TlsError::Config(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny(crate::Signatures(provider))));
        let config = if identity.is_empty() {
            config.with_no_client_auth()
        } else {
            config.with_client_cert_resolver(Arc::new(Identity(identity)))
        };
        let mut no_sni = config.clone();
        no_sni.enable_sni = false;
        Ok(ClientTls {
            config: Arc::new(config),
            config_no_sni: Arc::new(no_sni),
            checker,
            verify,
        })
    }

    /// Runs the client handshake on `stream` (its own timeouts apply) with
    /// `host`, the server's name, sending `sni` as the name it wants (none
    /// when `sni` is None, or an address). Returns the encrypted stream and
    /// whether the server's chain is trusted and bears one of `names`
    /// (`host` itself when `names` is empty). With [`Verify::Required`] an
    /// untrusted server is an error.
    pub fn connect<S: Read + Write>(
        &self,
        mut stream: S,
        host: &str,
        sni: Option<&str>,
        names: &[NameMatch],
    ) -> Result<(ClientStream<S>, bool), TlsError> {
        let (config, name) = match sni {
            Some(n) => (&self.config, server_name(n)?),
            // The name is not sent; rustls still wants one.
            None => (
                &self.config_no_sni,
                server_name(host).or_else(|_| server_name("localhost"))?,
            ),
        };
        let mut conn = ClientConnection::new(config.clone(), name)
            .map_err(|e| TlsError::Handshake(e.to_string()))?;
        while conn.is_handshaking() {
            conn.complete_io(&mut stream)
                .map_err(|e| TlsError::Handshake(e.to_string()))?;
        }
        let own = [NameMatch::Exact(host.to_string())];
        let names = if names.is_empty() { &own[..] } else { names };
        let trusted = match conn.peer_certificates() {
            Some([leaf, rest @ ..]) => self.trusted(leaf, rest, host, names),
            _ => false,
        };
        if !trusted && self.verify == Verify::Required {
            return Err(TlsError::Handshake(format!(
                "server certificate not verified (wanted a trusted chain for {})",
                names
                    .iter()
                    .map(|n| match n {
                        NameMatch::Exact(n) => n.clone(),
                        NameMatch::Suffix(s) => format!("*{s}"),
                    })
                    .collect::<Vec<_>>()
                    .join(" or ")
            )));
        }
        Ok((StreamOwned::new(conn, stream), trusted))
    }

    /// Whether the chain leads to a trust anchor and the certificate bears
    /// one of `names`.
    fn trusted(
        &self,
        leaf: &CertificateDer<'_>,
        rest: &[CertificateDer<'_>],
        host: &str,
        names: &[NameMatch],
    ) -> bool {
        // Some(true): trusted and valid for the name; Some(false): trusted,
        // another name; None: no trusted chain (or a bad name).
        let check = |n: &str| {
            let name = server_name(n).ok()?;
            match self
                .checker
                .verify_server_cert(leaf, rest, &name, &[], UnixTime::now())
            {
                Ok(_) => Some(true),
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => Some(false),
                Err(_) => None,
            }
        };
        for m in names {
            match m {
                NameMatch::Exact(n) => {
                    if check(n) == Some(true) {
                        return true;
                    }
                }
                NameMatch::Suffix(suffix) => {
                    if check(host).is_none() {
                        return false;
                    }
                    let Ok(cert) = webpki::EndEntityCert::try_from(leaf) else {
                        return false;
                    };
                    let suffix = suffix.to_ascii_lowercase();
                    if cert
                        .valid_dns_names()
                        .any(|d| d.to_ascii_lowercase().ends_with(&suffix))
                    {
                        return true;
                    }
                }
            }
        }
        false
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

    /// Where the test's server certificate is trusted from.
    #[derive(Debug, Clone, Copy)]
    enum Trust {
        Bundled,
        CaFile,
        /// A directory with the certificate and a file that holds none.
        CaPath,
    }

    fn run(verify: Verify, trust: Trust, host: &str) -> Result<bool, TlsError> {
        run_with(verify, trust, host, &[], Protocols::default())
    }

    fn run_with(
        verify: Verify,
        trust: Trust,
        host: &str,
        names: &[NameMatch],
        protocols: Protocols,
    ) -> Result<bool, TlsError> {
        // Tests run side by side and may ask for the same case: each call gets its own directory.
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "tls-client-{}-{call}-{:?}-{trust:?}-{host}",
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
        let anchors = match trust {
            Trust::Bundled => Anchors::default(),
            Trust::CaFile => Anchors {
                ca_file: Some(c.clone()),
                ..Anchors::default()
            },
            Trust::CaPath => {
                let certs = dir.join("certs");
                std::fs::create_dir_all(&certs).unwrap();
                std::fs::copy(&c, certs.join("mx.pem")).unwrap();
                std::fs::write(certs.join("README"), "not a certificate\n").unwrap();
                Anchors {
                    ca_path: Some(certs),
                    ..Anchors::default()
                }
            }
        };
        let client = ClientTls::new(
            verify,
            &anchors,
            protocols,
            &crate::Ciphers::default(),
            Vec::new(),
        )
        .unwrap();
        let r = client
            .connect(a, host, Some(host), names)
            .map(|(mut s, trusted)| {
                let mut buf = [0u8; 5];
                s.read_exact(&mut buf).unwrap();
                assert_eq!(&buf, b"hello");
                let version = if protocols.tls13 {
                    "TLSv1.3"
                } else {
                    "TLSv1.2"
                };
                assert!(crate::describe(&s.conn).starts_with(&format!("{version} with cipher")));
                trusted
            });
        t.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn opportunistic_accepts_anything_and_says_whether_trusted() {
        assert!(!run(Verify::None, Trust::Bundled, "mx.example.test").unwrap());
        assert!(run(Verify::None, Trust::CaFile, "mx.example.test").unwrap());
        assert!(!run(Verify::None, Trust::CaFile, "other.example.test").unwrap());
    }

    #[test]
    fn required_verification_refuses_unknown_issuers() {
        assert!(run(Verify::Required, Trust::Bundled, "mx.example.test").is_err());
        assert!(run(Verify::Required, Trust::CaFile, "mx.example.test").unwrap());
        assert!(run(Verify::Required, Trust::CaPath, "mx.example.test").unwrap());
    }

    #[test]
    fn the_certificate_must_bear_one_of_the_names_asked_for() {
        let exact = |n: &str| NameMatch::Exact(n.to_string());
        let suffix = |n: &str| NameMatch::Suffix(n.to_string());
        let any = Protocols::default();
        let req =
            |host, names: &[NameMatch]| run_with(Verify::Required, Trust::CaFile, host, names, any);
        // secure's nexthop: the certificate names the next hop itself.
        assert!(req(
            "192.0.2.1",
            &[exact("example.test"), exact("mx.example.test")]
        )
        .unwrap());
        // dot-nexthop: any name under it.
        assert!(req(
            "mx.example.test",
            &[exact("example.test"), suffix(".example.test")]
        )
        .unwrap());
        let err = req(
            "mx.example.test",
            &[exact("example.org"), suffix(".example.org")],
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("not verified") && err.contains("example.org or *.example.org"),
            "{err}"
        );
        // An untrusted chain counts for no name, even a suffix.
        assert!(run_with(
            Verify::Required,
            Trust::Bundled,
            "mx.example.test",
            &[suffix(".example.test")],
            any
        )
        .is_err());
        assert!(!run_with(
            Verify::None,
            Trust::Bundled,
            "mx.example.test",
            &[suffix(".example.test")],
            any
        )
        .unwrap());
    }

    #[test]
    fn the_client_speaks_the_protocols_it_is_allowed() {
        let only12 = Protocols {
            tls12: true,
            tls13: false,
        };
        // The server speaks both: TLS 1.2 because the client asks for it.
        assert!(run_with(Verify::None, Trust::CaFile, "mx.example.test", &[], only12).unwrap());
    }

    #[test]
    fn configured_anchors_replace_the_bundled_roots_unless_appended() {
        let bundled = Anchors::default().roots().unwrap().len();
        assert!(bundled > 100, "{bundled}");
        let dir = std::env::temp_dir().join(format!("tls-anchors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, _) = self_signed(&dir);
        let mut a = Anchors {
            ca_file: Some(c),
            ..Anchors::default()
        };
        assert_eq!(a.roots().unwrap().len(), 1, "smtp_tls_CAfile alone");
        a.append_default = true;
        assert_eq!(
            a.roots().unwrap().len(),
            bundled + 1,
            "tls_append_default_CA"
        );
        a.ca_file = Some(dir.join("missing.pem"));
        assert!(
            a.roots().is_err(),
            "a CAfile that cannot be read is an error"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
