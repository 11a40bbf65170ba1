//! RFC 5322 §3.3 date-time parsing, tolerant of what mailers write:
//! missing day of week or seconds, two- and three-digit years
//! (RFC 5322 §4.3), obsolete zone names, comments, a missing zone
//! (taken as UTC), full month names, and `2024-01-31 10:00:00` style.

/// A Date: header value, in the zone it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateTime {
    pub year: i32,
    /// 1..=12
    pub month: u8,
    /// 1..=31
    pub day: u8,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// The zone's offset east of UTC, in minutes.
    pub offset_minutes: i32,
}

impl DateTime {
    /// Seconds since 1970-01-01T00:00:00Z.
    pub fn unix(&self) -> i64 {
        let days = days_from_civil(self.year as i64, self.month as i64, self.day as i64);
        days * 86400 + self.hour as i64 * 3600 + self.minute as i64 * 60 + self.second as i64
            - self.offset_minutes as i64 * 60
    }

    /// The date alone, as written (no zone conversion): what SENTON,
    /// SENTBEFORE and SENTSINCE compare (RFC 3501 §6.4.4), as days since
    /// 1970-01-01.
    pub fn day_number(&self) -> i64 {
        days_from_civil(self.year as i64, self.month as i64, self.day as i64)
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn zone_name(s: &str) -> Option<i32> {
    Some(match s {
        "ut" | "utc" | "gmt" | "z" | "wet" => 0,
        "edt" => -4 * 60,
        "est" | "cdt" => -5 * 60,
        "cst" | "mdt" => -6 * 60,
        "mst" | "pdt" => -7 * 60,
        "pst" => -8 * 60,
        "cet" | "bst" | "met" => 60,
        "cest" | "eet" | "mest" => 120,
        // RFC 5322 §4.3: military zones "SHOULD be considered equivalent
        // to +0000".
        _ if s.len() == 1 && s.as_bytes()[0].is_ascii_alphabetic() => 0,
        _ => return None,
    })
}

fn num(s: &str) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn numeric_zone(s: &str) -> Option<i32> {
    let (sign, digits) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|&c| c != ':').collect();
    if digits.len() != 4 && digits.len() != 2 {
        return None;
    }
    let n = num(&digits)? as i32;
    let (h, m) = if digits.len() == 4 {
        (n / 100, n % 100)
    } else {
        (n, 0)
    };
    if h > 23 || m > 59 {
        return None;
    }
    Some(sign * (h * 60 + m))
}

/// Parses a Date: header value (raw bytes, folded or not). None when no
/// day, month and year can be found or a field is out of range.
pub fn parse_date(raw: &[u8]) -> Option<DateTime> {
    // Drop comments, then split into words.
    let mut text = String::with_capacity(raw.len());
    let mut depth = 0u32;
    for &b in raw {
        match b {
            b'(' => depth += 1,
            b')' if depth > 0 => depth -= 1,
            _ if depth > 0 => {}
            b',' | b'\r' | b'\n' | b'\t' => text.push(' '),
            _ if b.is_ascii() => text.push((b as char).to_ascii_lowercase()),
            _ => text.push(' '),
        }
    }
    let (mut year, mut month, mut day) = (None::<i32>, None::<u8>, None::<u8>);
    let (mut hms, mut zone) = (None::<(u8, u8, u8)>, None::<i32>);
    let mut words: Vec<String> = Vec::new();
    for w in text.split(' ').filter(|w| !w.is_empty()) {
        // "10:00:00+0100" and "2024-01-31T10:00:00Z" style: split.
        let w = w.replace(
            't',
            if w.contains(':') && w.contains('-') {
                " "
            } else {
                "t"
            },
        );
        for part in w.split(' ') {
            if let Some(p) = part
                .find(['+', '-'])
                .filter(|&p| p > 0 && part.contains(':'))
            {
                let zone_part = &part[p..];
                if !part[..p].contains('-') {
                    words.push(part[..p].to_string());
                    words.push(zone_part.to_string());
                    continue;
                }
            }
            if let Some(rest) = part.strip_suffix('z').filter(|r| r.contains(':')) {
                words.push(rest.to_string());
                words.push("z".to_string());
                continue;
            }
            words.push(part.to_string());
        }
    }
    for w in &words {
        let w = w.trim_end_matches('.');
        if w.is_empty() {
            continue;
        }
        if w.contains(':') && hms.is_none() {
            let mut it = w.split(':');
            let h = num(it.next()?)?;
            let m = num(it.next().unwrap_or("0"))?;
            let s = it
                .next()
                .map_or(Some(0), |s| num(s.split('.').next().unwrap_or("0")))?;
            if h > 23 || m > 59 || s > 60 {
                return None;
            }
            hms = Some((h as u8, m as u8, s.min(59) as u8));
        } else if let Some(z) = numeric_zone(w).filter(|_| hms.is_some() || year.is_some()) {
            zone.get_or_insert(z);
        } else if w.len() == 10 && w.as_bytes()[4] == b'-' && w.as_bytes()[7] == b'-' {
            year = Some(num(&w[..4])? as i32);
            month = Some(num(&w[5..7])? as u8);
            day = Some(num(&w[8..])? as u8);
        } else if w.as_bytes()[0].is_ascii_alphabetic() {
            if let Some(m) = MONTHS.iter().position(|m| w.len() >= 3 && w.starts_with(m)) {
                if month.is_none() {
                    month = Some(m as u8 + 1);
                }
            } else if DAYS.iter().any(|d| w.starts_with(d)) {
            } else if let Some(z) = zone_name(w) {
                if hms.is_some() {
                    zone.get_or_insert(z);
                }
            }
        } else if let Some(n) = num(w) {
            if day.is_none() && w.len() <= 2 && year.is_none() && n >= 1 {
                day = Some(n as u8);
            } else if year.is_none() {
                year = Some(match w.len() {
                    1 | 2 if n < 50 => 2000 + n as i32,
                    1 | 2 => 1900 + n as i32,
                    3 => 1900 + n as i32,
                    _ => n as i32,
                });
            } else if day.is_none() && w.len() <= 2 {
                day = Some(n as u8);
            }
        }
    }
    let (year, month, day) = (year?, month?, day?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || !(1..=9999).contains(&year) {
        return None;
    }
    let (hour, minute, second) = hms.unwrap_or((0, 0, 0));
    Some(DateTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
        offset_minutes: zone.unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Option<i64> {
        parse_date(s.as_bytes()).map(|d| d.unix())
    }

    #[test]
    fn standard_and_junk() {
        assert_eq!(ts("Thu, 01 Jan 1970 00:00:00 +0000"), Some(0));
        assert_eq!(ts("Fri, 21 Nov 1997 09:55:06 -0600"), Some(880127706));
        assert_eq!(ts("21 Nov 97 09:55:06 GMT"), Some(880106106));
        assert_eq!(ts("Fri, 21 Nov 1997 09:55:06 -0600 (MDT)"), Some(880127706));
        assert_eq!(ts("Fri,21 November 1997 09:55 -0600"), Some(880127700));
        assert_eq!(ts("Fri, 21 Nov 1997 09:55:06"), Some(880106106));
        assert_eq!(ts("Fri, 21 Nov 1997 09:55:06 CST"), Some(880127706));
        assert_eq!(ts("Fri, 21 Nov 1997\r\n 09:55:06 +0000"), Some(880106106));
        assert_eq!(
            ts("Sat, 1 Jan 100 00:00:00 +0000"),
            ts("1 Jan 2000 00:00 +0000")
        );
        assert_eq!(ts("Mon, 13 Jan 2025 10:00:00+0100"), Some(1736758800));
        assert_eq!(ts("2025-01-13T10:00:00Z"), Some(1736762400));
        assert_eq!(ts("2025-01-13 10:00:00 +0100"), Some(1736758800));
        assert_eq!(ts("Nov 21 1997 09:55:06 GMT"), Some(880106106));
        assert_eq!(ts("Wed, 29 Feb 2024 23:59:60 +0000"), Some(1709251199));
        assert_eq!(ts(""), None);
        assert_eq!(ts("garbage"), None);
        assert_eq!(ts("32 Jan 2020"), None);
        assert_eq!(ts("1 Jan 2020 25:00"), None);
        let d = parse_date(b"Mon, 13 Jan 2025 23:30:00 -0500").unwrap();
        assert_eq!(d.day_number(), days_from_civil(2025, 1, 13));
        assert_eq!(d.offset_minutes, -300);
    }
}
