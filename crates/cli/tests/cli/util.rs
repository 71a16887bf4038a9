//! Running the built `mlp` in a scratch directory and checking its outcome.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A small, valid two-class CSV that the catalogue tests train on.
#[allow(dead_code)]
pub const OK: &str = "a,b,y\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n";

/// A scratch directory holding `d.csv` ([`OK`]) and `m.safetensors`, a small model trained on it.
#[allow(dead_code)]
pub fn trained(name: &str) -> Dir {
    trained_on(name, OK)
}

/// A scratch directory holding `d.csv` (`csv`) and `m.safetensors`, a small model trained on it.
pub fn trained_on(name: &str, csv: &str) -> Dir {
    let d = Dir::new(name);
    d.write("d.csv", csv);
    d.mlp(&[
        "train",
        "--data",
        "d.csv",
        "--epochs",
        "2",
        "--layers",
        "4:relu,2:softmax",
        "--out",
        "m.safetensors",
        "-q",
    ])
    .ok();
    d
}

/// A scratch directory, removed when the test ends (kept when it fails, for a look).
pub struct Dir {
    pub path: PathBuf,
}

impl Dir {
    pub fn new(name: &str) -> Dir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let path = std::env::temp_dir().join(format!(
            "mlp-cli-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the scratch directory");
        Dir { path }
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.join(name);
        std::fs::write(&p, text).expect("write a test file");
        p
    }

    /// Runs `mlp args…` here.
    pub fn mlp(&self, args: &[&str]) -> Run {
        self.mlp_stdin(args, None)
    }

    /// Runs `mlp args…` here with `input` on stdin.
    pub fn mlp_stdin(&self, args: &[&str], input: Option<&str>) -> Run {
        self.mlp_with(args, input, &[])
    }

    /// Runs `mlp args…` here with extra environment variables.
    pub fn mlp_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.mlp_with(args, None, env)
    }

    fn mlp_with(&self, args: &[&str], input: Option<&str>, env: &[(&str, &str)]) -> Run {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_mlp"));
        cmd.envs(env.iter().copied());
        cmd.current_dir(&self.path).args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd.stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = cmd.spawn().expect("run mlp");
        if let Some(text) = input {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
        }
        Run::from(args, child.wait_with_output().expect("wait for mlp"))
    }

    /// The names of the files here, sorted (to check that nothing was left behind).
    pub fn files(&self) -> Vec<String> {
        let mut v: Vec<String> =
            std::fs::read_dir(&self.path).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
        v.sort();
        v
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// A finished `mlp` run.
pub struct Run {
    pub args: String,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(args: &[&str], o: Output) -> Run {
        Run {
            args: args.join(" "),
            code: o.status.code(),
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
    }

    /// Asserts success and returns stdout.
    pub fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "`mlp {}` failed:\n{}\n{}", self.args, self.stderr, self.stdout);
        &self.stdout
    }

    /// Asserts exit code 2 with a one-line `mlp: …` message containing every needle.
    pub fn fails_with(&self, needles: &[&str]) {
        assert_eq!(self.code, Some(2), "`mlp {}` should fail with 2:\n{}\n{}", self.args, self.stderr, self.stdout);
        let msg = self.stderr.trim_end();
        assert!(msg.starts_with("mlp: ") && !msg.contains('\n'), "one `mlp: ` line expected, got:\n{msg}");
        assert!(!msg.contains("panicked"), "panic: {msg}");
        for n in needles {
            assert!(msg.contains(n), "`mlp {}`: expected `{n}` in:\n{msg}", self.args);
        }
    }
}

/// The shared data directory: `MLP_DATA_DIR`, else `../shared/data` beside the repository.
/// Missing data is a failure, never a skip.
pub fn data_dir() -> PathBuf {
    let dir = std::env::var_os("MLP_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")));
    assert!(
        dir.is_dir(),
        "the test data directory {} is missing: put MNIST and Titanic there (see shared/data/README.md) or set MLP_DATA_DIR",
        dir.display()
    );
    dir
}

/// The repository's fixture directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures")
}

/// A metric from `mlp evaluate --json`.
pub fn metric(json: &str, name: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("not JSON ({e}): {json}"));
    v["metrics"][name].as_f64().unwrap_or_else(|| panic!("no metric {name} in {json}"))
}

/// Every f32 of a model's weights as bits, for bit-exact comparisons.
pub fn weight_bits(path: &Path) -> Vec<u32> {
    let saved = mlp::model_file::load(path).expect("the model loads");
    saved.model.params.iter().flat_map(|p| p.tensors.iter().flat_map(|t| &t.data).map(|v| v.to_bits())).collect()
}

/// Every file under `dir` (recursively, hidden ones included) with its bytes, to check that a
/// failed run left the inputs byte-identical and nothing new (no `.tmp`, no partial output).
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            let name = p.strip_prefix(dir).unwrap().display().to_string();
            if e.file_type().unwrap().is_dir() {
                out.insert(format!("{name}/"), Vec::new());
                stack.push(p);
            } else if e.file_type().unwrap().is_file() {
                out.insert(name, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// Asserts that no temporary file or plot stage is left anywhere under `dir`.
pub fn no_temporaries(dir: &Path, what: &str) {
    let left: Vec<String> = snapshot(dir).into_keys().filter(|n| n.contains(".tmp")).collect();
    assert!(left.is_empty(), "{what}: temporary files left: {left:?}");
}

/// `mlp args…` in `dir`, not waited for, with stdout and stderr piped.
pub fn spawn(dir: &Path, args: &[&str]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_mlp"))
        .current_dir(dir)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run mlp")
}

/// Sends `signal` (`TERM`, `HUP`, `INT`) to `child` with kill(1).
pub fn signal(child: &std::process::Child, signal: &str) {
    let ok = Command::new("kill").args([&format!("-{signal}"), &child.id().to_string()]).status().unwrap();
    assert!(ok.success(), "kill -{signal} failed");
}

/// Whether the tests run as root (a tmpfs can then be mounted for a full disk).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// A small tmpfs mounted at `dir` (created), unmounted when dropped; `None` (with the reason
/// printed) when it cannot be mounted, e.g. not root.
pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    pub fn mount(dir: PathBuf, size: &str, read_only: bool) -> Option<Tmpfs> {
        if !is_root() {
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        std::fs::create_dir_all(&dir).unwrap();
        let opts = format!("size={size}{}", if read_only { ",ro" } else { "" });
        let status = Command::new("mount").args(["-t", "tmpfs", "-o", &opts, "tmpfs"]).arg(&dir).status();
        if !status.is_ok_and(|s| s.success()) {
            eprintln!("skipped: cannot mount a tmpfs at {}", dir.display());
            return None;
        }
        Some(Tmpfs { path: dir })
    }

    /// Fills the file system until a write fails, leaving (almost) no space.
    pub fn fill(&self) {
        use std::io::Write;
        let mut f = std::fs::File::create(self.path.join("filler")).unwrap();
        let block = [0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.flush();
        let mut small = std::fs::File::create(self.path.join("filler2")).unwrap();
        while small.write_all(&[0u8; 64]).and_then(|()| small.flush()).is_ok() {}
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// Runs `mlp args…` in `dir` (with extra environment variables) and returns its peak resident
/// memory in KiB with its outcome.
///
/// The measurement goes through a small `python3` parent that forks, execs `mlp` and reads
/// `wait4`'s `ru_maxrss`: measured from this test process, `ru_maxrss` would include the pages
/// the child inherited from it at fork (the whole test binary, ~100 MB while other tests run),
/// not what `mlp` itself used. Python's own few MB are the floor of the figure.
pub fn peak_run(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> (u64, Run) {
    const SCRIPT: &str = "import os, sys\n\
pid = os.fork()\n\
if pid == 0:\n    os.execv(sys.argv[2], sys.argv[2:])\n\
_, status, ru = os.wait4(pid, 0)\n\
open(sys.argv[1], 'w').write(str(ru.ru_maxrss))\n\
sys.exit(os.waitstatus_to_exitcode(status))\n";
    static N: AtomicUsize = AtomicUsize::new(0);
    let report = dir.join(format!(".peak-{}", N.fetch_add(1, Ordering::SeqCst)));
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(&report)
        .arg(env!("CARGO_BIN_EXE_mlp"))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run mlp under python3 (needed to measure its peak memory)");
    let peak = std::fs::read_to_string(&report).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
    let _ = std::fs::remove_file(&report);
    (peak, Run::from(args, out))
}

impl Run {
    /// A finished child as a `Run`.
    pub fn of(child: std::process::Child) -> Run {
        Run::from(&[], child.wait_with_output().expect("wait for mlp"))
    }

    /// Asserts exit `code` with one `mlp: …` line on stderr containing every needle.
    pub fn exits_with(&self, code: i32, needles: &[&str]) {
        assert_eq!(self.code, Some(code), "`mlp {}` should exit {code}:\n{}\n{}", self.args, self.stderr, self.stdout);
        let msg = self.stderr.trim_end();
        let last = msg.lines().last().unwrap_or("");
        assert!(last.starts_with("mlp: ") && !msg.contains("panicked"), "one `mlp: ` line expected, got:\n{msg}");
        for n in needles {
            assert!(last.contains(n), "`mlp {}`: expected `{n}` in:\n{last}", self.args);
        }
    }
}
