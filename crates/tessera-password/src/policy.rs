//! Password and username policy: NIST SP 800-63B length and blocklist rules, checked before a
//! password is ever hashed.

use std::collections::HashSet;
use std::sync::LazyLock;

use zeroize::Zeroizing;

/// Fewest characters (Unicode scalar values) a password may have: the SP 800-63B minimum for a
/// memorized secret chosen by the subscriber.
pub const MIN_PASSWORD_CHARS: usize = 8;

/// Most characters (Unicode scalar values) a password may have. SP 800-63B asks for at least 64;
/// the cap only keeps the input to the hash bounded.
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// Fewest characters a username may have.
pub const MIN_USERNAME_CHARS: usize = 3;

/// Most characters a username may have.
pub const MAX_USERNAME_CHARS: usize = 64;

/// The 10,000 most common passwords, lowercase, one per line (see `data/README.md`).
const COMMON_PASSWORDS_TEXT: &str = include_str!("../data/common-passwords.txt");

/// [`COMMON_PASSWORDS_TEXT`] as a set, built on first use.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| COMMON_PASSWORDS_TEXT.lines().collect());

/// Why a new password was refused. `Display` names the rule, in words fit for an HTTP 400
/// `error_description` (printable ASCII, no quotes or backslashes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PasswordRejection {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    #[error("password must be at least 8 characters long")]
    TooShort,
    /// More than [`MAX_PASSWORD_CHARS`] characters.
    #[error("password must be at most 1024 characters long")]
    TooLong,
    /// One of the 10,000 most common passwords (compared case-insensitively).
    #[error("password is too common: it is among the 10000 most used passwords")]
    Common,
    /// The same as the username (compared case-insensitively).
    #[error("password must not be the same as the username")]
    SameAsUsername,
}

/// Why a new username was refused. `Display` names the rule, in words fit for an HTTP 400
/// `error_description`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsernameRejection {
    /// Fewer than [`MIN_USERNAME_CHARS`] characters.
    #[error("username must be at least 3 characters long")]
    TooShort,
    /// More than [`MAX_USERNAME_CHARS`] characters.
    #[error("username must be at most 64 characters long")]
    TooLong,
    /// A character other than an ASCII letter, digit, `.`, `_` or `-`.
    #[error("username may contain only ASCII letters, digits, dot, underscore and hyphen")]
    InvalidCharacter,
    /// The first character is not an ASCII letter or digit.
    #[error("username must start with an ASCII letter or digit")]
    InvalidStart,
}

/// Checks a new password against the policy, before it is hashed and stored.
///
/// The rules, in the order they are checked (the first failure is reported): at least
/// [`MIN_PASSWORD_CHARS`] and at most [`MAX_PASSWORD_CHARS`] characters (Unicode scalar values, no
/// normalization); not one of the 10,000 most common passwords; not the username. The last two
/// ignore case. There are no composition rules (SP 800-63B 5.1.1.2 advises against them).
///
/// # Errors
/// The [`PasswordRejection`] for the first rule that fails.
///
/// # Security
/// The lowercased copies made for the case-insensitive comparisons are zeroized when dropped.
/// Never log `password`, nor the rejection together with it.
pub fn check_password(password: &str, username: &str) -> Result<(), PasswordRejection> {
    let chars = password.chars().count();
    if chars < MIN_PASSWORD_CHARS {
        return Err(PasswordRejection::TooShort);
    }
    if chars > MAX_PASSWORD_CHARS {
        return Err(PasswordRejection::TooLong);
    }
    let lowered = Zeroizing::new(password.to_lowercase());
    if COMMON_PASSWORDS.contains(lowered.as_str()) {
        return Err(PasswordRejection::Common);
    }
    if *lowered == username.to_lowercase() {
        return Err(PasswordRejection::SameAsUsername);
    }
    Ok(())
}

/// Checks a new username: [`MIN_USERNAME_CHARS`] to [`MAX_USERNAME_CHARS`] characters, only ASCII
/// letters, digits, `.`, `_` and `-`, starting with a letter or digit.
///
/// The rules keep usernames safe to show, log and put in a token's `sub` without escaping.
///
/// # Errors
/// The [`UsernameRejection`] for the first rule that fails, in the order above.
pub fn check_username(username: &str) -> Result<(), UsernameRejection> {
    let chars = username.chars().count();
    if chars < MIN_USERNAME_CHARS {
        return Err(UsernameRejection::TooShort);
    }
    if chars > MAX_USERNAME_CHARS {
        return Err(UsernameRejection::TooLong);
    }
    if !username
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    {
        return Err(UsernameRejection::InvalidCharacter);
    }
    if !username
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
    {
        return Err(UsernameRejection::InvalidStart);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bundled_list_has_exactly_ten_thousand_distinct_lowercase_entries() {
        assert_eq!(COMMON_PASSWORDS_TEXT.lines().count(), 10_000);
        assert_eq!(COMMON_PASSWORDS.len(), 10_000);
        assert!(COMMON_PASSWORDS.contains("123456"));
        assert!(COMMON_PASSWORDS.contains("password"));
        assert!(COMMON_PASSWORDS
            .iter()
            .all(|p| !p.is_empty() && *p == p.to_lowercase() && !p.contains(char::is_whitespace)));
    }

    #[test]
    fn password_shorter_than_eight_characters_is_refused() {
        assert_eq!(
            check_password("a1b2c3d", "alice"),
            Err(PasswordRejection::TooShort)
        );
        assert_eq!(
            check_password("", "alice"),
            Err(PasswordRejection::TooShort)
        );
    }

    #[test]
    fn password_length_counts_characters_not_bytes() {
        // 7 characters, 21 bytes: still too short.
        assert_eq!(
            check_password("ÿÿÿÿÿÿ€", "alice"),
            Err(PasswordRejection::TooShort)
        );
        // 8 characters.
        assert_eq!(check_password("ÿÿÿÿÿÿ€€", "alice"), Ok(()));
    }

    #[test]
    fn password_longer_than_1024_characters_is_refused() {
        let at_limit = "x7".repeat(512);
        assert_eq!(check_password(&at_limit, "alice"), Ok(()));
        let over = format!("{at_limit}y");
        assert_eq!(
            check_password(&over, "alice"),
            Err(PasswordRejection::TooLong)
        );
    }

    #[test]
    fn common_passwords_are_refused_whatever_their_case() {
        for common in [
            "password",
            "123456789",
            "Password",
            "QWERTYUIOP",
            "iloveyou",
        ] {
            assert_eq!(
                check_password(common, "alice"),
                Err(PasswordRejection::Common),
                "{common}"
            );
        }
    }

    #[test]
    fn password_equal_to_the_username_is_refused_whatever_its_case() {
        assert_eq!(
            check_password("Alice.Wonderland", "alice.wonderland"),
            Err(PasswordRejection::SameAsUsername)
        );
        assert_eq!(
            check_password("carol-2024-x", "CAROL-2024-X"),
            Err(PasswordRejection::SameAsUsername)
        );
    }

    #[test]
    fn good_password_passes() {
        assert_eq!(
            check_password("correct horse battery staple", "alice"),
            Ok(())
        );
        assert_eq!(check_password("päßwörd-ünïcödé", "alice"), Ok(()));
    }

    #[test]
    fn rejections_name_the_rule_in_plain_ascii() {
        let all = [
            PasswordRejection::TooShort.to_string(),
            PasswordRejection::TooLong.to_string(),
            PasswordRejection::Common.to_string(),
            PasswordRejection::SameAsUsername.to_string(),
            UsernameRejection::TooShort.to_string(),
            UsernameRejection::TooLong.to_string(),
            UsernameRejection::InvalidCharacter.to_string(),
            UsernameRejection::InvalidStart.to_string(),
        ];
        assert!(all[0].contains(&format!("at least {MIN_PASSWORD_CHARS} ")));
        assert!(all[1].contains(&format!("at most {MAX_PASSWORD_CHARS} ")));
        assert!(all[2].contains("common"));
        assert!(all[3].contains("username"));
        assert!(all[4].contains(&format!("at least {MIN_USERNAME_CHARS} ")));
        assert!(all[5].contains(&format!("at most {MAX_USERNAME_CHARS} ")));
        // RFC 6749 error_description: %x20-21 / %x23-5B / %x5D-7E.
        for text in &all {
            assert!(
                text.bytes()
                    .all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\'),
                "{text}"
            );
        }
    }

    #[test]
    fn username_length_must_be_3_to_64() {
        assert_eq!(check_username("ab"), Err(UsernameRejection::TooShort));
        assert_eq!(check_username("abc"), Ok(()));
        assert_eq!(check_username(&"a".repeat(64)), Ok(()));
        assert_eq!(
            check_username(&"a".repeat(65)),
            Err(UsernameRejection::TooLong)
        );
    }

    #[test]
    fn username_allows_only_ascii_letters_digits_dot_underscore_hyphen() {
        assert_eq!(check_username("Alice.B_C-9"), Ok(()));
        for bad in ["alice smith", "alice@example", "zoë123", "a/b/c", "abc\n"] {
            assert_eq!(
                check_username(bad),
                Err(UsernameRejection::InvalidCharacter),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn username_must_start_with_a_letter_or_digit() {
        for bad in [".alice", "_alice", "-alice"] {
            assert_eq!(
                check_username(bad),
                Err(UsernameRejection::InvalidStart),
                "{bad}"
            );
        }
        assert_eq!(check_username("9lives"), Ok(()));
    }
}
