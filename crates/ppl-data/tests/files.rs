//! Loading from disk: format by extension or content, the shipped example data sets, and the errors
//! for files that cannot be read.

use std::path::{Path, PathBuf};

use ppl_data::{DataError, DataFormat, DataSet};

fn test_data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A scratch directory for files written by one test, removed afterwards.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        let path = std::env::temp_dir().join(format!("ppl-data-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Scratch(path)
    }

    fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn faithful_csv_loads_with_its_shapes() {
    let data = DataSet::load(&test_data("faithful.csv")).unwrap();
    assert_eq!(data.format, DataFormat::Csv);
    assert_eq!(data.rows(), Some(272));
    assert_eq!(
        data.names().collect::<Vec<_>>(),
        vec!["eruptions", "waiting"]
    );
    let eruptions = data.get("eruptions").unwrap();
    assert_eq!(eruptions.shape, vec![272]);
    assert_eq!(eruptions.values[..2], [3.6, 1.8]);
    assert_eq!(eruptions.first_non_finite(), None);
    let waiting = data.get("waiting").unwrap();
    assert_eq!(waiting.values[..2], [79.0, 54.0]);
    assert_eq!(waiting.first_non_integer(), None);
}

#[test]
fn eight_schools_json_loads_with_its_shapes() {
    let path = test_data("eight_schools-eight_schools_noncentered.json");
    let data = DataSet::load(&path).unwrap();
    assert_eq!(data.format, DataFormat::Json);
    assert_eq!(data.path, path);
    assert_eq!(data.names().collect::<Vec<_>>(), vec!["J", "y", "sigma"]);
    assert_eq!(data.get("J").unwrap().shape, Vec::<usize>::new());
    assert_eq!(data.get("J").unwrap().values, vec![8.0]);
    let y = data.get("y").unwrap();
    assert_eq!(y.shape, vec![8]);
    assert_eq!(y.values[..3], [28.0, 8.0, -3.0]);
    assert_eq!(data.get("sigma").unwrap().shape, vec![8]);
}

#[test]
fn unknown_extensions_are_sniffed() {
    let scratch = Scratch::new("sniff");
    let json = scratch.write("data.txt", b"  \n{\"a\": [1, 2]}");
    assert_eq!(DataSet::load(&json).unwrap().format, DataFormat::Json);
    let csv = scratch.write("data", b"a\n1\n2\n");
    assert_eq!(DataSet::load(&csv).unwrap().format, DataFormat::Csv);
    // An explicit extension wins over the content.
    let json_named_csv = scratch.write("odd.CSV", b"{\"a\": 1}");
    assert_eq!(
        DataSet::load(&json_named_csv).unwrap().format,
        DataFormat::Csv
    );
}

#[test]
fn a_missing_file_is_unreadable() {
    let error = DataSet::load(Path::new("/no/such/dir/data.csv")).unwrap_err();
    assert!(matches!(error, DataError::Unreadable { .. }));
    assert!(
        error
            .to_string()
            .starts_with("cannot read data file `/no/such/dir/data.csv`: "),
        "{error}"
    );
    assert_eq!(error.path(), Path::new("/no/such/dir/data.csv"));
}

#[test]
fn a_directory_is_not_a_file() {
    let scratch = Scratch::new("directory");
    let error = DataSet::load(&scratch.0).unwrap_err();
    assert!(matches!(error, DataError::NotAFile { .. }));
    assert_eq!(
        error.to_string(),
        format!(
            "data file `{}` is a directory, not a file",
            scratch.0.display()
        )
    );
}

#[test]
fn invalid_utf8_on_disk_is_a_clear_error() {
    let scratch = Scratch::new("utf8");
    let path = scratch.write("bad.json", b"{\"a\":\n [1, \"\xc3\x28\"]}");
    let error = DataSet::load(&path).unwrap_err();
    assert!(
        matches!(
            error,
            DataError::InvalidUtf8 {
                line: 2,
                column: 7,
                ..
            }
        ),
        "{error:?}"
    );
}
