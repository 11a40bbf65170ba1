//! The smtpd service under the server skeleton: configuration, tables and
//! TLS keys are read once before the privilege drop; each client then gets
//! a [`Session`].

use crate::limits::Limits;
use crate::restrictions::{Policy, SystemResolver};
use crate::session::{Session, Shared};
use crate::settings::{Settings, TlsLevel};
use server::{Client, Context, HookError, Service, SingleService};

/// What is built once per process.
struct Ready {
    settings: Settings,
    policy: Policy,
    tls: Option<tls::ServerTls>,
    resolver: SystemResolver,
    limits: Limits,
}

impl Ready {
    /// What the sessions of this process share.
    fn shared<'a>(&'a self, ctx: &Context) -> Shared<'a> {
        Shared {
            settings: &self.settings,
            policy: &self.policy,
            tls: self.tls.as_ref(),
            dns: &self.resolver,
            limits: &self.limits,
            queue_dir: ctx.queue_dir(),
        }
    }
}

#[derive(Default)]
pub struct Smtpd {
    ready: Option<Ready>,
}

impl Service for Smtpd {
    fn requires_unprivileged(&self) -> bool {
        true
    }

    fn pre_jail(&mut self, ctx: &Context) -> Result<(), HookError> {
        let mut settings = Settings::from_config(&ctx.config);
        settings.proxy_filter = Settings::proxy_filter(&ctx.config)?;
        let (policy, warnings) = Policy::from_config(&ctx.config)?;
        for w in warnings {
            maillog::warning!("{w}");
        }
        let tls = match (&settings.tls_credentials, settings.tls_level) {
            (_, TlsLevel::None) if !settings.wrappermode => None,
            (creds, _) if creds.is_empty() => {
                maillog::warning!(
                    "smtpd_tls_security_level or smtpd_tls_wrappermode is set but smtpd_tls_chain_files or smtpd_tls_cert_file/smtpd_tls_key_file are not: no TLS"
                );
                None
            }
            (creds, level) => {
                // The mandatory protocols and ciphers where TLS is required.
                use params::table as pt;
                let mandatory = level == TlsLevel::Encrypt || settings.wrappermode;
                let (param, grade, exclude) = if mandatory {
                    (
                        &pt::SMTPD_TLS_MANDATORY_PROTOCOLS,
                        &pt::SMTPD_TLS_MANDATORY_CIPHERS,
                        &[
                            &pt::SMTPD_TLS_EXCLUDE_CIPHERS,
                            &pt::SMTPD_TLS_MANDATORY_EXCLUDE_CIPHERS,
                        ][..],
                    )
                } else {
                    (
                        &pt::SMTPD_TLS_PROTOCOLS,
                        &pt::SMTPD_TLS_CIPHERS,
                        &[&pt::SMTPD_TLS_EXCLUDE_CIPHERS][..],
                    )
                };
                let client_certs = client_certs(&settings)?;
                let loaded = tls::Protocols::parse(&ctx.config.list(param))
                    .map_err(|e| format!("{}: {e}", param.name))
                    .and_then(|p| {
                        let eecdh = ctx.config.str(&pt::SMTPD_TLS_EECDH_GRADE);
                        let ciphers = tls::Ciphers::from_config(&ctx.config, grade, exclude)?
                            .with_eecdh_grade(&ctx.config, eecdh)
                            .map_err(|e| format!("smtpd_tls_eecdh_grade: {e}"))?;
                        creds
                            .load()
                            .and_then(|chains| {
                                tls::ServerTls::from_chains_asking(
                                    chains,
                                    p,
                                    &ciphers,
                                    client_certs,
                                )
                            })
                            .map(|t| with_sni_maps(t, &ctx.config))
                            .map(|t| t.with_tickets(tickets(&ctx.config)))
                            .map(|t| {
                                let preempt = &params::table::TLS_PREEMPT_CIPHERLIST;
                                t.preferring_server_ciphers(ctx.config.bool(preempt))
                            })
                            .map_err(|e| e.to_string())
                    });
                match loaded {
                    Ok(t) => Some(t),
                    Err(e) => {
                        maillog::warning!("cannot set up TLS: {e}; STARTTLS is not offered");
                        None
                    }
                }
            }
        };
        // DNS lists: the resolver reads /etc/resolv.conf now, before any
        // chroot.
        let resolver = SystemResolver::new(&ctx.config);
        if policy.uses_dns_lists() {
            resolver.prepare();
        }
        let (limits, bad) =
            Limits::from_config(&ctx.config, &ctx.options.service, &ctx.queue_dir());
        for w in bad {
            maillog::warning!("{w}");
        }
        self.ready = Some(Ready {
            settings,
            policy,
            tls,
            resolver,
            limits,
        });
        Ok(())
    }
}

/// Session resumption across smtpd processes (Postfix's tlsmgr): tickets
/// sealed with keys in `data_directory`, good for
/// smtpd_tls_session_cache_timeout; none when that is 0 or
/// tls_session_ticket_cipher is empty.
fn tickets(cfg: &params::Config) -> Option<tls::tickets::SharedTickets> {
    let lifetime = cfg.time(&params::table::SMTPD_TLS_SESSION_CACHE_TIMEOUT);
    if lifetime.is_zero()
        || cfg
            .str(&params::table::TLS_SESSION_TICKET_CIPHER)
            .trim()
            .is_empty()
    {
        return None;
    }
    let lifetime = u32::try_from(lifetime.as_secs()).unwrap_or(u32::MAX);
    Some(tls::tickets::SharedTickets::new(
        &cfg.path(&params::table::DATA_DIRECTORY),
        "smtpd_tls_ticket",
        lifetime,
    ))
}

/// `tls_server_sni_maps`: the keys and chains for the names clients ask
/// for (SNI), read now, before the privilege drop (see [`maps::files`]). A
/// table or entry that cannot be used is logged and left out.
fn with_sni_maps(server: tls::ServerTls, config: &params::Config) -> tls::ServerTls {
    let specs = maps::split_list(config.get(&params::table::TLS_SERVER_SNI_MAPS));
    if specs.is_empty() {
        return server;
    }
    let ctx = maps::Ctx::new();
    let mut by_name = Vec::new();
    for spec in specs {
        let entries = match maps::files::entries(&spec, &ctx) {
            Ok(e) => e,
            Err(e) => {
                maillog::warning!("tls_server_sni_maps: {spec}: {e}");
                continue;
            }
        };
        for (name, pem) in entries {
            match tls::chains_from_pem(&pem, &format!("{spec}: {name}")) {
                Ok(chains) => by_name.push((name, chains)),
                Err(e) => maillog::warning!("tls_server_sni_maps: {e}"),
            }
        }
    }
    let (server, problems) = server.with_sni(by_name);
    for p in problems {
        maillog::warning!("tls_server_sni_maps: {p}");
    }
    server
}

/// How client certificates are judged when smtpd_tls_ask_ccert asks for
/// them: smtpd_tls_CAfile's CAs (read now, before the privilege drop) and
/// smtpd_tls_fingerprint_digest. An unreadable CA file or an unknown
/// digest stops the service.
fn client_certs(s: &Settings) -> Result<Option<tls::ClientCerts>, String> {
    if !s.tls_ask_cert {
        return Ok(None);
    }
    let digest = tls::Digest::parse(&s.tls_fingerprint_digest)
        .map_err(|e| format!("smtpd_tls_fingerprint_digest: {e}"))?;
    let cas = if s.tls_ca_file.is_empty() {
        Vec::new()
    } else {
        tls::read_certs(std::path::Path::new(&s.tls_ca_file))
            .map_err(|e| format!("smtpd_tls_CAfile: {e}"))?
    };
    let more = if s.tls_ca_path.is_empty() {
        Vec::new()
    } else {
        tls::read_cert_dir(std::path::Path::new(&s.tls_ca_path))
            .map_err(|e| format!("smtpd_tls_CApath: {e}"))?
    };
    let (certs, skipped) =
        tls::ClientCerts::new(cas, more, digest).map_err(|e| format!("smtpd_tls_CAfile: {e}"))?;
    if skipped > 0 {
        maillog::warning!(
            "smtpd_tls_CApath {}: {skipped} certificates that are no CA's passed over",
            s.tls_ca_path
        );
    }
    Ok(Some(certs))
}

impl SingleService for Smtpd {
    fn serve(&mut self, ctx: &Context, client: Client) {
        let Some(r) = &self.ready else {
            return;
        };
        let proxied = match (r.settings.upstream_proxy, &client) {
            (Some(timeout), Client::Tcp(t)) => match haproxy::read(t, timeout) {
                Ok(p) => Some(p),
                Err(e) => {
                    maillog::warning!("haproxy read: {e} from {}", client.peer());
                    return;
                }
            },
            _ => None,
        };
        Session::new(r.shared(ctx), client, proxied).run();
    }

    /// A client postscreen screened: the endpoints it names stand (it read
    /// any PROXY header itself), and smtpd reads none.
    fn serve_passed(&mut self, ctx: &Context, client: Client, endpoints: haproxy::Proxied) {
        if let Some(r) = &self.ready {
            if r.settings.upstream_proxy.is_some() {
                static ONCE: std::sync::Once = std::sync::Once::new();
                ONCE.call_once(|| {
                    maillog::warning!(
                        "ignoring non-empty smtpd_upstream_proxy_protocol setting behind postscreen"
                    )
                });
            }
            Session::new(r.shared(ctx), client, Some(endpoints)).run();
        }
    }
}
