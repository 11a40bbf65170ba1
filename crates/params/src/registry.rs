//! What a parameter is: its name, default, kind, bounds and one-line doc.
//! Every parameter is declared once, in [`crate::table`], with the
//! constructors below; `postconf -d`, the bounds check and the man page all
//! come from those declarations.

/// How a parameter's value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Free text, `$name` expanded.
    Str,
    /// Free text kept as written: expanded later with per-delivery
    /// attributes (`$user`, `$home`), as Postfix's "raw" parameters.
    Raw,
    /// Items separated by commas and/or white space; `{ … }` groups one item.
    List,
    /// A whole number within bounds.
    Int,
    /// A byte count within bounds (Postfix's "long" parameters).
    Size,
    /// A duration: a number and an optional unit s, m, h, d or w; a bare
    /// number is in the parameter's default unit.
    Time { unit: char },
    /// `yes` or `no`.
    Bool,
}

/// Defaults that depend on the host rather than on text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Computed {
    /// The FQDN from gethostname(), or the short name + ".localdomain".
    MyHostname,
    /// `$myhostname` minus its first label.
    MyDomain,
    /// The networks of this host's interfaces, per `mynetworks_style`.
    MyNetworks,
    /// This build's version.
    MailVersion,
}

/// One declared parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Param {
    pub name: &'static str,
    pub default: &'static str,
    pub computed: Option<Computed>,
    pub kind: Kind,
    pub min: i64,
    pub max: i64,
    pub doc: &'static str,
}

impl Param {
    const fn new(
        name: &'static str,
        default: &'static str,
        kind: Kind,
        doc: &'static str,
    ) -> Param {
        Param {
            name,
            default,
            computed: None,
            kind,
            min: 0,
            max: i64::MAX,
            doc,
        }
    }

    /// Text with `$name` expansion.
    pub const fn string(name: &'static str, default: &'static str, doc: &'static str) -> Param {
        Param::new(name, default, Kind::Str, doc)
    }

    /// Text expanded only at use, with per-use attributes.
    pub const fn raw(name: &'static str, default: &'static str, doc: &'static str) -> Param {
        Param::new(name, default, Kind::Raw, doc)
    }

    /// A comma/space separated list.
    pub const fn list(name: &'static str, default: &'static str, doc: &'static str) -> Param {
        Param::new(name, default, Kind::List, doc)
    }

    /// A whole number in `min..=max`.
    pub const fn int(
        name: &'static str,
        default: &'static str,
        min: i64,
        max: i64,
        doc: &'static str,
    ) -> Param {
        Param {
            min,
            max,
            ..Param::new(name, default, Kind::Int, doc)
        }
    }

    /// A byte count in `min..=max`.
    pub const fn size(
        name: &'static str,
        default: &'static str,
        min: i64,
        max: i64,
        doc: &'static str,
    ) -> Param {
        Param {
            min,
            max,
            ..Param::new(name, default, Kind::Size, doc)
        }
    }

    /// A duration in `min..=max` seconds; `unit` applies to bare numbers.
    pub const fn time(
        name: &'static str,
        default: &'static str,
        unit: char,
        min: i64,
        max: i64,
        doc: &'static str,
    ) -> Param {
        Param {
            min,
            max,
            ..Param::new(name, default, Kind::Time { unit }, doc)
        }
    }

    /// `yes` or `no`.
    pub const fn boolean(name: &'static str, default: &'static str, doc: &'static str) -> Param {
        Param::new(name, default, Kind::Bool, doc)
    }

    /// Text whose default is worked out from the host.
    pub const fn computed(name: &'static str, how: Computed, doc: &'static str) -> Param {
        Param {
            computed: Some(how),
            ..Param::new(name, "", Kind::Str, doc)
        }
    }

    /// The same parameter as a list.
    pub const fn as_list(self) -> Param {
        Param {
            kind: Kind::List,
            ..self
        }
    }
}

/// Declares parameters as `pub const` items and collects them in `ALL`,
/// so that each is written exactly once.
#[macro_export]
macro_rules! declare {
    ($( $(#[$m:meta])* $id:ident = $ctor:ident ( $($arg:expr),* $(,)? ) $(. $then:ident ())? ; )*) => {
        $( $(#[$m])* pub const $id: $crate::Param = $crate::Param::$ctor($($arg),*) $(. $then ())?; )*
        /// Every declared parameter, in declaration order.
        pub static ALL: &[&$crate::Param] = &[ $(&$id),* ];
    };
}
