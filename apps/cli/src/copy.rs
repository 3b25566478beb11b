//! Copying records into a target store without ever overwriting one: the core of `migrate`
//! and `import`.

use crate::error::one_line;
use indicatif::ProgressBar;
use serde::Serialize;
use std::time::Duration;
use tessera::{Record, SessionStore, StoreError};
use time::OffsetDateTime;
use tokio::task::JoinSet;

/// A record with less time than this left is counted as expired instead of copied: it
/// would be gone before anyone could use it on the target.
pub const MIN_REMAINING: Duration = Duration::from_secs(1);

/// What a copy did, record by record.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Records written to the target (in a dry run: that would be written).
    pub migrated: u64,
    /// Records the target already had (same id): left untouched.
    pub present: u64,
    /// Records already expired (or about to): skipped.
    pub expired: u64,
    /// Records that could not be written (each reported on standard error).
    pub failed: u64,
}

impl Summary {
    /// The summary line, e.g. `migrated 10, already present 2, expired 1, failed 0`.
    pub fn line(&self, verb: &str) -> String {
        format!(
            "{verb} {}, already present {}, expired {}, failed {}",
            self.migrated, self.present, self.expired, self.failed
        )
    }
}

enum Outcome {
    Copied,
    Present,
    Expired,
    Failed(String),
}

/// Writes records into a target with `create` (which never replaces an existing record),
/// up to `concurrency` at a time.
pub struct Copier<S> {
    target: S,
    description: String,
    dry_run: bool,
    concurrency: usize,
    tasks: JoinSet<Outcome>,
    summary: Summary,
    progress: ProgressBar,
}

impl<S: SessionStore + Clone> Copier<S> {
    /// A copier into `target` (named `description` in messages). In a dry run nothing is
    /// written: records the target lacks are counted as `migrated`.
    pub fn new(
        target: S,
        description: impl Into<String>,
        dry_run: bool,
        concurrency: usize,
        progress: ProgressBar,
    ) -> Self {
        Self {
            target,
            description: description.into(),
            dry_run,
            concurrency: concurrency.max(1),
            tasks: JoinSet::new(),
            summary: Summary::default(),
            progress,
        }
    }

    /// Counts a record that could not even be read (reported on standard error).
    pub fn fail(&mut self, message: &str) {
        self.count_failure(message);
        self.progress.inc(1);
    }

    /// One failed record: counted and reported on standard error, above the progress bar.
    fn count_failure(&mut self, message: &str) {
        self.summary.failed += 1;
        self.progress.suspend(|| eprintln!("failed: {message}"));
    }

    /// Copies one record (waits while `concurrency` copies are in flight).
    pub async fn push(&mut self, record: Record) {
        while self.tasks.len() >= self.concurrency {
            self.reap_one().await;
        }
        let target = self.target.clone();
        let dry_run = self.dry_run;
        let description = self.description.clone();
        self.tasks.spawn(async move {
            let left = record.expires_at - OffsetDateTime::now_utc();
            if left < MIN_REMAINING {
                return Outcome::Expired;
            }
            let tag = record.id.log_tag();
            let failed = |e: StoreError| {
                Outcome::Failed(format!(
                    "session {tag}: cannot write to {description}: {}",
                    one_line(&e)
                ))
            };
            if dry_run {
                return match target.load(&record.id).await {
                    Ok(Some(_)) => Outcome::Present,
                    Ok(None) => Outcome::Copied,
                    Err(e) => failed(e),
                };
            }
            match target.create(&record).await {
                Ok(_) => Outcome::Copied,
                Err(StoreError::IdCollision) => Outcome::Present,
                Err(e) => failed(e),
            }
        });
    }

    async fn reap_one(&mut self) {
        let Some(done) = self.tasks.join_next().await else {
            return;
        };
        match done {
            Ok(Outcome::Copied) => self.summary.migrated += 1,
            Ok(Outcome::Present) => self.summary.present += 1,
            Ok(Outcome::Expired) => self.summary.expired += 1,
            Ok(Outcome::Failed(msg)) => self.count_failure(&msg),
            Err(e) => self.count_failure(&format!("a copy task ended abnormally: {e}")),
        }
        self.progress.inc(1);
    }

    /// Waits for the copies in flight and returns the summary.
    pub async fn finish(mut self) -> Summary {
        while !self.tasks.is_empty() {
            self.reap_one().await;
        }
        self.progress.finish_and_clear();
        self.summary
    }
}
