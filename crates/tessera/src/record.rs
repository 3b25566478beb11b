//! The stored session record and its JSON form, which is express-session's.
//!
//! ```json
//! {"cookie":{"originalMaxAge":86400000,"expires":"2026-11-23T10:44:48.157Z","httpOnly":true,"path":"/"},
//!  "user":"John Doe",
//!  "__tessera":{"created":"2026-11-22T10:44:48.157Z","user":"42"}}
//! ```
//!
//! See `FORMAT.md` in this crate for the full description.

use crate::error::StoreError;
use crate::id::SessionId;
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// Top-level JSON key holding Tessera's own metadata (Node apps keep unknown keys as data).
pub const META_KEY: &str = "__tessera";
/// The cookie object's key, always written (Node readers fail without it).
pub const COOKIE_KEY: &str = "cookie";

/// The `cookie` object express-session stores with every session.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct CookieData {
    /// `originalMaxAge` in milliseconds; `None` = a browser-session cookie.
    pub original_max_age: Option<i64>,
    /// `partitioned`.
    pub partitioned: Option<bool>,
    /// `priority` (`"low"`, `"medium"`, `"high"`).
    pub priority: Option<String>,
    /// `expires`: when the browser cookie expires; `None` for a browser-session cookie.
    pub expires: Option<OffsetDateTime>,
    /// `secure`, absent unless configured.
    pub secure: Option<bool>,
    /// `httpOnly`.
    pub http_only: Option<bool>,
    /// `domain`.
    pub domain: Option<String>,
    /// `path`.
    pub path: Option<String>,
    /// `sameSite` as express stores it (`"lax"`, `"strict"`, `"none"`, or a boolean).
    pub same_site: Option<Value>,
}

/// What a store knows about a stored record besides its JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredMeta {
    /// The server-side expiry (the store's TTL or expiry column).
    pub expires_at: OffsetDateTime,
    /// The store's version token of the record.
    pub version: u64,
    /// When it was read: stands in for the creation time of a record written without
    /// Tessera's metadata (by express-session).
    pub read_at: OffsetDateTime,
}

impl StoredMeta {
    /// A record expiring at `expires_at` with version token `version`, read now.
    pub fn new(expires_at: OffsetDateTime, version: u64) -> Self {
        Self {
            expires_at,
            version,
            read_at: crate::Clock::System.now(),
        }
    }

    /// When the record was read (default: now).
    pub fn read_at(mut self, at: OffsetDateTime) -> Self {
        self.read_at = at;
        self
    }
}

/// One stored session.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Record {
    /// The session id.
    pub id: SessionId,
    /// Application data, in insertion order (the order Node wrote it is kept).
    pub data: Map<String, Value>,
    /// express-session's cookie object.
    pub cookie: CookieData,
    /// When the session was created (absolute timeouts count from here).
    pub created_at: OffsetDateTime,
    /// The user the session is bound to, for per-user listing and revocation.
    pub user: Option<String>,
    /// A per-session absolute timeout in milliseconds overriding the configured one.
    pub absolute_timeout_ms: Option<i64>,
    /// Server-side expiry: the store must not return the record after this instant.
    pub expires_at: OffsetDateTime,
    /// Store-defined version token for conditional saves. A store sets it on `load`,
    /// `create` and `save`; Tessera passes it back unchanged.
    pub version: u64,
    /// Read without Tessera's metadata (written by express-session): its creation time is
    /// the read time, and a persistent cookie's max age is its own lifetime (see
    /// `Lifetime::absolute_timeout`). Never stored.
    pub(crate) without_meta: bool,
}

#[derive(Serialize, Deserialize, Default)]
pub(crate) struct Meta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(rename = "absMs", default, skip_serializing_if = "Option::is_none")]
    abs_ms: Option<i64>,
}

/// Formats an instant as JavaScript's `Date#toISOString` does: `2026-11-23T10:44:48.157Z`.
pub fn iso_ms(t: OffsetDateTime) -> String {
    let fmt =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    t.to_offset(time::UtcOffset::UTC)
        .format(&fmt)
        .unwrap_or_default()
}

fn parse_iso(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).ok()
}

impl Serialize for CookieData {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("originalMaxAge", &self.original_max_age)?;
        if let Some(p) = self.partitioned {
            m.serialize_entry("partitioned", &p)?;
        }
        if let Some(p) = &self.priority {
            m.serialize_entry("priority", p)?;
        }
        m.serialize_entry("expires", &self.expires.map(iso_ms))?;
        if let Some(v) = self.secure {
            m.serialize_entry("secure", &v)?;
        }
        if let Some(v) = self.http_only {
            m.serialize_entry("httpOnly", &v)?;
        }
        if let Some(v) = &self.domain {
            m.serialize_entry("domain", v)?;
        }
        if let Some(v) = &self.path {
            m.serialize_entry("path", v)?;
        }
        if let Some(v) = &self.same_site {
            m.serialize_entry("sameSite", v)?;
        }
        m.end()
    }
}

impl CookieData {
    /// Reads express's cookie object, ignoring keys it does not know (as express does).
    pub fn from_json(v: &Value) -> Self {
        Self::from_owned(v.clone())
    }

    /// [`CookieData::from_json`], consuming the value (no copies of its fields).
    pub(crate) fn from_owned(v: Value) -> Self {
        let mut c = Self::default();
        if let Value::Object(obj) = v {
            for (k, v) in obj {
                c.set_field(&k, v);
            }
        }
        c
    }

    /// Sets the field stored under the JSON key `key`; unknown keys and values of the
    /// wrong type are ignored (a later duplicate key wins, as with `JSON.parse`).
    pub(crate) fn set_field(&mut self, key: &str, v: Value) {
        let string = |v: Value| match v {
            Value::String(s) => Some(s),
            _ => None,
        };
        match key {
            "originalMaxAge" => {
                self.original_max_age = v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))
            }
            "partitioned" => self.partitioned = v.as_bool(),
            "priority" => self.priority = string(v),
            "expires" => self.expires = v.as_str().and_then(parse_iso),
            "secure" => self.secure = v.as_bool(),
            "httpOnly" => self.http_only = v.as_bool(),
            "domain" => self.domain = string(v),
            "path" => self.path = string(v),
            "sameSite" => self.same_site = Some(v).filter(|v| !v.is_null()),
            _ => {}
        }
    }
}

struct DataView<'a>(&'a Record);

impl Serialize for DataView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let mut m = s.serialize_map(None)?;
        m.serialize_entry(COOKIE_KEY, &r.cookie)?;
        for (k, v) in &r.data {
            m.serialize_entry(k, v)?;
        }
        let meta = Meta {
            created: Some(iso_ms(r.created_at)),
            user: r.user.clone(),
            abs_ms: r.absolute_timeout_ms,
        };
        m.serialize_entry(META_KEY, &meta)?;
        m.end()
    }
}

impl Record {
    /// A new, empty record.
    pub fn new(id: SessionId, now: OffsetDateTime, expires_at: OffsetDateTime) -> Self {
        Self {
            id,
            data: Map::new(),
            cookie: CookieData::default(),
            created_at: now,
            user: None,
            absolute_timeout_ms: None,
            expires_at,
            version: 0,
            without_meta: false,
        }
    }

    /// The record as express-session's JSON (`cookie` first, then the data, then Tessera's
    /// metadata under [`META_KEY`]).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&DataView(self)).unwrap_or_else(|_| String::from("{\"cookie\":{}}"))
    }

    /// Parses a stored JSON value written by Tessera or by express-session; `meta` is what
    /// the store knows besides the JSON.
    ///
    /// ```
    /// # use tessera::{Record, SessionId, StoredMeta};
    /// let now = time::OffsetDateTime::now_utc();
    /// let json = r#"{"cookie":{"originalMaxAge":null,"expires":null},"user":"ana"}"#;
    /// let meta = StoredMeta::new(now + std::time::Duration::from_secs(60), 7).read_at(now);
    /// let r = Record::from_json(SessionId::generate(), json, meta).unwrap();
    /// assert_eq!((r.version, r.data["user"].as_str()), (7, Some("ana")));
    /// ```
    pub fn from_json(id: SessionId, json: &str, meta: StoredMeta) -> Result<Self, StoreError> {
        let parts = crate::record_parse::Parts::from_str(json).map_err(StoreError::decode)?;
        Ok(Self::from_parts(
            id,
            parts.data,
            parts.cookie.unwrap_or_default(),
            parts.meta.unwrap_or_default(),
            meta,
        ))
    }

    /// Like [`Record::from_json`], from an already parsed value.
    pub fn from_value(id: SessionId, value: Value, meta: StoredMeta) -> Result<Self, StoreError> {
        let Value::Object(mut data) = value else {
            return Err(StoreError::decode("session record is not a JSON object"));
        };
        let cookie = data
            .shift_remove(COOKIE_KEY)
            .map(CookieData::from_owned)
            .unwrap_or_default();
        let stored = meta;
        let meta: Meta = match data.shift_remove(META_KEY) {
            Some(m) => serde_json::from_value(m).map_err(StoreError::decode)?,
            None => Meta::default(),
        };
        Ok(Self::from_parts(id, data, cookie, meta, stored))
    }

    fn from_parts(
        id: SessionId,
        data: Map<String, Value>,
        cookie: CookieData,
        meta: Meta,
        stored: StoredMeta,
    ) -> Self {
        Self {
            id,
            data,
            cookie,
            created_at: meta
                .created
                .as_deref()
                .and_then(parse_iso)
                .unwrap_or(stored.read_at),
            without_meta: meta.created.is_none(),
            user: meta.user,
            absolute_timeout_ms: meta.abs_ms,
            expires_at: stored.expires_at,
            version: stored.version,
        }
    }

    /// Whether the server-side expiry has passed.
    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at <= now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NODE_REDIS: &str = r#"{"cookie":{"originalMaxAge":86400000,"expires":"2026-11-23T10:44:48.157Z","httpOnly":true,"path":"/"},"user":"John Doe"}"#;

    #[test]
    fn reads_express_session_json_and_writes_it_back_in_the_same_shape() {
        let id = SessionId::parse("WLB00T5veRHhEVBeUTOOCDYhcTBlb7kS").unwrap();
        let now = datetime!(2026-11-22 10:44:48.157 UTC);
        let exp = datetime!(2026-11-23 10:44:48.157 UTC);
        let r = Record::from_json(id, NODE_REDIS, StoredMeta::new(exp, 0).read_at(now)).unwrap();
        assert_eq!(r.cookie.original_max_age, Some(86_400_000));
        assert_eq!(r.cookie.expires, Some(exp));
        assert_eq!(r.cookie.http_only, Some(true));
        assert_eq!(r.data.get("user"), Some(&Value::from("John Doe")));
        assert_eq!(r.created_at, now);
        let out = r.to_json();
        let expected_prefix = &NODE_REDIS[..NODE_REDIS.len() - 1];
        assert!(out.starts_with(expected_prefix), "{out}");
        assert!(
            out.ends_with(r#","__tessera":{"created":"2026-11-22T10:44:48.157Z"}}"#),
            "{out}"
        );
    }

    #[test]
    fn browser_session_cookie_writes_nulls_like_express() {
        let id = SessionId::parse("abc").unwrap();
        let now = datetime!(2026-11-22 10:00 UTC);
        let mut r = Record::new(id, now, now);
        r.cookie.http_only = Some(true);
        r.cookie.path = Some("/".into());
        r.user = Some("u1".into());
        assert_eq!(
            r.to_json(),
            r#"{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"},"__tessera":{"created":"2026-11-22T10:00:00.000Z","user":"u1"}}"#
        );
    }

    #[test]
    fn meta_round_trips_and_data_order_is_kept() {
        let id = SessionId::parse("abc").unwrap();
        let now = datetime!(2026-11-22 10:00:00.123 UTC);
        let mut r = Record::new(id.clone(), now, now);
        r.data.insert("zeta".into(), Value::from(1));
        r.data.insert(
            "alpha".into(),
            serde_json::json!({"nested": [1, "ü", null]}),
        );
        r.user = Some("42".into());
        r.absolute_timeout_ms = Some(1000);
        let back = Record::from_json(
            id,
            &r.to_json(),
            StoredMeta::new(now, 0).read_at(datetime!(2030-01-01 0:00 UTC)),
        )
        .unwrap();
        assert_eq!(back, r);
        assert_eq!(back.data.keys().collect::<Vec<_>>(), ["zeta", "alpha"]);
    }

    #[test]
    fn rejects_non_objects() {
        let id = SessionId::parse("abc").unwrap();
        let now = datetime!(2026-11-22 10:00 UTC);
        assert!(Record::from_json(id.clone(), "[1]", StoredMeta::new(now, 0)).is_err());
        assert!(Record::from_json(id, "{not json", StoredMeta::new(now, 0)).is_err());
    }

    #[test]
    fn iso_format_matches_javascript() {
        assert_eq!(
            iso_ms(datetime!(2026-11-23 10:44:48.157 UTC)),
            "2026-11-23T10:44:48.157Z"
        );
        assert_eq!(
            iso_ms(datetime!(2026-11-23 10:44:48 UTC)),
            "2026-11-23T10:44:48.000Z"
        );
    }
}
