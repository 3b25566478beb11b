//! The engine's metrics carry the right values: a local `metrics` recorder counts what one
//! scripted sequence of requests records.

mod common;

use common::*;
use metrics::{
    Counter, CounterFn, Gauge, Histogram, HistogramFn, Key, KeyName, Metadata, Recorder,
    SharedString, Unit,
};
use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use tessera::{Engine, RequestParts, SessionStore, metric_names as names};

/// Counter values and histogram sample counts by `name{label=value,…}`.
#[derive(Default)]
struct Tally(Mutex<BTreeMap<String, u64>>);

struct Cell(Arc<Tally>, String);

impl CounterFn for Cell {
    fn increment(&self, n: u64) {
        *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() += n;
    }
    fn absolute(&self, n: u64) {
        self.0.0.lock().unwrap().insert(self.1.clone(), n);
    }
}

impl HistogramFn for Cell {
    fn record(&self, _: f64) {
        *self.0.0.lock().unwrap().entry(self.1.clone()).or_default() += 1;
    }
}

#[derive(Default, Clone)]
struct Local(Arc<Tally>);

fn name(key: &Key) -> String {
    let labels: Vec<String> = key
        .labels()
        .map(|l| format!("{}={}", l.key(), l.value()))
        .collect();
    if labels.is_empty() {
        key.name().to_owned()
    } else {
        format!("{}{{{}}}", key.name(), labels.join(","))
    }
}

impl Recorder for Local {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        Counter::from_arc(Arc::new(Cell(Arc::clone(&self.0), name(key))))
    }
    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }
    fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::from_arc(Arc::new(Cell(Arc::clone(&self.0), name(key))))
    }
}

async fn request(
    engine: &Engine,
    cookie: Option<&str>,
    f: impl AsyncFnOnce(&tessera::Session),
) -> Option<String> {
    let s = engine.begin(RequestParts::new("/").cookie(cookie)).unwrap();
    f(&s).await;
    let done = engine.finish(&s, 200).await;
    done.set_cookie().map(|c| {
        c.split(';')
            .next()
            .unwrap()
            .split_once('=')
            .unwrap()
            .1
            .to_owned()
    })
}

#[test]
fn every_metric_counts_what_happened() {
    let local = Local::default();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&local, || {
        rt.block_on(async {
            let store = Counting::default();
            let engine = Engine::new(store.clone(), config().build().unwrap());
            // Create, then two reads, then an update.
            let cookie = request(&engine, None, async |s| s.insert("a", 1).await.unwrap())
                .await
                .expect("cookie");
            for _ in 0..2 {
                request(&engine, Some(&cookie), async |s| {
                    s.get::<u64>("a").await.unwrap();
                })
                .await;
            }
            // A write by "another instance" after the load: one conflict, then saved.
            request(&engine, Some(&cookie), async |s| {
                let id = s.id().await.unwrap();
                let mut r = store.load(&id).await.unwrap().unwrap();
                r.data.insert("other".into(), serde_json::json!(true));
                store.inner.save(&r).await.unwrap();
                s.insert("a", 2).await.unwrap();
            })
            .await;
            // A failing load.
            store.fail.store(true, Ordering::SeqCst);
            request(&engine, Some(&cookie), async |s| {
                assert!(s.get::<u64>("a").await.is_err());
            })
            .await;
            store.fail.store(false, Ordering::SeqCst);
            request(&engine, Some(&cookie), async |s| s.destroy().await.unwrap()).await;
        })
    });
    let got = local.0.0.lock().unwrap().clone();
    let get = |k: &str| got.get(k).copied().unwrap_or(0);
    assert_eq!(get(names::CREATED), 1, "{got:?}");
    // Two reads and the update's load (the destroy deletes without loading; the failed load
    // and the conflict's reload are not sessions loaded for a request).
    assert_eq!(get(names::LOADED), 3, "{got:?}");
    assert_eq!(get(names::SAVED), 1, "{got:?}");
    assert_eq!(get(names::CONFLICTS), 1, "{got:?}");
    assert_eq!(
        get(&format!("{}{{reason=destroy}}", names::DESTROYED)),
        1,
        "{got:?}"
    );
    assert_eq!(
        get(&format!(
            "{}{{op=load,kind=unavailable}}",
            names::STORE_ERRORS
        )),
        1,
        "{got:?}"
    );
    assert_eq!(
        get(&format!("{}{{op=create}}", names::STORE_LATENCY)),
        1,
        "{got:?}"
    );
    // The conflicting save and the replayed one.
    assert_eq!(
        get(&format!("{}{{op=save}}", names::STORE_LATENCY)),
        2,
        "{got:?}"
    );
    assert_eq!(
        get(&format!("{}{{op=delete}}", names::STORE_LATENCY)),
        1,
        "{got:?}"
    );
    // Loads: two reads, the update, its conflict reload, the failed one.
    assert_eq!(
        get(&format!("{}{{op=load}}", names::STORE_LATENCY)),
        5,
        "{got:?}"
    );
}
