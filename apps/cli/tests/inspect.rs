//! `count`, `list`, `show`, `revoke` and `purge-expired` through the real binary, on every
//! store that outlives a process (SQLite, PostgreSQL, MySQL/MariaDB, Redis, Redis Cluster,
//! MongoDB).

mod common;

use common::{Backend, Place, cli, ok, place, record, seed};
use serde_json::Value;
use std::time::Duration;
use tessera::{Record, SessionStore};

const HOUR: Duration = Duration::from_secs(3600);

fn json(out: &str) -> Value {
    serde_json::from_str(out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
}

async fn scenario(p: Place) {
    let url = p.url.as_str();
    let mut records: Vec<Record> = (0..3).map(|n| record(Some("ana"), n, HOUR)).collect();
    records.extend((3..5).map(|n| record(Some("bo"), n, HOUR)));
    records.push(record(None, 5, HOUR));
    seed(&p.store, records.clone(), 4).await;

    // count: the number alone.
    assert_eq!(ok(cli(&["--store", url, "count"])).trim(), "6");

    // list --json: every session, no ids, the documented fields.
    let out = ok(cli(&["--store", url, "list", "--json"]));
    for r in &records {
        assert!(
            !out.contains(r.id.as_str()),
            "an id was printed without --show-ids"
        );
    }
    let list = json(&out);
    let items = list.as_array().expect("array");
    assert_eq!(items.len(), 6);
    for r in &records {
        let item = items
            .iter()
            .find(|i| i["tag"] == r.id.log_tag())
            .unwrap_or_else(|| panic!("session {} missing", r.id.log_tag()));
        assert_eq!(item["user"].as_str(), r.user.as_deref());
        assert_eq!(
            item["created_at"],
            tessera::store_support::iso_ms(r.created_at)
        );
        assert!(item["expires_at"].is_string() && item["last_seen_at"].is_string());
        assert!(item["bytes"].as_u64().is_some_and(|b| b > 50));
        assert!(item.get("id").is_none());
    }

    // list --user, --limit, the table form and --show-ids.
    let ana = json(&ok(cli(&[
        "--store", url, "list", "--user", "ana", "--json",
    ])));
    assert_eq!(ana.as_array().map(Vec::len), Some(3));
    assert!(ana.as_array().unwrap().iter().all(|i| i["user"] == "ana"));
    let table = ok(cli(&["--store", url, "list", "--limit", "2"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "header + 2 rows: {table}");
    assert!(lines[0].starts_with("TAG"));
    let with_ids = ok(cli(&["--store", url, "list", "--show-ids"]));
    assert!(records.iter().all(|r| with_ids.contains(r.id.as_str())));

    // show by tag and by id.
    let first = &records[0];
    let shown = json(&ok(cli(&[
        "--store",
        url,
        "show",
        &first.id.log_tag(),
        "--json",
    ])));
    assert_eq!(shown["data"], Value::Object(first.data.clone()));
    assert_eq!(shown["user"], "ana");
    assert!(shown.get("id").is_none());
    let text = ok(cli(&["--store", url, "show", first.id.as_str()]));
    assert!(text.contains("SKU-0") && text.contains("ana"), "{text}");
    let missing = cli(&["--store", url, "show", "00000000"]);
    assert_eq!(missing.code, 1, "{missing:?}");
    assert_eq!(missing.stderr.lines().count(), 1, "{missing:?}");

    // revoke --user prints how many; revoke --id one session by tag.
    assert_eq!(
        ok(cli(&["--store", url, "revoke", "--user", "ana"])).trim(),
        "3"
    );
    for r in &records[..3] {
        assert!(p.store.load(&r.id).await.expect("load").is_none());
    }
    assert_eq!(
        ok(cli(&[
            "--store",
            url,
            "revoke",
            "--id",
            &records[3].id.log_tag()
        ]))
        .trim(),
        "1"
    );
    assert!(p.store.load(&records[3].id).await.expect("load").is_none());
    assert!(p.store.load(&records[4].id).await.expect("load").is_some());
    assert_eq!(ok(cli(&["--store", url, "count"])).trim(), "2");

    // purge-expired: SQL stores keep expired rows until purged; the others expire natively.
    let native = matches!(
        p.backend,
        Backend::Redis | Backend::Cluster | Backend::Mongo
    );
    if !native {
        let mut old = record(Some("cy"), 9, HOUR);
        old.expires_at = tessera::testkit::now() - Duration::from_secs(60);
        p.store.create(&old).await.expect("create an expired row");
        assert_eq!(ok(cli(&["--store", url, "purge-expired"])).trim(), "1");
        assert_eq!(ok(cli(&["--store", url, "purge-expired"])).trim(), "0");
    } else {
        let n = ok(cli(&["--store", url, "purge-expired"]));
        assert!(n.trim().parse::<u64>().is_ok(), "{n}");
    }
    assert_eq!(ok(cli(&["--store", url, "count"])).trim(), "2");
}

/// Ids are base64url: one in 64 starts with `-`, which must not read as a flag.
#[tokio::test]
async fn ids_starting_with_a_dash_are_ids() {
    let Some(p) = place(Backend::Sqlite).await else {
        return;
    };
    let mut r = record(Some("-dash-user"), 1, HOUR);
    r.id = tessera::SessionId::parse("-Wq3xGmYb0p2bqkq5lR1yAJ4v0wzE8yZ").expect("id");
    p.store.create(&r).await.expect("create");
    let shown = ok(cli(&["--store", &p.url, "show", r.id.as_str(), "--json"]));
    assert_eq!(json(&shown)["user"], "-dash-user");
    let listed = ok(cli(&["--store", &p.url, "list", "--user", "-dash-user"]));
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert_eq!(
        ok(cli(&["--store", &p.url, "revoke", "--id", r.id.as_str()])).trim(),
        "1"
    );
}

macro_rules! on_every_store {
    ($($name:ident => $backend:expr),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let Some(p) = place($backend).await else { return };
            scenario(p).await;
        }
    )*};
}

on_every_store! {
    sqlite => Backend::Sqlite,
    postgres => Backend::Postgres,
    mysql => Backend::MySql,
    redis => Backend::Redis,
    redis_cluster => Backend::Cluster,
    mongodb => Backend::Mongo,
}
