//! The IDX reader (raw or gzip), as images and as labels. It reads files, so each input is
//! written to a scratch file first.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static PATH: std::path::PathBuf =
            std::env::temp_dir().join(format!("mlp-fuzz-idx-{}", std::process::id()));
    }
    PATH.with(|p| {
        std::fs::write(p, data).unwrap();
        let _ = mlp::data::idx::read_images(p);
        let _ = mlp::data::idx::read_labels(p);
    });
});
