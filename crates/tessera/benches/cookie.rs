//! Cookie signing and verification (HMAC-SHA256, express-session format).

use criterion::{Criterion, black_box, criterion_group, criterion_main};
use tessera::{SessionConfig, SessionId};

fn bench(c: &mut Criterion) {
    let secrets = SessionConfig::builder()
        .secret("a benchmark secret of at least thirty-two bytes")
        .build()
        .unwrap();
    let rotated = SessionConfig::builder()
        .secrets([
            "a brand new secret, thirty-two bytes or more!!",
            "a benchmark secret of at least thirty-two bytes",
        ])
        .build()
        .unwrap();
    let id = SessionId::generate();
    let cookie = secrets.sign(&id);
    let tampered = format!("{}x", &cookie[..cookie.len() - 1]);
    c.bench_function("cookie/sign", |b| b.iter(|| secrets.sign(black_box(&id))));
    c.bench_function("cookie/verify", |b| {
        b.iter(|| secrets.verify(black_box(&cookie)))
    });
    c.bench_function("cookie/verify_old_secret", |b| {
        b.iter(|| rotated.verify(black_box(&cookie)))
    });
    c.bench_function("cookie/reject_tampered", |b| {
        b.iter(|| secrets.verify(black_box(&tampered)))
    });
    c.bench_function("id/generate", |b| b.iter(SessionId::generate));
}

criterion_group!(benches, bench);
criterion_main!(benches);
