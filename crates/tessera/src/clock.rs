//! Wall-clock time source, replaceable in tests.

use std::time::SystemTime;
use time::OffsetDateTime;

/// Where "now" comes from.
///
/// [`Clock::System`] reads the system clock. [`Clock::tokio`] follows tokio's clock, so
/// tests with `tokio::time::pause()` + `advance()` can move sessions through idle and
/// absolute expiry without waiting.
#[derive(Clone, Copy, Debug, Default)]
pub enum Clock {
    /// The system clock (the default).
    #[default]
    System,
    /// The wall time when created, moved forward by tokio's (pausable) clock.
    Tokio {
        /// Wall time at the anchor.
        wall: SystemTime,
        /// tokio's instant at the anchor.
        instant: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that follows tokio's time (use in tests with paused time).
    pub fn tokio() -> Self {
        Self::Tokio {
            wall: SystemTime::now(),
            instant: tokio::time::Instant::now(),
        }
    }

    /// The current time, truncated to milliseconds (the precision stored records keep).
    pub fn now(&self) -> OffsetDateTime {
        let now = match self {
            Self::System => SystemTime::now(),
            Self::Tokio { wall, instant } => *wall + instant.elapsed(),
        };
        truncate_ms(OffsetDateTime::from(now))
    }
}

/// Drops sub-millisecond precision.
pub(crate) fn truncate_ms(t: OffsetDateTime) -> OffsetDateTime {
    let ms = t.millisecond();
    t.replace_nanosecond(u32::from(ms) * 1_000_000).unwrap_or(t)
}
