//! Output selection (`--save 'mu,sigma,beta*'`): which unknowns and `let`s a run writes to its
//! draws files, summary, `summary.json` and point estimates, as CmdStanPy and ArviZ select
//! variables by name. The sampler columns (`lp__`, ...) and the `--log-lik`/`--predict` columns
//! follow their own flags and are always written. Selection is by whole variable: a pattern is
//! matched against `beta`, never against one element `beta[2]`, so an array is written whole or
//! not at all. `local let`s never reach this point: the tape does not output them.

use ppl_ir::Model;
use ppl_model::posterior::OutputColumn;
use ppl_syntax::codes;
use ppl_syntax::diagnostic::backticked;

use crate::error::{FailureKind, FitError};
use crate::report::RunReport;
use crate::settings::{Setting, Settings};

/// A saved `let` with at least this many elements gets a note (N0002) that `local let` or
/// `--save` would keep it out: per-point quantities flood the draws and the summary.
pub const LARGE_LET_ELEMENTS: usize = 100;

/// The `--save` patterns, split and checked for form: names made of ASCII letters, digits,
/// `_` and `.` (library prefixes), with `*` for any run of characters and `?` for one.
pub fn parse_patterns(text: &str) -> Result<Vec<String>, String> {
    let patterns: Vec<String> = text
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    if patterns.is_empty() {
        return Err("`--save` needs at least one name or glob, such as `--save 'mu,beta*'`".into());
    }
    if let Some(bad) = patterns.iter().find(|p| {
        !p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '*' | '?'))
    }) {
        return Err(format!(
            "`--save` takes names or globs of whole variables (`beta`, `beta*`), not `{bad}`: an array is saved whole"
        ));
    }
    Ok(patterns)
}

/// Whether `name` matches the glob `pattern` as a whole (`*` any run, `?` one character).
pub fn glob_matches(pattern: &str, name: &str) -> bool {
    let pattern = pattern.as_bytes();
    let name = name.as_bytes();
    // Iterative matching with one backtrack point: the last `*` and where it was tried.
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((star_p, star_n)) => {
                    p = star_p + 1;
                    n = star_n + 1;
                    star = Some((star_p, star_n + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// The variable a column or summary row belongs to: `theta` for `theta[1,2]` or `theta.1.2`.
pub fn base_name(column: &str) -> &str {
    let end = column.find('[').unwrap_or(column.len());
    let base = &column[..end];
    // CmdStan's CSV form `theta.1.2`: the trailing dotted parts that are numbers are indices
    // (a library prefix such as `vae.z` is not a number).
    let mut trimmed = base;
    while let Some((head, tail)) = trimmed.rsplit_once('.') {
        if !tail.is_empty() && tail.bytes().all(|b| b.is_ascii_digit()) {
            trimmed = head;
        } else {
            break;
        }
    }
    trimmed
}

/// What a run writes: the selectable names (unknowns and output `let`s, in model order) and the
/// patterns that choose among them.
#[derive(Clone, Debug)]
pub struct Selection {
    names: Vec<String>,
    patterns: Vec<String>,
}

impl Selection {
    /// The selection `--save` asks for, or `None` when every name is written. A pattern that
    /// matches no name is E0613 (a usage error: exit 2) naming the pattern and the names.
    pub fn from_settings(
        model: &Model,
        settings: &Settings,
    ) -> Result<Option<Selection>, FitError> {
        let Some(text) = settings.text(Setting::Save) else {
            return Ok(None);
        };
        let patterns = parse_patterns(text).map_err(|message| {
            FitError::message(codes::SAVE_NO_MATCH, message, FailureKind::Usage)
        })?;
        let names = selectable_names(model);
        for pattern in &patterns {
            if !names.iter().any(|name| glob_matches(pattern, name)) {
                return Err(FitError::message(
                    codes::SAVE_NO_MATCH,
                    format!(
                        "`--save` pattern `{pattern}` matches no unknown or `let`; the model has {}",
                        backticked(names.iter())
                    ),
                    FailureKind::Usage,
                ));
            }
        }
        Ok(Some(Selection { names, patterns }))
    }

    /// Whether a column or summary row (`theta[1,2]`, `theta.1.2`) is written. Columns of no
    /// selectable name (the `--log-lik`/`--predict` ones) always are.
    pub fn keeps(&self, column: &str) -> bool {
        let base = base_name(column);
        !self.names.iter().any(|n| n == base) || self.patterns.iter().any(|p| glob_matches(p, base))
    }

    /// Which of `columns` are written, in order.
    pub fn mask(&self, columns: &[OutputColumn]) -> Vec<bool> {
        columns.iter().map(|c| self.keeps(&c.display)).collect()
    }

    /// Removes the rows and estimates of what is not saved from a report computed over every
    /// column (the engines without a draws file: MAP, EM, Laplace, ADVI).
    pub fn apply_to_report(&self, report: &mut RunReport) {
        let kept: Vec<bool> = report.summary.iter().map(|r| self.keeps(&r.name)).collect();
        if let Some(quantiles) = &mut report.quantiles
            && quantiles.values.len() == kept.len()
        {
            let mut keep = kept.iter();
            quantiles
                .values
                .retain(|_| keep.next().copied().unwrap_or(true));
        }
        report.summary.retain(|row| self.keeps(&row.name));
        if report.estimate_errors.len() == report.estimates.len() {
            let mut errors = std::mem::take(&mut report.estimate_errors).into_iter();
            let mut kept_errors = Vec::new();
            report.estimates.retain(|(name, _)| {
                let error = errors.next().flatten();
                let keep = self.keeps(name);
                if keep {
                    kept_errors.push(error);
                }
                keep
            });
            report.estimate_errors = kept_errors;
        } else {
            report.estimates.retain(|(name, _)| self.keeps(name));
        }
    }
}

/// The values of `row` whose `mask` entry is set.
pub fn project(row: &[f64], mask: &[bool]) -> Vec<f64> {
    row.iter()
        .zip(mask)
        .filter(|(_, keep)| **keep)
        .map(|(value, _)| *value)
        .collect()
}

/// The names `--save` chooses among: the unknowns, then the `let`s written per draw.
pub fn selectable_names(model: &Model) -> Vec<String> {
    let mut names: Vec<String> = model.unknowns().map(|v| v.name.clone()).collect();
    names.extend(
        model
            .lets
            .iter()
            .filter(|l| l.is_output())
            .map(|l| l.name.clone()),
    );
    names
}

/// N0002 for each saved `let` of at least [`LARGE_LET_ELEMENTS`] elements per draw, from the
/// written columns (their CSV names).
pub fn large_let_notes(model: &Model, columns: &[String]) -> Vec<String> {
    model
        .lets
        .iter()
        .filter(|l| l.is_output())
        .filter_map(|l| {
            let count = columns.iter().filter(|c| base_name(c) == l.name).count();
            (count >= LARGE_LET_ELEMENTS).then(|| {
                format!(
                    "[{}] `{}` writes {count} columns per draw: `local let {}` keeps it out of the outputs, or `--save` chooses what is written",
                    codes::LARGE_SAVED_LET,
                    l.name,
                    l.name
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_whole_names() {
        assert!(glob_matches("beta*", "beta"));
        assert!(glob_matches("beta*", "beta_raw"));
        assert!(!glob_matches("beta*", "abeta"));
        assert!(glob_matches("*_raw", "beta_raw"));
        assert!(glob_matches("s?gma", "sigma"));
        assert!(!glob_matches("s?gma", "sgma"));
        assert!(glob_matches("*", "x"));
        assert!(glob_matches("a*b*c", "aXbYbZc"));
        assert!(!glob_matches("a*b*c", "aXbYbZ"));
        assert!(glob_matches("mu", "mu"));
        assert!(!glob_matches("mu", "mu2"));
    }

    #[test]
    fn base_names_drop_indices_in_both_forms() {
        assert_eq!(base_name("theta[1,2]"), "theta");
        assert_eq!(base_name("theta.1.2"), "theta");
        assert_eq!(base_name("vae.z"), "vae.z");
        assert_eq!(base_name("vae.z.3"), "vae.z");
        assert_eq!(base_name("mu"), "mu");
    }

    #[test]
    fn patterns_are_checked_for_form() {
        assert_eq!(
            parse_patterns(" mu, beta* ,").unwrap(),
            vec!["mu".to_string(), "beta*".to_string()]
        );
        assert!(parse_patterns(" , ").is_err());
        assert!(parse_patterns("beta[1]").is_err());
    }
}
