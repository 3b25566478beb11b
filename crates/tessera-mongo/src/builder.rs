//! [`MongoStoreBuilder`]: connection, naming, format, encryption and timeouts.

use crate::crypto::WebCryptoAdapter;
use crate::document::{Codec, SessionFormat};
use crate::error::BuildError;
use crate::store::MongoStore;
use mongodb::Client;
use mongodb::options::ClientOptions;
use std::sync::Arc;
use std::time::Duration;

/// Default server selection and connect timeout: an unreachable server fails fast.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default limit for one store operation (server selection included).
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// Default collection name (connect-mongo's and connect-mongodb-session's).
pub const DEFAULT_COLLECTION: &str = "sessions";
/// Database used when neither the builder nor the URI names one (the Node driver's default).
pub const DEFAULT_DATABASE: &str = "test";
/// Lifetime assumed for a document without `expires` (connect-mongo's `ttl`: 14 days).
pub const DEFAULT_FALLBACK_TTL: Duration = Duration::from_secs(14 * 24 * 3600);

/// Builder for [`MongoStore`]; start with [`MongoStore::builder`].
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use tessera_mongo::{MongoStore, SessionFormat};
/// let store = MongoStore::builder()
///     .uri("mongodb://127.0.0.1:27017/app")
///     .collection("sessions")
///     .format(SessionFormat::Json)
///     .server_selection_timeout(Duration::from_secs(2))
///     .build()
///     .await?;
/// # let _ = store; Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MongoStoreBuilder {
    uri: Option<String>,
    client: Option<Client>,
    database: Option<String>,
    collection: String,
    format: SessionFormat,
    crypto: Option<Arc<WebCryptoAdapter>>,
    server_selection_timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    operation_timeout: Duration,
    max_pool_size: Option<u32>,
    create_indexes: bool,
    fallback_ttl: Duration,
}

impl Default for MongoStoreBuilder {
    fn default() -> Self {
        Self {
            uri: None,
            client: None,
            database: None,
            collection: DEFAULT_COLLECTION.to_owned(),
            format: SessionFormat::default(),
            crypto: None,
            server_selection_timeout: None,
            connect_timeout: None,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            max_pool_size: None,
            create_indexes: true,
            fallback_ttl: DEFAULT_FALLBACK_TTL,
        }
    }
}

impl MongoStoreBuilder {
    /// Connects with a connection string (`mongodb://…`, or `mongodb+srv://…` with the
    /// `dns-resolver` feature). Its options (`maxPoolSize`, `serverSelectionTimeoutMS`, …)
    /// apply unless set on this builder.
    pub fn uri(mut self, uri: impl Into<String>) -> Self {
        self.uri = Some(uri.into());
        self.client = None;
        self
    }

    /// Uses an existing client (its pool and options are shared; timeouts set here do not
    /// apply to it except [`operation_timeout`](Self::operation_timeout)).
    pub fn client(mut self, client: Client) -> Self {
        self.client = Some(client);
        self.uri = None;
        self
    }

    /// The database (default: the URI's database, else `test` as with the Node driver).
    pub fn database(mut self, name: impl Into<String>) -> Self {
        self.database = Some(name.into());
        self
    }

    /// The collection (default `sessions`).
    pub fn collection(mut self, name: impl Into<String>) -> Self {
        self.collection = name.into();
        self
    }

    /// How the `session` field is written (default [`SessionFormat::Json`], connect-mongo's
    /// default). Both shapes are read whatever this says.
    pub fn format(mut self, format: SessionFormat) -> Self {
        self.format = format;
        self
    }

    /// Encrypts the `session` field like connect-mongo's `createWebCryptoAdapter`. Every
    /// stored session must then be encrypted with the same secret; `user`, `expires` and
    /// `version` stay in clear for the indexes. Not combinable with
    /// [`SessionFormat::Embedded`].
    pub fn encryption(mut self, adapter: WebCryptoAdapter) -> Self {
        self.crypto = Some(Arc::new(adapter));
        self
    }

    /// How long the driver looks for a usable server before an operation fails
    /// (default 2 s, unless the URI sets `serverSelectionTimeoutMS`).
    pub fn server_selection_timeout(mut self, d: Duration) -> Self {
        self.server_selection_timeout = Some(d);
        self
    }

    /// TCP connect timeout (default 2 s, unless the URI sets `connectTimeoutMS`).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = Some(d);
        self
    }

    /// Upper bound on one store operation, after which it fails with
    /// [`StoreError::Timeout`](tessera::StoreError::Timeout) (default 5 s).
    pub fn operation_timeout(mut self, d: Duration) -> Self {
        self.operation_timeout = d;
        self
    }

    /// Connections per server in the driver's pool (the driver's default is 10).
    pub fn max_pool_size(mut self, n: u32) -> Self {
        self.max_pool_size = Some(n);
        self
    }

    /// Whether [`build`](Self::build) creates the indexes (default `true`). Without it,
    /// `build` does no I/O; call [`MongoStore::ensure_indexes`] yourself.
    pub fn create_indexes(mut self, yes: bool) -> Self {
        self.create_indexes = yes;
        self
    }

    /// Lifetime of a document that has no `expires` field (connect-mongo's `ttl`, default
    /// 14 days). Documents written by Tessera always have one.
    pub fn fallback_ttl(mut self, d: Duration) -> Self {
        self.fallback_ttl = d;
        self
    }

    /// Connects (lazily: the driver opens connections on first use) and, unless disabled,
    /// creates the indexes.
    pub async fn build(self) -> Result<MongoStore, BuildError> {
        if self.operation_timeout.is_zero() {
            return Err(BuildError::InvalidOption(
                "operation_timeout must be positive",
            ));
        }
        if self.crypto.is_some() && self.format == SessionFormat::Embedded {
            return Err(BuildError::InvalidOption(
                "encryption stores a string; it cannot be combined with SessionFormat::Embedded",
            ));
        }
        let fallback_ttl = time::Duration::try_from(self.fallback_ttl)
            .map_err(|_| BuildError::InvalidOption("fallback_ttl is out of range"))?;
        let client = match (self.client, &self.uri) {
            (Some(client), _) => client,
            (None, Some(uri)) => {
                let mut opts = ClientOptions::parse(uri)
                    .await
                    .map_err(BuildError::InvalidUri)?;
                if let Some(d) = self.server_selection_timeout {
                    opts.server_selection_timeout = Some(d);
                } else if opts.server_selection_timeout.is_none() {
                    opts.server_selection_timeout = Some(DEFAULT_CONNECT_TIMEOUT);
                }
                if let Some(d) = self.connect_timeout {
                    opts.connect_timeout = Some(d);
                } else if opts.connect_timeout.is_none() {
                    opts.connect_timeout = Some(DEFAULT_CONNECT_TIMEOUT);
                }
                if let Some(n) = self.max_pool_size {
                    opts.max_pool_size = Some(n);
                }
                if opts.app_name.is_none() {
                    opts.app_name = Some("tessera-mongo".to_owned());
                }
                Client::with_options(opts).map_err(BuildError::Client)?
            }
            (None, None) => return Err(BuildError::NoConnection),
        };
        let db = match self.database {
            Some(name) => client.database(&name),
            None => client
                .default_database()
                .unwrap_or_else(|| client.database(DEFAULT_DATABASE)),
        };
        let codec = Codec {
            format: self.format,
            crypto: self.crypto,
            fallback_ttl,
        };
        let store = MongoStore::from_parts(
            client,
            db.collection(&self.collection),
            codec,
            self.operation_timeout,
        );
        if self.create_indexes {
            store.ensure_indexes().await.map_err(BuildError::Indexes)?;
        }
        Ok(store)
    }
}
