//! Compatibility with the Node stores: documents written by the real connect-mongo 6.0.0
//! (captured in fixtures/node/vectors.json by fixtures/node/generate.mjs) load, Tessera's
//! documents have connect-mongo's shape, connect-mongodb-session's embedded shape loads,
//! and connect-mongo's `createWebCryptoAdapter` ciphertexts decrypt.

mod common;

use common::*;
use serde_json::{Value, json};
use tessera::{Record, SaveOutcome, SessionId, SessionStore};
use tessera_mongo::mongodb::Collection;
use tessera_mongo::mongodb::bson::{Bson, DateTime, Document, doc};
use tessera_mongo::{MongoStore, SessionFormat, WebCryptoAdapter};
use time::OffsetDateTime;

const VECTORS: &str = include_str!("fixtures/node/vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("vectors.json is JSON")
}

/// The document connect-mongo's `set` wrote (`$set` of the captured `updateOne`).
fn node_document(kind: &str) -> Document {
    let v = vectors();
    let set = v["set"][kind]["update"]["$set"].clone();
    let Bson::Document(d) = Bson::try_from(set).expect("extended JSON") else {
        panic!("$set is not a document")
    };
    d
}

fn sid() -> SessionId {
    SessionId::parse(vectors()["sid"].as_str().unwrap()).unwrap()
}

fn expected_data() -> serde_json::Map<String, Value> {
    let Value::Object(mut m) =
        serde_json::from_str(vectors()["session_json"].as_str().unwrap()).unwrap()
    else {
        panic!()
    };
    m.shift_remove("cookie");
    m
}

/// The adapter for the vectors' secret with connect-mongo's defaults (310 000 PBKDF2
/// rounds: derived once per test binary, it is slow in debug builds).
fn node_adapter() -> WebCryptoAdapter {
    static ADAPTER: std::sync::OnceLock<WebCryptoAdapter> = std::sync::OnceLock::new();
    ADAPTER
        .get_or_init(|| {
            WebCryptoAdapter::new(vectors()["webcrypto"]["secret"].as_str().unwrap()).unwrap()
        })
        .clone()
}

fn node_expiry() -> OffsetDateTime {
    time::macros::datetime!(2099-01-01 10:46:45.178 UTC)
}

// --- No server needed -------------------------------------------------------------------

#[test]
fn decrypts_connect_mongo_webcrypto_vector_with_default_parameters() {
    let v = vectors();
    let w = &v["webcrypto"];
    assert_eq!(w["salt"], json!("connect-mongo:webcrypto-default-salt"));
    assert_eq!(w["iterations"], json!(310000));
    let adapter = node_adapter();
    let plain = adapter.decrypt(w["ciphertext"].as_str().unwrap()).unwrap();
    assert_eq!(plain, v["session_json"].as_str().unwrap());
    // Round trip with the same adapter; and the Node document's ciphertext too.
    let again = adapter.encrypt(&plain).unwrap();
    assert_ne!(again, w["ciphertext"].as_str().unwrap(), "fresh IV");
    assert_eq!(adapter.decrypt(&again).unwrap(), plain);
    let doc = node_document("encrypted");
    assert_eq!(
        adapter.decrypt(doc.get_str("session").unwrap()).unwrap(),
        plain
    );
    // A wrong secret is an authentication failure, not garbage.
    let wrong = WebCryptoAdapter::new("another secret").unwrap();
    assert!(wrong.decrypt(w["ciphertext"].as_str().unwrap()).is_err());
}

#[test]
fn decrypts_connect_mongo_webcrypto_vector_with_custom_salt_and_iterations() {
    let v = vectors();
    let w = &v["webcrypto_custom"];
    let adapter = WebCryptoAdapter::with_params(
        w["secret"].as_str().unwrap(),
        w["salt"].as_str().unwrap().as_bytes(),
        u32::try_from(w["iterations"].as_u64().unwrap()).unwrap(),
    )
    .unwrap();
    let plain = adapter.decrypt(w["ciphertext"].as_str().unwrap()).unwrap();
    assert_eq!(plain, v["session_json"].as_str().unwrap());
    let default = node_adapter();
    assert!(default.decrypt(w["ciphertext"].as_str().unwrap()).is_err());
}

#[test]
fn connect_mongo_creates_the_same_ttl_index() {
    let v = vectors();
    let idx = &v["set"]["stringify"]["index"];
    assert_eq!(idx["keys"], json!({"expires": 1}));
    assert_eq!(idx["options"]["expireAfterSeconds"], json!(0));
    assert_eq!(v["set"]["stringify"]["upsert"], json!(true));
}

// --- Against the server -----------------------------------------------------------------

#[tokio::test]
async fn connect_mongo_string_document_loads_saves_and_keeps_its_shape() {
    let Some(fresh) = fresh("node_string").await else {
        return;
    };
    let raw = fresh.raw();
    raw.insert_one(node_document("stringify")).await.unwrap();
    let r = fresh
        .store
        .load(&sid())
        .await
        .unwrap()
        .expect("Node session loads");
    assert_eq!(r.data, expected_data());
    assert_ne!(r.version, 0, "a token derived from the stored session");
    assert_eq!(r.cookie.original_max_age, Some(86_400_000));
    assert_eq!(r.cookie.expires, Some(node_expiry()));
    assert_eq!(r.cookie.http_only, Some(true));
    assert_eq!(r.expires_at, node_expiry());

    // A Tessera save of the Node document is conditional too (on its exact session value
    // and "no version yet").
    let mut w = r.clone();
    w.data.insert("visits".into(), json!(4));
    let SaveOutcome::Saved(_) = fresh.store.save(&w).await.unwrap() else {
        panic!("save of a Node document")
    };
    assert_eq!(fresh.store.save(&r).await.unwrap(), SaveOutcome::Conflict);

    let d = raw
        .find_one(doc! {"_id": sid().as_str()})
        .await
        .unwrap()
        .unwrap();
    let session: Value = serde_json::from_str(d.get_str("session").unwrap()).unwrap();
    assert_eq!(session["visits"], json!(4));
    assert_eq!(
        session
            .as_object()
            .unwrap()
            .keys()
            .next()
            .map(String::as_str),
        Some("cookie"),
        "cookie stays first, as express-session writes it"
    );
    assert!(d.get_datetime("expires").is_ok());
    fresh.drop_collection().await;
}

#[tokio::test]
async fn connect_mongo_stringify_false_document_loads() {
    let Some(fresh) = fresh("node_embedded").await else {
        return;
    };
    fresh
        .raw()
        .insert_one(node_document("stringify_false"))
        .await
        .unwrap();
    let r = fresh.store.load(&sid()).await.unwrap().expect("loads");
    assert_eq!(r.data, expected_data());
    assert_eq!(r.cookie.expires, Some(node_expiry()));
    assert_eq!(r.cookie.path.as_deref(), Some("/"));
    assert_eq!(
        r.cookie.same_site, None,
        "null cookie fields read as absent"
    );
    fresh.drop_collection().await;
}

#[tokio::test]
async fn connect_mongodb_session_embedded_document_loads_and_expired_ones_do_not() {
    let Some(fresh) = fresh("cms_embedded").await else {
        return;
    };
    let raw = fresh.raw();
    let exp = tessera_mongo::mongodb::bson::DateTime::from_millis(4_102_444_800_000); // 2100
    // connect-mongodb-session 5.0.0's shape (research §2.6): session is a BSON object.
    raw.insert_one(doc! {
        "_id": "OZwPLOA2d-6kdBLsfPtneTZHD5JhMFiy",
        "session": { "cookie": { "originalMaxAge": 86_400_000, "expires": exp,
                                 "httpOnly": true, "path": "/" },
                     "user": "John Doe" },
        "expires": exp,
    })
    .await
    .unwrap();
    let past = tessera_mongo::mongodb::bson::DateTime::from_millis(1_000_000_000_000); // 2001
    raw.insert_one(doc! {
        "_id": "expiredexpiredexpiredexpired0000",
        "session": { "cookie": { "originalMaxAge": 1, "expires": past }, "user": "x" },
        "expires": past,
    })
    .await
    .unwrap();
    let id = SessionId::parse("OZwPLOA2d-6kdBLsfPtneTZHD5JhMFiy").unwrap();
    let r = fresh.store.load(&id).await.unwrap().expect("loads");
    assert_eq!(r.data["user"], json!("John Doe"));
    assert_eq!(r.cookie.original_max_age, Some(86_400_000));
    assert_eq!(
        r.cookie.expires,
        Some(time::macros::datetime!(2100-01-01 0:00 UTC))
    );
    let expired = SessionId::parse("expiredexpiredexpiredexpired0000").unwrap();
    assert!(
        fresh.store.load(&expired).await.unwrap().is_none(),
        "expired before the TTL monitor removes it"
    );
    assert!(
        !fresh
            .store
            .touch(&expired, OffsetDateTime::now_utc())
            .await
            .unwrap()
    );
    assert_eq!(fresh.store.count().await.unwrap(), 1);
    fresh.drop_collection().await;
}

#[tokio::test]
async fn tessera_documents_have_connect_mongo_shape() {
    let Some(fresh) = fresh("shape").await else {
        return;
    };
    let mut r = tessera::testkit::record(Some("42"), std::time::Duration::from_secs(3600));
    r.cookie.original_max_age = Some(3_600_000);
    r.cookie.expires = Some(r.expires_at);
    fresh.store.create(&r).await.unwrap();
    let d = fresh
        .raw()
        .find_one(doc! {"_id": r.id.as_str()})
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        d.keys().map(String::as_str).collect::<Vec<_>>(),
        ["_id", "session", "expires", "user", "version"]
    );
    // What connect-mongo's get does: JSON.parse(doc.session), and express needs `cookie`.
    let session: Value = serde_json::from_str(d.get_str("session").unwrap()).unwrap();
    assert_eq!(session["cookie"]["originalMaxAge"], json!(3_600_000));
    assert_eq!(
        session["cookie"]["expires"],
        json!(tessera::store_support::iso_ms(r.expires_at))
    );
    assert_eq!(session["user"], r.data["user"]);
    let exp = d.get_datetime("expires").unwrap();
    assert_eq!(
        i128::from(exp.timestamp_millis()),
        r.expires_at.unix_timestamp_nanos() / 1_000_000
    );
    assert_eq!(d.get_str("user").unwrap(), "42");
    assert!(matches!(d.get("version"), Some(Bson::Int64(_))));

    // Indexes: connect-mongo's TTL index, and ours on `user`.
    let names = fresh.store.index_names().await.unwrap();
    assert!(names.contains(&"expires_1".to_owned()), "{names:?}");
    assert!(names.contains(&"user_1".to_owned()), "{names:?}");
    let mut cursor = fresh.raw().list_indexes().await.unwrap();
    let mut ttl = None;
    while cursor.advance().await.unwrap() {
        let m = cursor.deserialize_current().unwrap();
        if m.keys == doc! {"expires": 1} {
            ttl = m.options.and_then(|o| o.expire_after);
        }
    }
    assert_eq!(ttl, Some(std::time::Duration::ZERO));

    // The Node document format round-trips through a Node-style parse of the whole JSON.
    let back = Record::from_json(
        r.id.clone(),
        d.get_str("session").unwrap(),
        tessera::StoredMeta::new(r.expires_at, 0).read_at(r.created_at),
    )
    .unwrap();
    assert_eq!(back.data, r.data);
    fresh.drop_collection().await;
}

#[tokio::test]
async fn embedded_format_writes_connect_mongodb_session_shape() {
    let Some(fresh) = fresh_with("shape_embedded", with_format(SessionFormat::Embedded)).await
    else {
        return;
    };
    let mut r = tessera::testkit::record(None, std::time::Duration::from_secs(3600));
    r.cookie.original_max_age = Some(3_600_000);
    r.cookie.expires = Some(r.expires_at);
    fresh.store.create(&r).await.unwrap();
    let d = fresh
        .raw()
        .find_one(doc! {"_id": r.id.as_str()})
        .await
        .unwrap()
        .unwrap();
    let s = d.get_document("session").unwrap();
    let c = s.get_document("cookie").unwrap();
    assert_eq!(
        c.get_datetime("expires").unwrap(),
        d.get_datetime("expires").unwrap()
    );
    assert_eq!(s.get_document("user").unwrap().get_str("id").unwrap(), "7");
    assert!(d.get("user").is_none(), "no user bound");
    fresh.drop_collection().await;
}

#[tokio::test]
async fn encrypted_store_reads_node_encrypted_documents_and_round_trips() {
    let Some(uri) = mongo_uri() else {
        return;
    };
    let name = unique("encrypted");
    let store = builder(&uri, &name)
        .encryption(node_adapter())
        .build()
        .await
        .unwrap();
    let raw = store.collection().clone();
    raw.insert_one(node_document("encrypted")).await.unwrap();
    let r = store
        .load(&sid())
        .await
        .unwrap()
        .expect("Node's encrypted session loads");
    assert_eq!(r.data, expected_data());

    // Our writes are encrypted and decrypt with connect-mongo's algorithm.
    let mut w = r.clone();
    w.data.insert("visits".into(), json!(5));
    assert!(matches!(
        store.save(&w).await.unwrap(),
        SaveOutcome::Saved(_)
    ));
    let d = raw
        .find_one(doc! {"_id": sid().as_str()})
        .await
        .unwrap()
        .unwrap();
    let sealed = d.get_str("session").unwrap();
    assert!(!sealed.contains("visits"), "stored encrypted");
    let plain = node_adapter().decrypt(sealed).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&plain).unwrap()["visits"],
        json!(5)
    );
    assert_eq!(
        store.load(&sid()).await.unwrap().unwrap().data["visits"],
        json!(5)
    );

    // The same collection read without the key (or with another) is a decode error.
    let other: MongoStore = builder(&uri, &name)
        .encryption(WebCryptoAdapter::with_params("wrong secret", b"s", 1).unwrap())
        .create_indexes(false)
        .build()
        .await
        .unwrap();
    assert!(matches!(
        other.load(&sid()).await,
        Err(tessera::StoreError::Decode(_))
    ));
    raw.drop().await.unwrap();
}

#[tokio::test]
async fn index_creation_is_idempotent_concurrent_and_accepts_connect_mongos_index() {
    let Some(uri) = mongo_uri() else {
        return;
    };
    let name = unique("indexes");
    let client = raw_client().await.unwrap();
    let coll = client.database(DB).collection::<Document>(&name);
    // connect-mongo got there first, with its options.
    client
        .database(DB)
        .run_command(doc! {
            "createIndexes": &name,
            "indexes": [{ "key": {"expires": 1}, "name": "expires_1",
                          "background": true, "expireAfterSeconds": 0 }],
        })
        .await
        .unwrap();
    let builds = (0..4).map(|_| builder(&uri, &name).build());
    let stores: Vec<_> = futures_join_all(builds).await;
    for s in &stores {
        assert!(s.is_ok(), "{s:?}");
    }
    stores[0].as_ref().unwrap().ensure_indexes().await.unwrap();
    coll.drop().await.unwrap();
}

async fn futures_join_all<F: std::future::Future + Send + 'static>(
    futs: impl Iterator<Item = F>,
) -> Vec<F::Output>
where
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futs.map(tokio::spawn).collect();
    let mut out = Vec::new();
    for h in handles {
        out.push(h.await.unwrap());
    }
    out
}

/// connect-mongo's `set`: `updateOne({_id}, {$set: {session, expires}}, {upsert: true})`
/// (it leaves Tessera's `version` alone).
async fn connect_mongo_set(raw: &Collection<Document>, id: &SessionId, session: Bson) {
    let expires = tessera::testkit::now() + std::time::Duration::from_secs(3600);
    raw.update_one(
        doc! {"_id": id.as_str()},
        doc! {"$set": {"session": session, "expires": DateTime::from_millis((expires.unix_timestamp_nanos() / 1_000_000) as i64)}},
    )
    .upsert(true)
    .await
    .unwrap();
}

/// Node reads the session, adds "apple" to `cart` and writes it back in the same shape.
async fn node_adds_cart(raw: &Collection<Document>, id: &SessionId) {
    let d = raw
        .find_one(doc! {"_id": id.as_str()})
        .await
        .unwrap()
        .unwrap();
    let session = match d.get("session").unwrap().clone() {
        Bson::String(s) => {
            let mut v: Value = serde_json::from_str(&s).unwrap();
            let mut cart = v["cart"].as_array().cloned().unwrap_or_default();
            cart.push(json!("apple"));
            v["cart"] = Value::Array(cart);
            Bson::String(v.to_string())
        }
        Bson::Document(mut e) => {
            let mut cart = e.get_array("cart").cloned().unwrap_or_default();
            cart.push(Bson::String("apple".into()));
            e.insert("cart", cart);
            Bson::Document(e)
        }
        other => panic!("unexpected session {other:?}"),
    };
    connect_mongo_set(raw, id, session).await;
}

/// A connect-mongo `touch`: `updateOne({_id}, {$set: {expires}})`.
async fn connect_mongo_touch(raw: &Collection<Document>, id: &SessionId) {
    let later = tessera::testkit::now() + std::time::Duration::from_secs(7200);
    raw.update_one(
        doc! {"_id": id.as_str()},
        doc! {"$set": {"expires": DateTime::from_millis((later.unix_timestamp_nanos() / 1_000_000) as i64)}},
    )
    .await
    .unwrap();
}

async fn node_write_since_the_load_conflicts(format: SessionFormat) {
    let Some(fresh) = fresh_with("node_race", with_format(format)).await else {
        return;
    };
    let (store, raw) = (&fresh.store, fresh.raw());

    // A Tessera document, written by Node after Tessera loaded it.
    let r = tessera::testkit::record(Some("42"), std::time::Duration::from_secs(600));
    store.create(&r).await.unwrap();
    let loaded = store.load(&r.id).await.unwrap().unwrap();
    node_adds_cart(&raw, &r.id).await;
    let mut mine = loaded.clone();
    mine.data.insert("n".into(), json!(1));
    assert_eq!(store.save(&mine).await.unwrap(), SaveOutcome::Conflict);
    // Also from a store that did not load it (no remembered state: it reads the document).
    let other = builder(&mongo_uri().unwrap(), &fresh.name)
        .format(format)
        .build()
        .await
        .unwrap();
    assert_eq!(other.save(&mine).await.unwrap(), SaveOutcome::Conflict);
    let again = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(
        again.data["cart"],
        json!(["apple"]),
        "Node's write is intact"
    );
    let mut mine = again.clone();
    mine.data.insert("n".into(), json!(1));
    let SaveOutcome::Saved(v) = store.save(&mine).await.unwrap() else {
        panic!("a save after a reload succeeds")
    };
    let got = other.load(&r.id).await.unwrap().unwrap();
    assert_eq!(got.version, v, "every store computes the same token");
    assert_eq!(
        (got.data["n"].clone(), got.data["cart"].clone()),
        (json!(1), json!(["apple"]))
    );

    // A connect-mongo touch (expires only) keeps the token: no conflict.
    connect_mongo_touch(&raw, &r.id).await;
    assert_eq!(store.load(&r.id).await.unwrap().unwrap().version, v);
    let mut next = got.clone();
    next.data.insert("n".into(), json!(2));
    let SaveOutcome::Saved(v2) = other.save(&next).await.unwrap() else {
        panic!("a save after a Node touch succeeds")
    };
    // A Tessera touch neither.
    assert!(
        store
            .touch(
                &r.id,
                tessera::testkit::now() + std::time::Duration::from_secs(9000)
            )
            .await
            .unwrap()
    );
    let mut next = store.load(&r.id).await.unwrap().unwrap();
    assert_eq!(next.version, v2);
    next.data.insert("n".into(), json!(3));
    assert!(matches!(
        store.save(&next).await.unwrap(),
        SaveOutcome::Saved(_)
    ));

    // A document Node created (no version), written by Node again after the load (the
    // copied session already has a cart: Node adds a second apple).
    let node_id = SessionId::generate();
    let session = raw
        .find_one(doc! {"_id": r.id.as_str()})
        .await
        .unwrap()
        .unwrap()
        .get("session")
        .unwrap()
        .clone();
    connect_mongo_set(&raw, &node_id, session).await;
    let loaded = store.load(&node_id).await.unwrap().unwrap();
    node_adds_cart(&raw, &node_id).await;
    assert_eq!(store.save(&loaded).await.unwrap(), SaveOutcome::Conflict);
    let again = store.load(&node_id).await.unwrap().unwrap();
    assert!(matches!(
        store.save(&again).await.unwrap(),
        SaveOutcome::Saved(_)
    ));
    fresh.drop_collection().await;
}

#[tokio::test]
async fn a_connect_mongo_write_since_the_load_is_a_conflict_string_shape() {
    node_write_since_the_load_conflicts(SessionFormat::Json).await;
}

#[tokio::test]
async fn a_connect_mongo_write_since_the_load_is_a_conflict_embedded_shape() {
    node_write_since_the_load_conflicts(SessionFormat::Embedded).await;
}
