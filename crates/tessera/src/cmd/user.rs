//! `tessera user add | list | disable | enable`: accounts, in the store the server uses.
//!
//! The same rules as `POST /auth/register` apply (username and password policy from
//! `tessera-password`, argon2id with the production parameters). `disable` is one step in the
//! database (the flag, every session revoked, the user's tokens denied), so it either happens
//! whole or not at all; running servers apply it within about a second (the deny-list they poll),
//! or at once with `REDIS_URL` (the broadcast, sent after the step and never a condition of it).

use anyhow::{bail, Context as _};
use serde_json::json;
use std::io::BufRead;
use tessera_config::Config;
use tessera_password::{check_username, PasswordHasher, PasswordRejection, MAX_PASSWORD_CHARS};
use tessera_service::revocations::{self, RevocationListener};
use tessera_service::{accounts, roles, ServiceError};
use tessera_store::{Store, User};
use tessera_token::{Clock as _, Secret, SystemClock};
use zeroize::Zeroizing;

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
    /// List users as one JSON array of {id, username, created_at, disabled, roles}.
    ///
    /// Oldest first; `created_at` is in seconds since the Unix epoch. Password hashes are never
    /// shown.
    List,
    /// Disable a user: logins are refused and every token the user holds stops working.
    ///
    /// In one step in the database: marks the user disabled, revokes every session (so refresh
    /// tokens stop working) with a deny-list entry each, and records a revocation of every access
    /// token issued to the user until now; a running server applies it within about a second, at
    /// once with REDIS_URL. A login running at the same moment gets no session. Running it again
    /// is harmless. Prints {"id", "username", "disabled": true, "sessions_revoked": N}.
    Disable(NameArgs),
    /// Re-enable a disabled user: logins work again.
    ///
    /// Tokens and sessions revoked by `disable` stay revoked; the user logs in again to get new
    /// ones. Running it on an enabled user is harmless. Prints
    /// {"id", "username", "disabled": false}.
    Enable(NameArgs),
    /// Give or take away a role: `tessera user role add NAME ROLE`, `tessera user role remove
    /// NAME ROLE`. Prints {"id", "username", "roles", "changed"}.
    ///
    /// Roles are carried in access tokens as the `roles` claim, and grant the OAuth scopes that
    /// TESSERA_ROLE_SCOPES maps them to (the `scope` claim). A role given is in the user's next
    /// token (a login or refresh); a role taken away ends every access token the user holds at
    /// once (on a running server within about a second, at once with REDIS_URL); the sessions
    /// stay, and their next refresh issues tokens without it. A role is 1 to 64 ASCII letters,
    /// digits, `_`, `-`, `.` or `:`.
    #[command(subcommand)]
    Role(RoleCommand),
}

/// Arguments of `tessera user add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The username.
    #[arg(value_name = "NAME")]
    name: String,
}

/// `tessera user role` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum RoleCommand {
    /// Give the user a role (harmless if it has it).
    Add(RoleArgs),
    /// Take a role away: the user's current access tokens stop working (harmless if it does not
    /// have it).
    Remove(RoleArgs),
}

/// Arguments of `tessera user role add` and `remove`.
#[derive(Debug, clap::Args)]
pub struct RoleArgs {
    /// The username (compared without regard to ASCII case).
    #[arg(value_name = "NAME")]
    name: String,
    /// The role.
    #[arg(value_name = "ROLE")]
    role: String,
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
            Command::Role(command) => role(store.as_ref(), &config, command).await,
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

/// `tessera user add NAME`: the registration of `POST /auth/register`
/// ([`accounts::register`]); prints `{"id", "username"}`.
async fn add(store: &dyn Store, name: &str, stdin: impl BufRead) -> anyhow::Result<()> {
    // A bad name is said before the password is read.
    check_username(name)?;
    let password = read_password(stdin)?;
    let hasher = PasswordHasher::new(1).context("password hasher")?;
    let user = accounts::register(store, &hasher, name, password, SystemClock.now())
        .await
        .map_err(|err| match err {
            ServiceError::UsernameTaken => taken(name),
            ServiceError::Rule(rule) => anyhow::anyhow!(rule),
            other => anyhow::Error::new(other).context("creating the user"),
        })?;
    println!("{}", json!({ "id": user.id, "username": user.username }));
    Ok(())
}

/// `tessera user list`: a JSON array, oldest first, without password hashes.
async fn list(store: &dyn Store) -> anyhow::Result<()> {
    let mut users = Vec::new();
    for user in store.list_users().await.context("listing users")? {
        let user: User = user;
        let roles = store.user_roles(&user.id).await.context("listing roles")?;
        users.push(json!({
            "id": user.id,
            "username": user.username,
            "created_at": user.created_at,
            "disabled": user.disabled,
            "roles": roles,
        }));
    }
    println!("{}", serde_json::to_string_pretty(&users)?);
    Ok(())
}

/// `tessera user role add|remove NAME ROLE`: [`roles::add`] or [`roles::remove`] (whose
/// revocation is broadcast like a disable's).
async fn role(store: &dyn Store, config: &Config, command: RoleCommand) -> anyhow::Result<()> {
    let outcome = match &command {
        RoleCommand::Add(args) => roles::add(store, &args.name, &args.role).await,
        RoleCommand::Remove(args) => {
            let broadcast = Broadcast::open(config, store).await;
            roles::remove(store, &broadcast, &args.name, &args.role, SystemClock.now()).await
        }
    };
    let name = match &command {
        RoleCommand::Add(args) | RoleCommand::Remove(args) => &args.name,
    };
    let (user, roles, changed) = outcome.map_err(|err| match err {
        ServiceError::NotFound(_) => no_such_user(name),
        ServiceError::Rule(rule) => anyhow::anyhow!(rule),
        other => anyhow::Error::new(other).context("changing the user's roles"),
    })?;
    println!(
        "{}",
        json!({ "id": user.id, "username": user.username, "roles": roles, "changed": changed })
    );
    Ok(())
}

/// `tessera user disable NAME`: [`accounts::disable`] (all or nothing in the database), then the
/// broadcast.
async fn disable(store: &dyn Store, config: &Config, name: &str) -> anyhow::Result<()> {
    let broadcast = Broadcast::open(config, store).await;
    let (user, sessions) = accounts::disable(store, &broadcast, name, SystemClock.now())
        .await
        .map_err(|err| match err {
            ServiceError::NotFound(_) => no_such_user(name),
            other => anyhow::Error::new(other).context("disabling the user"),
        })?;
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

/// Tells running servers through Redis (when `REDIS_URL` is set) that revocations were recorded:
/// they read them from the database at once. Never a condition of the revocation: on failure it
/// warns, and servers read the revocations from the database within a second.
struct Broadcast {
    redis: Option<tessera_store::redis::RedisState>,
}

impl Broadcast {
    async fn open(config: &Config, store: &dyn Store) -> Broadcast {
        match revocations::open_redis(config, store).await {
            Ok(redis) => Broadcast { redis },
            Err(err) => {
                eprintln!("warning: Redis cannot be used ({err}); servers pick revocations up from the database within a second");
                Broadcast { redis: None }
            }
        }
    }
}

#[async_trait::async_trait]
impl RevocationListener for Broadcast {
    async fn recorded(&self, _now: u64) -> Result<(), ServiceError> {
        if let Some(redis) = &self.redis {
            if let Err(err) = redis.publish_revocations(&[]).await {
                eprintln!(
                    "warning: the revocation is recorded, but could not be broadcast through Redis ({err}); servers pick it up from the database within a second"
                );
            }
        }
        Ok(())
    }
}

/// `tessera user enable NAME`: [`accounts::enable`]; revoked tokens and sessions stay revoked.
async fn enable(store: &dyn Store, name: &str) -> anyhow::Result<()> {
    let user = accounts::enable(store, name)
        .await
        .map_err(|err| match err {
            ServiceError::NotFound(_) => no_such_user(name),
            other => anyhow::Error::new(other).context("enabling the user"),
        })?;
    println!(
        "{}",
        json!({ "id": user.id, "username": user.username, "disabled": false })
    );
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
