//! The `--layers` parser (`64:relu,0.2:dropout,10:softmax`), then the summary of what it built.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(spec) = std::str::from_utf8(data) else { return };
    for inputs in [0, 1, 784] {
        if let Ok(cfg) = mlp::ModelConfig::parse(inputs, spec) {
            let _ = cfg.summary();
        }
    }
});
