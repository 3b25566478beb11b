//! [`Core`]: what every request of one engine shares: the configuration, the
//! instrumented store (the read side) and the [`Writer`] (the write side).

use crate::config::SessionConfig;
use crate::instrumented::Instrumented;
use crate::lifetime::Lifetime;
use crate::store::BoxedStore;
use crate::writer::Writer;
use std::sync::Arc;

pub(crate) struct Core {
    pub config: Arc<SessionConfig>,
    pub store: Instrumented,
    pub writer: Writer,
}

impl Core {
    pub(crate) fn new(store: BoxedStore, config: SessionConfig) -> Self {
        let config = Arc::new(config);
        let store = Instrumented::new(store, config.store_timeout);
        Self {
            writer: Writer::new(Arc::clone(&config), store.clone()),
            config,
            store,
        }
    }

    pub(crate) fn lifetime(&self) -> Lifetime<'_> {
        Lifetime {
            config: &self.config,
        }
    }
}
