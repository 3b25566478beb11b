//! Redis Sentinel: the store finds the master through Sentinel, passes the conformance
//! suite there, and follows a failover without being rebuilt. Each test starts its own
//! master, replica and Sentinel on free loopback ports (so a failover never disturbs
//! other tests) and stops them at the end.

mod common;

use common::*;
use redis::aio::MultiplexedConnection;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tessera::{Record, SessionId, SessionStore};
use time::OffsetDateTime;

const MASTER: &str = "tessera-test";

/// A master, its replica and one Sentinel (quorum 1), killed on drop.
struct Group {
    ports: [u16; 3],
    dir: PathBuf,
    children: Vec<Child>,
}

fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

async fn conn(port: u16) -> MultiplexedConnection {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}")).unwrap();
    for _ in 0..200 {
        if let Ok(c) = client.get_multiplexed_async_connection().await {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("nothing answers on port {port}");
}

/// Polls `f` every 100 ms until it returns `Some`, for at most `secs` seconds.
async fn wait_for<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

impl Group {
    async fn start() -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            return tessera::testkit::skip("redis-server is not installed");
        }
        let ports = [free_port(), free_port(), free_port()];
        let dir = std::env::temp_dir().join(format!(
            "tessera-sentinel-{}-{}",
            std::process::id(),
            ports[2]
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let mut g = Self {
            ports,
            dir,
            children: Vec::new(),
        };
        let [m, r, s] = ports;
        g.spawn(&["--port", &m.to_string()]);
        g.spawn(&[
            "--port",
            &r.to_string(),
            "--replicaof",
            "127.0.0.1",
            &m.to_string(),
        ]);
        let conf = g.dir.join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "port {s}\nbind 127.0.0.1\ndir {}\n\
                 sentinel monitor {MASTER} 127.0.0.1 {m} 1\n\
                 sentinel down-after-milliseconds {MASTER} 1000\n\
                 sentinel failover-timeout {MASTER} 3000\n",
                g.dir.display()
            ),
        )
        .unwrap();
        let child = Command::new("redis-server")
            .arg(&conf)
            .arg("--sentinel")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-sentinel");
        g.children.push(child);
        // The replica has synced, and Sentinel knows it (it learns replicas from the
        // master's INFO, every few seconds), so a failover can promote it.
        let replica = conn(r).await;
        wait_for(20, "the replica to sync", || {
            let mut c = replica.clone();
            async move {
                let info: String = redis::cmd("INFO")
                    .arg("replication")
                    .query_async(&mut c)
                    .await
                    .ok()?;
                info.contains("master_link_status:up").then_some(())
            }
        })
        .await;
        let sentinel = conn(s).await;
        wait_for(30, "Sentinel to see the replica as promotable", || {
            let mut c = sentinel.clone();
            async move {
                let replicas: Vec<std::collections::HashMap<String, String>> =
                    redis::cmd("SENTINEL")
                        .arg("REPLICAS")
                        .arg(MASTER)
                        .query_async(&mut c)
                        .await
                        .ok()?;
                // Connected to it and seeing its link to the master up: promotable.
                replicas
                    .iter()
                    .any(|r| {
                        r.get("flags").map(String::as_str) == Some("slave")
                            && r.get("master-link-status").map(String::as_str) == Some("ok")
                    })
                    .then_some(())
            }
        })
        .await;
        Some(g)
    }

    fn spawn(&mut self, args: &[&str]) {
        let child = redis_server(args, &self.dir);
        self.children.push(child);
    }

    fn sentinel_url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.ports[2])
    }

    async fn store(&self) -> tessera_redis::RedisStore {
        self.store_with(0).await
    }

    /// A store through Sentinel with a near cache of `near` entries (0: none).
    async fn store_with(&self, near: usize) -> tessera_redis::RedisStore {
        tessera_redis::RedisStore::builder()
            .sentinel([self.sentinel_url()], MASTER)
            .near_cache(near)
            .prefix(unique_prefix())
            .command_timeout(Duration::from_millis(500))
            .build()
            .await
            .expect("store through Sentinel")
    }

    /// The port Sentinel names as master.
    async fn master_port(&self) -> u16 {
        let mut c = conn(self.ports[2]).await;
        let (_, port): (String, u16) = redis::cmd("SENTINEL")
            .arg("GET-MASTER-ADDR-BY-NAME")
            .arg(MASTER)
            .query_async(&mut c)
            .await
            .unwrap();
        port
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The key prefix of `store` (from its key for a sample id).
fn store_prefix(store: &tessera_redis::RedisStore) -> String {
    let id = SessionId::generate();
    let key = store.session_key(&id);
    key.strip_suffix(id.as_str()).expect("plain ids").to_owned()
}

fn record(n: u64) -> Record {
    let now = OffsetDateTime::now_utc();
    let mut r = Record::new(SessionId::generate(), now, now + Duration::from_secs(600));
    r.data.insert("n".into(), n.into());
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_through_sentinel() {
    let Some(group) = Group::start().await else {
        return;
    };
    let store = group.store().await;
    tessera::testkit::run_all(&store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follows_a_failover_without_being_rebuilt() {
    failover(0).await;
}

/// With a near cache: a session cached before the failover and changed by another
/// process after it is read fresh (the switch to the new master drops the cache).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn near_cache_follows_a_failover_and_serves_nothing_stale() {
    failover(100).await;
}

async fn failover(near: usize) {
    let Some(group) = Group::start().await else {
        return;
    };
    let [m, r, _] = group.ports;
    let store = group.store_with(near).await;
    let before = record(1);
    store.create(&before).await.unwrap();
    if near > 0 {
        store.load(&before.id).await.unwrap().expect("created");
        store.load(&before.id).await.unwrap().expect("created");
        assert_eq!(
            store.near_cache_stats().unwrap().hits,
            1,
            "cached before the failover"
        );
    }
    // Replicated before the failover, so the promoted replica has it.
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(2000)
        .query_async(&mut conn(m).await)
        .await
        .unwrap();
    assert_eq!(acked, 1);

    let _: () = redis::cmd("SENTINEL")
        .arg("FAILOVER")
        .arg(MASTER)
        .query_async(&mut conn(group.ports[2]).await)
        .await
        .expect("SENTINEL FAILOVER");
    wait_for(20, "Sentinel to name the replica master", || async {
        (group.master_port().await == r).then_some(())
    })
    .await;

    // The same store, not rebuilt, moves to the new master within a few seconds. (Until
    // the old master is demoted it still accepts writes, and Redis discards them when it
    // resyncs: Sentinel's asynchronous replication, see the README.)
    let mut new_master = conn(r).await;
    wait_for(
        15,
        "writes through the store to reach the new master",
        || {
            let (store, mut new_master) = (store.clone(), new_master.clone());
            async move {
                let probe = record(2);
                store.create(&probe).await.ok()?;
                let exists: bool = redis::cmd("EXISTS")
                    .arg(store.session_key(&probe.id))
                    .query_async(&mut new_master)
                    .await
                    .ok()?;
                exists.then_some(())
            }
        },
    )
    .await;
    let role: Vec<redis::Value> = redis::cmd("ROLE")
        .query_async(&mut new_master)
        .await
        .unwrap();
    assert_eq!(role[0], redis::Value::BulkString(b"master".to_vec()));
    let expected = if near > 0 {
        // Another process (a plain store on the same prefix) changes the session on the
        // new master.
        let other = tessera_redis::RedisStore::builder()
            .sentinel([group.sentinel_url()], MASTER)
            .prefix(store_prefix(&store))
            .build()
            .await
            .unwrap();
        let mut theirs = other.load(&before.id).await.unwrap().expect("replicated");
        theirs.data.insert("n".into(), 2.into());
        assert!(matches!(
            other.save(&theirs).await.unwrap(),
            tessera::SaveOutcome::Saved(_)
        ));
        2
    } else {
        1
    };
    let loaded = store
        .load(&before.id)
        .await
        .unwrap()
        .expect("replicated session");
    assert_eq!(loaded.data["n"], expected);
    let mut again = loaded.clone();
    again.data.insert("n".into(), 3.into());
    assert!(matches!(
        store.save(&again).await.unwrap(),
        tessera::SaveOutcome::Saved(_)
    ));
}
