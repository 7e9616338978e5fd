//! Times `DataSet::load` on a file given on the command line (the benchmark case is 1,000,000 rows by
//! 2 columns): `cargo run --release -p ppl-data --example load_timing -- big.csv`.

use std::path::PathBuf;
use std::time::Instant;

fn main() {
    let Some(path) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: load_timing FILE");
        std::process::exit(2);
    };
    let start = Instant::now();
    match ppl_data::DataSet::load(&path) {
        Ok(data) => {
            let elapsed = start.elapsed();
            for value in data.values() {
                println!("{}: shape {:?}", value.name, value.shape);
            }
            println!("loaded in {:.3} s", elapsed.as_secs_f64());
        }
        Err(error) => {
            eprintln!("{error}");
            std::process::exit(1);
        }
    }
}
