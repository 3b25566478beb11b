//! The read-and-revoke commands: `count`, `list`, `show`, `revoke`, `purge-expired`.

use crate::error::CliError;
use crate::pages::Pages;
use crate::view::SessionView;
use std::io::Write;
use std::time::Duration;
use tessera::{Record, SessionId, SessionStore};
use time::OffsetDateTime;

/// Records asked for per `scan` page.
pub const SCAN_PAGE: usize = 500;

/// A store and the redacted URL its messages name it by.
pub struct Target<'a, S> {
    /// The store.
    pub store: &'a S,
    /// Its URL without credentials.
    pub description: &'a str,
}

fn write_err(e: std::io::Error) -> CliError {
    CliError::io("cannot write the output")(e)
}

/// `count`: the number of live sessions (some stores count expired ones not yet reclaimed;
/// see each store's `count`).
pub async fn count<S: SessionStore>(t: &Target<'_, S>) -> Result<u64, CliError> {
    t.store.count().await.map_err(CliError::store(format!(
        "cannot count the sessions in {}",
        t.description
    )))
}

/// What `list` prints.
#[derive(Debug, Clone)]
pub struct ListOptions {
    /// Only this user's sessions (through the store's per-user index).
    pub user: Option<String>,
    /// At most this many.
    pub limit: Option<usize>,
    /// A JSON array instead of a table.
    pub json: bool,
    /// Include the session ids (bearer secrets).
    pub show_ids: bool,
    /// The idle timeout `last_seen_at` is worked back with.
    pub idle_timeout: Duration,
}

/// `list`: one line (or JSON object) per live session, streamed as the store is scanned.
/// Returns how many were printed.
pub async fn list<S: SessionStore>(
    t: &Target<'_, S>,
    opts: &ListOptions,
    out: &mut impl Write,
) -> Result<usize, CliError> {
    let limit = opts.limit.unwrap_or(usize::MAX);
    let mut printed = 0usize;
    let emit = |r: &Record, printed: &mut usize, out: &mut dyn Write| -> Result<(), CliError> {
        let view = SessionView::new(
            r,
            opts.show_ids,
            opts.idle_timeout,
            OffsetDateTime::now_utc(),
        );
        if opts.json {
            let sep = if *printed == 0 { "" } else { "," };
            let obj = serde_json::to_string(&view).unwrap_or_default();
            writeln!(out, "{sep}{obj}").map_err(write_err)?;
        } else {
            writeln!(out, "{}", view.row()).map_err(write_err)?;
        }
        *printed += 1;
        Ok(())
    };
    if opts.json {
        writeln!(out, "[").map_err(write_err)?;
    } else {
        writeln!(out, "{}", SessionView::header(opts.show_ids)).map_err(write_err)?;
    }
    if let Some(user) = &opts.user {
        let mut records = t
            .store
            .list_by_user(user)
            .await
            .map_err(CliError::store(format!(
                "cannot list the sessions of that user in {}",
                t.description
            )))?;
        records.sort_by_key(|r| std::cmp::Reverse(r.created_at));
        for r in records.iter().take(limit) {
            emit(r, &mut printed, out)?;
        }
    } else {
        let mut pages = Pages::new(t.store, SCAN_PAGE);
        'pages: while let Some(page) = pages
            .next()
            .await
            .map_err(CliError::store(format!("cannot scan {}", t.description)))?
        {
            for r in &page {
                if printed >= limit {
                    break 'pages;
                }
                emit(r, &mut printed, out)?;
            }
        }
    }
    if opts.json {
        writeln!(out, "]").map_err(write_err)?;
    }
    Ok(printed)
}

fn looks_like_tag(s: &str) -> bool {
    s.len() == 8
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The live session with id `needle`, or else the one whose tag is `needle` (a scan).
///
/// # Errors
/// [`CliError::NotFound`] when none matches; [`CliError::Usage`] when a tag matches several
/// sessions (32-bit tags collide now and then in large stores: pass the id instead).
pub async fn find<S: SessionStore>(t: &Target<'_, S>, needle: &str) -> Result<Record, CliError> {
    let needle = needle.trim();
    if let Some(id) = SessionId::parse(needle) {
        let found = t
            .store
            .load(&id)
            .await
            .map_err(CliError::store(format!("cannot read {}", t.description)))?;
        if let Some(r) = found {
            return Ok(r);
        }
    }
    if !looks_like_tag(needle) {
        return Err(CliError::NotFound(needle.to_owned()));
    }
    let mut found: Option<Record> = None;
    let mut pages = Pages::new(t.store, SCAN_PAGE);
    while let Some(page) = pages
        .next()
        .await
        .map_err(CliError::store(format!("cannot scan {}", t.description)))?
    {
        for r in page {
            if r.id.log_tag() == needle {
                if found.is_some() {
                    return Err(CliError::Usage(format!(
                        "the tag {needle} matches several sessions; pass the id instead \
                         (`list --show-ids`)"
                    )));
                }
                found = Some(r);
            }
        }
    }
    found.ok_or_else(|| CliError::NotFound(needle.to_owned()))
}

/// `show`: the session's details and data (JSON: the `list` object plus `cookie` and
/// `data`).
pub async fn show<S: SessionStore>(
    t: &Target<'_, S>,
    needle: &str,
    json: bool,
    show_id: bool,
    idle_timeout: Duration,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let r = find(t, needle).await?;
    let view = SessionView::new(&r, show_id, idle_timeout, OffsetDateTime::now_utc());
    let mut full = serde_json::to_value(&view).unwrap_or_default();
    let stored: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap_or_default();
    if json {
        if let serde_json::Value::Object(m) = &mut full {
            m.insert("cookie".into(), stored["cookie"].clone());
            m.insert("data".into(), serde_json::Value::Object(r.data.clone()));
        }
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&full).unwrap_or_default()
        )
        .map_err(write_err)?;
        return Ok(());
    }
    let mut lines = vec![
        format!("tag         {}", view.tag),
        format!("user        {}", view.user.as_deref().unwrap_or("-")),
        format!("created     {}", view.created_at),
        format!("last seen   {}", view.last_seen_at),
        format!("expires     {}", view.expires_at),
        format!("bytes       {}", view.bytes),
    ];
    if let Some(id) = &view.id {
        lines.insert(1, format!("id          {id}"));
    }
    let data = serde_json::to_string_pretty(&serde_json::Value::Object(r.data.clone()))
        .unwrap_or_default();
    writeln!(out, "{}\ndata\n{data}", lines.join("\n")).map_err(write_err)
}

/// `revoke --user`: deletes every session of `user`; returns how many.
pub async fn revoke_user<S: SessionStore>(t: &Target<'_, S>, user: &str) -> Result<u64, CliError> {
    t.store
        .delete_by_user(user, None)
        .await
        .map_err(CliError::store(format!(
            "cannot revoke sessions in {}",
            t.description
        )))
}

/// `revoke --id`: deletes the session with this id (or tag); returns how many (0 or 1).
pub async fn revoke_id<S: SessionStore>(t: &Target<'_, S>, needle: &str) -> Result<u64, CliError> {
    let r = match find(t, needle).await {
        Ok(r) => r,
        Err(CliError::NotFound(_)) => return Ok(0),
        Err(e) => return Err(e),
    };
    let deleted = t
        .store
        .delete(&r.id)
        .await
        .map_err(CliError::store(format!(
            "cannot revoke a session in {}",
            t.description
        )))?;
    Ok(u64::from(deleted))
}

/// `purge-expired`: deletes expired records where the store has no native expiry; returns
/// how many.
pub async fn purge_expired<S: SessionStore>(t: &Target<'_, S>) -> Result<u64, CliError> {
    t.store
        .delete_expired()
        .await
        .map_err(CliError::store(format!("cannot purge {}", t.description)))
}
