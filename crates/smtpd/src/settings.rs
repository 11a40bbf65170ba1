//! Every main.cf value smtpd uses, read once per process.

use params::{table as p, Config};
use std::path::PathBuf;
use std::time::Duration;

/// `smtpd_tls_security_level`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsLevel {
    None,
    May,
    Encrypt,
}

/// The EHLO keywords that `smtpd_discard_ehlo_keywords` may remove.
#[derive(Debug, Clone, Default)]
pub struct Discard {
    pub words: Vec<String>,
}

impl Discard {
    /// Whether `keyword` (any case) is discarded.
    pub fn has(&self, keyword: &str) -> bool {
        self.words.iter().any(|w| w.eq_ignore_ascii_case(keyword))
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub myhostname: String,
    pub banner: String,
    pub message_size_limit: u64,
    /// `queue_minfree`: free bytes the queue file system must keep.
    pub queue_minfree: u64,
    pub recipient_limit: usize,
    pub line_length_limit: usize,
    pub timeout: Duration,
    pub soft_error_limit: u32,
    pub hard_error_limit: u32,
    pub error_sleep: Duration,
    pub junk_command_limit: u32,
    pub vrfy_enabled: bool,
    pub smtputf8: bool,
    pub strict_rfc821: bool,
    pub helo_required: bool,
    pub delay_open: bool,
    pub tls_level: TlsLevel,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub discard: Discard,
    pub peername_lookup: bool,
    pub client_port_logging: bool,
    pub cleanup_service: String,
    pub forbid_unauth_pipelining: bool,
}

impl Settings {
    pub fn from_config(c: &Config) -> Settings {
        let level = match c.str(&p::SMTPD_TLS_SECURITY_LEVEL).trim() {
            "may" => TlsLevel::May,
            "encrypt" | "dane" | "verify" | "secure" => TlsLevel::Encrypt,
            "" if c.bool(&p::SMTPD_ENFORCE_TLS) => TlsLevel::Encrypt,
            "" if c.bool(&p::SMTPD_USE_TLS) => TlsLevel::May,
            _ => TlsLevel::None,
        };
        let path = |s: &str| (!s.trim().is_empty()).then(|| PathBuf::from(s.trim()));
        let count = |v: i64| u32::try_from(v.max(0)).unwrap_or(u32::MAX);
        Settings {
            myhostname: c.str(&p::MYHOSTNAME).to_string(),
            banner: c.str(&p::SMTPD_BANNER).to_string(),
            message_size_limit: c.size(&p::MESSAGE_SIZE_LIMIT),
            queue_minfree: c.size(&p::QUEUE_MINFREE),
            recipient_limit: usize::try_from(c.int(&p::SMTPD_RECIPIENT_LIMIT).max(1))
                .unwrap_or(usize::MAX),
            line_length_limit: usize::try_from(c.int(&p::LINE_LENGTH_LIMIT).max(512))
                .unwrap_or(usize::MAX),
            timeout: c.time(&p::SMTPD_TIMEOUT).max(Duration::from_secs(1)),
            soft_error_limit: count(c.int(&p::SMTPD_SOFT_ERROR_LIMIT)),
            hard_error_limit: count(c.int(&p::SMTPD_HARD_ERROR_LIMIT)),
            error_sleep: c.time(&p::SMTPD_ERROR_SLEEP_TIME),
            junk_command_limit: count(c.int(&p::SMTPD_JUNK_COMMAND_LIMIT)),
            vrfy_enabled: !c.bool(&p::DISABLE_VRFY_COMMAND),
            smtputf8: c.bool(&p::SMTPUTF8_ENABLE),
            strict_rfc821: c.bool(&p::STRICT_RFC821_ENVELOPES),
            helo_required: c.bool(&p::SMTPD_HELO_REQUIRED),
            delay_open: c.bool(&p::SMTPD_DELAY_OPEN_UNTIL_VALID_RCPT),
            tls_level: level,
            tls_cert: path(c.str(&p::SMTPD_TLS_CERT_FILE)),
            tls_key: path(c.str(&p::SMTPD_TLS_KEY_FILE)),
            discard: Discard {
                words: c.list(&p::SMTPD_DISCARD_EHLO_KEYWORDS),
            },
            peername_lookup: c.bool(&p::SMTPD_PEERNAME_LOOKUP),
            client_port_logging: c.bool(&p::SMTPD_CLIENT_PORT_LOGGING),
            cleanup_service: c.str(&p::CLEANUP_SERVICE_NAME).to_string(),
            forbid_unauth_pipelining: c.bool(&p::SMTPD_FORBID_UNAUTH_PIPELINING),
        }
    }
}
