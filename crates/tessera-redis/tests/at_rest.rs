//! Optional at-rest protection: ids hashed in key names, and AES-256-GCM encrypted values
//! with key rotation (feature `encryption`).

mod common;

use common::*;
use redis::AsyncCommands;
use std::time::Duration;
use tessera::SessionStore;
use tessera_redis::HASHED_ID_MARK;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashed_ids_keep_ids_and_user_names_out_of_key_names() {
    let Some(target) = Target::single().await else {
        return;
    };
    let fresh = Fresh::new(&target, |b| b.hash_ids(true)).await;
    let store = &fresh.store;
    let r = tessera::testkit::record(Some("alice"), Duration::from_secs(3600));
    store.create(&r).await.unwrap();
    let key = store.session_key(&r.id);
    assert!(!key.contains(r.id.as_str()));
    assert!(!store.user_key("alice").contains("alice"));
    let mut c = raw(&target).await;
    let exists: bool = c.exists(&key).await.unwrap();
    assert!(exists);
    // Listing reports marked hashes; they work for load and delete.
    let listed = store.list_by_user("alice").await.unwrap();
    assert_eq!(listed.len(), 1);
    let id = &listed[0].id;
    assert!(id.as_str().starts_with(HASHED_ID_MARK));
    assert_eq!(store.session_key(id), key);
    assert!(store.load(id).await.unwrap().is_some());
    // So does scan.
    let scanned = tessera::testkit::scan_all(store, 10).await;
    assert_eq!(scanned.iter().map(|r| &r.id).collect::<Vec<_>>(), [id]);
    assert_eq!(scanned[0].data, r.data);
    assert_eq!(store.delete_by_user("alice", Some(id)).await.unwrap(), 0);
    assert!(store.delete(id).await.unwrap());
    assert!(store.load(&r.id).await.unwrap().is_none());
    fresh.cleanup().await;
}

#[cfg(feature = "encryption")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encrypted_values_rotate_keys_and_track_user_changes() {
    use tessera::SaveOutcome;
    use tessera_redis::Keyring;
    let Some(target) = Target::single().await else {
        return;
    };
    let old = Keyring::new("k1", [1; 32]).unwrap();
    let fresh = Fresh::new(&target, |b| b.encryption(old)).await;
    let mut r = tessera::testkit::record(Some("alice"), Duration::from_secs(3600));
    r.data
        .insert("secret".into(), serde_json::json!("do not store in clear"));
    fresh.store.create(&r).await.unwrap();
    let key = fresh.store.session_key(&r.id);
    let mut c = raw(&target).await;
    let stored: String = c.get(&key).await.unwrap();
    assert!(stored.starts_with("tsr1:k1:"), "{stored}");
    assert!(!stored.contains("do not store"));

    // A store rotated to k2 (k1 kept for reading) loads it and rewrites it under k2.
    let ring = Keyring::new("k2", [2; 32])
        .unwrap()
        .with_old_key("k1", [1; 32])
        .unwrap();
    let rotated = target
        .builder()
        .prefix(&fresh.prefix)
        .encryption(ring)
        .build()
        .await
        .unwrap();
    let mut loaded = rotated.load(&r.id).await.unwrap().unwrap();
    assert_eq!(loaded.data["secret"], "do not store in clear");
    // Rebinding to bob goes through the user index even though the script cannot decrypt.
    loaded.user = Some("bob".into());
    assert!(matches!(
        rotated.save(&loaded).await.unwrap(),
        SaveOutcome::Saved(_)
    ));
    let stored: String = c.get(&key).await.unwrap();
    assert!(stored.starts_with("tsr1:k2:"), "{stored}");
    assert_eq!(rotated.list_by_user("bob").await.unwrap().len(), 1);
    assert!(rotated.list_by_user("alice").await.unwrap().is_empty());

    // Without k2 the value cannot be read: a decode error, not a silent miss.
    let only_old = target
        .builder()
        .prefix(&fresh.prefix)
        .encryption(Keyring::new("k1", [1; 32]).unwrap())
        .build()
        .await
        .unwrap();
    let res = only_old.load(&r.id).await;
    assert!(
        matches!(res, Err(tessera::StoreError::Decode(_))),
        "{res:?}"
    );
    // Nor without any keyring.
    let plain = target
        .builder()
        .prefix(&fresh.prefix)
        .build()
        .await
        .unwrap();
    assert!(matches!(
        plain.load(&r.id).await,
        Err(tessera::StoreError::Decode(_))
    ));
    fresh.cleanup().await;
}
