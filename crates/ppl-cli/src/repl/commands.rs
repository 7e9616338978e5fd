//! The REPL's `:commands`: a closed set, parsed from one input line, with short aliases and a
//! did-you-mean for a misspelt name.

use std::path::PathBuf;

/// One `:command` line.
#[derive(Clone, Debug, PartialEq)]
pub enum ReplCommand {
    /// Replace the model with a file's text.
    Load(PathBuf),
    /// Use this data file for the next runs (as `ppl run --data`).
    Data(PathBuf),
    /// Print the model text.
    Show,
    /// Run the checker; `ir` prints the checked IR.
    Check {
        ir: bool,
    },
    /// Fit the model; the words after `:run` (a method, then `ppl run` flags).
    Run(Vec<String>),
    /// Reprint the last run's table.
    Summary,
    /// Draw a picture of the last fit: `VAR [KIND]`, or a kind alone (`objective`, `ppc`).
    Plot(String),
    /// Start again with an empty model.
    Reset,
    Help,
    Quit,
}

/// A `:command` line that does not parse, with the message to show.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum CommandParseError {
    #[error("unknown command `:{name}`{suggestion}; the commands are {list}", suggestion = did_you_mean(.closest.as_deref()), list = command_list())]
    Unknown {
        name: String,
        closest: Option<String>,
    },
    #[error("`:{command}` needs {what}: `{usage}`")]
    MissingArgument {
        command: &'static str,
        what: &'static str,
        usage: &'static str,
    },
    #[error("`:{command}` takes {what}: `{usage}`")]
    UnexpectedArgument {
        command: &'static str,
        what: &'static str,
        usage: &'static str,
    },
}

/// Every command: its name, aliases, usage and what it does (for `:help` and messages).
pub const COMMANDS: &[(&str, &[&str], &str, &str)] = &[
    (
        "load",
        &["l"],
        ":load FILE",
        "replace the model with FILE (its `data \"...\"` is relative to FILE)",
    ),
    (
        "data",
        &["d"],
        ":data FILE",
        "use FILE as the data (as `ppl run --data FILE`)",
    ),
    ("show", &["s", "list"], ":show", "print the model text"),
    (
        "check",
        &["c"],
        ":check [ir]",
        "check the model; `:check ir` prints the checked IR",
    ),
    (
        "run",
        &["r"],
        ":run [method] [flags]",
        "fit the model as `ppl run` does, e.g. `:run nuts --draws 500 --seed 2`",
    ),
    ("summary", &[], ":summary", "reprint the last run's table"),
    (
        "plot",
        &[],
        ":plot VAR [KIND]",
        "draw VAR of the last run (KIND: trace, rank, density, autocorr, forest, ppc; `:plot objective`) and say where",
    ),
    (
        "reset",
        &[],
        ":reset",
        "forget the model, the data and the last run",
    ),
    ("help", &["h", "?"], ":help", "this list"),
    ("quit", &["q", "exit"], ":quit", "leave (Ctrl-D does too)"),
];

fn did_you_mean(closest: Option<&str>) -> String {
    closest.map_or(String::new(), |c| format!(" (did you mean `:{c}`?)"))
}

fn command_list() -> String {
    COMMANDS
        .iter()
        .map(|(name, ..)| format!(":{name}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// True for a line that is a command (starts with `:` after blanks).
pub fn is_command(line: &str) -> bool {
    line.trim_start().starts_with(':')
}

/// Parses a line that starts with `:`.
pub fn parse(line: &str) -> Result<ReplCommand, CommandParseError> {
    let text = line.trim().trim_start_matches(':');
    let (word, rest) = match text.split_once(char::is_whitespace) {
        Some((word, rest)) => (word, rest.trim()),
        None => (text, ""),
    };
    let name = COMMANDS
        .iter()
        .find(|(name, aliases, ..)| *name == word || aliases.contains(&word))
        .map(|(name, ..)| *name)
        .ok_or_else(|| CommandParseError::Unknown {
            name: word.to_string(),
            closest: ppl_syntax::diagnostic::closest(word, COMMANDS.iter().map(|c| c.0))
                .map(str::to_string),
        })?;
    let usage = COMMANDS.iter().find(|c| c.0 == name).map_or("", |c| c.2);
    let no_argument = |command| {
        if rest.is_empty() {
            Ok(())
        } else {
            Err(CommandParseError::UnexpectedArgument {
                command,
                what: "no argument",
                usage,
            })
        }
    };
    let one_argument = |command, what| {
        if rest.is_empty() {
            Err(CommandParseError::MissingArgument {
                command,
                what,
                usage,
            })
        } else {
            Ok(unquote(rest).to_string())
        }
    };
    Ok(match name {
        "load" => ReplCommand::Load(PathBuf::from(one_argument("load", "a file")?)),
        "data" => ReplCommand::Data(PathBuf::from(one_argument("data", "a file")?)),
        "show" => no_argument("show").map(|_| ReplCommand::Show)?,
        "check" => match rest {
            "" => ReplCommand::Check { ir: false },
            "ir" | "--ir" => ReplCommand::Check { ir: true },
            _ => {
                return Err(CommandParseError::UnexpectedArgument {
                    command: "check",
                    what: "nothing or `ir`",
                    usage,
                });
            }
        },
        "run" => ReplCommand::Run(rest.split_whitespace().map(str::to_string).collect()),
        "summary" => no_argument("summary").map(|_| ReplCommand::Summary)?,
        "plot" => ReplCommand::Plot(one_argument("plot", "a variable")?),
        "reset" => no_argument("reset").map(|_| ReplCommand::Reset)?,
        "help" => ReplCommand::Help,
        _ => ReplCommand::Quit,
    })
}

/// A file name may be written in double quotes, as in the model's `data "..."`.
fn unquote(text: &str) -> &str {
    text.strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .unwrap_or(text)
}

/// The text of `:help`.
pub fn help() -> String {
    let mut out = String::from(
        "Type declarations and statements to build a model line by line (a line that does not\n\
         check is refused, so the model stays valid); a line continues while a bracket is open\n\
         or it ends in an operator. After `:run`, type an expression to evaluate it over the\n\
         posterior draws (or at EM's point estimates): `mean(mu[1] - mu[2])`, `sd(mu)`,\n\
         `quantile(sigma, 0.9)`, `prob(tau > 5)`; a bare expression prints its mean and sd.\n\n",
    );
    let width = COMMANDS.iter().map(|c| c.2.len()).max().unwrap_or(0);
    for (_, aliases, usage, what) in COMMANDS {
        let aliases = if aliases.is_empty() {
            String::new()
        } else {
            format!(
                " (also {})",
                aliases
                    .iter()
                    .map(|a| format!(":{a}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        out.push_str(&format!("  {usage:width$}  {what}{aliases}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_and_aliases_parse() {
        assert_eq!(
            parse(":load examples/gmm.model"),
            Ok(ReplCommand::Load("examples/gmm.model".into()))
        );
        assert_eq!(
            parse("  :data \"data/x.csv\"  "),
            Ok(ReplCommand::Data("data/x.csv".into()))
        );
        assert_eq!(parse(":show"), Ok(ReplCommand::Show));
        assert_eq!(parse(":check"), Ok(ReplCommand::Check { ir: false }));
        assert_eq!(parse(":check ir"), Ok(ReplCommand::Check { ir: true }));
        assert_eq!(parse(":run"), Ok(ReplCommand::Run(vec![])));
        assert_eq!(
            parse(":run nuts --draws 200"),
            Ok(ReplCommand::Run(vec![
                "nuts".into(),
                "--draws".into(),
                "200".into()
            ]))
        );
        assert_eq!(parse(":summary"), Ok(ReplCommand::Summary));
        assert_eq!(parse(":plot mu"), Ok(ReplCommand::Plot("mu".into())));
        assert_eq!(parse(":reset"), Ok(ReplCommand::Reset));
        assert_eq!(parse(":help"), Ok(ReplCommand::Help));
        assert_eq!(parse(":?"), Ok(ReplCommand::Help));
        assert_eq!(parse(":quit"), Ok(ReplCommand::Quit));
        assert_eq!(parse(":q"), Ok(ReplCommand::Quit));
        assert_eq!(parse(":exit"), Ok(ReplCommand::Quit));
    }

    #[test]
    fn unknown_commands_suggest_the_closest() {
        let error = parse(":summry").unwrap_err();
        assert_eq!(
            error,
            CommandParseError::Unknown {
                name: "summry".into(),
                closest: Some("summary".into())
            }
        );
        let message = error.to_string();
        assert!(message.contains("did you mean `:summary`?"), "{message}");
        assert!(message.contains(":load, :data, :show"), "{message}");
        let error = parse(":xyzzy").unwrap_err();
        assert!(!error.to_string().contains("did you mean"));
    }

    #[test]
    fn arguments_are_checked() {
        assert!(matches!(
            parse(":load"),
            Err(CommandParseError::MissingArgument {
                command: "load",
                ..
            })
        ));
        assert!(matches!(
            parse(":plot"),
            Err(CommandParseError::MissingArgument { .. })
        ));
        assert!(matches!(
            parse(":show everything"),
            Err(CommandParseError::UnexpectedArgument { .. })
        ));
        assert!(matches!(
            parse(":check types"),
            Err(CommandParseError::UnexpectedArgument { .. })
        ));
    }

    #[test]
    fn help_lists_every_command() {
        let text = help();
        for (name, ..) in COMMANDS {
            assert!(text.contains(&format!(":{name}")), "{name}");
        }
        assert!(is_command("  :help"));
        assert!(!is_command("mu ~ Normal(0, 1)"));
    }
}
