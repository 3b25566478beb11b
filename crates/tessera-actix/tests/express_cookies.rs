//! The cookie through actix-web is express-session's: a cookie signed the way
//! `cookie-signature` signs (computed here independently: HMAC-SHA256, unpadded standard
//! base64, `encodeURIComponent`) is accepted, and the cookie the middleware sets verifies
//! the same way.

use actix_web::{App, HttpResponse, test, web};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tessera::{MemoryStore, Record, SessionConfig, SessionId, SessionStore};
use tessera_actix::{Session, TesseraSession};

const SECRET: &str = "a Node app's secret, shared with Rust, 32+ bytes";

/// `s:<sid>.<signature>` as express-session writes it, percent-encoded as
/// `encodeURIComponent` does for these characters.
fn express_cookie_value(sid: &str, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(sid.as_bytes());
    let sig = base64::engine::general_purpose::STANDARD_NO_PAD.encode(mac.finalize().into_bytes());
    format!("s:{sid}.{sig}")
        .replace(':', "%3A")
        .replace('/', "%2F")
        .replace('+', "%2B")
}

async fn whoami(session: Session) -> Result<HttpResponse, tessera_actix::Error> {
    let user: Option<String> = session.get("user").await?;
    Ok(HttpResponse::Ok().body(user.unwrap_or_default()))
}

async fn login(session: Session) -> Result<HttpResponse, tessera_actix::Error> {
    session.cycle_id().await?;
    session.insert("user", "bo").await?;
    Ok(HttpResponse::Ok().finish())
}

#[actix_web::test]
async fn express_signed_cookies_both_ways() {
    let store = MemoryStore::default();
    let sid = "WLB00T5veRHhEVBeUTOOCDYhcTBlb7kS";
    let now = tessera::testkit::now();
    let mut r = Record::new(
        SessionId::parse(sid).expect("id"),
        now,
        now + std::time::Duration::from_secs(3600),
    );
    r.data.insert("user".into(), "ana".into());
    store.create(&r).await.expect("create");
    let config = SessionConfig::express_compat()
        .secret(SECRET)
        .build()
        .expect("config");
    let app = test::init_service(
        App::new()
            .wrap(TesseraSession::new(store, config))
            .route("/whoami", web::get().to(whoami))
            .route("/login", web::post().to(login)),
    )
    .await;

    // A cookie signed by Node is read.
    let cookie = format!("connect.sid={}", express_cookie_value(sid, SECRET));
    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("cookie", cookie.as_str()))
        .to_request();
    let body = test::call_and_read_body(&app, req).await;
    assert_eq!(body, "ana");
    // One with a signature altered in its last character is not.
    let last = cookie.chars().last().expect("non-empty");
    let other = if last == 'A' { 'B' } else { 'A' };
    let tampered = format!("{}{other}", &cookie[..cookie.len() - 1]);
    let req = test::TestRequest::get()
        .uri("/whoami")
        .insert_header(("cookie", tampered.as_str()))
        .to_request();
    assert_eq!(test::call_and_read_body(&app, req).await, "");

    // The cookie set through actix is the one Node would set and verify.
    let res = test::call_service(&app, test::TestRequest::post().uri("/login").to_request()).await;
    assert!(res.status().is_success());
    let set = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("set-cookie")
        .to_owned();
    let value = set
        .split(';')
        .next()
        .and_then(|nv| nv.strip_prefix("connect.sid="))
        .expect("connect.sid");
    let new_sid = value
        .strip_prefix("s%3A")
        .and_then(|rest| rest.split('.').next())
        .expect("s:<sid>.<sig>");
    assert_eq!(value, express_cookie_value(new_sid, SECRET), "{set}");
    assert!(
        set.contains("; Path=/") && set.contains("; HttpOnly"),
        "{set}"
    );
    let vary = res.headers().get("vary").and_then(|v| v.to_str().ok());
    assert_eq!(vary, Some("Cookie"));
}
