//! [`Session`]: the request's session as an actix-web extractor.

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use std::future::{Ready, ready};

/// The request's session, extracted in a handler: `async fn h(session: Session)`. It
/// dereferences to [`tessera::Session`], so every method is there (`get`, `insert`,
/// `update`, `cycle_id`, `destroy`, …), with the same guarantees as under axum: lazy
/// loading, conditional saves with replay, no resurrection after a logout.
///
/// Extraction fails with a 500 when [`TesseraSession`](crate::TesseraSession) does not
/// wrap the route, or for a path outside the configured cookie path (as in express, such
/// requests have no session). `Option<Session>` never fails.
#[derive(Clone, Debug)]
pub struct Session(pub tessera::Session);

impl std::ops::Deref for Session {
    type Target = tessera::Session;

    fn deref(&self) -> &tessera::Session {
        &self.0
    }
}

impl Session {
    /// The inner, framework-neutral session (it is `Send`: move it into spawned tasks).
    pub fn into_inner(self) -> tessera::Session {
        self.0
    }
}

/// Extraction failure: the middleware is not installed for this route.
#[derive(Debug, Clone, Copy)]
pub struct MissingSessionMiddleware;

impl std::fmt::Display for MissingSessionMiddleware {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "the session middleware (tessera_actix::TesseraSession) does not wrap this route",
        )
    }
}

impl actix_web::ResponseError for MissingSessionMiddleware {}

impl FromRequest for Session {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let found = req.extensions().get::<tessera::Session>().cloned();
        ready(match found {
            Some(s) => Ok(Session(s)),
            None => {
                tracing::error!("Session extractor used on a route without TesseraSession");
                Err(MissingSessionMiddleware.into())
            }
        })
    }
}
