//! `mlp export`: an ONNX graph of a model with its input scaling folded in.

use crate::flags::ExportArgs;
use anyhow::Result;
use mlp::model_file;

/// `mlp export`.
pub fn run(args: ExportArgs) -> Result<()> {
    let mut files = crate::paths::Files::default();
    files.input("the model file", &args.model)?.output("--onnx", &args.onnx)?;
    files.check(&[])?;
    crate::plan::check_output(&args.onnx, "--onnx")?;
    let saved = model_file::load(&args.model)?;
    let (mean, std) = saved.meta.input.scaling();
    let bytes = mlp::onnx::export(&saved.model, Some((&mean, &std)))?;
    model_file::write_atomic(&args.onnx, &bytes)?;
    crate::term::outln(&format!("wrote {}", args.onnx.display()))?;
    Ok(())
}
