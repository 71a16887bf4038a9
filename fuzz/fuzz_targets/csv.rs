//! The CSV reader, then the preprocessor fitted on what it read and applied to it again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlp::data::csv::Table;
use mlp::preprocess::{PreprocessConfig, Preprocessor, TargetKind};

fuzz_target!(|data: &[u8]| {
    let Ok(table) = Table::from_reader(std::io::Cursor::new(data.to_vec()), "fuzz.csv") else { return };
    let target = table.columns.last().cloned().unwrap_or_default();
    for impute in [false, true] {
        let cfg = PreprocessConfig { impute, ..Default::default() };
        let Ok(kind) = TargetKind::infer(&table, &target) else { continue };
        for kind in [kind, TargetKind::Classes, TargetKind::Values] {
            if let Ok((pre, _)) = Preprocessor::fit(&table, &cfg, kind) {
                let _ = pre.transform(&table);
            }
        }
    }
});
