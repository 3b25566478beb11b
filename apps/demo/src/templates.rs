//! The page templates (minijinja, embedded in the binary, HTML auto-escaping on).

use anyhow::Context as _;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("../templates/base.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("register.html", include_str!("../templates/register.html")),
    ("welcome.html", include_str!("../templates/welcome.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    ("sessions.html", include_str!("../templates/sessions.html")),
    ("account.html", include_str!("../templates/account.html")),
    ("cart.html", include_str!("../templates/cart.html")),
    ("error.html", include_str!("../templates/error.html")),
];

/// The stylesheet served at `/static/style.css`.
pub const STYLESHEET: &str = include_str!("../static/style.css");

/// The compiled templates.
pub struct Templates {
    env: minijinja::Environment<'static>,
}

impl Templates {
    /// Compiles every template (a syntax error is a startup error).
    pub fn new() -> anyhow::Result<Self> {
        let mut env = minijinja::Environment::new();
        env.set_undefined_behavior(minijinja::UndefinedBehavior::SemiStrict);
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .with_context(|| format!("template {name}"))?;
        }
        Ok(Self { env })
    }

    /// Renders `name` with `ctx` as a response with `status` (a rendering error is logged
    /// and answered 500).
    pub fn page(&self, status: StatusCode, name: &str, ctx: impl Serialize) -> Response {
        match self.render(name, ctx) {
            Ok(html) => (status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "template failed");
                crate::respond::error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong on our side.",
                )
            }
        }
    }

    /// Renders `name` with `ctx`.
    pub fn render(&self, name: &str, ctx: impl Serialize) -> anyhow::Result<String> {
        let t = self.env.get_template(name)?;
        t.render(ctx).with_context(|| format!("rendering {name}"))
    }
}
