//! The tutorials' JSON API: log in with a name, read the profile, log out.
//!
//! ```sh
//! cargo run --example axum-json-api       # listens on 127.0.0.1:7501
//! curl -i -c jar -X POST 'localhost:7501/login?name=ada'
//! curl -i -b jar localhost:7501/user
//! curl -i -b jar -X POST localhost:7501/logout
//! ```
//!
//! Environment (or a `.env` file): `PORT` (7501), `SESSION_SECRET` (32+ bytes; a random one
//! is generated with a warning if unset), `SESSION_COOKIE_NAME` (`id`).

use anyhow::Context as _;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use tessera::{MemoryStore, Session, SessionConfig, SessionLayer};

#[derive(Deserialize)]
struct Login {
    name: String,
}

async fn login(
    session: Session,
    Query(q): Query<Login>,
) -> Result<impl IntoResponse, tessera::Error> {
    let name = q.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(json!({"error": "name must be 1-100 characters"})),
        ));
    }
    session.cycle_id().await?;
    session.insert("name", name).await?;
    Ok((StatusCode::CREATED, Json(json!({"info": "User logged in"}))))
}

async fn user(session: Session) -> Result<Json<serde_json::Value>, tessera::Error> {
    Ok(Json(match session.get::<String>("name").await? {
        Some(name) => json!({"info": "User profile info", "data": {"name": name}}),
        None => json!({"info": "No data present in session"}),
    }))
}

async fn logout(session: Session) -> Result<StatusCode, tessera::Error> {
    session.destroy().await?;
    Ok(StatusCode::NO_CONTENT)
}

fn secret() -> anyhow::Result<String> {
    match std::env::var("SESSION_SECRET") {
        Ok(s) => Ok(s),
        Err(_) => {
            tracing::warn!(
                "SESSION_SECRET is not set: using a random secret, sessions end when the process stops"
            );
            Ok(tessera::SessionId::generate().as_str().repeat(2))
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    tracing_subscriber::fmt()
        // Logs go to stderr, coloured only on a terminal.
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()
        .context("PORT must be a port number")?
        .unwrap_or(7501);
    let config = SessionConfig::builder()
        .secret(secret()?)
        .cookie_name(std::env::var("SESSION_COOKIE_NAME").unwrap_or_else(|_| "id".into()))
        .max_age(Duration::from_secs(86_400))
        .build()
        .context("invalid session configuration")?;
    let app = Router::new()
        .route("/login", post(login))
        .route("/user", get(user))
        .route("/logout", post(logout))
        .layer(SessionLayer::new(MemoryStore::default(), config));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on port {port}"))?;
    tracing::info!("axum-json-api example listening on http://127.0.0.1:{port}");
    axum::serve(listener, app).await?;
    Ok(())
}
