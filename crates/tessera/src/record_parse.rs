//! Parsing a stored record straight from its JSON text.
//!
//! Loading is the hot path of every request that reads its session, so the text is read
//! in one pass: the `cookie` object and the `__tessera` metadata go straight into their
//! typed fields, and only the application's keys become [`Value`]s. The result is the
//! same as parsing into a [`Value`] first and calling [`Record::from_value`], with a third
//! of the allocations.

use crate::record::{COOKIE_KEY, CookieData, META_KEY, Meta};
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::fmt;

/// A record's JSON object split into its three parts.
pub(crate) struct Parts {
    pub data: Map<String, Value>,
    pub cookie: Option<CookieData>,
    pub meta: Option<Meta>,
}

impl Parts {
    pub(crate) fn from_str(json: &str) -> Result<Self, serde_json::Error> {
        let mut de = serde_json::Deserializer::from_str(json);
        let parts = Parts::deserialize(&mut de)?;
        de.end()?;
        Ok(parts)
    }
}

/// An object key, borrowed from the input unless it contains escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

impl<'de> Deserialize<'de> for Parts {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Parts;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a session record (a JSON object)")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parts, A::Error> {
                let mut parts = Parts {
                    data: Map::with_capacity(map.size_hint().unwrap_or(4)),
                    cookie: None,
                    meta: None,
                };
                // Duplicate keys: the last one wins, as with `JSON.parse`.
                while let Some(Key(key)) = map.next_key()? {
                    match &*key {
                        COOKIE_KEY => parts.cookie = Some(map.next_value::<LenientCookie>()?.0),
                        META_KEY => parts.meta = Some(map.next_value()?),
                        _ => {
                            let v: Value = map.next_value()?;
                            parts.data.insert(key.into_owned(), v);
                        }
                    }
                }
                Ok(parts)
            }
        }
        d.deserialize_map(V)
    }
}

/// The cookie object, read as leniently as express reads it: unknown keys and values of
/// the wrong type are ignored, a cookie that is not an object is the default cookie.
struct LenientCookie(CookieData);

impl<'de> Deserialize<'de> for LenientCookie {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LenientCookie;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("express-session's cookie object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LenientCookie, A::Error> {
                let mut c = CookieData::default();
                while let Some(Key(key)) = map.next_key()? {
                    let v: Value = map.next_value()?;
                    c.set_field(&key, v);
                }
                Ok(LenientCookie(c))
            }
            // Anything else (null, a string, an array…) is ignored.
            fn visit_unit<E>(self) -> Result<LenientCookie, E> {
                Ok(LenientCookie(CookieData::default()))
            }
            fn visit_bool<E>(self, _: bool) -> Result<LenientCookie, E> {
                Ok(LenientCookie(CookieData::default()))
            }
            fn visit_i64<E>(self, _: i64) -> Result<LenientCookie, E> {
                Ok(LenientCookie(CookieData::default()))
            }
            fn visit_u64<E>(self, _: u64) -> Result<LenientCookie, E> {
                Ok(LenientCookie(CookieData::default()))
            }
            fn visit_f64<E>(self, _: f64) -> Result<LenientCookie, E> {
                Ok(LenientCookie(CookieData::default()))
            }
            fn visit_str<E>(self, _: &str) -> Result<LenientCookie, E> {
                Ok(LenientCookie(CookieData::default()))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<LenientCookie, A::Error> {
                while seq.next_element::<serde::de::IgnoredAny>()?.is_some() {}
                Ok(LenientCookie(CookieData::default()))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The one-pass parser agrees with parsing into a `Value` first.
    #[test]
    fn agrees_with_value_parsing() {
        let cases = [
            r#"{"cookie":{"originalMaxAge":86400000,"expires":"2026-11-23T10:44:48.157Z","httpOnly":true,"path":"/","sameSite":"lax","priority":"high","partitioned":true,"domain":"example.com","secure":false},"user":"x","n":1,"__tessera":{"created":"2026-11-22T10:44:48.157Z","user":"42","absMs":5}}"#,
            r#"{"cookie":null,"a":[1,{"b":2}],"c\"d":"e\u00e9"}"#,
            r#"{"cookie":"nonsense","x":1,"x":2}"#,
            r#"{"cookie":{"originalMaxAge":12.5,"expires":5,"path":null,"sameSite":true,"extra":{}},"z":null}"#,
            r#"{"a":1}"#,
        ];
        for json in cases {
            let parts = Parts::from_str(json).unwrap();
            let Value::Object(mut data) = serde_json::from_str::<Value>(json).unwrap() else {
                unreachable!()
            };
            let cookie = data
                .shift_remove(COOKIE_KEY)
                .map(|c| CookieData::from_json(&c));
            let meta = data.shift_remove(META_KEY);
            assert_eq!(parts.data, data, "{json}");
            assert_eq!(parts.cookie, cookie, "{json}");
            assert_eq!(parts.meta.is_some(), meta.is_some(), "{json}");
        }
    }

    #[test]
    fn rejects_what_is_not_an_object() {
        for bad in [
            "[1]",
            "{not json",
            "1",
            r#"{"__tessera":5}"#,
            r#"{"a":1} x"#,
        ] {
            assert!(Parts::from_str(bad).is_err(), "{bad}");
        }
    }
}
