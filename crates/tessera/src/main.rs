//! `tessera`: the authentication server (`tessera serve`), and keys, tokens and JWKS from the
//! command line.
//!
//! `main` only parses arguments, loads the configuration when a command needs it, and calls the
//! command. Errors end the process with a non-zero status and one line on stderr.
#![forbid(unsafe_code)]

mod cmd;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Tessera: secure JWT authentication.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Generate a signing key: a random secret for HS*, a PKCS#8 PEM private key otherwise.
    Keygen(cmd::keygen::Args),
    /// Mint, verify and inspect access tokens.
    #[command(subcommand)]
    Token(cmd::token::Command),
    /// Print the public JWK Set of the configured keys (empty for HS* secrets).
    Jwks,
    /// Manage the signing keys kept in the store: list, rotate, retire, rewrap.
    #[command(subcommand)]
    Keys(cmd::keys::Command),
    /// Run the authentication server (zero configuration: ./tessera-data, 127.0.0.1:8080).
    Serve(cmd::serve::Args),
    /// Manage user accounts in the server's store: add, list, disable, enable.
    #[command(subcommand)]
    User(cmd::user::Command),
    /// Manage the OAuth clients of the introspection endpoint: add, list, remove, rotate-secret.
    #[command(subcommand)]
    Client(cmd::client::Command),
    /// Check the configuration and its environment (keys, database, Redis, clock, cookies,
    /// issuer) and print findings; exits non-zero on errors.
    Doctor,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Keygen(args) => cmd::keygen::run(&args),
        Command::Token(command) => cmd::token::run(command),
        Command::Jwks => cmd::jwks::run(),
        Command::Keys(command) => cmd::keys::run(command),
        Command::Serve(args) => cmd::serve::run(&args),
        Command::User(command) => cmd::user::run(command),
        Command::Client(command) => cmd::client::run(command),
        // Doctor decides its own exit status: its errors are findings, printed on stdout.
        Command::Doctor => match cmd::doctor::run() {
            Ok(status) => return status,
            Err(err) => Err(err),
        },
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // One line: join the error chain and flatten any newlines inside messages.
            let line = format!("{err:#}").replace(['\n', '\r'], " ");
            eprintln!("error: {line}");
            ExitCode::FAILURE
        }
    }
}
