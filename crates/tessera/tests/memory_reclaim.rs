//! MemoryStore gives memory back after sessions expire (express's MemoryStore leaks,
//! tower-sessions' never evicts). A counting global allocator measures live heap bytes.
//! `harness = false`: the allocator must see only this test.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::Duration;
use tessera::{Clock, MemoryStore, SessionStore};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);

// SAFETY: delegates to the system allocator, only counting sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        LIVE.fetch_add(new as isize - l.size() as isize, Ordering::Relaxed);
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::SeqCst)
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    rt.block_on(async {
        let clock = Clock::tokio();
        let store = MemoryStore::builder().clock(clock).sweep_interval(Duration::from_secs(30)).build();
        tokio::task::yield_now().await;
        let baseline = live();
        for i in 0..20_000 {
            let mut r = tessera::testkit::record(Some(&format!("user{}", i % 500)), Duration::from_secs(600));
            r.created_at = clock.now();
            r.expires_at = clock.now() + Duration::from_secs(600);
            store.create(&r).await.unwrap();
        }
        let peak = live();
        let grown = peak - baseline;
        assert!(grown > 5_000_000, "20k sessions should take several MB, took {grown} bytes");
        tokio::time::advance(Duration::from_secs(660)).await;
        let mut spins = 0;
        while !store.is_empty() {
            tokio::task::yield_now().await;
            spins += 1;
            assert!(spins < 10_000, "sweep did not run");
        }
        let after = live();
        let left = after - baseline;
        println!("memory_reclaim: baseline {baseline} B, with 20k sessions +{grown} B, after expiry sweep +{left} B");
        assert!(left < grown / 50, "memory not returned: {left} of {grown} bytes still held");
        assert_eq!(store.count().await.unwrap(), 0);
        assert!(store.list_by_user("user1").await.unwrap().is_empty());
    });
    println!("test memory_reclaimed_after_expiry ... ok");
}
