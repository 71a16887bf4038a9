//! The library's error type: one variant per kind of thing a user can get wrong, each message saying what to do.

/// Everything that can go wrong because of the user's input: files, flags, configs, model files.
///
/// A shape mismatch inside the library's own layers is a bug and panics instead (see the
/// `assert!`s in `nn`): these variants are only for what the caller controls.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// A text file has something wrong at a known place.
    #[error("{path}:{line}:{column}: {msg}")]
    Parse {
        /// The file.
        path: String,
        /// 1-based line.
        line: u64,
        /// 1-based column (field number for CSV).
        column: u64,
        /// What was expected and what to do.
        msg: String,
    },
    /// A file is malformed as a whole (wrong magic number, truncated, bad tensor, bad metadata).
    #[error("{path}: {msg}")]
    Format {
        /// The file.
        path: String,
        /// What was wrong and what to do.
        msg: String,
    },
    /// A configuration value is out of range or contradicts another.
    #[error("invalid {what}: {msg}")]
    Config {
        /// The setting (flag, field or layer), e.g. `learning rate` or `layer 2`.
        what: String,
        /// What was expected and what to do.
        msg: String,
    },
    /// Data that does not fit the model or the task (wrong width, unseen class, single class…).
    #[error("{0}")]
    Data(String),
    /// The loss or the weights became NaN or infinite.
    #[error(
        "the loss became {value} at epoch {epoch}, batch {batch}; the weights of the last good step were kept. \
         Try a smaller learning rate (--lr), gradient clipping (--clip-norm) or standardized inputs"
    )]
    NonFinite {
        /// 1-based epoch.
        epoch: usize,
        /// 1-based batch within the epoch.
        batch: usize,
        /// The offending value, printed (NaN or inf).
        value: String,
    },
    /// The CUDA backend cannot be used.
    #[error("{0}")]
    Cuda(String),
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An [`Error::Io`] for `path`.
    pub fn io(path: impl AsRef<std::path::Path>, source: std::io::Error) -> Self {
        Error::Io { path: path.as_ref().display().to_string(), source }
    }

    /// An [`Error::Format`] for `path`.
    pub fn format(path: impl AsRef<std::path::Path>, msg: impl Into<String>) -> Self {
        Error::Format { path: path.as_ref().display().to_string(), msg: msg.into() }
    }

    /// An [`Error::Parse`] at a 1-based `line` and `column` of `path`.
    pub fn parse(path: impl AsRef<std::path::Path>, line: u64, column: u64, msg: impl Into<String>) -> Self {
        Error::Parse { path: path.as_ref().display().to_string(), line, column, msg: msg.into() }
    }

    /// An [`Error::Config`].
    pub fn config(what: impl Into<String>, msg: impl Into<String>) -> Self {
        Error::Config { what: what.into(), msg: msg.into() }
    }
}
