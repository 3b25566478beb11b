//! Table and schema names: validation (no identifier injection) and quoting per dialect.

use crate::error::Error;

/// Longest accepted table or schema name, so derived index names (`IDX_<table>_user_id`)
/// stay within PostgreSQL's 63-byte and MySQL's 64-character identifier limits.
pub const MAX_IDENT_LEN: usize = 48;

/// The default table name, connect-pg-simple's.
pub const DEFAULT_TABLE: &str = "session";

/// A validated SQL identifier: 1 to [`MAX_IDENT_LEN`] ASCII letters, digits or `_`, not
/// starting with a digit. It is still always quoted, so case is kept as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ident(String);

impl Ident {
    pub(crate) fn new(name: &str) -> Result<Self, Error> {
        let mut bytes = name.bytes();
        let ok = name.len() <= MAX_IDENT_LEN
            && bytes
                .next()
                .is_some_and(|b| b.is_ascii_alphabetic() || b == b'_')
            && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(Error::InvalidIdentifier(name.to_owned()))
        }
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// How a dialect quotes identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Each dialect is used only by its back end's feature.
#[cfg_attr(
    not(all(feature = "postgres", feature = "sqlite", feature = "mysql")),
    allow(dead_code)
)]
pub(crate) enum Quote {
    /// `"name"` (PostgreSQL, SQLite).
    Double,
    /// `` `name` `` (MySQL, MariaDB).
    Backtick,
}

impl Quote {
    /// Quotes a validated identifier (it contains no quote characters by construction).
    pub(crate) fn ident(self, ident: &Ident) -> String {
        self.raw(ident.as_str())
    }

    /// Quotes a name derived only from validated identifiers.
    pub(crate) fn raw(self, name: &str) -> String {
        match self {
            Self::Double => format!("\"{name}\""),
            Self::Backtick => format!("`{name}`"),
        }
    }
}

/// A table name, optionally schema-qualified (PostgreSQL only).
#[derive(Debug, Clone)]
pub(crate) struct Table {
    pub(crate) schema: Option<Ident>,
    pub(crate) name: Ident,
    quote: Quote,
}

impl Table {
    pub(crate) fn new(schema: Option<&str>, name: &str, quote: Quote) -> Result<Self, Error> {
        Ok(Self {
            schema: schema.map(Ident::new).transpose()?,
            name: Ident::new(name)?,
            quote,
        })
    }

    /// The quoted, possibly schema-qualified name for statements.
    pub(crate) fn quoted(&self) -> String {
        match &self.schema {
            Some(s) => format!("{}.{}", self.quote.ident(s), self.quote.ident(&self.name)),
            None => self.quote.ident(&self.name),
        }
    }

    /// The quoted name of this table's index on `column` (`"IDX_<table>_<column>"`, the
    /// naming connect-pg-simple uses for its expiry index on the default table).
    pub(crate) fn index(&self, column: &str) -> String {
        self.quote
            .raw(&format!("IDX_{}_{column}", self.name.as_str()))
    }

    /// A stable 64-bit key for this table's migration lock (PostgreSQL advisory lock) (FNV-1a of the qualified name).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    pub(crate) fn lock_key(&self) -> i64 {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in format!("tessera-sql:migrate:{}", self.quoted()).bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
        i64::from_ne_bytes(h.to_ne_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_identifiers() {
        for ok in ["session", "Session_2", "_t", &"a".repeat(MAX_IDENT_LEN)] {
            assert!(Ident::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_injection_and_oddities() {
        for bad in [
            "",
            "1abc",
            "a b",
            "a\"b",
            "a`b",
            "x; DROP TABLE users",
            "s.t",
            "é",
            "a-b",
            &"a".repeat(MAX_IDENT_LEN + 1),
        ] {
            assert!(
                matches!(Ident::new(bad), Err(Error::InvalidIdentifier(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn quotes_per_dialect() {
        let t = Table::new(Some("app"), "session", Quote::Double).unwrap();
        assert_eq!(t.quoted(), r#""app"."session""#);
        assert_eq!(t.index("expire"), r#""IDX_session_expire""#);
        let m = Table::new(None, "sess", Quote::Backtick).unwrap();
        assert_eq!(m.quoted(), "`sess`");
        assert_ne!(t.lock_key(), m.lock_key());
    }
}
