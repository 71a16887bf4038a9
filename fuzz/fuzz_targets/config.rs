//! The `--config` TOML parser of the `mlp` binary (its schema lives in `flags.rs`, included here).
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/cli/src/flags.rs"]
mod flags;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = flags::parse_config(text, "fuzz.toml");
});
