//! Files that appear only when complete: atomic writes through a temporary file beside the target.

use crate::error::{Error, Result};
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` through a temporary file in the same directory, synced and then
/// renamed over `path`. On any error the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes).map_err(|e| Error::io(path, e))?;
    f.commit()
}

/// A file that appears at its path only when complete: writes go to a temporary file beside it,
/// [`AtomicFile::commit`] syncs it and renames it into place, and dropping it uncommitted (an
/// error, a panic, Ctrl-C unwinding) removes the temporary file.
///
/// A path that exists and is not a regular file (`/dev/stdout`, `/dev/full`, a FIFO) is written
/// directly: renaming over a device would replace the device, and such targets cannot hold a
/// partial file anyway.
pub struct AtomicFile {
    path: PathBuf,
    /// The temporary file, or `None` when writing straight to a device.
    tmp: Option<PathBuf>,
    file: Option<std::io::BufWriter<File>>,
}

impl AtomicFile {
    /// Starts writing `path`; fails at once when its directory is missing or not writable.
    pub fn create(path: &Path) -> Result<AtomicFile> {
        match std::fs::metadata(path) {
            Ok(m) if m.is_dir() => {
                return Err(Error::config(
                    "output path",
                    format!("`{}` is a directory; give a file name inside it", path.display()),
                ));
            }
            Ok(m) if !m.is_file() => {
                let f = std::fs::OpenOptions::new()
                    .write(true)
                    .truncate(true)
                    .open(path)
                    .map_err(|e| Error::io(path, e))?;
                return Ok(AtomicFile { path: path.into(), tmp: None, file: Some(std::io::BufWriter::new(f)) });
            }
            _ => {}
        }
        let dir = parent_dir(path);
        match std::fs::metadata(dir) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::config(
                    "output path",
                    format!("`{}` is not a directory, so `{}` cannot be written", dir.display(), path.display()),
                ));
            }
            Err(_) => {
                return Err(Error::config(
                    "output path",
                    format!("the directory `{}` does not exist; create it first or write elsewhere", dir.display()),
                ));
            }
        }
        let (tmp, file) = create_temp(path)?;
        Ok(AtomicFile {
            path: path.into(),
            tmp: Some(tmp),
            file: Some(std::io::BufWriter::with_capacity(1 << 16, file)),
        })
    }

    /// The final path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        let Some(buf) = self.file.take() else { return Ok(()) };
        let result = buf.into_inner().map_err(|e| e.into_error()).and_then(|f| match &self.tmp {
            // Devices and pipes cannot always be synced, and need not be.
            None => Ok(()),
            Some(_) => f.sync_all(),
        });
        let result = result.and_then(|()| match &self.tmp {
            Some(tmp) => std::fs::rename(tmp, &self.path),
            None => Ok(()),
        });
        if let Err(e) = result {
            return Err(Error::io(&self.path, e));
        }
        if let Some(_tmp) = self.tmp.take() {
            // The rename is durable only once the directory is synced; not every platform or
            // filesystem allows opening a directory, and the data is safe either way.
            if let Ok(dir) = File::open(parent_dir(&self.path)) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.file.as_mut().map_or(Ok(0), |f| f.write(buf))
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.as_mut().map_or(Ok(()), |f| f.flush())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        self.file.take();
        if let Some(tmp) = self.tmp.take() {
            // Best effort: whatever failed is reported by the caller.
            let _ = std::fs::remove_file(tmp);
        }
    }
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Creates a fresh temporary file next to `path` (same directory, so the rename stays atomic).
fn create_temp(path: &Path) -> Result<(PathBuf, File)> {
    let name = path.file_name().ok_or_else(|| {
        Error::config(
            "output path",
            format!("`{}` is not a file name; give a path such as model.safetensors", path.display()),
        )
    })?;
    let dir = parent_dir(path);
    let pid = std::process::id();
    for attempt in 0..100u32 {
        let tmp = dir.join(format!(".{}.{pid}.{attempt}.tmp", name.to_string_lossy()));
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Err(Error::format(path, "cannot find a free temporary file name beside it; remove stale `.*.tmp` files"))
}
