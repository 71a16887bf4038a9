//! Named columns of rows from any source — a CSV [`Table`], JSON rows (a server), a numpy array
//! with column names (Python) — as the one input the fitted pipeline ([`crate::preprocess`],
//! [`crate::model_file::InputSpec`]) encodes, so every front end gets the same one-hot encoding,
//! imputation and standardization, and the same errors.
//!
//! Cells are seen as text, the way a CSV file holds them: a number from a numeric source is
//! written with Rust's shortest round-trip formatting, so it parses back to the same `f64`, and
//! a missing cell (or a NaN) is the empty string, which the pipeline treats as missing.

use crate::data::csv::Table;
use crate::error::{Error, Result};
use std::borrow::Cow;

/// Rows of named columns. Column names must be unique for the pipeline to find its inputs;
/// cells outside the rows are never asked for.
pub trait Rows {
    /// The source's name in messages (a file path, `request`, `array`).
    fn source(&self) -> &str;
    /// The column names, in cell order.
    fn columns(&self) -> &[String];
    /// The number of rows.
    fn n_rows(&self) -> usize;
    /// Row `r`, column `c` as text (`""` when missing).
    fn cell(&self, r: usize, c: usize) -> Cow<'_, str>;
    /// An error about the cell at row `r`, column `c`: `file:line:column: …` for a file, `source:
    /// row r, column `name`: …` otherwise.
    fn cell_error(&self, r: usize, c: usize, msg: String) -> Error {
        Error::Data(format!("{}: row {}, column `{}`: {msg}", self.source(), r + 1, self.columns()[c]))
    }
    /// An error about the source as a whole (its columns).
    fn error(&self, msg: String) -> Error {
        Error::format(self.source(), msg)
    }
    /// The index of the column called `name`.
    fn column_index(&self, name: &str) -> Option<usize> {
        self.columns().iter().position(|c| c == name)
    }
}

impl Rows for Table {
    fn source(&self) -> &str {
        &self.path
    }

    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn n_rows(&self) -> usize {
        Table::n_rows(self)
    }

    fn cell(&self, r: usize, c: usize) -> Cow<'_, str> {
        Cow::Borrowed(Table::cell(self, r, c))
    }

    fn cell_error(&self, r: usize, c: usize, msg: String) -> Error {
        Error::parse(&self.path, self.line(r), c as u64 + 1, msg)
    }
}

/// One cell of a row built in memory.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Text, as a CSV cell would hold it (a category, or a number written out).
    Text(String),
    /// A number; NaN counts as missing.
    Number(f64),
    /// No value (JSON `null`, an absent key).
    Missing,
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Number(v)
    }
}

/// Rows of mixed cells built in memory, e.g. from JSON objects: `NamedRows::new("request",
/// vec!["Sex".into(), "Age".into()], vec![vec!["male".into(), 22.0.into()]])`.
#[derive(Clone, Debug, PartialEq)]
pub struct NamedRows {
    source: String,
    columns: Vec<String>,
    rows: Vec<Vec<Value>>,
}

impl NamedRows {
    /// Checks that every row has one cell per column and that the names are unique.
    pub fn new(source: &str, columns: Vec<String>, rows: Vec<Vec<Value>>) -> Result<Self> {
        check_columns(source, &columns)?;
        if let Some((r, row)) = rows.iter().enumerate().find(|(_, row)| row.len() != columns.len()) {
            return Err(Error::Data(format!(
                "{source}: row {} has {} cells but there are {} columns ({})",
                r + 1,
                row.len(),
                columns.len(),
                columns.join(", ")
            )));
        }
        Ok(Self { source: source.to_string(), columns, rows })
    }
}

impl Rows for NamedRows {
    fn source(&self) -> &str {
        &self.source
    }

    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn n_rows(&self) -> usize {
        self.rows.len()
    }

    fn cell(&self, r: usize, c: usize) -> Cow<'_, str> {
        match &self.rows[r][c] {
            Value::Text(s) => Cow::Borrowed(s),
            Value::Number(v) => number_text(*v),
            Value::Missing => Cow::Borrowed(""),
        }
    }
}

/// A row-major numeric array with column names (numpy's `float64` matrix plus its names).
#[derive(Clone, Debug, PartialEq)]
pub struct NumericRows<'a> {
    source: String,
    columns: Vec<String>,
    data: &'a [f64],
}

impl<'a> NumericRows<'a> {
    /// Checks that `data` holds whole rows of `columns.len()` values and that names are unique.
    pub fn new(source: &str, columns: Vec<String>, data: &'a [f64]) -> Result<Self> {
        check_columns(source, &columns)?;
        if columns.is_empty() || !data.len().is_multiple_of(columns.len()) {
            return Err(Error::Data(format!(
                "{source}: {} values do not make whole rows of {} columns",
                data.len(),
                columns.len()
            )));
        }
        Ok(Self { source: source.to_string(), columns, data })
    }
}

impl Rows for NumericRows<'_> {
    fn source(&self) -> &str {
        &self.source
    }

    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn n_rows(&self) -> usize {
        self.data.len() / self.columns.len()
    }

    fn cell(&self, r: usize, c: usize) -> Cow<'_, str> {
        number_text(self.data[r * self.columns.len() + c])
    }
}

/// A number as CSV text: shortest round-trip digits; NaN is missing (`inf` reads as missing too).
fn number_text(v: f64) -> Cow<'static, str> {
    if v.is_nan() { Cow::Borrowed("") } else { Cow::Owned(v.to_string()) }
}

fn check_columns(source: &str, columns: &[String]) -> Result<()> {
    let mut seen = std::collections::HashSet::with_capacity(columns.len());
    for c in columns {
        if !seen.insert(c) {
            return Err(Error::Data(format!("{source}: the column `{c}` appears twice; give each column once")));
        }
    }
    Ok(())
}
