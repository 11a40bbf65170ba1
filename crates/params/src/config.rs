//! The configuration a program runs with: the registry's defaults, then
//! main.cf, then `-o name=value` overrides from master.cf or the command
//! line, every value expanded and checked against its declaration once, at
//! load, so that a bad value stops the program with a line that names the
//! file, the line and the parameter.

use crate::error::ConfigError;
use crate::expand::{self, ExpandError};
use crate::main_cf::MainCf;
use crate::registry::{Computed, Kind, Param};
use crate::value;
use crate::{lookup, table};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Environment variable naming the configuration directory, as in Postfix.
pub const MAIL_CONFIG_ENV: &str = "MAIL_CONFIG";

/// The built-in configuration directory.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/mailsuite";

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    MainCf { line: usize },
    Override,
}

#[derive(Debug, Clone)]
struct Setting {
    text: String,
    origin: Origin,
}

/// A loaded, checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub config_dir: PathBuf,
    pub main_cf: MainCf,
    settings: HashMap<String, Setting>,
    expanded: HashMap<String, String>,
    /// Warnings to show where a person reads them (postconf, mailsuite check).
    pub warnings: Vec<String>,
}

/// The configuration directory: `-c DIR` if given, else `$MAIL_CONFIG`, else the default.
pub fn config_dir(flag: Option<&str>) -> PathBuf {
    flag.map(PathBuf::from)
        .or_else(|| {
            std::env::var_os(MAIL_CONFIG_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_DIR))
}

/// The default text of `p`, with host-dependent defaults worked out.
pub fn default_text(p: &Param, myhostname: Option<&str>, mynetworks_style: Option<&str>) -> String {
    match p.computed {
        None => p.default.to_string(),
        Some(Computed::MyHostname) => util::host::default_myhostname(),
        Some(Computed::MyDomain) => util::host::domain_of(
            &myhostname
                .map(str::to_string)
                .unwrap_or_else(util::host::default_myhostname),
        ),
        Some(Computed::MyNetworks) => crate::netif::mynetworks(mynetworks_style.unwrap_or("host")),
        Some(Computed::MailVersion) => env!("CARGO_PKG_VERSION").to_string(),
    }
}

impl Config {
    /// Loads `config_dir/main.cf` and applies `overrides` on top.
    pub fn load(config_dir: &Path, overrides: &[(String, String)]) -> Result<Config, ConfigError> {
        let main_cf = MainCf::read(&config_dir.join("main.cf"))?;
        Config::from_parts(config_dir, main_cf, overrides)
    }

    /// The built-in defaults only, as `postconf -d` shows them.
    pub fn defaults() -> Config {
        let dir = PathBuf::from(DEFAULT_CONFIG_DIR);
        let main_cf = MainCf::empty(&dir.join("main.cf"));
        // Defaults are checked by the registry's own tests; they cannot fail here.
        Config::from_parts(&dir, main_cf, &[]).unwrap_or_else(|_| Config {
            config_dir: dir,
            main_cf: MainCf::default(),
            settings: HashMap::new(),
            expanded: HashMap::new(),
            warnings: Vec::new(),
        })
    }

    /// A configuration from main.cf text alone (no file is read; the
    /// configuration directory is the default one), for tests.
    pub fn from_text(text: &str) -> Result<Config, ConfigError> {
        let dir = PathBuf::from(DEFAULT_CONFIG_DIR);
        let main_cf = MainCf::parse(&dir.join("main.cf"), text)?;
        Config::from_parts(&dir, main_cf, &[])
    }

    /// Builds a configuration from an already parsed main.cf.
    pub fn from_parts(
        config_dir: &Path,
        main_cf: MainCf,
        overrides: &[(String, String)],
    ) -> Result<Config, ConfigError> {
        let mut settings: HashMap<String, Setting> = HashMap::new();
        for d in main_cf.definitions() {
            settings.insert(
                d.name.clone(),
                Setting {
                    text: d.value.clone(),
                    origin: Origin::MainCf { line: d.line },
                },
            );
        }
        for (n, v) in overrides {
            settings.insert(
                n.clone(),
                Setting {
                    text: v.clone(),
                    origin: Origin::Override,
                },
            );
        }
        let mut cfg = Config {
            config_dir: config_dir.to_path_buf(),
            warnings: main_cf.warnings.clone(),
            main_cf,
            settings,
            expanded: HashMap::new(),
        };
        // config_directory always names the directory actually read.
        if !cfg.settings.contains_key("config_directory")
            && config_dir != Path::new(DEFAULT_CONFIG_DIR)
        {
            cfg.settings.insert(
                "config_directory".into(),
                Setting {
                    text: config_dir.display().to_string(),
                    origin: Origin::Default,
                },
            );
        }
        // Postfix's words: each later definition overrides the one before.
        let defs = cfg.main_cf.definitions();
        let mut last: HashMap<&str, usize> = HashMap::new();
        for (i, d) in defs.iter().enumerate() {
            if let Some(earlier) = last.insert(&d.name, i).map(|j| &defs[j]) {
                cfg.warnings.push(format!(
                    "{}, line {}: overriding earlier entry: {}={}",
                    cfg.main_cf.path.display(),
                    d.line,
                    earlier.name,
                    earlier.value
                ));
            }
        }
        cfg.check_all()?;
        Ok(cfg)
    }

    fn error_for(&self, name: &str, message: String) -> ConfigError {
        let line = match self.settings.get(name).map(|s| &s.origin) {
            Some(Origin::MainCf { line }) => Some(*line),
            _ => None,
        };
        let file = match self.settings.get(name).map(|s| &s.origin) {
            Some(Origin::Override) => PathBuf::from("command line or master.cf -o"),
            _ => self.main_cf.path.clone(),
        };
        ConfigError::new(file, line, Some(name), message)
    }

    fn check_all(&mut self) -> Result<(), ConfigError> {
        // The names set in main.cf (or -o) first, so that an error a
        // setting causes is blamed on a line of main.cf; then the defaults.
        let mut names: Vec<String> = self.settings.keys().cloned().collect();
        names.sort();
        let mut defaults: Vec<String> = table::ALL
            .iter()
            .map(|p| p.name.to_string())
            .filter(|n| !self.settings.contains_key(n))
            .collect();
        defaults.sort();
        names.extend(defaults);
        let mut expanded = HashMap::with_capacity(names.len());
        for name in &names {
            let done = Expanded {
                cfg: self,
                values: &expanded,
            };
            let v = expand::expand_name(name, &done).map_err(|e| match &e {
                // Blame the first parameter of the loop, whose line is known.
                ExpandError::Loop(chain) => {
                    self.error_for(chain.first().map_or(name.as_str(), |n| n), e.to_string())
                }
                ExpandError::Unbalanced(_) | ExpandError::TooDeep(_) => {
                    self.error_for(name, e.to_string())
                }
            })?;
            if let Some(p) = lookup(name) {
                if let Err(e) = value::check(p, &v) {
                    let shown = if v == self.raw_text(name).unwrap_or_default() {
                        format!("{e}")
                    } else {
                        format!("{e} (from \"{}\")", self.raw_text(name).unwrap_or_default())
                    };
                    return Err(self.error_for(name, shown));
                }
            }
            expanded.insert(name.clone(), v);
        }
        self.expanded = expanded;
        self.note_unused();
        Ok(())
    }

    /// Postfix warns about main.cf names it does not know and no value uses.
    fn note_unused(&mut self) {
        let used: HashSet<&str> = self
            .settings
            .values()
            .flat_map(|s| expand::names_used(&s.text))
            .collect();
        let mut seen: HashSet<String> = self.warnings.iter().cloned().collect();
        let mut new = Vec::new();
        // Restriction classes are user-defined names that smtpd uses.
        let classes: HashSet<String> = self
            .settings
            .get("smtpd_restriction_classes")
            .map(|s| value::split_list(&s.text).into_iter().collect())
            .unwrap_or_default();
        for d in self.main_cf.definitions() {
            if lookup(&d.name).is_some()
                || crate::is_dynamic_name(&d.name)
                || classes.contains(&d.name)
            {
                continue;
            }
            if !used.contains(d.name.as_str()) {
                let w = format!(
                    "{}: unused parameter: {}={}",
                    self.main_cf.path.display(),
                    d.name,
                    d.value
                );
                if seen.insert(w.clone()) {
                    new.push(w);
                }
            }
        }
        self.warnings.extend(new);
    }

    /// The text of `name` before expansion: as set, or its default.
    pub fn raw_text(&self, name: &str) -> Option<String> {
        if let Some(s) = self.settings.get(name) {
            return Some(s.text.clone());
        }
        let p = lookup(name)?;
        Some(self.default_of(p))
    }

    fn default_of(&self, p: &Param) -> String {
        thread_local! {
            /// mydomain's default is being worked out (from myhostname).
            static IN_MYDOMAIN: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        // Only mydomain's default depends on myhostname's value. A
        // myhostname that names $mydomain meets it undefined there (empty),
        // as in Postfix, instead of going round for ever.
        let host_expanded = match p.computed {
            Some(Computed::MyDomain) if IN_MYDOMAIN.with(|c| c.get()) => return String::new(),
            Some(Computed::MyDomain) => {
                let host = self.settings.get("myhostname").map(|s| s.text.as_str());
                IN_MYDOMAIN.with(|c| c.set(true));
                let expanded =
                    host.map(|h| expand::expand_text(h, self).unwrap_or_else(|_| h.to_string()));
                IN_MYDOMAIN.with(|c| c.set(false));
                expanded
            }
            _ => None,
        };
        let style = self
            .settings
            .get("mynetworks_style")
            .map(|s| s.text.as_str());
        default_text(p, host_expanded.as_deref(), style)
    }

    /// Where the value of `name` came from; None for a name nobody set or declared.
    pub fn origin(&self, name: &str) -> Option<Origin> {
        match self.settings.get(name) {
            Some(s) => Some(s.origin.clone()),
            None => lookup(name).map(|_| Origin::Default),
        }
    }

    /// True when main.cf (or an override) sets `name`.
    pub fn is_set(&self, name: &str) -> bool {
        self.settings
            .get(name)
            .is_some_and(|s| s.origin != Origin::Default)
    }

    /// The expanded value of any name, declared or not.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.expanded.get(name).map(String::as_str)
    }

    /// The expanded value of `p` (raw parameters: as written).
    pub fn get(&self, p: &Param) -> &str {
        self.value(p.name).unwrap_or(p.default)
    }

    /// A Str/Raw parameter.
    pub fn str(&self, p: &Param) -> &str {
        self.get(p)
    }

    /// `myorigin`, with Debian's extension that its users' main.cf files
    /// rely on (Debian's postinst sets `myorigin = /etc/mailname`): a value
    /// that starts with `/` names a file whose first line is the name. An
    /// unreadable or empty file is an error, fatal to the daemon, as in
    /// Debian's Postfix. `postconf` shows the value as written.
    pub fn myorigin(&self) -> Result<String, String> {
        let value = self.str(&crate::table::MYORIGIN).trim();
        if !value.starts_with('/') {
            return Ok(value.to_string());
        }
        let text = std::fs::read(value).map_err(|e| format!("{value}: read error: {e}"))?;
        let first = text.split(|&b| b == b'\n').next().unwrap_or_default();
        let name = String::from_utf8_lossy(first).trim().to_string();
        if name.is_empty() {
            return Err(format!("myorigin file {value} is empty"));
        }
        Ok(name)
    }

    /// A List parameter, split into items.
    pub fn list(&self, p: &Param) -> Vec<String> {
        value::split_list(self.get(p))
    }

    /// An Int parameter.
    pub fn int(&self, p: &Param) -> i64 {
        value::number(self.get(p))
    }

    /// A Size parameter.
    pub fn size(&self, p: &Param) -> u64 {
        value::number(self.get(p)).max(0) as u64
    }

    /// A Time parameter.
    pub fn time(&self, p: &Param) -> Duration {
        let unit = match p.kind {
            Kind::Time { unit } => unit,
            _ => 's',
        };
        value::duration(self.get(p), unit)
    }

    /// A Bool parameter.
    pub fn bool(&self, p: &Param) -> bool {
        value::parse_bool(self.get(p)).unwrap_or(false)
    }

    /// A path parameter, as a PathBuf.
    pub fn path(&self, p: &Param) -> PathBuf {
        PathBuf::from(self.get(p))
    }

    /// Expands arbitrary text against this configuration.
    pub fn expand(&self, text: &str) -> Result<String, ExpandError> {
        expand::expand_text(text, self)
    }
}

/// The configuration with the values expanded so far: a name met again
/// is not expanded again (a value expands the same wherever it is used,
/// and one that expanded had no loop).
struct Expanded<'a> {
    cfg: &'a Config,
    values: &'a HashMap<String, String>,
}

impl expand::Lookup for Expanded<'_> {
    fn raw(&self, name: &str) -> Option<(String, bool)> {
        match self.values.get(name) {
            Some(v) => Some((v.clone(), false)),
            None => self.cfg.raw(name),
        }
    }
}

impl expand::Lookup for Config {
    fn raw(&self, name: &str) -> Option<(String, bool)> {
        let text = self.raw_text(name)?;
        let expandable = lookup(name).is_none_or(|p| p.kind != Kind::Raw);
        Some((text, expandable))
    }
}
