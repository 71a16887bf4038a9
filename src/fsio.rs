//! Safe file writes: a file appears at its path only when complete, through a temporary file
//! beside the target that is synced and renamed into place; symlinks are written through and
//! devices and FIFOs written directly.
//!
//! # Rules
//! * A **regular file** (or a new path) is written to `.{name}.mlp-{pid}-{n}.tmp` in the same
//!   directory, synced, renamed over the target, and the directory synced: the target is either
//!   the old file or the complete new one, whatever happens (an error, a full disk, `kill -9`).
//!   An existing file's permissions are kept.
//! * A **symlink** is written through: its final target gets the content (the temporary file
//!   goes beside the target, not the link), and the link stays a link.
//! * A **non-regular target** (a character device such as `/dev/null` or `/dev/full`, a FIFO) is
//!   written directly, never replaced by a rename. A FIFO is opened only when the first byte is
//!   written (or at commit), because opening one blocks until a reader comes.
//! * A **stale temporary file** left by a process that died without cleaning up (`kill -9`) is
//!   removed the next time the same path is written: the name carries the writer's process id,
//!   and a file whose process no longer runs is stale.

use crate::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Writes `bytes` to `path` atomically (see the [module docs](self) for what that means for
/// links, devices and FIFOs). On any error the temporary file is removed and `path` is untouched.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes).map_err(|e| write_error(path, e))?;
    f.commit()
}

/// A file that appears at its path only when complete: writes go to a temporary file beside it,
/// [`AtomicFile::commit`] syncs it and renames it into place, and dropping it uncommitted (an
/// error, a panic, Ctrl-C unwinding) removes the temporary file.
///
/// A path that exists and is not a regular file (`/dev/stdout`, `/dev/full`, a FIFO) is written
/// directly: renaming over a device would replace the device, and such targets cannot hold a
/// partial file anyway. A symlink is followed: its target is replaced, the link kept.
pub struct AtomicFile {
    /// The path as given, for messages.
    path: PathBuf,
    /// Where the content goes: `path` with its symlinks followed.
    target: PathBuf,
    /// The temporary file, or `None` when writing straight to a device or FIFO.
    tmp: Option<PathBuf>,
    /// The open file; `None` for a FIFO not opened yet, and after commit.
    file: Option<std::io::BufWriter<File>>,
    /// A FIFO waiting for its first write to be opened.
    lazy: bool,
}

impl AtomicFile {
    /// Starts writing `path`; fails at once when its directory is missing or not writable, or
    /// when `path` is a directory.
    pub fn create(path: &Path) -> Result<AtomicFile> {
        let target = resolve_links(path)?;
        let existing = std::fs::metadata(&target).ok();
        match &existing {
            Some(m) if m.is_dir() => {
                return Err(Error::config(
                    "output path",
                    format!("`{}` is a directory; give a file name inside it", path.display()),
                ));
            }
            Some(m) if !m.is_file() => {
                let mut f = AtomicFile { path: path.into(), target, tmp: None, file: None, lazy: is_fifo(m) };
                if !f.lazy {
                    // A device opens at once, so an unwritable one fails here, before any work.
                    f.open_direct().map_err(|e| Error::io(path, e))?;
                }
                return Ok(f);
            }
            _ => {}
        }
        let dir = parent_dir(&target);
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
        remove_stale_temps(&target);
        let (tmp, file) = create_temp(path, &target)?;
        if let Some(m) = existing {
            // The new file replaces the old one, so it keeps the old one's permissions (a
            // private 0600 model stays private). Best effort: the content matters more.
            let _ = std::fs::set_permissions(&tmp, m.permissions());
        }
        Ok(AtomicFile {
            path: path.into(),
            target,
            tmp: Some(tmp),
            file: Some(std::io::BufWriter::with_capacity(1 << 16, file)),
            lazy: false,
        })
    }

    /// The final path, as given.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary file being written, when there is one (not for devices and FIFOs).
    pub fn temp_path(&self) -> Option<&Path> {
        self.tmp.as_deref()
    }

    fn open_direct(&mut self) -> std::io::Result<()> {
        let f = OpenOptions::new().write(true).truncate(true).open(&self.target)?;
        self.file = Some(std::io::BufWriter::new(f));
        self.lazy = false;
        Ok(())
    }

    /// Flushes, syncs and renames the file into place.
    pub fn commit(mut self) -> Result<()> {
        if self.lazy {
            // A FIFO nothing was written to: open it anyway, so its reader sees an empty file.
            self.open_direct().map_err(|e| write_error(&self.path, e))?;
        }
        let Some(buf) = self.file.take() else { return Ok(()) };
        let result = buf.into_inner().map_err(|e| e.into_error()).and_then(|f| match &self.tmp {
            // Devices and pipes cannot always be synced, and need not be.
            None => Ok(()),
            Some(_) => f.sync_all(),
        });
        let result = result.and_then(|()| match &self.tmp {
            Some(tmp) => std::fs::rename(tmp, &self.target),
            None => Ok(()),
        });
        if let Err(e) = result {
            return Err(write_error(&self.path, e));
        }
        if let Some(_tmp) = self.tmp.take() {
            // The rename is durable only once the directory is synced; not every platform or
            // filesystem allows opening a directory, and the data is safe either way.
            if let Ok(dir) = File::open(parent_dir(&self.target)) {
                let _ = dir.sync_all();
            }
        }
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.lazy {
            self.open_direct()?;
        }
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

/// A write or commit failure as a one-line error naming the path and what to do; the old file,
/// if any, is untouched.
fn write_error(path: &Path, e: std::io::Error) -> Error {
    use std::io::ErrorKind as K;
    let hint = match e.kind() {
        K::StorageFull | K::QuotaExceeded => "free some space or write elsewhere",
        K::PermissionDenied | K::ReadOnlyFilesystem => "check the permissions or write elsewhere",
        _ => "write elsewhere or check the disk",
    };
    Error::format(path, format!("cannot be written ({e}); {hint}; an existing file there was left untouched"))
}

#[cfg(unix)]
fn is_fifo(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    m.file_type().is_fifo()
}

#[cfg(not(unix))]
fn is_fifo(_: &std::fs::Metadata) -> bool {
    false
}

/// `path` with every symlink followed (also a dangling last link, whose target is then created),
/// relative link targets taken from the link's directory.
fn resolve_links(path: &Path) -> Result<PathBuf> {
    let mut p = path.to_path_buf();
    // The kernel's own limit on links followed in one lookup.
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = std::fs::read_link(&p).map_err(|e| Error::io(path, e))?;
                p = if to.is_absolute() { to } else { parent_dir(&p).join(to) };
            }
            _ => return Ok(p),
        }
    }
    Err(Error::config(
        "output path",
        format!("`{}` is a symlink loop (more than 40 links); point it at a file", path.display()),
    ))
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The temporary-file name for `target` written by process `pid`, attempt `n`.
fn temp_name(file_name: &str, pid: u32, n: u32) -> String {
    format!("{}{n}.tmp", own_temp_prefix(file_name, pid))
}

/// The start of the names of the temporary files that process `pid` writes beside `file_name`
/// (each is this, a counter and `.tmp`): lets a signal handler remove exactly its own.
pub fn own_temp_prefix(file_name: &str, pid: u32) -> String {
    format!(".{file_name}.mlp-{pid}-")
}

/// The writer's process id, when `entry` is one of `file_name`'s temporary files.
fn temp_pid(file_name: &str, entry: &str) -> Option<u32> {
    let middle = entry.strip_prefix(&format!(".{file_name}.mlp-"))?.strip_suffix(".tmp")?;
    let (pid, n) = middle.split_once('-')?;
    n.parse::<u32>().ok()?;
    pid.parse().ok()
}

/// Whether process `pid` may still be writing its temporary file: on Linux, whether it runs;
/// elsewhere, whether the file changed within the last hour.
fn writer_alive(pid: u32, file: &Path) -> bool {
    if Path::new("/proc/self").exists() {
        return Path::new(&format!("/proc/{pid}")).exists();
    }
    let age = std::fs::metadata(file).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    age.is_none_or(|a| a.as_secs() < 3600)
}

/// Removes temporary files for `target` left by writers that died (a `kill -9`, a power cut);
/// best effort, since they only waste space.
fn remove_stale_temps(target: &Path) {
    let (Some(name), Ok(entries)) = (target.file_name(), std::fs::read_dir(parent_dir(target))) else { return };
    let name = name.to_string_lossy();
    let me = std::process::id();
    for entry in entries.flatten() {
        let entry_name = entry.file_name();
        let Some(pid) = temp_pid(&name, &entry_name.to_string_lossy()) else { continue };
        let path = entry.path();
        if pid != me && !writer_alive(pid, &path) {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Creates a fresh temporary file next to `target` (same directory, so the rename stays atomic).
fn create_temp(path: &Path, target: &Path) -> Result<(PathBuf, File)> {
    let name = target.file_name().ok_or_else(|| {
        Error::config(
            "output path",
            format!("`{}` is not a file name; give a path such as model.safetensors", path.display()),
        )
    })?;
    let dir = parent_dir(target);
    let pid = std::process::id();
    for attempt in 0..100u32 {
        let tmp = dir.join(temp_name(&name.to_string_lossy(), pid, attempt));
        match OpenOptions::new().write(true).create_new(true).open(&tmp) {
            Ok(f) => return Ok((tmp, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    Err(Error::format(path, "cannot find a free temporary file name beside it; remove stale `.*.mlp-*.tmp` files"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("mlp-fsio-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn no_temps(d: &Path) {
        let left: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(left.is_empty(), "temporary files left: {left:?}");
    }

    /// A device node made inside `d` (never the real /dev), or `None` with the reason printed.
    fn device(d: &Path, name: &str, minor: &str) -> Option<PathBuf> {
        let p = d.join(name);
        match Command::new("mknod").arg(&p).args(["c", "1", minor]).status() {
            Ok(s) if s.success() => Some(p),
            other => {
                eprintln!("skipped: cannot make a device node with mknod (not root?): {other:?}");
                None
            }
        }
    }

    #[test]
    fn regular_files_are_replaced_whole_and_keep_their_permissions() {
        use std::os::unix::fs::PermissionsExt;
        let d = dir("regular");
        let p = d.join("m.bin");
        write_atomic(&p, b"old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        write_atomic(&p, b"new").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"new");
        assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        {
            let mut f = AtomicFile::create(&p).unwrap();
            f.write_all(b"half a model").unwrap();
            assert!(f.temp_path().unwrap().exists());
            // Dropped without commit, as on an error.
        }
        assert_eq!(std::fs::read(&p).unwrap(), b"new", "an uncommitted write leaves the old file");
        let e = write_atomic(&d.join("missing/out.bin"), b"x").unwrap_err().to_string();
        assert!(e.contains("does not exist; create it first"), "{e}");
        let e = write_atomic(&d, b"x").unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        no_temps(&d);
    }

    #[test]
    fn symlinks_are_written_through() {
        let d = dir("links");
        std::fs::create_dir(d.join("sub")).unwrap();
        let real = d.join("real.bin");
        std::fs::write(&real, b"old").unwrap();
        let link = d.join("sub/link.bin");
        std::os::unix::fs::symlink("../real.bin", &link).unwrap();
        let chain = d.join("chain.bin");
        std::os::unix::fs::symlink(&link, &chain).unwrap();
        write_atomic(&chain, b"new").unwrap();
        assert_eq!(std::fs::read(&real).unwrap(), b"new");
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays a link");
        assert!(std::fs::symlink_metadata(&chain).unwrap().file_type().is_symlink());
        // A dangling link gets its target created.
        let dangling = d.join("dangling.bin");
        std::os::unix::fs::symlink("created.bin", &dangling).unwrap();
        write_atomic(&dangling, b"fresh").unwrap();
        assert_eq!(std::fs::read(d.join("created.bin")).unwrap(), b"fresh");
        assert!(std::fs::symlink_metadata(&dangling).unwrap().file_type().is_symlink());
        let looped = d.join("loop.bin");
        std::os::unix::fs::symlink("loop.bin", &looped).unwrap();
        let e = write_atomic(&looped, b"x").unwrap_err().to_string();
        assert!(e.contains("symlink loop"), "{e}");
        no_temps(&d);
        no_temps(&d.join("sub"));
    }

    #[test]
    fn fifos_are_written_directly_and_opened_only_when_written() {
        let d = dir("fifo");
        let fifo = d.join("pipe");
        let made = Command::new("mkfifo").arg(&fifo).status();
        if !made.as_ref().is_ok_and(|s| s.success()) {
            eprintln!("skipped: mkfifo failed: {made:?}");
            return;
        }
        // No reader yet: creating and dropping must neither block nor touch the FIFO.
        drop(AtomicFile::create(&fifo).unwrap());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        write_atomic(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(is_fifo(&std::fs::metadata(&fifo).unwrap()), "the FIFO is still a FIFO");
        no_temps(&d);
    }

    #[test]
    fn devices_are_written_directly_never_renamed_over() {
        use std::os::unix::fs::FileTypeExt;
        let d = dir("dev");
        let Some(null) = device(&d, "null", "3") else { return };
        write_atomic(&null, b"discarded").unwrap();
        assert!(std::fs::metadata(&null).unwrap().file_type().is_char_device(), "still a device");
        let Some(full) = device(&d, "full", "7") else { return };
        let e = write_atomic(&full, &vec![0u8; 1 << 17]).unwrap_err().to_string();
        assert!(e.contains("No space left on device") && e.contains("full") && !e.contains('\n'), "{e}");
        assert!(std::fs::metadata(&full).unwrap().file_type().is_char_device());
        no_temps(&d);
    }

    #[test]
    fn stale_temporary_files_are_removed_on_the_next_write() {
        let d = dir("stale");
        let p = d.join("m.bin");
        // Process ids never exceed 2^22 on Linux, so these writers are certainly gone.
        let stale = [d.join(temp_name("m.bin", 4_000_000_000, 0)), d.join(temp_name("m.bin", 4_000_000_001, 7))];
        let live = d.join(temp_name("m.bin", 1, 0));
        let other = d.join(temp_name("other.bin", 4_000_000_000, 0));
        for f in stale.iter().chain([&live, &other]) {
            std::fs::write(f, b"partial").unwrap();
        }
        write_atomic(&p, b"new").unwrap();
        assert!(stale.iter().all(|f| !f.exists()), "stale temporary files removed");
        assert!(live.exists(), "a running writer's file is left alone");
        assert!(other.exists(), "another target's file is left alone");
    }

    #[test]
    fn temp_names_are_recognized_exactly() {
        let n = temp_name("m.safetensors", 42, 3);
        assert_eq!(n, ".m.safetensors.mlp-42-3.tmp");
        assert_eq!(temp_pid("m.safetensors", &n), Some(42));
        // Another target's temporary file, or a user's file, is never taken for ours.
        assert_eq!(temp_pid("m", &temp_name("m.safetensors", 42, 3)), None);
        assert_eq!(temp_pid("m.safetensors", ".m.safetensors.swp"), None);
        assert_eq!(temp_pid("m.safetensors", ".m.safetensors.mlp-x-1.tmp"), None);
    }
}
