//! Parquet and Arrow IPC files: the files pyarrow wrote (`tests/data_formats/make_files.py`) read
//! to exactly the numbers of the CSV file written beside them from the same table, in every
//! compression and container pyarrow uses by default; and the per-cell problems, located.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{
    ArrayRef, BooleanArray, Date32Array, FixedSizeListArray, Float64Array, Int64Array, RecordBatch,
    StringArray,
};
use arrow_schema::{DataType, Field, Schema};
use ppl_data::{CellProblem, DataError, DataFormat, DataSet};

fn formats_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data_formats")
}

fn load(name: &str) -> DataSet {
    let path = formats_dir().join(name);
    DataSet::load(&path).unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn every_container_reads_the_numbers_of_the_csv_written_from_the_same_table() {
    let reference = load("table.csv");
    assert_eq!(reference.rows(), Some(1000));
    for name in [
        "table.parquet",
        "table_plain.parquet",
        "table.feather",
        "table_plain.arrow",
        "table.arrows",
    ] {
        let data = load(name);
        assert_eq!(data.rows(), Some(1000), "{name}");
        assert_eq!(
            data.names().collect::<Vec<_>>(),
            vec!["y", "k", "small", "flag", "x", "z"],
            "{name}"
        );
        for expected in reference.values() {
            let value = data.get(&expected.name).expect("every column");
            assert_eq!(value.shape, expected.shape, "{name}: {}", expected.name);
            let same_bits = value
                .values
                .iter()
                .zip(&expected.values)
                .all(|(a, b)| a.to_bits() == b.to_bits());
            assert!(same_bits, "{name}: {} differs from the CSV", expected.name);
            assert_eq!(value.first_non_finite(), None, "{name}: {}", expected.name);
        }
        // Integer and bool columns hold integers; floating-point ones reals, by type.
        for integer in ["k", "small", "flag"] {
            assert_eq!(data.get(integer).unwrap().first_non_integer(), None);
        }
        assert_eq!(data.get("y").unwrap().first_non_integer(), Some(0));
        // A fixed-size list column and bracketed columns both make a matrix, located per element.
        assert_eq!(
            data.get("x").unwrap().locate(4).to_string(),
            "row 2, column `x[2]` (double)"
        );
        assert_eq!(
            data.get("z").unwrap().locate(3).to_string(),
            "row 2, column `z[2]` (float)"
        );
    }
}

#[test]
fn formats_are_known_by_extension_and_by_content() {
    for (name, format) in [
        ("table.parquet", DataFormat::Parquet),
        ("table.feather", DataFormat::Arrow),
        ("table_plain.arrow", DataFormat::Arrow),
        ("table.arrows", DataFormat::Arrow),
    ] {
        let path = formats_dir().join(name);
        assert_eq!(DataFormat::from_extension(&path), Some(format));
        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(DataFormat::sniff(&bytes), format, "{name}");
    }
}

/// An Arrow IPC stream of `columns`, written by the arrow crate.
fn stream(columns: Vec<(&str, ArrayRef)>) -> Vec<u8> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(name, array)| Field::new(*name, array.data_type().clone(), true))
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(
        schema.clone(),
        columns.into_iter().map(|(_, array)| array).collect(),
    )
    .unwrap();
    let mut bytes = Vec::new();
    let mut writer = arrow_ipc::writer::StreamWriter::try_new(&mut bytes, &schema).unwrap();
    writer.write(&batch).unwrap();
    writer.finish().unwrap();
    drop(writer);
    bytes
}

fn read(bytes: &[u8]) -> DataSet {
    DataSet::from_bytes(bytes, Path::new("d.arrows"), DataFormat::Arrow)
        .unwrap_or_else(|error| panic!("{error}"))
}

#[test]
fn nulls_nans_infinities_text_and_dates_are_cell_problems_with_their_rows() {
    let bytes = stream(vec![
        (
            "y",
            Arc::new(Float64Array::from(vec![
                Some(1.0),
                None,
                Some(f64::NAN),
                Some(f64::NEG_INFINITY),
            ])),
        ),
        (
            "k",
            Arc::new(Int64Array::from(vec![Some(1), Some(2), Some(3), None])),
        ),
        (
            "b",
            Arc::new(BooleanArray::from(vec![true, false, true, true])),
        ),
        (
            "s",
            Arc::new(StringArray::from(vec!["1", "2.5", "NA", "abc"])),
        ),
        ("t", Arc::new(Date32Array::from(vec![1, 2, 3, 4]))),
    ]);
    let data = read(&bytes);
    let y = data.get("y").unwrap();
    assert_eq!(
        y.first_non_finite(),
        Some((1, CellProblem::Missing("null".into())))
    );
    assert_eq!(y.non_finite_count(), 3);
    assert_eq!(y.locate(1).to_string(), "row 2, column `y` (double)");
    let k = data.get("k").unwrap();
    assert_eq!(
        k.first_non_finite(),
        Some((3, CellProblem::Missing("null".into())))
    );
    assert_eq!(k.first_non_integer(), None);
    assert_eq!(data.get("b").unwrap().values, vec![1.0, 0.0, 1.0, 1.0]);
    let s = data.get("s").unwrap();
    assert_eq!(&s.values[..2], &[1.0, 2.5]);
    assert_eq!(s.first_non_integer(), Some(1));
    assert_eq!(
        s.first_non_finite(),
        Some((2, CellProblem::Missing("NA".into())))
    );
    let t = data.get("t").unwrap();
    let (index, problem) = t.first_non_finite().unwrap();
    assert_eq!(index, 0);
    assert!(problem.is_unsupported_type());
    assert_eq!(
        format!("`t` has {problem} at {}", t.locate(index)),
        "`t` has a value of type date32, which holds no number at row 1, column `t` (date32)"
    );
}

#[test]
fn a_null_list_and_a_null_element_of_a_fixed_size_list_are_missing() {
    let values = Float64Array::from(vec![
        Some(1.0),
        Some(2.0),
        Some(3.0),
        None,
        Some(5.0),
        Some(6.0),
    ]);
    let field = Arc::new(Field::new("item", DataType::Float64, true));
    let list = FixedSizeListArray::new(
        field,
        2,
        Arc::new(values),
        Some(vec![true, true, false].into()),
    );
    let data = read(&stream(vec![("x", Arc::new(list))]));
    let x = data.get("x").unwrap();
    assert_eq!(x.shape, vec![3, 2]);
    assert_eq!(&x.values[..3], &[1.0, 2.0, 3.0]);
    assert_eq!(
        x.first_non_finite(),
        Some((3, CellProblem::Missing("null".into())))
    );
    assert_eq!(x.non_finite_count(), 3);
    assert_eq!(x.locate(3).to_string(), "row 2, column `x[2]` (double)");
}

#[test]
fn columns_named_as_in_csv_are_grouped_and_checked_as_in_csv() {
    let column = || -> ArrayRef { Arc::new(Float64Array::from(vec![1.0, 2.0])) };
    let data = read(&stream(vec![("x.2", column()), ("x.1", column())]));
    assert_eq!(data.get("x").unwrap().shape, vec![2, 2]);
    let error = DataSet::from_bytes(
        &stream(vec![("x[1]", column()), ("x[3]", column())]),
        Path::new("d.arrows"),
        DataFormat::Arrow,
    )
    .unwrap_err();
    assert!(
        matches!(error, DataError::IncompleteColumns { .. }),
        "{error}"
    );
}

#[test]
fn bytes_that_are_not_such_a_file_are_malformed_not_a_panic() {
    for (bytes, format) in [
        (&b"PAR1 not really"[..], DataFormat::Parquet),
        (&b"ARROW1\0\0garbage"[..], DataFormat::Arrow),
        (&b"x,y\n1,2\n"[..], DataFormat::Arrow),
        (&b""[..], DataFormat::Parquet),
    ] {
        match DataSet::from_bytes(bytes, Path::new("d"), format) {
            Err(DataError::MalformedTable { .. }) => {}
            other => panic!("{format:?}: {other:?}"),
        }
    }
    // Every prefix of a real file is refused cleanly.
    let whole = std::fs::read(formats_dir().join("table_plain.parquet")).unwrap();
    for cut in (0..whole.len()).step_by(997) {
        assert!(DataSet::from_bytes(&whole[..cut], Path::new("d"), DataFormat::Parquet).is_err());
    }
    let whole = std::fs::read(formats_dir().join("table.feather")).unwrap();
    for cut in (0..whole.len()).step_by(997) {
        let _ = DataSet::from_bytes(&whole[..cut], Path::new("d"), DataFormat::Arrow);
    }
}
