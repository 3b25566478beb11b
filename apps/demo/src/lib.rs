//! # tessera-demo: the tutorials' login site, done properly
//!
//! Register, log in (with "remember me"), a welcome page, log out, idle and absolute
//! expiry, a page listing the user's sessions with revocation, a JSON API with a
//! shopping cart, CSRF tokens, login throttling, security headers, `/healthz` and
//! `/metrics`, on Tessera sessions in any of its stores.
//!
//! [`build_app`] returns the whole site as an axum [`Router`]; [`serve`] runs it with the
//! peer address available (for the sessions page and per-IP throttling). Integration
//! tests use both on a random port.

#![forbid(unsafe_code)]

pub mod account;
pub mod api;
pub mod auth;
pub mod cart_page;
pub mod config;
pub mod csrf;
pub mod email;
pub mod error;
pub mod format;
pub mod metrics;
pub mod pages;
pub mod passwords;
pub mod random;
pub mod respond;
pub mod security_headers;
pub mod server;
pub mod sessions_page;
pub mod state;
pub mod stores;
pub mod templates;
pub mod throttle;
pub mod users;

use anyhow::{Context as _, bail};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::path::Path;
use std::sync::Arc;
use tessera::{BoxedStore, SessionConfig, SessionLayer};

pub use config::{Config, MAX_BODY, SESSION_HEADER};
pub use random::random_token;
pub use state::{AppState, Inner};

/// The built site and what startup should report.
pub struct App {
    /// The site.
    pub router: Router,
    /// The session store, without credentials.
    pub store_description: String,
    /// The user database, without credentials.
    pub user_db_description: String,
    /// Warnings for the operator.
    pub warnings: Vec<String>,
}

/// The session secrets: `SESSION_SECRET` (comma-separated), or the generated one kept in
/// `DATA_DIR/secret` (created with mode 0600).
fn secrets(config: &Config, warnings: &mut Vec<String>) -> anyhow::Result<Vec<String>> {
    let min = tessera::MIN_SECRET_LEN;
    if let Some(raw) = &config.session_secret {
        let list: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect();
        if list.is_empty() {
            bail!("SESSION_SECRET is empty");
        }
        for (i, s) in list.iter().enumerate() {
            if s.len() < min {
                bail!(
                    "SESSION_SECRET: secret #{} is {} bytes; each must be at least {min} bytes",
                    i + 1,
                    s.len()
                );
            }
        }
        return Ok(list);
    }
    let path = config.data_dir.join("secret");
    let secret = read_or_create_secret(&path)?;
    if secret.len() < min {
        bail!(
            "{} holds a secret of {} bytes; at least {min} are required (delete the file to generate a new one)",
            path.display(),
            secret.len()
        );
    }
    warnings.push(format!(
        "SESSION_SECRET is not set: using the generated secret in {} (set SESSION_SECRET in production)",
        path.display()
    ));
    Ok(vec![secret])
}

fn read_or_create_secret(path: &Path) -> anyhow::Result<String> {
    use std::io::Write as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(mut f) => {
            let secret = random_token(48);
            f.write_all(secret.as_bytes())
                .and_then(|()| f.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let s = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            Ok(s.trim().to_owned())
        }
        Err(e) => Err(e).with_context(|| format!("cannot create {}", path.display())),
    }
}

impl App {
    /// Opens the stores, checks the configuration and builds the site.
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        let mut warnings = Vec::new();
        let secrets = secrets(&config, &mut warnings)?;
        let opened = stores::open(&config.session_store).await?;
        Self::assemble(config, secrets, warnings, opened).await
    }

    /// Builds the site on a given session store (`SESSION_STORE` is ignored), e.g. a
    /// store wrapper in tests.
    pub async fn with_store(config: Config, store: BoxedStore) -> anyhow::Result<Self> {
        let opened = stores::Opened::custom(store, "custom store");
        let mut warnings = Vec::new();
        let secrets = secrets(&config, &mut warnings)?;
        Self::assemble(config, secrets, warnings, opened).await
    }

    async fn assemble(
        config: Config,
        secrets: Vec<String>,
        mut warnings: Vec<String>,
        opened: stores::Opened,
    ) -> anyhow::Result<Self> {
        warnings.extend(opened.warnings.iter().cloned());
        let users = users::UserDb::open(&config.user_db, opened.sqlite.as_ref()).await?;
        let passwords = passwords::Passwords::new().await?;

        let secure = config.cookie_secure;
        let sessions = || {
            SessionConfig::builder()
                .secrets(&secrets)
                .cookie_name(config.session_cookie_name.clone())
                .secure(secure)
                .trust_proxy(config.trust_proxy)
                .idle_timeout(config.session_idle_timeout)
                .absolute_timeout(config.session_absolute_timeout)
        };
        // The header transport is for API clients: pages (which a browser renders, with
        // forms whose tokens a header must not unlock) know only the cookie.
        let page_sessions = sessions()
            .build()
            .context("invalid session configuration")?;
        let api_sessions = sessions()
            .header(http::HeaderName::from_static(SESSION_HEADER))
            .build()
            .context("invalid session configuration")?;
        if config.cookie_secure == tessera::Secure::Never {
            warnings.push(
                "COOKIE_SECURE=false: the session cookie is sent over plain HTTP too".to_owned(),
            );
        }

        let derive = |purpose: &[u8]| {
            let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secrets[0].as_bytes())
                .expect("HMAC takes any key");
            mac.update(purpose);
            mac.finalize().into_bytes().to_vec()
        };
        let handle_key = derive(b"tessera-demo session handle v1");
        let csrf_key = derive(b"tessera-demo csrf key v1");

        let state = AppState(Arc::new(Inner {
            store: opened.store.clone(),
            users,
            passwords,
            throttle: throttle::Throttle::default(),
            registrations: throttle::Registrations::new(config.register_limit as usize),
            templates: templates::Templates::new()?,
            handle_key,
            csrf_key,
            config: config.clone(),
        }));
        metrics::install();
        tokio::spawn(metrics::refresh_active_sessions(Arc::downgrade(&state.0)));

        let api = Router::new()
            .route("/register", post(api::register))
            .route("/login", post(api::login))
            .route("/logout", post(api::logout))
            .route("/user", get(api::user))
            .route(
                "/sessions",
                get(api::list_sessions).delete(api::revoke_scope),
            )
            .route("/sessions/{handle}", axum::routing::delete(api::revoke))
            .route("/cart", get(api::cart).delete(api::clear_cart))
            .route("/cart/items", post(api::add_to_cart))
            .route("/password", post(account::change_api))
            .fallback(api::not_found)
            .layer(axum::middleware::from_fn(api::guard))
            .layer(SessionLayer::with_boxed(opened.store.clone(), api_sessions))
            .layer(axum::middleware::from_fn(api::json_errors));

        let router = Router::new()
            .route("/", get(pages::home))
            .route("/login", get(pages::login_page).post(pages::login))
            .route("/register", get(pages::register_page).post(pages::register))
            .route("/logout", get(pages::logout_page).post(pages::logout))
            .route("/sessions", get(sessions_page::list_page))
            .route("/account", get(account::page))
            .route("/cart", get(cart_page::page))
            .route("/cart/items", post(cart_page::add))
            .route("/cart/items/{index}/remove", post(cart_page::remove))
            .route("/account/password", post(account::change_page))
            .route(
                "/sessions/revoke-others",
                post(sessions_page::revoke_others_page),
            )
            .route("/sessions/{handle}/revoke", post(sessions_page::revoke))
            .route("/static/style.css", get(pages::stylesheet))
            .route("/favicon.ico", get(pages::favicon))
            .route("/healthz", get(metrics::healthz))
            .route("/metrics", get(metrics::render))
            .fallback(pages::not_found)
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                csrf::cookie_layer,
            ))
            .layer(SessionLayer::with_boxed(opened.store, page_sessions))
            .nest("/api", api)
            .layer(DefaultBodyLimit::max(MAX_BODY))
            .layer(tower_http::timeout::TimeoutLayer::with_status_code(
                http::StatusCode::REQUEST_TIMEOUT,
                config.request_timeout,
            ))
            .layer(axum::middleware::from_fn(error::render_session_failures))
            .layer(axum::middleware::from_fn_with_state(
                state.clone(),
                auth::client_ip,
            ))
            .with_state(state);
        let router = security_headers::apply(router)
            .layer(axum::middleware::from_fn(metrics::count_responses));

        Ok(Self {
            router,
            store_description: opened.description,
            user_db_description: stores::redact(&config.user_db),
            warnings,
        })
    }
}

/// Builds the site (see [`App::build`]).
pub async fn build_app(config: Config) -> anyhow::Result<Router> {
    Ok(App::build(config).await?.router)
}

pub use server::{Limits, serve};
