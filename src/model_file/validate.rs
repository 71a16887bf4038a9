//! Checks that a model file's metadata is consistent: against itself, the architecture and the
//! tensors, so nothing later indexes out of range or computes with garbage. A file anyone can
//! write is untrusted; every message names the field at fault. The writer makes the same checks,
//! so mlp never writes a file it would refuse to read.

use super::input::InputSpec;
use super::meta::ModelMeta;
use crate::nn::Model;
use crate::preprocess::{TargetEncoding, check_labels};

/// What is wrong with `meta` for `model`, as a phrase that follows the file's name (`has …`):
/// the reader reports it against the file, the writer refuses to write it.
pub(super) fn check_meta(model: &Model, meta: &ModelMeta) -> Result<(), String> {
    let bad = |msg: String| format!("has inconsistent metadata: {msg}; the file is damaged or was not written by mlp");
    meta.input.check().map_err(bad)?;
    let cfg = &model.config;
    if meta.input.n_features() != cfg.input_dim {
        return Err(format!(
            "has preprocessing that produces {} features but the architecture takes {}; the file is inconsistent",
            meta.input.n_features(),
            cfg.input_dim
        ));
    }
    meta.loss
        .check_output(cfg.output_activation(), cfg.output_dim())
        .map_err(|e| format!("has a loss that does not fit its output layer: {e}"))?;
    if let Some(classes) = &meta.classes {
        let out = cfg.output_dim();
        if classes.is_empty() || !crate::train::classes_fit(classes.len(), out) {
            return Err(format!(
                "lists {} classes but the output layer has {out} units; the file is inconsistent",
                classes.len()
            ));
        }
        check_labels(classes).map_err(|e| bad(format!("`classes` {e}")))?;
    }
    if meta.loss.is_classification() && meta.classes.is_none() {
        // Evaluation would read numbers where the loss expects class indices.
        return Err(bad(format!("the loss `{}` is for classification but `classes` is absent", meta.loss)));
    }
    if let InputSpec::Table { preprocessor } = &meta.input {
        // Evaluation encodes labels with the preprocessor's list, predictions print `classes`:
        // they must be the same list, or the two would disagree on what class `i` is.
        let consistent = match (preprocessor.target(), &meta.classes) {
            (TargetEncoding::Classes { labels, .. }, Some(classes)) => labels == classes,
            (TargetEncoding::Values { .. }, None) => true,
            _ => false,
        };
        if !consistent {
            return Err(bad("`classes` differs from the class labels of `preprocessor.target`".into()));
        }
    }
    if let Some(h) = &meta.history
        && h.restored_epoch.is_some_and(|e| e > h.epochs)
    {
        return Err(bad(format!(
            "`history.restored_epoch` is {:?} but the history has {} epochs",
            h.restored_epoch, h.epochs
        )));
    }
    Ok(())
}
