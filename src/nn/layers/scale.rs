//! A test-only layer kind, `a = x ⊙ s` with one learned scale per unit: written against the layer seam alone, it shows that a new kind is this file plus its registration in `mod.rs`.
//!
//! Shapes: `x (rows, units)`, `s (units)`, `a (rows, units)`. Backward, for `da = dL/da`:
//! `ds_j = Σ_r da[r, j]·x[r, j]`, `dx = da ⊙ s`.

use super::{LayerOps, Param, ParamInit, ParamSpec};
use crate::backend::Backend;
use crate::nn::model::LayerConfig;

pub(super) fn specs(cfg: &LayerConfig, _fan_in: usize) -> Vec<ParamSpec> {
    vec![ParamSpec {
        name: "scale",
        shape: vec![cfg.units],
        init: ParamInit::Const(1.0),
        trainable: true,
        penalized: false,
        file_transposed: false,
    }]
}

pub(super) fn validate(cfg: &LayerConfig, fan_in: usize, is_output: bool) -> Result<(), String> {
    if cfg.units != fan_in {
        return Err(format!("a scale layer keeps its input width {fan_in}; write {fan_in}:linear:scale"));
    }
    if is_output {
        return Err("a scale layer cannot be the output layer".into());
    }
    Ok(())
}

pub(super) struct Scale<B: Backend> {
    units: usize,
    a: B::Buf,
    da: B::Buf,
}

impl<B: Backend> Scale<B> {
    pub(super) fn new(be: &B, cfg: &LayerConfig, max_rows: usize) -> Self {
        Self { units: cfg.units, a: be.zeros(max_rows * cfg.units), da: be.zeros(max_rows * cfg.units) }
    }
}

impl<B: Backend> LayerOps<B> for Scale<B> {
    fn forward(&mut self, be: &B, params: &mut [Param<B>], x: &B::Buf, rows: usize, _training: bool) {
        be.mul_cols(rows, self.units, x, &params[0].value, &mut self.a);
    }

    fn output(&self) -> &B::Buf {
        &self.a
    }

    fn output_and_grad(&mut self) -> (&B::Buf, &mut B::Buf) {
        (&self.a, &mut self.da)
    }

    fn backward(&mut self, be: &B, params: &mut [Param<B>], x: &B::Buf, rows: usize, dx: Option<&mut B::Buf>) {
        be.col_dot(rows, self.units, &self.da, x, &mut params[0].grad);
        if let Some(dx) = dx {
            be.mul_cols(rows, self.units, &self.da, &params[0].value, dx);
        }
    }
}

#[cfg(test)]
mod tests {
    //! The seam's proof: this kind trains, passes the gradient check and round-trips through a
    //! model file using nothing but the layer interface.
    use crate::data::synth;
    use crate::model_file::{self, InputSpec, ModelMeta, SavedModel};
    use crate::nn::{Activation, LayerConfig, LayerKind, ModelConfig};
    use crate::train::FitConfig;
    use crate::{Loss, OptimizerConfig, gradcheck};

    fn scaled(input: usize) -> ModelConfig {
        let scale = LayerConfig { kind: LayerKind::Scale, ..LayerConfig::new(input, Activation::Linear) };
        ModelConfig::new(input).dense(input, Activation::Tanh).layer(scale).dense(3, Activation::Softmax)
    }

    #[test]
    fn counts_and_summary_name_the_kind() {
        let cfg = scaled(2);
        assert_eq!(cfg.layer_params(1), 2);
        assert_eq!(cfg.param_count(), 6 + 2 + 9);
        assert!(cfg.summary().contains("scale_2 (Scale, linear)"), "{}", cfg.summary());
        let bad = ModelConfig::new(2)
            .dense(4, Activation::Relu)
            .layer(LayerConfig { kind: LayerKind::Scale, ..LayerConfig::new(3, Activation::Linear) })
            .dense(2, Activation::Softmax);
        let e = bad.validate().unwrap_err().to_string();
        assert!(e.contains("keeps its input width 4"), "{e}");
    }

    #[test]
    fn gradient_check_covers_the_scales() {
        let mut model = scaled(4).init(1).unwrap();
        for (i, v) in model.params[1].get_mut("scale").unwrap().data.iter_mut().enumerate() {
            *v = 0.5 + 0.3 * i as f32;
        }
        let x = crate::Matrix::new(5, 4, (0..20).map(|i| ((i * 7 % 11) as f32 - 5.0) / 4.0).collect());
        let t = crate::Matrix::new(5, 3, (0..15).map(|i| if i % 3 == (i / 3) % 3 { 1.0 } else { 0.0 }).collect());
        let report = gradcheck::gradcheck(&model, Loss::CategoricalCrossEntropy, &x, &t, 1e-5).unwrap();
        let scale = report.layers[1].get("scale").expect("the scale tensor is checked");
        assert!(scale < 1e-6 && report.worst() < 1e-6, "{report:?}");
    }

    #[test]
    fn trains_saves_and_loads() {
        let data = synth::blobs(100, &[[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]], 0.6, 0);
        let mut model = scaled(2).init(3).unwrap();
        let cfg = FitConfig {
            loss: Loss::CategoricalCrossEntropy,
            optimizer: OptimizerConfig::adam(0.05),
            epochs: 40,
            batch_size: 16,
            ..Default::default()
        };
        let history = model.fit(&data, &cfg).unwrap();
        let acc = history.last().unwrap().metrics["accuracy"];
        assert!(acc > 0.9, "accuracy {acc}");
        assert!(model.params[1].values("scale").iter().any(|&s| (s - 1.0).abs() > 1e-3), "the scales never moved");

        let meta = ModelMeta {
            loss: cfg.loss,
            input: InputSpec::standardize(&data.x, vec!["x1".into(), "x2".into()], "class"),
            classes: Some(vec!["a".into(), "b".into(), "c".into()]),
            training: None,
            history: None,
            created_by: model_file::created_by(),
        };
        let dir = std::env::temp_dir().join(format!("mlp-scale-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.safetensors");
        model_file::save(&path, &SavedModel { model: model.clone(), meta }).unwrap();
        let back = model_file::load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(back.model, model);
        assert_eq!(model_file::format_version_for(&model), 2, "a layer kind beyond dense needs format version 2");
        assert_eq!(back.model.predict(&data.x).unwrap(), model.predict(&data.x).unwrap());
    }
}
