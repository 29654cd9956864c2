//! argon2id hashing and verification on Tokio's blocking pool, with a bound on hashes in flight.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{self, Output, ParamsString, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tessera_token::Secret;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Memory cost of production hashes, in KiB (19 MiB; OWASP's minimum for argon2id).
const M_COST_KIB: u32 = 19_456;
/// Time cost (passes) of production hashes.
const T_COST: u32 = 2;
/// Parallelism (lanes) of production hashes.
const P_COST: u32 = 1;

/// How much hashing work may wait for a permit before new requests are refused at once: about
/// two seconds of it, spread over the permits.
pub const DEFAULT_MAX_QUEUED_WORK: Duration = Duration::from_secs(2);

/// What the dummy hash for unknown users is made of. Its value does not matter: a verification
/// against it is always reported as a failure.
const DUMMY_PASSWORD: &[u8] = b"tessera dummy password for unknown users";

/// Everything that can go wrong while hashing or verifying a password.
///
/// None of these mean "wrong password": that is `Ok(false)` from [`PasswordHasher::verify`].
/// Over HTTP all of them are an opaque 500; the detail is for the log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordError {
    /// The hasher was configured with argon2 parameters argon2 refuses, or with a `max_in_flight`
    /// of 0. Only [`PasswordHasher::new`] and [`PasswordHasher::with_params`] return it.
    #[error("invalid password hasher configuration: {0}")]
    InvalidConfig(String),
    /// argon2 failed while hashing a password.
    #[error("hashing the password failed: {0}")]
    Hashing(#[source] password_hash::Error),
    /// The blocking task that runs argon2 failed: it panicked, or the runtime is shutting down.
    #[error("the password hashing task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
    /// The stored hash is not a PHC string this hasher can verify against (malformed, or an
    /// unsupported algorithm, version or parameters).
    #[error("the stored password hash is malformed: {0}")]
    MalformedHash(#[source] password_hash::Error),
    /// The concurrency limit was closed. Nothing in this crate closes it, so this is a bug.
    #[error("the password hasher's concurrency limit is closed")]
    Closed,
    /// More hashing work is already waiting than [`PasswordHasher::with_max_queued_work`]
    /// allows: this request was refused at once rather than queued. Over HTTP: 503 with
    /// `Retry-After`.
    #[error("password hashing is busy; try again in {} s", retry_after.as_secs().max(1))]
    Busy {
        /// About how long the work already queued takes.
        retry_after: Duration,
    },
}

/// Hashes and verifies passwords with argon2id, off the async runtime, with at most
/// `max_in_flight` hashes running at once.
///
/// Cheap to clone (an `Arc` inside); clones share the parameters, the dummy hash and the limit.
/// Make one at start-up with [`PasswordHasher::new`] and hand clones to whoever needs it.
///
/// # Security
/// - Each hash and verification holds a permit from a semaphore of `max_in_flight` permits for as
///   long as argon2 runs, even if the caller's future is dropped mid-way (the permit moves into
///   the blocking task), so memory use stays under `max_in_flight` x m KiB and a flood of
///   abandoned requests cannot pile up work.
/// - The queue is bounded too: callers wait for a permit only while the work already waiting
///   (callers waiting x the average time of a hash / `max_in_flight`) is under
///   [`DEFAULT_MAX_QUEUED_WORK`]; past it, a new call fails at once with
///   [`PasswordError::Busy`], so a flood cannot grow the wait of everyone behind it without
///   limit.
/// - Passwords are moved into the blocking task as [`Secret`] and zeroized there when dropped.
#[derive(Clone)]
pub struct PasswordHasher {
    inner: Arc<Inner>,
}

/// The shared state behind a [`PasswordHasher`].
struct Inner {
    /// argon2id parameters for new hashes and for the dummy hash.
    params: Params,
    /// Bounds hashes in flight; holds `max_in_flight` permits.
    in_flight: Arc<Semaphore>,
    /// A PHC string made with `params`, verified against when the user is unknown.
    dummy_phc: String,
    /// The permits in all (`max_in_flight`).
    permits: usize,
    /// Callers waiting for a permit.
    waiting: AtomicUsize,
    /// A moving average of how long one hash takes, in microseconds.
    average_micros: AtomicU64,
    /// Past this much queued work, new calls are refused ([`PasswordError::Busy`]).
    max_queued_work: Duration,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params_description())
            .field("available_permits", &self.available_permits())
            .finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// A hasher with the production parameters: argon2id, m = 19456 KiB (19 MiB), t = 2, p = 1,
    /// and at most `max_in_flight` hashes at once.
    ///
    /// Computes the dummy hash for unknown users right away, synchronously (tens of
    /// milliseconds of CPU in a release build): call it once at start-up, not per request.
    ///
    /// # Errors
    /// [`PasswordError::InvalidConfig`] if `max_in_flight` is 0; [`PasswordError::Hashing`] if the
    /// dummy hash cannot be computed.
    pub fn new(max_in_flight: usize) -> Result<Self, PasswordError> {
        Self::with_params(M_COST_KIB, T_COST, P_COST, max_in_flight)
    }

    /// A hasher with other argon2id parameters: memory `m_kib` KiB, `t` passes, `p` lanes.
    ///
    /// For tests, which want cheap hashes. Production uses [`PasswordHasher::new`]; weaker
    /// parameters make stolen hashes cheaper to crack.
    ///
    /// # Errors
    /// [`PasswordError::InvalidConfig`] if argon2 refuses the parameters (for example
    /// `m_kib < 8 * p`, `t == 0`, `p == 0`) or `max_in_flight` is 0; [`PasswordError::Hashing`]
    /// if the dummy hash cannot be computed.
    pub fn with_params(
        m_kib: u32,
        t: u32,
        p: u32,
        max_in_flight: usize,
    ) -> Result<Self, PasswordError> {
        if max_in_flight == 0 {
            return Err(PasswordError::InvalidConfig(
                "max_in_flight must be at least 1".to_owned(),
            ));
        }
        let params = Params::new(m_kib, t, p, None)
            .map_err(|e| PasswordError::InvalidConfig(format!("argon2 parameters: {e}")))?;
        let started = Instant::now();
        let dummy_phc = hash_blocking(&params, DUMMY_PASSWORD)?;
        let first = micros(started.elapsed());
        Ok(PasswordHasher {
            inner: Arc::new(Inner {
                params,
                in_flight: Arc::new(Semaphore::new(max_in_flight)),
                dummy_phc,
                permits: max_in_flight,
                waiting: AtomicUsize::new(0),
                average_micros: AtomicU64::new(first.max(1)),
                max_queued_work: DEFAULT_MAX_QUEUED_WORK,
            }),
        })
    }

    /// The same hasher with another bound on queued work (see [`PasswordError::Busy`]). Call it
    /// right after construction, before the hasher is cloned.
    #[must_use]
    pub fn with_max_queued_work(mut self, max_queued_work: Duration) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.max_queued_work = max_queued_work;
        }
        self
    }

    /// About how long the work waiting for a permit takes now: the callers waiting, times the
    /// average hash, over the permits.
    #[must_use]
    pub fn queued_work(&self) -> Duration {
        let inner = &self.inner;
        let waiting = u64::try_from(inner.waiting.load(Ordering::Acquire)).unwrap_or(u64::MAX);
        let average = inner.average_micros.load(Ordering::Relaxed);
        let permits = u64::try_from(inner.permits.max(1)).unwrap_or(1);
        Duration::from_micros(waiting.saturating_mul(average) / permits)
    }

    /// Hashes a password with a fresh random 16-byte salt and returns the PHC string to store,
    /// e.g. `$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`.
    ///
    /// Waits for a permit, then runs argon2id on Tokio's blocking pool. Check the password with
    /// [`check_password`](crate::check_password) first: this function hashes whatever it is given.
    ///
    /// # Errors
    /// [`PasswordError::Hashing`] if argon2 fails; [`PasswordError::Task`] if the blocking task
    /// fails; [`PasswordError::Closed`] never in practice.
    ///
    /// # Security
    /// `password` is dropped, and so zeroized, inside the blocking task.
    pub async fn hash(&self, password: Secret) -> Result<String, PasswordError> {
        let permit = self.permit().await?;
        let params = self.inner.params.clone();
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            deprioritize_this_thread();
            let started = Instant::now();
            let phc = hash_blocking(&params, password.expose());
            inner.record(started.elapsed());
            drop(password);
            drop(permit);
            phc
        })
        .await
        .map_err(PasswordError::Task)?
    }

    /// Checks a password against a stored PHC string; `Ok(true)` if it matches.
    ///
    /// Pass `None` when the user does not exist: the password is then verified against a dummy
    /// hash with this hasher's parameters and the answer is `Ok(false)`, so an unknown user and a
    /// wrong password cost the same time. Stored hashes made with other parameters are still
    /// verified, with their own parameters (and so their own cost).
    ///
    /// # Errors
    /// [`PasswordError::MalformedHash`] if `phc` is not a PHC string argon2 can verify against;
    /// [`PasswordError::Task`] if the blocking task fails; [`PasswordError::Closed`] never in
    /// practice. A wrong password is not an error.
    ///
    /// # Security
    /// The outputs are compared in constant time (`password_hash::Output`). `password` is dropped, and so
    /// zeroized, inside the blocking task.
    pub async fn verify(&self, password: Secret, phc: Option<&str>) -> Result<bool, PasswordError> {
        let permit = self.reserve().await?;
        self.verify_reserved(permit, password, phc).await
    }

    /// Takes a turn to hash: waits for a permit, or refuses at once when the queue is past its
    /// bound ([`PasswordError::Busy`]). For a caller that must know it will be served before it
    /// commits to something, such as counting a login attempt: a request refused for load must
    /// never count as a failed login.
    ///
    /// # Errors
    /// [`PasswordError::Busy`]; [`PasswordError::Closed`] never in practice.
    pub async fn reserve(&self) -> Result<HashTurn, PasswordError> {
        self.permit().await.map(HashTurn)
    }

    /// [`PasswordHasher::verify`] on a turn taken with [`PasswordHasher::reserve`].
    ///
    /// # Errors
    /// As [`PasswordHasher::verify`], but never [`PasswordError::Busy`].
    pub async fn verify_reserved(
        &self,
        turn: HashTurn,
        password: Secret,
        phc: Option<&str>,
    ) -> Result<bool, PasswordError> {
        let (stored, user_known) = match phc {
            Some(phc) => (phc.to_owned(), true),
            None => (self.inner.dummy_phc.clone(), false),
        };
        let HashTurn(permit) = turn;
        let inner = Arc::clone(&self.inner);
        let matched = tokio::task::spawn_blocking(move || {
            deprioritize_this_thread();
            let started = Instant::now();
            let matched = verify_blocking(&stored, password.expose());
            inner.record(started.elapsed());
            drop(password);
            drop(permit);
            matched
        })
        .await
        .map_err(PasswordError::Task)??;
        Ok(user_known && matched)
    }

    /// The parameters of new hashes, for logs, e.g. `argon2id m=19456 t=2 p=1`.
    #[must_use]
    pub fn params_description(&self) -> String {
        let params = &self.inner.params;
        format!(
            "argon2id m={} t={} p={}",
            params.m_cost(),
            params.t_cost(),
            params.p_cost()
        )
    }

    /// How many more hashes or verifications could start right now without waiting: the
    /// `max_in_flight` given at construction minus those in flight. For metrics and tests.
    #[must_use]
    pub fn available_permits(&self) -> usize {
        self.inner.in_flight.available_permits()
    }

    /// Waits for a permit to run one hash, or refuses at once when the work already waiting is
    /// past the bound. The permit is owned so it can move into the blocking task and outlive a
    /// cancelled caller.
    async fn permit(&self) -> Result<OwnedSemaphorePermit, PasswordError> {
        if let Ok(permit) = Arc::clone(&self.inner.in_flight).try_acquire_owned() {
            return Ok(permit);
        }
        let queued = self.queued_work();
        if queued >= self.inner.max_queued_work {
            return Err(PasswordError::Busy {
                retry_after: queued,
            });
        }
        let _waiting = Waiting::new(&self.inner.waiting);
        Arc::clone(&self.inner.in_flight)
            .acquire_owned()
            .await
            .map_err(|_closed| PasswordError::Closed)
    }
}

impl Inner {
    /// Folds one hash's duration into the moving average (weight 1/8).
    fn record(&self, took: Duration) {
        let took = micros(took).max(1);
        // A lost update under a race only makes the average a little less smooth.
        let average = self.average_micros.load(Ordering::Relaxed);
        let next = average.saturating_mul(7).saturating_add(took) / 8;
        self.average_micros.store(next.max(1), Ordering::Relaxed);
    }
}

/// A turn to run one hash, taken with [`PasswordHasher::reserve`]; dropping it gives the turn
/// back.
#[derive(Debug)]
pub struct HashTurn(OwnedSemaphorePermit);

/// Counts a caller as waiting for as long as it lives (also when the caller is cancelled).
struct Waiting<'a>(&'a AtomicUsize);

impl<'a> Waiting<'a> {
    fn new(counter: &'a AtomicUsize) -> Self {
        counter.fetch_add(1, Ordering::AcqRel);
        Waiting(counter)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A duration in whole microseconds, saturating.
fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros()).unwrap_or(u64::MAX)
}

/// The argon2id hasher for `params`.
fn argon2id(params: Params) -> Argon2<'static> {
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// The niceness a thread takes on the first time it hashes (0 is the default, 19 the lowest
/// priority): a login flood then keeps every core busy only with time nothing else wants, and
/// the threads answering other requests get a core as soon as they wake. Alone on the machine
/// a hash runs at full speed: priority only decides who goes first.
const HASHING_NICENESS: i32 = 10;

thread_local! {
    /// Whether this thread already runs at [`HASHING_NICENESS`].
    static DEPRIORITIZED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };

    /// argon2's working memory (19 MiB at the production parameters), kept by each blocking
    /// thread that hashes instead of being allocated and page-faulted in for every hash: that
    /// costs as much as a third of a hash. At most one per blocking thread that has hashed; Tokio
    /// ends idle blocking threads after 10 s, and their memory with them.
    static WORKING_MEMORY: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Lowers the calling thread's scheduling priority to [`HASHING_NICENESS`], once per thread.
/// Called by the blocking tasks of [`PasswordHasher::hash`] and [`PasswordHasher::verify`], never
/// on the caller's thread.
///
/// Linux keeps the nice value per thread, and an unprivileged thread cannot raise its priority
/// again, so the blocking-pool thread stays at this niceness for whatever it runs later (in
/// Tessera, only hashes run there under load). A failure is ignored: the hash runs the same,
/// only without yielding to the rest of the process.
fn deprioritize_this_thread() {
    DEPRIORITIZED.with(|done| {
        if !done.replace(true) {
            #[cfg(target_os = "linux")]
            let _ = rustix::process::setpriority_process(
                Some(rustix::thread::gettid()),
                HASHING_NICENESS,
            );
        }
    });
}

/// Runs `argon2` over `password` and `salt` into an output of `output_len` bytes, in this
/// thread's working memory, which is wiped afterwards (it is derived from the password).
fn compute(
    argon2: &Argon2<'_>,
    password: &[u8],
    salt: Salt<'_>,
    output_len: usize,
) -> password_hash::Result<Output> {
    let mut salt_buffer = [0u8; Salt::MAX_LENGTH];
    let salt = salt.decode_b64(&mut salt_buffer)?;
    let blocks = argon2.params().block_count();
    WORKING_MEMORY.with(|memory| {
        // Not re-entered: nothing below calls back into `compute` on this thread.
        let mut memory = memory.borrow_mut();
        memory.resize(blocks, Block::default());
        let output = Output::init_with(output_len, |out| {
            Ok(argon2.hash_password_into_with_memory(password, salt, out, &mut memory[..])?)
        });
        memory.fill(Block::default());
        output
    })
}

/// Hashes `password` with a fresh random salt, on the current thread (CPU-bound).
fn hash_blocking(params: &Params, password: &[u8]) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    let phc = (|| {
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let output = compute(
            &argon2id(params.clone()),
            password,
            salt.as_salt(),
            output_len,
        )?;
        password_hash::Result::Ok(
            PasswordHash {
                algorithm: Algorithm::Argon2id.ident(),
                version: Some(Version::V0x13.into()),
                params: ParamsString::try_from(params)?,
                salt: Some(salt.as_salt()),
                hash: Some(output),
            }
            .to_string(),
        )
    })();
    phc.map_err(PasswordError::Hashing)
}

/// Verifies `password` against the PHC string `stored`, on the current thread (CPU-bound).
/// The algorithm, version and parameters come from `stored`; the comparison of the outputs is
/// constant-time (`password_hash::Output`'s equality).
fn verify_blocking(stored: &str, password: &[u8]) -> Result<bool, PasswordError> {
    let matched = (|| {
        let hash = PasswordHash::new(stored)?;
        let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
            return Err(password_hash::Error::PhcStringField);
        };
        let algorithm = Algorithm::try_from(hash.algorithm)?;
        let version = hash
            .version
            .map(Version::try_from)
            .transpose()?
            .unwrap_or_default();
        let params = Params::try_from(&hash)?;
        let computed = compute(
            &Argon2::new(algorithm, version, params),
            password,
            salt,
            expected.len(),
        )?;
        Ok(computed == expected)
    })();
    matched.map_err(PasswordError::MalformedHash)
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};
    use std::time::Duration;

    use super::*;

    /// Cheapest parameters argon2 accepts: 8 KiB, one pass, one lane.
    fn fast(max_in_flight: usize) -> PasswordHasher {
        PasswordHasher::with_params(8, 1, 1, max_in_flight).unwrap()
    }

    fn secret(text: &str) -> Secret {
        Secret::from(text.to_owned())
    }

    fn salt_of(phc: &str) -> String {
        let parsed = PasswordHash::new(phc).unwrap();
        parsed.salt.unwrap().to_string()
    }

    #[tokio::test]
    async fn production_hash_is_argon2id_with_owasp_parameters_and_verifies() {
        let hasher = PasswordHasher::new(2).unwrap();
        assert_eq!(hasher.params_description(), "argon2id m=19456 t=2 p=1");
        assert!(
            hasher
                .inner
                .dummy_phc
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "the dummy hash must cost what a real one does: {}",
            hasher.inner.dummy_phc
        );

        let phc = hasher
            .hash(secret("correct horse battery staple"))
            .await
            .unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        // 16 random bytes are 22 characters of unpadded base64.
        assert_eq!(salt_of(&phc).len(), 22, "{phc}");

        let ok = hasher
            .verify(secret("correct horse battery staple"), Some(&phc))
            .await
            .unwrap();
        assert!(ok);
    }

    /// The thread that hashed runs at the hashing niceness from then on; the caller's thread
    /// keeps its priority.
    #[cfg(target_os = "linux")]
    #[test]
    fn hashing_threads_run_at_a_lower_priority_and_callers_do_not() {
        fn niceness() -> i32 {
            rustix::process::getpriority_process(Some(rustix::thread::gettid())).unwrap()
        }
        let own = niceness();
        // One blocking thread: the hash runs on it, and so does the probe after it.
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .build()
            .unwrap();
        let hashing_thread = runtime.block_on(async {
            fast(1).hash(secret("correct horse battery")).await.unwrap();
            tokio::task::spawn_blocking(niceness).await.unwrap()
        });
        assert_eq!(hashing_thread, HASHING_NICENESS.max(own));
        assert_eq!(niceness(), own, "the caller's thread keeps its priority");
    }

    #[tokio::test]
    async fn hash_then_verify_accepts_the_same_password() {
        let hasher = fast(2);
        let phc = hasher.hash(secret("tr0ub4dor&3")).await.unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=8,t=1,p=1$"), "{phc}");
        assert!(hasher
            .verify(secret("tr0ub4dor&3"), Some(&phc))
            .await
            .unwrap());
    }

    #[tokio::test]
    async fn wrong_password_is_false_not_an_error() {
        let hasher = fast(2);
        let phc = hasher.hash(secret("tr0ub4dor&3")).await.unwrap();
        assert!(!hasher
            .verify(secret("tr0ub4dor&4"), Some(&phc))
            .await
            .unwrap());
        assert!(!hasher.verify(secret(""), Some(&phc)).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_is_false_even_with_the_dummy_password() {
        let hasher = fast(2);
        assert!(!hasher
            .verify(secret("anything at all"), None)
            .await
            .unwrap());
        let dummy = String::from_utf8(DUMMY_PASSWORD.to_vec()).unwrap();
        assert!(!hasher.verify(secret(&dummy), None).await.unwrap());
    }

    #[tokio::test]
    async fn unknown_user_is_checked_against_a_dummy_hash_with_the_same_parameters() {
        let hasher = fast(2);
        assert!(hasher
            .inner
            .dummy_phc
            .starts_with("$argon2id$v=19$m=8,t=1,p=1$"));
        // The dummy hash really is a hash of the dummy password, so the unknown-user path runs
        // argon2 to the end instead of failing early.
        assert!(verify_blocking(&hasher.inner.dummy_phc, DUMMY_PASSWORD).unwrap());
    }

    /// Vectors of the reference implementation (phc-winner-argon2), as the argon2 crate's
    /// known-answer tests carry them: password `password`, salt `somesalt`.
    #[test]
    fn reference_vectors_verify_and_a_wrong_password_does_not() {
        for phc in [
            "$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc",
            "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
            "$argon2i$v=16$m=256,t=2,p=2$c29tZXNhbHQ$tsEVYKap1h6scGt5ovl9aLRGOqOth+AMB+KwHpDFZPs",
        ] {
            assert!(verify_blocking(phc, b"password").unwrap(), "{phc}");
            assert!(!verify_blocking(phc, b"passwore").unwrap(), "{phc}");
        }
    }

    #[test]
    fn production_hashes_verify_with_the_argon2_crates_own_verifier_and_the_memory_is_wiped() {
        use argon2::PasswordVerifier as _;
        let params = Params::new(M_COST_KIB, T_COST, P_COST, None).unwrap();
        let phc = hash_blocking(&params, b"tr0ub4dor&3").unwrap();
        let parsed = PasswordHash::new(&phc).unwrap();
        Argon2::default()
            .verify_password(b"tr0ub4dor&3", &parsed)
            .unwrap();
        assert!(Argon2::default()
            .verify_password(b"tr0ub4dor&4", &parsed)
            .is_err());
        // The working memory is kept for the next hash, and holds nothing of this one.
        WORKING_MEMORY.with(|memory| {
            let memory = memory.borrow();
            assert_eq!(memory.len(), 19_456);
            assert!(memory
                .iter()
                .all(|block| block.as_ref().iter().all(|word| *word == 0)));
        });
    }

    #[tokio::test]
    async fn malformed_stored_hash_is_an_error_not_a_panic() {
        let hasher = fast(2);
        for bad in [
            "",
            "not a phc string",
            "$argon2id$v=19$m=8,t=1,p=1$",
            "$argon2id$v=19$m=8,t=1,p=1$!!!!$!!!!",
            "$pbkdf2-sha256$i=1000$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        ] {
            let result = hasher.verify(secret("tr0ub4dor&3"), Some(bad)).await;
            assert!(
                matches!(result, Err(PasswordError::MalformedHash(_))),
                "{bad:?}: {result:?}"
            );
        }
    }

    #[tokio::test]
    async fn two_hashes_of_the_same_password_have_different_salts() {
        let hasher = fast(2);
        let first = hasher.hash(secret("tr0ub4dor&3")).await.unwrap();
        let second = hasher.hash(secret("tr0ub4dor&3")).await.unwrap();
        assert_ne!(salt_of(&first), salt_of(&second));
        assert_ne!(first, second);
    }

    #[test]
    fn invalid_configuration_is_refused() {
        assert!(matches!(
            PasswordHasher::with_params(8, 1, 1, 0),
            Err(PasswordError::InvalidConfig(_))
        ));
        assert!(matches!(
            PasswordHasher::with_params(8, 0, 1, 1),
            Err(PasswordError::InvalidConfig(_))
        ));
        assert!(matches!(
            PasswordHasher::with_params(4, 1, 1, 1),
            Err(PasswordError::InvalidConfig(_))
        ));
    }

    #[test]
    fn clones_share_one_limit() {
        let hasher = fast(3);
        assert_eq!(hasher.available_permits(), 3);
        let clone = hasher.clone();
        assert!(Arc::ptr_eq(&hasher.inner, &clone.inner));
    }

    /// Runs `test` on a current-thread runtime whose blocking pool has one thread, which the
    /// returned gate keeps busy until it is released: hashes started meanwhile have taken their
    /// permit but cannot finish, so the test can look at them in flight without racing argon2.
    fn with_blocked_pool<F: Future<Output = ()>>(
        test: impl FnOnce(std::sync::mpsc::Sender<()>) -> F,
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .max_blocking_threads(1)
            .enable_time()
            .build()
            .unwrap();
        runtime.block_on(async {
            let (release, gate) = std::sync::mpsc::channel::<()>();
            let blocker = tokio::task::spawn_blocking(move || gate.recv());
            test(release).await;
            blocker.await.unwrap().unwrap();
        });
    }

    /// Polls `future` once, so it runs up to its first wait.
    fn poll_once<F: Future>(future: std::pin::Pin<&mut F>) -> Poll<F::Output> {
        future.poll(&mut Context::from_waker(Waker::noop()))
    }

    async fn until_permits(hasher: &PasswordHasher, wanted: usize) {
        tokio::time::timeout(Duration::from_secs(30), async {
            while hasher.available_permits() != wanted {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
    }

    /// Item 4 of the security review: past the bound on queued work, a hash is refused at once
    /// (`Busy`, with the queued time as the retry hint) instead of joining the queue; what was
    /// queued before still completes, and the queue takes work again once it drains.
    #[test]
    fn password_hashing_is_a_cpu_lever_past_the_queue_bound_new_work_is_refused_at_once() {
        with_blocked_pool(|release| async move {
            let hasher = fast(1).with_max_queued_work(Duration::from_nanos(1));
            let mut running = std::pin::pin!(hasher.hash(secret("first password")));
            assert!(poll_once(running.as_mut()).is_pending());
            // Nothing is waiting yet: the second may wait.
            let mut queued = std::pin::pin!(hasher.verify(secret("second password"), None));
            assert!(poll_once(queued.as_mut()).is_pending());
            assert!(hasher.queued_work() > Duration::ZERO);
            // One waits already: that is the bound. The third is refused without waiting.
            let refused = hasher.hash(secret("third password")).await;
            let Err(PasswordError::Busy { retry_after }) = refused else {
                panic!("expected Busy, got {refused:?}");
            };
            assert!(retry_after > Duration::ZERO);
            release.send(()).unwrap();
            assert!(running.await.is_ok());
            assert!(!queued.await.unwrap());
            assert_eq!(hasher.queued_work(), Duration::ZERO);
            assert!(hasher.hash(secret("fourth password")).await.is_ok());
        });
    }

    #[test]
    fn no_more_than_max_in_flight_hashes_start() {
        with_blocked_pool(|release| async move {
            let hasher = fast(2);
            let mut first = std::pin::pin!(hasher.hash(secret("first password")));
            let mut second = std::pin::pin!(hasher.verify(secret("second password"), None));
            let mut third = std::pin::pin!(hasher.hash(secret("third password")));

            assert!(poll_once(first.as_mut()).is_pending());
            assert_eq!(hasher.available_permits(), 1);
            assert!(poll_once(second.as_mut()).is_pending());
            assert_eq!(hasher.available_permits(), 0);
            // The third has to wait for a permit; it has not started.
            assert!(poll_once(third.as_mut()).is_pending());
            assert_eq!(hasher.available_permits(), 0);

            release.send(()).unwrap();
            assert!(first.await.is_ok());
            assert!(!second.await.unwrap());
            assert!(third.await.is_ok());
            assert_eq!(hasher.available_permits(), 2);
        });
    }

    #[test]
    fn a_cancelled_hash_keeps_its_permit_until_argon2_has_finished() {
        with_blocked_pool(|release| async move {
            let hasher = fast(1);
            {
                let mut hash = std::pin::pin!(hasher.hash(secret("abandoned password")));
                assert!(poll_once(hash.as_mut()).is_pending());
                assert_eq!(hasher.available_permits(), 0);
                // The caller gives up (e.g. the client disconnected); the future is dropped here.
            }
            // The blocking work is still queued, so its permit is still taken.
            assert_eq!(hasher.available_permits(), 0);

            release.send(()).unwrap();
            until_permits(&hasher, 1).await;
        });
    }
}
