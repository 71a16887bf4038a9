//! Every file a command reads and writes, compared before anything is read or trained: an output
//! that is also an input (`predict --input x.csv --output x.csv`) or another output
//! (`--history m.safetensors --out m.safetensors`) is refused with exit 2, naming both flags.
//!
//! Files are compared by identity, not by spelling: device and inode where the file exists (so a
//! hard link, a symlink or `./x.csv` vs `x.csv` are caught), the canonical directory plus the
//! name where it does not yet. Devices and FIFOs (`/dev/null` for two outputs) never clash.

use crate::source::Source;
use anyhow::Result;
use mlp::Error;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a path resolves to.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Identity {
    /// An existing file or directory.
    Inode(u64, u64),
    /// A file still to be created: its canonical directory and name.
    New(PathBuf),
}

fn identity(path: &Path) -> Option<Identity> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() || m.is_dir() => Some(Identity::Inode(m.dev(), m.ino())),
        // A device or FIFO is written in place and can be shared, as with `/dev/null`.
        Ok(_) => None,
        Err(_) => {
            let name = path.file_name()?;
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
            Some(Identity::New(dir.join(name)))
        }
    }
}

/// The inputs and outputs of one command.
#[derive(Default)]
pub struct Files {
    inputs: Vec<(String, PathBuf)>,
    outputs: Vec<(String, PathBuf)>,
}

/// An empty path is refused with the flag's name, rather than as a confusing `: No such file`.
pub fn non_empty(flag: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() {
        return Err(Error::config(flag, "is empty; give a file name").into());
    }
    Ok(())
}

impl Files {
    /// A file read by the command, under `flag` in messages.
    pub fn input(&mut self, flag: &str, path: &Path) -> Result<&mut Self> {
        non_empty(flag, &path.to_string_lossy())?;
        self.inputs.push((flag.to_string(), path.to_path_buf()));
        Ok(self)
    }

    /// The files behind a data source: the CSV file, or each file of an MNIST directory.
    pub fn source(&mut self, flag: &str, source: &Source) -> Result<&mut Self> {
        match source {
            Source::Csv(p) => return self.input(flag, p),
            Source::Idx(dir) => {
                for d in [dir.clone(), dir.join("mnist")] {
                    for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
                        self.inputs.push((flag.to_string(), e.path()));
                    }
                }
            }
            Source::Builtin(_) => {}
        }
        Ok(self)
    }

    /// A file written by the command, under `flag` in messages.
    pub fn output(&mut self, flag: &str, path: &Path) -> Result<&mut Self> {
        non_empty(flag, &path.to_string_lossy())?;
        self.outputs.push((flag.to_string(), path.to_path_buf()));
        Ok(self)
    }

    /// Refuses any output that is an input or another output; `allowed` lists (output, input)
    /// flag pairs that may name one file (`--checkpoint` and `--resume`: a resumed run goes on
    /// writing the checkpoint it started from). Registers the outputs for the signal handler's
    /// clean-up.
    pub fn check(&self, allowed: &[(&str, &str)]) -> Result<()> {
        let outs: Vec<_> = self.outputs.iter().map(|(f, p)| (f, p, identity(p))).collect();
        let ins: Vec<_> = self.inputs.iter().map(|(f, p)| (f, p, identity(p))).collect();
        for (i, (flag, path, id)) in outs.iter().enumerate() {
            let Some(id) = id else { continue };
            for (in_flag, in_path, in_id) in &ins {
                if in_id.as_ref() == Some(id) && !allowed.contains(&(flag.as_str(), in_flag.as_str())) {
                    return Err(clash(flag, path, "the input", in_flag, in_path));
                }
            }
            for (other, other_path, other_id) in &outs[..i] {
                if other_id.as_ref() == Some(id) {
                    return Err(clash(flag, path, "the output", other, other_path));
                }
            }
        }
        for (_, path) in &self.outputs {
            crate::signals::watch(path);
        }
        Ok(())
    }
}

fn clash(flag: &str, path: &Path, role: &str, other: &str, other_path: &Path) -> anyhow::Error {
    let same = if path == other_path {
        format!("`{}`", path.display())
    } else {
        format!("`{}` and `{}`", path.display(), other_path.display())
    };
    Error::config(
        format!("output path ({flag})"),
        format!("{flag} and {role} {other} are the same file ({same}); give {flag} another path"),
    )
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_follows_spelling_and_links() {
        let dir = std::env::temp_dir().join(format!("mlp-paths-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = dir.join("a.csv");
        std::fs::write(&a, "x").unwrap();
        std::fs::hard_link(&a, dir.join("b.csv")).unwrap();
        std::os::unix::fs::symlink(&a, dir.join("c.csv")).unwrap();
        let id = identity(&a);
        assert_eq!(identity(&dir.join("b.csv")), id);
        assert_eq!(identity(&dir.join("c.csv")), id);
        assert_eq!(identity(&dir.join(".").join("a.csv")), id);
        assert_eq!(identity(&dir.join("new")), identity(&dir.join("./new")));
        assert_ne!(identity(&dir.join("new")), identity(&dir.join("new2")));
        assert_eq!(identity(Path::new("/dev/null")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
