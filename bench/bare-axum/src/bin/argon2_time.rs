//! argon2-time: how long one argon2id (m=19456 KiB, t=2, p=1) takes, the denominator of the
//! login target "logins/s >= 0.95 x cores / argon2 time". Two ways, each sequentially (one core
//! busy) and with one loop per core at once (what the cores can do together: they share caches
//! and memory bandwidth):
//!
//! - `server`: `tessera_password::PasswordHasher::verify`, exactly what a login runs. argon2 0.5
//!   allocates a fresh zeroed 19 MiB block buffer for every hash, and glibc gives it back to the
//!   kernel afterwards, so each hash also pays ~4,900 page faults (measured in this VM: 6-10 ms).
//! - `reused`: the argon2 crate's `hash_password_into_with_memory` with one block buffer per
//!   thread, allocated once: the hash itself, the floor a login cannot go below.
//!
//! Prints one JSON object. Usage: `argon2-time [N]` (N per measurement, default 20, after 2
//! warm-ups).
#![forbid(unsafe_code)]

use std::time::Instant;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use tessera_password::PasswordHasher;
use tessera_token::Secret;

const PASSWORD: &str = "bench-password-0123456789";
const SALT: &[u8; 16] = b"bench-salt-16byt";

fn fail(message: String) -> ! {
    eprintln!("argon2-time: {message}");
    std::process::exit(2)
}

struct Stats {
    median: f64,
    mean: f64,
    min: f64,
}

fn stats(mut times: Vec<f64>) -> Stats {
    times.sort_by(f64::total_cmp);
    Stats {
        median: times[times.len() / 2],
        mean: times.iter().sum::<f64>() / times.len() as f64,
        min: times[0],
    }
}

fn json(name: &str, seq: &Stats, per_hash_ms: f64, per_s: f64) -> String {
    format!(
        "\"{name}\":{{\"sequential_ms\":{{\"median\":{:.3},\"mean\":{:.3},\"min\":{:.3}}},\"parallel\":{{\"per_hash_ms\":{per_hash_ms:.3},\"hashes_per_s\":{per_s:.2}}}}}",
        seq.median, seq.mean, seq.min
    )
}

/// argon2id with the production parameters into a caller-owned block buffer.
fn reused_hash(argon2: &Argon2<'_>, blocks: &mut [Block]) -> f64 {
    let started = Instant::now();
    let mut out = [0u8; 32];
    argon2
        .hash_password_into_with_memory(PASSWORD.as_bytes(), SALT, &mut out, blocks)
        .unwrap_or_else(|e| fail(e.to_string()));
    started.elapsed().as_secs_f64() * 1e3
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(20, |arg| arg.parse().unwrap_or_else(|e| fail(format!("N: {e}"))));
    let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);

    // The server's hasher, on its own runtime, as a login uses it.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| fail(e.to_string()));
    let (server_seq, server_par) = runtime.block_on(async {
        let hasher = PasswordHasher::new(cores).unwrap_or_else(|e| fail(e.to_string()));
        let secret = || Secret::from(PASSWORD.to_owned());
        let phc = hasher
            .hash(secret())
            .await
            .unwrap_or_else(|e| fail(e.to_string()));
        let verify = |hasher: PasswordHasher, phc: String| async move {
            let started = Instant::now();
            let ok = hasher
                .verify(Secret::from(PASSWORD.to_owned()), Some(&phc))
                .await
                .unwrap_or_else(|e| fail(e.to_string()));
            if !ok {
                fail("the password did not verify".into());
            }
            started.elapsed().as_secs_f64() * 1e3
        };
        for _ in 0..2 {
            verify(hasher.clone(), phc.clone()).await;
        }
        let mut times = Vec::with_capacity(n);
        for _ in 0..n {
            times.push(verify(hasher.clone(), phc.clone()).await);
        }
        let started = Instant::now();
        let loops: Vec<_> = (0..cores)
            .map(|_| {
                let (hasher, phc) = (hasher.clone(), phc.clone());
                tokio::spawn(async move {
                    for _ in 0..n {
                        verify(hasher.clone(), phc.clone()).await;
                    }
                })
            })
            .collect();
        for handle in loops {
            handle.await.unwrap_or_else(|e| fail(e.to_string()));
        }
        (stats(times), started.elapsed().as_secs_f64())
    });

    // The bare argon2 crate, one block buffer per thread, reused.
    let params = Params::new(19_456, 2, 1, Some(32)).unwrap_or_else(|e| fail(e.to_string()));
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut blocks = vec![Block::default(); params.block_count()];
    for _ in 0..2 {
        reused_hash(&argon2, &mut blocks);
    }
    let reused_seq = stats((0..n).map(|_| reused_hash(&argon2, &mut blocks)).collect());
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..cores {
            let params = params.clone();
            scope.spawn(move || {
                let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
                let mut blocks = vec![Block::default(); params.block_count()];
                reused_hash(&argon2, &mut blocks);
                for _ in 0..n {
                    reused_hash(&argon2, &mut blocks);
                }
            });
        }
    });
    // Each thread did one warm-up hash too; count only the n timed ones per thread (the
    // warm-up is short against n of them, and makes the parallel figure slightly pessimistic).
    let reused_par = started.elapsed().as_secs_f64();

    let total = (cores * n) as f64;
    println!(
        "{{\"params\":\"argon2id m=19456 t=2 p=1\",\"cores\":{cores},\"n\":{n},{},{}}}",
        json(
            "server",
            &server_seq,
            server_par * 1e3 * cores as f64 / total,
            total / server_par
        ),
        json(
            "reused",
            &reused_seq,
            reused_par * 1e3 * cores as f64 / total,
            total / reused_par
        ),
    );
}
