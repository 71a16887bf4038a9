//! Plots of a training run: learning curves (PNG + SVG), the decision regions of a 2-D classifier
//! (PNG, or an animated GIF with one frame per epoch) and confusion matrices (PNG).
//!
//! plotters is built without its default `ttf` feature, which needs fontconfig at build and run
//! time. Text is instead rendered with one embedded font, DejaVu Sans, registered as `sans-serif`
//! by [`init_fonts`], so the binary draws the same pixels on any machine. Every public function
//! calls `init_fonts` first; the caller creates the output directory.

use std::path::{Path, PathBuf};
use std::sync::Once;

use anyhow::{Context, Result, bail, ensure};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::register_font;
use plotters::style::text_anchor::{HPos, Pos, VPos};

mod fit;
pub use fit::{CurveFit, CurveGif, curve_fit, predicted_vs_actual};

/// The family every text style asks for; it is the only one registered.
const FONT: &str = "sans-serif";

/// Size of the learning-curve charts (PNG pixels and SVG user units).
const CURVE_SIZE: (u32, u32) = (800, 500);

/// Size of the PNG written by [`decision_boundary`].
const BOUNDARY_SIZE: (u32, u32) = (640, 640);

/// matplotlib's `tab10`: ten colours chosen to stay distinguishable, also when tinted.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Registers the embedded font under [`FONT`], once per process.
fn init_fonts() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let bytes = include_bytes!("../assets/DejaVuSans.ttf");
        // The font is compiled in, so a failure is a broken build rather than a user error.
        if register_font(FONT, FontStyle::Normal, bytes).is_err() {
            panic!("the embedded assets/DejaVuSans.ttf is not a valid TrueType font");
        }
    });
}

fn class_colour(class: usize) -> RGBColor {
    PALETTE[class % PALETTE.len()]
}

/// `colour` moved towards white by `white` in `[0, 1]`.
fn tint(colour: RGBColor, white: f64) -> RGBColor {
    let w = white.clamp(0.0, 1.0);
    let mix = |c: u8| (f64::from(c) * (1.0 - w) + 255.0 * w).round() as u8;
    RGBColor(mix(colour.0), mix(colour.1), mix(colour.2))
}

// ---------------------------------------------------------------------------------------------
// Learning curves
// ---------------------------------------------------------------------------------------------

/// Draws the learning curves of a run into `dir` and returns the files written.
///
/// Series whose name contains `loss` go to `loss.png` + `loss.svg`; the other metrics go to a
/// chart named after them ([`metrics_chart`]: `accuracy.png`, `mae.png`, else `metrics.png`, and
/// its SVG), written only when there is such a series. A validation series (`val_…`, `valid_…`,
/// `validation_…`) is dashed, in the colour after its training series' (blue and orange, green
/// and red…), and the legend names each. Empty series are skipped; non-finite values (a diverged
/// loss) are left out of the line rather than stretching the axis to infinity.
pub fn learning_curves(dir: &Path, epochs: &[usize], series: &[(&str, &[f64])]) -> Result<Vec<PathBuf>> {
    init_fonts();
    for (name, values) in series {
        ensure!(
            values.is_empty() || values.len() == epochs.len(),
            "learning curve `{name}` has {} values but there are {} epochs; \
             every series needs one value per epoch",
            values.len(),
            epochs.len()
        );
    }
    let (losses, metrics): (Vec<_>, Vec<_>) =
        series.iter().filter(|(_, values)| !values.is_empty()).copied().partition(|(name, _)| name.contains("loss"));
    let (metrics_stem, metrics_title) = metrics_chart(metrics.iter().map(|(name, _)| *name));

    let mut written = Vec::new();
    for (stem, title, family, legend_at) in [
        ("loss", "Loss".to_string(), &losses, SeriesLabelPosition::UpperRight),
        (metrics_stem.as_str(), metrics_title, &metrics, SeriesLabelPosition::LowerRight),
    ] {
        if family.is_empty() {
            continue;
        }
        let chart = CurveChart { title: &title, epochs, series: family, legend_at };
        let png = dir.join(format!("{stem}.png"));
        chart
            .draw(BitMapBackend::new(&png, CURVE_SIZE).into_drawing_area())
            .with_context(|| format!("cannot write the plot {}", png.display()))?;
        written.push(png);
        let svg = dir.join(format!("{stem}.svg"));
        chart
            .draw(SVGBackend::new(&svg, CURVE_SIZE).into_drawing_area())
            .with_context(|| format!("cannot write the plot {}", svg.display()))?;
        written.push(svg);
    }
    Ok(written)
}

/// Draws the dead-unit fractions (`dead_units_1`, … one series per hidden layer, in [0, 1]) into
/// `dir/dead_units.png` + `.svg`; returns the files written.
pub fn dead_units(dir: &Path, epochs: &[usize], series: &[(&str, &[f64])]) -> Result<Vec<PathBuf>> {
    init_fonts();
    ensure!(series.iter().all(|(_, v)| v.len() == epochs.len()), "every dead-unit series needs one value per epoch");
    let chart = CurveChart {
        title: "Dead units (fraction per hidden layer)",
        epochs,
        series,
        legend_at: SeriesLabelPosition::LowerRight,
    };
    let (png, svg) = (dir.join("dead_units.png"), dir.join("dead_units.svg"));
    chart
        .draw(BitMapBackend::new(&png, CURVE_SIZE).into_drawing_area())
        .with_context(|| format!("cannot write the plot {}", png.display()))?;
    chart
        .draw(SVGBackend::new(&svg, CURVE_SIZE).into_drawing_area())
        .with_context(|| format!("cannot write the plot {}", svg.display()))?;
    Ok(vec![png, svg])
}

/// One chart of [`learning_curves`], drawable on any backend so PNG and SVG stay identical.
struct CurveChart<'a> {
    title: &'a str,
    epochs: &'a [usize],
    series: &'a [(&'a str, &'a [f64])],
    legend_at: SeriesLabelPosition,
}

/// The file stem and title of the chart of the metrics other than losses: named after the metric
/// when there is one (`accuracy`, `mae`; its validation series beside it), else `metrics`. The
/// stems [`crate::plan::PLOT_FILES`] lists are the ones the CLI's metrics produce.
pub fn metrics_chart<'a>(names: impl Iterator<Item = &'a str>) -> (String, String) {
    let mut bases: Vec<&str> = names.map(|n| split_series_name(n).0).collect();
    bases.dedup();
    bases.sort_unstable();
    bases.dedup();
    match bases.as_slice() {
        [] => ("metrics".into(), "Metrics".into()),
        names if names.iter().all(|n| n.contains("acc")) => ("accuracy".into(), "Accuracy".into()),
        [one] => {
            let stem: String =
                one.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
            let title = match *one {
                "mae" => "Mean absolute error (mae)".to_string(),
                "mse" => "Mean squared error (mse)".to_string(),
                "r2" => "R²".to_string(),
                other => other.to_string(),
            };
            (stem, title)
        }
        _ => ("metrics".into(), "Metrics".into()),
    }
}

/// A tick label short enough for the axis: as many decimals as the tick spacing `step` needs,
/// and scientific notation for values of a million or more and for steps below 1e-5, which would
/// otherwise print as long rows of digits (an MSE in the target's units runs to 1e10).
pub fn tick_label(v: f64, step: f64) -> String {
    let step = if step.is_finite() && step > 0.0 { step } else { 1.0 };
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() >= 1e6 || step < 1e-5 {
        // Mantissa digits enough to tell neighbouring ticks apart.
        let digits = (v.abs().log10().floor() - step.log10().floor()).clamp(0.0, 6.0) as usize;
        return format!("{v:.digits$e}");
    }
    let decimals = (-step.log10().floor()).clamp(0.0, 6.0) as usize;
    format!("{v:.decimals$}")
}

/// The spacing of about `ticks` ticks over `lo..hi` (as plotters picks them: 1, 2 or 5 × 10ⁿ).
fn tick_step(lo: f64, hi: f64, ticks: usize) -> f64 {
    let raw = (hi - lo).abs() / ticks.max(1) as f64;
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0].iter().map(|m| m * mag).find(|s| *s >= raw).unwrap_or(10.0 * mag)
}

/// Ticks on the value axis of a learning curve.
const Y_TICKS: usize = 10;

/// Strips the split prefix, so `val_loss` pairs with `loss`; returns (base name, is validation).
fn split_series_name(name: &str) -> (&str, bool) {
    for prefix in ["validation_", "valid_", "val_"] {
        if let Some(base) = name.strip_prefix(prefix) {
            return (base, true);
        }
    }
    (name.strip_prefix("train_").unwrap_or(name), false)
}

/// `(lo, hi)` padded by 5% so curves do not run along the frame; widened when flat.
fn padded_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) =
        values.filter(|v| v.is_finite()).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 0.1 * lo.abs().max(1.0) };
    (lo - pad, hi + pad)
}

impl CurveChart<'_> {
    fn draw<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> Result<()>
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let first = self.epochs.iter().copied().min().unwrap_or(0);
        let last = self.epochs.iter().copied().max().unwrap_or(0);
        // A single epoch would give an empty axis range; centre its point instead.
        let x_range = if first < last { first..last } else { first.saturating_sub(1)..last + 1 };
        let (y_lo, y_hi) = padded_range(self.series.iter().flat_map(|(_, v)| v.iter().copied()));
        // Plotters puts about Y_TICKS labels 1, 2 or 5 × 10ⁿ apart; the axis is as wide as the
        // widest of them, so none is cut off.
        let step = tick_step(y_lo, y_hi, Y_TICKS);
        let format_tick = move |v: &f64| tick_label(*v, step);
        let widest = [y_lo, y_hi, (y_lo / step).ceil() * step, (y_hi / step).floor() * step]
            .iter()
            .map(|v| text_width(&format_tick(v), 15.0))
            .max()
            .unwrap_or(40);

        let mut chart = ChartBuilder::on(&root)
            .caption(self.title, (FONT, 26))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size((widest + 40) as u32)
            .build_cartesian_2d(x_range, y_lo..y_hi)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc("value")
            .y_labels(Y_TICKS)
            .y_label_formatter(&format_tick)
            .axis_desc_style((FONT, 18))
            .label_style((FONT, 15))
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;

        let mut bases: Vec<&str> = Vec::new();
        for &(name, values) in self.series {
            let (base, validation) = split_series_name(name);
            let index = bases.iter().position(|b| *b == base).unwrap_or_else(|| {
                bases.push(base);
                bases.len() - 1
            });
            // tab10 in pairs: a training series and its validation series in neighbouring colours.
            let colour = PALETTE[(2 * index + usize::from(validation)) % PALETTE.len()];
            let style = colour.stroke_width(2);
            let points: Vec<(usize, f64)> =
                self.epochs.iter().copied().zip(values.iter().copied()).filter(|(_, v)| v.is_finite()).collect();
            let annotation = if validation {
                chart.draw_series(DashedLineSeries::new(points.clone(), 10, 6, style))?
            } else {
                chart.draw_series(LineSeries::new(points.clone(), style))?
            };
            annotation.label(name).legend(move |(x, y)| {
                DashedPathElement::new(vec![(x, y), (x + 30, y)], if validation { 8 } else { 30 }, 4, style)
            });
            // A line needs two points, and short runs read better with the epochs marked.
            if points.len() <= 30 {
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, colour.filled())))?;
            }
        }

        chart
            .configure_series_labels()
            .position(self.legend_at.clone())
            .label_font((FONT, 16))
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.5))
            .draw()?;
        root.present()?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Decision boundaries
// ---------------------------------------------------------------------------------------------

/// A classifier's predictions on a regular grid over the input plane.
///
/// Cells are stored row-major with y outer: cell `(i, j)` (column `i` of `nx`, row `j` of `ny`,
/// counted from the bottom-left) is at index `j * nx + i`. [`Grid::points`] lists the cell
/// centres in that order, so predicting on them fills `classes` directly.
#[derive(Debug, Clone, PartialEq)]
pub struct Grid {
    /// `(min, max)` of the first input feature.
    pub x_range: (f32, f32),
    /// `(min, max)` of the second input feature.
    pub y_range: (f32, f32),
    /// Cells along x.
    pub nx: usize,
    /// Cells along y.
    pub ny: usize,
    /// The predicted class of each cell, `nx * ny` of them.
    pub classes: Vec<usize>,
    /// The probability of the predicted class in each cell; shades the regions when given.
    pub confidence: Option<Vec<f32>>,
}

impl Grid {
    /// The centres of the `nx * ny` cells covering `x_range × y_range`, in [`Grid`] order.
    pub fn points(x_range: (f32, f32), y_range: (f32, f32), nx: usize, ny: usize) -> Vec<[f32; 2]> {
        let dx = (x_range.1 - x_range.0) / nx as f32;
        let dy = (y_range.1 - y_range.0) / ny as f32;
        (0..ny)
            .flat_map(|j| (0..nx).map(move |i| [x_range.0 + (i as f32 + 0.5) * dx, y_range.0 + (j as f32 + 0.5) * dy]))
            .collect()
    }

    /// `(x_range, y_range)` of the data, widened by 10% of the span on each side so that the
    /// outermost points do not sit on the frame. Non-finite coordinates are ignored.
    pub fn bounds_for(x: &[[f32; 2]]) -> ((f32, f32), (f32, f32)) {
        let axis = |k: usize| {
            let (lo, hi) = x
                .iter()
                .map(|p| p[k])
                .filter(|v| v.is_finite())
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
            if lo > hi {
                return (-1.0, 1.0);
            }
            // A flat axis has no span to take 10% of; give it a unit margin.
            let margin = if hi > lo { 0.1 * (hi - lo) } else { 1.0 };
            (lo - margin, hi + margin)
        };
        (axis(0), axis(1))
    }

    fn check(&self) -> Result<()> {
        let cells = self.nx * self.ny;
        ensure!(cells > 0, "the decision grid is empty ({} × {} cells)", self.nx, self.ny);
        ensure!(
            self.classes.len() == cells,
            "the decision grid has {} predicted classes but {} × {} = {cells} cells",
            self.classes.len(),
            self.nx,
            self.ny
        );
        if let Some(confidence) = &self.confidence {
            ensure!(
                confidence.len() == cells,
                "the decision grid has {} confidences but {cells} cells",
                confidence.len()
            );
        }
        for (name, (lo, hi)) in [("x", self.x_range), ("y", self.y_range)] {
            ensure!(
                lo.is_finite() && hi.is_finite() && lo < hi,
                "the decision grid's {name} range {lo}..{hi} is not an increasing finite range"
            );
        }
        Ok(())
    }
}

fn check_points(x: &[[f32; 2]], labels: &[usize], n_classes: usize, grid: &Grid) -> Result<()> {
    grid.check()?;
    ensure!(x.len() == labels.len(), "{} points but {} labels; each point needs its class", x.len(), labels.len());
    let largest = labels.iter().chain(&grid.classes).copied().max().unwrap_or(0);
    ensure!(largest < n_classes.max(1), "class {largest} is out of range for {n_classes} classes");
    Ok(())
}

/// Draws the predicted regions and the labelled points; shared by the PNG and every GIF frame.
fn draw_decision<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    x: &[[f32; 2]],
    labels: &[usize],
    n_classes: usize,
    grid: &Grid,
    title: &str,
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (x0, x1) = grid.x_range;
    let (y0, y1) = grid.y_range;
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 22))
        .margin(12)
        .x_label_area_size(30)
        .y_label_area_size(45)
        .build_cartesian_2d(x0..x1, y0..y1)?;
    chart.configure_mesh().disable_mesh().label_style((FONT, 14)).draw()?;

    // A softmax never puts less than 1/n on its top class, so rescale from there: an unsure cell
    // is nearly white, a certain one clearly tinted.
    let floor = 1.0 / n_classes.max(2) as f32;
    let dx = (x1 - x0) / grid.nx as f32;
    let dy = (y1 - y0) / grid.ny as f32;
    chart.draw_series(grid.classes.iter().enumerate().map(|(k, &class)| {
        let (i, j) = ((k % grid.nx) as f32, (k / grid.nx) as f32);
        let strength = match &grid.confidence {
            Some(c) => f64::from(((c[k] - floor) / (1.0 - floor)).clamp(0.0, 1.0)),
            None => 0.6,
        };
        let colour = tint(class_colour(class), 0.85 - 0.45 * strength);
        Rectangle::new([(x0 + i * dx, y0 + j * dy), (x0 + (i + 1.0) * dx, y0 + (j + 1.0) * dy)], colour.filled())
    }))?;

    // Points small enough not to hide the regions on a small GIF or under thousands of points.
    let (width, height) = root.dim_in_pixel();
    let radius = if x.len() > 2000 { 2 } else { (width.min(height) / 160).clamp(2, 4) };
    chart
        .draw_series(x.iter().zip(labels).map(|(p, &c)| Circle::new((p[0], p[1]), radius, class_colour(c).filled())))?;
    // A dark rim keeps a point visible on its own class's tint.
    chart.draw_series(x.iter().map(|p| Circle::new((p[0], p[1]), radius, BLACK.mix(0.6).stroke_width(1))))?;
    Ok(())
}

/// Writes a PNG of the predicted class regions in `grid` (light tints, darker where the model is
/// more confident) with the points `x` drawn on top in the colour of their true class `labels`.
pub fn decision_boundary(
    path: &Path,
    x: &[[f32; 2]],
    labels: &[usize],
    n_classes: usize,
    grid: &Grid,
    title: &str,
) -> Result<()> {
    init_fonts();
    check_points(x, labels, n_classes, grid)?;
    let root = BitMapBackend::new(path, BOUNDARY_SIZE).into_drawing_area();
    draw_decision(&root, x, labels, n_classes, grid, title)
        .and_then(|()| Ok(root.present()?))
        .with_context(|| format!("cannot write the plot {}", path.display()))
}

/// An animated GIF being written (it loops forever): the file handling that the decision-region
/// and the curve-fit animations share.
pub(crate) struct Animation {
    root: DrawingArea<BitMapBackend<'static>, Shift>,
    path: PathBuf,
    frames: usize,
}

impl Animation {
    /// Creates the GIF file; each frame shows for `frame_delay_ms`.
    pub(crate) fn create(path: &Path, (width, height): (u32, u32), frame_delay_ms: u32) -> Result<Self> {
        init_fonts();
        let limit = u32::from(u16::MAX);
        ensure!(
            (1..=limit).contains(&width) && (1..=limit).contains(&height),
            "a GIF is 1 to {limit} pixels wide and high, not {width} × {height}"
        );
        let backend = BitMapBackend::gif(path, (width, height), frame_delay_ms)
            .with_context(|| format!("cannot create the animation {}", path.display()))?;
        Ok(Self { root: backend.into_drawing_area(), path: path.to_path_buf(), frames: 0 })
    }

    /// Draws one frame with `draw` and appends it to the file.
    pub(crate) fn add_frame(
        &mut self,
        draw: impl FnOnce(&DrawingArea<BitMapBackend<'static>, Shift>) -> Result<()>,
    ) -> Result<()> {
        draw(&self.root).and_then(|()| Ok(self.root.present()?)).with_context(|| {
            format!("cannot write frame {} of the animation {}", self.frames + 1, self.path.display())
        })?;
        self.frames += 1;
        Ok(())
    }

    /// Closes the file. A GIF without frames is an error, and its file is removed.
    ///
    /// The encoder writes the GIF trailer when it is dropped and plotters discards any error
    /// there; every frame has been written (and checked) by then, so at worst the trailer is lost.
    pub(crate) fn finish(self) -> Result<()> {
        let Self { root, path, frames } = self;
        // Dropping an unpresented canvas flushes it as a frame, so an empty GIF gets a blank
        // frame that must not be left behind.
        drop(root);
        if frames == 0 {
            // Best effort: the error below is what the caller needs to see.
            let _ = std::fs::remove_file(&path);
            bail!("no frames were added to the animation {}", path.display());
        }
        Ok(())
    }
}

/// An animated GIF of the decision regions, one frame per [`DecisionGif::add_frame`].
pub struct DecisionGif(Animation);

impl DecisionGif {
    /// Creates the GIF file (it loops forever) and shows each frame for `frame_delay_ms`.
    pub fn create(path: &Path, width: u32, height: u32, frame_delay_ms: u32) -> Result<Self> {
        Animation::create(path, (width, height), frame_delay_ms).map(Self)
    }

    /// Draws one frame, exactly as [`decision_boundary`] would, and appends it to the file.
    pub fn add_frame(
        &mut self,
        x: &[[f32; 2]],
        labels: &[usize],
        n_classes: usize,
        grid: &Grid,
        title: &str,
    ) -> Result<()> {
        // Checked before drawing so that a rejected frame leaves no half-drawn canvas behind.
        check_points(x, labels, n_classes, grid)?;
        self.0.add_frame(|root| draw_decision(root, x, labels, n_classes, grid, title))
    }

    /// Closes the file. A GIF without frames is an error, and its file is removed.
    pub fn finish(self) -> Result<()> {
        self.0.finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Confusion matrix
// ---------------------------------------------------------------------------------------------

/// Above this many classes the counts no longer fit in their cells and only colours are drawn.
const MAX_CLASSES_WITH_COUNTS: usize = 30;

/// The confusion matrix's title, its size, and the least white space either side of it.
pub const CONFUSION_TITLE: &str = "Confusion matrix (colour: share of the true class)";
const CONFUSION_TITLE_FONT: f64 = 20.0;
const TITLE_MARGIN: i32 = 12;

/// From white to dark blue (matplotlib's `Blues` end points) by `t` in `[0, 1]`.
fn blues(t: f64) -> RGBColor {
    let (lo, hi) = ((247.0, 251.0, 255.0), (8.0, 48.0, 107.0));
    let t = t.clamp(0.0, 1.0);
    let mix = |a: f64, b: f64| (a + (b - a) * t).round() as u8;
    RGBColor(mix(lo.0, hi.0), mix(lo.1, hi.1), mix(lo.2, hi.2))
}

/// Writes a heat-map PNG of `counts[true][predicted]` with the count in each cell.
///
/// A cell's colour is its share of the true class's row, so a rare class's mistakes show as
/// clearly as a common one's; the number is the raw count. Above 30 classes the numbers are left
/// out, and long class names on the predicted axis are turned vertical.
pub fn confusion_matrix(path: &Path, counts: &[Vec<usize>], class_names: &[String]) -> Result<()> {
    init_fonts();
    let n = counts.len();
    ensure!(n > 0, "the confusion matrix has no classes");
    ensure!(class_names.len() == n, "the confusion matrix has {n} rows but {} class names", class_names.len());
    if let Some((row, r)) = counts.iter().enumerate().find(|(_, r)| r.len() != n) {
        bail!("row {row} of the confusion matrix has {} columns; a {n}-class matrix needs {n}", r.len());
    }
    let layout = MatrixLayout::new(n, class_names);
    let root = BitMapBackend::new(path, layout.size).into_drawing_area();
    draw_confusion(&root, &layout, counts, class_names)
        .and_then(|()| Ok(root.present()?))
        .with_context(|| format!("cannot write the plot {}", path.display()))
}

/// Pixel geometry of a confusion matrix, sized from the class count and the longest name.
struct MatrixLayout {
    size: (u32, u32),
    /// Top-left corner of the cell grid.
    origin: (i32, i32),
    cell: i32,
    label_font: f64,
    count_font: f64,
    /// Width of the longest class name at `label_font`.
    widest: i32,
    /// Height of the band of predicted-class names under the grid.
    x_labels_height: i32,
    vertical_x_labels: bool,
}

impl MatrixLayout {
    fn new(n: usize, class_names: &[String]) -> Self {
        // About 600 px of matrix; cells stay at least 12 px (readable colours) and at most 120 px.
        let cell = (600 / n as i32).clamp(12, 120);
        let label_font = (f64::from(cell) * 0.45).clamp(9.0, 18.0);
        let count_font = (f64::from(cell) * 0.32).clamp(8.0, 22.0);
        let widest = class_names.iter().map(|name| text_width(name, label_font)).max().unwrap_or(0);
        let vertical_x_labels = widest > cell - 4;
        let x_labels_height = if vertical_x_labels { widest + 10 } else { label_font as i32 + 10 };
        let (title_h, axis_title, pad) = (45, 34, 15);
        let side = cell * n as i32;
        // The title is wider than a matrix of few classes: the image widens to hold it, the
        // matrix centred under it.
        let bare_width = pad + axis_title + widest + 10 + side + pad + 10;
        let width = bare_width.max(text_width(CONFUSION_TITLE, CONFUSION_TITLE_FONT) + 2 * TITLE_MARGIN);
        let left = pad + axis_title + widest + 10 + (width - bare_width) / 2;
        let top = title_h;
        let height = top + side + x_labels_height + axis_title + pad;
        Self {
            size: (width as u32, height as u32),
            origin: (left, top),
            cell,
            label_font,
            count_font,
            widest,
            x_labels_height,
            vertical_x_labels,
        }
    }
}

/// Width of `text` in pixels; measuring needs only the font, not a drawing area.
fn text_width(text: &str, size: f64) -> i32 {
    (FONT, size)
        .into_font()
        .box_size(text)
        .map(|(w, _)| w as i32)
        .unwrap_or_else(|_| (0.6 * size * text.chars().count() as f64) as i32)
}

fn draw_confusion<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    layout: &MatrixLayout,
    counts: &[Vec<usize>],
    class_names: &[String],
) -> Result<()>
where
    DB::ErrorType: 'static,
{
    let n = counts.len() as i32;
    let (ox, oy) = layout.origin;
    let cell = layout.cell;
    let side = cell * n;
    let centred = |size: f64| (FONT, size).into_font().color(&BLACK).pos(Pos::new(HPos::Center, VPos::Center));
    root.fill(&WHITE)?;
    root.draw_text(CONFUSION_TITLE, &centred(CONFUSION_TITLE_FONT), (layout.size.0 as i32 / 2, 22))?;

    let show_counts = counts.len() <= MAX_CLASSES_WITH_COUNTS;
    for (t, row) in counts.iter().enumerate() {
        let total: usize = row.iter().sum();
        for (p, &count) in row.iter().enumerate() {
            let share = if total > 0 { count as f64 / total as f64 } else { 0.0 };
            let (x, y) = (ox + p as i32 * cell, oy + t as i32 * cell);
            root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], blues(share).filled()))?;
            if show_counts {
                let ink = if share > 0.5 { WHITE } else { BLACK };
                root.draw_text(
                    &count.to_string(),
                    &centred(layout.count_font).color(&ink),
                    (x + cell / 2, y + cell / 2),
                )?;
            }
        }
    }
    root.draw(&Rectangle::new([(ox, oy), (ox + side, oy + side)], BLACK.mix(0.6).stroke_width(1)))?;

    // Class names: true classes down the left, predicted classes along the bottom.
    let label = centred(layout.label_font);
    let right_aligned = label.pos(Pos::new(HPos::Right, VPos::Center));
    let x_label = if layout.vertical_x_labels {
        label.transform(FontTransform::Rotate270).pos(Pos::new(HPos::Right, VPos::Center))
    } else {
        label.pos(Pos::new(HPos::Center, VPos::Top))
    };
    for (k, name) in class_names.iter().enumerate() {
        let mid = k as i32 * cell + cell / 2;
        root.draw_text(name, &right_aligned, (ox - 6, oy + mid))?;
        root.draw_text(name, &x_label, (ox + mid, oy + side + 6))?;
    }

    root.draw_text("predicted", &centred(18.0), (ox + side / 2, oy + side + layout.x_labels_height + 14))?;
    root.draw_text(
        "true",
        &centred(18.0).transform(FontTransform::Rotate270),
        (ox - layout.widest - 30, oy + side / 2),
    )?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Search scores
// ---------------------------------------------------------------------------------------------

/// Height of one panel of [`search_scores`] (its width is the learning curves').
const SCORE_PANEL_HEIGHT: u32 = 360;

/// Where the trials of one searched setting lie.
pub enum ScoreAxis {
    /// Numbers, drawn on a linear or a log axis.
    Numeric {
        /// A log axis (the range was log, or the values span a factor of 10 or more).
        log: bool,
    },
    /// Values drawn as evenly spaced categories, in the order given.
    Categories(Vec<String>),
}

/// One panel of [`search_scores`]: a searched setting and every trial's score against it.
pub struct ScorePanel {
    /// The setting's name (the x axis).
    pub name: String,
    /// How its values lie.
    pub axis: ScoreAxis,
    /// Per trial: the x position (the number, or the category's index), the mean score, its
    /// standard deviation, and the epochs it trained for (one colour per budget).
    pub points: Vec<(f64, f64, f64, usize)>,
}

/// Draws the score of every trial against each searched setting into one PNG, a panel per
/// setting stacked top to bottom, with ± one standard deviation as error bars.
pub fn search_scores(path: &Path, metric: &str, panels: &[ScorePanel]) -> Result<()> {
    init_fonts();
    ensure!(!panels.is_empty(), "nothing was searched, so there is no score to plot");
    let size = (CURVE_SIZE.0, SCORE_PANEL_HEIGHT * panels.len() as u32);
    let root = BitMapBackend::new(path, size).into_drawing_area();
    draw_scores(root, metric, panels).with_context(|| format!("cannot write the plot {}", path.display()))
}

fn draw_scores<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, metric: &str, panels: &[ScorePanel]) -> Result<()>
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let areas = root.split_evenly((panels.len(), 1));
    let mut budgets: Vec<usize> = panels.iter().flat_map(|p| p.points.iter().map(|q| q.3)).collect();
    budgets.sort_unstable();
    budgets.dedup();
    for (area, panel) in areas.iter().zip(panels) {
        let finite: Vec<&(f64, f64, f64, usize)> = panel.points.iter().filter(|p| p.1.is_finite()).collect();
        let (y_lo, y_hi) = padded_range(finite.iter().flat_map(|p| [p.1 - p.2, p.1 + p.2]));
        let (log, labels) = match &panel.axis {
            ScoreAxis::Numeric { log } => (*log, None),
            ScoreAxis::Categories(c) => (false, Some(c.clone())),
        };
        let fx = |x: f64| if log { x.log10() } else { x };
        let (x_lo, x_hi) = match &labels {
            Some(c) => (-0.5, c.len() as f64 - 0.5),
            None => padded_range(finite.iter().map(|p| fx(p.0))),
        };
        let title = format!("{metric} against {}", panel.name);
        let mut chart = ChartBuilder::on(area)
            .caption(title, (FONT, 22))
            .margin(15)
            .x_label_area_size(45)
            .y_label_area_size(70)
            .build_cartesian_2d(x_lo..x_hi, y_lo..y_hi)?;
        let label = |x: &f64| match &labels {
            Some(c) => {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    c.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            }
            None if log => format!("{:.1e}", 10f64.powf(*x)),
            None => {
                // Six decimals at most, trailing zeros dropped: `0.03`, not `0.030000000000000`.
                let t = format!("{x:.6}");
                t.trim_end_matches('0').trim_end_matches('.').to_string()
            }
        };
        let x_desc = if log { format!("{} (log scale)", panel.name) } else { panel.name.clone() };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(x_desc)
            .y_desc(metric)
            .axis_desc_style((FONT, 16))
            .label_style((FONT, 13))
            .light_line_style(RGBColor(235, 235, 235))
            .x_label_formatter(&label);
        if let Some(c) = &labels {
            // One tick per category, at its index.
            mesh.x_labels(c.len().max(2) * 2 + 1);
        }
        mesh.draw()?;
        for (b, &epochs) in budgets.iter().enumerate() {
            let colour = PALETTE[b % PALETTE.len()];
            let pts: Vec<(f64, f64, f64)> =
                finite.iter().filter(|p| p.3 == epochs).map(|p| (fx(p.0), p.1, p.2)).collect();
            chart.draw_series(
                pts.iter().map(|&(x, y, sd)| PathElement::new(vec![(x, y - sd), (x, y + sd)], colour.stroke_width(2))),
            )?;
            let series = chart.draw_series(pts.iter().map(|&(x, y, _)| Circle::new((x, y), 5, colour.filled())))?;
            if budgets.len() > 1 {
                series
                    .label(format!("{epochs} epochs"))
                    .legend(move |(x, y)| Circle::new((x + 10, y), 5, colour.filled()));
            }
        }
        if budgets.len() > 1 {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::LowerRight)
                .label_font((FONT, 14))
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.5))
                .draw()?;
        }
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::fs::{self, File};
    use std::io::BufReader;

    /// A fresh, empty directory per test, so parallel tests never share files. It is removed
    /// when the test ends unless `MLP_KEEP_TEST_PLOTS` is set, which is how to look at the plots.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("mlp-plots-{}-{name}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            Self(dir)
        }
    }

    impl std::ops::Deref for TempDir {
        type Target = Path;
        fn deref(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            if std::env::var_os("MLP_KEEP_TEST_PLOTS").is_none() {
                let _ = fs::remove_dir_all(&self.0);
            }
        }
    }

    /// The trimmed contents of every `<text>` element of an SVG.
    fn svg_texts(svg: &str) -> Vec<&str> {
        svg.split("<text").skip(1).filter_map(|t| Some(t.split_once('>')?.1.split_once("</text>")?.0.trim())).collect()
    }

    /// Decodes a PNG into (width, height, RGB pixels).
    fn decode_png(path: &Path) -> (u32, u32, Vec<[u8; 3]>) {
        let decoder = png::Decoder::new(BufReader::new(File::open(path).unwrap()));
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        let samples = info.color_type.samples();
        assert!(samples >= 3, "expected a colour PNG, got {:?}", info.color_type);
        let pixels = buf[..info.buffer_size()].chunks_exact(samples).map(|p| [p[0], p[1], p[2]]).collect();
        (info.width, info.height, pixels)
    }

    fn rgb(c: RGBColor) -> [u8; 3] {
        [c.0, c.1, c.2]
    }

    fn distinct(pixels: &[[u8; 3]]) -> usize {
        pixels.iter().collect::<HashSet<_>>().len()
    }

    fn non_white(pixels: &[[u8; 3]]) -> usize {
        pixels.iter().filter(|p| **p != [255, 255, 255]).count()
    }

    fn two_spirals(n: usize) -> (Vec<[f32; 2]>, Vec<usize>) {
        (0..n)
            .map(|i| {
                // Two spiral arms, one per class, deterministic without an RNG.
                let class = i % 2;
                let (t, r) = (i as f32 * 2.4, 0.9 * (i as f32 * 0.618).fract().sqrt());
                let centre = if class == 0 { -0.8 } else { 0.8 };
                ([centre + r * t.cos(), centre + r * t.sin()], class)
            })
            .unzip()
    }

    /// A linear classifier's predictions on the grid, with the split moved by `shift`.
    fn linear_grid(x: &[[f32; 2]], nx: usize, ny: usize, shift: f32) -> Grid {
        let (x_range, y_range) = Grid::bounds_for(x);
        let points = Grid::points(x_range, y_range, nx, ny);
        let score = |p: &[f32; 2]| p[0] + p[1] - shift;
        Grid {
            x_range,
            y_range,
            nx,
            ny,
            classes: points.iter().map(|p| usize::from(score(p) > 0.0)).collect(),
            confidence: Some(points.iter().map(|p| 1.0 / (1.0 + (-score(p).abs() * 2.0).exp())).collect()),
        }
    }

    #[test]
    fn grid_points_are_cell_centres_with_y_outer() {
        let points = Grid::points((0.0, 4.0), (0.0, 2.0), 2, 2);
        assert_eq!(points, vec![[1.0, 0.5], [3.0, 0.5], [1.0, 1.5], [3.0, 1.5]]);
    }

    #[test]
    fn bounds_add_a_ten_percent_margin() {
        let (xr, yr) = Grid::bounds_for(&[[0.0, 10.0], [10.0, 20.0]]);
        assert_eq!(xr, (-1.0, 11.0));
        assert_eq!(yr, (9.0, 21.0));
        // Degenerate input still gives a usable, increasing range.
        let (xr, yr) = Grid::bounds_for(&[[3.0, 3.0]]);
        assert!(xr.0 < 3.0 && xr.1 > 3.0 && yr.0 < 3.0 && yr.1 > 3.0);
        assert_eq!(Grid::bounds_for(&[]), ((-1.0, 1.0), (-1.0, 1.0)));
    }

    #[test]
    fn learning_curves_write_png_and_svg_for_each_family() {
        let dir = TempDir::new("curves");
        let epochs: Vec<usize> = (1..=20).collect();
        let loss: Vec<f64> = epochs.iter().map(|&e| 1.0 / e as f64).collect();
        let val_loss: Vec<f64> = loss.iter().map(|l| l * 1.2 + 0.05).collect();
        let acc: Vec<f64> = loss.iter().map(|l| 1.0 - 0.5 * l).collect();
        let val_acc: Vec<f64> = acc.iter().map(|a| a - 0.03).collect();
        let series: [(&str, &[f64]); 5] =
            [("loss", &loss), ("val_loss", &val_loss), ("accuracy", &acc), ("val_accuracy", &val_acc), ("mse", &[])];
        let written = learning_curves(&dir, &epochs, &series).unwrap();
        let names: Vec<_> = written.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["loss.png", "loss.svg", "accuracy.png", "accuracy.svg"]);

        for stem in ["loss", "accuracy"] {
            let (w, h, pixels) = decode_png(&dir.join(format!("{stem}.png")));
            assert_eq!((w, h), CURVE_SIZE);
            assert!(distinct(&pixels) > 20, "{stem}.png has too few colours");
            assert!(non_white(&pixels) > 2000, "{stem}.png is nearly blank");
            // Training and validation in distinct colours.
            assert!(pixels.contains(&rgb(PALETTE[0])), "{stem}.png lacks the training curve's colour");
            assert!(pixels.contains(&rgb(PALETTE[1])), "{stem}.png lacks the validation curve's colour");

            let svg = fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
            assert!(svg.trim_start().starts_with("<svg"), "{stem}.svg: {svg:.80}");
            assert!(svg.trim_end().ends_with("</svg>"));
            assert!(svg.contains("<polyline") || svg.contains("<path"));
            let texts = svg_texts(&svg);
            for label in [stem, &format!("val_{stem}"), "epoch", "value"] {
                assert!(texts.contains(&label), "{stem}.svg lacks {label}: {texts:?}");
            }
        }
    }

    #[test]
    fn metrics_chart_is_named_after_its_metric() {
        let dir = TempDir::new("curves-mae");
        let epochs: Vec<usize> = (1..=12).collect();
        // An MSE in a house price's units: tick labels in the billions.
        let loss: Vec<f64> = epochs.iter().map(|&e| 4.0e10 / e as f64).collect();
        let val_loss: Vec<f64> = loss.iter().map(|l| l * 1.1).collect();
        let mae: Vec<f64> = epochs.iter().map(|&e| 150_000.0 / (e as f64).sqrt()).collect();
        let val_mae: Vec<f64> = mae.iter().map(|m| m * 1.05).collect();
        let series: [(&str, &[f64]); 4] =
            [("loss", &loss), ("val_loss", &val_loss), ("mae", &mae), ("val_mae", &val_mae)];
        let written = learning_curves(&dir, &epochs, &series).unwrap();
        let names: Vec<_> = written.iter().map(|p| p.file_name().unwrap().to_str().unwrap()).collect();
        assert_eq!(names, ["loss.png", "loss.svg", "mae.png", "mae.svg"]);
        for stem in ["loss", "mae"] {
            let (w, h, pixels) = decode_png(&dir.join(format!("{stem}.png")));
            assert_eq!((w, h), CURVE_SIZE);
            assert!(pixels.contains(&rgb(PALETTE[0])) && pixels.contains(&rgb(PALETTE[1])), "{stem}.png");
            assert!(non_white(&pixels) > 2000, "{stem}.png is nearly blank");
            let svg = fs::read_to_string(dir.join(format!("{stem}.svg"))).unwrap();
            let texts = svg_texts(&svg);
            // Every tick label is short, and the legend names both series.
            for label in [stem, &format!("val_{stem}")] {
                assert!(texts.contains(&label), "{stem}.svg lacks {label}: {texts:?}");
            }
            let ticks: Vec<&&str> = texts.iter().filter(|t| t.parse::<f64>().is_ok()).collect();
            assert!(ticks.len() >= 4, "{stem}.svg has too few numeric ticks: {texts:?}");
            assert!(ticks.iter().all(|t| t.len() <= 9), "{stem}.svg has long tick labels: {ticks:?}");
        }
        assert!(fs::read_to_string(dir.join("mae.svg")).unwrap().contains("Mean absolute error"));
        assert_eq!(metrics_chart(["accuracy", "val_accuracy"].into_iter()).0, "accuracy");
        assert_eq!(metrics_chart(["mae", "val_mae"].into_iter()).0, "mae");
        assert_eq!(metrics_chart(["mae", "accuracy"].into_iter()).0, "metrics");
    }

    #[test]
    fn tick_labels_are_short_and_tell_neighbours_apart() {
        for (lo, hi) in [(0.0, 1.0), (0.9, 1.0), (0.0, 4.0e10), (1.9e5, 2.1e5), (1e-7, 5e-7), (-3.0, 250.0)] {
            let step = tick_step(lo, hi, Y_TICKS);
            let ticks: Vec<f64> = (0..=Y_TICKS + 1).map(|i| (lo / step).ceil() * step + i as f64 * step).collect();
            let labels: Vec<String> = ticks.iter().map(|&v| tick_label(v, step)).collect();
            for (v, l) in ticks.iter().zip(&labels) {
                assert!(l.len() <= 9, "{lo}..{hi}: `{l}` is too long");
                let back: f64 = l.parse().unwrap();
                assert!((back - v).abs() <= 0.5 * step, "{lo}..{hi}: `{l}` is not {v}");
            }
            let unique: HashSet<&String> = labels.iter().collect();
            assert_eq!(unique.len(), labels.len(), "{lo}..{hi}: repeated labels {labels:?}");
        }
    }

    /// The columns holding ink (not white) in rows `rows` of a decoded image `w` wide.
    fn ink_columns(pixels: &[[u8; 3]], w: u32, rows: std::ops::Range<u32>) -> Option<(u32, u32)> {
        let cols: Vec<u32> =
            rows.flat_map(|y| (0..w).filter(move |&x| pixels[(y * w + x) as usize] != [255, 255, 255])).collect();
        Some((*cols.iter().min()?, *cols.iter().max()?))
    }

    #[test]
    fn confusion_matrix_title_fits_its_width() {
        let dir = TempDir::new("confusion-title");
        let long: Vec<String> =
            (0..3).map(|k| format!("a rather long class name number {k} that runs on and on")).collect();
        for names in [
            vec!["a".to_string(), "b".to_string()],
            vec!["no".to_string(), "yes".to_string(), "maybe".to_string()],
            long,
            (0..12).map(|k| k.to_string()).collect(),
        ] {
            let n = names.len();
            let counts: Vec<Vec<usize>> =
                (0..n).map(|t| (0..n).map(|p| usize::from(t == p) * 9 + 1).collect()).collect();
            let path = dir.join(format!("c{n}.png"));
            confusion_matrix(&path, &counts, &names).unwrap();
            let (w, h, pixels) = decode_png(&path);
            let layout = MatrixLayout::new(n, &names);
            assert_eq!((w, h), layout.size);
            // The title's band lies above the grid; its ink must start and end inside the image.
            let (left, right) = ink_columns(&pixels, w, 0..layout.origin.1 as u32 - 2).expect("no title drawn");
            let margin = 5;
            assert!(left >= margin && right + margin < w, "{n} classes: title ink spans {left}..{right} of {w} px");
            let title_w = text_width(CONFUSION_TITLE, CONFUSION_TITLE_FONT) as u32;
            assert!(
                right - left + 4 >= title_w,
                "{n} classes: the title is drawn {} px wide, not {title_w}",
                right - left
            );
        }
    }

    #[test]
    fn learning_curves_handle_one_epoch_and_loss_only() {
        let dir = TempDir::new("curves-one");
        let written = learning_curves(&dir, &[1], &[("loss", &[0.7]), ("val_loss", &[0.8])]).unwrap();
        assert_eq!(written.len(), 2);
        let (_, _, pixels) = decode_png(&written[0]);
        // The lone epoch is drawn as a marker, not lost as a zero-length line.
        assert!(pixels.contains(&rgb(PALETTE[0])));
    }

    #[test]
    fn learning_curves_reject_mismatched_lengths() {
        let dir = TempDir::new("curves-bad");
        let err = learning_curves(&dir, &[1, 2, 3], &[("loss", &[0.5, 0.4])]).unwrap_err();
        assert!(format!("{err:#}").contains("`loss` has 2 values but there are 3 epochs"));
    }

    #[test]
    fn decision_boundary_draws_regions_and_points() {
        let dir = TempDir::new("boundary");
        let (x, labels) = two_spirals(200);
        let grid = linear_grid(&x, 80, 80, 0.0);
        let path = dir.join("boundary.png");
        decision_boundary(&path, &x, &labels, 2, &grid, "two spirals").unwrap();
        let (w, h, pixels) = decode_png(&path);
        assert_eq!((w, h), BOUNDARY_SIZE);
        assert!(distinct(&pixels) > 30);
        // The regions cover most of the plot, so most pixels are tinted.
        assert!(non_white(&pixels) > pixels.len() / 2);
        for class in 0..2 {
            assert!(pixels.contains(&rgb(class_colour(class))), "no point of class {class}");
        }
    }

    #[test]
    fn decision_gif_has_one_differing_frame_per_epoch() {
        let dir = TempDir::new("gif");
        let path = dir.join("boundary.gif");
        let (x, labels) = two_spirals(100);
        let mut gif = DecisionGif::create(&path, 320, 240, 200).unwrap();
        let shifts = [-2.0, -1.0, 0.0, 1.0];
        for (epoch, shift) in shifts.iter().enumerate() {
            let grid = linear_grid(&x, 40, 40, *shift);
            gif.add_frame(&x, &labels, 2, &grid, &format!("epoch {epoch}")).unwrap();
        }
        gif.finish().unwrap();

        let mut options = gif::DecodeOptions::new();
        options.set_color_output(gif::ColorOutput::RGBA);
        let mut decoder = options.read_info(File::open(&path).unwrap()).unwrap();
        assert_eq!((decoder.width(), decoder.height()), (320, 240));
        let mut frames = Vec::new();
        while let Some(frame) = decoder.read_next_frame().unwrap() {
            assert_eq!((frame.width, frame.height), (320, 240));
            frames.push(frame.buffer.to_vec());
        }
        assert_eq!(frames.len(), shifts.len());
        for pair in frames.windows(2) {
            assert_ne!(pair[0], pair[1], "consecutive frames are identical");
        }
        let colours: HashSet<_> = frames[0].chunks_exact(4).collect();
        assert!(colours.len() > 8, "first frame has {} colours", colours.len());
    }

    #[test]
    fn empty_gif_is_an_error_and_leaves_no_file() {
        let dir = TempDir::new("gif-empty");
        let path = dir.join("empty.gif");
        let err = DecisionGif::create(&path, 64, 64, 100).unwrap().finish().unwrap_err();
        assert!(format!("{err:#}").contains("no frames"));
        assert!(!path.exists());
    }

    #[test]
    fn confusion_matrix_for_ten_classes() {
        let dir = TempDir::new("confusion");
        let n = 10;
        let counts: Vec<Vec<usize>> =
            (0..n).map(|t| (0..n).map(|p| if t == p { 900 + 7 * t } else { (t * 3 + p) % 11 }).collect()).collect();
        let names: Vec<String> = (0..n).map(|k| k.to_string()).collect();
        let path = dir.join("confusion.png");
        confusion_matrix(&path, &counts, &names).unwrap();
        let layout = MatrixLayout::new(n, &names);
        let (w, h, pixels) = decode_png(&path);
        assert_eq!((w, h), layout.size);
        assert!(!layout.vertical_x_labels);
        assert!(distinct(&pixels) > 20);
        // Each cell is filled with its row share: check a corner of every cell, clear of the text.
        for (t, row) in counts.iter().enumerate() {
            let total: usize = row.iter().sum();
            for (p, &count) in row.iter().enumerate() {
                let x = layout.origin.0 + p as i32 * layout.cell + 3;
                let y = layout.origin.1 + t as i32 * layout.cell + 3;
                let expected = rgb(blues(count as f64 / total as f64));
                assert_eq!(pixels[(y as u32 * w + x as u32) as usize], expected, "cell {t},{p}");
            }
        }
        assert!(non_white(&pixels) > (layout.cell * layout.cell) as usize * n * n / 2);
    }

    #[test]
    fn confusion_matrix_with_many_long_names_skips_counts() {
        let dir = TempDir::new("confusion-many");
        let n = 40;
        let counts: Vec<Vec<usize>> =
            (0..n).map(|t| (0..n).map(|p| usize::from(t == p) * 50 + (t + p) % 3).collect()).collect();
        let names: Vec<String> = (0..n).map(|k| format!("class-{k}")).collect();
        let path = dir.join("confusion.png");
        confusion_matrix(&path, &counts, &names).unwrap();
        let layout = MatrixLayout::new(n, &names);
        assert!(layout.vertical_x_labels);
        let (w, h, pixels) = decode_png(&path);
        assert_eq!((w, h), layout.size);
        assert!(distinct(&pixels) > 10);
    }

    #[test]
    fn confusion_matrix_rejects_ragged_rows() {
        let dir = TempDir::new("confusion-bad");
        let names = vec!["a".to_string(), "b".to_string()];
        let err = confusion_matrix(&dir.join("c.png"), &[vec![1, 2], vec![3]], &names).unwrap_err();
        assert!(format!("{err:#}").contains("row 1 of the confusion matrix has 1 columns"));
    }

    #[test]
    fn missing_directory_is_an_error_naming_the_path() {
        let dir = TempDir::new("missing");
        let missing = dir.join("not-created");
        let (x, labels) = two_spirals(10);
        let grid = linear_grid(&x, 4, 4, 0.0);
        let names = vec!["a".to_string(), "b".to_string()];
        let errors = [
            learning_curves(&missing, &[1, 2], &[("loss", &[1.0, 0.5])]).unwrap_err(),
            decision_boundary(&missing.join("b.png"), &x, &labels, 2, &grid, "t").unwrap_err(),
            DecisionGif::create(&missing.join("b.gif"), 64, 64, 100).err().unwrap(),
            confusion_matrix(&missing.join("c.png"), &[vec![1, 0], vec![0, 1]], &names).unwrap_err(),
        ];
        for err in errors {
            let message = format!("{err:#}");
            assert!(message.contains(&missing.display().to_string()), "error does not name the path: {message}");
        }
    }
}
