//! Reading a parameter's text as the kind it is declared with.

use crate::registry::{Kind, Param};
use std::time::Duration;

/// Why a value does not fit its parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueError {
    NotANumber(String),
    BadTimeUnit(String),
    NotABool(String),
    TooSmall { value: i64, min: i64 },
    TooLarge { value: i64, max: i64 },
}

impl std::fmt::Display for ValueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ValueError::NotANumber(v) => write!(f, "bad numerical value \"{v}\""),
            ValueError::BadTimeUnit(v) => {
                write!(
                    f,
                    "bad time value \"{v}\" (a number, then one of the units s, m, h, d, w)"
                )
            }
            ValueError::NotABool(v) => write!(f, "bad boolean value \"{v}\" (use yes or no)"),
            ValueError::TooSmall { value, min } => {
                write!(f, "value {value} is below the minimum {min}")
            }
            ValueError::TooLarge { value, max } => {
                write!(f, "value {value} is above the maximum {max}")
            }
        }
    }
}

impl std::error::Error for ValueError {}

fn parse_number(text: &str) -> Result<i64, ValueError> {
    let t = text.trim();
    if t.is_empty()
        || !t
            .bytes()
            .enumerate()
            .all(|(i, b)| b.is_ascii_digit() || (i == 0 && b == b'-'))
    {
        return Err(ValueError::NotANumber(t.to_string()));
    }
    t.parse::<i64>()
        .map_err(|_| ValueError::NotANumber(t.to_string()))
}

fn seconds_per(unit: char) -> Option<i64> {
    Some(match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        'w' => 7 * 86400,
        _ => return None,
    })
}

/// Parses a Postfix time value ("100s", "5d", "30") into seconds.
pub fn parse_time(text: &str, default_unit: char) -> Result<i64, ValueError> {
    let t = text.trim();
    let bad = || ValueError::BadTimeUnit(t.to_string());
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(bad());
    }
    let unit = match unit.len() {
        0 => default_unit,
        1 => unit.chars().next().ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    let per = seconds_per(unit).ok_or_else(bad)?;
    let n: i64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(per).ok_or_else(bad)
}

/// A positive time value (`10s`, `2m`, plain seconds) as a duration, for
/// per-service settings like `{ inet:…, timeout=10s }`; None when it is not
/// one.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    parse_time(text, 's')
        .ok()
        .filter(|&s| s > 0)
        .map(|s| std::time::Duration::from_secs(s as u64))
}

/// Parses `yes`/`no` (any case), as Postfix does.
pub fn parse_bool(text: &str) -> Result<bool, ValueError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "yes" => Ok(true),
        "no" => Ok(false),
        _ => Err(ValueError::NotABool(text.trim().to_string())),
    }
}

/// Splits a list value on commas and white space, keeping `{ … }` groups
/// (with their braces) as one item.
pub fn split_list(text: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '{' => {
                depth += 1;
                cur.push(c);
            }
            '}' if depth > 0 => {
                depth -= 1;
                cur.push(c);
            }
            ',' | ' ' | '\t' | '\r' | '\n' if depth == 0 => {
                if !cur.is_empty() {
                    items.push(std::mem::take(&mut cur));
                }
            }
            _ => cur.push(c),
        }
    }
    if !cur.is_empty() {
        items.push(cur);
    }
    items
}

/// Checks an (expanded) value against its parameter's kind and bounds.
pub fn check(param: &Param, text: &str) -> Result<(), ValueError> {
    let n = match param.kind {
        Kind::Str | Kind::Raw | Kind::List => return Ok(()),
        Kind::Bool => return parse_bool(text).map(|_| ()),
        Kind::Int | Kind::Size => parse_number(text)?,
        Kind::Time { unit } => parse_time(text, unit)?,
    };
    if n < param.min {
        return Err(ValueError::TooSmall {
            value: n,
            min: param.min,
        });
    }
    if n > param.max {
        return Err(ValueError::TooLarge {
            value: n,
            max: param.max,
        });
    }
    Ok(())
}

/// The number in a checked Int or Size value.
pub fn number(text: &str) -> i64 {
    parse_number(text).unwrap_or(0)
}

/// The duration of a checked Time value.
pub fn duration(text: &str, unit: char) -> Duration {
    Duration::from_secs(parse_time(text, unit).unwrap_or(0).max(0) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("100s", 's'), Ok(100));
        assert_eq!(parse_time("5d", 's'), Ok(432000));
        assert_eq!(parse_time("5", 'd'), Ok(432000));
        assert_eq!(parse_time("1w", 's'), Ok(604800));
        assert!(matches!(
            parse_time("10x", 's'),
            Err(ValueError::BadTimeUnit(_))
        ));
        assert!(matches!(
            parse_time("s", 's'),
            Err(ValueError::BadTimeUnit(_))
        ));
        assert!(matches!(
            parse_time("1hh", 's'),
            Err(ValueError::BadTimeUnit(_))
        ));
    }

    #[test]
    fn numbers_and_bools() {
        assert_eq!(parse_number("10240000"), Ok(10240000));
        assert!(parse_number("10M").is_err());
        assert!(parse_number("").is_err());
        assert_eq!(parse_bool("YES"), Ok(true));
        assert!(parse_bool("true").is_err());
    }

    #[test]
    fn lists() {
        assert_eq!(split_list("a, b,c  d"), vec!["a", "b", "c", "d"]);
        assert_eq!(
            split_list("permit, check_policy_service { inet:x:1, timeout=1s }, reject"),
            vec![
                "permit",
                "check_policy_service",
                "{ inet:x:1, timeout=1s }",
                "reject"
            ]
        );
        assert!(split_list(" , ").is_empty());
    }

    #[test]
    fn bounds() {
        let p = Param::int("x", "1", 1, 10, "");
        assert_eq!(
            check(&p, "0"),
            Err(ValueError::TooSmall { value: 0, min: 1 })
        );
        assert_eq!(
            check(&p, "11"),
            Err(ValueError::TooLarge { value: 11, max: 10 })
        );
        assert_eq!(check(&p, "5"), Ok(()));
    }
}
