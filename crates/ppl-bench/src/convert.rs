//! Turning the peers' CSV files into what ppl reads: the peers name matrix columns `x0, x1, ...`
//! (0-based), ppl's CSV convention for a matrix `X: real[N, D]` is columns `X[1] .. X[D]`. Only the
//! header changes; the data lines are copied byte for byte.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use crate::error::BenchError;

/// Renames one header cell: `{from_prefix}{i}` (i a 0-based integer) becomes `{to_name}[i + 1]`;
/// any other cell (e.g. `y`) is kept.
pub fn rename_indexed_column(cell: &str, from_prefix: &str, to_name: &str) -> String {
    let cell = cell.trim();
    match cell
        .strip_prefix(from_prefix)
        .and_then(|index| index.parse::<usize>().ok())
    {
        Some(index) => format!("{to_name}[{}]", index + 1),
        None => cell.to_string(),
    }
}

/// Copies the CSV at `source` to `target` with its indexed columns renamed (see
/// [`rename_indexed_column`]); returns the new header cells.
pub fn copy_csv_with_matrix_header(
    source: &Path,
    target: &Path,
    from_prefix: &str,
    to_name: &str,
) -> Result<Vec<String>, BenchError> {
    let input = File::open(source).map_err(BenchError::io(source))?;
    let mut reader = BufReader::with_capacity(1 << 20, input);
    let mut header = String::new();
    reader
        .read_line(&mut header)
        .map_err(BenchError::io(source))?;
    if header.trim().is_empty() {
        return Err(BenchError::Data {
            path: source.to_path_buf(),
            message: "no header line".into(),
        });
    }
    let cells: Vec<String> = header
        .trim_end_matches(['\n', '\r'])
        .split(',')
        .map(|cell| rename_indexed_column(cell, from_prefix, to_name))
        .collect();
    let output = File::create(target).map_err(BenchError::io(target))?;
    let mut writer = BufWriter::with_capacity(1 << 20, output);
    writeln!(writer, "{}", cells.join(",")).map_err(BenchError::io(target))?;
    std::io::copy(&mut reader, &mut writer).map_err(BenchError::io(target))?;
    writer.flush().map_err(BenchError::io(target))?;
    Ok(cells)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_columns_become_one_based_matrix_columns() {
        assert_eq!(rename_indexed_column("x0", "x", "X"), "X[1]");
        assert_eq!(rename_indexed_column(" x19 ", "x", "X"), "X[20]");
        assert_eq!(rename_indexed_column("y", "x", "X"), "y");
        assert_eq!(rename_indexed_column("xy", "x", "X"), "xy");
        assert_eq!(rename_indexed_column("x1", "x", "x"), "x[2]");
    }

    #[test]
    fn only_the_header_changes() {
        let dir = std::env::temp_dir().join(format!("ppl-bench-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let source = dir.join("in.csv");
        let target = dir.join("out.csv");
        std::fs::write(&source, "x0,x1,y\r\n1.5,-2,1\n0,3e-1,0\n").expect("write");
        let header = copy_csv_with_matrix_header(&source, &target, "x", "X").expect("copy");
        assert_eq!(header, ["X[1]", "X[2]", "y"]);
        let text = std::fs::read_to_string(&target).expect("read");
        assert_eq!(text, "X[1],X[2],y\n1.5,-2,1\n0,3e-1,0\n");
        std::fs::write(&source, "").expect("write");
        assert!(copy_csv_with_matrix_header(&source, &target, "x", "X").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
