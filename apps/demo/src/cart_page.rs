//! The shop page (issue 11, point 15): a small catalogue and the session's cart, with add
//! and remove forms (CSRF-protected, no JavaScript). Anonymous visitors can fill a cart
//! (that creates their session); it is kept when they log in or register.

use crate::api::{self, CartFull};
use crate::auth::{self, CART_KEY, Client};
use crate::csrf::{self, CsrfForm, Nonce};
use crate::error::Fail;
use crate::state::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tessera::Session;

/// One product of the catalogue.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Product {
    /// The SKU stored in the cart.
    pub sku: &'static str,
    /// Shown name.
    pub name: &'static str,
    /// Price in cents.
    pub cents: u32,
}

/// The shop's catalogue.
pub const CATALOGUE: &[Product] = &[
    Product {
        sku: "TEA-GREEN",
        name: "Green tea, 100 g",
        cents: 650,
    },
    Product {
        sku: "TEA-BLACK",
        name: "Assam black tea, 250 g",
        cents: 890,
    },
    Product {
        sku: "MUG-BLUE",
        name: "Blue stoneware mug",
        cents: 1200,
    },
    Product {
        sku: "POT-IRON",
        name: "Cast-iron teapot",
        cents: 3900,
    },
];

fn price(cents: u64) -> String {
    format!("€{}.{:02}", cents / 100, cents % 100)
}

#[derive(Serialize)]
struct Line {
    sku: String,
    name: String,
    price: String,
}

async fn render(
    state: &AppState,
    session: &Session,
    nonce: &Nonce,
    client: &Client,
    status: StatusCode,
    error: Option<String>,
) -> Result<Response, Fail> {
    let user = auth::current_user(session, client).await?;
    let skus = api::items(session.get_value(CART_KEY).await?);
    let mut total = 0u64;
    let items: Vec<Line> = skus
        .iter()
        .filter_map(Value::as_str)
        .map(|sku| match CATALOGUE.iter().find(|p| p.sku == sku) {
            Some(p) => {
                total += u64::from(p.cents);
                Line {
                    sku: sku.to_owned(),
                    name: p.name.to_owned(),
                    price: price(p.cents.into()),
                }
            }
            // Added through the API with a SKU the shop does not sell.
            None => Line {
                sku: sku.to_owned(),
                name: sku.to_owned(),
                price: "–".to_owned(),
            },
        })
        .collect();
    let products: Vec<Line> = CATALOGUE
        .iter()
        .map(|p| Line {
            sku: p.sku.to_owned(),
            name: p.name.to_owned(),
            price: price(p.cents.into()),
        })
        .collect();
    let ctx = serde_json::json!({
        "csrf": csrf::token(state, session, nonce).await?,
        "nav_email": user.map(|u| u.email),
        "products": products,
        "items": items,
        "total": price(total),
        "error": error,
    });
    Ok(state.templates.page(status, "cart.html", ctx))
}

/// `GET /cart`.
pub async fn page(
    State(state): State<AppState>,
    session: Session,
    nonce: Nonce,
    client: Client,
) -> Result<Response, Fail> {
    render(&state, &session, &nonce, &client, StatusCode::OK, None).await
}

/// The add and remove forms' field.
#[derive(Deserialize, Default)]
pub struct SkuForm {
    #[serde(default)]
    sku: String,
}

/// `POST /cart/items`: adds a catalogue product; 303 back to `/cart`, or the page with
/// 422 (unknown product, full cart).
pub async fn add(
    State(state): State<AppState>,
    session: Session,
    nonce: Nonce,
    client: Client,
    CsrfForm(f): CsrfForm<SkuForm>,
) -> Result<Response, Fail> {
    let error = match CATALOGUE.iter().find(|p| p.sku == f.sku) {
        None => "There is no such product.".to_owned(),
        Some(product) => match api::add_item(&session, product.sku.to_owned()).await? {
            Ok(_) => return Ok(crate::respond::see_other("/cart")),
            Err(CartFull) => format!("Your cart is full ({} items).", api::MAX_CART),
        },
    };
    render(
        &state,
        &session,
        &nonce,
        &client,
        StatusCode::UNPROCESSABLE_ENTITY,
        Some(error),
    )
    .await
}

/// `POST /cart/items/{index}/remove` (with the SKU, so a cart changed in another tab
/// meanwhile loses the right item): removes that line, or the first line with that SKU;
/// 303 back to `/cart`.
pub async fn remove(
    session: Session,
    Path(index): Path<usize>,
    CsrfForm(f): CsrfForm<SkuForm>,
) -> Result<Response, Fail> {
    if api::items(session.get_value(CART_KEY).await?).is_empty() {
        return Ok(crate::respond::see_other("/cart"));
    }
    session
        .update(CART_KEY, move |old: Option<Value>| {
            let mut list = api::items(old);
            let at = if list.get(index).and_then(Value::as_str) == Some(f.sku.as_str()) {
                Some(index)
            } else {
                list.iter().position(|v| v.as_str() == Some(f.sku.as_str()))
            };
            if let Some(at) = at {
                list.remove(at);
            }
            Value::Array(list)
        })
        .await?;
    Ok(crate::respond::see_other("/cart"))
}
