//! A store that is down: a request that needs its session answers 503 with `Retry-After`
//! and `Cache-Control: no-store` through the middleware (whether or not the handler looks
//! at the error), and a request that never touches its session is unaffected.

use actix_web::{App, HttpResponse, test, web};
use tessera::{Record, SessionConfig, SessionId, SessionStore, StoreError};
use tessera_actix::{Session, TesseraSession};
use time::OffsetDateTime;

/// Every operation fails as an unreachable server would.
#[derive(Clone)]
struct Down;

fn down<T>() -> Result<T, StoreError> {
    Err(StoreError::unavailable("connection refused"))
}

impl SessionStore for Down {
    async fn load(&self, _: &SessionId) -> Result<Option<Record>, StoreError> {
        down()
    }
    async fn create(&self, _: &Record) -> Result<u64, StoreError> {
        down()
    }
    async fn save(&self, _: &Record) -> Result<tessera::SaveOutcome, StoreError> {
        down()
    }
    async fn touch(&self, _: &SessionId, _: OffsetDateTime) -> Result<bool, StoreError> {
        down()
    }
    async fn delete(&self, _: &SessionId) -> Result<bool, StoreError> {
        down()
    }
}

#[actix_web::test]
async fn a_store_outage_is_503_for_session_users_only() {
    let config = SessionConfig::builder()
        .secret("the store failure test's secret, 32+ bytes")
        .build()
        .expect("config");
    let app = test::init_service(
        App::new()
            .wrap(TesseraSession::new(Down, config))
            // Ignores the error: the middleware still answers 503 at the end.
            .route(
                "/login",
                web::post().to(|s: Session| async move {
                    let _ = s.insert("user", "ana").await;
                    HttpResponse::Ok().body("ok")
                }),
            )
            .route(
                "/none",
                web::get().to(|| async { HttpResponse::Ok().body("none") }),
            ),
    )
    .await;
    let res = test::call_service(&app, test::TestRequest::post().uri("/login").to_request()).await;
    assert_eq!(res.status().as_u16(), 503);
    let h = res.headers();
    assert_eq!(
        h.get("retry-after").and_then(|v| v.to_str().ok()),
        Some("1")
    );
    assert_eq!(
        h.get("cache-control").and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    assert!(
        h.get("set-cookie").is_none(),
        "no cookie for an unsaved session"
    );
    let res = test::call_service(&app, test::TestRequest::get().uri("/none").to_request()).await;
    assert_eq!(res.status().as_u16(), 200);
}
