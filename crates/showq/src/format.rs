//! Postfix's listing formats: the JSON object per line of `postqueue -j`
//! (`showq_json.c`) and the sendmail-style listing of `postqueue -p`
//! (`showq_compat.c`), byte for byte.

use crate::Message;
use std::fmt::Write as _;

/// Appends `text` as Postfix's `json_quote()` writes a JSON string body:
/// `\b \f \n \r \t` short escapes, other control characters as `\u00XX`
/// (upper-case hex), `"` and `\` escaped, everything else as is.
pub fn json_quote(out: &mut Vec<u8>, text: &str) {
    for c in text.chars() {
        match c {
            '\u{8}' => out.extend_from_slice(b"\\b"),
            '\u{c}' => out.extend_from_slice(b"\\f"),
            '\n' => out.extend_from_slice(b"\\n"),
            '\r' => out.extend_from_slice(b"\\r"),
            '\t' => out.extend_from_slice(b"\\t"),
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if c.is_ascii_control() => {
                let _ = write!(ByteWriter(out), "\\u{:04X}", c as u32);
            }
            c => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
        }
    }
}

struct ByteWriter<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for ByteWriter<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Appends one message as a `postqueue -j` line (with its newline).
pub fn json_line(out: &mut Vec<u8>, m: &Message) {
    out.extend_from_slice(b"{\"queue_name\": \"");
    json_quote(out, &m.queue_name);
    out.extend_from_slice(b"\", \"queue_id\": \"");
    json_quote(out, &m.queue_id);
    let _ = write!(
        ByteWriter(out),
        "\", \"arrival_time\": {}, \"message_size\": {}, \"forced_expire\": {}, \"sender\": \"",
        m.arrival_time,
        m.message_size,
        m.forced_expire
    );
    json_quote(out, &m.sender);
    out.extend_from_slice(b"\", \"recipients\": [");
    for (i, r) in m.recipients().iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b", ");
        }
        out.extend_from_slice(b"{\"address\": \"");
        json_quote(out, &r.address);
        out.push(b'"');
        if !r.reason.is_empty() {
            out.extend_from_slice(b", \"delay_reason\": \"");
            json_quote(out, &r.reason);
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.extend_from_slice(b"]}\n");
}

/// The first 19 characters of `asctime(localtime(t))`: `Sat Nov 21 06:40:57`.
/// The last conversion is cached: a queue listing has many messages from
/// the same second.
#[derive(Default)]
pub struct AscTime {
    last: Option<(i64, [u8; 19])>,
}

impl AscTime {
    pub fn format(&mut self, t: i64) -> [u8; 19] {
        if let Some((lt, s)) = self.last {
            if lt == t {
                return s;
            }
        }
        const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
        const MONTHS: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        // SAFETY: localtime_r writes only into the tm given.
        let tm = unsafe {
            let tt: libc::time_t = t as libc::time_t;
            let mut tm: libc::tm = std::mem::zeroed();
            libc::localtime_r(&tt, &mut tm);
            tm
        };
        let text = format!(
            "{} {}{:3} {:02}:{:02}:{:02}",
            DAYS.get(tm.tm_wday as usize).unwrap_or(&"???"),
            MONTHS.get(tm.tm_mon as usize).unwrap_or(&"???"),
            tm.tm_mday,
            tm.tm_hour,
            tm.tm_min,
            tm.tm_sec
        );
        let mut s = [b' '; 19];
        let n = text.len().min(19);
        s[..n].copy_from_slice(&text.as_bytes()[..n]);
        self.last = Some((t, s));
        s
    }
}

/// The `postqueue -p` listing, built message by message.
pub struct Compat {
    long_ids: bool,
    count: u64,
    total: u64,
    time: AscTime,
}

/// The blank columns before a recipient: `"%-17s %8s %-19s "` (long IDs)
/// or `"%-11s %7s %-20s "` (short).
const LONG_PAD: &str = "                                               ";
const SHORT_PAD: &str = "                                         ";

impl Compat {
    /// `long_ids`: `enable_long_queue_ids`, which sets the column widths.
    pub fn new(long_ids: bool) -> Compat {
        Compat {
            long_ids,
            count: 0,
            total: 0,
            time: AscTime::default(),
        }
    }

    /// Appends one message (with the heading before the first, a blank
    /// line before the others).
    pub fn message(&mut self, out: &mut Vec<u8>, m: &Message) {
        if self.count > 0 {
            out.push(b'\n');
        } else if self.long_ids {
            out.extend_from_slice(
                b"----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------\n",
            );
        } else {
            out.extend_from_slice(
                b"-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------\n",
            );
        }
        self.count += 1;
        self.total = self.total.saturating_add(m.message_size);
        let mark = match m.queue_name.as_str() {
            "active" => "*",
            "hold" => "!",
            _ => "",
        };
        let expired = if m.forced_expire { "#" } else { "" };
        let id = format!("{}{mark}{expired}", m.queue_id);
        let when = self.time.format(m.arrival_time);
        let when = std::str::from_utf8(&when).unwrap_or("??");
        let mut w = ByteWriter(out);
        let _ = if self.long_ids {
            writeln!(
                w,
                "{id:<17} {:>8} {when:19.19} {}",
                m.message_size, m.sender
            )
        } else {
            writeln!(
                w,
                "{id:<11} {:>7} {when:20.20} {}",
                m.message_size, m.sender
            )
        };
        let pad = if self.long_ids { LONG_PAD } else { SHORT_PAD };
        let mut saved = "";
        for r in m.recipients() {
            if r.reason != saved {
                saved = &r.reason;
                let show = if saved.is_empty() {
                    "reason unavailable"
                } else {
                    saved
                };
                let padding = 76usize.saturating_sub(show.len());
                let _ = writeln!(w, "{:padding$}({show})", "");
            }
            let _ = writeln!(w, "{pad}{}", r.address);
        }
    }

    /// Appends the summary: `Mail queue is empty` or `-- N Kbytes in N Requests.`
    pub fn finish(&self, out: &mut Vec<u8>) {
        if self.count == 0 {
            out.extend_from_slice(b"Mail queue is empty\n");
        } else {
            let _ = writeln!(
                ByteWriter(out),
                "\n-- {} Kbytes in {} Request{}.",
                self.total / 1024,
                self.count,
                if self.count == 1 { "" } else { "s" }
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Message {
        let mut m = Message {
            queue_name: "deferred".into(),
            queue_id: "4jWjHp5xLjz1T1Rg".into(),
            arrival_time: 1_795_243_206,
            message_size: 269,
            sender: "sender3@example.org".into(),
            ..Message::default()
        };
        let why = "connect to 127.0.0.1[127.0.0.1]:9: Connection refused";
        m.add_rcpt("other3@example.com", why);
        m.add_rcpt("rcpt3@example.net", why);
        m
    }

    fn utc() {
        std::env::set_var("TZ", "UTC");
        // SAFETY: tzset only reads TZ; every test here wants UTC.
        unsafe { tzset() };
    }

    extern "C" {
        fn tzset();
    }

    #[test]
    fn compat_matches_postfix() {
        utc();
        let mut c = Compat::new(true);
        let mut out = Vec::new();
        let mut m = sample();
        c.message(&mut out, &m);
        m.queue_name = "hold".into();
        m.queue_id = "4jWjHp60ybz1T1Rm".into();
        m.message_size = 252;
        m.sender = "MAILER-DAEMON".into();
        m.clear_recipients();
        m.add_rcpt("b@example.net", "x");
        m.add_rcpt("a@example.test", "");
        c.message(&mut out, &m);
        c.finish(&mut out);
        let want = "\
----Queue ID----- --Size-- ---Arrival Time---- --Sender/Recipient------
4jWjHp5xLjz1T1Rg       269 Sat Nov 21 06:40:06 sender3@example.org
                       (connect to 127.0.0.1[127.0.0.1]:9: Connection refused)
                                               other3@example.com
                                               rcpt3@example.net

4jWjHp60ybz1T1Rm!      252 Sat Nov 21 06:40:06 MAILER-DAEMON
                                                                           (x)
                                               b@example.net
                                                          (reason unavailable)
                                               a@example.test

-- 0 Kbytes in 2 Requests.
";
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn compat_empty_single_and_short_ids() {
        utc();
        let c = Compat::new(true);
        let mut out = Vec::new();
        c.finish(&mut out);
        assert_eq!(out, b"Mail queue is empty\n");
        let mut c = Compat::new(false);
        let mut out = Vec::new();
        let mut m = sample();
        m.queue_name = "active".into();
        m.queue_id = "3F2A1B4C5D".into();
        m.message_size = 2048;
        m.forced_expire = true;
        m.clear_recipients();
        m.add_rcpt("r@example.net", "");
        c.message(&mut out, &m);
        c.finish(&mut out);
        let want = "\
-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------
3F2A1B4C5D*#    2048 Sat Nov 21 06:40:06  sender3@example.org
                                         r@example.net

-- 2 Kbytes in 1 Request.
";
        assert_eq!(String::from_utf8(out).unwrap(), want);
    }

    #[test]
    fn single_digit_day_is_space_padded() {
        utc();
        let mut t = AscTime::default();
        assert_eq!(&t.format(0), b"Thu Jan  1 00:00:00");
    }

    #[test]
    fn json_matches_postfix() {
        let mut out = Vec::new();
        json_line(&mut out, &sample());
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"queue_name\": \"deferred\", \"queue_id\": \"4jWjHp5xLjz1T1Rg\", \"arrival_time\": 1795243206, \"message_size\": 269, \"forced_expire\": false, \"sender\": \"sender3@example.org\", \"recipients\": [{\"address\": \"other3@example.com\", \"delay_reason\": \"connect to 127.0.0.1[127.0.0.1]:9: Connection refused\"}, {\"address\": \"rcpt3@example.net\", \"delay_reason\": \"connect to 127.0.0.1[127.0.0.1]:9: Connection refused\"}]}\n"
        );
        let mut out = Vec::new();
        json_quote(&mut out, "a\"b\\c\td\u{1}e\u{7f}é");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "a\\\"b\\\\c\\td\\u0001e\\u007Fé"
        );
    }
}
