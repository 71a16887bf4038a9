//! Where a command's output goes: a file written atomically (complete or not at all), or stdout.

use anyhow::Result;
use mlp::model_file::AtomicFile;
use std::io::{BufWriter, Stdout, Write};
use std::path::Path;

/// A file that appears only when complete, or buffered stdout.
pub enum Output {
    /// `--out`/`--output FILE`.
    File(AtomicFile),
    /// No file given.
    Stdout(BufWriter<Stdout>),
}

impl Output {
    /// Opens `path`, or stdout when `None`.
    pub fn open(path: Option<&Path>) -> Result<Output> {
        Ok(match path {
            Some(p) => Output::File(AtomicFile::create(p)?),
            None => Output::Stdout(BufWriter::new(std::io::stdout())),
        })
    }

    /// The name for messages: the file, or `<stdout>`.
    pub fn name(&self) -> String {
        match self {
            Output::File(f) => f.path().display().to_string(),
            Output::Stdout(_) => "<stdout>".into(),
        }
    }

    /// Writes `bytes`, naming the output in the error.
    pub fn put(&mut self, bytes: &[u8]) -> mlp::Result<()> {
        self.write_all(bytes).map_err(|e| mlp::Error::io(self.name(), e))
    }

    /// Flushes and, for a file, moves it into place.
    pub fn finish(self) -> Result<()> {
        match self {
            Output::File(f) => Ok(f.commit()?),
            Output::Stdout(mut s) => Ok(s.flush().map_err(|e| mlp::Error::io("<stdout>", e))?),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Output::File(f) => f.write(buf),
            Output::Stdout(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::File(f) => f.flush(),
            Output::Stdout(s) => s.flush(),
        }
    }
}
