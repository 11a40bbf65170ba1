//! Client certificates on the server side, as Postfix's smtpd takes them
//! (`smtpd_tls_ask_ccert`): asked for, never required by the handshake;
//! any certificate whose key the client proves it holds is taken, and
//! afterwards judged by its fingerprint (`relay_clientcerts`,
//! `check_ccert_access`) and by whether a CA in `smtpd_tls_CAfile` signed
//! it (`permit_tls_all_clientcerts`).

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore};
use std::sync::Arc;

/// The digest of `smtpd_tls_fingerprint_digest`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    Sha1,
    Sha256,
}

impl Digest {
    /// `sha1` or `sha256` (Postfix's default since 3.6); md5 and others are
    /// not offered.
    pub fn parse(name: &str) -> Result<Digest, String> {
        match name.trim().to_ascii_lowercase().as_str() {
            "sha1" => Ok(Digest::Sha1),
            "sha256" => Ok(Digest::Sha256),
            other => Err(format!(
                "unsupported fingerprint digest: {other} (use sha256 or sha1)"
            )),
        }
    }

    /// Postfix's form: upper-case hex pairs joined by colons.
    pub fn fingerprint(self, der: &[u8]) -> String {
        let algorithm = match self {
            Digest::Sha1 => &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
            Digest::Sha256 => &ring::digest::SHA256,
        };
        ring::digest::digest(algorithm, der)
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }
}

/// What a client showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The fingerprint of its certificate.
    pub fingerprint: String,
    /// Whether a trusted CA signed it (and it is valid now).
    pub trusted: bool,
}

/// Asks for a certificate and takes any: the handshake checks only that
/// the client holds its key.
#[derive(Debug)]
pub(crate) struct AskAny {
    signatures: crate::Signatures,
    hints: Vec<DistinguishedName>,
}

impl AskAny {
    pub(crate) fn new(
        provider: Arc<rustls::crypto::CryptoProvider>,
        trusted: &RootCertStore,
    ) -> Self {
        AskAny {
            signatures: crate::Signatures(provider),
            hints: trusted.subjects(),
        }
    }
}

impl ClientCertVerifier for AskAny {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &self.hints
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls12(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.signatures.tls13(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.signatures.schemes()
    }
}

/// How a server judges the certificates it asks for.
#[derive(Clone)]
pub struct ClientCerts {
    pub(crate) roots: RootCertStore,
    digest: Digest,
    /// Checks a chain against `roots`; None without any.
    trust: Option<Arc<dyn ClientCertVerifier>>,
}

impl std::fmt::Debug for ClientCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCerts")
            .field("roots", &self.roots.len())
            .field("digest", &self.digest)
            .finish()
    }
}

impl ClientCerts {
    /// Trusting the CAs in `cas` (smtpd_tls_CAfile; may be empty),
    /// fingerprints made with `digest`.
    pub fn new(cas: Vec<CertificateDer<'static>>, digest: Digest) -> Result<ClientCerts, String> {
        let mut roots = RootCertStore::empty();
        for ca in cas {
            roots.add(ca).map_err(|e| format!("CA certificate: {e}"))?;
        }
        let trust = if roots.is_empty() {
            None
        } else {
            Some(
                WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots.clone()),
                    crate::provider(),
                )
                .build()
                .map_err(|e| e.to_string())?,
            )
        };
        Ok(ClientCerts {
            roots,
            digest,
            trust,
        })
    }

    /// What the client of a finished handshake showed, if anything.
    pub fn judge(&self, conn: &rustls::ServerConnection) -> Option<ClientCert> {
        let chain = conn.peer_certificates()?;
        let (leaf, intermediates) = chain.split_first()?;
        let trusted = self.trust.as_ref().is_some_and(|t| {
            t.verify_client_cert(leaf, intermediates, UnixTime::now())
                .is_ok()
        });
        Some(ClientCert {
            fingerprint: self.digest.fingerprint(leaf.as_ref()),
            trusted,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_as_postfix_writes_them() {
        assert_eq!(
            Digest::Sha256.fingerprint(b"abc"),
            "BA:78:16:BF:8F:01:CF:EA:41:41:40:DE:5D:AE:22:23:B0:03:61:A3:96:17:7A:9C:B4:10:FF:61:F2:00:15:AD"
        );
        assert_eq!(
            Digest::Sha1.fingerprint(b"abc"),
            "A9:99:3E:36:47:06:81:6A:BA:3E:25:71:78:50:C2:6C:9C:D0:D8:9D"
        );
        assert_eq!(Digest::parse("SHA256"), Ok(Digest::Sha256));
        assert!(Digest::parse("md5").is_err());
    }
}
