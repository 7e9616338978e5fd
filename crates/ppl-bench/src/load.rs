//! `ppl-bench load`: how fast `ppl_data` turns a data file's bytes into named arrays, against
//! copying the same bytes (`memcpy`), which bounds any reader that must look at every byte.
//!
//! The file is read into memory once, outside the timing; then `DataSet::from_bytes` is timed
//! `--repeat` times, and so is a copy of the bytes into a fresh buffer. The report gives both in
//! MB/s, the parser's time per cell, and their ratio. Instruction counts come from running this
//! under `valgrind --tool=callgrind --toggle-collect='*DataSet::from_bytes*'` with `--repeat 1`
//! (see BENCHMARKS.md).

use std::path::PathBuf;
use std::time::Instant;

use ppl_data::{DataFormat, DataSet};
use serde_json::{Value, json};

use crate::error::BenchError;
use crate::process::load_average;
use crate::stats::{median, ratio, round};

pub const USAGE: &str = "ppl-bench load --data FILE [--repeat R]";

pub struct LoadCommand {
    data: PathBuf,
    repeat: usize,
}

impl LoadCommand {
    pub fn parse(arguments: &[String]) -> Result<LoadCommand, BenchError> {
        let mut command = LoadCommand {
            data: PathBuf::new(),
            repeat: 5,
        };
        let (_, pairs) = crate::args::split(arguments, &[])?;
        for pair in pairs {
            match pair.flag {
                "--data" => command.data = pair.path(),
                "--repeat" => command.repeat = pair.parse::<usize>()?.max(1),
                _ => return Err(pair.unknown()),
            }
        }
        if command.data.as_os_str().is_empty() {
            return Err(BenchError::Usage("`--data FILE` is required".into()));
        }
        Ok(command)
    }

    pub fn run(self) -> Result<Value, BenchError> {
        let load_before = load_average();
        let bytes = std::fs::read(&self.data).map_err(BenchError::io(&self.data))?;
        let format = DataFormat::from_extension(&self.data).unwrap_or(DataFormat::sniff(&bytes));
        let mut parse_seconds = Vec::with_capacity(self.repeat);
        let mut cells = 0usize;
        for _ in 0..self.repeat {
            let started = Instant::now();
            let data = DataSet::from_bytes(&bytes, &self.data, format).map_err(|error| {
                BenchError::Data {
                    path: self.data.clone(),
                    message: error.to_string(),
                }
            })?;
            parse_seconds.push(started.elapsed().as_secs_f64());
            cells = data.values().map(|value| value.values.len()).sum();
            std::hint::black_box(&data);
        }
        let mut copy_seconds = Vec::with_capacity(self.repeat);
        for _ in 0..self.repeat {
            let started = Instant::now();
            let copy = std::hint::black_box(bytes.as_slice()).to_vec();
            std::hint::black_box(&copy);
            copy_seconds.push(started.elapsed().as_secs_f64());
        }
        let megabytes = bytes.len() as f64 / 1e6;
        let parse = median(parse_seconds.iter().copied());
        let copy = median(copy_seconds.iter().copied());
        let per_second = |seconds: Option<f64>| seconds.map(|s| round(megabytes / s));
        Ok(json!({
            "benchmark": "load",
            "data": self.data.display().to_string(),
            "format": format!("{format:?}"),
            "megabytes": round(megabytes),
            "cells": cells,
            "repeat": self.repeat,
            "parse_seconds_median": parse.map(round),
            "parse_seconds_best": parse_seconds.iter().copied().reduce(f64::min).map(round),
            "parse_mb_per_s": per_second(parse),
            "parse_ns_per_cell": parse.map(|s| round(s * 1e9 / cells.max(1) as f64)),
            "memcpy_seconds_median": copy.map(round),
            "memcpy_mb_per_s": per_second(copy),
            "parse_over_memcpy": ratio(parse, copy),
            "load_average_before": load_before,
            "load_average_after": load_average(),
        }))
    }
}
