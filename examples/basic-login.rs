//! The tutorials' first session app: a login form, fixed credentials (`user1` /
//! `mypassword`), a welcome page and logout, with the in-memory store and a one-day cookie.
//!
//! ```sh
//! cargo run --example basic-login          # then open http://127.0.0.1:3001
//! ```
//!
//! Environment (or `.env`): `PORT` (3001; the demo site has 3000), `SESSION_SECRET`, `SESSION_COOKIE_NAME` (`id`).

use anyhow::Context as _;
use axum::Router;
use axum::extract::Form;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use std::time::Duration;
use tessera::{MemoryStore, Session, SessionConfig, SessionLayer};

const USERNAME: &str = "user1";
const PASSWORD: &str = "mypassword";

fn page(body: &str) -> Html<String> {
    Html(format!(
        "<!doctype html><html lang=en><meta charset=utf-8><title>Login</title><body>{body}</body></html>"
    ))
}

fn login_form(message: &str) -> Html<String> {
    page(&format!(
        "<h1>Log in</h1><p>{message}</p><form action=/user method=post>\
         <label>Username <input name=username autocomplete=username required></label>\
         <label>Password <input name=password type=password autocomplete=current-password required></label>\
         <button>Submit</button></form>\
         <p><small>This example has one account: <code>{USERNAME}</code> / <code>{PASSWORD}</code>.</small></p>"
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn home(session: Session) -> Result<Html<String>, tessera::Error> {
    Ok(match session.get::<String>("userid").await? {
        Some(user) => page(&format!(
            "<h1>Welcome {}</h1><a href=/logout>Log out</a>",
            escape(&user)
        )),
        None => login_form(""),
    })
}

#[derive(Deserialize)]
struct Credentials {
    username: String,
    password: String,
}

async fn user(session: Session, Form(c): Form<Credentials>) -> Result<Response, tessera::Error> {
    if c.username == USERNAME && c.password == PASSWORD {
        session.cycle_id().await?;
        session.insert("userid", &c.username).await?;
        Ok(Redirect::to("/").into_response())
    } else {
        Ok((
            StatusCode::UNAUTHORIZED,
            login_form("Invalid username or password"),
        )
            .into_response())
    }
}

async fn logout(session: Session) -> Result<Redirect, tessera::Error> {
    session.destroy().await?;
    Ok(Redirect::to("/"))
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
        .unwrap_or(3001);
    let secret = std::env::var("SESSION_SECRET").unwrap_or_else(|_| {
        tracing::warn!(
            "SESSION_SECRET is not set: using a random secret, sessions end when the process stops"
        );
        tessera::SessionId::generate().as_str().repeat(2)
    });
    let config = SessionConfig::builder()
        .secret(secret)
        .cookie_name(std::env::var("SESSION_COOKIE_NAME").unwrap_or_else(|_| "id".into()))
        .max_age(Duration::from_secs(86_400))
        .build()
        .context("invalid session configuration")?;
    let app = Router::new()
        .route("/", get(home))
        .route("/user", post(user))
        .route("/logout", get(logout).post(logout))
        .layer(SessionLayer::new(MemoryStore::default(), config));
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on port {port}"))?;
    tracing::info!("basic-login example listening on http://127.0.0.1:{port}");
    axum::serve(listener, app).await?;
    Ok(())
}
