//! The served models: finding model files under the paths given, loading each once into a shared
//! predictor, and swapping in a new version when a file changes (a file that fails to load leaves
//! the version already serving in place).

use crate::batch::{BatchConfig, Batcher};
use crate::stats::ModelStats;
use mlp::Predictor;
use mlp::model_file::{self, ModelMeta, RawEncoder};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::SystemTime;

/// The input and output tensor names of every model (one input, one output).
pub const INPUT: &str = "input";
/// See [`INPUT`].
pub const OUTPUT: &str = "output";

/// One loaded version of one model.
pub struct Model {
    pub name: String,
    pub version: u64,
    pub meta: ModelMeta,
    pub predictor: Arc<Predictor>,
    /// Raw input columns (what a numeric tensor's row holds) to features, prepared once.
    pub encoder: RawEncoder,
    pub outputs: usize,
    pub stats: Arc<ModelStats>,
    pub batcher: Option<Batcher>,
}

/// A model file found on disk: which name and version it serves as.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Found {
    pub name: String,
    pub version: u64,
    pub path: PathBuf,
}

/// What identifies a file's contents cheaply: a changed size or modification time means reload.
type Fingerprint = (u64, Option<SystemTime>);

fn fingerprint(path: &Path) -> Option<Fingerprint> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.len(), m.modified().ok()))
}

/// Every model being served, by name and version.
pub struct Registry {
    roots: Vec<PathBuf>,
    models: RwLock<BTreeMap<String, BTreeMap<u64, Arc<Model>>>>,
    /// The fingerprint of the file each (name, version) was last loaded from, or failed to load from.
    seen: Mutex<HashMap<(String, u64), Fingerprint>>,
    batch: Option<BatchConfig>,
    log: crate::Log,
}

/// A name usable in a URL path segment and never a path: letters, digits, `_`, `-`, `.`, not
/// starting with a dot.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 200
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

fn is_model_file(p: &Path) -> bool {
    p.is_file()
        && p.extension().is_some_and(|e| e == "safetensors")
        && p.file_name().and_then(|n| n.to_str()).is_some_and(|n| !n.starts_with('.'))
}

fn stem(p: &Path) -> Option<String> {
    p.file_stem().and_then(|s| s.to_str()).map(str::to_string)
}

/// The model files under `roots`: a file argument serves as its stem, version 1; a directory
/// serves `NAME.safetensors` as `NAME` version 1 and `NAME/<n>/*.safetensors` as `NAME` version `n`.
pub fn discover(roots: &[PathBuf]) -> Vec<Found> {
    let mut found = Vec::new();
    for root in roots {
        if root.is_file() {
            if let Some(name) = stem(root) {
                found.push(Found { name, version: 1, path: root.clone() });
            }
            continue;
        }
        let Ok(entries) = std::fs::read_dir(root) else { continue };
        for entry in entries.flatten() {
            let p = entry.path();
            if is_model_file(&p) {
                if let Some(name) = stem(&p) {
                    found.push(Found { name, version: 1, path: p });
                }
            } else if p.is_dir() {
                let Some(name) = p.file_name().and_then(|n| n.to_str()).map(str::to_string) else { continue };
                let Ok(versions) = std::fs::read_dir(&p) else { continue };
                for v in versions.flatten() {
                    let Some(version) = v.file_name().to_str().and_then(|s| s.parse::<u64>().ok()) else { continue };
                    let Ok(files) = std::fs::read_dir(v.path()) else { continue };
                    let mut files: Vec<PathBuf> =
                        files.flatten().map(|f| f.path()).filter(|f| is_model_file(f)).collect();
                    files.sort();
                    if let Some(path) = files.into_iter().next() {
                        found.push(Found { name: name.clone(), version, path });
                    }
                }
            }
        }
    }
    found.retain(|f| valid_name(&f.name));
    found.sort();
    found.dedup_by(|a, b| a.name == b.name && a.version == b.version);
    found
}

impl Registry {
    pub fn new(roots: Vec<PathBuf>, batch: Option<BatchConfig>, log: crate::Log) -> Self {
        Self { roots, models: RwLock::default(), seen: Mutex::default(), batch, log }
    }

    pub fn roots(&self) -> &[PathBuf] {
        &self.roots
    }

    /// Loads every model file not loaded yet or changed since; returns how many failed. A failure
    /// is logged and the version already serving (if any) stays.
    pub fn refresh(&self) -> usize {
        let mut failed = 0;
        for f in discover(&self.roots) {
            let key = (f.name.clone(), f.version);
            let Some(print) = fingerprint(&f.path) else { continue };
            if self.seen.lock().unwrap_or_else(|e| e.into_inner()).get(&key) == Some(&print) {
                continue;
            }
            let loaded_before = self.get(&f.name, Some(f.version)).is_some();
            match self.load(&f) {
                Ok(model) => {
                    (self.log)(&format!(
                        "{} model {} version {} from {}",
                        if loaded_before { "reloaded" } else { "loaded" },
                        f.name,
                        f.version,
                        f.path.display()
                    ));
                    model.stats.reloads.increment(1);
                    self.models
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .entry(f.name.clone())
                        .or_default()
                        .insert(f.version, Arc::new(model));
                }
                Err(e) => {
                    failed += 1;
                    ModelStats::load_failure(&f.name);
                    let kept = if loaded_before { "; the version loaded before keeps serving" } else { "" };
                    (self.log)(&format!("cannot load model {} from {}: {e}{kept}", f.name, f.path.display()));
                }
            }
            // The fingerprint from before the read: a file changed while it was read differs from it,
            // so its next event loads it again.
            self.seen.lock().unwrap_or_else(|e| e.into_inner()).insert(key, print);
        }
        failed
    }

    fn load(&self, f: &Found) -> anyhow::Result<Model> {
        let bytes = std::fs::read(&f.path)?;
        let saved = model_file::from_bytes(&bytes, &f.path.display().to_string())?;
        let max_rows = self.batch.as_ref().map_or(64, |b| b.max_batch.max(1));
        let predictor = Arc::new(Predictor::new(&saved.model, max_rows, 1)?);
        let stats = Arc::new(ModelStats::new(&f.name));
        let batcher = self.batch.as_ref().map(|cfg| Batcher::new(predictor.clone(), cfg.clone(), stats.clone()));
        Ok(Model {
            name: f.name.clone(),
            version: f.version,
            encoder: saved.meta.input.raw_encoder(),
            outputs: saved.model.config.output_dim(),
            meta: saved.meta,
            predictor,
            stats,
            batcher,
        })
    }

    /// The model `name` at `version`, or its highest version.
    pub fn get(&self, name: &str, version: Option<u64>) -> Option<Arc<Model>> {
        let models = self.models.read().unwrap_or_else(|e| e.into_inner());
        let versions = models.get(name)?;
        match version {
            Some(v) => versions.get(&v).cloned(),
            None => versions.values().next_back().cloned(),
        }
    }

    /// Every (name, versions) served.
    pub fn list(&self) -> Vec<(String, Vec<u64>)> {
        let models = self.models.read().unwrap_or_else(|e| e.into_inner());
        models.iter().map(|(n, v)| (n.clone(), v.keys().copied().collect())).collect()
    }
}
