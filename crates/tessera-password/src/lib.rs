//! # tessera-password: password policy and argon2id hashing
//!
//! Everything Tessera does with a user's password, and nothing else: decide whether a new password
//! (and username) is acceptable, turn a password into a stored hash, and check a password against
//! a stored hash. No I/O beyond the operating system's random number generator; storage is the
//! caller's business.
//!
//! ## Policy ([`check_password`], [`check_username`])
//! Follows NIST SP 800-63B section 5.1.1.2 for memorized secrets:
//! - at least [`MIN_PASSWORD_CHARS`] characters, counted as Unicode scalar values, and at most
//!   [`MAX_PASSWORD_CHARS`] (a cap that keeps hashing input bounded, far above what people type);
//! - not one of the 10,000 most common passwords (case-insensitive), from a list bundled in the
//!   binary (`data/common-passwords.txt`; its `README.md` says where it comes from);
//! - not the username (case-insensitive).
//!
//! Each refusal is a [`PasswordRejection`] whose `Display` names the rule, fit for an HTTP 400
//! `error_description`.
//!
//! Usernames are 3 to 64 ASCII letters, digits, `.`, `_` or `-`, starting with a letter or digit.
//!
//! ## Non-features, on purpose
//! - No composition rules (one upper case, one digit, one symbol): SP 800-63B says not to impose
//!   them. Any Unicode is allowed. No forced periodic changes; that is not this crate's business.
//! - No Unicode normalization: a password is compared and hashed as the bytes the client sent.
//!
//! ## Hashing ([`PasswordHasher`])
//! - argon2id, version 0x13, m = 19 MiB (19456 KiB), t = 2, p = 1: the OWASP minimum. Hashes are
//!   PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) with a fresh random 16-byte salt.
//! - The work runs on Tokio's blocking pool (`spawn_blocking`), never on an async worker thread,
//!   and a semaphore bounds how many hashes are in flight, so a burst of logins costs at most
//!   `max_in_flight` x 19 MiB of memory and that many cores. A permit is held until the hash has
//!   actually finished, even if the caller gave up waiting.
//! - Unknown users are verified against a dummy hash made at construction with the same
//!   parameters, so "no such user" and "wrong password" take the same time.
//! - Passwords travel as [`Secret`](tessera_token::Secret): redacted in `Debug`, zeroized when
//!   dropped, which happens inside the blocking task.
//!
//! ## Getting started
//! ```
//! use tessera_password::{check_password, PasswordHasher};
//! use tessera_token::Secret;
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! check_password("correct horse battery staple", "alice")?;
//!
//! let hasher = PasswordHasher::new(4)?; // once, at start-up
//! let phc = hasher
//!     .hash(Secret::from("correct horse battery staple".to_owned()))
//!     .await?;
//! // ... store `phc` with the user ...
//! let ok = hasher
//!     .verify(Secret::from("correct horse battery staple".to_owned()), Some(&phc))
//!     .await?;
//! assert!(ok);
//! # Ok(())
//! # }
//! ```

mod hasher;
mod policy;

pub use hasher::{HashTurn, PasswordError, PasswordHasher, DEFAULT_MAX_QUEUED_WORK};
pub use policy::{
    check_password, check_username, PasswordRejection, UsernameRejection, MAX_PASSWORD_CHARS,
    MAX_USERNAME_CHARS, MIN_PASSWORD_CHARS, MIN_USERNAME_CHARS,
};
