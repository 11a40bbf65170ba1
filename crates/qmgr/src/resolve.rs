//! Where a recipient goes: the transport and next hop, as Postfix's
//! trivial-rewrite resolves them for qmgr.
//!
//! 1. `transport_maps` (full address, then the domain, then `.parent`
//!    domains) may name `transport:nexthop` outright.
//! 2. Otherwise the address class decides: `mydestination` and this host's
//!    address literals → `local_transport`; `virtual_alias_domains` → an
//!    error (cleanup should have rewritten the address: "User unknown in
//!    virtual alias table"); `virtual_mailbox_domains` → `virtual_transport`;
//!    `relay_domains` → `relay_transport`; anything else →
//!    `default_transport`.
//! 0. `relocated_maps` first: a user who has moved gets the error
//!    transport, "5.1.6 User has moved to NEW" (the first word of the
//!    table's value), so the mail bounces with that text.
//! 3. `relayhost` replaces the next hop for the relay and default
//!    transports — for mail from a sender that `sender_dependent_relayhost_maps`
//!    lists (the address, then `@domain`; the null sender as
//!    `empty_address_relayhost_maps_lookup_key`), the relay host it names;
//!    a transport value's own `:nexthop` wins over everything.

use maps::domains::{AddrClass, Classes};
use maps::{access, MapError, MapList};
use params::{table as p, Config};
use util::ttl_cache::TtlCache;

/// A resolved destination.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Route {
    pub transport: String,
    pub nexthop: String,
    /// The address to deliver to when it is not the one asked about:
    /// this host's domain stripped and a routing operator followed
    /// (`user%site@ours` → `user@site`).
    pub address: Option<String>,
}

/// The error route of an address no delivery agent may see (a recipient
/// that starts with '-'): Postfix's trivial-rewrite flags it before any
/// content filter is considered.
const BAD_ADDRESS: &str = "5.1.3 bad address syntax";

impl Route {
    /// Whether this is the bad-address route: it stands even when a
    /// content filter takes every other recipient.
    pub fn is_bad_address(&self) -> bool {
        self.transport == "error" && self.nexthop == BAD_ADDRESS
    }
}

/// What a message's sender changes in its recipients' routes (None: the
/// global setting).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SenderRoutes {
    /// `sender_dependent_relayhost_maps`: instead of `relayhost`.
    pub relayhost: Option<String>,
    /// `sender_dependent_default_transport_maps`: instead of `default_transport`.
    pub default_transport: Option<String>,
}

/// How long a resolved address (and a domain's class) is reused: table
/// changes take effect within this, and a burst of mail to the same users
/// and domains costs one set of lookups (SQL through proxymap) instead of
/// five to eight per recipient.
const CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);
/// Entries kept at most; the caches are cleared when they grow past it.
const CACHE_MAX: usize = 20_000;

pub struct Resolver {
    routes: TtlCache<Route>,
    classes: Classes,
    transport_maps: MapList,
    relocated_maps: MapList,
    /// `allow_min_user`: a recipient may start with '-' (a command given
    /// it as an argument, pipe's `${recipient}`, could take it for an
    /// option).
    allow_min_user: bool,
    local_transport: String,
    virtual_transport: String,
    relay_transport: String,
    default_transport: String,
    relayhost: String,
    sender_relayhost_maps: MapList,
    empty_sender_key: String,
    sender_transport_maps: MapList,
    empty_sender_transport_key: String,
    /// recipient_delimiter, for the sender's address keys.
    delimiter: String,
    myhostname: String,
}

/// Splits `transport:nexthop`; either part may be empty.
fn split_transport(value: &str) -> (String, String) {
    match value.split_once(':') {
        Some((t, n)) => (t.trim().to_string(), n.trim().to_string()),
        None => (value.trim().to_string(), String::new()),
    }
}

/// A queue file's content filter (`transport:nexthop`, from the entry
/// point's `content_filter`): see [`ipc::delivery::service_route`].
pub fn filter_route(value: &str) -> Option<(String, String)> {
    ipc::delivery::service_route(value)
}

impl Resolver {
    pub fn new(cfg: &Config) -> Resolver {
        Resolver::with(
            cfg,
            &p::TRANSPORT_MAPS,
            &p::RELAYHOST,
            &p::DEFAULT_TRANSPORT,
        )
    }

    /// The resolver for address verification probes, when
    /// `address_verify_transport_maps`, `address_verify_relayhost` or
    /// `address_verify_default_transport` route them otherwise than mail
    /// (Postfix's defaults: the same); None when they do not.
    pub fn for_probes(cfg: &Config) -> Option<Resolver> {
        let pairs = [
            (&p::ADDRESS_VERIFY_TRANSPORT_MAPS, &p::TRANSPORT_MAPS),
            (&p::ADDRESS_VERIFY_RELAYHOST, &p::RELAYHOST),
            (&p::ADDRESS_VERIFY_DEFAULT_TRANSPORT, &p::DEFAULT_TRANSPORT),
        ];
        pairs
            .iter()
            .any(|(probe, mail)| cfg.str(probe).trim() != cfg.str(mail).trim())
            .then(|| {
                Resolver::with(
                    cfg,
                    &p::ADDRESS_VERIFY_TRANSPORT_MAPS,
                    &p::ADDRESS_VERIFY_RELAYHOST,
                    &p::ADDRESS_VERIFY_DEFAULT_TRANSPORT,
                )
            })
    }

    fn with(
        cfg: &Config,
        transport_maps: &params::Param,
        relayhost: &params::Param,
        default_transport: &params::Param,
    ) -> Resolver {
        let (classes, warnings) = Classes::from_config(cfg);
        for w in warnings {
            maillog::warning!("{w}");
        }
        Resolver {
            routes: TtlCache::new(CACHE_TTL, CACHE_MAX),
            classes,
            transport_maps: MapList::open_lenient(
                transport_maps.name,
                cfg.str(transport_maps),
                &maps::Ctx::new(),
            ),
            relocated_maps: MapList::open_lenient(
                "relocated_maps",
                cfg.str(&p::RELOCATED_MAPS),
                &maps::Ctx::new(),
            ),
            allow_min_user: cfg.bool(&p::ALLOW_MIN_USER),
            local_transport: cfg.str(&p::LOCAL_TRANSPORT).to_string(),
            virtual_transport: cfg.str(&p::VIRTUAL_TRANSPORT).to_string(),
            relay_transport: cfg.str(&p::RELAY_TRANSPORT).to_string(),
            default_transport: cfg.str(default_transport).to_string(),
            relayhost: cfg.str(relayhost).to_string(),
            sender_relayhost_maps: MapList::open_lenient(
                "sender_dependent_relayhost_maps",
                cfg.str(&p::SENDER_DEPENDENT_RELAYHOST_MAPS),
                &maps::Ctx::new(),
            ),
            empty_sender_key: cfg
                .str(&p::EMPTY_ADDRESS_RELAYHOST_MAPS_LOOKUP_KEY)
                .to_string(),
            sender_transport_maps: MapList::open_lenient(
                "sender_dependent_default_transport_maps",
                cfg.str(&p::SENDER_DEPENDENT_DEFAULT_TRANSPORT_MAPS),
                &maps::Ctx::new(),
            ),
            empty_sender_transport_key: cfg
                .str(&p::EMPTY_ADDRESS_DEFAULT_TRANSPORT_MAPS_LOOKUP_KEY)
                .to_string(),
            delimiter: cfg.str(&p::RECIPIENT_DELIMITER).to_string(),
            myhostname: cfg.str(&p::MYHOSTNAME).to_string(),
        }
    }

    fn transport_map(&self, address: &str, domain: &str) -> Result<Option<String>, MapError> {
        if self.transport_maps.is_empty() {
            return Ok(None);
        }
        if let Some(v) = self
            .transport_maps
            .find(&address.to_ascii_lowercase(), false)?
        {
            return Ok(Some(v));
        }
        if domain.is_empty() {
            return Ok(None);
        }
        if let Some(v) = self.transport_maps.find(domain, true)? {
            return Ok(Some(v));
        }
        let mut rest = domain;
        while let Some(i) = rest.find('.') {
            rest = &rest[i + 1..];
            if let Some(v) = self.transport_maps.find(&format!(".{rest}"), true)? {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// What `sender` changes in the routes of its mail:
    /// `sender_dependent_relayhost_maps` and
    /// `sender_dependent_default_transport_maps`. Err: a table failed.
    pub fn for_sender(&self, sender: &str) -> Result<SenderRoutes, MapError> {
        Ok(SenderRoutes {
            relayhost: self.by_sender(
                &self.sender_relayhost_maps,
                &self.empty_sender_key,
                sender,
            )?,
            default_transport: self.by_sender(
                &self.sender_transport_maps,
                &self.empty_sender_transport_key,
                sender,
            )?,
        })
    }

    /// What `maps` say for mail from `sender` (Postfix's mail_addr_find
    /// keys: the address, without its extension, then `@domain`; the null
    /// sender as `empty_key`; DUNNO ends the search), or None.
    fn by_sender(
        &self,
        maps: &MapList,
        empty_key: &str,
        sender: &str,
    ) -> Result<Option<String>, MapError> {
        if maps.is_empty() {
            return Ok(None);
        }
        let keys = if sender.is_empty() {
            vec![access::AddrKey {
                key: empty_key.to_string(),
                partial: false,
                cut: None,
            }]
        } else {
            access::address_keys(&sender.to_ascii_lowercase(), &self.delimiter)
        };
        Ok(access::mail_addr_find(maps, &keys)?
            .map(|(v, _)| v.trim().to_string())
            .filter(|v| !v.eq_ignore_ascii_case("DUNNO")))
    }

    /// Resolves one recipient of mail whose sender changes `by_sender`
    /// (from [`Resolver::for_sender`]). The answer is reused for a few
    /// seconds. Err: a lookup table failed (defer; nothing is cached).
    pub fn resolve(&self, address: &str, by_sender: &SenderRoutes) -> Result<Route, MapError> {
        // The address as it is: a route may carry an address made from
        // it (`User%Site@ours` → `User@Site`), whose case is the sender's.
        let mut key = address.to_string();
        for part in [&by_sender.relayhost, &by_sender.default_transport] {
            key.push('\0');
            if let Some(p) = part {
                key.push_str(p);
            }
        }
        if let Some(r) = self.routes.get(&key) {
            return Ok(r);
        }
        let r = self.resolve_uncached(
            address,
            by_sender.relayhost.as_deref().unwrap_or(&self.relayhost),
            by_sender
                .default_transport
                .as_deref()
                .unwrap_or(&self.default_transport),
        )?;
        self.routes.put(key, r.clone());
        Ok(r)
    }

    fn resolve_uncached(
        &self,
        address: &str,
        relayhost: &str,
        default_transport: &str,
    ) -> Result<Route, MapError> {
        if address.starts_with('-') && !self.allow_min_user {
            // As Postfix's trivial-rewrite flags it (qmgr bounces it).
            return Ok(Route {
                transport: "error".into(),
                nexthop: BAD_ADDRESS.into(),
                address: None,
            });
        }
        let resolved = match address.rsplit_once('@') {
            Some((local, domain)) => self.classes.resolve(local, Some(domain))?,
            None => self.classes.resolve(address, None)?,
        };
        let moved = Some(resolved.address()).filter(|a| a != address);
        if resolved.bad_syntax {
            return Ok(Route {
                transport: "error".into(),
                nexthop: BAD_ADDRESS.into(),
                address: moved,
            });
        }
        let domain = addr::fold_domain(&resolved.domain);
        let class = resolved.class;
        let is_local = class == AddrClass::Local;
        let route = |transport: String, nexthop: String| Route {
            transport,
            nexthop,
            address: moved.clone(),
        };
        if !self.relocated_maps.is_empty() {
            let keys =
                access::mail_addr_keys(&resolved.local, Some(&domain), &self.delimiter, is_local);
            if let Some((to, _)) = access::mail_addr_find(&self.relocated_maps, &keys)? {
                let to = to.split_whitespace().next().unwrap_or("");
                return Ok(route(
                    "error".into(),
                    format!("5.1.6 User has moved to {to}"),
                ));
            }
        }
        let (class_transport, class_nexthop) = if is_local {
            split_transport(&self.local_transport)
        } else if class == AddrClass::VirtualAlias {
            (
                "error".to_string(),
                "5.1.1 User unknown in virtual alias table".to_string(),
            )
        } else if class == AddrClass::VirtualMailbox {
            split_transport(&self.virtual_transport)
        } else {
            let (t, n) = if class == AddrClass::Relay {
                split_transport(&self.relay_transport)
            } else {
                split_transport(default_transport)
            };
            (
                t,
                if n.is_empty() {
                    relayhost.to_string()
                } else {
                    n
                },
            )
        };
        let (mut transport, mut nexthop) = (class_transport, class_nexthop);
        if let Some(v) = self.transport_map(&resolved.address(), &domain)? {
            let (t, n) = split_transport(&v);
            if !t.is_empty() {
                transport = t;
            }
            if !n.is_empty() {
                nexthop = n;
            }
        }
        if nexthop.is_empty() {
            nexthop = if is_local {
                self.myhostname.clone()
            } else {
                domain
            };
        }
        Ok(route(transport, nexthop))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolver(extra: &str) -> Resolver {
        // Tests run side by side: each call gets its own directory (two
        // extras of one length would share one named by the length).
        static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("qmgr_resolve_{}_{call}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("main.cf"),
            format!("myhostname = mail.example.test\nmydestination = $myhostname, example.test, localhost\n{extra}"),
        )
        .unwrap();
        let cfg = Config::load(&dir, &[]).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        Resolver::new(&cfg)
    }

    impl Resolver {
        /// Resolves with the global relayhost.
        fn resolve_any(&self, address: &str) -> Result<Route, MapError> {
            self.resolve(address, &SenderRoutes::default())
        }

        fn relayhost_for(&self, sender: &str) -> Result<Option<String>, MapError> {
            self.for_sender(sender).map(|r| r.relayhost)
        }
    }

    #[test]
    fn a_recipient_that_starts_with_a_dash_bounces_unless_allowed() {
        let bad = Route {
            transport: "error".into(),
            nexthop: "5.1.3 bad address syntax".into(),
            address: None,
        };
        let r = resolver("relayhost = [smart.example]\n");
        assert_eq!(r.resolve_any("-oQ/tmp/x@example.org").unwrap(), bad);
        assert_ne!(r.resolve_any("o-k@example.org").unwrap(), bad);
        let r = resolver("allow_min_user = yes\n");
        assert_ne!(r.resolve_any("-oQ/tmp/x@example.org").unwrap(), bad);
    }

    #[test]
    fn content_filters() {
        assert_eq!(
            filter_route("smtp-amavis:[127.0.0.1]:10024"),
            Some(("smtp-amavis".into(), "[127.0.0.1]:10024".into()))
        );
        assert_eq!(filter_route("scan:"), Some(("scan".into(), String::new())));
        for bad in ["", ":x", "../x:y", ".hidden:x", "a/b:c", "sp ace:x"] {
            assert_eq!(filter_route(bad), None, "{bad}");
        }
    }

    #[test]
    fn sender_dependent_relay_hosts() {
        let r = resolver("relayhost = [smart.example]\nsender_dependent_relayhost_maps = inline:{ a@one.example=[one.relay]:587, @two.example=[two.relay], c@two.example=DUNNO, <>=[bounces.relay] }\n");
        assert_eq!(
            r.relayhost_for("A@One.Example").unwrap().as_deref(),
            Some("[one.relay]:587")
        );
        assert_eq!(
            r.relayhost_for("b@two.example").unwrap().as_deref(),
            Some("[two.relay]")
        );
        assert_eq!(
            r.relayhost_for("c@two.example").unwrap(),
            None,
            "DUNNO: the global relayhost"
        );
        assert_eq!(r.relayhost_for("z@three.example").unwrap(), None);
        assert_eq!(
            r.relayhost_for("").unwrap().as_deref(),
            Some("[bounces.relay]")
        );
        let one = r.for_sender("a@one.example").unwrap();
        assert_eq!(
            r.resolve("u@far.example", &one).unwrap().nexthop,
            "[one.relay]:587"
        );
        assert_eq!(
            r.resolve_any("u@far.example").unwrap().nexthop,
            "[smart.example]",
            "not from the cache"
        );
    }

    #[test]
    fn sender_dependent_default_transports() {
        let r = resolver("relay_domains = relay.example
sender_dependent_default_transport_maps = inline:{ @one.example=smtp-one, b@one.example=DUNNO, a@two.example=smtp-two:[gw.example]:2525, <>=smtp-bounces }
");
        let route = |sender: &str, rcpt: &str| {
            let by = r.for_sender(sender).unwrap();
            let route = r.resolve(rcpt, &by).unwrap();
            (route.transport, route.nexthop)
        };
        assert_eq!(
            route("x@one.example", "u@far.example"),
            ("smtp-one".into(), "far.example".into())
        );
        assert_eq!(
            route("b@one.example", "u@far.example"),
            ("smtp".into(), "far.example".into()),
            "DUNNO: the global default_transport"
        );
        assert_eq!(
            route("a@two.example", "u@far.example"),
            ("smtp-two".into(), "[gw.example]:2525".into())
        );
        assert_eq!(route("", "u@far.example").0, "smtp-bounces");
        // Only the default class: local, relay and transport_maps stand.
        assert_eq!(route("x@one.example", "u@example.test").0, "local");
        assert_eq!(route("x@one.example", "u@relay.example").0, "relay");
    }

    /// A routing operator behind this host's domain takes the mail on,
    /// with the address it names; transport_maps see that address.
    #[test]
    fn routing_operators_change_the_route_and_the_address() {
        let r = resolver(
            "relayhost = [smart.example]\ntransport_maps = inline:{{bob@far.example=relay:[far.relay]}}\n",
        );
        assert_eq!(
            r.resolve_any("bob%far.example@example.test").unwrap(),
            Route {
                transport: "relay".into(),
                nexthop: "[far.relay]".into(),
                address: Some("bob@far.example".into()),
            }
        );
        assert_eq!(
            r.resolve_any("far.example!carol@localhost").unwrap(),
            Route {
                transport: "smtp".into(),
                nexthop: "[smart.example]".into(),
                address: Some("carol@far.example".into()),
            }
        );
        assert_eq!(r.resolve_any("bob@example.test").unwrap().address, None);
        let bad = r.resolve_any("bob%@example.test").unwrap();
        assert!(bad.is_bad_address());
        assert_eq!(bad.address.as_deref(), Some("bob@"));
    }

    #[test]
    fn address_classes() {
        let r = resolver("relay_domains = relay.example\nvirtual_mailbox_domains = virt.example\n");
        assert_eq!(
            r.resolve_any("u@Example.TEST").unwrap(),
            Route {
                transport: "local".into(),
                nexthop: "mail.example.test".into(),
                address: None,
            }
        );
        assert_eq!(r.resolve_any("u@[127.0.0.1]").unwrap().transport, "local");
        assert_eq!(
            r.resolve_any("u@virt.example").unwrap().transport,
            "virtual"
        );
        assert_eq!(
            r.resolve_any("u@relay.example").unwrap(),
            Route {
                transport: "relay".into(),
                nexthop: "relay.example".into(),
                address: None,
            }
        );
        assert_eq!(
            r.resolve_any("u@sub.relay.example").unwrap().transport,
            "relay",
            "relay_domains matches subdomains"
        );
        assert_eq!(
            r.resolve_any("u@far.example").unwrap(),
            Route {
                transport: "smtp".into(),
                nexthop: "far.example".into(),
                address: None,
            }
        );
    }

    #[test]
    fn relayhost_and_transport_maps() {
        let r = resolver("relayhost = [smart.example]:587\ntransport_maps = inline:{ special.example=smtp:[10.0.0.1]:2525, .deep.example=relay:, { bad.example = error:5.7.1 go away } }\n");
        assert_eq!(
            r.resolve_any("u@far.example").unwrap(),
            Route {
                transport: "smtp".into(),
                nexthop: "[smart.example]:587".into(),
                address: None,
            }
        );
        assert_eq!(
            r.resolve_any("u@special.example").unwrap(),
            Route {
                transport: "smtp".into(),
                nexthop: "[10.0.0.1]:2525".into(),
                address: None,
            }
        );
        assert_eq!(
            r.resolve_any("u@x.deep.example").unwrap().transport,
            "relay"
        );
        assert_eq!(
            r.resolve_any("u@bad.example").unwrap(),
            Route {
                transport: "error".into(),
                nexthop: "5.7.1 go away".into(),
                address: None,
            }
        );
    }
}
