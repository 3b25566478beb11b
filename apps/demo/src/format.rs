//! How times and durations are shown on the pages.

use std::time::Duration;
use time::OffsetDateTime;

/// `2026-01-02 10:44 UTC`.
pub fn show_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// `30 days`, `15 minutes`, `2 seconds`.
pub fn show_duration(d: Duration) -> String {
    let s = d.as_secs();
    let (n, unit) = if s >= 86_400 && s % 86_400 == 0 {
        (s / 86_400, "day")
    } else if s >= 3600 && s % 3600 == 0 {
        (s / 3600, "hour")
    } else if s >= 60 && s % 60 == 0 {
        (s / 60, "minute")
    } else {
        (s, "second")
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}
