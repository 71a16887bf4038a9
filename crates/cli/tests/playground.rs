//! `mlp playground` end to end: the built page (`scripts/web` → web/dist) served by the command and
//! driven in Debian's headless Chromium by Selenium (`playground/browser.py`, the system
//! chromedriver): the seed's spirals trained on the page to the plateau stopper with ≥ 99%
//! training accuracy, the downloaded model scored by `mlp evaluate`, a model from `mlp train`
//! opened and its boundary drawn, screenshots checked. Skips (fails under MLP_REQUIRE_ALL) when
//! the page is not built or the browser tools are missing.

#[path = "cli/util.rs"]
#[allow(dead_code)]
mod util;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use util::{Dir, metric, spawn};

fn dist() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web/dist")
}

/// Everything the browser test needs, or the reason it cannot run.
fn tools() -> Result<PathBuf, String> {
    if !dist().join("mlp_wasm_bg.wasm").is_file() {
        return Err("web/dist is not built (scripts/web builds it; scripts/test runs it first)".into());
    }
    let python = std::env::var_os("MLP_TEST_PYTHON").ok_or("MLP_TEST_PYTHON is not set (scripts/test sets it)")?;
    for tool in ["/usr/bin/chromium", "/usr/bin/chromedriver"] {
        if !Path::new(tool).exists() {
            return Err(format!("{tool} is missing (apt-get install chromium chromium-driver)"));
        }
    }
    let ok = Command::new(&python).args(["-c", "import selenium"]).status().is_ok_and(|s| s.success());
    if !ok {
        return Err("selenium is not installed in $MLP_TEST_PYTHON (scripts/test-requirements.txt)".into());
    }
    Ok(PathBuf::from(python))
}

/// `mlp playground` on a free port, and the address it printed.
struct Server(Child, String);

impl Server {
    fn start(dir: &Path) -> Server {
        let mut child = spawn(dir, &["playground", "--port", "0", "--dir", dist().to_str().unwrap()]);
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        let url = line
            .split_whitespace()
            .find(|w| w.starts_with("http://"))
            .unwrap_or_else(|| panic!("no address in {line:?}"));
        Server(child, url.to_string())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_page_trains_the_seed_spirals_and_its_model_file_evaluates_in_mlp() {
    let python = match tools() {
        Ok(p) => p,
        Err(why) => {
            assert!(std::env::var_os("MLP_REQUIRE_ALL").is_none(), "MLP_REQUIRE_ALL is set but {why}");
            eprintln!("skipped: the playground browser test ({why})");
            return;
        }
    };
    let d = Dir::new("playground");
    // The CLI's default demo (the seed's spirals), to open on the page.
    d.mlp(&["train", "--out", "cli.safetensors", "-q"]).ok();
    let server = Server::start(&d.path);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/playground/browser.py");
    let out = Command::new(&python)
        .arg(&script)
        .args(["e2e", &server.1, d.path.to_str().unwrap(), d.join("cli.safetensors").to_str().unwrap()])
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("playground: ok"), "the browser test failed:\n{text}");
    eprintln!("playground: {}", text.lines().next().unwrap_or(""));
    // The page's file is an mlp model file: evaluated on the same spirals (seed 0, as the page drew).
    let json = d
        .mlp(&[
            "evaluate",
            "playground.safetensors",
            "--data",
            "builtin:spirals?n=1000&cycles=1.2&sd=0.03&seed=0",
            "--json",
        ])
        .ok()
        .to_string();
    let acc = metric(&json, "accuracy");
    assert!(acc >= 0.98, "mlp evaluate: accuracy {acc} on the spirals the page trained on ({json})");
    for shot in ["1-setup.png", "2-trained.png", "3-cli-model.png"] {
        assert!(d.join(shot).is_file(), "{shot} was not taken");
    }
}

#[test]
fn a_missing_page_says_to_run_scripts_web() {
    let d = Dir::new("playground-missing");
    d.mlp(&["playground", "--dir", "nowhere", "--port", "0"]).fails_with(&["nowhere", "run scripts/web"]);
}
