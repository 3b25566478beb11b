//! The login throttle: failed logins per email and per client address within a sliding
//! window, in memory (per process).
//!
//! Only failures count. An attempt in flight holds a place until it ends, so parallel
//! guesses cannot slip past the limit: when the failures so far plus the attempts in
//! flight already reach the limit, a new attempt waits (up to [`MAX_WAIT`]) for one of
//! them to end, then looks again. Ten parallel *correct* logins therefore all get in
//! (each waits its turn at worst), while the sixth of ten parallel wrong ones is refused.
//! An attempt that ends without a verdict (the user database or the hasher failed) gives
//! its place back without counting as a failure: [`Ticket`] does that when dropped.
//! A correct password while locked is refused too: the lock reveals nothing.

use std::borrow::Borrow;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// Failed logins within the window: 5 per email, 20 per client address.
pub const WINDOW: Duration = Duration::from_secs(15 * 60);
/// Failures allowed per email within [`WINDOW`].
pub const EMAIL_LIMIT: usize = 5;
/// Failures allowed per client address within [`WINDOW`].
pub const IP_LIMIT: usize = 20;
/// The longest an attempt waits for a place before it is refused (429, retry in 1 s).
pub const MAX_WAIT: Duration = Duration::from_secs(5);
/// Keys kept before expired ones are swept (at most once a second).
const SWEEP_AT: usize = 10_000;
/// Emails are counted by their first 254 characters (no longer address is valid).
const MAX_KEY: usize = 254;

/// Recent events of one key (failures, or registrations) and its attempts in flight.
#[derive(Default)]
struct Slot {
    recent: VecDeque<Instant>,
    in_flight: usize,
}

impl Slot {
    /// Forgets events older than `window`.
    fn prune(&mut self, now: Instant, window: Duration) {
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            self.recent.pop_front();
        }
    }

    /// Until the oldest event leaves `window` (at least 1 s): `Retry-After`.
    fn wait(&self, now: Instant, window: Duration) -> Duration {
        self.recent
            .front()
            .map_or(Duration::ZERO, |t| {
                window.saturating_sub(now.duration_since(*t))
            })
            .max(Duration::from_secs(1))
    }

    fn is_empty(&self) -> bool {
        self.recent.is_empty() && self.in_flight == 0
    }
}

/// Whether the maps (holding `keys` keys) are due a sweep: more than [`SWEEP_AT`] keys and
/// none in the last second (`last` then becomes `now`). So a flood of keys costs one pass
/// a second, not one per attempt.
fn sweep_due(keys: usize, last: &mut Option<Instant>, now: Instant) -> bool {
    if keys <= SWEEP_AT || last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
        return false;
    }
    *last = Some(now);
    true
}

/// Forgets old events in every slot and drops the slots left empty.
fn drop_empty<K: Hash + Eq>(map: &mut HashMap<K, Slot>, now: Instant, window: Duration) {
    map.retain(|_, s| {
        s.prune(now, window);
        !s.is_empty()
    });
}

/// What a slot allows now.
enum Verdict {
    Go,
    Locked(Duration),
    Busy,
}

fn verdict<K: Borrow<Q> + Hash + Eq, Q: Hash + Eq + ?Sized>(
    map: &mut HashMap<K, Slot>,
    key: &Q,
    limit: usize,
    now: Instant,
) -> Verdict {
    let Some(slot) = map.get_mut(key) else {
        return Verdict::Go;
    };
    slot.prune(now, WINDOW);
    if slot.recent.len() >= limit {
        Verdict::Locked(slot.wait(now, WINDOW))
    } else if slot.recent.len() + slot.in_flight >= limit {
        Verdict::Busy
    } else {
        Verdict::Go
    }
}

#[derive(Default)]
struct Counters {
    email: HashMap<String, Slot>,
    ip: HashMap<Option<IpAddr>, Slot>,
    last_sweep: Option<Instant>,
}

impl Counters {
    fn sweep(&mut self, now: Instant) {
        if sweep_due(self.email.len() + self.ip.len(), &mut self.last_sweep, now) {
            drop_empty(&mut self.email, now, WINDOW);
            drop_empty(&mut self.ip, now, WINDOW);
        }
    }

    /// Ends an attempt: gives its place back, and records a failure when `failed`.
    fn end(&mut self, email: &str, ip: Option<IpAddr>, outcome: Outcome) {
        let now = Instant::now();
        if let Some(s) = self.email.get_mut(email) {
            s.in_flight = s.in_flight.saturating_sub(1);
            match outcome {
                Outcome::Failed => s.recent.push_back(now),
                Outcome::Succeeded => s.recent.clear(),
                Outcome::Abandoned => {}
            }
            if s.is_empty() {
                self.email.remove(email);
            }
        }
        if let Some(s) = self.ip.get_mut(&ip) {
            s.in_flight = s.in_flight.saturating_sub(1);
            if outcome == Outcome::Failed {
                s.recent.push_back(now);
            }
            if s.is_empty() {
                self.ip.remove(&ip);
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Failed,
    Succeeded,
    Abandoned,
}

#[derive(Default)]
struct Shared {
    counters: Mutex<Counters>,
    /// Notified whenever an attempt ends (a waiting one may now go).
    ended: Notify,
}

/// The login throttle (see the module documentation). Cheap to share behind the app state.
#[derive(Default)]
pub struct Throttle {
    shared: Arc<Shared>,
}

/// An attempt in flight. End it with [`Ticket::failed`] or [`Ticket::succeeded`]; dropped
/// without either (an error on the way), it gives its place back and counts as nothing.
pub struct Ticket {
    shared: Arc<Shared>,
    email: String,
    ip: Option<IpAddr>,
    ended: bool,
}

impl std::fmt::Debug for Ticket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ticket").finish_non_exhaustive()
    }
}

impl Ticket {
    /// Wrong email or password: counts as a failure for the email and the address.
    pub fn failed(mut self) {
        self.end(Outcome::Failed);
    }

    /// Logged in: clears the email's failures; the address keeps its own.
    pub fn succeeded(mut self) {
        self.end(Outcome::Succeeded);
    }

    fn end(&mut self, outcome: Outcome) {
        if std::mem::replace(&mut self.ended, true) {
            return;
        }
        self.shared
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .end(&self.email, self.ip, outcome);
        self.shared.ended.notify_waiters();
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.end(Outcome::Abandoned);
    }
}

impl Throttle {
    /// Starts an attempt: `Err(retry_after)` when the email or the address is locked (or
    /// no place came free within [`MAX_WAIT`]).
    pub async fn begin(&self, email: &str, ip: Option<IpAddr>) -> Result<Ticket, Duration> {
        let key: String = email.chars().take(MAX_KEY).collect();
        let deadline = tokio::time::Instant::now() + MAX_WAIT;
        loop {
            // Registered before looking, so an attempt ending in between is not missed.
            let ended = self.shared.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            match self.try_begin(&key, ip) {
                Ok(Some(ticket)) => return Ok(ticket),
                Err(wait) => return Err(wait),
                Ok(None) => {
                    if tokio::time::timeout_at(deadline, ended).await.is_err() {
                        return Err(Duration::from_secs(1));
                    }
                }
            }
        }
    }

    /// `Ok(None)`: no place free now (wait); refused attempts create no entries.
    fn try_begin(&self, key: &str, ip: Option<IpAddr>) -> Result<Option<Ticket>, Duration> {
        let now = Instant::now();
        let mut guard = self
            .shared
            .counters
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let c = &mut *guard;
        c.sweep(now);
        let by_ip = verdict(&mut c.ip, &ip, IP_LIMIT, now);
        let by_email = verdict(&mut c.email, key, EMAIL_LIMIT, now);
        match (by_ip, by_email) {
            (Verdict::Locked(w), _) | (_, Verdict::Locked(w)) => Err(w),
            (Verdict::Busy, _) | (_, Verdict::Busy) => Ok(None),
            (Verdict::Go, Verdict::Go) => {
                c.ip.entry(ip).or_default().in_flight += 1;
                c.email.entry(key.to_owned()).or_default().in_flight += 1;
                Ok(Some(Ticket {
                    shared: Arc::clone(&self.shared),
                    email: key.to_owned(),
                    ip,
                    ended: false,
                }))
            }
        }
    }

    #[cfg(test)]
    fn keys(&self) -> usize {
        let c = self.shared.counters.lock().unwrap();
        c.email.len() + c.ip.len()
    }
}

/// How long a registration counts against its client address.
pub const REGISTER_WINDOW: Duration = Duration::from_secs(3600);

/// Registrations per client address within [`REGISTER_WINDOW`] (`REGISTER_LIMIT`). Every
/// attempt that passed validation counts (it costs a password hash), whatever its outcome.
pub struct Registrations {
    limit: usize,
    seen: Mutex<Seen>,
}

/// Registration times per address, and when they were last swept.
#[derive(Default)]
struct Seen {
    by_ip: HashMap<Option<IpAddr>, Slot>,
    last_sweep: Option<Instant>,
}

impl Registrations {
    /// At most `limit` registrations per address and hour.
    pub fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            seen: Mutex::default(),
        }
    }

    /// Counts an attempt from `ip`, or `Err(retry_after)` when the address used up its
    /// registrations (refused attempts are not recorded).
    pub fn attempt(&self, ip: Option<IpAddr>) -> Result<(), Duration> {
        let now = Instant::now();
        let mut guard = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let seen = &mut *guard;
        if sweep_due(seen.by_ip.len(), &mut seen.last_sweep, now) {
            drop_empty(&mut seen.by_ip, now, REGISTER_WINDOW);
        }
        let slot = seen.by_ip.entry(ip).or_default();
        slot.prune(now, REGISTER_WINDOW);
        if slot.recent.len() >= self.limit {
            return Err(slot.wait(now, REGISTER_WINDOW));
        }
        slot.recent.push_back(now);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "a@x.io";

    #[tokio::test]
    async fn sixth_failure_for_an_email_is_locked() {
        let t = Throttle::default();
        let ip = Some(IpAddr::from([10, 0, 0, 1]));
        for _ in 0..EMAIL_LIMIT {
            t.begin(A, ip).await.expect("allowed").failed();
        }
        let wait = t.begin(A, ip).await.expect_err("locked");
        assert!(wait > Duration::from_secs(14 * 60) && wait <= WINDOW);
        assert!(
            t.begin("b@x.io", ip).await.is_ok(),
            "other emails are not locked"
        );
    }

    #[tokio::test]
    async fn success_clears_the_email_counter() {
        let t = Throttle::default();
        for _ in 0..EMAIL_LIMIT - 1 {
            t.begin(A, None).await.unwrap().failed();
        }
        t.begin(A, None).await.expect("fifth attempt").succeeded();
        for _ in 0..EMAIL_LIMIT {
            t.begin(A, None).await.unwrap().failed();
        }
        assert!(t.begin(A, None).await.is_err());
    }

    #[tokio::test]
    async fn twenty_first_failure_from_an_address_is_locked() {
        let t = Throttle::default();
        let ip = Some(IpAddr::from([10, 0, 0, 2]));
        for i in 0..IP_LIMIT {
            t.begin(&format!("u{i}@x.io"), ip).await.unwrap().failed();
        }
        assert!(t.begin("new@x.io", ip).await.is_err());
        let other = Some(IpAddr::from([10, 0, 0, 3]));
        assert!(t.begin("new@x.io", other).await.is_ok());
    }

    #[tokio::test]
    async fn refused_attempts_store_nothing() {
        let t = Throttle::default();
        for i in 0..IP_LIMIT {
            t.begin(&format!("u{i}@x.io"), None).await.unwrap().failed();
        }
        let before = t.keys();
        for i in 0..100 {
            assert!(t.begin(&format!("flood{i}@x.io"), None).await.is_err());
        }
        assert_eq!(t.keys(), before);
    }

    #[tokio::test]
    async fn attempts_that_end_without_a_verdict_count_nothing() {
        let t = Throttle::default();
        for _ in 0..50 {
            drop(t.begin(A, None).await.unwrap()); // the user database failed, say
        }
        assert_eq!(t.keys(), 0, "nothing left behind");
        for _ in 0..EMAIL_LIMIT {
            t.begin(A, None).await.unwrap().failed();
        }
        assert!(t.begin(A, None).await.is_err());
    }

    #[test]
    fn registrations_per_address_are_limited() {
        let r = Registrations::new(3);
        let ip = Some(IpAddr::from([10, 0, 0, 9]));
        for _ in 0..3 {
            assert!(r.attempt(ip).is_ok());
        }
        let wait = r.attempt(ip).expect_err("fourth refused");
        assert!(wait > Duration::from_secs(3590) && wait <= REGISTER_WINDOW);
        assert!(r.attempt(Some(IpAddr::from([10, 0, 0, 10]))).is_ok());
    }

    /// Ten parallel correct logins all get in; of twenty parallel wrong ones exactly
    /// the limit are tried, and the rest are refused once those failed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parallel_attempts_wait_their_turn_instead_of_slipping_past() {
        let t = Arc::new(Throttle::default());
        let right: Vec<_> = (0..10)
            .map(|_| {
                let t = Arc::clone(&t);
                tokio::spawn(async move {
                    let ticket = t.begin(A, None).await?;
                    tokio::task::yield_now().await;
                    ticket.succeeded();
                    Ok::<(), Duration>(())
                })
            })
            .collect();
        for r in right {
            assert!(r.await.unwrap().is_ok(), "a correct login was refused");
        }

        let tried = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let wrong: Vec<_> = (0..20)
            .map(|_| {
                let (t, tried) = (Arc::clone(&t), Arc::clone(&tried));
                tokio::spawn(async move {
                    let ticket = t.begin("b@x.io", None).await?;
                    tried.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    ticket.failed();
                    Ok::<(), Duration>(())
                })
            })
            .collect();
        let mut refused = 0;
        for r in wrong {
            if r.await.unwrap().is_err() {
                refused += 1;
            }
        }
        assert_eq!(tried.load(std::sync::atomic::Ordering::SeqCst), EMAIL_LIMIT);
        assert_eq!(refused, 20 - EMAIL_LIMIT);
    }
}
