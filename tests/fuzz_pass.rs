//! A short, deterministic pass of what `fuzz/` does at length (see FUZZING.md): each parser gets a
//! few thousand mutations of the seed corpus in `fuzz/corpus/` and must return `Ok` or `Err`,
//! never panic.

use mlp::data::csv::Table;
use mlp::preprocess::{PreprocessConfig, Preprocessor, TargetKind};
use std::path::Path;

/// xorshift64: a fixed sequence, so a failure reproduces.
pub struct Rng(u64);

impl Rng {
    pub fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n.max(1) as u64) as usize
    }
}

/// One to four random edits of `seed`: flip, overwrite with a telling byte, insert, delete, or
/// duplicate a span (the moves libFuzzer makes most often).
pub fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    const TELLING: &[u8] = b"\x00\xff\x7f\x80,\n\r\"0-9.eE:[]{}= ";
    let mut v = seed.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(5) {
            0 if at < v.len() => v[at] ^= 1 << rng.below(8),
            1 if at < v.len() => v[at] = TELLING[rng.below(TELLING.len())],
            2 => v.insert(at, TELLING[rng.below(TELLING.len())]),
            3 if at < v.len() => {
                let end = (at + 1 + rng.below(16)).min(v.len());
                v.drain(at..end);
            }
            _ if at < v.len() => {
                let end = (at + 1 + rng.below(32)).min(v.len());
                let span = v[at..end].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, span);
            }
            _ => v.push(TELLING[rng.below(TELLING.len())]),
        }
    }
    v
}

/// The seed inputs of a fuzz target.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let seeds: Vec<Vec<u8>> = files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert!(!seeds.is_empty(), "no seeds in {}", dir.display());
    seeds
}

fn each_mutation(target: &str, n: usize, mut f: impl FnMut(&[u8])) {
    let seeds = corpus(target);
    let mut rng = Rng(0x5eed_0000 + target.len() as u64);
    for i in 0..n {
        let input = mutate(&seeds[i % seeds.len()], &mut rng);
        f(&input);
    }
}

#[test]
fn csv_reader_and_preprocessor_never_panic() {
    each_mutation("csv", 3000, |bytes| {
        let Ok(table) = Table::from_reader(std::io::Cursor::new(bytes.to_vec()), "m.csv") else { return };
        let target = table.columns.last().cloned().unwrap_or_default();
        let Ok(kind) = TargetKind::infer(&table, &target) else { return };
        for impute in [false, true] {
            let cfg = PreprocessConfig { impute, ..Default::default() };
            if let Ok((pre, _)) = Preprocessor::fit(&table, &cfg, kind) {
                let _ = pre.transform(&table);
            }
        }
    });
}

#[test]
fn idx_reader_never_panics() {
    let path = std::env::temp_dir().join(format!("mlp-fuzz-pass-idx-{}", std::process::id()));
    each_mutation("idx", 1000, |bytes| {
        std::fs::write(&path, bytes).unwrap();
        let _ = mlp::data::idx::read_images(&path);
        let _ = mlp::data::idx::read_labels(&path);
    });
    let _ = std::fs::remove_file(&path);
}

#[test]
fn model_file_loader_never_panics() {
    each_mutation("model_file", 3000, |bytes| {
        let _ = mlp::model_file::load_bytes(bytes, "m.safetensors");
        let _ = mlp::model_file::load_checkpoint_bytes(bytes, "m.safetensors");
    });
    // The seeds themselves load.
    for seed in corpus("model_file") {
        mlp::model_file::load_bytes(&seed, "seed.safetensors").expect("a seed model loads");
    }
}

/// What `fuzz/fuzz_targets/model_predict.rs` checks: a file that loads predicts without a panic,
/// and a prediction that succeeds is finite.
fn load_and_predict(bytes: &[u8]) {
    let Ok(saved) = mlp::model_file::load_bytes(bytes, "m.safetensors") else { return };
    let n = saved.model.config.input_dim;
    for v in [0.0f32, 1.0, -1e4, 1e30] {
        if let Ok(p) = saved.predict_features(&mlp::Matrix::new(2, n, vec![v; 2 * n])) {
            assert!(p.data.iter().all(|v| v.is_finite()), "NOT OK: a successful prediction holds a non-finite value");
        }
    }
}

#[test]
fn loaded_models_predict_finite_values_or_fail() {
    let mut loaded = 0;
    each_mutation("model_predict", 3000, |bytes| {
        loaded += usize::from(mlp::model_file::load_bytes(bytes, "m.safetensors").is_ok());
        load_and_predict(bytes);
    });
    assert!(loaded > 30, "only {loaded} of 3000 mutations loaded");
    // Edits of the weights alone keep most files loadable: large, tiny and sign-flipped values.
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut loaded = 0;
    for seed in corpus("model_predict") {
        let start = 8 + u64::from_le_bytes(seed[..8].try_into().unwrap()) as usize;
        for _ in 0..500 {
            let mut v = seed.clone();
            for _ in 0..1 + rng.below(8) {
                let at = start + rng.below(v.len() - start);
                v[at] = [0x7f, 0x7e, 0xff, 0x00, 0x80, 0x01][rng.below(6)];
            }
            loaded += usize::from(mlp::model_file::load_bytes(&v, "m.safetensors").is_ok());
            load_and_predict(&v);
        }
    }
    assert!(loaded > 500, "only {loaded} weight edits loaded");
    // A model whose weights overflow f32 on ordinary inputs: an error, not infinities.
    let seed = &corpus("model_predict")[0];
    let mut saved = mlp::model_file::load_bytes(seed, "seed.safetensors").unwrap();
    saved.model.params[0].get_mut("weight").unwrap().data.fill(3e38);
    let n = saved.model.config.input_dim;
    let e = saved.predict_features(&mlp::Matrix::new(1, n, vec![1e3; n])).unwrap_err().to_string();
    assert!(
        e.starts_with("row 1: the model's output is NaN") || e.starts_with("row 1: the model's output is inf"),
        "{e}"
    );
}

#[test]
fn layer_spec_parser_never_panics() {
    each_mutation("layer_spec", 5000, |bytes| {
        let Ok(spec) = std::str::from_utf8(bytes) else { return };
        for inputs in [0, 1, 784] {
            if let Ok(cfg) = mlp::ModelConfig::parse(inputs, spec) {
                let _ = cfg.summary();
            }
        }
    });
}

/// Found by `cargo fuzz run layer_spec` (FUZZING.md): a layer of 10¹⁹ units overflowed the
/// parameter count. Now it is refused with a message.
#[test]
fn huge_layers_are_refused_not_overflowed() {
    let e =
        mlp::ModelConfig::parse(2, "00000000000000000000000000000000010000000000000000000").unwrap_err().to_string();
    assert!(e.contains("a layer can have at most 16777216 units"), "{e}");
    let e = mlp::ModelConfig::parse(usize::MAX, "16777216:relu").unwrap_err().to_string();
    assert!(e.contains("more than the 4294967296 mlp handles"), "{e}");
}
