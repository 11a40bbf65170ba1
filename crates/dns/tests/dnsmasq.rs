//! The resolver against a real DNS server: Debian's dnsmasq on a loopback
//! port, answering for `.test` only (skipped when dnsmasq is missing).

use dns::{Family, HostLookup, Options, Resolver, Severity};
use std::net::IpAddr;
use std::process::Child;
use std::time::Duration;

struct Dnsmasq(Child, u16);

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn dnsmasq() -> Option<Dnsmasq> {
    if !std::path::Path::new("/usr/sbin/dnsmasq").exists() {
        eprintln!("skipped: dnsmasq not installed");
        return None;
    }
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let records: Vec<String> = [
        "--mx-host=pref.test,b.pref.test,20",
        "--mx-host=pref.test,a.pref.test,10",
        "--mx-host=pref.test,c.pref.test,20",
        "--host-record=a.pref.test,192.0.2.1",
        "--host-record=b.pref.test,192.0.2.2",
        "--host-record=c.pref.test,192.0.2.3",
        "--host-record=dual.test,192.0.2.9,2001:db8::9",
        "--host-record=six.test,2001:db8::6",
        "--mx-host=nullmx.test,.,0",
        // The best exchanger's name server does not answer; the other's
        // name does not exist.
        "--mx-host=mixed.test,mx.dead.test,10",
        "--mx-host=mixed.test,gone.test,20",
        "--server=/dead.test/127.0.0.1#9",
        // An MX whose host has no address.
        "--mx-host=noaddr.test,nowhere.noaddr.test,10",
    ]
    .map(String::from)
    .to_vec();
    let server = Dnsmasq(testdb::dnsmasq(port, &records).spawn().ok()?, port);
    // Ready once it answers, within 10 s.
    let ready = (0..200).any(|_| {
        testdb::dns_answers(port) || {
            std::thread::sleep(Duration::from_millis(50));
            false
        }
    });
    assert!(ready, "dnsmasq did not answer on port {port}");
    Some(server)
}

fn resolver(port: u16, family: Family) -> Resolver {
    Resolver::new(Options {
        server: Some(format!("127.0.0.1:{port}").parse().expect("address")),
        family,
        host_lookup: vec![HostLookup::Dns],
        timeout: Duration::from_secs(2),
        ..Options::default()
    })
    .expect("resolver")
}

fn ip(s: &str) -> IpAddr {
    s.parse().expect("address")
}

#[test]
fn mx_order_families_and_failures() {
    let Some(d) = dnsmasq() else { return };
    let r = resolver(d.1, Family::All);

    // Preference order; the two 20s in either order over many lookups.
    let mut orders = std::collections::HashSet::new();
    for _ in 0..40 {
        let hosts = r.mx_hosts("pref.test").unwrap();
        let names: Vec<String> = hosts.iter().map(|h| h.name.clone()).collect();
        assert_eq!(names[0], "a.pref.test");
        assert_eq!(hosts[0].preference, 10);
        assert_eq!(hosts[0].addrs, vec![ip("192.0.2.1")]);
        orders.insert(names[1..].join(","));
    }
    assert_eq!(
        orders.len(),
        2,
        "equal preferences are shuffled: {orders:?}"
    );

    // No MX: the host itself, both families, or as inet_protocols says.
    let dual = r.mx_hosts("dual.test").unwrap();
    assert_eq!(dual.len(), 1);
    assert_eq!(dual[0].name, "dual.test");
    assert!(dual[0].addrs.contains(&ip("192.0.2.9")) && dual[0].addrs.contains(&ip("2001:db8::9")));
    let v4 = resolver(d.1, Family::V4);
    assert_eq!(
        v4.mx_hosts("dual.test").unwrap()[0].addrs,
        vec![ip("192.0.2.9")]
    );
    let e = v4.mx_hosts("six.test").unwrap_err();
    assert_eq!((e.severity, e.dsn), (Severity::Permanent, "5.4.4"), "{e}");
    assert_eq!(
        e.text,
        "Host or domain name not found. Name service error for name=six.test type=A: Host found but no data record of requested type"
    );
    let v6 = resolver(d.1, Family::V6);
    assert_eq!(v6.host("six.test").unwrap().addrs, vec![ip("2001:db8::6")]);

    // NXDOMAIN and null MX are permanent.
    let e = r.mx_hosts("nowhere.test").unwrap_err();
    assert_eq!((e.severity, e.dsn), (Severity::Permanent, "5.4.4"));
    assert_eq!(
        e.text,
        "Host or domain name not found. Name service error for name=nowhere.test type=MX: Host not found"
    );
    let e = r.mx_hosts("nullmx.test").unwrap_err();
    assert_eq!((e.severity, e.dsn), (Severity::Permanent, "5.1.0"));
    assert_eq!(e.text, "Domain nullmx.test does not accept mail (nullMX)");

    // One exchanger's lookup failed for now, the other's for good: the
    // mail waits (a bounce would lose it if the first comes back).
    let e = r.mx_hosts("mixed.test").unwrap_err();
    assert_eq!(e.severity, Severity::Temporary, "{e}");
    assert!(e.text.contains("mx.dead.test"), "{e}");
}

/// smtp_defer_if_no_mx_address_found: no MX host with an address is a
/// reason to wait, not to bounce; ignore_mx_lookup_error: an MX look-up
/// with no answer (here a name the server refuses to answer for) falls
/// back to the name's own address.
#[test]
fn no_mx_address_and_mx_lookup_errors_as_configured() {
    let Some(d) = dnsmasq() else { return };
    let with = |defer: bool, ignore: bool| {
        Resolver::new(Options {
            server: Some(format!("127.0.0.1:{}", d.1).parse().expect("address")),
            host_lookup: vec![HostLookup::Native],
            timeout: Duration::from_secs(2),
            attempts: 1,
            defer_if_no_mx_address: defer,
            ignore_mx_lookup_error: ignore,
            ..Options::default()
        })
        .expect("resolver")
    };
    let e = with(false, false).mx_hosts("noaddr.test").unwrap_err();
    assert_eq!(e.severity, Severity::Permanent, "{e}");
    let e = with(true, false).mx_hosts("noaddr.test").unwrap_err();
    assert_eq!((e.severity, e.dsn), (Severity::Temporary, "4.4.4"), "{e}");
    // A name outside .test: the server refuses to answer its MX question;
    // written as an address, it needs no look-up of its own.
    let e = with(false, false).mx_hosts("192.0.2.7").unwrap_err();
    assert_eq!(e.severity, Severity::Temporary, "{e}");
    let hosts = with(false, true).mx_hosts("192.0.2.7").expect("fallback");
    assert_eq!(hosts[0].addrs, vec![ip("192.0.2.7")], "{hosts:?}");
}
