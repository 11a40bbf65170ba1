//! TLS for mailsuite, on rustls with the ring provider (no C toolchain
//! beyond what ring needs, no OpenSSL).
//!
//! * [`ServerTls`]: a server configuration from PEM certificate-chain and
//!   key files (`smtpd_tls_cert_file`/`smtpd_tls_key_file`, Dovecot's
//!   `ssl_cert`/`ssl_key`) or from Postfix's `smtpd_tls_chain_files`
//!   ([`read_chain_files`]); with an RSA and an ECDSA chain, each client
//!   gets the one it can verify. [`ServerTls::accept`] runs the handshake
//!   on any blocking stream (after STARTTLS, or at once for port 465/993/995).
//! * [`ClientCerts`]: client certificates asked for (`smtpd_tls_ask_ccert`)
//!   and judged by fingerprint and by `smtpd_tls_CAfile`.
//! * [`describe`]: the session as Postfix logs it, with OpenSSL's suite
//!   names (`TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)`).
//!
//! * [`ClientTls`]: the client side for STARTTLS (`smtp_tls_security_level`),
//!   with the bundled public roots and `smtp_tls_CAfile`, and the names a
//!   server's certificate must bear ([`NameMatch`]).
//! * [`Protocols`]: the TLS versions allowed, from Postfix's
//!   `*_tls_protocols` syntax or Dovecot's `ssl_min_protocol`.
//! * [`Ciphers`]: the TLS 1.2 cipher suites allowed, from OpenSSL cipher
//!   strings: Postfix's grades and exclusions, Dovecot's `ssl_cipher_list`.
//! * [`LogLevel`]: what `*_tls_loglevel` asks to be logged.
//!
//! Reading key files happens before the privilege drop (they are usually
//! readable by root only); the handshake runs after it.

mod ciphers;
mod client;
mod client_cert;
mod log_level;
mod protocols;
pub mod tickets;
pub use ciphers::{Ciphers, GradeLists};
pub use client::{Anchors, ClientStream, ClientTls, NameMatch, Verify};
pub use client_cert::{ClientCert, ClientCerts, Digest};
pub use log_level::LogLevel;
pub use protocols::Protocols;

use rustls::pki_types::pem::{PemObject, SectionKind};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// What went wrong with TLS set-up or a handshake.
#[derive(Debug)]
pub enum TlsError {
    /// A certificate or key file could not be read or holds nothing usable.
    File { path: PathBuf, problem: String },
    /// Certificate and key do not go together, or rustls refused the config.
    Config(String),
    /// The handshake failed (bad client, protocol error, lost connection).
    Handshake(String),
    /// The peer did not go on with the handshake in time.
    Timeout,
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::File { path, problem } => write!(f, "{}: {problem}", path.display()),
            TlsError::Config(p) => write!(f, "TLS configuration: {p}"),
            TlsError::Handshake(p) => write!(f, "TLS handshake: {p}"),
            TlsError::Timeout => write!(f, "TLS handshake: timeout"),
        }
    }
}

impl std::error::Error for TlsError {}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The versions to speak: those `protocols` allows. An error when the
/// cipher list matched no suite at all (OpenSSL's "no cipher match", which
/// makes Postfix and Dovecot go without TLS), or no version is left.
pub(crate) fn versions(
    protocols: Protocols,
    ciphers: &Ciphers,
) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, TlsError> {
    if ciphers.is_empty() {
        return Err(TlsError::Config(
            "no cipher suite matches the cipher list".into(),
        ));
    }
    let v = protocols.versions();
    if v.is_empty() {
        return Err(TlsError::Config(
            "no TLS protocol version is allowed".into(),
        ));
    }
    Ok(v)
}

/// The handshake signature checks of the verifiers that take any
/// certificate (the smtp client's, smtpd's for client certificates): the
/// peer must still prove it holds the certificate's key.
#[derive(Debug)]
pub(crate) struct Signatures(pub(crate) Arc<rustls::crypto::CryptoProvider>);

impl Signatures {
    pub(crate) fn tls12(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    pub(crate) fn tls13(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    pub(crate) fn schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Reads every certificate in a PEM file (leaf first, then the chain).
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let err = |problem: String| TlsError::File {
        path: path.to_path_buf(),
        problem,
    };
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| err(e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| err(e.to_string()))?;
    if certs.is_empty() {
        return Err(err("no certificate found".into()));
    }
    Ok(certs)
}

/// The certificates of every file in a CA directory (`*_tls_CApath`), in
/// name order; files that hold none (OpenSSL's c_rehash links to other
/// things, README files) are passed over. An unreadable directory is an
/// error.
pub fn read_cert_dir(dir: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let entries = std::fs::read_dir(dir).map_err(|e| TlsError::File {
        path: dir.to_path_buf(),
        problem: e.to_string(),
    })?;
    let mut files: Vec<std::path::PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    Ok(files
        .iter()
        .filter(|f| f.is_file())
        .filter_map(|f| read_certs(f).ok())
        .flatten()
        .collect())
}

/// Reads the first private key in a PEM file (PKCS#8, PKCS#1 or SEC1).
pub fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| TlsError::File {
        path: path.to_path_buf(),
        problem: e.to_string(),
    })
}

/// A private key and its certificate chain, leaf first.
pub struct KeyChain {
    pub key: PrivateKeyDer<'static>,
    pub certs: Vec<CertificateDer<'static>>,
}

impl Clone for KeyChain {
    fn clone(&self) -> Self {
        KeyChain {
            key: self.key.clone_key(),
            certs: self.certs.clone(),
        }
    }
}

impl KeyChain {
    /// A chain from a certificate file and a key file (they may be one).
    pub fn from_files(cert: &Path, key: &Path) -> Result<KeyChain, TlsError> {
        Ok(KeyChain {
            certs: read_certs(cert)?,
            key: read_key(key)?,
        })
    }
}

/// Postfix's `*_tls_chain_files`: the files are read in order as one
/// sequence of PEM objects, in which each private key is followed by its
/// certificate chain (leaf first). Several keys (RSA and ECDSA) give
/// several chains.
pub fn read_chain_files(paths: &[PathBuf]) -> Result<Vec<KeyChain>, TlsError> {
    let mut chains = Chains::default();
    for path in paths {
        let err = |problem: String| TlsError::File {
            path: path.clone(),
            problem,
        };
        let sections =
            <(SectionKind, Vec<u8>)>::pem_file_iter(path).map_err(|e| err(e.to_string()))?;
        for section in sections {
            let (kind, der) = section.map_err(|e| err(e.to_string()))?;
            chains.add(kind, der).map_err(err)?;
        }
    }
    let last = paths.last().cloned().unwrap_or_default();
    chains.finish().map_err(|problem| TlsError::File {
        path: last,
        problem,
    })
}

/// The same from PEM text in memory (a `postmap -F` table's value, the
/// files of one entry one after the other); `what` names it in errors.
pub fn chains_from_pem(pem: &[u8], what: &str) -> Result<Vec<KeyChain>, TlsError> {
    let err = |problem: String| TlsError::Config(format!("{what}: {problem}"));
    let mut chains = Chains::default();
    for section in <(SectionKind, Vec<u8>)>::pem_slice_iter(pem) {
        let (kind, der) = section.map_err(|e| err(e.to_string()))?;
        chains.add(kind, der).map_err(err)?;
    }
    chains.finish().map_err(err)
}

/// Key-and-chain sequences as they are read.
#[derive(Default)]
struct Chains(Vec<KeyChain>);

impl Chains {
    fn add(&mut self, kind: SectionKind, der: Vec<u8>) -> Result<(), String> {
        let key = match kind {
            SectionKind::PrivateKey => PrivateKeyDer::Pkcs8(der.into()),
            SectionKind::RsaPrivateKey => PrivateKeyDer::Pkcs1(der.into()),
            SectionKind::EcPrivateKey => PrivateKeyDer::Sec1(der.into()),
            SectionKind::Certificate => {
                let Some(chain) = self.0.last_mut() else {
                    return Err("a certificate before any private key".into());
                };
                chain.certs.push(der.into());
                return Ok(());
            }
            _ => return Ok(()),
        };
        if self.0.last().is_some_and(|c| c.certs.is_empty()) {
            return Err("a private key without its certificate chain".into());
        }
        self.0.push(KeyChain {
            key,
            certs: Vec::new(),
        });
        Ok(())
    }

    fn finish(self) -> Result<Vec<KeyChain>, String> {
        match self.0.last() {
            None => Err("no private key in the chain files".into()),
            Some(c) if c.certs.is_empty() => {
                Err("a private key without its certificate chain".into())
            }
            Some(_) => Ok(self.0),
        }
    }
}

/// Where a program's own keys and certificates come from: Postfix 3.4's
/// `*_tls_chain_files`, or the per-algorithm certificate and key file pairs
/// (`*_tls_cert_file`/`*_tls_key_file`, `*_tls_eccert_file`/`*_tls_eckey_file`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credentials {
    ChainFiles(Vec<PathBuf>),
    /// Certificate and key file of each algorithm; may be empty.
    Pairs(Vec<(PathBuf, PathBuf)>),
}

impl Credentials {
    /// The chain files when there are any, else the pairs whose
    /// certificate is set (an empty key file means the certificate's file).
    pub fn new(chain_files: &[String], pairs: &[(&str, &str)]) -> Credentials {
        let chain_files: Vec<PathBuf> = chain_files
            .iter()
            .map(|f| f.trim())
            .filter(|f| !f.is_empty())
            .map(PathBuf::from)
            .collect();
        if !chain_files.is_empty() {
            return Credentials::ChainFiles(chain_files);
        }
        Credentials::Pairs(
            pairs
                .iter()
                .map(|(c, k)| (c.trim(), k.trim()))
                .filter(|(c, _)| !c.is_empty())
                .map(|(c, k)| {
                    (
                        PathBuf::from(c),
                        PathBuf::from(if k.is_empty() { c } else { k }),
                    )
                })
                .collect(),
        )
    }

    pub fn is_empty(&self) -> bool {
        match self {
            Credentials::ChainFiles(f) => f.is_empty(),
            Credentials::Pairs(p) => p.is_empty(),
        }
    }

    /// Reads the keys and chains (before the privilege drop).
    pub fn load(&self) -> Result<Vec<KeyChain>, TlsError> {
        match self {
            Credentials::ChainFiles(files) => read_chain_files(files),
            Credentials::Pairs(pairs) => pairs
                .iter()
                .map(|(cert, key)| KeyChain::from_files(cert, key))
                .collect(),
        }
    }
}

/// Each chain with its key loaded for signing; a key that does not go
/// with its leaf certificate is an error.
fn certified(chains: Vec<KeyChain>) -> Result<Vec<Arc<CertifiedKey>>, TlsError> {
    let provider = provider();
    chains
        .into_iter()
        .map(|chain| {
            let key = provider
                .key_provider
                .load_private_key(chain.key)
                .map_err(|e| TlsError::Config(e.to_string()))?;
            let certified = CertifiedKey::new(chain.certs, key);
            certified
                .keys_match()
                .map_err(|e| TlsError::Config(e.to_string()))?;
            Ok(Arc::new(certified))
        })
        .collect()
}

/// The first of `keys` that can sign with one of the `offered` schemes.
fn pick_key(
    keys: &[Arc<CertifiedKey>],
    offered: &[rustls::SignatureScheme],
) -> Option<Arc<CertifiedKey>> {
    keys.iter()
        .find(|c| c.key.choose_scheme(offered).is_some())
        .cloned()
}

/// Several chains (RSA and ECDSA): the first whose key can sign with a
/// scheme the client offers, else the first.
#[derive(Debug)]
struct ByAlgorithm(Vec<Arc<CertifiedKey>>);

impl ResolvesServerCert for ByAlgorithm {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        pick_key(&self.0, hello.signature_schemes()).or_else(|| self.0.first().cloned())
    }
}

/// Postfix's `tls_server_sni_maps`: the chains for the name a client asks
/// for (SNI), found by the name and then by each parent domain with a
/// leading dot (`.example.com`), else the default ones.
struct BySni {
    names: std::collections::HashMap<String, Vec<Arc<CertifiedKey>>>,
    default: Arc<dyn ResolvesServerCert>,
}

impl std::fmt::Debug for BySni {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BySni")
            .field("names", &self.names.len())
            .finish()
    }
}

impl BySni {
    fn find(&self, name: &str) -> Option<&Vec<Arc<CertifiedKey>>> {
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        if let Some(k) = self.names.get(&name) {
            return Some(k);
        }
        let mut rest = name.as_str();
        while let Some(i) = rest.find('.') {
            if let Some(k) = self.names.get(&rest[i..]) {
                return Some(k);
            }
            rest = &rest[i + 1..];
        }
        None
    }
}

impl ResolvesServerCert for BySni {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let found = hello.server_name().and_then(|n| self.find(n));
        match found {
            Some(keys) => {
                pick_key(keys, hello.signature_schemes()).or_else(|| keys.first().cloned())
            }
            None => self.default.resolve(hello),
        }
    }
}

/// A server-side TLS configuration.
#[derive(Clone)]
pub struct ServerTls {
    config: Arc<ServerConfig>,
    /// How the client certificates asked for are judged (None: none is
    /// asked for).
    client_certs: Option<ClientCerts>,
}

/// A TLS session over a blocking stream.
pub type ServerStream<S> = StreamOwned<ServerConnection, S>;

impl ServerTls {
    /// Builds the configuration from a certificate chain file and a key file
    /// (they may be the same file).
    pub fn from_files(cert: &Path, key: &Path) -> Result<ServerTls, TlsError> {
        ServerTls::from_files_with(cert, key, Protocols::default())
    }

    /// As [`ServerTls::from_files`], accepting no protocol older than
    /// `min_protocol` (Dovecot's ssl_min_protocol: `TLSv1.3` allows only
    /// TLS 1.3; `TLSv1.2` and anything older allow 1.2 and 1.3, the
    /// versions rustls speaks at all), with the TLS 1.2 suites of `ciphers`.
    pub fn from_files_min(
        cert: &Path,
        key: &Path,
        min_protocol: &str,
        ciphers: &Ciphers,
    ) -> Result<ServerTls, TlsError> {
        let protocols = Protocols::at_least(min_protocol).map_err(TlsError::Config)?;
        let chains = vec![KeyChain::from_files(cert, key)?];
        ServerTls::from_chains_asking(chains, protocols, ciphers, None)
    }

    /// As [`ServerTls::from_files`], speaking the versions `protocols` allows.
    pub fn from_files_with(
        cert: &Path,
        key: &Path,
        protocols: Protocols,
    ) -> Result<ServerTls, TlsError> {
        ServerTls::from_chains(vec![KeyChain::from_files(cert, key)?], protocols)
    }

    /// A configuration serving `chains` (at least one), speaking the
    /// versions `protocols` allows. Each key must go with its leaf
    /// certificate.
    pub fn from_chains(chains: Vec<KeyChain>, protocols: Protocols) -> Result<ServerTls, TlsError> {
        ServerTls::from_chains_asking(chains, protocols, &Ciphers::default(), None)
    }

    /// As [`ServerTls::from_chains`], with the TLS 1.2 suites of `ciphers`,
    /// asking each client for a certificate when `client_certs` says how to
    /// judge them.
    pub fn from_chains_asking(
        chains: Vec<KeyChain>,
        protocols: Protocols,
        ciphers: &Ciphers,
        client_certs: Option<ClientCerts>,
    ) -> Result<ServerTls, TlsError> {
        let keys = certified(chains)?;
        if keys.is_empty() {
            return Err(TlsError::Config("no certificate".into()));
        }
        let builder = ServerConfig::builder_with_provider(ciphers.provider())
            .with_protocol_versions(&versions(protocols, ciphers)?)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        let builder = match &client_certs {
            Some(c) => builder.with_client_cert_verifier(Arc::new(client_cert::AskAny::new(
                provider(),
                c.hints.clone(),
            ))),
            None => builder.with_no_client_auth(),
        };
        let config = builder.with_cert_resolver(Arc::new(ByAlgorithm(keys)));
        Ok(ServerTls {
            config: Arc::new(config),
            client_certs,
        })
    }

    /// The same configuration, serving the chains of `by_name` to a client
    /// that asks for one of those names or a name under a `.domain` key
    /// (SNI; keys in lower case). An entry whose key does not go with its
    /// leaf certificate is left out; the problems are returned, for the
    /// log.
    pub fn with_sni(self, by_name: Vec<(String, Vec<KeyChain>)>) -> (ServerTls, Vec<String>) {
        let mut names = std::collections::HashMap::new();
        let mut problems = Vec::new();
        for (name, chains) in by_name {
            match certified(chains) {
                Ok(keys) => {
                    names.insert(name.to_ascii_lowercase(), keys);
                }
                Err(e) => problems.push(format!("{name}: {e}; left out")),
            }
        }
        let mut config = (*self.config).clone();
        config.cert_resolver = Arc::new(BySni {
            names,
            default: config.cert_resolver.clone(),
        });
        let server = ServerTls {
            config: Arc::new(config),
            client_certs: self.client_certs,
        };
        (server, problems)
    }

    /// The same configuration, issuing session tickets that `tickets`
    /// seals (resumption with any process that shares its keys) instead
    /// of keeping sessions in this process's memory; None: no resumption
    /// at all (Postfix's session cache timeout of 0).
    pub fn with_tickets(self, tickets: Option<tickets::SharedTickets>) -> ServerTls {
        let mut config = (*self.config).clone();
        match tickets {
            Some(t) => config.ticketer = Arc::new(t),
            None => {
                config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
                config.send_tls13_tickets = 0;
            }
        }
        ServerTls {
            config: Arc::new(config),
            client_certs: self.client_certs,
        }
    }

    /// The same configuration, choosing the cipher suite by the server's
    /// order rather than the client's (Postfix's tls_preempt_cipherlist).
    pub fn preferring_server_ciphers(self, on: bool) -> ServerTls {
        let mut config = (*self.config).clone();
        config.ignore_client_order = on;
        ServerTls {
            config: Arc::new(config),
            client_certs: self.client_certs,
        }
    }

    /// The certificate the client of `stream` showed, judged; None when it
    /// showed none or none was asked for.
    pub fn client_cert<S: Read + Write>(&self, stream: &ServerStream<S>) -> Option<ClientCert> {
        self.client_certs.as_ref()?.judge(&stream.conn)
    }

    /// Runs the server handshake to completion on `stream` (its own
    /// timeouts apply) and returns the encrypted stream.
    pub fn accept<S: Read + Write>(&self, mut stream: S) -> Result<ServerStream<S>, TlsError> {
        let conn = self.handshake(&mut stream)?;
        Ok(StreamOwned::new(conn, stream))
    }

    /// The server's side of a handshake over `io` (which may bound its
    /// reads and writes by a deadline); the session then goes on over the
    /// stream under `io`, with `StreamOwned::new`.
    pub fn handshake<S: Read + Write>(&self, io: &mut S) -> Result<ServerConnection, TlsError> {
        let mut conn = ServerConnection::new(self.config.clone())
            .map_err(|e| TlsError::Handshake(e.to_string()))?;
        while conn.is_handshaking() {
            conn.complete_io(io).map_err(|e| match e.kind() {
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => TlsError::Timeout,
                _ => TlsError::Handshake(e.to_string()),
            })?;
        }
        Ok(conn)
    }
}

/// The negotiated session in Postfix's words, e.g.
/// `TLSv1.3 with cipher TLS13_AES_256_GCM_SHA384 (256/256 bits)`.
pub fn describe(conn: &rustls::CommonState) -> String {
    let version = match conn.protocol_version() {
        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3",
        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2",
        _ => "TLS",
    };
    let (suite, bits) = match conn.negotiated_cipher_suite() {
        Some(s) => ciphers::openssl_name(s.suite()),
        None => ("unknown".into(), 0),
    };
    format!("{version} with cipher {suite} ({bits}/{bits} bits)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn self_signed(dir: &Path) -> (PathBuf, PathBuf) {
        let cert = rcgen::generate_simple_self_signed(vec!["mail.example.test".into()]).unwrap();
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&c, cert.cert.pem()).unwrap();
        std::fs::write(&k, cert.signing_key.serialize_pem()).unwrap();
        (c, k)
    }

    #[test]
    fn files_are_checked_and_a_handshake_completes() {
        let dir = std::env::temp_dir().join(format!("tls_test_{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (c, k) = self_signed(&dir);
        assert!(matches!(
            ServerTls::from_files(&dir.join("missing.pem"), &k),
            Err(TlsError::File { .. })
        ));
        assert!(
            matches!(ServerTls::from_files(&k, &k), Err(TlsError::File { .. })),
            "a key is not a certificate"
        );
        let server = ServerTls::from_files(&c, &k).unwrap();

        let (a, b) = UnixStream::pair().unwrap();
        let t = std::thread::spawn(move || {
            let mut s = server.accept(a).unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            s.write_all(b"world").unwrap();
            s.flush().unwrap();
            describe(&s.conn)
        });
        let mut roots = rustls::RootCertStore::empty();
        roots.add(read_certs(&c).unwrap().remove(0)).unwrap();
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("mail.example.test").unwrap();
        let conn = rustls::ClientConnection::new(Arc::new(config), name).unwrap();
        let mut client = StreamOwned::new(conn, b);
        client.write_all(b"hello").unwrap();
        let mut buf = [0u8; 5];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"world");
        let d = t.join().unwrap();
        assert!(d.starts_with("TLSv1.3 with cipher TLS_AES_"), "{d}");
        // A client that speaks garbage fails the handshake cleanly.
        let (a, mut b) = UnixStream::pair().unwrap();
        b.write_all(b"EHLO not tls\r\n").unwrap();
        drop(b);
        assert!(matches!(
            ServerTls::from_files(&c, &k).unwrap().accept(a),
            Err(TlsError::Handshake(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

/// tls_preempt_cipherlist: the server's order of cipher suites, or the
/// client's.
#[cfg(test)]
mod preempt_tests {
    use super::*;
    use std::os::unix::net::UnixStream;

    fn negotiated(preempt: bool) -> String {
        let dir =
            std::env::temp_dir().join(format!("tls_preempt_{}_{preempt}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let cert =
            rcgen::generate_simple_self_signed(vec!["mail.example.test".into()]).expect("cert");
        let (c, k) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&c, cert.cert.pem()).expect("write");
        std::fs::write(&k, cert.signing_key.serialize_pem()).expect("write");
        let server = ServerTls::from_files(&c, &k)
            .expect("server")
            .preferring_server_ciphers(preempt);
        let (a, b) = UnixStream::pair().expect("pair");
        let t = std::thread::spawn(move || {
            let mut s = server.accept(a).expect("accept");
            s.write_all(b"x").expect("write");
            s.flush().expect("flush");
            describe(&s.conn)
        });
        // A client that puts ChaCha20 first.
        let mut provider = rustls::crypto::ring::default_provider();
        provider
            .cipher_suites
            .sort_by_key(|s| !format!("{:?}", s.suite()).contains("CHACHA20"));
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(read_certs(&c).expect("certs").remove(0))
            .expect("root");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(provider))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .expect("versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from("mail.example.test").expect("name");
        let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
        let mut client = StreamOwned::new(conn, b);
        let mut buf = [0u8; 1];
        client.read_exact(&mut buf).expect("read");
        let _ = std::fs::remove_dir_all(&dir);
        t.join().expect("server thread")
    }

    #[test]
    fn the_server_order_wins_only_when_asked() {
        assert!(
            negotiated(false).contains("CHACHA20"),
            "{}",
            negotiated(false)
        );
        assert!(
            !negotiated(true).contains("CHACHA20"),
            "{}",
            negotiated(true)
        );
    }
}

#[cfg(test)]
mod chain_file_tests {
    use super::*;

    fn pem(label: &str) -> String {
        format!("-----BEGIN {label}-----\nAAECAwQFBgc=\n-----END {label}-----\n")
    }

    fn read(texts: &[String]) -> Result<Vec<KeyChain>, TlsError> {
        let dir = std::env::temp_dir().join(format!(
            "tls-chains-{}-{}",
            std::process::id(),
            texts.concat().len()
        ));
        std::fs::create_dir_all(&dir).expect("dir");
        let paths: Vec<PathBuf> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let p = dir.join(format!("{i}.pem"));
                std::fs::write(&p, t).expect("write");
                p
            })
            .collect();
        let r = read_chain_files(&paths);
        let _ = std::fs::remove_dir_all(&dir);
        r
    }

    #[test]
    fn keys_are_followed_by_their_chains() {
        let key = pem("PRIVATE KEY");
        let ec = pem("EC PRIVATE KEY");
        let cert = pem("CERTIFICATE");
        let chains =
            read(&[key.clone() + &cert + &cert, ec.clone(), cert.clone()]).expect("two chains");
        assert_eq!(chains.len(), 2);
        assert_eq!(chains[0].certs.len(), 2);
        assert!(matches!(chains[1].key, PrivateKeyDer::Sec1(_)));
        assert_eq!(chains[1].certs.len(), 1);
        let err = |texts: &[String]| match read(texts) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("accepted"),
        };
        assert!(err(&[cert.clone() + &key]).contains("a certificate before any private key"));
        assert!(err(&[key.clone() + &key + &cert])
            .contains("a private key without its certificate chain"));
        assert!(
            err(std::slice::from_ref(&key)).contains("a private key without its certificate chain")
        );
        assert!(err(&[String::new()]).contains("no private key"));
    }
}
