//! Checks that a parsed model file is consistent: the metadata against the architecture and the
//! tensors, so nothing later indexes out of range or computes with garbage.

use super::container::RawFile;
use super::meta::ModelMeta;
use crate::error::Result;
use crate::nn::Model;

pub(super) fn check_meta(raw: &RawFile, model: &Model, meta: &ModelMeta) -> Result<()> {
    let cfg = &model.config;
    if meta.input.n_features() != cfg.input_dim {
        return Err(raw.err(format!(
            "its preprocessing produces {} features but the architecture takes {}; the file is inconsistent",
            meta.input.n_features(),
            cfg.input_dim
        )));
    }
    meta.loss
        .check_output(cfg.output_activation(), cfg.output_dim())
        .map_err(|e| raw.err(format!("has a loss that does not fit its output layer: {e}")))?;
    if let Some(classes) = &meta.classes {
        let out = cfg.output_dim();
        let fits = if out == 1 { classes.len() <= 2 } else { classes.len() <= out };
        if classes.is_empty() || !fits {
            return Err(raw.err(format!(
                "lists {} classes but the output layer has {out} units; the file is inconsistent",
                classes.len()
            )));
        }
    }
    Ok(())
}
