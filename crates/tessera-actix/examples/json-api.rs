//! The tutorials' JSON API on actix-web: log in with a name, read the profile, log out.
//! The same contract as the axum `json-api` example at the repository root.
//!
//! ```sh
//! cargo run -p tessera-actix --example json-api     # listens on 127.0.0.1:7501
//! curl -i -c jar -X POST 'localhost:7501/login?name=ada'
//! curl -i -b jar localhost:7501/user
//! curl -i -b jar -X POST localhost:7501/logout
//! ```
//!
//! Environment (or a `.env` file): `PORT` (7501), `SESSION_SECRET` (32+ bytes; a random one
//! is generated with a warning if unset), `SESSION_COOKIE_NAME` (`id`).

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use serde::Deserialize;
use serde_json::json;
use std::time::Duration;
use tessera::{MemoryStore, SessionConfig};
use tessera_actix::{Session, TesseraSession};

#[derive(Deserialize)]
struct Login {
    name: String,
}

async fn login(
    session: Session,
    q: web::Query<Login>,
) -> Result<HttpResponse, tessera_actix::Error> {
    let name = q.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Ok(HttpResponse::UnprocessableEntity()
            .json(json!({"error": "name must be 1-100 characters"})));
    }
    session.cycle_id().await?;
    session.insert("name", name).await?;
    Ok(HttpResponse::Created().json(json!({"info": "User logged in"})))
}

async fn user(session: Session) -> Result<HttpResponse, tessera_actix::Error> {
    Ok(
        HttpResponse::Ok().json(match session.get::<String>("name").await? {
            Some(name) => json!({"info": "User profile info", "data": {"name": name}}),
            None => json!({"info": "No data present in session"}),
        }),
    )
}

async fn logout(session: Session) -> Result<HttpResponse, tessera_actix::Error> {
    session.destroy().await?;
    Ok(HttpResponse::NoContent().finish())
}

fn secret() -> String {
    std::env::var("SESSION_SECRET").unwrap_or_else(|_| {
        eprintln!(
            "warning: SESSION_SECRET is not set: using a random secret, sessions end when the process stops"
        );
        tessera::SessionId::generate().as_str().repeat(2)
    })
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()
        .context("PORT must be a port number")?
        .unwrap_or(7501);
    let config = SessionConfig::builder()
        .secret(secret())
        .cookie_name(std::env::var("SESSION_COOKIE_NAME").unwrap_or_else(|_| "id".into()))
        .max_age(Duration::from_secs(86_400))
        .build()
        .context("invalid session configuration")?;
    // One middleware (one engine, one store) shared by every worker.
    let sessions = TesseraSession::new(MemoryStore::default(), config);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(sessions.clone())
            .route("/login", web::post().to(login))
            .route("/user", web::get().to(user))
            .route("/logout", web::post().to(logout))
    })
    .bind(("127.0.0.1", port))
    .with_context(|| format!("cannot listen on port {port}"))?;
    println!("json-api example (actix-web) listening on http://127.0.0.1:{port}");
    server.run().await?;
    Ok(())
}
