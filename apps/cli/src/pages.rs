//! [`Pages`]: a store's live records, one `scan` page at a time.

use tessera::{Record, SessionStore, StoreError};

/// Walks a store with `scan`, `size` records a page (a page may hold fewer, even none,
/// before the end).
pub struct Pages<'a, S> {
    store: &'a S,
    size: usize,
    cursor: Option<String>,
    done: bool,
}

impl<'a, S: SessionStore> Pages<'a, S> {
    /// Starts at the beginning of `store`.
    pub fn new(store: &'a S, size: usize) -> Self {
        Self {
            store,
            size: size.max(1),
            cursor: None,
            done: false,
        }
    }

    /// The next page, or `None` once the scan is complete.
    pub async fn next(&mut self) -> Result<Option<Vec<Record>>, StoreError> {
        if self.done {
            return Ok(None);
        }
        let page = self.store.scan(self.cursor.as_deref(), self.size).await?;
        match page.next {
            Some(next) => self.cursor = Some(next),
            None => self.done = true,
        }
        Ok(Some(page.records))
    }
}
