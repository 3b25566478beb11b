//! Command batching ("auto-pipelining") on the single-server connection.
//!
//! Under load, many requests send their one or two commands at nearly the same moment.
//! On tokio's multi-threaded runtime the connection's writer task runs right after each
//! sender (the woken task takes the worker's LIFO slot), so without help every command
//! leaves in its own `write` and Redis reads each one with its own `read`: a system call
//! and a wake-up per command on both sides.
//!
//! [`Batched`] collects the commands submitted during one pass of the scheduler and sends
//! them as one pipeline: the same commands in the same order for each caller, one write
//! and (usually) one read on each side. The first command of a batch spawns a small task
//! that yields once, so the other tasks that are ready to run get to submit theirs, then
//! sends everything queued. An idle server pays one task spawn and one scheduler pass per
//! command; a busy one saves most of its Redis system calls.
//!
//! Commands are independent, as on any multiplexed connection: a pipeline is not a
//! transaction, and one command's error reply goes to its caller only. Transactions
//! (`MULTI`/`EXEC` pipelines) bypass the batcher.
//!
//! **Shared reads.** A caller may mark its commands as a pure read with a *share key*
//! (the store does for session loads: `GET key`, or `GET key` + `PTTL key`). Callers in
//! the same batch with the same share key get one copy of the reply each, and the commands
//! go out once. This is linearizable: every caller in a batch submitted before the batch
//! was sent, so the one read executes after each of them started and before any of them
//! gets its answer, exactly as if each had sent its own. (Joining a read that is already
//! on the wire would not be: it could miss a write that completed just before the caller
//! started.)

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, RedisResult, Value};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// A batching handle over a [`ConnectionManager`]; cheap to clone.
#[derive(Clone)]
pub(crate) struct Batched {
    shared: Arc<Shared>,
}

struct Shared {
    /// Configured with a response timeout, so a flush never outlives a dead connection.
    conn: ConnectionManager,
    queue: Mutex<Queue>,
}

#[derive(Default)]
struct Queue {
    entries: Vec<Entry>,
    /// A flush task has been spawned and has not taken the queue yet.
    scheduled: bool,
}

/// One caller's commands and where their replies go.
struct Entry {
    cmds: Vec<Cmd>,
    /// Identifies a pure read: entries of one batch with the same key share one reply.
    share: Option<String>,
    reply: oneshot::Sender<RedisResult<Vec<Value>>>,
}

impl Batched {
    pub(crate) fn new(conn: ConnectionManager) -> Self {
        Self {
            shared: Arc::new(Shared {
                conn,
                queue: Mutex::new(Queue::default()),
            }),
        }
    }

    /// Queues `cmds` for the next batch and waits for their replies, in order (a
    /// command's error reply is a `Value::ServerError` in its place). `share`: see the
    /// module documentation; only for commands that change nothing.
    pub(crate) async fn submit(
        &self,
        cmds: Vec<Cmd>,
        share: Option<String>,
    ) -> RedisResult<Vec<Value>> {
        let (reply, replied) = oneshot::channel();
        let spawn = {
            let mut q = self.shared.queue();
            q.entries.push(Entry { cmds, share, reply });
            !std::mem::replace(&mut q.scheduled, true)
        };
        if spawn {
            tokio::spawn(flush(Arc::clone(&self.shared)));
        }
        replied.await.unwrap_or_else(|_| Err(lost()))
    }
}

impl Shared {
    fn queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Sends everything queued as one pipeline and hands each caller its replies.
async fn flush(shared: Arc<Shared>) {
    // Let the other tasks that are ready now run first and queue their commands. On the
    // multi-threaded runtime a task spawned from a worker runs next (the LIFO slot), so it
    // must yield once for them. On a current-thread runtime (actix-web's workers) the
    // spawned task already waits behind every task that is ready; a yield would only add
    // a second pass of the scheduler to every command's latency.
    if tokio::runtime::Handle::current().runtime_flavor()
        != tokio::runtime::RuntimeFlavor::CurrentThread
    {
        tokio::task::yield_now().await;
    }
    let mut batch = {
        let mut q = shared.queue();
        q.scheduled = false;
        std::mem::take(&mut q.entries)
    };
    // Callers that gave up (timeout, cancelled request) need no command sent.
    batch.retain(|e| !e.reply.is_closed());
    if batch.is_empty() {
        return;
    }
    let mut conn = shared.conn.clone();
    let copy_of = shared_reads(&batch);
    let counts: Vec<usize> = batch.iter().map(|e| e.cmds.len()).collect();
    let total = batch
        .iter()
        .zip(&copy_of)
        .filter(|(_, c)| c.is_none())
        .map(|(e, _)| e.cmds.len())
        .sum();
    let mut pipe = Pipeline::with_capacity(total);
    for (e, copy) in batch.iter_mut().zip(&copy_of) {
        if copy.is_none() {
            for cmd in e.cmds.drain(..) {
                pipe.add_command(cmd);
            }
        }
    }
    match conn.req_packed_commands(&pipe, 0, total).await {
        Ok(values) if values.len() == total => {
            let mut values = values.into_iter();
            let mut replies: Vec<Vec<Value>> = Vec::with_capacity(batch.len());
            for (n, copy) in counts.into_iter().zip(&copy_of) {
                let reply = match copy {
                    Some(first) => replies[*first].clone(),
                    None => values.by_ref().take(n).collect(),
                };
                replies.push(reply);
            }
            for (e, reply) in batch.into_iter().zip(replies) {
                let _ = e.reply.send(Ok(reply));
            }
        }
        Ok(values) => {
            let err = RedisError::from(std::io::Error::other(format!(
                "redis answered {} replies to a pipeline of {total} commands",
                values.len()
            )));
            for e in batch {
                let _ = e.reply.send(Err(err.clone()));
            }
        }
        Err(err) => {
            for e in batch {
                let _ = e.reply.send(Err(err.clone()));
            }
        }
    }
}

/// For each entry, the earlier entry of the batch whose reply it shares (same share key).
fn shared_reads(batch: &[Entry]) -> Vec<Option<usize>> {
    if batch.len() < 2 {
        return vec![None; batch.len()];
    }
    let mut first = std::collections::HashMap::new();
    batch
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let key = e.share.as_deref()?;
            match first.entry(key) {
                std::collections::hash_map::Entry::Occupied(o) => Some(*o.get()),
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(i);
                    None
                }
            }
        })
        .collect()
}

fn lost() -> RedisError {
    RedisError::from(std::io::Error::other(
        "the batch carrying this redis command was dropped",
    ))
}

fn one_reply(mut values: Vec<Value>) -> RedisResult<Value> {
    match (values.pop(), values.is_empty()) {
        (Some(v), true) => Ok(v),
        _ => Err(RedisError::from(std::io::Error::other(
            "expected exactly one reply to one redis command",
        ))),
    }
}

impl ConnectionLike for Batched {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move { one_reply(self.submit(vec![cmd.clone()], None).await?) })
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        if pipeline.is_transaction() || offset != 0 || count != pipeline.len() {
            let mut conn = self.shared.conn.clone();
            return Box::pin(
                async move { conn.req_packed_commands(pipeline, offset, count).await },
            );
        }
        Box::pin(self.submit(pipeline.cmd_iter().cloned().collect(), None))
    }

    fn get_db(&self) -> i64 {
        self.shared.conn.get_db()
    }
}
