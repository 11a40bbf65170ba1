//! Delivery status filters (Postfix's `*_delivery_status_filter`): tables
//! that give a delivery agent's result a new status and text. The key is
//! the status and the text (`5.1.1 host mx.example[192.0.2.1] said: 550
//! …`); the result is a status and an optional text. A success stays a
//! success (2.X.X) and a failure a failure (4.X.X or 5.X.X, which may
//! turn into each other: a bounce deferred, or the reverse); a result that
//! would cross, or that has no text, is refused with a warning, as in
//! Postfix.

use crate::MapList;

/// One agent's filter.
#[derive(Debug)]
pub struct StatusFilter {
    list: MapList,
}

impl StatusFilter {
    /// The filter the parameter's tables make; None when it names none.
    pub fn open(title: &str, value: &str, ctx: &crate::Ctx) -> Option<StatusFilter> {
        let list = MapList::open_lenient(title, value, ctx);
        (!list.is_empty()).then_some(StatusFilter { list })
    }

    /// The new status and text for `dsn` and `text`, when a table has
    /// them.
    pub fn replace(&self, dsn: &str, text: &str) -> Option<(String, String)> {
        let key = format!("{dsn} {text}");
        let result = match self.list.lookup(&key) {
            Ok(r) => r?,
            Err(e) => {
                maillog::warning!("{}: {e}", self.list.title());
                return None;
            }
        };
        let (new_dsn, new_text) = match result.split_once(char::is_whitespace) {
            Some((d, t)) => (d, t.trim_start()),
            None => (result.as_str(), ""),
        };
        let success = |s: &str| valid_status(s) && s.starts_with('2');
        let failure = |s: &str| valid_status(s) && (s.starts_with('4') || s.starts_with('5'));
        let same_kind = if success(dsn) {
            success(new_dsn)
        } else {
            failure(dsn) && failure(new_dsn)
        };
        if !same_kind {
            maillog::warning!("{}: bad status code: {result}", self.list.title());
            return None;
        }
        if new_text.is_empty() {
            maillog::warning!("{}: no text after the status: {result}", self.list.title());
            return None;
        }
        Some((new_dsn.to_string(), new_text.to_string()))
    }
}

/// An RFC 3463 status: class.subject.detail, 1–3 digits after the first.
fn valid_status(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    parts.len() == 3
        && matches!(parts[0], "2" | "4" | "5")
        && parts[1..]
            .iter()
            .all(|p| (1..=3).contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(table: &str) -> StatusFilter {
        StatusFilter::open("smtp_delivery_status_filter", table, &crate::Ctx::new()).expect("open")
    }

    #[test]
    fn failures_may_change_class_and_successes_text() {
        let f = filter(
            "inline:{ {5.1.1 no such user=4.1.1 try again later} {2.0.0 Ok=2.0.0 delivered, thanks} {5.7.1 spam=2.0.0 fine} {4.4.1 busy=4.4.1} }",
        );
        assert_eq!(
            f.replace("5.1.1", "no such user"),
            Some(("4.1.1".into(), "try again later".into()))
        );
        assert_eq!(
            f.replace("2.0.0", "Ok"),
            Some(("2.0.0".into(), "delivered, thanks".into()))
        );
        // A failure may not become a success.
        assert_eq!(f.replace("5.7.1", "spam"), None);
        assert_eq!(
            f.replace("4.4.1", "busy"),
            None,
            "a status without text is refused"
        );
        assert_eq!(f.replace("5.0.0", "other"), None);
        assert!(StatusFilter::open("x", "", &crate::Ctx::new()).is_none());
    }

    #[test]
    fn statuses_are_checked() {
        assert!(valid_status("5.1.10"));
        assert!(!valid_status("6.1.1"));
        assert!(!valid_status("5.1"));
        assert!(!valid_status("5.1.1234"));
    }
}
