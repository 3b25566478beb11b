//! The near cache's table: a bounded map from key to value with approximate LRU eviction.
//!
//! A linked-list LRU moves a node to the front on every hit, touching two neighbours in
//! memory that a cache of many sessions rarely has in the CPU's caches; on the hot path
//! (a session load) that cost more than the rest of the lookup. Here a hit only stamps a
//! counter in its own slot. When the table is full, [`SAMPLE`] entries picked at random
//! are compared and the least recently used of them goes (what Redis itself does for
//! `maxmemory-policy allkeys-lru`); with at most [`SAMPLE`] entries the choice is exact.
//! Keys are kept once, shared by the map and the vector that random picks index.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::Arc;

/// Entries compared to choose one to evict.
pub(crate) const SAMPLE: usize = 5;

struct Slot<V> {
    value: V,
    /// The tick of the last use.
    used: u64,
    /// Position of the key in `Table::keys`.
    ix: usize,
}

/// A bounded map with approximate LRU eviction (not thread-safe: the cache locks it).
pub(crate) struct Table<V> {
    map: HashMap<Arc<str>, Slot<V>>,
    keys: Vec<Arc<str>>,
    cap: usize,
    tick: u64,
    /// xorshift64 state for the random picks (no need for a cryptographic generator).
    rng: u64,
}

impl<V> Table<V> {
    pub(crate) fn new(cap: NonZeroUsize) -> Self {
        let mut seed = [0u8; 8];
        // A fixed seed would do as well; eviction order is not a secret.
        let _ = getrandom::fill(&mut seed);
        Self {
            map: HashMap::new(),
            keys: Vec::new(),
            cap: cap.get(),
            tick: 0,
            rng: u64::from_le_bytes(seed) | 1,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// The value of `key`, marked as just used.
    pub(crate) fn get_mut(&mut self, key: &str) -> Option<&mut V> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(key).map(|slot| {
            slot.used = tick;
            &mut slot.value
        })
    }

    /// Inserts or replaces `key`'s value, evicting one entry first when full.
    pub(crate) fn put(&mut self, key: &str, value: V) {
        self.tick += 1;
        if let Some(slot) = self.map.get_mut(key) {
            slot.value = value;
            slot.used = self.tick;
            return;
        }
        if self.map.len() >= self.cap {
            self.evict_one();
        }
        let key: Arc<str> = Arc::from(key);
        self.keys.push(Arc::clone(&key));
        let slot = Slot {
            value,
            used: self.tick,
            ix: self.keys.len() - 1,
        };
        self.map.insert(key, slot);
    }

    /// Removes `key`; whether it was there.
    pub(crate) fn pop(&mut self, key: &str) -> bool {
        let Some(slot) = self.map.remove(key) else {
            return false;
        };
        self.keys.swap_remove(slot.ix);
        if let Some(moved) = self.keys.get(slot.ix)
            && let Some(s) = self.map.get_mut(moved)
        {
            s.ix = slot.ix;
        }
        true
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
        self.keys.clear();
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// Evicts the least recently used of [`SAMPLE`] random entries (of all, when few).
    fn evict_one(&mut self) {
        let n = self.keys.len();
        let mut victim = None::<(u64, usize)>;
        for i in 0..n.min(SAMPLE) {
            let ix = if n <= SAMPLE {
                i
            } else {
                (self.next_random() % n as u64) as usize
            };
            let used = self.map.get(&self.keys[ix]).map_or(0, |s| s.used);
            if victim.is_none_or(|(best, _)| used < best) {
                victim = Some((used, ix));
            }
        }
        if let Some((_, ix)) = victim {
            let key = Arc::clone(&self.keys[ix]);
            self.pop(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cap: usize) -> Table<u32> {
        let mut t = Table::new(NonZeroUsize::new(cap).unwrap());
        t.rng = 0x9E37_79B9_7F4A_7C15; // the same picks on every run
        t
    }

    #[test]
    fn exact_lru_when_small_and_consistent_after_removals() {
        let mut t = table(3);
        t.put("a", 1);
        t.put("b", 2);
        t.put("c", 3);
        assert_eq!(t.get_mut("a").copied(), Some(1)); // a is now the most recent
        t.put("d", 4); // evicts b, the least recently used
        assert!(t.get_mut("b").is_none());
        assert_eq!(t.len(), 3);
        assert!(t.pop("a"));
        assert!(!t.pop("a"));
        // The moved key's position was fixed: removing it works and leaves no trace.
        assert!(t.pop("d") && t.pop("c"));
        assert_eq!((t.len(), t.keys.len()), (0, 0));
        t.put("e", 5);
        t.put("e", 6);
        assert_eq!((t.len(), t.get_mut("e").copied()), (1, Some(6)));
    }

    #[test]
    fn stays_bounded_and_keeps_hot_entries_under_churn() {
        let mut t = table(100);
        for i in 0..10_000u32 {
            t.put(&format!("k{i}"), i);
            // k0..k9 are read all the time; the sampled eviction should keep them.
            for h in 0..10 {
                t.get_mut(&format!("k{h}"));
            }
            assert!(t.len() <= 100);
        }
        assert_eq!(t.keys.len(), t.len());
        let hot = (0..10)
            .filter(|h| t.get_mut(&format!("k{h}")).is_some())
            .count();
        assert!(hot >= 9, "hot entries survive: {hot} of 10");
    }
}
