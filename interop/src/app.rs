//! The Rust side: the same routes as the Node app, on `SessionConfig::express_compat()`.

use axum::extract::Path;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use std::time::Duration;
use tessera::{BoxedStore, Session, SessionConfig, SessionLayer};

async fn login(s: Session, Json(body): Json<Value>) -> Result<Response, tessera::Error> {
    let Some(email) = body.get("email").and_then(Value::as_str) else {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "email required"})),
        )
            .into_response());
    };
    s.cycle_id().await?;
    s.insert("user", json!({"id": email, "email": email}))
        .await?;
    s.set_user(email).await?;
    Ok(Json(json!({"user": {"email": email}})).into_response())
}

async fn whoami(s: Session) -> Result<Response, tessera::Error> {
    Ok(match s.get::<Value>("user").await? {
        Some(u) => Json(json!({"user": u})).into_response(),
        None => (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": "not logged in"})),
        )
            .into_response(),
    })
}

async fn set(s: Session, Json(body): Json<Value>) -> Result<Response, tessera::Error> {
    let (Some(key), Some(value)) = (body.get("key").and_then(Value::as_str), body.get("value"))
    else {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "bad key"})),
        )
            .into_response());
    };
    s.insert(key, value).await?;
    Ok(Json(json!({"ok": true})).into_response())
}

async fn get_key(s: Session, Path(key): Path<String>) -> Result<Json<Value>, tessera::Error> {
    Ok(Json(
        json!({"value": s.get::<Value>(&key).await?.unwrap_or(Value::Null)}),
    ))
}

async fn logout(s: Session) -> Result<StatusCode, tessera::Error> {
    s.destroy().await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn regenerate(s: Session) -> Result<Json<Value>, tessera::Error> {
    s.cycle_id().await?;
    Ok(Json(json!({"ok": true})))
}

async fn remember(s: Session, Json(body): Json<Value>) -> Result<Json<Value>, tessera::Error> {
    let days = body.get("days").and_then(Value::as_u64).unwrap_or(30);
    s.set_max_age(Some(Duration::from_secs(days * 86_400)))
        .await?;
    Ok(Json(json!({"ok": true})))
}

async fn incr(s: Session) -> Result<Json<Value>, tessera::Error> {
    let n = s.update("n", |n: Option<u64>| n.unwrap_or(0) + 1).await?;
    Ok(Json(json!({"n": n})))
}

/// The Rust twin of the Node app.
pub fn router(store: BoxedStore, secrets: &[&str]) -> Router {
    let config = SessionConfig::express_compat()
        .secrets(secrets)
        .max_attempts(200)
        .build()
        .expect("valid config");
    router_with(store, config)
}

/// The Rust twin of the Node app with a configuration of the caller's.
pub fn router_with(store: BoxedStore, config: SessionConfig) -> Router {
    Router::new()
        .route("/login", post(login))
        .route("/whoami", get(whoami))
        .route("/set", post(set))
        .route("/get/{key}", get(get_key))
        .route("/logout", post(logout))
        .route("/regenerate", post(regenerate))
        .route("/remember", post(remember))
        .route("/incr", post(incr))
        .layer(SessionLayer::with_boxed(store, config))
}

/// Serves the Rust app on a random loopback port; returns the port.
pub async fn serve(store: BoxedStore, secrets: &[&str]) -> u16 {
    serve_router(router(store, secrets)).await
}

/// Serves the Rust app with `config` on a random loopback port; returns the port.
pub async fn serve_with(store: BoxedStore, config: SessionConfig) -> u16 {
    serve_router(router_with(store, config)).await
}

async fn serve_router(app: Router) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move { axum::serve(listener, app).await });
    port
}
