//! Where the shared data of the tests, examples and benchmarks lives (MNIST, Titanic): one lookup, `$MLP_DATA_DIR` or `../shared/data` beside the repository.

use crate::error::{Error, Result};
use std::path::PathBuf;

/// The environment variable that names the data directory.
pub const DATA_DIR_VAR: &str = "MLP_DATA_DIR";

/// The shared data directory (MNIST in `mnist/`, the Titanic CSVs in `titanic/`):
/// `$MLP_DATA_DIR` when set, else `../shared/data` beside the repository this library was built
/// from. Whether it exists is not checked; see [`data_path`].
pub fn data_dir() -> PathBuf {
    std::env::var_os(DATA_DIR_VAR)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data")))
}

/// `sub` (e.g. `"mnist"` or `"titanic/train.csv"`) inside [`data_dir`], or an error naming the
/// missing path and how to provide it. Tests call `data_path(..).unwrap()`, so missing data
/// fails them loudly instead of skipping.
pub fn data_path(sub: &str) -> Result<PathBuf> {
    let path = data_dir().join(sub);
    if path.exists() {
        return Ok(path);
    }
    Err(Error::Data(format!(
        "the shared data {} is missing: put MNIST and Titanic in ../shared/data beside the repository \
         (see its README.md) or set {DATA_DIR_VAR} to the directory that holds mnist/ and titanic/",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_path_names_itself_and_the_variable() {
        let m = data_path("no-such-data-set").unwrap_err().to_string();
        assert!(m.contains("no-such-data-set") && m.contains(DATA_DIR_VAR), "{m}");
    }
}
