//! Running the built `mlp` in a scratch directory and checking its outcome.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

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
