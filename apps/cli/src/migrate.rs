//! `migrate`: stream every live session of one store into another.

use crate::copy::{Copier, Summary};
use crate::error::CliError;
use crate::inspect::Target;
use crate::pages::Pages;
use indicatif::ProgressBar;
use tessera::SessionStore;

/// How `migrate` runs.
#[derive(Debug, Clone, Copy)]
pub struct MigrateOptions {
    /// Write nothing; count what would be migrated.
    pub dry_run: bool,
    /// Records asked for per `scan` page of the source.
    pub batch: usize,
    /// Writes to the target in flight at once.
    pub concurrency: usize,
}

impl Default for MigrateOptions {
    fn default() -> Self {
        Self {
            dry_run: false,
            batch: 500,
            concurrency: 16,
        }
    }
}

/// Copies every live session of `from` into `to`, keeping each record's data, user
/// binding, creation time and expiry, never replacing a record `to` already has. Safe to
/// run again (the second run copies nothing new) and while an application writes to `to`.
///
/// `progress` gets the source's session count as its length when the store can count
/// (pass [`ProgressBar::hidden`] for none).
///
/// # Errors
/// When the source cannot be scanned; the copies already made stay (run again to finish).
/// Records that fail one by one are counted in [`Summary::failed`] instead.
pub async fn migrate<A, B>(
    from: &Target<'_, A>,
    to: &Target<'_, B>,
    opts: MigrateOptions,
    progress: ProgressBar,
) -> Result<Summary, CliError>
where
    A: SessionStore,
    B: SessionStore + Clone,
{
    if let Ok(n) = from.store.count().await {
        progress.set_length(n);
    }
    let mut copier = Copier::new(
        to.store.clone(),
        to.description,
        opts.dry_run,
        opts.concurrency,
        progress,
    );
    let mut pages = Pages::new(from.store, opts.batch);
    loop {
        let page = match pages.next().await {
            Ok(Some(page)) => page,
            Ok(None) => break,
            Err(e) => {
                let done = copier.finish().await;
                return Err(CliError::store(format!(
                    "cannot scan {} (so far: {})",
                    from.description,
                    done.line("migrated")
                ))(e));
            }
        };
        for record in page {
            copier.push(record).await;
        }
    }
    Ok(copier.finish().await)
}
