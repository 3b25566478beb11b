//! `/metrics` (Prometheus text) and `/healthz`.
//!
//! Tessera itself records sessions created/loaded/saved/destroyed, conflicts, store
//! errors and store-operation latency; the site adds logins by result, HTTP responses
//! by status and, at each scrape, the number of live sessions where the store can
//! count them.

use crate::state::AppState;
use axum::Json;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::json;
use std::sync::OnceLock;
use std::time::Duration;
use tessera::{SessionId, SessionStore};

/// Logins by `result` (`success`, `failure`, `throttled`).
pub const LOGINS: &str = "tessera_demo_logins_total";
/// HTTP responses by `status`.
pub const HTTP_RESPONSES: &str = "tessera_demo_http_responses_total";
/// Live sessions in the store (set at each scrape).
pub const ACTIVE_SESSIONS: &str = "tessera_sessions_active";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// How often the live-session gauge is refreshed. Counting can be a full `SCAN` (Redis) or
/// a table count, so it runs in the background at this pace, never per scrape.
pub const ACTIVE_SESSIONS_EVERY: Duration = Duration::from_secs(15);

/// Refreshes the live-session gauge now and every [`ACTIVE_SESSIONS_EVERY`], for as long
/// as the site (`state`) exists.
pub async fn refresh_active_sessions(state: std::sync::Weak<crate::state::Inner>) {
    let mut every = tokio::time::interval(ACTIVE_SESSIONS_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(state) = state.upgrade() else {
            return; // the site is gone
        };
        match tokio::time::timeout(Duration::from_secs(5), state.store.count()).await {
            Ok(Ok(n)) => metrics::gauge!(ACTIVE_SESSIONS).set(n as f64),
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot count the live sessions"),
            Err(_) => tracing::warn!("counting the live sessions timed out"),
        }
    }
}

/// Installs the process-wide Prometheus recorder (once; later calls reuse it).
pub fn install() {
    HANDLE.get_or_init(|| match PrometheusBuilder::new().install_recorder() {
        Ok(handle) => {
            metrics::describe_counter!(LOGINS, "Login attempts by result");
            metrics::describe_counter!(HTTP_RESPONSES, "HTTP responses by status code");
            metrics::describe_gauge!(ACTIVE_SESSIONS, "Live sessions in the session store");
            metrics::describe_counter!(
                tessera::metric_names::CREATED,
                "Sessions created (stored for the first time or under a new id)"
            );
            metrics::describe_counter!(
                tessera::metric_names::DESTROYED,
                "Sessions destroyed, by reason"
            );
            metrics::describe_histogram!(
                tessera::metric_names::STORE_LATENCY,
                metrics::Unit::Seconds,
                "Session store operation latency"
            );
            for result in ["success", "failure", "throttled"] {
                metrics::counter!(LOGINS, "result" => result).increment(0);
            }
            metrics::counter!(tessera::metric_names::CREATED).increment(0);
            metrics::counter!(tessera::metric_names::DESTROYED, "reason" => "destroy").increment(0);
            // Histograms need periodic upkeep; a plain thread does not depend on any
            // particular runtime outliving it.
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!("metrics upkeep thread not started: {e}");
            }
            Some(handle)
        }
        Err(e) => {
            tracing::warn!("metrics recorder not installed (another one is?): {e}");
            None
        }
    });
}

/// Middleware: counts responses by status.
pub async fn count_responses(req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    metrics::counter!(HTTP_RESPONSES, "status" => res.status().as_u16().to_string()).increment(1);
    res
}

/// `GET /metrics`.
///
/// With `METRICS_TOKEN` set, only requests carrying `Authorization: Bearer <token>` get the
/// metrics (compared in constant time); others get 401.
pub async fn render(State(state): State<AppState>, headers: HeaderMap) -> Response {
    if let Some(expected) = state
        .config
        .metrics_token
        .as_deref()
        .filter(|t| !t.is_empty())
    {
        let given = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if !token_matches(given, expected) {
            tracing::warn!("GET /metrics refused: missing or wrong bearer token");
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer realm=\"metrics\"")],
                "Unauthorized: /metrics needs the bearer token configured in METRICS_TOKEN.\n",
            )
                .into_response();
        }
    }
    let body = HANDLE
        .get()
        .and_then(Option::as_ref)
        .map(PrometheusHandle::render)
        .unwrap_or_default();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

/// Constant-time comparison of two tokens (of any lengths: their SHA-256 digests are compared).
fn token_matches(given: &str, expected: &str) -> bool {
    use sha2::{Digest, Sha256};
    use subtle::ConstantTimeEq;
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.as_slice().ct_eq(b.as_slice()).into()
}

/// `GET /healthz`: 200 `{"status":"ok"}`, or 503 naming what is down.
pub async fn healthz(State(state): State<AppState>) -> Response {
    const LIMIT: Duration = Duration::from_secs(2);
    let probe = SessionId::generate();
    let (store, users) = tokio::join!(
        tokio::time::timeout(LIMIT, state.store.load(&probe)),
        tokio::time::timeout(LIMIT, state.users.ping()),
    );
    let store_ok = matches!(store, Ok(Ok(_)));
    let users_ok = matches!(users, Ok(Ok(())));
    if store_ok && users_ok {
        return Json(json!({"status": "ok"})).into_response();
    }
    let word = |ok| if ok { "ok" } else { "unavailable" };
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({
            "status": "unavailable",
            "session_store": word(store_ok),
            "user_db": word(users_ok),
        })),
    )
        .into_response()
}
