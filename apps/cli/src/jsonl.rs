//! `export` and `import`: sessions as JSON Lines.
//!
//! One record per line, a stable format (documented in the README):
//!
//! ```json
//! {"id":"<session id>","expires_at":"2026-12-08T10:00:00.000Z","session":{"cookie":{…},"user":…,"__tessera":{…}}}
//! ```
//!
//! `session` is the record exactly as express-session and Tessera store it (its `cookie`
//! object, the application data, Tessera's metadata when present). An export holds live
//! session ids: treat the file as a secret.

use crate::copy::{Copier, Summary};
use crate::error::CliError;
use crate::inspect::{SCAN_PAGE, Target};
use crate::pages::Pages;
use indicatif::ProgressBar;
use serde::{Deserialize, Serialize};
use std::io::Write;
use tessera::store_support::iso_ms;
use tessera::{Record, SessionId, SessionStore, StoredMeta};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// One line of an export.
#[derive(Debug, Serialize, Deserialize)]
pub struct Line {
    /// The session id.
    pub id: String,
    /// The server-side expiry (ISO 8601).
    pub expires_at: String,
    /// The stored record (express-session's JSON).
    pub session: serde_json::Value,
}

impl Line {
    /// The line for a record.
    pub fn of(r: &Record) -> Self {
        Self {
            id: r.id.as_str().to_owned(),
            expires_at: iso_ms(r.expires_at),
            session: serde_json::from_str(&r.to_json()).unwrap_or_default(),
        }
    }

    /// The record a line describes.
    pub fn into_record(self) -> Result<Record, String> {
        let id = SessionId::parse(&self.id).ok_or("the id is not a usable session id")?;
        let expires_at = OffsetDateTime::parse(&self.expires_at, &Rfc3339)
            .map_err(|e| format!("expires_at is not an ISO 8601 date: {e}"))?;
        if !self.session.is_object() {
            return Err("session is not a JSON object".into());
        }
        Record::from_json(
            id,
            &self.session.to_string(),
            StoredMeta::new(expires_at, 0),
        )
        .map_err(|e| crate::error::one_line(&e))
    }
}

/// `export`: writes every live session as one line; returns how many.
pub async fn export<S: SessionStore>(
    t: &Target<'_, S>,
    out: &mut impl Write,
) -> Result<u64, CliError> {
    let mut n = 0u64;
    let mut pages = Pages::new(t.store, SCAN_PAGE);
    while let Some(page) = pages
        .next()
        .await
        .map_err(CliError::store(format!("cannot scan {}", t.description)))?
    {
        for r in &page {
            let line = serde_json::to_string(&Line::of(r)).unwrap_or_default();
            writeln!(out, "{line}").map_err(CliError::io("cannot write the export"))?;
            n += 1;
        }
    }
    out.flush()
        .map_err(CliError::io("cannot write the export"))?;
    Ok(n)
}

/// `import`: reads lines (as written by [`export`]) and creates each record in the target,
/// never replacing one it already has. Lines that cannot be read are counted as failed.
pub async fn import<S: SessionStore + Clone>(
    t: &Target<'_, S>,
    input: impl AsyncBufRead + Unpin,
    concurrency: usize,
    progress: ProgressBar,
) -> Result<Summary, CliError> {
    let mut copier = Copier::new(t.store.clone(), t.description, false, concurrency, progress);
    let mut lines = input.lines();
    let mut number = 0u64;
    while let Some(line) = lines
        .next_line()
        .await
        .map_err(CliError::io("cannot read standard input"))?
    {
        number += 1;
        if line.trim().is_empty() {
            continue;
        }
        let record = serde_json::from_str::<Line>(&line)
            .map_err(|e| e.to_string())
            .and_then(Line::into_record);
        match record {
            Ok(r) => copier.push(r).await,
            Err(e) => copier.fail(&format!("line {number}: not a session record: {e}")),
        }
    }
    Ok(copier.finish().await)
}
