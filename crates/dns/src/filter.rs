//! DNS reply filters (`smtp_dns_reply_filter`, `lmtp_dns_reply_filter`,
//! `smtpd_dns_reply_filter`): each record of an answer is written as
//! Postfix's `dns_strrecord` writes it — `name. ttl IN type [preference]
//! value`, names ending in "." — and looked up in the tables; `IGNORE`
//! drops it. Any other action, or a table that fails, makes the whole
//! look-up fail for now, as in Postfix.

use hickory_resolver::proto::rr::{RData, Record};
use std::fmt;
use std::sync::Arc;

/// What a table answers for one record: its action if it has an entry,
/// `Err` when the table could not be searched.
type Lookup = dyn Fn(&str) -> Result<Option<String>, String> + Send + Sync;

/// The tables of a `*_dns_reply_filter`, searched by the caller's code
/// (the `dns` crate knows no lookup tables).
#[derive(Clone)]
pub struct ReplyFilter {
    /// The parameter's name, for warnings.
    pub title: String,
    lookup: Arc<Lookup>,
}

impl fmt::Debug for ReplyFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReplyFilter")
            .field("title", &self.title)
            .finish_non_exhaustive()
    }
}

/// The filter found an action it does not know, or its table failed.
#[derive(Debug)]
pub(crate) struct FilterFailed;

impl ReplyFilter {
    pub fn new(
        title: impl Into<String>,
        lookup: impl Fn(&str) -> Result<Option<String>, String> + Send + Sync + 'static,
    ) -> ReplyFilter {
        ReplyFilter {
            title: title.into(),
            lookup: Arc::new(lookup),
        }
    }

    /// Keeps the records the tables do not say to ignore.
    pub(crate) fn apply(&self, records: Vec<Record>) -> Result<Vec<Record>, FilterFailed> {
        let mut kept = Vec::with_capacity(records.len());
        for rr in records {
            let text = record_text(&rr);
            match (self.lookup)(&text) {
                Ok(None) => kept.push(rr),
                Ok(Some(action)) => {
                    let verb = action.split([' ', '\t']).next().unwrap_or("");
                    if verb.eq_ignore_ascii_case("IGNORE") {
                        maillog::info!("ignoring DNS RR: {text}");
                    } else {
                        maillog::warning!(
                            "{}: unknown DNS filter action: \"{action}\"",
                            self.title
                        );
                        return Err(FilterFailed);
                    }
                }
                Err(e) => {
                    maillog::warning!("{}: table lookup error: {e}", self.title);
                    return Err(FilterFailed);
                }
            }
        }
        Ok(kept)
    }
}

/// One record as Postfix's `dns_strrecord` writes it.
pub fn record_text(rr: &Record) -> String {
    let mut name = rr.name().to_ascii();
    if !name.ends_with('.') {
        name.push('.');
    }
    let value = match rr.data() {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::MX(mx) => format!("{} {}", mx.preference(), dotted(mx.exchange().to_ascii())),
        RData::NS(ns) => dotted(ns.0.to_ascii()),
        RData::CNAME(c) => dotted(c.0.to_ascii()),
        RData::PTR(p) => dotted(p.0.to_ascii()),
        RData::TXT(t) => t
            .txt_data()
            .iter()
            .map(|s| String::from_utf8_lossy(s))
            .collect::<String>(),
        other => other.to_string(),
    };
    format!("{name} {} IN {} {value}", rr.ttl(), rr.record_type())
}

fn dotted(mut name: String) -> String {
    if !name.ends_with('.') {
        name.push('.');
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_resolver::proto::rr::rdata::{A, AAAA, MX, TXT};
    use hickory_resolver::proto::rr::Name;
    use std::str::FromStr;

    fn rec(name: &str, data: RData) -> Record {
        Record::from_rdata(Name::from_str(name).unwrap(), 300, data)
    }

    #[test]
    fn records_read_as_postfix_writes_them() {
        let mx = rec(
            "example.com.",
            RData::MX(MX::new(10, Name::from_str("mx.example.com.").unwrap())),
        );
        assert_eq!(
            record_text(&mx),
            "example.com. 300 IN MX 10 mx.example.com."
        );
        let null = rec("example.org", RData::MX(MX::new(0, Name::root())));
        assert_eq!(record_text(&null), "example.org. 300 IN MX 0 .");
        let a = rec("mx.example.com.", RData::A(A::new(192, 0, 2, 1)));
        assert_eq!(record_text(&a), "mx.example.com. 300 IN A 192.0.2.1");
        let aaaa = rec(
            "mx.example.com.",
            RData::AAAA(AAAA::from_str("2001:db8::1").unwrap()),
        );
        assert_eq!(
            record_text(&aaaa),
            "mx.example.com. 300 IN AAAA 2001:db8::1"
        );
        let txt = rec(
            "2.0.0.127.zen.example.",
            RData::TXT(TXT::new(vec!["listed ".into(), "here".into()])),
        );
        assert_eq!(
            record_text(&txt),
            "2.0.0.127.zen.example. 300 IN TXT listed here"
        );
    }

    #[test]
    fn ignore_drops_unknown_actions_and_errors_fail() {
        let records = || {
            vec![
                rec("h.example.", RData::A(A::new(192, 0, 2, 1))),
                rec(
                    "h.example.",
                    RData::AAAA(AAAA::from_str("2001:db8::1").unwrap()),
                ),
            ]
        };
        let drop_aaaa = ReplyFilter::new("smtp_dns_reply_filter", |t: &str| {
            Ok(t.contains(" AAAA ").then(|| "ignore".to_string()))
        });
        let kept = drop_aaaa.apply(records()).unwrap();
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].record_type().to_string(), "A");
        let dunno = ReplyFilter::new("f", |_: &str| Ok(Some("DUNNO".to_string())));
        assert!(dunno.apply(records()).is_err());
        let broken = ReplyFilter::new("f", |_: &str| Err("database down".to_string()));
        assert!(broken.apply(records()).is_err());
        let none = ReplyFilter::new("f", |_: &str| Ok(None));
        assert_eq!(none.apply(records()).unwrap().len(), 2);
    }
}
