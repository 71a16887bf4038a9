//! Plots of a regression fit: the data with the model's curve for one input (PNG, and a GIF with one
//! frame per epoch: the housing line settling, or a shallow net approximating a function), and
//! predicted against actual values for more inputs.

use super::{Animation, FONT, PALETTE, init_fonts};
use anyhow::{Context, Result, ensure};
use plotters::coord::Shift;
use plotters::prelude::*;
use std::path::Path;

/// Size of the fit plots and their animation frames.
pub const FIT_SIZE: (u32, u32) = (640, 480);

/// The data `(x, y)` and the model's curve over x, in the data's own units.
pub struct CurveFit<'a> {
    /// The observations.
    pub points: &'a [(f32, f32)],
    /// The model's prediction along x, in increasing x.
    pub curve: &'a [(f32, f32)],
    /// The axis names (the feature and the target).
    pub x_name: &'a str,
    /// The target's name.
    pub y_name: &'a str,
}

/// `(lo, hi)` of `v` with 5% margins (a unit either side when flat).
fn range(v: impl Iterator<Item = f32>) -> (f32, f32) {
    let (lo, hi) =
        v.filter(|v| v.is_finite()).fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), v| (l.min(v), h.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 1.0 };
    (lo - pad, hi + pad)
}

fn draw_curve<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, fit: &CurveFit<'_>, title: &str) -> Result<()>
where
    DB::ErrorType: 'static,
{
    ensure!(!fit.points.is_empty(), "a fit plot needs at least one data point");
    root.fill(&WHITE)?;
    let (x0, x1) = range(fit.points.iter().chain(fit.curve).map(|p| p.0));
    // The y axis follows the data, so a wild untrained curve does not flatten it.
    let (y0, y1) = range(fit.points.iter().map(|p| p.1));
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(85)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart
        .configure_mesh()
        .x_desc(fit.x_name)
        .y_desc(fit.y_name)
        .axis_desc_style((FONT, 17))
        .label_style((FONT, 14))
        .light_line_style(RGBColor(235, 235, 235))
        .draw()?;
    chart
        .draw_series(fit.points.iter().map(|&p| Circle::new(p, 3, PALETTE[0].mix(0.6).filled())))?
        .label("data")
        .legend(|(x, y)| Circle::new((x + 10, y), 4, PALETTE[0].filled()));
    let inside = fit.curve.iter().copied().filter(|p| p.1.is_finite()).map(|(x, y)| (x, y.clamp(y0, y1)));
    chart
        .draw_series(LineSeries::new(inside, PALETTE[3].stroke_width(3)))?
        .label("model")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 25, y)], PALETTE[3].stroke_width(3)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font((FONT, 15))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.5))
        .draw()?;
    Ok(())
}

/// Writes a PNG of the data with the model's curve.
pub fn curve_fit(path: &Path, fit: &CurveFit<'_>, title: &str) -> Result<()> {
    init_fonts();
    let root = BitMapBackend::new(path, FIT_SIZE).into_drawing_area();
    draw_curve(&root, fit, title)
        .and_then(|()| Ok(root.present()?))
        .with_context(|| format!("cannot write the plot {}", path.display()))
}

/// An animated GIF of the fit, one frame per [`CurveGif::add_frame`] (it loops forever).
pub struct CurveGif(Animation);

impl CurveGif {
    /// Creates the file; each frame shows for `frame_delay_ms`.
    pub fn create(path: &Path, frame_delay_ms: u32) -> Result<Self> {
        Animation::create(path, FIT_SIZE, frame_delay_ms).map(Self)
    }

    /// Draws one frame as [`curve_fit`] would and appends it.
    pub fn add_frame(&mut self, fit: &CurveFit<'_>, title: &str) -> Result<()> {
        self.0.add_frame(|root| draw_curve(root, fit, title))
    }

    /// Closes the file; without frames it is an error and the file is removed.
    pub fn finish(self) -> Result<()> {
        self.0.finish()
    }
}

/// Writes a PNG of predicted against actual values `(actual, predicted)` with the diagonal a
/// perfect model would lie on.
pub fn predicted_vs_actual(path: &Path, pairs: &[(f32, f32)], target: &str, title: &str) -> Result<()> {
    init_fonts();
    ensure!(!pairs.is_empty(), "a predicted-vs-actual plot needs at least one row");
    let root = BitMapBackend::new(path, FIT_SIZE).into_drawing_area();
    let draw = || -> Result<()> {
        root.fill(&WHITE)?;
        let (lo, hi) = range(pairs.iter().flat_map(|p| [p.0, p.1]));
        let mut chart = ChartBuilder::on(&root)
            .caption(title, (FONT, 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(85)
            .build_cartesian_2d(lo..hi, lo..hi)?;
        chart
            .configure_mesh()
            .x_desc(format!("actual {target}"))
            .y_desc(format!("predicted {target}"))
            .axis_desc_style((FONT, 17))
            .label_style((FONT, 14))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        chart.draw_series(LineSeries::new([(lo, lo), (hi, hi)], BLACK.mix(0.5).stroke_width(1)))?;
        chart.draw_series(pairs.iter().map(|&p| Circle::new(p, 3, PALETTE[0].mix(0.6).filled())))?;
        root.present()?;
        Ok(())
    };
    draw().with_context(|| format!("cannot write the plot {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs::File;
    use std::io::BufReader;

    /// Decodes a PNG into (width, height, RGB pixels).
    fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
        let mut reader = png::Decoder::new(BufReader::new(File::open(path).unwrap())).read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Rgb, "{}", path.display());
        let pixels = buf[..info.buffer_size()].chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect();
        (info.width, info.height, pixels)
    }

    #[test]
    fn curve_fit_png_gif_and_predicted_vs_actual_decode() {
        let dir = std::env::temp_dir().join(format!("mlp-fitplot-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let points: Vec<(f32, f32)> = (0..50).map(|i| (i as f32, 3.0 * i as f32 + 1.0)).collect();
        let curve: Vec<(f32, f32)> = (0..50).map(|i| (i as f32, 3.0 * i as f32)).collect();
        let fit = CurveFit { points: &points, curve: &curve, x_name: "x", y_name: "y" };
        let png_path = dir.join("fit.png");
        curve_fit(&png_path, &fit, "F(x) = 3x + 1").unwrap();
        let (w, h, pixels) = decode_png(&png_path);
        assert_eq!((w, h), FIT_SIZE);
        let red = PALETTE[3];
        assert!(pixels.contains(&[red.0, red.1, red.2]), "the model's line is drawn");

        let gif_path = dir.join("fit.gif");
        let mut g = CurveGif::create(&gif_path, 100).unwrap();
        g.add_frame(&fit, "epoch 1").unwrap();
        g.add_frame(&CurveFit { curve: &points, ..fit }, "epoch 2").unwrap();
        g.finish().unwrap();
        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::RGBA);
        let mut decoder = options.read_info(File::open(&gif_path).unwrap()).unwrap();
        let mut frames = Vec::new();
        while let Some(frame) = decoder.read_next_frame().unwrap() {
            frames.push(frame.buffer.to_vec());
        }
        assert_eq!(frames.len(), 2);
        assert_ne!(frames[0], frames[1], "the curve moved between the frames");

        let pva = dir.join("pva.png");
        predicted_vs_actual(&pva, &points, "y", "predicted vs actual").unwrap();
        assert_eq!(decode_png(&pva).0, FIT_SIZE.0);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
