//! The JSON layout, as Stan's: one object whose keys are numbers or rectangular nested arrays of
//! numbers.
//!
//! Numbers written without fraction or exponent are integers; `true`/`false` are the integers 1/0.
//! The strings `"NaN"`, `"Inf"`, `"-Inf"` (and `"Infinity"`, `"-Infinity"`, `"+Inf"`) are accepted
//! and recorded as non-finite elements, like `null` and any other string (even `"3.5"`, as in Stan) — lazily, so a key the model
//! does not read cannot fail the load. Structure is checked eagerly: ragged arrays and objects are
//! load errors naming the key and index path, because no shape can be given to them. Keys keep file
//! order; a repeated key is an error (serde_json's own map would silently keep one).

use std::collections::HashSet;
use std::fmt;
use std::path::Path;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::DataError;
use crate::number::{classify_text, shorten};
use crate::value::{Cell, CellProblem, DataValue, Origin, ValueBuilder};

/// A JSON value as far as data cares.
#[derive(Debug)]
enum Node {
    Scalar(Cell),
    Array(Vec<Node>),
    Object,
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(NodeVisitor)
    }
}

struct NodeVisitor;

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("a number or an array of numbers")
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Node, E> {
        Ok(Node::Scalar(Cell::Number {
            value: if value { 1.0 } else { 0.0 },
            integer: true,
        }))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Node, E> {
        Ok(Node::Scalar(Cell::Number {
            value: value as f64,
            integer: true,
        }))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Node, E> {
        Ok(Node::Scalar(Cell::Number {
            value: value as f64,
            integer: true,
        }))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Node, E> {
        // serde_json calls this for numbers with a fraction or exponent, and for integers too large
        // for 64 bits; both are reals for our purposes.
        Ok(Node::Scalar(Cell::Number {
            value,
            integer: false,
        }))
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Node, E> {
        // Only Stan's non-finite spellings are numbers-as-strings; `"3.5"` is text, as in Stan.
        // Other strings keep their quotes in the message, so `"3.5"` is visibly not `3.5`.
        let cell = match classify_text(text, false) {
            problem @ Cell::Problem(CellProblem::NaN(_) | CellProblem::Infinite(_)) => problem,
            _ => Cell::Problem(CellProblem::NotANumber(format!("\"{}\"", shorten(text)))),
        };
        Ok(Node::Scalar(cell))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Scalar(Cell::Problem(CellProblem::Missing(
            "null".into(),
        ))))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut sequence: A) -> Result<Node, A::Error> {
        let mut items = Vec::with_capacity(sequence.size_hint().unwrap_or(0).min(4096));
        while let Some(item) = sequence.next_element::<Node>()? {
            items.push(item);
        }
        Ok(Node::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Node::Object)
    }
}

/// The top-level object, keys in file order.
struct TopLevel(Vec<(String, Node)>);

impl<'de> Deserialize<'de> for TopLevel {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(TopLevelVisitor)
    }
}

struct TopLevelVisitor;

impl<'de> Visitor<'de> for TopLevelVisitor {
    type Value = TopLevel;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("one JSON object mapping names to numbers or arrays")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TopLevel, A::Error> {
        let mut entries = Vec::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let node = map.next_value::<Node>()?;
            entries.push((key, node));
        }
        Ok(TopLevel(entries))
    }
}

/// Reads a whole JSON text (already known to be UTF-8, BOM removed).
pub(crate) fn read_json(bytes: &[u8], path: &Path) -> Result<Vec<DataValue>, DataError> {
    let malformed = |error: serde_json::Error| {
        let (line, column) = (error.line(), error.column());
        let full = error.to_string();
        let message = full
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&full)
            .to_string();
        DataError::MalformedJson {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    };
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let TopLevel(entries) = TopLevel::deserialize(&mut deserializer).map_err(malformed)?;
    deserializer.end().map_err(malformed)?;
    entries
        .into_iter()
        .map(|(key, node)| flatten_key(key, node, path))
        .collect()
}

/// Turns one key's tree into a shaped value, checking that it is rectangular.
fn flatten_key(key: String, node: Node, path: &Path) -> Result<DataValue, DataError> {
    // The shape is read down the first elements; every other element must then agree with it.
    let mut shape = Vec::new();
    let mut probe = &node;
    while let Node::Array(items) = probe {
        shape.push(items.len());
        match items.first() {
            Some(first) => probe = first,
            None => break,
        }
    }
    let mut walk = Walk {
        key: &key,
        shape: &shape,
        path,
        index: Vec::with_capacity(shape.len()),
        builder: ValueBuilder::default(),
    };
    walk.visit(node)?;
    let builder = walk.builder;
    Ok(builder.finish(key, shape, Origin::Json))
}

/// State of the depth-first walk that flattens one key in row-major order.
struct Walk<'a> {
    key: &'a str,
    shape: &'a [usize],
    path: &'a Path,
    /// 1-based index path of the node being visited.
    index: Vec<usize>,
    builder: ValueBuilder,
}

impl Walk<'_> {
    fn visit(&mut self, node: Node) -> Result<(), DataError> {
        let depth = self.index.len();
        match node {
            Node::Object => Err(DataError::UnsupportedValue {
                path: self.path.to_path_buf(),
                key: self.key.to_string(),
                index: self.index.clone(),
                found: "an object".into(),
            }),
            Node::Array(items) => {
                let Some(&expected) = self.shape.get(depth) else {
                    return Err(self.ragged(format!(
                        "`{}` is an array, but `{}` is a number",
                        self.here(),
                        self.reference(depth)
                    )));
                };
                if items.len() != expected {
                    return Err(self.ragged(format!(
                        "`{}` has {} element{}, but `{}` has {expected}",
                        self.here(),
                        items.len(),
                        if items.len() == 1 { "" } else { "s" },
                        self.reference(depth)
                    )));
                }
                for (position, item) in items.into_iter().enumerate() {
                    self.index.push(position + 1);
                    self.visit(item)?;
                    self.index.pop();
                }
                Ok(())
            }
            Node::Scalar(cell) => {
                if let Some(&expected) = self.shape.get(depth) {
                    return Err(self.ragged(format!(
                        "`{}` is a number, but `{}` is an array of {expected}",
                        self.here(),
                        self.reference(depth)
                    )));
                }
                self.builder.push(cell);
                Ok(())
            }
        }
    }

    fn here(&self) -> String {
        crate::value::format_index(self.key, &self.index)
    }

    /// The all-first-elements path to `depth`, which is where the expected shape was read.
    fn reference(&self, depth: usize) -> String {
        crate::value::format_index(self.key, &vec![1; depth])
    }

    fn ragged(&self, message: String) -> DataError {
        DataError::Ragged {
            path: self.path.to_path_buf(),
            key: self.key.to_string(),
            index: self.index.clone(),
            message,
        }
    }
}
