//! Durations as people write them in environment variables: `90`, `90s`, `15m`, `1h`, `7d`.

/// Parses a duration into whole seconds. A bare number is seconds.
///
/// # Errors
/// A message saying what forms are accepted.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let (digits, unit) = match trimmed.find(|c: char| !c.is_ascii_digit()) {
        Some(split) => trimmed.split_at(split),
        None => (trimmed, "s"),
    };
    let multiplier = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    digits
        .parse::<u64>()
        .ok()
        .filter(|_| multiplier > 0)
        .and_then(|count| count.checked_mul(multiplier))
        .filter(|seconds| *seconds <= 10 * 365 * 86_400)
        .ok_or_else(|| {
            format!(
                "`{}` is not a duration; write seconds (`90`, `90s`), minutes (`15m`), hours (`1h`) or days (`7d`), at most 10 years",
                text.chars().take(32).collect::<String>()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepted_forms() {
        assert_eq!(parse_duration("90"), Ok(90));
        assert_eq!(parse_duration("90s"), Ok(90));
        assert_eq!(parse_duration("15m"), Ok(900));
        assert_eq!(parse_duration("1h"), Ok(3600));
        assert_eq!(parse_duration("7d"), Ok(604_800));
        assert_eq!(parse_duration(" 0 "), Ok(0));
    }

    #[test]
    fn refused_forms() {
        for text in [
            "",
            "s",
            "-5",
            "1.5h",
            "15 m",
            "15min",
            "1w",
            "99999999999999999999",
            "3650000d",
        ] {
            assert!(parse_duration(text).is_err(), "{text}");
        }
    }
}
