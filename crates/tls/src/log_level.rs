//! `smtpd_tls_loglevel`, `smtp_tls_loglevel` and friends: what a TLS
//! session leaves in the log, in Postfix's words: a level (`0`/`none`,
//! `1`/`routine`, `2`/`debug`, `3`, `4`) or a list of features (`summary`,
//! `untrusted`, `peercert`, `certmatch`, `verbose`, …).

/// The features a log level turns on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogLevel(u32);

const SUMMARY: u32 = 1 << 0;
const UNTRUSTED: u32 = 1 << 1;
const PEERCERT: u32 = 1 << 2;
const CERTMATCH: u32 = 1 << 3;
const VERBOSE: u32 = 1 << 4;
const CACHE: u32 = 1 << 5;
const DEBUG: u32 = 1 << 6;
const PACKETS: u32 = 1 << 7;

const LEVEL_1: u32 = SUMMARY;
const LEVEL_2: u32 = LEVEL_1 | VERBOSE | CACHE | DEBUG;
const LEVEL_3: u32 = LEVEL_2 | PACKETS;

impl LogLevel {
    /// Parses a level or feature list; the words it does not know come
    /// back for a warning (Postfix ignores them too).
    pub fn parse(text: &str) -> (LogLevel, Vec<String>) {
        let mut mask = 0;
        let mut unknown = Vec::new();
        for word in text.split([' ', '\t', ',', ':']).filter(|w| !w.is_empty()) {
            mask |= match word.to_ascii_lowercase().as_str() {
                "0" | "none" => 0,
                "1" | "routine" => LEVEL_1,
                "2" | "debug" => LEVEL_2,
                "3" | "ssl-expert" => LEVEL_3,
                "4" | "5" | "6" | "7" | "8" | "9" | "ssl-developer" => LEVEL_3,
                "summary" => SUMMARY,
                "untrusted" => UNTRUSTED,
                "peercert" => PEERCERT,
                "certmatch" => CERTMATCH,
                "verbose" => VERBOSE,
                "cache" => CACHE,
                "ssl-debug" => DEBUG,
                "ssl-handshake-packet-dump" | "ssl-session-packet-dump" => PACKETS,
                _ => {
                    unknown.push(word.to_string());
                    0
                }
            };
        }
        (LogLevel(mask), unknown)
    }

    /// A `*_tls_loglevel` setting named `name`, with a warning in the log
    /// for each word it does not know.
    pub fn from_setting(name: &str, value: &str) -> LogLevel {
        let (level, unknown) = LogLevel::parse(value);
        for word in unknown {
            maillog::warning!("{name}: unknown TLS log level \"{word}\" ignored");
        }
        level
    }

    /// The handshake's one-line summary (`Anonymous TLS connection
    /// established from …`).
    pub fn summary(self) -> bool {
        self.0 & SUMMARY != 0
    }

    /// The peer certificate's details.
    pub fn peer_cert(self) -> bool {
        self.0 & (PEERCERT | CERTMATCH | VERBOSE) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_feature_lists() {
        assert_eq!(LogLevel::parse("0"), (LogLevel(0), vec![]));
        assert!(!LogLevel::parse("0").0.summary());
        assert!(!LogLevel::parse("none").0.summary());
        let one = LogLevel::parse("1").0;
        assert!(one.summary() && !one.peer_cert());
        assert_eq!(LogLevel::parse("routine").0, one);
        let two = LogLevel::parse("2").0;
        assert!(two.summary() && two.peer_cert());
        let list = LogLevel::parse("summary, PeerCert").0;
        assert!(list.summary() && list.peer_cert());
        let (l, unknown) = LogLevel::parse("1 chatty");
        assert_eq!((l, unknown), (one, vec!["chatty".to_string()]));
    }
}
