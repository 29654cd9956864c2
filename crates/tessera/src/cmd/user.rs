//! `tessera user add | list | disable | enable`: accounts, in the store the server uses.
//!
//! The same rules as `POST /auth/register` apply (username and password policy from
//! `tessera-password`, argon2id with the production parameters). `disable` takes effect on a
//! running server within about a second: the user revocation is written to the durable deny-list,
//! which every server polls. `enable` may wait up to a second, until that revocation no longer
//! covers newly issued tokens.

use anyhow::{bail, Context as _};
use serde_json::json;
use std::io::BufRead;
use std::time::Duration;
use tessera_config::Config;
use tessera_password::{
    check_password, check_username, PasswordHasher, PasswordRejection, MAX_PASSWORD_CHARS,
};
use tessera_server::credentials::new_user_id;
use tessera_store::redis::unix_time_ms;
use tessera_store::Store;
use tessera_store::{NewUser, Revocation, RevocationKind, StoreError, User};
use tessera_token::{Clock as _, Secret, SystemClock};
use zeroize::Zeroizing;

/// The longest `enable` waits for the disable's revocation epoch to pass: `disable` puts it at
/// most one second ahead of the wall clock.
const MAX_REVOCATION_EPOCH_WAIT: Duration = Duration::from_secs(1);

/// Longest password in bytes: every character may take four bytes in UTF-8.
const MAX_PASSWORD_BYTES: usize = MAX_PASSWORD_CHARS * 4;

/// Bytes read from stdin for the password line: the longest password, `\r\n`, and one more byte
/// to tell "too long" from "at the limit".
const PASSWORD_LINE_LIMIT: usize = MAX_PASSWORD_BYTES + 3;

/// `tessera user` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a user; the password is the first line of stdin. Prints {"id", "username"}.
    ///
    /// The password is read from stdin, never from the command line (where `ps` and shell
    /// history would see it): the first line, without its trailing newline (`\n` or `\r\n`).
    /// Example: `printf '%s\n' "$PASSWORD" | tessera user add alice`.
    ///
    /// The rules are those of `POST /auth/register`: a username of 3 to 64 ASCII letters, digits,
    /// `.`, `_` or `-`, starting with a letter or digit, unique regardless of case; a password of
    /// 8 to 1024 characters that is not among the 10,000 most common and not the username. The
    /// password is stored only as an argon2id hash.
    Add(AddArgs),
    /// List users as one JSON array of {id, username, created_at, disabled}.
    ///
    /// Oldest first; `created_at` is in seconds since the Unix epoch. Password hashes are never
    /// shown.
    List,
    /// Disable a user: logins are refused and every token the user holds stops working.
    ///
    /// Marks the user disabled, records a revocation of every access token issued to the user
    /// until now (a running server applies it within about a second), and revokes every session,
    /// so refresh tokens stop working too. Running it again is harmless. Prints
    /// {"id", "username", "disabled": true, "sessions_revoked": N}.
    Disable(NameArgs),
    /// Re-enable a disabled user: logins work again.
    ///
    /// Tokens revoked by `disable` stay revoked; the user logs in again to get new ones. Right
    /// after a `disable` it may wait up to a second first: the revocation covers every token
    /// issued in the disable's own second, so the user must not log in before that second ends.
    /// Running it on an enabled user is harmless. Prints {"id", "username", "disabled": false}.
    Enable(NameArgs),
}

/// Arguments of `tessera user add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The username.
    #[arg(value_name = "NAME")]
    name: String,
}

/// Arguments of `tessera user disable` and `tessera user enable`.
#[derive(Debug, clap::Args)]
pub struct NameArgs {
    /// The username (compared without regard to ASCII case).
    #[arg(value_name = "NAME")]
    name: String,
}

/// Runs a `tessera user` subcommand.
pub fn run(command: Command) -> anyhow::Result<()> {
    let config = super::load_config()?;
    let runtime = super::current_thread_runtime()?;
    runtime.block_on(async {
        let store = super::open_store(&config).await?;
        let result = match command {
            Command::Add(args) => add(store.as_ref(), &args.name, std::io::stdin().lock()).await,
            Command::List => list(store.as_ref()).await,
            Command::Disable(args) => disable(store.as_ref(), &config, &args.name).await,
            Command::Enable(args) => enable(store.as_ref(), &args.name).await,
        };
        // Close before exiting, so the last connection checkpoints the WAL.
        store.close().await;
        result
    })
}

/// The error for a name that is not a user. The name is escaped: it came from the command line
/// unchecked and is echoed to a terminal.
fn no_such_user(name: &str) -> anyhow::Error {
    anyhow::anyhow!("no user named `{}`", name.escape_debug())
}

/// The error for a username that is taken (the name has passed [`check_username`]).
fn taken(name: &str) -> anyhow::Error {
    anyhow::anyhow!("username `{name}` is already taken")
}

/// Reads the password: the first line of `input` without its `\n` or `\r\n`.
///
/// # Errors
/// When the line is empty, longer than any allowed password, or not UTF-8. The messages never
/// contain the password.
///
/// # Security
/// The line is read into a buffer that is zeroized when dropped and never reallocated (its
/// capacity covers the read limit), and it moves into the returned [`Secret`] without a copy.
fn read_password(input: impl BufRead) -> anyhow::Result<Secret> {
    let mut line = Zeroizing::new(Vec::with_capacity(PASSWORD_LINE_LIMIT));
    input
        .take(PASSWORD_LINE_LIMIT as u64)
        .read_until(b'\n', &mut line)
        .context("reading the password from stdin")?;
    if line.last() == Some(&b'\n') {
        line.pop();
        if line.last() == Some(&b'\r') {
            line.pop();
        }
    }
    if line.is_empty() {
        bail!("no password: give it as the first line of stdin (it must not be empty)");
    }
    if line.len() > MAX_PASSWORD_BYTES {
        // More than 4 bytes per allowed character: certainly too many characters.
        bail!(PasswordRejection::TooLong);
    }
    if std::str::from_utf8(&line).is_err() {
        bail!("password is not UTF-8");
    }
    Ok(Secret::new(std::mem::take(&mut *line)))
}

/// `tessera user add NAME`: policy, argon2id, create; prints `{"id", "username"}`.
async fn add(store: &dyn Store, name: &str, stdin: impl BufRead) -> anyhow::Result<()> {
    check_username(name)?;
    let password = read_password(stdin)?;
    let text = std::str::from_utf8(password.expose()).context("password is not UTF-8")?;
    check_password(text, name)?;
    // Fail fast on a taken name rather than after a deliberately slow hash; the insert below
    // still catches a name taken in between.
    if store.user_by_username(name).await?.is_some() {
        return Err(taken(name));
    }
    let hasher = PasswordHasher::new(1).context("password hasher")?;
    let password_hash = hasher
        .hash(password)
        .await
        .context("hashing the password")?;
    let user = store
        .create_user(&NewUser {
            id: new_user_id()?,
            username: name.to_owned(),
            password_hash,
            created_at: SystemClock.now(),
        })
        .await
        .map_err(|err| match err {
            StoreError::Conflict("username") => taken(name),
            other => anyhow::Error::new(other).context("creating the user"),
        })?;
    println!("{}", json!({ "id": user.id, "username": user.username }));
    Ok(())
}

/// `tessera user list`: a JSON array, oldest first, without password hashes.
async fn list(store: &dyn Store) -> anyhow::Result<()> {
    let users: Vec<_> = store
        .list_users()
        .await
        .context("listing users")?
        .into_iter()
        .map(|user: User| {
            json!({
                "id": user.id,
                "username": user.username,
                "created_at": user.created_at,
                "disabled": user.disabled,
            })
        })
        .collect();
    println!("{}", serde_json::to_string_pretty(&users)?);
    Ok(())
}

/// `tessera user disable NAME`: disabled flag, user revocation, sessions revoked.
///
/// The flag comes first, so no login or refresh succeeds after the revocation's epoch; the
/// revocation then denies every access token issued until now (`iat <= now`) for as long as such
/// a token could be accepted (broadcast through Redis when `REDIS_URL` is set); revoking the
/// sessions ends the refresh tokens.
async fn disable(store: &dyn Store, config: &Config, name: &str) -> anyhow::Result<()> {
    let user = store
        .set_disabled(name, true)
        .await
        .context("disabling the user")?
        .ok_or_else(|| no_such_user(name))?;
    let now = SystemClock.now();
    let revocation = Revocation {
        kind: RevocationKind::User,
        subject: user.id.clone(),
        // Tokens are denied when `iat < not_before`: this includes those issued this second.
        not_before: now.saturating_add(1),
        expires_at: now
            .saturating_add(config.access_ttl)
            .saturating_add(config.leeway),
    };
    store
        .add_revocation(&revocation)
        .await
        .context("recording the revocation of the user's tokens")?;
    // With Redis, running servers apply it at once; without (or if Redis fails), they read it
    // from the database within a second.
    if let Some(redis) = tessera_server::app::open_redis(config, store).await? {
        if let Err(err) = redis.publish_revocation(&revocation).await {
            eprintln!(
                "warning: the revocation is recorded, but could not be broadcast through Redis ({err}); servers pick it up from the database within a second"
            );
        }
    }
    let sessions = store
        .revoke_user_sessions(&user.id, None, now)
        .await
        .context("revoking the user's sessions")?;
    println!(
        "{}",
        json!({
            "id": user.id,
            "username": user.username,
            "disabled": true,
            "sessions_revoked": sessions.len(),
        })
    );
    Ok(())
}

/// `tessera user enable NAME`: clears the disabled flag; revoked tokens stay revoked.
///
/// A disabled user is re-enabled only once the wall clock has reached the `not_before` of the
/// user revocation that `disable` recorded (see [`wait_for_revocation_epoch`]): otherwise a login
/// in the disable's own second would get a 200 and an access token the deny-list refuses.
async fn enable(store: &dyn Store, name: &str) -> anyhow::Result<()> {
    let user = store
        .user_by_username(name)
        .await
        .context("looking up the user")?
        .ok_or_else(|| no_such_user(name))?;
    if user.disabled {
        wait_for_revocation_epoch(store, &user.id).await?;
    }
    let user = store
        .set_disabled(name, false)
        .await
        .context("enabling the user")?
        .ok_or_else(|| no_such_user(name))?;
    println!(
        "{}",
        json!({ "id": user.id, "username": user.username, "disabled": false })
    );
    Ok(())
}

/// Waits until the wall clock reaches the `not_before` of the user's live user revocation, if
/// that is still ahead: at most [`MAX_REVOCATION_EPOCH_WAIT`].
///
/// `disable` denies tokens with `iat < now + 1`, to cover the tokens issued in its own second;
/// a token issued in that second after the flag is cleared would be denied too. Waiting before
/// the flag is cleared means no login succeeds while the revocation still covers its token.
///
/// # Errors
/// When the store cannot be read.
async fn wait_for_revocation_epoch(store: &dyn Store, user_id: &str) -> anyhow::Result<()> {
    let now_ms = unix_time_ms();
    let not_before = store
        .live_revocations(now_ms / 1_000)
        .await
        .context("reading the user's revocations")?
        .into_iter()
        .filter(|(_, revocation)| {
            revocation.kind == RevocationKind::User && revocation.subject == user_id
        })
        .map(|(_, revocation)| revocation.not_before)
        .max();
    let Some(not_before) = not_before else {
        return Ok(());
    };
    let wait = Duration::from_millis(not_before.saturating_mul(1_000).saturating_sub(now_ms));
    if wait > MAX_REVOCATION_EPOCH_WAIT {
        // Only a clock set back since the disable (or a disable on a machine whose clock is
        // ahead) gets here: waiting it out is not this command's job, but it is worth saying.
        eprintln!(
            "warning: the user's revocation covers tokens issued for another {} s by this \
             machine's clock; logins until then get tokens the server refuses",
            wait.as_secs_f64().ceil()
        );
    }
    tokio::time::sleep(wait.min(MAX_REVOCATION_EPOCH_WAIT)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    fn read(input: &[u8]) -> anyhow::Result<Vec<u8>> {
        read_password(input).map(|secret| secret.expose().to_vec())
    }

    #[test]
    fn password_is_the_first_line_without_its_newline() {
        assert_eq!(read(b"hunter2-hunter2\n").unwrap(), b"hunter2-hunter2");
        assert_eq!(read(b"hunter2-hunter2\r\n").unwrap(), b"hunter2-hunter2");
        assert_eq!(read(b"hunter2-hunter2").unwrap(), b"hunter2-hunter2");
        assert_eq!(read(b"first line\nsecond\n").unwrap(), b"first line");
        // Only the newline goes: spaces are part of the password.
        assert_eq!(read(b" spaced \n").unwrap(), b" spaced ");
    }

    #[test]
    fn empty_password_is_refused() {
        for input in [&b""[..], b"\n", b"\r\n", b"\nsecond line\n"] {
            let err = read(input).unwrap_err().to_string();
            assert!(err.contains("no password"), "{input:?}: {err}");
        }
    }

    #[test]
    fn overlong_and_non_utf8_passwords_are_refused() {
        let longest = "\u{10348}".repeat(MAX_PASSWORD_CHARS);
        assert_eq!(longest.len(), MAX_PASSWORD_BYTES);
        assert_eq!(
            read(format!("{longest}\r\n").as_bytes()).unwrap().len(),
            MAX_PASSWORD_BYTES
        );
        let err = read(&vec![b'x'; MAX_PASSWORD_BYTES + 1]).unwrap_err();
        assert_eq!(err.to_string(), PasswordRejection::TooLong.to_string());
        let err = read(&vec![b'x'; 100_000]).unwrap_err();
        assert_eq!(err.to_string(), PasswordRejection::TooLong.to_string());
        let err = read(b"caf\xe9-latin1\n").unwrap_err().to_string();
        assert_eq!(err, "password is not UTF-8");
    }
}
