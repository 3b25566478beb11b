//! Table tests of the two decisions: `Ready::plan` (what to write) and `outgoing` (what the
//! response says), without a store.

use super::*;
use crate::config::{SessionConfigBuilder, Unset};
use crate::record::Record;
use serde_json::json;
use std::time::Duration;

const SECRET: &str = "0123456789abcdef0123456789abcdef";

fn builder() -> SessionConfigBuilder {
    SessionConfig::builder().secret(SECRET)
}

fn now() -> OffsetDateTime {
    crate::Clock::System.now()
}

/// A stored record whose expiry was last moved `ago` before now (24 h idle window).
fn stored_record(ago: Duration) -> Arc<Record> {
    let now = now();
    let mut r = Record::new(
        SessionId::generate(),
        now,
        now + Duration::from_secs(86_400) - ago,
    );
    r.data.insert("a".into(), json!(1));
    r.version = 7;
    Arc::new(r)
}

#[derive(Clone, Copy, Debug)]
enum Start {
    New,
    /// Stored; last touched this long ago.
    Stored(Duration),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    None,
    Insert,
    EmptyIt,
    Cycle,
    Destroy,
    ForceTouch,
}

fn ready(start: Start, change: Change) -> Ready {
    let mut r = match start {
        Start::New => Ready::new_session(Record::new(SessionId::generate(), now(), now())),
        Start::Stored(ago) => Ready::stored(stored_record(ago)),
    };
    match change {
        Change::None => {}
        Change::Insert => r.push(Op::Insert("b".into(), json!(2))).unwrap(),
        Change::EmptyIt => r.push(Op::Clear).unwrap(),
        Change::Cycle => r.cycle_id(SessionId::generate()),
        Change::Destroy => r.destroyed(Record::new(SessionId::generate(), now(), now())),
        Change::ForceTouch => r.force_touch(),
    }
    r
}

fn kind(p: &Plan) -> &'static str {
    match p {
        Plan::Nothing => "nothing",
        Plan::Create { replaces: None, .. } => "create",
        Plan::Create {
            replaces: Some(_), ..
        } => "cycle",
        Plan::Save { .. } => "save",
        Plan::Touch { .. } => "touch",
        Plan::Delete { .. } => "delete",
    }
}

const END: Mode = Mode::End {
    server_error: false,
};
const END_5XX: Mode = Mode::End { server_error: true };
const FRESH: Duration = Duration::from_secs(5);
const DUE: Duration = Duration::from_secs(120);

#[test]
fn plan_table() {
    let plain = builder().build().unwrap();
    let save_uninit = builder().save_uninitialized(true).build().unwrap();
    let resave = builder().resave(true).build().unwrap();
    let destroy_empty = builder().unset(Unset::Destroy).build().unwrap();
    #[rustfmt::skip]
    let rows: &[(&str, &SessionConfig, Start, Change, Mode, &str)] = &[
        ("new, untouched",                        &plain,         Start::New,          Change::None,       END,            "nothing"),
        ("new, untouched, saveUninitialized",     &save_uninit,   Start::New,          Change::None,       END,            "create"),
        ("new, untouched, 5xx, saveUninitialized",&save_uninit,   Start::New,          Change::None,       END_5XX,        "nothing"),
        ("new, untouched, explicit save",         &plain,         Start::New,          Change::None,       Mode::Explicit, "create"),
        ("new, changed",                          &plain,         Start::New,          Change::Insert,     END,            "create"),
        ("new, changed, 5xx",                     &plain,         Start::New,          Change::Insert,     END_5XX,        "nothing"),
        ("destroyed, saveUninitialized",          &save_uninit,   Start::Stored(FRESH),Change::Destroy,    END,            "nothing"),
        ("destroyed",                             &plain,         Start::Stored(FRESH),Change::Destroy,    END,            "nothing"),
        ("stored, read only, touch not due",      &plain,         Start::Stored(FRESH),Change::None,       END,            "nothing"),
        ("stored, read only, touch due",          &plain,         Start::Stored(DUE),  Change::None,       END,            "touch"),
        ("stored, read only, touch due, 5xx",     &plain,         Start::Stored(DUE),  Change::None,       END_5XX,        "nothing"),
        ("stored, touch() inside touch_after",    &plain,         Start::Stored(FRESH),Change::ForceTouch, END,            "touch"),
        ("stored, read only, resave",             &resave,        Start::Stored(FRESH),Change::None,       END,            "save"),
        ("stored, read only, explicit save",      &plain,         Start::Stored(FRESH),Change::None,       Mode::Explicit, "save"),
        ("stored, changed",                       &plain,         Start::Stored(FRESH),Change::Insert,     END,            "save"),
        ("stored, changed, 5xx",                  &plain,         Start::Stored(FRESH),Change::Insert,     END_5XX,        "nothing"),
        ("stored, changed, unset=destroy",        &destroy_empty, Start::Stored(FRESH),Change::Insert,     END,            "save"),
        ("stored, emptied, unset=destroy",        &destroy_empty, Start::Stored(FRESH),Change::EmptyIt,    END,            "delete"),
        ("stored, emptied, unset=keep",           &plain,         Start::Stored(FRESH),Change::EmptyIt,    END,            "save"),
        ("stored, id cycled",                     &plain,         Start::Stored(FRESH),Change::Cycle,      END,            "cycle"),
        ("stored, id cycled, 5xx",                &plain,         Start::Stored(FRESH),Change::Cycle,      END_5XX,        "nothing"),
        ("new, id cycled",                        &plain,         Start::New,          Change::Cycle,      END,            "nothing"),
        ("new, id cycled, explicit save",         &plain,         Start::New,          Change::Cycle,      Mode::Explicit, "create"),
    ];
    for (name, config, start, change, mode, want) in rows {
        let r = ready(*start, *change);
        let lifetime = Lifetime { config };
        let got = r.plan(*mode, lifetime, now());
        assert_eq!(kind(&got), *want, "{name}: {got:?}");
    }
}

#[test]
fn plans_carry_the_right_records() {
    let config = builder().build().unwrap();
    let lifetime = Lifetime { config: &config };
    let mut r = ready(Start::Stored(FRESH), Change::Insert);
    r.push(Op::Remove("a".into())).unwrap();
    match r.plan(END, lifetime, now()) {
        Plan::Save { base, log } => {
            assert_eq!(
                base.data.get("a"),
                Some(&json!(1)),
                "base is the stored record"
            );
            assert_eq!(log.len(), 2);
        }
        other => panic!("{other:?}"),
    }
    let old = r.stored_record().unwrap().id.clone();
    r.cycle_id(SessionId::generate());
    match r.plan(END, lifetime, now()) {
        Plan::Create {
            record,
            replaces,
            taken,
        } => {
            assert_eq!(replaces, Some(old.clone()));
            assert_ne!(record.id, old);
            assert_eq!(record.data.get("b"), Some(&json!(2)), "same data, new id");
            assert_eq!(taken, 2);
            assert!(record.expires_at > now() + Duration::from_secs(86_000));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn applying_a_save_keeps_changes_made_meanwhile() {
    let config = builder().build().unwrap();
    let lifetime = Lifetime { config: &config };
    let mut r = ready(Start::Stored(FRESH), Change::Insert);
    let plan = r.plan(END, lifetime, now());
    let taken = plan.taken();
    // Another task of the request changes the session while the save is in flight.
    r.push(Op::Insert("late".into(), json!(true))).unwrap();
    let mut saved = Record::clone(r.stored_record().unwrap());
    saved.data.insert("b".into(), json!(2));
    saved
        .data
        .insert("other".into(), json!("from a concurrent request"));
    saved.version = 8;
    r.apply(Written::Saved(Arc::new(saved)), taken, || unreachable!())
        .unwrap();
    assert_eq!(r.stored_record().unwrap().version, 8);
    assert!(r.modified(), "the late change is still to be saved");
    let w = r.working();
    assert_eq!(w.data.get("late"), Some(&json!(true)));
    assert_eq!(
        w.data.get("other"),
        Some(&json!("from a concurrent request"))
    );
}

fn verified(id: &SessionId, secret_index: usize) -> Verified {
    Verified {
        id: id.clone(),
        secret_index,
    }
}

#[derive(Clone, Copy, Debug)]
enum Req {
    /// No token.
    Bare,
    /// The stored session's token, signed with secret `n`.
    Same(usize),
    /// A token for another (missing) session.
    Other,
}

/// name, config, state (None = unloaded), change, request token, header token sent, 5xx,
/// cookie, header.
type CookieRow<'a> = (
    &'a str,
    &'a SessionConfig,
    Option<Start>,
    Change,
    Req,
    bool,
    bool,
    &'a str,
    &'a str,
);

#[test]
fn cookie_and_header_table() {
    let plain = builder().build().unwrap();
    let rolling = builder().rolling(true).build().unwrap();
    let no_resign = builder().resign_old_cookies(false).build().unwrap();
    let header = builder()
        .header(http::HeaderName::from_static("x-session-id"))
        .build()
        .unwrap();
    let header_only = builder()
        .header(http::HeaderName::from_static("x-session-id"))
        .without_cookie()
        .build()
        .unwrap();
    let set = "set";
    #[rustfmt::skip]
    let rows: &[CookieRow] = &[
        // name, config, state (None = unloaded), change, request token, header token sent, 5xx, cookie, header
        ("unloaded",                        &plain,       None,                     Change::None,    Req::Same(0), false, false, "keep",  "keep"),
        ("stored, same id",                 &plain,       Some(Start::Stored(FRESH)),Change::None,   Req::Same(0), false, false, "keep",  "keep"),
        ("stored, same id, rolling",        &rolling,     Some(Start::Stored(FRESH)),Change::None,   Req::Same(0), false, false, set,     "keep"),
        ("stored, old secret",              &plain,       Some(Start::Stored(FRESH)),Change::None,   Req::Same(1), false, false, set,     "keep"),
        ("stored, old secret, no resign",   &no_resign,   Some(Start::Stored(FRESH)),Change::None,   Req::Same(1), false, false, "keep",  "keep"),
        ("stored, request had no token",    &plain,       Some(Start::Stored(FRESH)),Change::None,   Req::Bare,    false, false, set,     "keep"),
        ("stored, no token, 5xx",           &plain,       Some(Start::Stored(FRESH)),Change::None,   Req::Bare,    false, true,  "keep",  "keep"),
        ("new, not stored",                 &plain,       Some(Start::New),          Change::Insert, Req::Bare,    false, false, "keep",  "keep"),
        ("destroyed, had cookie",           &plain,       Some(Start::Stored(FRESH)),Change::Destroy,Req::Same(0), false, false, "clear", "keep"),
        ("destroyed, had no cookie",        &plain,       Some(Start::Stored(FRESH)),Change::Destroy,Req::Bare,    false, false, "keep",  "keep"),
        ("header: new session",             &header,      Some(Start::Stored(FRESH)),Change::None,   Req::Bare,    false, false, set,     "send"),
        ("header: same session",            &header_only, Some(Start::Stored(FRESH)),Change::None,   Req::Same(0), true,  false, "keep",  "keep"),
        ("header: destroyed",               &header_only, Some(Start::Stored(FRESH)),Change::Destroy,Req::Same(0), true,  false, "keep",  "ended"),
        ("header: token names no session",  &header_only, Some(Start::New),          Change::None,   Req::Other,   true,  false, "keep",  "ended"),
        ("header: bad token, unloaded",     &header_only, None,                      Change::None,   Req::Bare,    true,  false, "keep",  "keep"),
        ("header only: new session",        &header_only, Some(Start::Stored(FRESH)),Change::None,   Req::Bare,    false, false, "keep",  "send"),
    ];
    for (name, config, start, change, req, header_token, server_error, want_cookie, want_header) in
        rows
    {
        let state = match start {
            None => State::Unloaded,
            Some(s) => State::Ready(ready(*s, *change)),
        };
        let stored_id = match &state {
            State::Ready(r) => r.stored_record().map(|s| s.id.clone()),
            _ => None,
        };
        let token = match req {
            Req::Bare => None,
            Req::Same(n) => Some(verified(
                stored_id.as_ref().unwrap_or(&SessionId::generate()),
                *n,
            )),
            Req::Other => Some(verified(&SessionId::generate(), 0)),
        };
        // A destroyed session was stored under the request's id before.
        let token = match (change, req) {
            (Change::Destroy, Req::Same(n)) => Some(verified(&SessionId::generate(), *n)),
            _ => token,
        };
        let incoming = Incoming {
            verified: token.as_ref(),
            header_token: *header_token,
            server_error: *server_error,
        };
        let (cookie, header) = outgoing(&state, incoming, config);
        let cookie = match cookie {
            CookieOut::Keep => "keep",
            CookieOut::Set { id, .. } => {
                assert_eq!(Some(&id), stored_id.as_ref(), "{name}: the stored id");
                set
            }
            CookieOut::Clear => "clear",
        };
        let header = match header {
            HeaderOut::Keep => "keep",
            HeaderOut::Send(_) => "send",
            HeaderOut::Ended => "ended",
        };
        assert_eq!((cookie, header), (*want_cookie, *want_header), "{name}");
    }
}

#[test]
fn a_save_during_the_request_sends_the_cookie_even_on_a_5xx() {
    let config = builder().build().unwrap();
    let mut r = ready(Start::New, Change::Insert);
    let mut created = Record::clone(r.working());
    created.version = 1;
    r.apply(Written::Created(Box::new(created)), 1, || unreachable!())
        .unwrap();
    let state = State::Ready(r);
    let incoming = Incoming {
        verified: None,
        header_token: false,
        server_error: true,
    };
    assert!(matches!(
        outgoing(&state, incoming, &config).0,
        CookieOut::Set { .. }
    ));
}

#[test]
fn must_load_at_end_table() {
    let plain = builder().build().unwrap();
    let rolling = builder().rolling(true).build().unwrap();
    let save_uninit = builder().save_uninitialized(true).build().unwrap();
    for (config, has_id, server_error, want) in [
        (&plain, true, false, false),
        (&rolling, true, false, true),
        (&rolling, false, false, false),
        (&rolling, true, true, false),
        (&save_uninit, false, false, true),
        (&save_uninit, false, true, false),
    ] {
        assert_eq!(must_load_at_end(config, has_id, server_error), want);
    }
}
