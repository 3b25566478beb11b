//! The stored document: Tessera records ⇄ connect-mongo / connect-mongodb-session documents.
//!
//! ```text
//! { _id: "<sid>",
//!   session: "<express-session JSON>"         // SessionFormat::Json (connect-mongo default)
//!          | { cookie: { expires: Date, … }, … } // SessionFormat::Embedded
//!          | "<base64(iv‖ciphertext‖tag)>",    // with a WebCryptoAdapter
//!   expires: Date,                             // the TTL index's field
//!   user: "<user id>",                         // Tessera: only when bound to a user
//!   version: Int64 }                           // Tessera: random, new on every write
//! ```

use crate::bson_json::{bson_date, datetime_from_millis, document_to_object, object_to_document};
use crate::crypto::WebCryptoAdapter;
use mongodb::bson::{Bson, Document, doc};
use serde_json::Value;
use std::sync::Arc;
use tessera::store_support::COOKIE_KEY;
use tessera::{Record, SessionId, StoreError};
use time::OffsetDateTime;

/// Document field names.
pub(crate) mod field {
    /// The session id.
    pub const ID: &str = "_id";
    /// The session payload (string, embedded document, or encrypted string).
    pub const SESSION: &str = "session";
    /// The server-side expiry (BSON Date), watched by the TTL index.
    pub const EXPIRES: &str = "expires";
    /// The bound user, for per-user listing (Tessera only).
    pub const USER: &str = "user";
    /// A random value Tessera writes with every save (Tessera only); the version token
    /// is a hash of it and `session`.
    pub const VERSION: &str = "version";
}

/// How the `session` field is written. Both shapes are always readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SessionFormat {
    /// A JSON string, as connect-mongo writes by default (`stringify: true`).
    #[default]
    Json,
    /// An embedded document with `cookie.expires` as a BSON Date, as connect-mongodb-session
    /// (and connect-mongo with `stringify: false`) write it. Key names must be valid BSON
    /// field names for the server (no `$`-prefixed keys).
    Embedded,
}

/// Encodes and decodes documents for one store configuration.
#[derive(Clone, Debug)]
pub(crate) struct Codec {
    pub(crate) format: SessionFormat,
    pub(crate) crypto: Option<Arc<WebCryptoAdapter>>,
    /// Expiry assumed for a document without `expires` (connect-mongo's `ttl`).
    pub(crate) fallback_ttl: time::Duration,
}

impl Codec {
    /// The `session` field's value for a record.
    pub(crate) fn session_value(&self, record: &Record) -> Result<Bson, StoreError> {
        let json = record.to_json();
        if let Some(crypto) = &self.crypto {
            return crypto
                .encrypt(&json)
                .map(Bson::String)
                .map_err(StoreError::unavailable);
        }
        match self.format {
            SessionFormat::Json => Ok(Bson::String(json)),
            SessionFormat::Embedded => {
                let value: Value = serde_json::from_str(&json).map_err(StoreError::decode)?;
                let Value::Object(obj) = value else {
                    return Err(StoreError::decode("session JSON is not an object"));
                };
                let mut d = object_to_document(&obj);
                if let (Some(Bson::Document(cookie)), Some(exp)) =
                    (d.get_mut(COOKIE_KEY), record.cookie.expires)
                {
                    cookie.insert("expires", bson_date(exp));
                }
                Ok(Bson::Document(d))
            }
        }
    }

    /// The whole document for `insert_one`.
    pub(crate) fn new_document(
        &self,
        record: &Record,
        version: i64,
    ) -> Result<Document, StoreError> {
        let mut d = doc! {
            field::ID: record.id.as_str(),
            field::SESSION: self.session_value(record)?,
            field::EXPIRES: bson_date(record.expires_at),
        };
        if let Some(user) = &record.user {
            d.insert(field::USER, user.as_str());
        }
        d.insert(field::VERSION, version);
        Ok(d)
    }

    /// The `$set`/`$unset` update of a save (everything but `_id`).
    pub(crate) fn save_update(
        &self,
        record: &Record,
        version: i64,
    ) -> Result<Document, StoreError> {
        let mut set = doc! {
            field::SESSION: self.session_value(record)?,
            field::EXPIRES: bson_date(record.expires_at),
            field::VERSION: version,
        };
        let mut update = Document::new();
        match &record.user {
            Some(user) => {
                set.insert(field::USER, user.as_str());
            }
            None => {
                update.insert("$unset", doc! { field::USER: "" });
            }
        }
        update.insert("$set", set);
        Ok(update)
    }

    /// Reads a stored document (written by Tessera, connect-mongo or
    /// connect-mongodb-session) as a record.
    pub(crate) fn decode(
        &self,
        id: SessionId,
        doc: &Document,
        now: OffsetDateTime,
    ) -> Result<Record, StoreError> {
        let payload = match doc.get(field::SESSION) {
            Some(Bson::String(s)) => match &self.crypto {
                Some(crypto) => {
                    let plain = crypto.decrypt(s).map_err(StoreError::decode)?;
                    serde_json::from_str(&plain).map_err(StoreError::decode)?
                }
                None => serde_json::from_str(s).map_err(StoreError::decode)?,
            },
            Some(Bson::Document(d)) if self.crypto.is_none() => {
                Value::Object(document_to_object(d))
            }
            Some(Bson::Document(_)) => {
                return Err(StoreError::decode(
                    "unencrypted embedded session found while encryption is configured",
                ));
            }
            Some(other) => {
                return Err(StoreError::decode(format!(
                    "the session field is a BSON {:?}, not a string or document",
                    other.element_type()
                )));
            }
            None => return Err(StoreError::decode("the document has no session field")),
        };
        let stored_expiry = match doc.get(field::EXPIRES) {
            Some(Bson::DateTime(d)) => Some(datetime_from_millis(d.timestamp_millis())),
            _ => None,
        };
        let version = version_of(doc);
        let mut record = Record::from_value(
            id,
            payload,
            tessera::StoredMeta::new(now, version).read_at(now),
        )?;
        // connect-mongo: a document without `expires` lives for `ttl` (from the cookie's
        // expiry when it has one).
        record.expires_at = stored_expiry
            .or(record.cookie.expires)
            .unwrap_or(now + self.fallback_ttl);
        Ok(record)
    }
}

/// The parts of a stored document a conditional save compares: `session` (which every
/// connect-mongo `set` rewrites) and Tessera's `version` field (absent on Node's documents).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Stored {
    /// The version token: a hash of `session` and `version`.
    pub(crate) token: u64,
    /// The `session` value exactly as stored.
    pub(crate) session: Bson,
    /// The `version` value exactly as stored, if any.
    pub(crate) version: Option<Bson>,
}

impl Stored {
    /// The comparison state of a document (one read from the server, or one about to be
    /// written).
    pub(crate) fn of(doc: &Document) -> Self {
        let session = doc.get(field::SESSION).cloned().unwrap_or(Bson::Null);
        let version = doc.get(field::VERSION).cloned();
        Self {
            token: token_of(&session, version.as_ref()),
            session,
            version,
        }
    }

    /// The filter matching a document still in exactly this state: `$eq` on the whole
    /// `session` value (a string, or an embedded document compared field by field, in
    /// order) and on `version` (or its absence).
    pub(crate) fn filter(&self) -> Document {
        let version = match &self.version {
            Some(v) => doc! { "$eq": v.clone() },
            None => doc! { "$exists": false },
        };
        doc! {
            field::SESSION: { "$eq": self.session.clone() },
            field::VERSION: version,
        }
    }
}

/// The version token of a document's `session` and `version`: the first 64 bits of a
/// SHA-256 over both. Any write of `session` (also a connect-mongo `set`, which leaves
/// `version` alone) changes it; a touch (`expires` only) does not.
pub(crate) fn token_of(session: &Bson, version: Option<&Bson>) -> u64 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    match version {
        // The server compares numbers by value: Int32 and Int64 hash alike.
        Some(Bson::Int64(v)) => {
            h.update(b"v");
            h.update(v.to_le_bytes());
        }
        Some(Bson::Int32(v)) => {
            h.update(b"v");
            h.update(i64::from(*v).to_le_bytes());
        }
        Some(other) => h.update(format!("o{other}")),
        None => h.update(b"-"),
    }
    match session {
        Bson::String(s) => {
            h.update(b"s");
            h.update(s.as_bytes());
        }
        Bson::Document(d) => {
            let mut bytes = Vec::new();
            // Writing to a Vec only fails for documents the server would not store.
            if d.to_writer(&mut bytes).is_err() {
                bytes = format!("{d}").into_bytes();
            }
            h.update(b"d");
            h.update(&bytes);
        }
        other => h.update(format!("?{other}")),
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(first)
}

/// The version token of a stored document.
pub(crate) fn version_of(doc: &Document) -> u64 {
    Stored::of(doc).token
}

/// A fresh random, non-zero version token (so a delete-and-recreate never reuses one).
pub(crate) fn new_version() -> Result<i64, StoreError> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| StoreError::unavailable(e.to_string()))?;
    // 62 random bits, positive and non-zero.
    Ok(((u64::from_le_bytes(b) >> 2) | 1) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use time::macros::datetime;

    const SID: &str = "MGGxKGcZYkH4lb0MkU06aespN9iApXlG";
    const NODE_JSON: &str = r#"{"cookie":{"originalMaxAge":86400000,"expires":"2026-11-23T10:46:45.178Z","httpOnly":true,"path":"/"},"user":"John Doe"}"#;

    fn codec(format: SessionFormat) -> Codec {
        Codec {
            format,
            crypto: None,
            fallback_ttl: time::Duration::days(14),
        }
    }

    fn sid() -> SessionId {
        SessionId::parse(SID).unwrap()
    }

    #[test]
    fn reads_connect_mongo_string_documents() {
        let exp = datetime!(2026-11-23 10:46:45.178 UTC);
        let now = datetime!(2026-11-22 10:46:45.178 UTC);
        let d = doc! {"_id": SID, "session": NODE_JSON, "expires": bson_date(exp)};
        let r = codec(SessionFormat::Json).decode(sid(), &d, now).unwrap();
        assert_eq!(r.expires_at, exp);
        assert_eq!(r.version, version_of(&d));
        assert_eq!(r.data["user"], json!("John Doe"));
        assert_eq!(r.cookie.original_max_age, Some(86_400_000));
        assert_eq!(r.cookie.expires, Some(exp));
    }

    #[test]
    fn reads_connect_mongodb_session_embedded_documents() {
        let exp = datetime!(2026-11-23 10:47:00.546 UTC);
        let d = doc! {
            "_id": SID,
            "session": {"cookie": {"originalMaxAge": 86_400_000, "expires": bson_date(exp),
                                   "httpOnly": true, "path": "/"},
                        "user": "John Doe"},
            "expires": bson_date(exp),
        };
        let now = datetime!(2026-11-22 10:00 UTC);
        let r = codec(SessionFormat::Json).decode(sid(), &d, now).unwrap();
        assert_eq!(r.cookie.expires, Some(exp));
        assert_eq!(r.cookie.path.as_deref(), Some("/"));
        assert_eq!(r.data["user"], json!("John Doe"));
        assert_eq!(r.expires_at, exp);
    }

    #[test]
    fn writes_both_shapes() {
        let now = datetime!(2026-11-22 10:00 UTC);
        let exp = datetime!(2026-11-23 10:00 UTC);
        let mut r = Record::new(sid(), now, exp);
        r.cookie.expires = Some(exp);
        r.cookie.original_max_age = Some(86_400_000);
        r.data.insert("n".into(), json!(1));
        r.user = Some("u1".into());
        let d = codec(SessionFormat::Json).new_document(&r, 7).unwrap();
        assert_eq!(
            d.keys().collect::<Vec<_>>(),
            ["_id", "session", "expires", "user", "version"]
        );
        assert_eq!(d.get_str("session").unwrap(), r.to_json());
        assert_eq!(d.get_datetime("expires").unwrap(), &bson_date(exp));
        assert_eq!(d.get_i64("version").unwrap(), 7);

        let e = codec(SessionFormat::Embedded).new_document(&r, 7).unwrap();
        let s = e.get_document("session").unwrap();
        let c = s.get_document("cookie").unwrap();
        assert_eq!(c.get_datetime("expires").unwrap(), &bson_date(exp));
        assert_eq!(s.get_i32("n").unwrap(), 1);
        let back = codec(SessionFormat::Embedded)
            .decode(sid(), &e, now)
            .unwrap();
        assert_eq!(back.data, r.data);
        assert_eq!(back.cookie, r.cookie);
        assert_eq!(back.user, r.user);
    }

    #[test]
    fn save_update_unsets_a_cleared_user() {
        let now = datetime!(2026-11-22 10:00 UTC);
        let r = Record::new(sid(), now, now);
        let u = codec(SessionFormat::Json).save_update(&r, 3).unwrap();
        assert_eq!(u.get_document("$unset").unwrap(), &doc! {"user": ""});
        assert!(u.get_document("$set").unwrap().get("user").is_none());
    }

    #[test]
    fn missing_expires_falls_back_to_cookie_then_ttl() {
        let now = datetime!(2026-11-22 10:00 UTC);
        let d =
            doc! {"_id": SID, "session": r#"{"cookie":{"originalMaxAge":null,"expires":null}}"#};
        let r = codec(SessionFormat::Json).decode(sid(), &d, now).unwrap();
        assert_eq!(r.expires_at, now + time::Duration::days(14));
    }

    #[test]
    fn malformed_documents_are_decode_errors() {
        let now = datetime!(2026-11-22 10:00 UTC);
        let c = codec(SessionFormat::Json);
        for d in [
            doc! {"_id": SID},
            doc! {"_id": SID, "session": 5},
            doc! {"_id": SID, "session": "{not json"},
            doc! {"_id": SID, "session": "[1,2]"},
        ] {
            assert!(
                matches!(c.decode(sid(), &d, now), Err(StoreError::Decode(_))),
                "{d}"
            );
        }
    }

    #[test]
    fn versions_are_random_and_positive() {
        let a = new_version().unwrap();
        let b = new_version().unwrap();
        assert!(a > 0 && b > 0 && a != b);
    }

    #[test]
    fn tokens_follow_session_and_version_but_not_expires() {
        let base = doc! {"_id": SID, "session": NODE_JSON, "expires": bson_date(datetime!(2026-11-23 10:00 UTC))};
        let t = version_of(&base);
        let mut touched = base.clone();
        touched.insert("expires", bson_date(datetime!(2026-11-24 10:00 UTC)));
        assert_eq!(version_of(&touched), t, "a touch keeps the token");
        let mut node_set = base.clone();
        node_set.insert("session", NODE_JSON.replace("John", "Jane"));
        assert_ne!(version_of(&node_set), t, "a Node write changes it");
        let mut versioned = base.clone();
        versioned.insert("version", 9_i64);
        assert_ne!(version_of(&versioned), t);
        let mut int32 = base.clone();
        int32.insert("version", 9_i32);
        assert_eq!(version_of(&int32), version_of(&versioned));
        let embedded = doc! {"session": {"cookie": {"path": "/"}, "n": 1}};
        let mut changed = embedded.clone();
        changed.insert("session", doc! {"cookie": {"path": "/"}, "n": 2});
        assert_ne!(version_of(&embedded), version_of(&changed));
    }

    #[test]
    fn the_save_filter_matches_the_exact_state() {
        let d = doc! {"_id": SID, "session": NODE_JSON};
        assert_eq!(
            Stored::of(&d).filter(),
            doc! {"session": {"$eq": NODE_JSON}, "version": {"$exists": false}}
        );
        let d = doc! {"_id": SID, "session": {"n": 1}, "version": 5_i64};
        assert_eq!(
            Stored::of(&d).filter(),
            doc! {"session": {"$eq": {"n": 1}}, "version": {"$eq": 5_i64}}
        );
    }
}
