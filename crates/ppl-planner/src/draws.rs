//! Posterior draws on disk and their summary: one CmdStan-layout CSV per chain (comment lines,
//! `lp__` and the sampler columns first, `theta.1.2` names, post-warmup draws only, readable by
//! ArviZ's `from_cmdstan`), written as the chain runs so that Ctrl-C keeps the draws so far; the
//! reader that `ppl summary` merges chains with; and the summary table computed from exactly the
//! values written.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use crate::report::SummaryRow;

/// CmdStan's sampler columns, in order.
pub const SAMPLER_COLUMNS: [&str; 7] = [
    "lp__",
    "accept_stat__",
    "stepsize__",
    "treedepth__",
    "n_leapfrog__",
    "divergent__",
    "energy__",
];

/// Writes one chain's CSV as its draws arrive. Each draw is one `write_all` of a whole line, and
/// the buffer is flushed every few draws and on drop, so an interrupted run leaves complete lines.
pub struct ChainWriter {
    out: BufWriter<File>,
    pub path: PathBuf,
    rows: usize,
    wrote_adaptation: bool,
}

impl ChainWriter {
    pub fn create(
        path: &Path,
        comments: &[String],
        columns: &[String],
    ) -> std::io::Result<ChainWriter> {
        let mut out = BufWriter::new(File::create(path)?);
        for comment in comments {
            writeln!(out, "# {comment}")?;
        }
        let mut header: Vec<&str> = SAMPLER_COLUMNS.to_vec();
        header.extend(columns.iter().map(String::as_str));
        writeln!(out, "{}", header.join(","))?;
        out.flush()?;
        Ok(ChainWriter {
            out,
            path: path.to_path_buf(),
            rows: 0,
            wrote_adaptation: false,
        })
    }

    /// Appends one draw: sampler statistics then values. Values are written in Rust's shortest
    /// round-trip form, so reading the file back gives the same numbers bit for bit.
    pub fn write_draw(&mut self, sampler: &[f64; 7], values: &[f64]) -> std::io::Result<()> {
        if !self.wrote_adaptation {
            writeln!(
                self.out,
                "# Adaptation terminated\n# Step size = {}",
                sampler[2]
            )?;
            self.wrote_adaptation = true;
        }
        let mut line = String::with_capacity(16 * (values.len() + 7));
        for (i, value) in sampler.iter().chain(values).enumerate() {
            if i > 0 {
                line.push(',');
            }
            push_number(&mut line, *value);
        }
        line.push('\n');
        self.out.write_all(line.as_bytes())?;
        self.rows += 1;
        if self.rows.is_multiple_of(64) {
            self.out.flush()?;
        }
        Ok(())
    }

    pub fn finish(mut self, comments: &[String]) -> std::io::Result<()> {
        for comment in comments {
            writeln!(self.out, "# {comment}")?;
        }
        self.out.flush()
    }
}

fn push_number(line: &mut String, value: f64) {
    use std::fmt::Write as _;
    if value.is_nan() {
        line.push_str("nan");
    } else if value.is_infinite() {
        line.push_str(if value > 0.0 { "inf" } else { "-inf" });
    } else {
        let _ = write!(line, "{value}");
    }
}

/// One chain read back from a CmdStan-layout CSV.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainFile {
    pub path: PathBuf,
    pub columns: Vec<String>,
    /// Row-major draws, all columns (sampler columns included).
    pub rows: Vec<Vec<f64>>,
    /// The `# chain_id = K` comment, if present.
    pub chain_id: Option<u64>,
    /// The `# max_depth = D` comment, if present.
    pub max_depth: Option<u32>,
}

impl ChainFile {
    pub fn read(path: &Path) -> Result<ChainFile, String> {
        let file =
            File::open(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
        let mut columns: Option<Vec<String>> = None;
        let mut rows = Vec::new();
        let mut chain_id = None;
        let mut max_depth = None;
        for (number, line) in BufReader::new(file).lines().enumerate() {
            let line =
                line.map_err(|e| format!("`{}` line {}: {e}", path.display(), number + 1))?;
            let line = line.trim_end();
            if let Some(comment) = line.strip_prefix('#') {
                if let Some(id) = comment.trim().strip_prefix("chain_id = ") {
                    chain_id = id.trim().parse().ok();
                }
                if let Some(depth) = comment.trim().strip_prefix("max_depth = ") {
                    max_depth = depth.trim().parse().ok();
                }
                continue;
            }
            if line.is_empty() {
                continue;
            }
            match &columns {
                None => columns = Some(line.split(',').map(|s| s.trim().to_string()).collect()),
                Some(header) => {
                    let row: Result<Vec<f64>, _> =
                        line.split(',').map(|c| c.trim().parse::<f64>()).collect();
                    let row = row.map_err(|_| {
                        format!(
                            "`{}` line {}: not a row of numbers",
                            path.display(),
                            number + 1
                        )
                    })?;
                    if row.len() != header.len() {
                        // A line cut short by a crash: the draws before it stand.
                        break;
                    }
                    rows.push(row);
                }
            }
        }
        let columns = columns.ok_or_else(|| format!("`{}` has no header line", path.display()))?;
        if columns.first().map(String::as_str) != Some("lp__") {
            return Err(format!(
                "`{}` is not a draws file (its first column is not lp__)",
                path.display()
            ));
        }
        // The summary reads the sampler columns by position: all seven must be there, in order.
        let sampler_columns_present = columns.len() >= SAMPLER_COLUMNS.len()
            && columns
                .iter()
                .zip(SAMPLER_COLUMNS)
                .all(|(column, expected)| column == expected);
        if !sampler_columns_present {
            return Err(format!(
                "`{}` is not a draws file: its header must start with the sampler columns {}",
                path.display(),
                SAMPLER_COLUMNS.join(",")
            ));
        }
        Ok(ChainFile {
            path: path.to_path_buf(),
            columns,
            rows,
            chain_id,
            max_depth,
        })
    }
}

/// The draws files a path stands for, for every command that reads a run back (`summary`, `loo`,
/// `compare`, `plot`): a file is itself; a directory gives its CSV files whose header starts with
/// `lp__`, sorted by name (other CSV files there, such as EM's responsibilities, are not draws).
pub fn draw_files(path: &Path) -> std::io::Result<Vec<PathBuf>> {
    if path.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|p| p.extension().is_some_and(|e| e == "csv") && header_starts_with_lp(p))
        .collect();
    files.sort();
    Ok(files)
}

/// Whether the first line that is neither a comment nor blank starts with `lp__`.
fn header_starts_with_lp(path: &Path) -> bool {
    let Ok(file) = File::open(path) else {
        return false;
    };
    BufReader::new(file)
        .lines()
        .map_while(Result::ok)
        .find(|l| !l.starts_with('#') && !l.trim().is_empty())
        .is_some_and(|l| l.starts_with("lp__"))
}

/// CmdStan's `theta.1.2` → Stan's display form `theta[1,2]`. A name inlined from a library model
/// has a dotted prefix (`vae.z.1.2` → `vae.z[1,2]`): the indices are the trailing numeric parts.
pub fn display_name(csv_name: &str) -> String {
    let parts: Vec<&str> = csv_name.split('.').collect();
    let is_index = |part: &&&str| !part.is_empty() && part.chars().all(|c| c.is_ascii_digit());
    let indices = parts.iter().rev().take_while(is_index).count();
    // A name never starts with a digit, so at least its first part is the base.
    let base_parts = parts.len() - indices.min(parts.len() - 1);
    if base_parts == parts.len() {
        return csv_name.to_string();
    }
    format!(
        "{}[{}]",
        parts[..base_parts].join("."),
        parts[base_parts..].join(",")
    )
}

/// The summary rows of every non-sampler column over the given chains (each chain a list of rows
/// with the same columns).
pub fn summarise(columns: &[String], chains: &[Vec<Vec<f64>>]) -> Vec<SummaryRow> {
    use rayon::prelude::*;
    let first_value = SAMPLER_COLUMNS.len();
    // Columns are independent: summarised in parallel, collected in order.
    columns
        .par_iter()
        .enumerate()
        .skip(first_value)
        .filter_map(|(index, name)| {
            let per_chain: Vec<Vec<f64>> = chains
                .iter()
                .map(|c| c.iter().map(|r| r[index]).collect())
                .collect();
            let slices: Vec<&[f64]> = per_chain
                .iter()
                .map(Vec::as_slice)
                .filter(|s| !s.is_empty())
                .collect();
            (!slices.is_empty()).then(|| SummaryRow {
                name: display_name(name),
                stats: ppl_infer::diagnostics::summarize(&slices),
            })
        })
        .collect()
}

/// The quantiles `probabilities` of every row [`summarise`] gives, in the same order (`ppl run
/// --quantiles`), from the draws of every chain pooled as `summarise`'s 5%, 50%, 95% are.
pub fn quantile_table(
    columns: &[String],
    chains: &[Vec<Vec<f64>>],
    probabilities: &[f64],
) -> crate::report::QuantileTable {
    let first_value = SAMPLER_COLUMNS.len();
    let values = (first_value..columns.len())
        .filter_map(|index| {
            let per_chain: Vec<Vec<f64>> = chains
                .iter()
                .map(|c| c.iter().filter_map(|r| r.get(index).copied()).collect())
                .collect();
            let slices: Vec<&[f64]> = per_chain
                .iter()
                .map(Vec::as_slice)
                .filter(|s| !s.is_empty())
                .collect();
            (!slices.is_empty()).then(|| {
                probabilities
                    .iter()
                    .map(|&p| ppl_infer::diagnostics::quantile(&slices, p))
                    .collect()
            })
        })
        .collect();
    crate::report::QuantileTable {
        probabilities: probabilities.to_vec(),
        values,
    }
}

/// Reads `--quantiles 0.05,0.5,0.95`: one or more probabilities strictly between 0 and 1,
/// separated by commas.
pub fn parse_quantiles(text: &str) -> Result<Vec<f64>, String> {
    let mut probabilities = Vec::new();
    for part in text.split(',') {
        let part = part.trim();
        match part.parse::<f64>() {
            Ok(p) if p > 0.0 && p < 1.0 => probabilities.push(p),
            _ => {
                return Err(format!(
                    "`--quantiles {text}`: `{part}` is not a probability strictly between 0 and 1 (e.g. `--quantiles 0.05,0.5,0.95`)"
                ));
            }
        }
    }
    Ok(probabilities)
}

/// Totals of the sampler columns over chains: divergences, tree-depth hits (given the maximum
/// depth), and E-BFMI per chain.
pub struct SamplerTotals {
    pub divergences: usize,
    pub max_depth_hits: usize,
    pub ebfmi: Vec<f64>,
    pub draws: usize,
    pub chains: usize,
}

impl SamplerTotals {
    /// Adds the totals to a report's `diagnostics` object.
    pub fn describe(&self, report: &mut crate::report::RunReport) {
        use crate::report::number;
        use serde_json::json;
        let diagnostics = &mut report.diagnostics;
        diagnostics.insert("divergences".into(), json!(self.divergences));
        diagnostics.insert("max_treedepth_hits".into(), json!(self.max_depth_hits));
        diagnostics.insert(
            "ebfmi".into(),
            json!(self.ebfmi.iter().map(|v| number(*v)).collect::<Vec<_>>()),
        );
        diagnostics.insert("chains".into(), json!(self.chains));
        diagnostics.insert("draws".into(), json!(self.draws));
    }
}

pub fn sampler_totals(chains: &[Vec<Vec<f64>>], max_depth: u32) -> SamplerTotals {
    let mut totals = SamplerTotals {
        divergences: 0,
        max_depth_hits: 0,
        ebfmi: Vec::new(),
        draws: 0,
        chains: chains.len(),
    };
    for chain in chains {
        totals.draws += chain.len();
        totals.divergences += chain.iter().filter(|r| r[5] > 0.5).count();
        totals.max_depth_hits += chain.iter().filter(|r| r[3] >= max_depth as f64).count();
        let energy: Vec<f64> = chain.iter().map(|r| r[6]).collect();
        if energy.len() >= 2 {
            totals.ebfmi.push(ppl_infer::diagnostics::ebfmi(&energy));
        }
    }
    totals
}

/// One chain's sampler statistics, for the per-chain lines of the table and the JSON.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainDetail {
    pub mean_lp: f64,
    pub mean_step_size: f64,
    pub divergences: usize,
    pub max_depth_hits: usize,
    pub ebfmi: f64,
}

/// Per-chain statistics from rows laid out as `SAMPLER_COLUMNS` then the values; a row too
/// short to hold the sampler columns counts for nothing.
pub fn chain_details(chains: &[Vec<Vec<f64>>], max_depth: u32) -> Vec<ChainDetail> {
    let column = |row: &Vec<f64>, index: usize| row.get(index).copied().unwrap_or(f64::NAN);
    chains
        .iter()
        .map(|chain| {
            let count = chain.len().max(1) as f64;
            let energy: Vec<f64> = chain.iter().map(|r| column(r, 6)).collect();
            ChainDetail {
                mean_lp: chain.iter().map(|r| column(r, 0)).sum::<f64>() / count,
                mean_step_size: chain.iter().map(|r| column(r, 2)).sum::<f64>() / count,
                divergences: chain.iter().filter(|r| column(r, 5) > 0.5).count(),
                max_depth_hits: chain
                    .iter()
                    .filter(|r| column(r, 3) >= f64::from(max_depth))
                    .count(),
                ebfmi: if energy.len() >= 2 {
                    ppl_infer::diagnostics::ebfmi(&energy)
                } else {
                    f64::NAN
                },
            }
        })
        .collect()
}

/// Adds one line per chain to the report's notes and a `per_chain` array to its diagnostics.
pub fn describe_chains(
    details: &[ChainDetail],
    chain_ids: &[u64],
    report: &mut crate::report::RunReport,
) {
    use crate::report::{format_number, number};
    let mut json = Vec::new();
    for (index, detail) in details.iter().enumerate() {
        let chain_id = chain_ids.get(index).copied().unwrap_or(index as u64 + 1);
        report.notes.push(format!(
            "chain {}: mean lp__ {}, step size {}, {} divergent, {} at max tree depth, E-BFMI {}",
            chain_id,
            format_number(detail.mean_lp),
            format_number(detail.mean_step_size),
            detail.divergences,
            detail.max_depth_hits,
            format_number(detail.ebfmi)
        ));
        json.push(serde_json::json!({
            "chain_id": chain_id,
            "mean_lp": number(detail.mean_lp),
            "mean_step_size": number(detail.mean_step_size),
            "divergences": detail.divergences,
            "max_treedepth_hits": detail.max_depth_hits,
            "ebfmi": number(detail.ebfmi),
        }));
    }
    report
        .diagnostics
        .insert("per_chain".into(), serde_json::Value::Array(json));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_values_read_back_bit_for_bit() {
        let dir = std::env::temp_dir().join(format!("ppl-draws-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chain-1.csv");
        let columns = vec!["mu".to_string(), "theta.1.2".to_string()];
        let mut writer = ChainWriter::create(&path, &["chain_id = 1".into()], &columns).unwrap();
        let values = [0.1 + 0.2, -1.0 / 3.0];
        writer
            .write_draw(&[-1.5, 0.9, 0.3, 3.0, 7.0, 0.0, 2.5], &values)
            .unwrap();
        writer.finish(&[]).unwrap();
        let chain = ChainFile::read(&path).unwrap();
        assert_eq!(chain.chain_id, Some(1));
        assert_eq!(chain.rows[0][7..], values);
        assert_eq!(display_name(&chain.columns[8]), "theta[1,2]");
        assert_eq!(display_name("vae.z.1.2"), "vae.z[1,2]");
        assert_eq!(display_name("vae.sigma"), "vae.sigma");
        assert_eq!(display_name("sigma"), "sigma");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_truncated_last_line_is_dropped() {
        let dir = std::env::temp_dir().join(format!("ppl-draws-cut-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chain-1.csv");
        std::fs::write(&path, "lp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,mu\n1,1,1,1,1,0,1,5\n1,1,1").unwrap();
        let chain = ChainFile::read(&path).unwrap();
        assert_eq!(chain.rows.len(), 1);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_header_without_the_sampler_columns_is_an_error_not_a_panic() {
        let dir = std::env::temp_dir().join(format!("ppl-draws-short-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chain-1.csv");
        std::fs::write(&path, "lp__,accept_stat__,mu\n1,0.9,5\n").unwrap();
        let error = ChainFile::read(&path).unwrap_err();
        assert!(error.contains("sampler columns"), "{error}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// `ppl summary`'s reader on mutated draws files (a fixed seed, a small budget): every input
    /// it accepts must summarise without a panic.
    #[test]
    fn mutated_draws_files_never_panic_the_reader_or_the_summary() {
        let dir = std::env::temp_dir().join(format!("ppl-draws-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chain-1.csv");
        let valid = "# chain_id = 1\n# max_depth = 10\nlp__,accept_stat__,stepsize__,treedepth__,n_leapfrog__,divergent__,energy__,mu,theta.1.2\n-1.5,0.9,0.3,3,7,0,2.5,0.1,-0.3\n-1.2,0.8,0.3,2,3,1,2.0,0.2,0.4\n-1.1,0.7,0.3,4,15,0,1.5,0.3,0.5\n";
        let fragments: [&[u8]; 10] = [
            b",", b"\n", b"nan", b"-inf", b"1e308", b"#", b"lp__", b"\xff", b"", b"9",
        ];
        let mut state: u64 = 20261127;
        let mut next = move |bound: usize| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) % bound as u64) as usize
        };
        for _ in 0..600 {
            let mut bytes = valid.as_bytes().to_vec();
            for _ in 0..1 + next(4) {
                let at = next(bytes.len() + 1);
                match next(3) {
                    0 => {
                        let end = (at + 1 + next(12)).min(bytes.len());
                        bytes.drain(at.min(end)..end);
                    }
                    1 => {
                        let fragment = fragments[next(fragments.len())];
                        bytes.splice(at..at, fragment.iter().copied());
                    }
                    _ => bytes.insert(at, next(256) as u8),
                }
            }
            std::fs::write(&path, &bytes).unwrap();
            if let Ok(chain) = ChainFile::read(&path) {
                let rows = vec![chain.rows.clone()];
                let _ = summarise(&chain.columns, &rows);
                let _ = sampler_totals(&rows, chain.max_depth.unwrap_or(10));
            }
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
