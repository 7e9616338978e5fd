//! The command line of every subcommand: `--flag value` pairs and bare switches, with the one
//! wording of their errors, so that each subcommand's `parse` is only its table of flags.

use std::path::PathBuf;
use std::str::FromStr;

use crate::error::BenchError;

/// One `--flag value` pair.
pub struct FlagValue<'a> {
    pub flag: &'a str,
    pub value: &'a str,
}

impl FlagValue<'_> {
    /// The value read as a number (or anything `FromStr`), or a usage error naming the flag.
    pub fn parse<T: FromStr>(&self) -> Result<T, BenchError> {
        self.value.parse().map_err(|_| self.unreadable())
    }

    /// The error for a value the flag cannot take.
    pub fn unreadable(&self) -> BenchError {
        BenchError::Usage(format!("`{}`: cannot read `{}`", self.flag, self.value))
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(self.value)
    }

    /// The error for a flag the subcommand does not know.
    pub fn unknown(&self) -> BenchError {
        BenchError::Usage(format!("unknown option `{}`", self.flag))
    }
}

/// Splits `arguments` into the switches of `switches` that are present and the remaining
/// `--flag value` pairs, in order; a flag with no value after it is a usage error.
pub fn split<'a>(
    arguments: &'a [String],
    switches: &[&str],
) -> Result<(Vec<&'a str>, Vec<FlagValue<'a>>), BenchError> {
    let mut present = Vec::new();
    let mut pairs = Vec::new();
    let mut iter = arguments.iter();
    while let Some(flag) = iter.next() {
        if switches.contains(&flag.as_str()) {
            present.push(flag.as_str());
            continue;
        }
        let value = iter
            .next()
            .ok_or_else(|| BenchError::Usage(format!("`{flag}` needs a value")))?;
        pairs.push(FlagValue { flag, value });
    }
    Ok((present, pairs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn switches_and_pairs_are_told_apart() {
        let arguments = strings(&["--seed", "3", "--no-peer", "--data", "x.csv"]);
        let (switches, pairs) = split(&arguments, &["--no-peer"]).unwrap();
        assert_eq!(switches, ["--no-peer"]);
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].parse::<u64>().unwrap(), 3);
        assert_eq!(pairs[1].path(), PathBuf::from("x.csv"));
    }

    #[test]
    fn a_missing_or_unreadable_value_is_a_usage_error() {
        let missing = strings(&["--seed"]);
        assert!(
            matches!(split(&missing, &[]), Err(BenchError::Usage(m)) if m.contains("needs a value"))
        );
        let bad = strings(&["--seed", "three"]);
        let (_, pairs) = split(&bad, &[]).unwrap();
        assert!(
            matches!(pairs[0].parse::<u64>(), Err(BenchError::Usage(m)) if m.contains("cannot read `three`"))
        );
    }
}
