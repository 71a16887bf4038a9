//! The raw CSV table reader: a required header row, then string cells, whole or in chunks of rows.
//!
//! This layer only checks the shape of the file (header present, names unique, every row as wide as
//! the header, UTF-8); what the cells mean is [`crate::preprocess`]'s business. Quoted fields with
//! commas, `""` escapes and CRLF line endings (as in the Titanic files) are handled by the `csv`
//! crate. Cells are trimmed of surrounding whitespace, so `" male"` and `"male"` are one category.
//!
//! Also here, because every reader of a CSV needs them alike: another delimiter than `,`
//! ([`CsvReader::open_with`]; a file whose single header field holds `;`, a tab or `|` is refused
//! with a pointer to `--delimiter`), gzip-compressed files (read transparently, recognized by their
//! magic bytes), an unterminated quote (named by file and line instead of swallowing the rest of
//! the file), and numbers beyond the range of `f32` ([`Table::check_f32_range`]).

use crate::error::{Error, Result};
use ::csv::{ErrorKind, ReaderBuilder, StringRecord, Trim};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read};
use std::ops::Range;
use std::path::Path;
use std::rc::Rc;

/// The name used in messages for data read from standard input.
pub const STDIN_NAME: &str = "<stdin>";

/// A rectangular block of CSV rows as strings, with the file's column names and each row's line
/// number, so later checks can point at `path:line:column`.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// The file the rows came from (or [`STDIN_NAME`]), for messages.
    pub path: String,
    /// The header, in file order.
    pub columns: Vec<String>,
    /// `n_rows × columns.len()` cells, row after row.
    cells: Vec<String>,
    /// The 1-based line on which each row starts.
    lines: Vec<u64>,
}

impl Table {
    /// Reads a whole CSV file. See [`CsvReader`] for the checks.
    pub fn read(path: &Path) -> Result<Table> {
        CsvReader::open(path)?.read_all()
    }

    /// Reads a whole CSV file whose fields are separated by `delimiter` (e.g. `b';'`).
    pub fn read_with(path: &Path, delimiter: u8) -> Result<Table> {
        CsvReader::open_with(path, delimiter)?.read_all()
    }

    /// Refuses a cell that is a finite number too large for `f32` (beyond about ±3.4e38): it would
    /// become infinite in the model's arithmetic. The error names the file, line and column.
    pub fn check_f32_range(&self) -> Result<()> {
        let w = self.columns.len();
        for (i, cell) in self.cells.iter().enumerate() {
            // Only an exponent or more than 38 digits can leave f32's range: skip the rest cheaply.
            if cell.len() <= 38 && !cell.contains(['e', 'E']) {
                continue;
            }
            if let Ok(v) = cell.parse::<f64>()
                && v.is_finite()
                && v.abs() > f64::from(f32::MAX)
            {
                let (r, c) = (i / w.max(1), i % w.max(1));
                return Err(Error::parse(
                    &self.path,
                    self.lines[r],
                    c as u64 + 1,
                    format!(
                        "column `{}` holds `{cell}`, beyond the range of 32-bit floats (about ±3.4e38); \
                         rescale the column or drop it",
                        self.columns[c]
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Reads a whole CSV stream; `name` stands for it in messages (e.g. [`STDIN_NAME`]).
    pub fn from_reader(reader: impl Read + 'static, name: &str) -> Result<Table> {
        CsvReader::from_reader(reader, name)?.read_all()
    }

    /// Builds a table from rows in memory (each row as wide as `columns`); row `i` is reported as
    /// line `i + 2`, as if read from a file with a header line.
    ///
    /// # Panics
    /// If a row's width differs from the header's.
    pub fn from_rows(path: &str, columns: Vec<String>, rows: Vec<Vec<String>>) -> Table {
        let mut cells = Vec::with_capacity(rows.len() * columns.len());
        let mut lines = Vec::with_capacity(rows.len());
        for (i, row) in rows.into_iter().enumerate() {
            assert_eq!(
                row.len(),
                columns.len(),
                "Table::from_rows: row {i} has {} cells, header {}",
                row.len(),
                columns.len()
            );
            cells.extend(row);
            lines.push(i as u64 + 2);
        }
        Table { path: path.to_string(), columns, cells, lines }
    }

    /// Number of data rows.
    pub fn n_rows(&self) -> usize {
        self.lines.len()
    }

    /// Number of columns.
    pub fn n_cols(&self) -> usize {
        self.columns.len()
    }

    /// The cells of row `r`.
    pub fn row(&self, r: usize) -> &[String] {
        &self.cells[r * self.columns.len()..(r + 1) * self.columns.len()]
    }

    /// The cell at row `r`, column `c`.
    pub fn cell(&self, r: usize, c: usize) -> &str {
        &self.cells[r * self.columns.len() + c]
    }

    /// The 1-based line of the file on which row `r` starts.
    pub fn line(&self, r: usize) -> u64 {
        self.lines[r]
    }

    /// The index of the column called `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c == name)
    }

    /// The rows in `range` (clamped to the table), e.g. `rows(0..600)` and `rows(600..usize::MAX)`
    /// to fit preprocessing on the first 600 rows and test on the rest. Line numbers are kept.
    pub fn rows(&self, range: Range<usize>) -> Table {
        let end = range.end.min(self.n_rows());
        let start = range.start.min(end);
        let w = self.columns.len();
        Table {
            path: self.path.clone(),
            columns: self.columns.clone(),
            cells: self.cells[start * w..end * w].to_vec(),
            lines: self.lines[start..end].to_vec(),
        }
    }
}

/// A CSV file read a chunk of rows at a time, so a file of any size can go through in bounded memory.
///
/// Opening reads and checks the header: the file must not be empty and column names must be unique.
/// Every row must have as many fields as the header, and the file must have at least one data row.
/// Each failure is an [`Error`] naming the file, and where there is one, the line and field.
pub struct CsvReader {
    path: String,
    columns: Vec<String>,
    inner: ::csv::Reader<Box<dyn Read>>,
    record: StringRecord,
    rows_read: u64,
    breaks: Rc<RefCell<LineBreaks>>,
    /// Where the last record read had a field spanning lines (line, field), to name an unclosed quote.
    last_multiline: Option<(u64, u64)>,
}

/// The line breaks seen in the input, to turn a record's starting byte into its line number.
///
/// The `csv` crate's own `Position::line` is one short on CRLF files and after blank lines
/// (rust-csv issues #395 and #208): a record's position is taken before the `\n` that ends the
/// previous line is consumed. Its byte offset is right, though, so we count lines ourselves.
#[derive(Default)]
struct LineBreaks {
    /// Offsets of `\r` and `\n` bytes not yet behind a record start, with whether each is `\n`.
    pending: VecDeque<(u64, bool)>,
    /// `\n` bytes already behind a record start.
    lines_before: u64,
    /// Bytes read so far.
    offset: u64,
    /// `"` bytes read so far: an odd count at the end of the file means a quote was never closed.
    quotes: u64,
    /// The input is exhausted.
    eof: bool,
}

impl LineBreaks {
    fn unclosed_quote(&self) -> bool {
        self.eof && self.quotes % 2 == 1
    }
}

impl LineBreaks {
    /// The 1-based line of the record whose bytes begin at `start`: line breaks at the very start
    /// belong to earlier lines. Records must be asked for in file order, which lets us forget breaks.
    fn line_of(&mut self, start: u64) -> u64 {
        let mut start = start;
        while let Some(&(at, is_lf)) = self.pending.front() {
            if at > start {
                break;
            }
            if at == start {
                start += 1;
            }
            self.lines_before += u64::from(is_lf);
            self.pending.pop_front();
        }
        self.lines_before + 1
    }
}

/// A reader that records where the line breaks are in what passes through it.
struct Tracked<R> {
    inner: R,
    breaks: Rc<RefCell<LineBreaks>>,
}

impl<R: Read> Read for Tracked<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut b = self.breaks.borrow_mut();
        let base = b.offset;
        for (i, &c) in buf[..n].iter().enumerate() {
            if c == b'\n' || c == b'\r' {
                b.pending.push_back((base + i as u64, c == b'\n'));
            } else if c == b'"' {
                b.quotes += 1;
            }
        }
        b.offset += n as u64;
        b.eof |= n == 0 && !buf.is_empty();
        Ok(n)
    }
}

impl CsvReader {
    /// Opens a CSV file.
    pub fn open(path: &Path) -> Result<CsvReader> {
        Self::open_with(path, b',')
    }

    /// Opens a CSV file whose fields are separated by `delimiter`.
    pub fn open_with(path: &Path, delimiter: u8) -> Result<CsvReader> {
        let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
        Self::from_reader_with(file, &path.display().to_string(), delimiter)
    }

    /// Reads CSV from standard input, called [`STDIN_NAME`] in messages.
    pub fn stdin() -> Result<CsvReader> {
        Self::from_reader(std::io::stdin().lock(), STDIN_NAME)
    }

    /// Reads CSV separated by `delimiter` from standard input.
    pub fn stdin_with(delimiter: u8) -> Result<CsvReader> {
        Self::from_reader_with(std::io::stdin().lock(), STDIN_NAME, delimiter)
    }

    /// Reads CSV from any stream; `name` stands for it in messages.
    pub fn from_reader(reader: impl Read + 'static, name: &str) -> Result<CsvReader> {
        Self::from_reader_with(reader, name, b',')
    }

    /// Reads CSV separated by `delimiter` from any stream; gzip-compressed input is decompressed.
    pub fn from_reader_with(reader: impl Read + 'static, name: &str, delimiter: u8) -> Result<CsvReader> {
        let mut buffered = BufReader::new(reader);
        let gzip = buffered.fill_buf().map_err(|e| Error::io(name, e))?.starts_with(&[0x1f, 0x8b]);
        let plain: Box<dyn Read> =
            if gzip { Box::new(flate2::read::MultiGzDecoder::new(buffered)) } else { Box::new(buffered) };
        let breaks = Rc::new(RefCell::new(LineBreaks::default()));
        let boxed: Box<dyn Read> = Box::new(Tracked { inner: plain, breaks: Rc::clone(&breaks) });
        let mut inner = ReaderBuilder::new().has_headers(true).trim(Trim::All).delimiter(delimiter).from_reader(boxed);
        let header = inner.headers().map_err(|e| map_csv_error(name, &[], &breaks, e))?.clone();
        if header.is_empty() {
            return Err(Error::format(
                name,
                "the file is empty; expected a header row of column names, then one row per sample",
            ));
        }
        if header.len() == 1 {
            check_delimiter(name, &header[0], delimiter)?;
        }
        let columns: Vec<String> = header.iter().map(str::to_string).collect();
        // A map keeps the check linear: a file may have 100 000 columns.
        let mut seen: HashMap<&str, usize> = HashMap::with_capacity(columns.len());
        for (j, c) in columns.iter().enumerate() {
            if let Some(&first) = seen.get(c.as_str()) {
                return Err(Error::parse(
                    name,
                    1,
                    j as u64 + 1,
                    format!(
                        "column name `{c}` appears twice (fields {} and {}); column names must be unique, rename one",
                        first + 1,
                        j + 1
                    ),
                ));
            }
            seen.insert(c, j);
        }
        Ok(CsvReader {
            path: name.to_string(),
            columns,
            inner,
            record: StringRecord::new(),
            rows_read: 0,
            breaks,
            last_multiline: None,
        })
    }

    /// The file's name as used in messages.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The header.
    pub fn columns(&self) -> &[String] {
        &self.columns
    }

    /// The next `max_rows` rows (fewer at the end of the file), or `None` once the file is done.
    pub fn next_chunk(&mut self, max_rows: usize) -> Result<Option<Table>> {
        let max_rows = max_rows.max(1);
        let mut cells = Vec::new();
        let mut lines = Vec::new();
        while lines.len() < max_rows {
            let more = self
                .inner
                .read_record(&mut self.record)
                .map_err(|e| map_csv_error(&self.path, &self.columns, &self.breaks, e))?;
            if !more {
                if let Some((line, field)) = self.last_multiline
                    && self.breaks.borrow().unclosed_quote()
                {
                    return Err(unclosed_quote(&self.path, line, field));
                }
                break;
            }
            let start = self.record.position().map_or(0, |p| p.byte());
            let line = self.breaks.borrow_mut().line_of(start);
            self.last_multiline =
                self.record.iter().position(|f| f.contains(['\n', '\r'])).map(|f| (line, f as u64 + 1));
            cells.extend(self.record.iter().map(str::to_string));
            lines.push(line);
        }
        self.rows_read += lines.len() as u64;
        if lines.is_empty() {
            if self.rows_read == 0 {
                return Err(Error::format(
                    &self.path,
                    "has a header but no data rows; expected at least one row after the header",
                ));
            }
            return Ok(None);
        }
        Ok(Some(Table { path: self.path.clone(), columns: self.columns.clone(), cells, lines }))
    }

    /// Reads all remaining rows into one table.
    pub fn read_all(mut self) -> Result<Table> {
        let mut table = self.next_chunk(usize::MAX)?.expect("a first chunk is never None");
        while let Some(more) = self.next_chunk(usize::MAX)? {
            table.cells.extend(more.cells);
            table.lines.extend(more.lines);
        }
        Ok(table)
    }
}

/// Turns the `csv` crate's error into ours, with the line and field where the crate knows them.
fn map_csv_error(path: &str, columns: &[String], breaks: &RefCell<LineBreaks>, err: ::csv::Error) -> Error {
    let line = err.position().map_or(0, |p| breaks.borrow_mut().line_of(p.byte()));
    match err.into_kind() {
        ErrorKind::Io(e) => Error::io(path, e),
        ErrorKind::Utf8 { err, .. } => {
            let field = err.field();
            let name = columns.get(field).map_or(String::new(), |c| format!(" (column `{c}`)"));
            Error::parse(
                path,
                line,
                field as u64 + 1,
                format!("field{name} is not valid UTF-8; save the file as UTF-8"),
            )
        }
        // The unclosed field swallowed the rest of the file, so it is the record's last.
        ErrorKind::UnequalLengths { len, .. } if breaks.borrow().unclosed_quote() => unclosed_quote(path, line, len),
        ErrorKind::UnequalLengths { expected_len, len, .. } => {
            // Point at the first field that is missing, or the first one too many.
            let (column, which) = if len < expected_len {
                let name = columns.get(len as usize).map_or(String::new(), |c| format!(" (`{c}` is missing)"));
                (len + 1, name)
            } else {
                (expected_len + 1, String::new())
            };
            Error::parse(
                path,
                line,
                column,
                format!(
                    "line {line} has {len} field{}, but the header has {expected_len}{which}; \
                     every row needs one field per column: quote fields that contain commas, and leave missing values empty",
                    if len == 1 { "" } else { "s" }
                ),
            )
        }
        other => Error::format(path, format!("cannot read CSV: {:?}", other)),
    }
}

fn unclosed_quote(path: &str, line: u64, field: u64) -> Error {
    Error::parse(
        path,
        line,
        field,
        "a quoted field starts in this row and is never closed (no matching `\"` before the end of the file); \
         close the quote, or remove it",
    )
}

/// A header of one field that holds another common delimiter is almost surely a file separated by
/// it: say so, instead of failing later on a one-column table.
fn check_delimiter(path: &str, header: &str, delimiter: u8) -> Result<()> {
    for (c, flag) in [(b',', "','"), (b';', "';'"), (b'\t', "tab"), (b'|', "'|'")] {
        if c != delimiter && header.as_bytes().contains(&c) {
            let shown = if c == b'\t' { "tabs".to_string() } else { format!("`{}`", c as char) };
            return Err(Error::format(
                path,
                format!(
                    "has a single column, `{}`, whose name holds {shown}; if the file is separated by {shown}, \
                     pass --delimiter {flag}",
                    header.replace('\t', "\\t")
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(text: &str) -> Result<Table> {
        Table::from_reader(std::io::Cursor::new(text.as_bytes().to_vec()), "mem.csv")
    }

    fn err(text: &str) -> String {
        table(text).unwrap_err().to_string()
    }

    #[test]
    fn titanic_quirks_crlf_quotes_and_empty_fields() {
        let text = "PassengerId,Name,Age,Embarked\r\n\
                    1,\"Braund, Mr. Owen Harris\",22,S\r\n\
                    2,\"McGowan, Miss. Anna \"\"Annie\"\"\",,\r\n\
                    3,\"Assaf Khalil, Mrs. Mariana (Miriam\"\")\"\"\", 0.83 ,Q\r\n";
        let t = table(text).unwrap();
        assert_eq!(t.columns, ["PassengerId", "Name", "Age", "Embarked"]);
        assert_eq!(t.n_rows(), 3);
        assert_eq!(t.cell(0, 1), "Braund, Mr. Owen Harris");
        assert_eq!(t.cell(1, 1), "McGowan, Miss. Anna \"Annie\"");
        assert_eq!((t.cell(1, 2), t.cell(1, 3)), ("", ""));
        assert_eq!(t.cell(2, 1), "Assaf Khalil, Mrs. Mariana (Miriam\")\"");
        assert_eq!(t.cell(2, 2), "0.83");
        assert_eq!((t.line(0), t.line(2)), (2, 4));
        let tail = t.rows(1..usize::MAX);
        assert_eq!((tail.n_rows(), tail.line(0), tail.cell(0, 0)), (2, 3, "2"));
    }

    #[test]
    fn line_numbers_survive_crlf_blank_lines_and_multiline_fields() {
        let t = table("a,b\r\n1,2\r\n\r\n3,\"x\r\ny\"\r\n4,5\r\n").unwrap();
        assert_eq!((0..3).map(|r| t.line(r)).collect::<Vec<_>>(), [2, 4, 6]);
        assert_eq!(t.cell(1, 1), "x\r\ny");
        let t = table("a\n1\n\n\n4\n5").unwrap();
        assert_eq!((0..3).map(|r| t.line(r)).collect::<Vec<_>>(), [2, 5, 6]);
        let m = err("a,b\r\n1,2\r\n\r\n3,4\r\n5\r\n");
        assert!(m.starts_with("mem.csv:5:2: line 5 has 1 field, but the header has 2 (`b` is missing)"), "{m}");
    }

    #[test]
    fn chunks_cover_the_file_once() {
        let mut r = CsvReader::from_reader(std::io::Cursor::new(b"a,b\n1,2\n3,4\n5,6\n".to_vec()), "c.csv").unwrap();
        assert_eq!(r.columns(), ["a", "b"]);
        let first = r.next_chunk(2).unwrap().unwrap();
        assert_eq!((first.n_rows(), first.cell(1, 0)), (2, "3"));
        let second = r.next_chunk(2).unwrap().unwrap();
        assert_eq!((second.n_rows(), second.cell(0, 1), second.line(0)), (1, "6", 4));
        assert!(r.next_chunk(2).unwrap().is_none());
    }

    #[test]
    fn empty_file() {
        let m = err("");
        assert!(m.starts_with("mem.csv: the file is empty; expected a header row"), "{m}");
        assert!(err("\r\n\r\n").contains("the file is empty"));
    }

    #[test]
    fn header_only() {
        let m = err("a,b,c\r\n");
        assert_eq!(m, "mem.csv: has a header but no data rows; expected at least one row after the header");
    }

    #[test]
    fn ragged_rows_name_line_field_and_column() {
        let m = err("a,b,c\n1,2,3\n4,5\n");
        assert!(m.starts_with("mem.csv:3:3: line 3 has 2 fields, but the header has 3 (`c` is missing)"), "{m}");
        let m = err("a,b\n1,2\n3,4\n5,\"x, y\",6\n");
        assert!(m.starts_with("mem.csv:4:3: line 4 has 3 fields, but the header has 2;"), "{m}");
        assert!(m.contains("quote fields that contain commas"), "{m}");
    }

    #[test]
    fn duplicate_column_names() {
        let m = err("Age,Sex,Age\n1,m,2\n");
        assert_eq!(
            m,
            "mem.csv:1:3: column name `Age` appears twice (fields 1 and 3); column names must be unique, rename one"
        );
    }

    #[test]
    fn invalid_utf8_names_the_field() {
        let bytes = b"a,b\n1,\xff\xfe\n".to_vec();
        let m = Table::from_reader(std::io::Cursor::new(bytes), "u.csv").unwrap_err().to_string();
        assert!(m.starts_with("u.csv:2:2: field (column `b`) is not valid UTF-8"), "{m}");
    }

    #[test]
    fn other_delimiters_are_pointed_at_and_read() {
        let m = err("a;b;y\n1;2;0\n");
        assert!(m.starts_with("mem.csv: has a single column, `a;b;y`"), "{m}");
        assert!(m.contains("pass --delimiter ';'"), "{m}");
        assert!(err("a\tb\n1\t2\n").contains("--delimiter tab"));
        let t = CsvReader::from_reader_with(std::io::Cursor::new(b"a;b\n1;2\n".to_vec()), "s.csv", b';')
            .unwrap()
            .read_all()
            .unwrap();
        assert_eq!((t.columns.clone(), t.cell(0, 1)), (vec!["a".to_string(), "b".to_string()], "2"));
        // A genuine one-column file is fine.
        assert_eq!(table("a\n1\n2\n").unwrap().n_rows(), 2);
    }

    #[test]
    fn gzip_is_read_transparently() {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(b"a,b\n1,2\n3,4\n").unwrap();
        let t = Table::from_reader(std::io::Cursor::new(e.finish().unwrap()), "g.csv.gz").unwrap();
        assert_eq!((t.n_rows(), t.cell(1, 0), t.line(1)), (2, "3", 3));
    }

    #[test]
    fn unclosed_quote_names_the_line() {
        let m = err("a,b,c\n1,2,3\n4,\"5,6\n7,8,9\n");
        assert!(m.starts_with("mem.csv:3:2: a quoted field starts in this row and is never closed"), "{m}");
        let m = err("a,b\n1,2\n3,\"4\n5,6\n");
        assert!(m.starts_with("mem.csv:3:2: a quoted field"), "{m}");
        // Closed quotes, even across lines, and a stray quote inside an unquoted field are fine.
        assert_eq!(table("a,b\n1,\"x\ny\"\n2,5'10\"\n").unwrap().n_rows(), 2);
    }

    #[test]
    fn numbers_beyond_f32_are_refused_with_their_place() {
        let t = table("a,b\n1,2\n3,-1e39\n").unwrap();
        let m = t.check_f32_range().unwrap_err().to_string();
        assert!(m.starts_with("mem.csv:3:2: column `b` holds `-1e39`, beyond the range of 32-bit floats"), "{m}");
        assert!(table("a,b\n3e38,1e-50\ninf,x1e99\n").unwrap().check_f32_range().is_ok());
        let long = format!("a\n1{}\n", "0".repeat(39));
        assert!(table(&long).unwrap().check_f32_range().is_err());
    }

    #[test]
    fn many_columns_read_in_linear_time() {
        let n = 100_000;
        let header: Vec<String> = (0..n).map(|j| format!("c{j}")).collect();
        let text = format!("{}\n{}\n", header.join(","), vec!["1"; n].join(","));
        let t0 = std::time::Instant::now();
        let t = table(&text).unwrap();
        assert_eq!(t.n_cols(), n);
        assert!(t0.elapsed().as_secs_f64() < 5.0, "{:?} for {n} columns", t0.elapsed());
        let dup = format!("{},c7\n{},1\n", header.join(","), vec!["1"; n].join(","));
        assert!(err(&dup).contains("column name `c7` appears twice (fields 8 and 100001)"));
    }

    #[test]
    fn missing_file() {
        let m = Table::read(Path::new("/nonexistent/dir/x.csv")).unwrap_err().to_string();
        assert!(m.starts_with("/nonexistent/dir/x.csv: "), "{m}");
    }
}
