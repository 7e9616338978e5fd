//! A fuzz harness on stable Rust: a hand-rolled mutator over the example models and data files
//! (byte flips, token insertions, deletions, duplications, splices between files, invalid UTF-8)
//! plus a small grammar-aware generator, fed to the parser, the checker, the data loaders, `bind`
//! and the tape builder. Any panic is a failure. The seed is fixed and the budget small, so that
//! CI runs it in a few seconds; `FUZZING.md` says how to run it longer (`PPL_FUZZ_ITERATIONS`,
//! `PPL_FUZZ_SEED`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// A SplitMix64 generator: tiny, deterministic and good enough to choose mutations.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound > 0`).
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Fragments the mutator inserts: keywords, punctuation, numbers at the edges of their ranges,
/// names and distributions of the language, and bytes that are not UTF-8.
const TOKENS: &[&[u8]] = &[
    b"param ",
    b"latent ",
    b"observed ",
    b"const ",
    b"let ",
    b"for ",
    b" in ",
    b"data ",
    b"infer ",
    b"~",
    b"=",
    b"..",
    b"(",
    b")",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b"@",
    b"^",
    b"+",
    b"-",
    b"*",
    b"/",
    b"<",
    b"==",
    b"\n",
    b" ",
    b"\"",
    b"\\",
    b"#",
    b"0",
    b"1",
    b"-1",
    b"1e308",
    b"1e999",
    b"9223372036854775807",
    b"4611686018427387904 * 2",
    b"10000000000",
    b"0.5",
    b"nan",
    b"inf",
    b"N",
    b"K",
    b"x",
    b"mu",
    b"sigma",
    b"real",
    b"int",
    b"positive",
    b"simplex",
    b"Normal(0, 1)",
    b"Poisson(",
    b"Categorical(",
    b"fill(",
    b"sum(",
    b"if ",
    b"else ",
    b"then ",
    b"\xe9",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\x00",
    b"\t",
    b"\r\n",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(dir: &Path, extensions: &[&str]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| {
                    path.extension()
                        .is_some_and(|e| extensions.iter().any(|x| e == *x))
                })
                .filter_map(|path| std::fs::read(&path).ok().map(|bytes| (path, bytes)))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// One to four random edits of `input`, with `other` as a source of splices.
fn mutate(random: &mut Random, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..1 + random.below(4) {
        let at = random.below(bytes.len() + 1);
        match random.below(7) {
            0 if !bytes.is_empty() => {
                let i = random.below(bytes.len());
                bytes[i] ^= 1 << random.below(8);
            }
            1 | 2 => {
                let token = random.pick(TOKENS);
                bytes.splice(at..at, token.iter().copied());
            }
            3 if !bytes.is_empty() => {
                let end = (at + 1 + random.below(16)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            4 if !bytes.is_empty() => {
                let start = random.below(bytes.len());
                let end = (start + 1 + random.below(64)).min(bytes.len());
                let copy: Vec<u8> = bytes[start..end].to_vec();
                let times = 1 + random.below(8);
                for _ in 0..times {
                    bytes.splice(at..at, copy.iter().copied());
                }
            }
            5 if !other.is_empty() => {
                let start = random.below(other.len());
                let end = (start + 1 + random.below(80)).min(other.len());
                bytes.splice(at..at, other[start..end].iter().copied());
            }
            _ => {
                let byte = random.next() as u8;
                bytes.insert(at, byte);
            }
        }
    }
    bytes
}

/// A small model from the grammar: declarations, `let`s, `~` statements and loops with random
/// names, sizes and distributions, often slightly wrong.
fn generate(random: &mut Random) -> Vec<u8> {
    const NAMES: &[&str] = &["x", "y", "mu", "sigma", "N", "K", "z", "theta"];
    const TYPES: &[&str] = &[
        "real",
        "int",
        "positive",
        "simplex",
        "real[N]",
        "int[N]",
        "real[K, N]",
        "real[N - 1]",
        "real[2 * K]",
    ];
    const EXPRESSIONS: &[&str] = &[
        "0",
        "1",
        "mu",
        "x",
        "sigma",
        "mu + 1",
        "x[1]",
        "sum(x)",
        "fill(N, 1.5)",
        "1..N",
        "[1, 2, 3]",
        "exp(mu)",
        "-1",
        "1e308 * 10",
    ];
    const DISTRIBUTIONS: &[&str] = &[
        "Normal",
        "Poisson",
        "Beta",
        "Gamma",
        "Categorical",
        "Bernoulli",
        "Dirichlet",
        "Nromal",
    ];
    let mut text = String::new();
    for _ in 0..1 + random.below(8) {
        let name = random.pick(NAMES);
        match random.below(6) {
            0 => text.push_str(&format!(
                "{} {name}: {}\n",
                random.pick(&["param", "latent", "observed"]),
                random.pick(TYPES)
            )),
            1 => text.push_str(&format!("let {name} = {}\n", random.pick(EXPRESSIONS))),
            2 => text.push_str(&format!("const {name} = {}\n", random.pick(EXPRESSIONS))),
            3 => text.push_str(&format!(
                "for i in 1..{} {{\n  {name}[i] ~ {}({}, {})\n}}\n",
                random.pick(EXPRESSIONS),
                random.pick(DISTRIBUTIONS),
                random.pick(EXPRESSIONS),
                random.pick(EXPRESSIONS)
            )),
            _ => text.push_str(&format!(
                "{name} ~ {}({}, {})\n",
                random.pick(DISTRIBUTIONS),
                random.pick(EXPRESSIONS),
                random.pick(EXPRESSIONS)
            )),
        }
    }
    text.into_bytes()
}

/// Parses, checks, binds to `data` and builds the tape; only panics matter here.
fn run_model(bytes: &[u8], data: Option<&ppl_data::DataSet>) {
    let (program, _) = ppl_syntax::parse_bytes(bytes);
    let source = ppl_syntax::display_source(bytes);
    let (model, diagnostics) = ppl_ir::check(&program, &source, &ppl_ir::CheckOptions::default());
    if diagnostics.iter().any(ppl_syntax::Diagnostic::is_error) {
        return;
    }
    let _ = ppl_ir::printer::print(&model);
    if let Ok(bound) = ppl_model::bind(&model, data, &[]) {
        let _ = ppl_model::posterior::Posterior::new(&model, &bound, &source);
    }
}

fn run_data(bytes: &[u8]) -> Option<ppl_data::DataSet> {
    let path = Path::new("fuzz-input");
    let mut loaded = None;
    for format in [ppl_data::DataFormat::Csv, ppl_data::DataFormat::Json] {
        if let Ok(data) = ppl_data::DataSet::from_bytes(bytes, path, format) {
            loaded = Some(data);
        }
    }
    loaded
}

fn iterations() -> usize {
    std::env::var("PPL_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

fn seed() -> u64 {
    std::env::var("PPL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20261127)
}

/// Writes a crashing input where it can be turned into a `tests/errors/` case.
fn keep(kind: &str, iteration: usize, bytes: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("ppl-fuzz-{kind}-{iteration}"));
    let _ = std::fs::write(&path, bytes);
    path.display().to_string()
}

#[test]
fn mutated_and_generated_inputs_never_panic() {
    let models = corpus(&root().join("examples"), &["model"]);
    let mut data_files = corpus(&root().join("examples/data"), &["csv", "json"]);
    data_files.extend(corpus(&root().join("tests/errors/data"), &["csv", "json"]));
    assert!(!models.is_empty() && !data_files.is_empty(), "no corpus");
    // Quiet: the default hook would print every caught panic.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut random = Random(seed());
    let mut crashes = Vec::new();
    let started = std::time::Instant::now();
    for iteration in 0..iterations() {
        // Long runs are stopped by hand; a progress line keeps the count of what was covered.
        if iteration > 0 && iteration % 100_000 == 0 {
            eprintln!(
                "fuzz: {iteration} inputs, {} panics, {:.0} s",
                crashes.len(),
                started.elapsed().as_secs_f64()
            );
        }
        let data_bytes = {
            let (_, base) = random.pick(&data_files);
            let (_, other) = random.pick(&data_files);
            if random.below(4) == 0 {
                base.clone()
            } else {
                mutate(&mut random, base, other)
            }
        };
        let model_bytes = if random.below(5) == 0 {
            generate(&mut random)
        } else {
            let (_, base) = random.pick(&models);
            let (_, other) = random.pick(&models);
            mutate(&mut random, base, other)
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let data = run_data(&data_bytes);
            run_model(&model_bytes, data.as_ref());
        }));
        if outcome.is_err() {
            crashes.push(format!(
                "iteration {iteration}: model {} data {}",
                keep("model", iteration, &model_bytes),
                keep("data", iteration, &data_bytes)
            ));
        }
    }
    std::panic::set_hook(hook);
    assert!(
        crashes.is_empty(),
        "{} panics:\n{}",
        crashes.len(),
        crashes.join("\n")
    );
}

/// One stage of the front end, fuzzed on its own so that a long run spends its time in the code
/// under test rather than in the later stages (binding and the tape dominate the whole-path harness).
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// `parse_bytes` alone.
    Parser,
    /// `parse_bytes`, then `check` and the IR printer when the check passes.
    Checker,
    /// The CSV loader alone.
    Csv,
    /// The JSON loader alone.
    Json,
}

/// The order in which a run cycles through the stages; the cheap parser gets the most inputs.
const STAGE_CYCLE: &[Stage] = &[
    Stage::Parser,
    Stage::Checker,
    Stage::Parser,
    Stage::Csv,
    Stage::Parser,
    Stage::Checker,
    Stage::Parser,
    Stage::Json,
];

/// The data corpus for the loader stages: each file cut to its first 8 KiB (at a line end), so
/// that the two large example files (digits, ring) do not dominate a run's time.
fn small_data_corpus() -> Vec<Vec<u8>> {
    let mut files = corpus(&root().join("examples/data"), &["csv", "json"]);
    files.extend(corpus(&root().join("tests/errors/data"), &["csv", "json"]));
    files
        .into_iter()
        .map(|(_, bytes)| {
            if bytes.len() <= 8192 {
                return bytes;
            }
            let end = bytes[..8192]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(8192, |i| i + 1);
            bytes[..end].to_vec()
        })
        .collect()
}

fn run_stage(stage: Stage, bytes: &[u8]) {
    match stage {
        Stage::Parser => {
            let _ = ppl_syntax::parse_bytes(bytes);
        }
        Stage::Checker => {
            let (program, _) = ppl_syntax::parse_bytes(bytes);
            let source = ppl_syntax::display_source(bytes);
            let (model, diagnostics) =
                ppl_ir::check(&program, &source, &ppl_ir::CheckOptions::default());
            if !diagnostics.iter().any(ppl_syntax::Diagnostic::is_error) {
                let _ = ppl_ir::printer::print(&model);
            }
        }
        Stage::Csv => {
            let _ = ppl_data::DataSet::from_bytes(
                bytes,
                Path::new("fuzz-input.csv"),
                ppl_data::DataFormat::Csv,
            );
        }
        Stage::Json => {
            let _ = ppl_data::DataSet::from_bytes(
                bytes,
                Path::new("fuzz-input.json"),
                ppl_data::DataFormat::Json,
            );
        }
    }
}

fn stage_iterations() -> usize {
    std::env::var("PPL_FUZZ_STAGE_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8_000)
}

/// The stage harnesses: the same mutators and grammar generator as the whole-path harness, each
/// input sent through one stage only. Counts per stage are printed every 100,000 inputs, so a long
/// run stopped by hand still yields its figures (`FUZZING.md`).
#[test]
fn stage_harnesses_never_panic() {
    let models = corpus(&root().join("examples"), &["model"]);
    let data_files = small_data_corpus();
    assert!(!models.is_empty() && !data_files.is_empty(), "no corpus");
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut random = Random(seed());
    let mut crashes = Vec::new();
    let mut executed = [0usize; 4];
    let mut seconds = [0f64; 4];
    let started = std::time::Instant::now();
    let report = |executed: &[usize; 4], seconds: &[f64; 4], panics: usize| {
        eprintln!(
            "fuzz stages: {} inputs (parser {} in {:.0} s, checker {} in {:.0} s, csv {} in {:.0} s, json {} in {:.0} s), {panics} panics, {:.0} s",
            executed.iter().sum::<usize>(),
            executed[0],
            seconds[0],
            executed[1],
            seconds[1],
            executed[2],
            seconds[2],
            executed[3],
            seconds[3],
            started.elapsed().as_secs_f64()
        );
    };
    for iteration in 0..stage_iterations() {
        if iteration > 0 && iteration % 100_000 == 0 {
            report(&executed, &seconds, crashes.len());
        }
        let stage_started = std::time::Instant::now();
        let stage = STAGE_CYCLE[iteration % STAGE_CYCLE.len()];
        let bytes = match stage {
            Stage::Parser | Stage::Checker => {
                if random.below(5) == 0 {
                    generate(&mut random)
                } else {
                    let (_, base) = random.pick(&models);
                    let (_, other) = random.pick(&models);
                    mutate(&mut random, base, other)
                }
            }
            Stage::Csv | Stage::Json => {
                let base = random.pick(&data_files);
                let other = random.pick(&data_files);
                mutate(&mut random, base, other)
            }
        };
        if catch_unwind(AssertUnwindSafe(|| run_stage(stage, &bytes))).is_err() {
            crashes.push(format!(
                "iteration {iteration} ({stage:?}): {}",
                keep(&format!("{stage:?}").to_lowercase(), iteration, &bytes)
            ));
        }
        executed[stage as usize] += 1;
        seconds[stage as usize] += stage_started.elapsed().as_secs_f64();
    }
    report(&executed, &seconds, crashes.len());
    std::panic::set_hook(hook);
    assert!(
        crashes.is_empty(),
        "{} panics:\n{}",
        crashes.len(),
        crashes.join("\n")
    );
}
