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

    /// The fingerprint of a certificate's public key (its DER
    /// SubjectPublicKeyInfo), which stays the same when the certificate
    /// is renewed with the same key; None when `cert` is no certificate.
    pub fn key_fingerprint(self, cert: &[u8]) -> Option<String> {
        spki(cert).map(|k| self.fingerprint(k))
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

/// One DER element: its tag, its content and what follows it.
fn element(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = header.checked_add(len)?;
    Some((tag, b.get(header..end)?, b.get(end..)?))
}

/// The SubjectPublicKeyInfo of an X.509 certificate, DER as it stands in
/// it (RFC 5280 §4.1: after the optional version, the serial number, the
/// signature algorithm, the issuer, the validity and the subject).
fn spki(cert: &[u8]) -> Option<&[u8]> {
    let (_, certificate, _) = element(cert)?;
    let (_, tbs, _) = element(certificate)?;
    let (tag, _, after) = element(tbs)?;
    let mut rest = if tag == 0xA0 { after } else { tbs };
    for _ in 0..5 {
        rest = element(rest)?.2;
    }
    let (tag, _, after) = element(rest)?;
    (tag == 0x30).then(|| &rest[..rest.len() - after.len()])
}

/// What a client showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientCert {
    /// The fingerprint of its certificate.
    pub fingerprint: String,
    /// The fingerprint of its public key (Postfix matches either).
    pub key_fingerprint: Option<String>,
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
        hints: Vec<DistinguishedName>,
    ) -> Self {
        AskAny {
            signatures: crate::Signatures(provider),
            hints,
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
    /// The CA names sent with the request for a certificate: those of
    /// smtpd_tls_CAfile only (as Postfix: a CApath's are not sent).
    pub(crate) hints: Vec<DistinguishedName>,
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
    /// Trusting the CAs in `cas` (smtpd_tls_CAfile; may be empty) and in
    /// `more` (smtpd_tls_CApath: duplicates and certificates that are no
    /// CA's are passed over; their number comes back for the log),
    /// fingerprints made with `digest`.
    pub fn new(
        cas: Vec<CertificateDer<'static>>,
        more: Vec<CertificateDer<'static>>,
        digest: Digest,
    ) -> Result<(ClientCerts, usize), String> {
        let mut roots = RootCertStore::empty();
        let mut seen = std::collections::HashSet::new();
        for ca in cas {
            seen.insert(ca.as_ref().to_vec());
            roots.add(ca).map_err(|e| format!("CA certificate: {e}"))?;
        }
        let hints = roots.subjects();
        let unique: Vec<CertificateDer<'static>> = more
            .into_iter()
            .filter(|c| seen.insert(c.as_ref().to_vec()))
            .collect();
        let (_, skipped) = roots.add_parsable_certificates(unique);
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
        Ok((
            ClientCerts {
                roots,
                hints,
                digest,
                trust,
            },
            skipped,
        ))
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
            key_fingerprint: self.digest.key_fingerprint(leaf.as_ref()),
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

    #[test]
    fn the_public_key_is_found_in_the_certificate() {
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["client.example".to_string()])
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        use rustls::pki_types::pem::PemObject;
        let public = rustls::pki_types::SubjectPublicKeyInfoDer::from_pem_slice(
            key.public_key_pem().as_bytes(),
        )
        .expect("public key");
        assert_eq!(spki(cert.der()), Some(public.as_ref()));
        assert_eq!(
            Digest::Sha256.key_fingerprint(cert.der()),
            Some(Digest::Sha256.fingerprint(public.as_ref()))
        );
        assert_eq!(spki(b"\x30\x03\x02\x01"), None);
        assert_eq!(spki(&cert.der()[..40]), None);
    }
}

#[cfg(test)]
mod hint_tests {
    use super::*;

    fn cert(name: &str) -> CertificateDer<'static> {
        rcgen::generate_simple_self_signed(vec![name.to_string()])
            .expect("cert")
            .cert
            .der()
            .clone()
    }

    /// A CApath's CAs are trusted but not named in the request (the list
    /// must stay small), duplicates count once, and what cannot be a
    /// trust anchor is passed over.
    #[test]
    fn only_the_ca_file_is_hinted() {
        let (a, b) = (cert("a.example"), cert("b.example"));
        let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        let (certs, skipped) = ClientCerts::new(
            vec![a.clone()],
            vec![b.clone(), b.clone(), a, junk],
            Digest::parse("sha256").expect("digest"),
        )
        .expect("certs");
        assert_eq!(certs.hints.len(), 1);
        assert_eq!(certs.roots.len(), 2, "a and b, once each");
        assert_eq!(skipped, 1);
    }
}
