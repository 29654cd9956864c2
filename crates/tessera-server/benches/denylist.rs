//! The in-process deny-list at scale: memory per entry and `DenyList::check` at 1,000,000 revoked
//! tokens (issue 4).
//!
//! Setup: a `DenyList` loaded from an empty SQLite store (as a fresh server would be, with a
//! 15-minute longest access lifetime), then filled through `DenyList::apply`, the path every
//! revocation read from the durable record takes:
//! 1,000,000 token (`jti`) revocations, then 100,000 session and 10,000 user revocations. Every
//! subject is 22 base64url characters, as the server makes them (`jti`, session and user ids are
//! 128 random bits, base64url without padding).
//!
//! Memory: the process RSS (`VmRSS` in `/proc/self/status`) before and after the 1M token entries,
//! divided by the entries. That is an RSS delta: it includes the hash table's spare capacity and
//! the allocator's per-string overhead, which is what a server pays.
//!
//! Lookups: `DenyList::check(&claims)` with realistic `AccessClaims` (issuer, audience, 22-char
//! `sub`, `jti` and `sid`, `iat`/`nbf`/`exp`, `client_id`):
//! - `hit`: a revoked `jti` (one map lookup, then `Some(Denial::Token)`);
//! - `miss`: an unrevoked token (lookups in all three maps, then `None`: what every valid request
//!   pays);
//! - `hot`: the same claims every iteration (the entry and the probed buckets stay in the CPU
//!   caches); `cold`: fresh claims every iteration (built untimed, in batches of 64, so the claims
//!   themselves are in cache, as a just-parsed token's are) with a random revoked `jti` among
//!   65,536 (hit) or new random ids (miss), so each lookup lands on a random bucket of a table far
//!   larger than the caches: what a server sees with many distinct tokens;
//! - `miss/empty`: the same miss against an empty deny-list, the peer.
//!
//! Also timed: `DenyList::sync` at 1.1M entries, which the server runs every second and which holds
//! the write lock while it drops expired entries (a scan of every entry).
//!
//! Run with `cargo bench -p tessera-server --bench denylist`; see `BENCHMARKS.md` for results.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    missing_docs,
    reason = "benchmark code: a failed setup should abort the run"
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use serde_json::Map;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tessera_server::denylist::{Denial, DenyList};
use tessera_server::metrics::Metrics;
use tessera_store::sqlite::SqliteStore;
use tessera_store::{Revocation, RevocationKind, Store};
use tessera_token::{AccessClaims, Audience};

const TOKENS: usize = 1_000_000;
const SESSIONS: usize = 100_000;
const USERS: usize = 10_000;
/// Revoked jtis kept aside for the `hit/cold` lookups.
const SPREAD: usize = 65_536;

/// splitmix64: deterministic, well-mixed 64-bit values (the ids only need to look random).
struct Ids(u64);

impl Ids {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// 128 bits, base64url without padding: 22 characters, like the server's ids.
    fn id(&mut self) -> String {
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&self.next_u64().to_le_bytes());
        bytes[8..].copy_from_slice(&self.next_u64().to_le_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }
}

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}

fn revocation(
    kind: RevocationKind,
    subject: String,
    not_before: u64,
    expires_at: u64,
) -> Revocation {
    Revocation {
        kind,
        subject,
        not_before,
        expires_at,
    }
}

fn claims(sub: String, jti: String, sid: String, now: u64) -> AccessClaims {
    AccessClaims {
        iss: "https://tessera.bench.invalid".to_owned(),
        sub,
        aud: Audience::One("tessera".to_owned()),
        exp: now + 900,
        iat: Some(now),
        nbf: Some(now),
        jti,
        sid: Some(sid),
        client_id: None,
        extra: Map::new(),
    }
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let open = |name: &str| -> DenyList {
        let path = dir.path().join(name);
        runtime.block_on(async {
            let store: Arc<dyn Store> =
                Arc::new(SqliteStore::open(&path).await.expect("sqlite store"));
            store
                .raise_longest_access_ttl(900)
                .await
                .expect("longest lifetime");
            DenyList::load(store, Arc::new(Metrics::default()), now_secs())
                .await
                .expect("deny-list")
        })
    };
    let empty = open("empty");
    let deny_list = open("full");
    let now = now_secs();
    let far = now + 365 * 24 * 3600;
    let mut ids = Ids(0x7E55_E4A0_0000_0001);

    // Fill: 1M tokens (memory measured around this step alone), then sessions and users.
    let mut revoked_jtis = Vec::with_capacity(SPREAD);
    let rss_before = rss_kib();
    let started = Instant::now();
    for i in 0..TOKENS {
        let jti = ids.id();
        if i % (TOKENS / SPREAD) == 0 && revoked_jtis.len() < SPREAD {
            revoked_jtis.push(jti.clone());
        }
        deny_list.apply(0, revocation(RevocationKind::Token, jti, 0, far));
    }
    let fill = started.elapsed();
    let rss_tokens = rss_kib();
    for _ in 0..SESSIONS {
        deny_list.apply(0, revocation(RevocationKind::Session, ids.id(), 0, far));
    }
    for _ in 0..USERS {
        // Users revoked (logout-all / disable) in the past: their newer tokens stay valid.
        deny_list.apply(
            0,
            revocation(RevocationKind::User, ids.id(), now - 3600, far),
        );
    }
    let rss_all = rss_kib();
    assert_eq!(deny_list.len(), TOKENS + SESSIONS + USERS);
    let token_bytes = (rss_tokens - rss_before) * 1024;
    let per_second = TOKENS as f64 / fill.as_secs_f64();
    eprintln!(
        "denylist: {TOKENS} token entries: RSS {rss_before} KiB -> {rss_tokens} KiB, +{} bytes = {} bytes/entry (RSS delta, includes hash-table slack); filled through apply in {:.2} s ({per_second:.0}/s)",
        token_bytes,
        token_bytes / TOKENS as u64,
        fill.as_secs_f64(),
    );
    eprintln!(
        "denylist: + {SESSIONS} session and {USERS} user entries: RSS {rss_all} KiB (+{} bytes, {} bytes/entry); {} entries in all",
        (rss_all - rss_tokens) * 1024,
        (rss_all - rss_tokens) * 1024 / (SESSIONS + USERS) as u64,
        deny_list.len(),
    );

    // Claims: the `sub` of a user that is not revoked, a fresh session id, and either a revoked
    // jti (hit) or a new one (miss).
    let hit = claims(ids.id(), revoked_jtis[0].clone(), ids.id(), now);
    let miss = claims(ids.id(), ids.id(), ids.id(), now);

    // `check` refuses once the cache is older than MAX_STALENESS (10 s) without a sync, as the
    // server's would; sync before each measurement (the server does every second) and check an
    // answer after it, so a stale refusal cannot pass for a fast lookup.
    let sync = |deny_list: &DenyList| {
        runtime.block_on(deny_list.sync(now_secs())).expect("sync");
    };
    let mut group = c.benchmark_group("denylist/check");
    // hot: the same claims every iteration; the entry and the probed buckets stay in the caches.
    let hot: [(&str, &DenyList, &AccessClaims, Option<Denial>); 3] = [
        ("hit/hot", &deny_list, &hit, Some(Denial::Token)),
        ("miss/hot", &deny_list, &miss, None),
        ("miss/empty", &empty, &miss, None),
    ];
    for (name, list, one, expected) in hot {
        sync(list);
        assert_eq!(list.check(one).expect("fresh"), expected);
        group.bench_function(name, |b| b.iter(|| black_box(list.check(black_box(one)))));
        assert_eq!(list.check(one).expect("fresh"), expected);
    }
    // cold: fresh claims for every iteration (built untimed, in batches of 64, so they are in
    // the CPU caches like a just-parsed token's), with a random revoked jti (hit) or new ids
    // (miss): every lookup lands on a random bucket of a table far larger than the caches.
    for (name, revoked) in [("hit/cold", true), ("miss/cold", false)] {
        sync(&deny_list);
        let expected = revoked.then_some(Denial::Token);
        let mut make = {
            let mut ids = Ids(if revoked { 1 } else { 2 });
            let (revoked_jtis, deny_list, sync) = (&revoked_jtis, &deny_list, &sync);
            let mut synced = Instant::now();
            move || {
                // Untimed setup takes longer than the timed lookups: keep the cache fresh here.
                if synced.elapsed() > Duration::from_secs(2) {
                    sync(deny_list);
                    synced = Instant::now();
                }
                let jti = if revoked {
                    let at = usize::try_from(ids.next_u64() % SPREAD as u64).expect("index");
                    revoked_jtis[at].clone()
                } else {
                    ids.id()
                };
                claims(ids.id(), jti, ids.id(), now)
            }
        };
        let sample = make();
        assert_eq!(deny_list.check(&sample).expect("fresh"), expected);
        group.bench_function(name, |b| {
            b.iter_batched_ref(
                &mut make,
                |one| black_box(deny_list.check(black_box(one))),
                BatchSize::NumIterations(64),
            );
        });
        assert_eq!(deny_list.check(&sample).expect("fresh"), expected);
    }
    group.finish();

    let mut group = c.benchmark_group("denylist/sync");
    group.sample_size(10);
    group.bench_function("1.11M entries", |b| b.iter(|| sync(&deny_list)));
    group.finish();
}

criterion_group! {
    name = denylist;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    targets = benches
}
criterion_main!(denylist);
