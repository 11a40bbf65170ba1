//! The HAProxy PROXY protocol (versions 1 and 2) that a load balancer in
//! front of smtpd sends before anything else, naming the real client
//! (`smtpd_upstream_proxy_protocol = haproxy`). [`parse`] is sans-I/O;
//! [`read`] takes exactly the header off a client socket, waiting at most
//! `smtpd_upstream_proxy_timeout`, and leaves what follows for SMTP.
//! [`v1_header`] writes a version 1 header: postscreen sends one with each
//! connection it hands to smtpd, naming the client it screened.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

/// Version 2's first twelve bytes.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Version 1's longest header, CRLF included.
const V1_MAX: usize = 107;
/// The most address and TLV bytes a version 2 header may carry here.
const V2_MAX_BODY: usize = 4096;

/// What the proxy said about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Proxied {
    /// The real client; None for a proxy's own connection (version 2
    /// LOCAL, version 1 UNKNOWN, an address family other than TCP): the
    /// socket's own addresses then stand.
    pub source: Option<SocketAddr>,
    /// The address the client connected to.
    pub dest: Option<SocketAddr>,
}

/// Parses the header at the start of `buf`: Ok(None) when more bytes are
/// needed, else the header and its length.
pub fn parse(buf: &[u8]) -> Result<Option<(Proxied, usize)>, String> {
    let n = buf.len().min(V2_SIGNATURE.len());
    if buf[..n] == V2_SIGNATURE[..n] {
        return if n < V2_SIGNATURE.len() {
            Ok(None)
        } else {
            parse_v2(buf)
        };
    }
    let n = buf.len().min(6);
    if buf[..n] != b"PROXY "[..n] {
        return Err("no PROXY protocol header".into());
    }
    parse_v1(buf)
}

fn parse_v1(buf: &[u8]) -> Result<Option<(Proxied, usize)>, String> {
    let Some(end) = buf.windows(2).position(|w| w == b"\r\n") else {
        return if buf.len() >= V1_MAX {
            Err("PROXY header line too long".into())
        } else {
            Ok(None)
        };
    };
    if end + 2 > V1_MAX {
        return Err("PROXY header line too long".into());
    }
    let line = std::str::from_utf8(&buf[..end]).map_err(|_| "PROXY header is not text")?;
    let bad = || format!("bad PROXY header: {line}");
    let fields: Vec<&str> = line.split(' ').collect();
    let proxied = match fields.get(1).copied() {
        Some("UNKNOWN") => Proxied {
            source: None,
            dest: None,
        },
        Some(family @ ("TCP4" | "TCP6")) => {
            let [_, _, src, dst, sport, dport] = fields[..] else {
                return Err(bad());
            };
            let ip = |s: &str| -> Result<IpAddr, String> {
                let ip: IpAddr = s.parse().map_err(|_| bad())?;
                if ip.is_ipv4() != (family == "TCP4") {
                    return Err(bad());
                }
                Ok(ip)
            };
            // Decimal digits without a leading zero (u16's parser would
            // also take a sign).
            let port = |s: &str| -> Result<u16, String> {
                if !s.bytes().all(|b| b.is_ascii_digit()) || (s.len() > 1 && s.starts_with('0')) {
                    return Err(bad());
                }
                s.parse().map_err(|_| bad())
            };
            Proxied {
                source: Some(SocketAddr::new(ip(src)?, port(sport)?)),
                dest: Some(SocketAddr::new(ip(dst)?, port(dport)?)),
            }
        }
        _ => return Err(bad()),
    };
    Ok(Some((proxied, end + 2)))
}

fn parse_v2(buf: &[u8]) -> Result<Option<(Proxied, usize)>, String> {
    if buf.len() < 16 {
        return Ok(None);
    }
    let (version, command, family) = (buf[12] >> 4, buf[12] & 0x0f, buf[13]);
    if version != 2 {
        return Err(format!("unsupported PROXY protocol version {version}"));
    }
    let body_len = usize::from(u16::from_be_bytes([buf[14], buf[15]]));
    if body_len > V2_MAX_BODY {
        return Err(format!("PROXY header too long: {body_len} bytes"));
    }
    let total = 16 + body_len;
    if buf.len() < total {
        return Ok(None);
    }
    let body = &buf[16..total];
    let unspecified = Proxied {
        source: None,
        dest: None,
    };
    let proxied = match (command, family) {
        // LOCAL: the proxy's own connection (a health check).
        (0, _) => unspecified,
        (1, 0x11) if body.len() >= 12 => {
            let ip = |at: usize| {
                IpAddr::V4(Ipv4Addr::new(
                    body[at],
                    body[at + 1],
                    body[at + 2],
                    body[at + 3],
                ))
            };
            let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
            Proxied {
                source: Some(SocketAddr::new(ip(0), port(8))),
                dest: Some(SocketAddr::new(ip(4), port(10))),
            }
        }
        (1, 0x21) if body.len() >= 36 => {
            let ip = |at: usize| {
                let mut o = [0u8; 16];
                o.copy_from_slice(&body[at..at + 16]);
                IpAddr::V6(Ipv6Addr::from(o))
            };
            let port = |at: usize| u16::from_be_bytes([body[at], body[at + 1]]);
            Proxied {
                source: Some(SocketAddr::new(ip(0), port(32))),
                dest: Some(SocketAddr::new(ip(16), port(34))),
            }
        }
        (1, 0x11 | 0x21) => return Err("PROXY header too short for its addresses".into()),
        // UNSPEC, UDP or UNIX: not a TCP client to name.
        (1, _) => unspecified,
        (c, _) => return Err(format!("unsupported PROXY command {c}")),
    };
    Ok(Some((proxied, total)))
}

/// A version 1 header naming `source` and `dest`. IPv4-mapped addresses
/// are written as IPv4; addresses of mixed families (an IPv4 client
/// reaching an IPv6 address) are both written as IPv6.
pub fn v1_header(source: SocketAddr, dest: SocketAddr) -> String {
    let (s, d) = (source.ip().to_canonical(), dest.ip().to_canonical());
    let (family, s, d) = match (s, d) {
        (IpAddr::V4(s), IpAddr::V4(d)) => ("TCP4", s.to_string(), d.to_string()),
        _ => {
            let six = |ip: IpAddr| match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            ("TCP6", six(s).to_string(), six(d).to_string())
        }
    };
    format!(
        "PROXY {family} {s} {d} {} {}\r\n",
        source.port(),
        dest.port()
    )
}

/// Reads the header off `stream` (peeking, then consuming exactly its
/// bytes), waiting at most `timeout` in all.
pub fn read(stream: &std::net::TcpStream, timeout: Duration) -> Result<Proxied, String> {
    use std::io::Read;
    let deadline = Instant::now() + timeout;
    let mut buf = vec![0u8; 16 + V2_MAX_BODY];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timeout".into());
        }
        stream
            .set_read_timeout(Some(left))
            .map_err(|e| e.to_string())?;
        let n = match stream.peek(&mut buf) {
            Ok(0) => return Err("lost connection".into()),
            Ok(n) => n,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return Err("timeout".into())
            }
            Err(e) => return Err(e.to_string()),
        };
        if let Some((proxied, len)) = parse(&buf[..n])? {
            // The bytes peeked, now taken off the stream.
            (&*stream)
                .read_exact(&mut buf[..len])
                .map_err(|e| e.to_string())?;
            return Ok(proxied);
        }
        if n == buf.len() {
            return Err("PROXY header too long".into());
        }
        // Part of the header: wait for the rest without spinning.
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_split(input: &[u8]) -> Result<(Proxied, usize), String> {
        for cut in 0..input.len() {
            assert_eq!(parse(&input[..cut]), Ok(None), "cut at {cut}");
        }
        parse(input).map(|r| r.expect("complete"))
    }

    #[test]
    fn version_1() {
        let line = b"PROXY TCP4 192.0.2.7 198.51.100.1 56324 25\r\nEHLO x\r\n";
        let (p, n) = parse(line).unwrap().unwrap();
        assert_eq!(n, 44);
        assert_eq!(p.source, Some("192.0.2.7:56324".parse().unwrap()));
        assert_eq!(p.dest, Some("198.51.100.1:25".parse().unwrap()));
        let (p, _) = every_split(b"PROXY TCP6 2001:db8::7 2001:db8::1 4000 587\r\n").unwrap();
        assert_eq!(p.source, Some("[2001:db8::7]:4000".parse().unwrap()));
        let (p, _) = every_split(b"PROXY UNKNOWN\r\n").unwrap();
        assert_eq!(p.source, None);
        for bad in [
            &b"EHLO x\r\n"[..],
            b"PROXY TCP4 192.0.2.7 198.51.100.1 56324\r\n",
            b"PROXY TCP4 2001:db8::7 198.51.100.1 1 25\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 65536 25\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 01 25\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 +1 25\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1 1 +25\r\n",
            b"PROXY TCP4 192.0.2.7 198.51.100.1  1 25\r\n",
            b"PROXY UDP4 192.0.2.7 198.51.100.1 1 25\r\n",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let long = format!("PROXY TCP4 {}\r\n", "1".repeat(120));
        assert!(parse(long.as_bytes()).is_err());
        assert!(
            parse("PROXY ".repeat(30).as_bytes()).is_err(),
            "no line end within 107 bytes"
        );
    }

    #[test]
    fn written_headers_read_back() {
        for (source, dest) in [
            ("192.0.2.7:56324", "198.51.100.1:25"),
            ("[2001:db8::7]:4000", "[2001:db8::1]:587"),
            ("[::ffff:192.0.2.7]:1", "192.0.2.1:25"),
            ("192.0.2.7:1", "[2001:db8::1]:25"),
        ] {
            let (source, dest): (SocketAddr, SocketAddr) =
                (source.parse().unwrap(), dest.parse().unwrap());
            let line = v1_header(source, dest);
            let (p, n) = every_split(line.as_bytes()).unwrap();
            assert_eq!(n, line.len());
            let same = |a: Option<SocketAddr>, b: SocketAddr| {
                let a = a.unwrap();
                a.ip().to_canonical() == b.ip().to_canonical() && a.port() == b.port()
            };
            assert!(same(p.source, source) && same(p.dest, dest), "{line}");
        }
        assert!(v1_header(
            "192.0.2.7:1".parse().unwrap(),
            "[::ffff:192.0.2.1]:25".parse().unwrap()
        )
        .starts_with("PROXY TCP4 192.0.2.7 192.0.2.1 "));
    }

    #[test]
    fn version_2() {
        let mut h = V2_SIGNATURE.to_vec();
        h.extend_from_slice(&[0x21, 0x11, 0, 12 + 5]);
        h.extend_from_slice(&[192, 0, 2, 7, 198, 51, 100, 1, 0xdc, 0x04, 0, 25]);
        h.extend_from_slice(&[0x04, 0, 2, b'h', b'2']); // a TLV, skipped
        let (p, n) = every_split(&h).unwrap();
        assert_eq!(n, h.len());
        assert_eq!(p.source, Some("192.0.2.7:56324".parse().unwrap()));
        assert_eq!(p.dest, Some("198.51.100.1:25".parse().unwrap()));
        let mut local = V2_SIGNATURE.to_vec();
        local.extend_from_slice(&[0x20, 0x00, 0, 0]);
        assert_eq!(every_split(&local).unwrap().0.source, None);
        let mut short = V2_SIGNATURE.to_vec();
        short.extend_from_slice(&[0x21, 0x11, 0, 4, 1, 2, 3, 4]);
        assert!(parse(&short).is_err());
        let mut v3 = V2_SIGNATURE.to_vec();
        v3.extend_from_slice(&[0x31, 0x11, 0, 0]);
        assert!(parse(&v3).is_err());
        let mut huge = V2_SIGNATURE.to_vec();
        huge.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert!(parse(&huge).is_err());
    }
}
