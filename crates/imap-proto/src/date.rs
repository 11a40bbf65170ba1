//! IMAP dates: `d-MMM-yyyy` (SEARCH) and `"dd-MMM-yyyy hh:mm:ss +zzzz"`
//! (APPEND, INTERNALDATE), with conversion to and from Unix time.

use std::fmt;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A calendar date (SEARCH BEFORE/ON/SINCE…), valid by construction
/// through [`Date::new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    pub year: u16,
    /// 1–12.
    pub month: u8,
    /// 1–31, valid for the month.
    pub day: u8,
}

fn leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: u8) -> u8 {
    match m {
        2 if leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (H. Hinnant's days_from_civil).
fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(m) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u8;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u8;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

impl Date {
    /// A date, or `None` when the day does not exist (or the year is 0).
    pub fn new(year: u16, month: u8, day: u8) -> Option<Date> {
        if year == 0 || !(1..=12).contains(&month) {
            return None;
        }
        if day == 0 || day > days_in_month(i64::from(year), month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// Seconds since the epoch at 00:00:00 UTC of this date.
    pub fn to_unix(self) -> i64 {
        days_from_civil(i64::from(self.year), self.month, self.day) * 86_400
    }

    /// `d-MMM-yyyy` as in SEARCH (1 or 2 digit day, month case-insensitive).
    pub fn parse(s: &[u8]) -> Option<Date> {
        let mut parts = s.split(|&b| b == b'-');
        let (d, m, y) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || d.is_empty() || d.len() > 2 || y.len() != 4 {
            return None;
        }
        Date::new(digits(y)? as u16, month(m)?, digits(d)? as u8)
    }
}

impl fmt::Display for Date {
    /// `d-MMM-yyyy`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = MONTHS[usize::from(self.month.clamp(1, 12) - 1)];
        write!(f, "{}-{}-{:04}", self.day, m, self.year)
    }
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 9 || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0, |n, &b| n * 10 + u32::from(b - b'0')))
}

fn month(s: &[u8]) -> Option<u8> {
    MONTHS
        .iter()
        .position(|m| m.as_bytes().eq_ignore_ascii_case(s))
        .map(|i| i as u8 + 1)
}

/// A date and time with its zone (APPEND, INTERNALDATE).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DateTime {
    pub date: Date,
    pub hour: u8,
    pub minute: u8,
    pub second: u8,
    /// Offset from UTC in minutes (`+0200` is 120).
    pub zone_minutes: i16,
}

impl DateTime {
    /// `dd-MMM-yyyy hh:mm:ss +zzzz` (the day may be ` d`, `d` or `dd`);
    /// the surrounding quotes are not part of `s`.
    pub fn parse(s: &[u8]) -> Option<DateTime> {
        let s = s.strip_prefix(b" ").unwrap_or(s);
        let mut it = s.split(|&b| b == b' ');
        let (d, t, z) = (it.next()?, it.next()?, it.next()?);
        if it.next().is_some() || t.len() != 8 || z.len() != 5 {
            return None;
        }
        let date = Date::parse(d)?;
        if t[2] != b':' || t[5] != b':' {
            return None;
        }
        let (h, mi, se) = (digits(&t[0..2])?, digits(&t[3..5])?, digits(&t[6..8])?);
        if h > 23 || mi > 59 || se > 60 {
            return None;
        }
        let sign: i16 = match z[0] {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        let (zh, zm) = (digits(&z[1..3])?, digits(&z[3..5])?);
        if zm > 59 {
            return None;
        }
        Some(DateTime {
            date,
            hour: h as u8,
            minute: mi as u8,
            second: se as u8,
            zone_minutes: sign * (zh * 60 + zm) as i16,
        })
    }

    /// Seconds since the epoch.
    pub fn to_unix(self) -> i64 {
        self.date.to_unix()
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
            - i64::from(self.zone_minutes) * 60
    }

    /// The local time in zone `zone_minutes` of Unix time `t`; `None`
    /// outside years 1–9999.
    pub fn from_unix(t: i64, zone_minutes: i16) -> Option<DateTime> {
        let local = t.checked_add(i64::from(zone_minutes) * 60)?;
        let (days, secs) = (local.div_euclid(86_400), local.rem_euclid(86_400));
        let (y, m, d) = civil_from_days(days);
        if !(1..=9999).contains(&y) {
            return None;
        }
        Some(DateTime {
            date: Date::new(y as u16, m, d)?,
            hour: (secs / 3600) as u8,
            minute: (secs % 3600 / 60) as u8,
            second: (secs % 60) as u8,
            zone_minutes,
        })
    }
}

impl fmt::Display for DateTime {
    /// `dd-MMM-yyyy hh:mm:ss +zzzz` without quotes (INTERNALDATE's
    /// `date-day-fixed` is space-padded).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = MONTHS[usize::from(self.date.month.clamp(1, 12) - 1)];
        let z = self.zone_minutes;
        let sign = if z < 0 { '-' } else { '+' };
        let za = z.unsigned_abs();
        write!(
            f,
            "{:>2}-{}-{:04} {:02}:{:02}:{:02} {}{:02}{:02}",
            self.date.day,
            m,
            self.date.year,
            self.hour,
            self.minute,
            self.second,
            sign,
            za / 60,
            za % 60
        )
    }
}
