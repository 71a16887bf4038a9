//! The model-file and checkpoint loaders, from bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = mlp::model_file::load_bytes(data, "fuzz.safetensors");
    let _ = mlp::model_file::load_checkpoint_bytes(data, "fuzz.safetensors");
});
