//! Which TLS 1.2 cipher suites to offer, from OpenSSL cipher strings as
//! Postfix and Dovecot users write them, and the OpenSSL names of the
//! suites for the log; and which curves ephemeral ECDH may use (Postfix's
//! `smtpd_tls_eecdh_grade` and `tls_eecdh_*` curves, Dovecot's
//! `ssl_curve_list`), by OpenSSL's names.
//!
//! Postfix picks a grade (`smtpd_tls_ciphers`, `smtpd_tls_mandatory_ciphers`,
//! the `smtp_` and `lmtp_` ones: high, medium, low, export or null), whose
//! `tls_<grade>_cipherlist` is an OpenSSL cipher string, and appends
//! `:!item` for each item of the exclude lists (`*_tls_exclude_ciphers`
//! always, `*_tls_mandatory_exclude_ciphers` too where TLS is mandatory).
//! Dovecot's `ssl_cipher_list` is such a string itself. As in OpenSSL, the
//! string chooses among the TLS 1.2 suites only; TLS 1.3's are not affected.
//!
//! The string is evaluated here as OpenSSL evaluates it, over the suites
//! rustls has (six, all of OpenSSL's HIGH grade), keeping OpenSSL's one
//! ordered list of suites each marked in use or not: items separated by
//! `:`, `,`, `;` or blanks; a cipher name or alias, or aliases joined with
//! `+` (all must match); `DEFAULT` as the first item; a leading `!` takes
//! the suites out for good, `-` takes them out of use and to the head of the
//! list (so that adding them again puts them back in the order they had),
//! `+` moves those in use to the end, none puts those not in use at the end,
//! in use; `@STRENGTH` (an item of its own or after a name) sorts what is in
//! use by key length; other `@` commands are ignored. A name OpenSSL knows
//! that names no suite here (RC4, MEDIUM, aNULL…) matches nothing, as a
//! name that OpenSSL does not know matches nothing there.

use rustls::crypto::{CryptoProvider, SupportedKxGroup};
use rustls::{CipherSuite, NamedGroup, SupportedCipherSuite};
use std::sync::Arc;

/// A TLS 1.2 suite rustls has: its OpenSSL name, key length and the OpenSSL
/// aliases that match it (checked against `openssl ciphers -v ALIAS`).
struct Suite {
    id: CipherSuite,
    name: &'static str,
    bits: u16,
    aliases: &'static [&'static str],
}

/// Aliases every suite here matches.
const ALL_SUITES: &[&str] = &[
    "ALL", "HIGH", "TLSv1.2", "kECDHE", "ECDHE", "EECDH", "kEECDH", "ECDH",
];

/// OpenSSL's own order (by strength, then ECDSA before RSA): the order in
/// which suites that one item adds join the list.
const SUITES: [Suite; 6] = [
    Suite {
        id: CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        name: "ECDHE-ECDSA-AES256-GCM-SHA384",
        bits: 256,
        aliases: &["aECDSA", "ECDSA", "AES", "AES256", "AESGCM", "FIPS"],
    },
    Suite {
        id: CipherSuite::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        name: "ECDHE-RSA-AES256-GCM-SHA384",
        bits: 256,
        aliases: &["aRSA", "AES", "AES256", "AESGCM", "FIPS"],
    },
    Suite {
        id: CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
        name: "ECDHE-ECDSA-CHACHA20-POLY1305",
        bits: 256,
        aliases: &["aECDSA", "ECDSA", "CHACHA20"],
    },
    Suite {
        id: CipherSuite::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
        name: "ECDHE-RSA-CHACHA20-POLY1305",
        bits: 256,
        aliases: &["aRSA", "CHACHA20"],
    },
    Suite {
        id: CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        name: "ECDHE-ECDSA-AES128-GCM-SHA256",
        bits: 128,
        aliases: &["aECDSA", "ECDSA", "AES", "AES128", "AESGCM", "FIPS"],
    },
    Suite {
        id: CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        name: "ECDHE-RSA-AES128-GCM-SHA256",
        bits: 128,
        aliases: &["aRSA", "AES", "AES128", "AESGCM", "FIPS"],
    },
];

/// The OpenSSL name of TLS 1.3 suites, as OpenSSL (and so Postfix) logs them.
const TLS13_NAMES: [(CipherSuite, &str, u16); 3] = [
    (
        CipherSuite::TLS13_AES_256_GCM_SHA384,
        "TLS_AES_256_GCM_SHA384",
        256,
    ),
    (
        CipherSuite::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_128_GCM_SHA256",
        128,
    ),
    (
        CipherSuite::TLS13_CHACHA20_POLY1305_SHA256,
        "TLS_CHACHA20_POLY1305_SHA256",
        256,
    ),
];

/// A suite's name as OpenSSL gives it, and its key length in bits.
pub fn openssl_name(id: CipherSuite) -> (String, u16) {
    if let Some(s) = SUITES.iter().find(|s| s.id == id) {
        return (s.name.to_string(), s.bits);
    }
    if let Some((_, name, bits)) = TLS13_NAMES.iter().find(|(i, _, _)| *i == id) {
        return (name.to_string(), *bits);
    }
    let name = format!("{id:?}");
    let bits = if name.contains("256") || name.contains("CHACHA20") {
        256
    } else {
        128
    };
    (name, bits)
}

/// The TLS 1.2 suites to offer, in order of preference, and the curves
/// for ephemeral ECDH (TLS 1.2 and 1.3), in order of preference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ciphers {
    tls12: Vec<CipherSuite>,
    groups: Vec<NamedGroup>,
}

/// The curves rustls has, by the names OpenSSL (and so Postfix and
/// Dovecot) accepts for them.
const GROUPS: [(&str, NamedGroup); 6] = [
    ("X25519", NamedGroup::X25519),
    ("prime256v1", NamedGroup::secp256r1),
    ("secp256r1", NamedGroup::secp256r1),
    ("P-256", NamedGroup::secp256r1),
    ("secp384r1", NamedGroup::secp384r1),
    ("P-384", NamedGroup::secp384r1),
];

impl Default for Ciphers {
    /// Every TLS 1.2 suite, strongest first; every curve, rustls's order.
    fn default() -> Ciphers {
        Ciphers {
            tls12: SUITES.iter().map(|s| s.id).collect(),
            groups: all_groups().iter().map(|g| g.name()).collect(),
        }
    }
}

fn all_groups() -> &'static [&'static dyn SupportedKxGroup] {
    rustls::crypto::ring::ALL_KX_GROUPS
}

/// The `tls_<grade>_cipherlist` strings.
#[derive(Debug, Clone, Default)]
pub struct GradeLists {
    pub high: String,
    pub medium: String,
    pub low: String,
    pub export: String,
    pub null: String,
}

impl GradeLists {
    /// main.cf's `tls_<grade>_cipherlist` strings.
    pub fn from_config(cfg: &params::Config) -> GradeLists {
        use params::table as p;
        GradeLists {
            high: cfg.str(&p::TLS_HIGH_CIPHERLIST).to_string(),
            medium: cfg.str(&p::TLS_MEDIUM_CIPHERLIST).to_string(),
            low: cfg.str(&p::TLS_LOW_CIPHERLIST).to_string(),
            export: cfg.str(&p::TLS_EXPORT_CIPHERLIST).to_string(),
            null: cfg.str(&p::TLS_NULL_CIPHERLIST).to_string(),
        }
    }
}

fn matches(suite: &Suite, item: &str) -> bool {
    item.split('+').all(|part| {
        !part.is_empty()
            && (part == suite.name || ALL_SUITES.contains(&part) || suite.aliases.contains(&part))
    })
}

impl Ciphers {
    /// Evaluates an OpenSSL cipher string (see the module docs). The list
    /// may come out empty: no TLS 1.2 suite is left.
    pub fn from_openssl(text: &str) -> Ciphers {
        // OpenSSL's list: every suite not taken out for good, in order,
        // each in use or not.
        let mut list: Vec<usize> = (0..SUITES.len()).collect();
        let mut in_use = [false; SUITES.len()];
        let items = text
            .split([':', ',', ';', ' ', '\t'])
            .filter(|i| !i.is_empty());
        for (n, item) in items.enumerate() {
            let mut parts = item.split('@');
            let rule = parts.next().unwrap_or_default();
            let (op, name) = match rule.as_bytes().first() {
                Some(b'!' | b'-' | b'+') => (rule.as_bytes()[0], &rule[1..]),
                _ => (b' ', rule),
            };
            let matching = |i: &usize| (name == "DEFAULT" && n == 0) || matches(&SUITES[*i], name);
            match op {
                b'!' => list.retain(|i| !matching(i)),
                b'-' => {
                    let (out, rest): (Vec<usize>, Vec<usize>) =
                        list.iter().partition(|i| in_use[**i] && matching(i));
                    for &i in &out {
                        in_use[i] = false;
                    }
                    list = out.into_iter().chain(rest).collect();
                }
                b'+' => {
                    let (moved, rest): (Vec<usize>, Vec<usize>) =
                        list.iter().partition(|i| in_use[**i] && matching(i));
                    list = rest.into_iter().chain(moved).collect();
                }
                _ if !name.is_empty() => {
                    let (added, rest): (Vec<usize>, Vec<usize>) =
                        list.iter().partition(|i| !in_use[**i] && matching(i));
                    for &i in &added {
                        in_use[i] = true;
                    }
                    list = rest.into_iter().chain(added).collect();
                }
                _ => {}
            }
            for command in parts {
                if command == "STRENGTH" {
                    // Stable: the strongest first, among those in use.
                    let (mut used, unused): (Vec<usize>, Vec<usize>) =
                        list.iter().partition(|i| in_use[**i]);
                    used.sort_by_key(|&i| std::cmp::Reverse(SUITES[i].bits));
                    list = unused.into_iter().chain(used).collect();
                }
            }
        }
        Ciphers {
            tls12: list
                .into_iter()
                .filter(|&i| in_use[i])
                .map(|i| SUITES[i].id)
                .collect(),
            ..Ciphers::default()
        }
    }

    /// The same suites, with ephemeral ECDH on the curves `names` lists
    /// (OpenSSL's names, separated by blanks, commas or colons), in that
    /// order; curves this build does not have (X448, secp521r1…) are
    /// passed over. None left is an error.
    pub fn with_curves(self, names: &str) -> Result<Ciphers, String> {
        let mut groups = Vec::new();
        for name in names.split([' ', '\t', ',', ':']).filter(|n| !n.is_empty()) {
            let found = GROUPS.iter().find(|(n, _)| n.eq_ignore_ascii_case(name));
            if let Some((_, g)) = found {
                if !groups.contains(g) {
                    groups.push(*g);
                }
            }
        }
        if groups.is_empty() {
            return Err(format!("no supported curve in \"{}\"", names.trim()));
        }
        Ok(Ciphers { groups, ..self })
    }

    /// Postfix's curves for a server: those `grade` (smtpd_tls_eecdh_grade)
    /// names. `auto`: tls_eecdh_auto_curves; `strong` and `ultra`: the one
    /// curve of tls_eecdh_strong_curve or tls_eecdh_ultra_curve. Every suite
    /// here uses ECDHE, so `none` leaves no way to agree on a key: an error.
    pub fn with_eecdh_grade(self, cfg: &params::Config, grade: &str) -> Result<Ciphers, String> {
        use params::table as p;
        let curves = match grade.trim().to_ascii_lowercase().as_str() {
            "auto" => cfg.str(&p::TLS_EECDH_AUTO_CURVES),
            "strong" => cfg.str(&p::TLS_EECDH_STRONG_CURVE),
            "ultra" => cfg.str(&p::TLS_EECDH_ULTRA_CURVE),
            "none" => {
                return Err("EECDH grade \"none\": every cipher suite here needs EECDH".into())
            }
            _ => return Err(format!("invalid EECDH grade \"{}\"", grade.trim())),
        };
        self.with_curves(curves)
    }

    /// Postfix's choice: the `grade`'s cipher list with each of `exclude`
    /// taken out (as `:!item`). An unknown grade is an error.
    pub fn postfix(grade: &str, lists: &GradeLists, exclude: &[String]) -> Result<Ciphers, String> {
        let list = match grade.trim().to_ascii_lowercase().as_str() {
            "high" => &lists.high,
            "medium" => &lists.medium,
            "low" => &lists.low,
            "export" => &lists.export,
            "null" => &lists.null,
            _ => return Err(format!("invalid cipher grade \"{}\"", grade.trim())),
        };
        let mut text = list.clone();
        for item in exclude.iter().flat_map(|e| e.split([':', ',', ' ', '\t'])) {
            if item.starts_with(['!', '+', '-', '@']) {
                return Err(format!(
                    "invalid unary '!+-@' in cipher exclusion list item \"{item}\""
                ));
            }
            if !item.is_empty() {
                text.push_str(":!");
                text.push_str(item);
            }
        }
        Ok(Ciphers::from_openssl(&text))
    }

    /// Postfix's choice from main.cf: the grade that `grade` (e.g.
    /// `smtpd_tls_mandatory_ciphers`) names, less the items of the
    /// `exclude` lists. The error names the grade parameter.
    pub fn from_config(
        cfg: &params::Config,
        grade: &params::Param,
        exclude: &[&params::Param],
    ) -> Result<Ciphers, String> {
        let items: Vec<String> = exclude.iter().flat_map(|x| cfg.list(x)).collect();
        Ciphers::postfix(cfg.str(grade), &GradeLists::from_config(cfg), &items)
            .map_err(|e| format!("{}: {e}", grade.name))
    }

    /// No TLS 1.2 suite is left.
    pub fn is_empty(&self) -> bool {
        self.tls12.is_empty()
    }

    /// The OpenSSL names of the suites, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.tls12
            .iter()
            .filter_map(|id| SUITES.iter().find(|s| s.id == *id).map(|s| s.name))
            .collect()
    }

    /// The ring provider with TLS 1.3's suites and these TLS 1.2 ones.
    pub(crate) fn provider(&self) -> Arc<CryptoProvider> {
        let mut provider = rustls::crypto::ring::default_provider();
        let all: Vec<SupportedCipherSuite> = provider.cipher_suites.clone();
        let mut suites: Vec<SupportedCipherSuite> = all
            .iter()
            .filter(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
            .cloned()
            .collect();
        for id in &self.tls12 {
            suites.extend(all.iter().find(|s| s.suite() == *id).cloned());
        }
        provider.cipher_suites = suites;
        provider.kx_groups = self
            .groups
            .iter()
            .filter_map(|name| all_groups().iter().find(|g| g.name() == *name).copied())
            .collect();
        Arc::new(provider)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(text: &str) -> Vec<&'static str> {
        Ciphers::from_openssl(text).names()
    }

    fn lists() -> GradeLists {
        GradeLists {
            high: "aNULL:-aNULL:HIGH:@STRENGTH".into(),
            medium: "aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH".into(),
            low: "aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH".into(),
            export: "aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH".into(),
            null: "eNULL:!aNULL".into(),
        }
    }

    /// Each expectation is what `openssl ciphers` (3.0) lists for the same
    /// string, restricted to the six suites rustls has.
    #[test]
    fn strings_evaluate_as_in_openssl() {
        let all = vec![
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            "ECDHE-RSA-AES256-GCM-SHA384",
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            "ECDHE-RSA-CHACHA20-POLY1305",
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            "ECDHE-RSA-AES128-GCM-SHA256",
        ];
        assert_eq!(names("aNULL:-aNULL:HIGH:@STRENGTH"), all);
        assert_eq!(names("HIGH:!AES128"), all[..4].to_vec());
        assert_eq!(
            names("ECDHE+AESGCM:ECDHE+CHACHA20"),
            vec![all[0], all[1], all[4], all[5], all[2], all[3]]
        );
        assert_eq!(
            names("ECDHE-RSA-AES128-GCM-SHA256:HIGH:-aECDSA"),
            vec![all[5], all[1], all[3]]
        );
        assert_eq!(
            names("AES128:AES256:@STRENGTH"),
            vec![all[0], all[1], all[4], all[5]]
        );
        assert_eq!(
            names("HIGH:+AES256"),
            vec![all[2], all[3], all[4], all[5], all[0], all[1]]
        );
        assert_eq!(
            names("HIGH:!CHACHA20:CHACHA20"),
            vec![all[0], all[1], all[4], all[5]]
        );
        assert_eq!(
            names("HIGH:-CHACHA20:CHACHA20"),
            vec![all[0], all[1], all[4], all[5], all[2], all[3]]
        );
        // Names that choose nothing here, and names nobody knows.
        // Taken out of use, a suite goes to the head of the list: added
        // again, the suites come back in the order they had.
        assert_eq!(
            names("ALL:-aRSA:-aECDSA:AES"),
            vec![all[0], all[4], all[1], all[5]]
        );
        assert_eq!(
            names("ALL:-AES128:+AES256:AES128"),
            vec![all[2], all[3], all[0], all[1], all[4], all[5]]
        );
        // @STRENGTH after a name, DEFAULT only first, ECDH.
        assert_eq!(
            names("AES128:AES256@STRENGTH"),
            vec![all[0], all[1], all[4], all[5]]
        );
        assert_eq!(names("AES128:DEFAULT"), vec![all[4], all[5]]);
        assert_eq!(names("DEFAULT:!AES128"), all[..4].to_vec());
        assert_eq!(names("ECDH+AESGCM"), vec![all[0], all[1], all[4], all[5]]);
        assert!(names("ALL:!ECDH").is_empty());
        assert!(names("eNULL:!aNULL").is_empty());
        assert!(names("MEDIUM:RC4:NOSUCH").is_empty());
        // Dovecot's default; "@STRENGTH" glued to an item is skipped, as in OpenSSL.
        assert_eq!(
            names("ALL:!kRSA:!SRP:!kDHd:!DSS:!aNULL:!eNULL:!EXPORT:!DES:!3DES:!MD5:!PSK:!RC4:!ADH:!LOW@STRENGTH"),
            all
        );
        assert_eq!(
            names("aRSA , AES256;ECDSA+CHACHA20"),
            vec![all[1], all[3], all[5], all[0], all[2]]
        );
    }

    #[test]
    fn postfix_grades_and_exclusions() {
        let l = lists();
        assert_eq!(Ciphers::postfix("medium", &l, &[]), Ok(Ciphers::default()));
        assert_eq!(Ciphers::postfix("high", &l, &[]), Ok(Ciphers::default()));
        let c = Ciphers::postfix(
            "medium",
            &l,
            &["aNULL, MD5".into(), "AES128 CHACHA20".into()],
        )
        .expect("grade");
        assert_eq!(
            c.names(),
            vec![
                "ECDHE-ECDSA-AES256-GCM-SHA384",
                "ECDHE-RSA-AES256-GCM-SHA384"
            ]
        );
        assert!(Ciphers::postfix("null", &l, &[]).expect("grade").is_empty());
        assert_eq!(Ciphers::postfix(" HIGH ", &l, &[]), Ok(Ciphers::default()));
        assert_eq!(
            Ciphers::postfix("medium", &l, &["!RC4".into()]),
            Err("invalid unary '!+-@' in cipher exclusion list item \"!RC4\"".into())
        );
        assert_eq!(
            Ciphers::postfix("strong", &l, &[]),
            Err("invalid cipher grade \"strong\"".into())
        );
    }

    #[test]
    fn curves_by_openssl_names() {
        let c = Ciphers::default()
            .with_curves("X448 secp384r1, prime256v1:secp521r1 P-384")
            .expect("curves");
        let p = c.provider();
        let got: Vec<NamedGroup> = p.kx_groups.iter().map(|g| g.name()).collect();
        assert_eq!(got, vec![NamedGroup::secp384r1, NamedGroup::secp256r1]);
        assert_eq!(
            Ciphers::default().with_curves("X448 secp521r1"),
            Err("no supported curve in \"X448 secp521r1\"".into())
        );
        assert_eq!(Ciphers::default().provider().kx_groups.len(), 3);
    }

    #[test]
    fn the_provider_keeps_tls13_and_the_chosen_order() {
        let c = Ciphers::from_openssl("CHACHA20:AES128");
        let p = c.provider();
        let got: Vec<String> = p
            .cipher_suites
            .iter()
            .map(|s| openssl_name(s.suite()).0)
            .collect();
        assert_eq!(
            got,
            vec![
                "TLS_AES_256_GCM_SHA384",
                "TLS_AES_128_GCM_SHA256",
                "TLS_CHACHA20_POLY1305_SHA256",
                "ECDHE-ECDSA-CHACHA20-POLY1305",
                "ECDHE-RSA-CHACHA20-POLY1305",
                "ECDHE-ECDSA-AES128-GCM-SHA256",
                "ECDHE-RSA-AES128-GCM-SHA256",
            ]
        );
    }
}
