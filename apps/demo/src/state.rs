//! The application state every handler shares.

use crate::config::Config;
use crate::{passwords, templates, throttle, users};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::ops::Deref;
use std::sync::Arc;
use tessera::BoxedStore;

/// Shared application state.
#[derive(Clone)]
pub struct AppState(pub(crate) Arc<Inner>);

/// What [`AppState`] holds.
pub struct Inner {
    /// The configuration.
    pub config: Config,
    /// The session store (for listing and revoking a user's sessions, health, metrics).
    pub store: BoxedStore,
    /// Accounts.
    pub users: users::UserDb,
    /// Password hashing.
    pub passwords: passwords::Passwords,
    /// Failed-login counters.
    pub throttle: throttle::Throttle,
    /// Registrations per client address.
    pub registrations: throttle::Registrations,
    /// Page templates.
    pub templates: templates::Templates,
    /// Key for the opaque session handles shown on the sessions page.
    pub(crate) handle_key: Vec<u8>,
    /// Key for the signed double-submit CSRF tokens of anonymous visitors.
    pub(crate) csrf_key: Vec<u8>,
}

impl Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// The key signing anonymous visitors' CSRF tokens (see [`crate::csrf`]).
    pub fn csrf_key(&self) -> &[u8] {
        &self.csrf_key
    }

    /// The opaque handle of a session: an HMAC of its id, so the id (a bearer secret)
    /// never appears in a page or an API response, and a handle cannot be turned back
    /// into an id.
    pub fn handle_of(&self, id: &tessera::SessionId) -> String {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.handle_key).expect("HMAC takes any key");
        mac.update(id.as_str().as_bytes());
        URL_SAFE_NO_PAD.encode(&mac.finalize().into_bytes()[..18])
    }
}
