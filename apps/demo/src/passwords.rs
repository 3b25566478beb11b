//! Password hashing: argon2id on a small, fixed pool of threads that each reuse one
//! preallocated memory block, with logins served before registrations.
//!
//! Why not `spawn_blocking` + `Argon2::hash_password`: argon2 allocates a fresh 19 MiB
//! block per hash on whatever blocking thread is free, and glibc keeps those arenas, so
//! the site's memory grew with every registration (34 MB → 954 MB after ~1,200; issue 11,
//! point 1). Here the block is allocated once per worker, on its first job, and freed
//! when the pool is dropped.
//!
//! And why two queues: registrations (a hash each, anyone can send them) must never make a
//! login wait behind them (issue 11, point 4). A free worker always takes a waiting login
//! first, so a login waits at most for the hashes already running.

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use tokio::sync::oneshot;

/// OWASP's argon2id parameters: 19 MiB, 2 iterations, 1 lane.
const MEMORY_KIB: u32 = 19_456;
const ITERATIONS: u32 = 2;
/// Most jobs waiting per class; beyond it a request is told the server is busy.
const QUEUE_LIMIT: usize = 256;
/// A stored hash asking for more than this is refused rather than computed (a row written
/// by someone else must not make a worker allocate or spin without bound).
const MAX_ITERATIONS: u32 = 16;

/// Why a hash could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    /// Too many hashes are waiting in this class: answer 503 and let the client retry.
    #[error("password hashing is busy (its queue is full)")]
    Busy,
    /// The pool is shut down, or a worker failed on this job.
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Which queue a job waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// Logins (and the current-password check of a password change): served first.
    Login,
    /// New hashes: registrations and new passwords.
    Register,
}

enum Job {
    Hash {
        password: String,
        reply: oneshot::Sender<Result<String, HashError>>,
    },
    Verify {
        password: String,
        hash: String,
        reply: oneshot::Sender<bool>,
    },
}

#[derive(Default)]
struct Queues {
    logins: VecDeque<Job>,
    registrations: VecDeque<Job>,
    closed: bool,
}

struct Shared {
    queues: Mutex<Queues>,
    ready: Condvar,
    /// Memory blocks allocated so far (at most one per worker).
    allocations: AtomicUsize,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Queues> {
        // A worker panicking while holding the lock leaves the queues consistent (they
        // are only pushed and popped), so a poisoned lock is still usable.
        self.queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Stops the workers when the last [`Passwords`] handle goes away.
struct Pool {
    shared: Arc<Shared>,
    workers: usize,
    queue_limit: usize,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.ready.notify_all();
    }
}

/// The site's password hasher (cheap to clone).
#[derive(Clone)]
pub struct Passwords {
    pool: Arc<Pool>,
    /// Verified against when the email is unknown, so response time does not reveal
    /// which accounts exist.
    dummy: Arc<String>,
}

impl Passwords {
    /// Starts a pool with one worker per core (at most 4: each holds 19 MiB) and computes
    /// the dummy hash.
    pub async fn new() -> anyhow::Result<Self> {
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
        Self::with_limits(workers, QUEUE_LIMIT).await
    }

    /// Starts a pool of `workers` threads with at most `queue_limit` jobs waiting per
    /// class.
    pub async fn with_limits(workers: usize, queue_limit: usize) -> anyhow::Result<Self> {
        let workers = workers.max(1);
        let shared = Arc::new(Shared {
            queues: Mutex::new(Queues::default()),
            ready: Condvar::new(),
            allocations: AtomicUsize::new(0),
        });
        for i in 0..workers {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || work(&shared))
                .map_err(|e| anyhow::anyhow!("cannot start a hashing thread: {e}"))?;
        }
        let mut p = Self {
            pool: Arc::new(Pool {
                shared,
                workers,
                queue_limit,
            }),
            dummy: Arc::new(String::new()),
        };
        let dummy = p
            .hash(crate::random::random_token(12))
            .await
            .map_err(|e| anyhow::anyhow!("argon2 self-test failed: {e}"))?;
        p.dummy = Arc::new(dummy);
        Ok(p)
    }

    /// Worker threads.
    pub fn workers(&self) -> usize {
        self.pool.workers
    }

    /// Memory blocks allocated since start (never more than [`Self::workers`]).
    pub fn allocations(&self) -> usize {
        self.pool.shared.allocations.load(Ordering::Relaxed)
    }

    fn submit(&self, class: Class, job: Job) -> Result<(), HashError> {
        let shared = &self.pool.shared;
        let mut q = shared.lock();
        let queue = match class {
            Class::Login => &mut q.logins,
            Class::Register => &mut q.registrations,
        };
        if queue.len() >= self.pool.queue_limit {
            return Err(HashError::Busy);
        }
        queue.push_back(job);
        drop(q);
        shared.ready.notify_one();
        Ok(())
    }

    /// The PHC string for `password` (a registration-class job).
    pub async fn hash(&self, password: String) -> Result<String, HashError> {
        let (reply, answer) = oneshot::channel();
        self.submit(Class::Register, Job::Hash { password, reply })?;
        answer
            .await
            .map_err(|_| HashError::Failed("the hashing pool stopped".into()))?
    }

    /// Whether `password` matches `hash`; with `None` (unknown user) a dummy hash is
    /// checked and `false` returned, in about the same time.
    pub async fn verify(
        &self,
        class: Class,
        password: String,
        hash: Option<String>,
    ) -> Result<bool, HashError> {
        let known = hash.is_some();
        let hash = hash.unwrap_or_else(|| self.dummy.as_ref().clone());
        let (reply, answer) = oneshot::channel();
        self.submit(
            class,
            Job::Verify {
                password,
                hash,
                reply,
            },
        )?;
        let ok = answer
            .await
            .map_err(|_| HashError::Failed("the hashing pool stopped".into()))?;
        Ok(ok && known)
    }
}

fn params() -> Params {
    // Valid constants: Params::new only fails on out-of-range values.
    Params::new(MEMORY_KIB, ITERATIONS, 1, None).unwrap_or_default()
}

/// A worker: takes logins first, then registrations; allocates its block on first use.
fn work(shared: &Shared) {
    let mut blocks: Vec<Block> = Vec::new();
    loop {
        let job = {
            let mut q = shared.lock();
            loop {
                if q.closed {
                    return;
                }
                if let Some(job) = q.logins.pop_front().or_else(|| q.registrations.pop_front()) {
                    break job;
                }
                q = shared
                    .ready
                    .wait(q)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
            }
        };
        if blocks.is_empty() {
            blocks = vec![Block::default(); params().block_count()];
            shared.allocations.fetch_add(1, Ordering::Relaxed);
        }
        // A panic inside argon2 must not take the worker down with it; the job's reply
        // is dropped, which its request sees as an error.
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| run(job, &mut blocks)));
    }
}

fn run(job: Job, blocks: &mut [Block]) {
    match job {
        Job::Hash { password, reply } => {
            let _ = reply.send(hash_with(&password, blocks));
        }
        Job::Verify {
            password,
            hash,
            reply,
        } => {
            let _ = reply.send(verify_with(&password, &hash, blocks));
        }
    }
}

fn hash_with(password: &str, blocks: &mut [Block]) -> Result<String, HashError> {
    let fail = |e: &dyn std::fmt::Display| HashError::Failed(e.to_string());
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| fail(&e))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| fail(&e))?;
    let params = params();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut raw = [0u8; Params::DEFAULT_OUTPUT_LEN];
    let mut salt_bytes = [0u8; 64];
    let salt_bytes = salt.decode_b64(&mut salt_bytes).map_err(|e| fail(&e))?;
    argon2
        .hash_password_into_with_memory(password.as_bytes(), salt_bytes, &mut raw, &mut *blocks)
        .map_err(|e| fail(&e))?;
    let phc = PasswordHash {
        algorithm: argon2::ARGON2ID_IDENT,
        version: Some(Version::V0x13.into()),
        params: (&params).try_into().map_err(|e| fail(&e))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&raw).map_err(|e| fail(&e))?),
    };
    Ok(phc.to_string())
}

/// Recomputes with the stored hash's own parameters (within this worker's block and
/// [`MAX_ITERATIONS`]) and compares in constant time (`Output`'s equality).
fn verify_with(password: &str, stored: &str, blocks: &mut [Block]) -> bool {
    let Ok(parsed) = PasswordHash::new(stored) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
        return false;
    };
    let version = parsed
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .unwrap_or(Version::V0x13);
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    if params.block_count() > blocks.len() || params.t_cost() > MAX_ITERATIONS {
        tracing::warn!("a stored password hash asks for more than the pool allows; refused");
        return false;
    }
    let mut salt_bytes = [0u8; 64];
    let Ok(salt_bytes) = salt.decode_b64(&mut salt_bytes) else {
        return false;
    };
    let mut raw = [0u8; Output::MAX_LENGTH];
    let raw = &mut raw[..expected.len()];
    let argon2 = Argon2::new(algorithm, version, params);
    if argon2
        .hash_password_into_with_memory(password.as_bytes(), salt_bytes, raw, &mut *blocks)
        .is_err()
    {
        return false;
    }
    Output::new(raw).is_ok_and(|computed| computed == expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};

    #[tokio::test]
    async fn owasp_parameters_and_compatible_with_the_argon2_crate() {
        let p = Passwords::with_limits(2, QUEUE_LIMIT)
            .await
            .expect("hasher");
        let h = p.hash("correct horse".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        // What the pool writes, the argon2 crate verifies, and the other way round.
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params());
        let parsed = PasswordHash::new(&h).expect("PHC");
        assert!(argon2.verify_password(b"correct horse", &parsed).is_ok());
        let salt = SaltString::encode_b64(b"0123456789abcdef").expect("salt");
        let theirs = argon2
            .hash_password(b"battery staple", &salt)
            .expect("hash")
            .to_string();
        let verify = |pw: &str, h: Option<String>| p.verify(Class::Login, pw.into(), h);
        assert!(
            verify("battery staple", Some(theirs.clone()))
                .await
                .expect("v")
        );
        assert!(!verify("battery stable", Some(theirs)).await.expect("v"));
        assert!(verify("correct horse", Some(h.clone())).await.expect("v"));
        assert!(!verify("wrong horse", Some(h)).await.expect("v"));
        assert!(!verify("x", None).await.expect("v"));
        assert!(!verify("x", Some("garbage".into())).await.expect("v"));
        // Parameters beyond the pool's block are refused, not computed.
        let big = "$argon2id$v=19$m=65536,t=2,p=1$MDEyMzQ1Njc4OWFiY2RlZg$\
                   AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        assert!(!verify("x", Some(big.into())).await.expect("v"));
    }

    /// Issue 11, point 1: however many hashes run, each worker allocates its block once.
    #[tokio::test]
    async fn each_worker_allocates_its_block_once() {
        let p = Passwords::with_limits(2, QUEUE_LIMIT)
            .await
            .expect("hasher");
        let jobs: Vec<_> = (0..24)
            .map(|i| {
                let p = p.clone();
                tokio::spawn(async move { p.hash(format!("password {i}")).await })
            })
            .collect();
        for j in jobs {
            j.await.expect("task").expect("hash");
        }
        assert!(p.allocations() <= p.workers(), "{} blocks", p.allocations());
    }

    /// Issue 11, point 4: a login queued behind many registrations is served next, not
    /// after them.
    #[tokio::test]
    async fn logins_overtake_queued_registrations() {
        let p = Passwords::with_limits(2, QUEUE_LIMIT)
            .await
            .expect("hasher");
        let done = Arc::new(AtomicUsize::new(0));
        let registrations: Vec<_> = (0..30)
            .map(|i| {
                let (p, done) = (p.clone(), Arc::clone(&done));
                tokio::spawn(async move {
                    p.hash(format!("password {i}")).await.expect("hash");
                    done.fetch_add(1, Ordering::SeqCst);
                })
            })
            .collect();
        // Let them all queue (each submit happens on its task's first poll).
        while p.pool.shared.lock().registrations.len() < 20 {
            tokio::task::yield_now().await;
        }
        let ok = p
            .verify(Class::Login, "x".into(), None)
            .await
            .expect("verify");
        let before = done.load(Ordering::SeqCst);
        assert!(!ok);
        // At most the two running when it queued, and one more each finishing meanwhile.
        assert!(
            before <= 4,
            "{before} registrations finished before the login"
        );
        for r in registrations {
            r.await.expect("task");
        }
    }

    #[tokio::test]
    async fn a_full_queue_is_busy_not_unbounded() {
        let p = Passwords::with_limits(1, 4).await.expect("hasher");
        let mut answers = Vec::new();
        for i in 0..20 {
            let p = p.clone();
            answers.push(tokio::spawn(async move {
                p.hash(format!("password {i}")).await
            }));
        }
        let mut busy = 0;
        for a in answers {
            if matches!(a.await.expect("task"), Err(HashError::Busy)) {
                busy += 1;
            }
        }
        assert!(busy >= 10, "only {busy} of 20 refused");
    }
}
