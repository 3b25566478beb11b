//! One connection handle for a single server or a cluster.
//!
//! - Single server: redis-rs's [`ConnectionManager`], one multiplexed connection that
//!   pipelines concurrent requests and reconnects on its own (with backoff) after errors;
//!   by default wrapped in [`Batched`](crate::batch::Batched), which sends the commands
//!   of concurrent requests together.
//! - Cluster: redis-rs's async [`ClusterConnection`], one multiplexed connection per
//!   node, routing by key slot, following `MOVED`/`ASK` and refreshing the slot map.
//!
//! Both are cheap to clone (handles to shared connections); the store clones one per
//! operation.

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// A connection to a single Redis or a Redis Cluster.
#[derive(Clone)]
pub(crate) enum Conn {
    /// A single server (or a proxy that looks like one).
    Single(ConnectionManager),
    /// A single server, with concurrent commands sent as pipelines (see `batch.rs`).
    Batched(crate::batch::Batched),
    /// The master Redis Sentinel names (see `sentinel.rs`).
    Sentinel(crate::sentinel::SentinelConn),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Batched(c) => c.req_packed_command(cmd),
            Self::Sentinel(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Batched(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Batched(c) => c.get_db(),
            Self::Sentinel(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
        }
    }
}

impl Conn {
    /// A single-server connection: batched (see `batch.rs`) unless `batch` is off.
    pub(crate) fn single(manager: ConnectionManager, batch: bool) -> Self {
        if batch {
            Self::Batched(crate::batch::Batched::new(manager))
        } else {
            Self::Single(manager)
        }
    }

    /// Sends `cmds` in one round trip and returns their replies in order, server errors
    /// turned into `Err`. With batching on, the commands are moved into the batch as they
    /// are (no copy), and pure reads marked with a `share` key are sent once per batch (see
    /// `batch.rs`).
    pub(crate) async fn send(
        &mut self,
        cmds: Vec<Cmd>,
        share: Option<String>,
    ) -> RedisResult<Vec<Value>> {
        let replies = match self {
            Self::Batched(b) => b.submit(cmds, share).await?,
            Self::Sentinel(s) => {
                // The master's connection is never itself a Sentinel one: one level deep.
                let result = Box::pin(s.current().send(cmds, share)).await;
                s.after(&result, |_| false);
                return result;
            }
            other => {
                let pipe = pipeline(cmds);
                other.req_packed_commands(&pipe, 0, pipe.len()).await?
            }
        };
        replies.into_iter().map(Value::extract_error).collect()
    }

    /// Like [`send`](Self::send), for commands that must reach the node holding `key` even
    /// when some of them name no key (`CLIENT TRACKING` before a `GET`): on a cluster the
    /// pipeline is routed by `key`'s slot instead of by its commands' arguments.
    pub(crate) async fn send_to_key(
        &mut self,
        key: &str,
        cmds: Vec<Cmd>,
        share: Option<String>,
    ) -> RedisResult<Vec<Value>> {
        let Self::Cluster(c) = self else {
            return self.send(cmds, share).await;
        };
        let pipe = pipeline(cmds);
        let n = pipe.len();
        let route = SingleNodeRoutingInfo::SpecificNode(Route::with_key(key, SlotAddr::Master));
        let replies = c.route_pipeline(pipe, 0, n, route).await?;
        replies.into_iter().map(Value::extract_error).collect()
    }

    /// Whether commands go through the batcher.
    pub(crate) fn is_batched(&self) -> bool {
        match self {
            Self::Batched(_) => true,
            Self::Sentinel(s) => s.current().is_batched(),
            _ => false,
        }
    }

    /// Whether this is a cluster connection.
    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Runs `cmd` on one node: the server itself, or the cluster primary at `node`.
    pub(crate) async fn on_node(
        &mut self,
        node: Option<&(String, u16)>,
        cmd: Cmd,
    ) -> RedisResult<Value> {
        match (self, node) {
            (Self::Cluster(c), Some((host, port))) => {
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: host.clone(),
                    port: *port,
                });
                c.route_command(cmd, route).await
            }
            (c, _) => cmd.query_async(c).await,
        }
    }

    /// The primaries that hold keys: `[None]` for a single server, every live cluster
    /// primary (from `CLUSTER NODES`) otherwise.
    pub(crate) async fn primaries(&mut self) -> RedisResult<Vec<Option<(String, u16)>>> {
        if !self.is_cluster() {
            return Ok(vec![None]);
        }
        let nodes: String = redis::cmd("CLUSTER").arg("NODES").query_async(self).await?;
        Ok(parse_primaries(&nodes).into_iter().map(Some).collect())
    }
}

/// `cmds` as one pipeline (not a transaction).
fn pipeline(cmds: Vec<Cmd>) -> Pipeline {
    let mut pipe = Pipeline::with_capacity(cmds.len());
    for cmd in cmds {
        pipe.add_command(cmd);
    }
    pipe
}

/// Primaries serving slots, from `CLUSTER NODES` output:
/// `<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <state> <slots>…`.
pub(crate) fn parse_primaries(nodes: &str) -> Vec<(String, u16)> {
    let mut out = Vec::new();
    for line in nodes.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.len() < 9 {
            continue; // a primary without slots holds no keys
        }
        let flags = fields[2];
        if !flags.split(',').any(|f| f == "master") || flags.contains("fail") {
            continue;
        }
        let addr = fields[1].split(['@', ',']).next().unwrap_or_default();
        if let Some((host, port)) = addr.rsplit_once(':')
            && let Ok(port) = port.parse()
            && !host.is_empty()
        {
            out.push((host.to_owned(), port));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_cluster_nodes() {
        let text = "\
07c3 127.0.0.1:7001@17001 master - 0 1 2 connected 5461-10922
67ed 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
292f 127.0.0.1:7002@17002,host.example master - 0 1 3 connected 10923-16383
aaaa 127.0.0.1:7003@17003 slave 67ed 0 1 1 connected
bbbb 127.0.0.1:7004@17004 master,fail - 0 1 4 connected 1-2
cccc 127.0.0.1:7005@17005 master - 0 1 5 connected
";
        assert_eq!(
            parse_primaries(text),
            vec![
                ("127.0.0.1".to_owned(), 7001),
                ("127.0.0.1".to_owned(), 7000),
                ("127.0.0.1".to_owned(), 7002)
            ]
        );
    }
}
