//! Conversions between JSON (the session data) and BSON (the embedded session shape).
//!
//! BSON → JSON follows what a Node app sees after `JSON.stringify`: dates become ISO-8601
//! strings with milliseconds, ObjectIds their hex string, and integral doubles (how the
//! Node driver stores large integers) plain integers.

use mongodb::bson::{Bson, Document};
use serde_json::{Map, Number, Value};

/// 2^53: the integers a JavaScript number (and so a BSON double from Node) holds exactly.
const JS_SAFE: f64 = 9_007_199_254_740_992.0;

/// JSON → BSON: integers become Int32 when they fit (as Node's driver writes them), else
/// Int64; integers above `i64::MAX` and fractions become doubles.
pub(crate) fn json_to_bson(v: &Value) -> Bson {
    match v {
        Value::Null => Bson::Null,
        Value::Bool(b) => Bson::Boolean(*b),
        Value::Number(n) => number_to_bson(n),
        Value::String(s) => Bson::String(s.clone()),
        Value::Array(a) => Bson::Array(a.iter().map(json_to_bson).collect()),
        Value::Object(o) => Bson::Document(object_to_document(o)),
    }
}

/// A JSON object as a BSON document, keys in the same order.
pub(crate) fn object_to_document(o: &Map<String, Value>) -> Document {
    o.iter()
        .map(|(k, v)| (k.clone(), json_to_bson(v)))
        .collect()
}

fn number_to_bson(n: &Number) -> Bson {
    if let Some(i) = n.as_i64() {
        match i32::try_from(i) {
            Ok(small) => Bson::Int32(small),
            Err(_) => Bson::Int64(i),
        }
    } else {
        Bson::Double(n.as_f64().unwrap_or(f64::NAN))
    }
}

/// BSON → JSON as a Node app would see it.
pub(crate) fn bson_to_json(b: &Bson) -> Value {
    match b {
        Bson::Null | Bson::Undefined => Value::Null,
        Bson::Boolean(v) => Value::Bool(*v),
        Bson::Int32(i) => Value::from(*i),
        Bson::Int64(i) => Value::from(*i),
        Bson::Double(f) => double_to_json(*f),
        Bson::String(s) => Value::String(s.clone()),
        Bson::Array(a) => Value::Array(a.iter().map(bson_to_json).collect()),
        Bson::Document(d) => Value::Object(document_to_object(d)),
        Bson::DateTime(d) => Value::String(iso_from_millis(d.timestamp_millis())),
        Bson::ObjectId(o) => Value::String(o.to_hex()),
        other => other.clone().into_relaxed_extjson(),
    }
}

/// A BSON document as a JSON object, keys in the same order.
pub(crate) fn document_to_object(d: &Document) -> Map<String, Value> {
    d.iter()
        .map(|(k, v)| (k.clone(), bson_to_json(v)))
        .collect()
}

fn double_to_json(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < JS_SAFE && !(f == 0.0 && f.is_sign_negative()) {
        // In range, so the cast is exact.
        Value::from(f as i64)
    } else {
        // NaN and infinities become null, as in JSON.stringify.
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

/// `Date#toISOString` of a millisecond timestamp (clamped to the range `time` supports).
pub(crate) fn iso_from_millis(ms: i64) -> String {
    tessera::store_support::iso_ms(datetime_from_millis(ms))
}

/// A millisecond timestamp as an instant, clamped to the representable range.
pub(crate) fn datetime_from_millis(ms: i64) -> time::OffsetDateTime {
    let nanos = i128::from(ms) * 1_000_000;
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos).unwrap_or(if ms < 0 {
        time::OffsetDateTime::UNIX_EPOCH
    } else {
        time::macros::datetime!(9999-12-31 23:59:59.999 UTC)
    })
}

/// An instant as a BSON date (millisecond precision, like JavaScript dates).
pub(crate) fn bson_date(t: time::OffsetDateTime) -> mongodb::bson::DateTime {
    let ms = t.unix_timestamp_nanos().div_euclid(1_000_000);
    mongodb::bson::DateTime::from_millis(i64::try_from(ms).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::{doc, oid::ObjectId};
    use serde_json::json;

    #[test]
    fn json_round_trips_through_bson_with_order_and_types() {
        let v = json!({"z": 1, "a": [0, -1, 1.5, 9007199254740991_i64, 1e300, 3000000000_i64],
                       "s": "żółć", "n": null, "o": {"t": true}});
        let b = json_to_bson(&v);
        let Bson::Document(d) = &b else { panic!() };
        assert_eq!(d.keys().collect::<Vec<_>>(), ["z", "a", "s", "n", "o"]);
        assert_eq!(d.get("z"), Some(&Bson::Int32(1)));
        assert_eq!(bson_to_json(&b), v);
    }

    #[test]
    fn node_values_read_as_node_prints_them() {
        let oid = ObjectId::parse_str("64b7f0c2a1b2c3d4e5f60718").unwrap();
        let d = doc! {
            "when": mongodb::bson::DateTime::from_millis(1_795_430_805_178),
            "oid": oid,
            "big": 1_700_000_000_000.0_f64,
            "frac": 0.25_f64,
            "nan": f64::NAN,
        };
        let v = Value::Object(document_to_object(&d));
        assert_eq!(
            v,
            json!({"when": "2026-11-23T10:46:45.178Z", "oid": "64b7f0c2a1b2c3d4e5f60718",
                   "big": 1_700_000_000_000_i64, "frac": 0.25, "nan": null})
        );
    }

    #[test]
    fn dates_convert_both_ways_at_millisecond_precision() {
        let t = time::macros::datetime!(2026-11-23 10:46:45.178_9 UTC);
        let d = bson_date(t);
        assert_eq!(d.timestamp_millis(), 1_795_430_805_178);
        assert_eq!(
            iso_from_millis(d.timestamp_millis()),
            "2026-11-23T10:46:45.178Z"
        );
        assert_eq!(datetime_from_millis(i64::MAX).year(), 9999);
    }
}
