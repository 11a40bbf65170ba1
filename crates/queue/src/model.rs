//! What a queue file holds, as types: the envelope, the extracted
//! information, the size record. The content is not here: it is streamed
//! (see [`crate::reader::Content`]).

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A time with microsecond precision, as the `T` record stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    pub sec: u64,
    pub usec: u32,
}

impl Timestamp {
    pub fn now() -> Timestamp {
        Timestamp::from_system(SystemTime::now())
    }

    pub fn from_system(t: SystemTime) -> Timestamp {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
        Timestamp {
            sec: d.as_secs(),
            usec: d.subsec_micros(),
        }
    }

    pub fn to_system(self) -> SystemTime {
        // (a time too far out for SystemTime, from a corrupt record, is the epoch)
        let d = Duration::new(self.sec, self.usec.min(999_999) * 1000);
        UNIX_EPOCH.checked_add(d).unwrap_or(UNIX_EPOCH)
    }
}

/// DSN RET (RFC 3461): what a bounce returns. The `<` record holds the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DsnRet {
    /// RET=FULL, stored as 1.
    Full,
    /// RET=HDRS, stored as 2.
    Hdrs,
}

impl DsnRet {
    pub fn code(self) -> u8 {
        match self {
            DsnRet::Full => 1,
            DsnRet::Hdrs => 2,
        }
    }

    pub fn from_code(c: u64) -> Option<DsnRet> {
        match c {
            1 => Some(DsnRet::Full),
            2 => Some(DsnRet::Hdrs),
            _ => None,
        }
    }
}

/// DSN NOTIFY (RFC 3461) as Postfix's bit mask; the `n` record holds the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DsnNotify(pub u8);

impl DsnNotify {
    pub const NEVER: u8 = 1;
    pub const SUCCESS: u8 = 2;
    pub const FAILURE: u8 = 4;
    pub const DELAY: u8 = 8;

    /// A mask is valid when it is NEVER alone or a non-empty set of the others.
    pub fn is_valid(self) -> bool {
        self.0 == Self::NEVER
            || (self.0 != 0 && self.0 & !(Self::SUCCESS | Self::FAILURE | Self::DELAY) == 0)
    }

    /// Parses the ESMTP form: "NEVER" or "SUCCESS,FAILURE,DELAY" in any order.
    pub fn parse_esmtp(s: &str) -> Option<DsnNotify> {
        let mut mask = 0u8;
        for word in s.split(',') {
            mask |= match word.trim().to_ascii_uppercase().as_str() {
                "NEVER" => Self::NEVER,
                "SUCCESS" => Self::SUCCESS,
                "FAILURE" => Self::FAILURE,
                "DELAY" => Self::DELAY,
                _ => return None,
            };
        }
        Some(DsnNotify(mask)).filter(|n| n.is_valid())
    }
}

impl fmt::Display for DsnNotify {
    /// The ESMTP form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::NEVER, "NEVER"),
            (Self::SUCCESS, "SUCCESS"),
            (Self::FAILURE, "FAILURE"),
            (Self::DELAY, "DELAY"),
        ];
        let words: Vec<&str> = names
            .iter()
            .filter(|(bit, _)| self.0 & bit != 0)
            .map(|(_, n)| *n)
            .collect();
        f.write_str(&words.join(","))
    }
}

/// The body's declared encoding (the `encoding` attribute, as Postfix).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// BODY=7BIT, or nothing declared: "7bit".
    SevenBit,
    /// BODY=8BITMIME: "8bit".
    EightBit,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::SevenBit => "7bit",
            Encoding::EightBit => "8bit",
        }
    }

    pub fn parse(s: &str) -> Option<Encoding> {
        match s {
            "7bit" => Some(Encoding::SevenBit),
            "8bit" => Some(Encoding::EightBit),
            _ => None,
        }
    }
}

/// One recipient and its DSN data. In the file: `o`, `n`, `O` (each
/// optional, in that order), then `R` (to do) or `D` (done).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Recipient {
    pub address: String,
    /// Before alias or virtual rewriting (`O`).
    pub original: Option<String>,
    /// DSN ORCPT as given, e.g. "rfc822;user@example.com" (`o`).
    pub dsn_orcpt: Option<String>,
    /// DSN NOTIFY (`n`).
    pub dsn_notify: Option<DsnNotify>,
    /// Delivered or bounced: the record is `D`.
    pub done: bool,
    /// Offset of the `R`/`D` record, for [`crate::mark_done`]. Filled in by
    /// the reader; the writer ignores it.
    pub offset: u64,
}

impl Recipient {
    pub fn new(address: impl Into<String>) -> Recipient {
        Recipient {
            address: address.into(),
            ..Recipient::default()
        }
    }
}

/// Attribute names the envelope knows (Postfix's MAIL_ATTR_* names).
pub mod attr {
    pub const CREATE_TIME: &str = "create_time";
    pub const CLIENT_NAME: &str = "client_name";
    pub const CLIENT_ADDRESS: &str = "client_address";
    pub const HELO_NAME: &str = "helo_name";
    pub const PROTOCOL_NAME: &str = "protocol_name";
    pub const SASL_METHOD: &str = "sasl_method";
    pub const SASL_USERNAME: &str = "sasl_username";
    pub const REWRITE_CONTEXT: &str = "rewrite_context";
    pub const ENCODING: &str = "encoding";
}

/// VERP delimiters a queue file may hold: two ASCII punctuation
/// characters (which ones, `verp_delimiter_filter` decides where they are
/// taken in).
pub fn verp_delimiters_valid(v: &str) -> bool {
    v.len() == 2 && v.bytes().all(|b| b.is_ascii_punctuation())
}

/// The `A` records of the envelope. Known names get a field; the rest
/// keep their order in `other`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Attributes {
    pub client_name: Option<String>,
    pub client_address: Option<String>,
    pub helo_name: Option<String>,
    /// SMTP, ESMTP, or "sendmail" for local submission.
    pub protocol_name: Option<String>,
    pub sasl_method: Option<String>,
    pub sasl_username: Option<String>,
    /// "local" or "remote" address rewriting.
    pub rewrite_context: Option<String>,
    /// BODY=8BITMIME or 7BIT.
    pub encoding: Option<Encoding>,
    pub other: Vec<(String, String)>,
}

impl Attributes {
    /// All attributes as (name, value), known ones first.
    pub fn pairs(&self) -> Vec<(String, String)> {
        let mut v = Vec::new();
        let known = [
            (attr::CLIENT_NAME, &self.client_name),
            (attr::CLIENT_ADDRESS, &self.client_address),
            (attr::HELO_NAME, &self.helo_name),
            (attr::PROTOCOL_NAME, &self.protocol_name),
            (attr::SASL_METHOD, &self.sasl_method),
            (attr::SASL_USERNAME, &self.sasl_username),
            (attr::REWRITE_CONTEXT, &self.rewrite_context),
        ];
        for (name, value) in known {
            if let Some(value) = value {
                v.push((name.to_string(), value.clone()));
            }
        }
        if let Some(e) = self.encoding {
            v.push((attr::ENCODING.to_string(), e.as_str().to_string()));
        }
        v.extend(self.other.iter().cloned());
        v
    }

    /// The value of an attribute without a field of its own
    /// (`content_filter`, `log_client_name` …).
    pub fn other_value(&self, name: &str) -> Option<&str> {
        self.other
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Files one attribute; an error on a second value for a known name or
    /// an encoding that is neither 7bit nor 8bit.
    pub fn set(&mut self, name: &str, value: String) -> Result<(), String> {
        let slot = match name {
            attr::CLIENT_NAME => &mut self.client_name,
            attr::CLIENT_ADDRESS => &mut self.client_address,
            attr::HELO_NAME => &mut self.helo_name,
            attr::PROTOCOL_NAME => &mut self.protocol_name,
            attr::SASL_METHOD => &mut self.sasl_method,
            attr::SASL_USERNAME => &mut self.sasl_username,
            attr::REWRITE_CONTEXT => &mut self.rewrite_context,
            attr::ENCODING => {
                if self.encoding.is_some() {
                    return Err(format!("duplicate attribute {name}"));
                }
                self.encoding =
                    Some(Encoding::parse(&value).ok_or_else(|| format!("bad encoding: {value}"))?);
                return Ok(());
            }
            _ => {
                self.other.push((name.to_string(), value));
                return Ok(());
            }
        };
        if slot.is_some() {
            return Err(format!("duplicate attribute {name}"));
        }
        *slot = Some(value);
        Ok(())
    }
}

/// The envelope segment.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Envelope {
    /// `T`: when the message arrived.
    pub arrival: Timestamp,
    /// `A create_time=`: when the queue file was made (seconds).
    pub create_time: Option<u64>,
    /// `F`: the sender's full name (sendmail -F).
    pub fullname: Option<String>,
    /// `S`: the envelope sender; "" is the null sender `<>`.
    pub sender: String,
    /// `W`: when to send the next delay warning (seconds), updated in place.
    pub warn_time: Option<u64>,
    /// `<`: DSN RET.
    pub dsn_ret: Option<DsnRet>,
    /// `i`: DSN ENVID.
    pub dsn_envid: Option<String>,
    /// `V`: VERP delimiters (two punctuation characters), for a sender
    /// that asked for one return path per recipient.
    pub verp_delimiters: Option<String>,
    /// SMTPUTF8 was requested (the size record's sixth field).
    pub smtputf8: bool,
    /// `A`: everything else about the client and the message.
    pub attrs: Attributes,
    /// The envelope recipients.
    pub recipients: Vec<Recipient>,
}

/// The extracted segment: what cleanup took from the headers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Extracted {
    /// Recipients from To/Cc/Bcc for `sendmail -t`.
    pub recipients: Vec<Recipient>,
    /// `r`: Return-Receipt-To.
    pub return_receipt: Option<String>,
    /// `e`: Errors-To.
    pub errors_to: Option<String>,
    /// `A`: attributes.
    pub attrs: Vec<(String, String)>,
}

/// The `C` record: six fixed-width decimal fields (Postfix's
/// REC_TYPE_SIZE_FORMAT, "%15ld" each, space separated), patched in place
/// when the content has been written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SizeRecord {
    /// Bytes of content records: from `data_offset` to the `X` record.
    pub data_size: u64,
    /// Offset of the first content record (just after `M`).
    pub data_offset: u64,
    /// Recipient records (R and D) in the envelope and extracted segments.
    pub rcpt_count: u64,
    /// Queue manager flags (reserved, 0).
    pub qmgr_flags: u64,
    /// The message's length as delivered with LF line ends.
    pub content_length: u64,
    /// 1 when SMTPUTF8 was requested.
    pub smtputf8: u64,
}

/// Width of each size record field.
pub const SIZE_FIELD_WIDTH: usize = 15;
/// Length of the size record's payload.
pub const SIZE_PAYLOAD_LEN: usize = 6 * SIZE_FIELD_WIDTH + 5;

impl SizeRecord {
    /// The fixed-width payload.
    pub fn payload(&self) -> String {
        format!(
            "{:>15} {:>15} {:>15} {:>15} {:>15} {:>15}",
            self.data_size,
            self.data_offset,
            self.rcpt_count,
            self.qmgr_flags,
            self.content_length,
            self.smtputf8
        )
    }

    /// Parses six non-negative decimal numbers.
    pub fn parse(s: &str) -> Option<SizeRecord> {
        let f: Vec<u64> = s
            .split_ascii_whitespace()
            .map(|w| {
                if w.bytes().all(|b| b.is_ascii_digit()) {
                    w.parse().ok()
                } else {
                    None
                }
            })
            .collect::<Option<Vec<u64>>>()?;
        if f.len() != 6 {
            return None;
        }
        Some(SizeRecord {
            data_size: f[0],
            data_offset: f[1],
            rcpt_count: f[2],
            qmgr_flags: f[3],
            content_length: f[4],
            smtputf8: f[5],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_payload_is_fixed_width() {
        let s = SizeRecord {
            data_size: 1,
            data_offset: 999_999_999_999,
            ..SizeRecord::default()
        };
        assert_eq!(s.payload().len(), SIZE_PAYLOAD_LEN);
        assert_eq!(SizeRecord::parse(&s.payload()), Some(s));
        assert_eq!(SizeRecord::parse("1 2 3"), None);
        assert_eq!(SizeRecord::parse("1 2 3 4 5 -6"), None);
    }

    #[test]
    fn notify_masks() {
        assert_eq!(
            DsnNotify::parse_esmtp("success,DELAY").map(|n| n.0),
            Some(10)
        );
        assert_eq!(DsnNotify::parse_esmtp("NEVER,SUCCESS"), None);
        assert_eq!(DsnNotify(6).to_string(), "SUCCESS,FAILURE");
        assert!(!DsnNotify(0).is_valid());
        assert!(!DsnNotify(16).is_valid());
    }
}
