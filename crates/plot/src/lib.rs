//! Figures for the pipeline's stages: line charts (training curves, association curves) and
//! heatmaps (confusion matrices), each written as an SVG and a PNG of the same drawing.
//!
//! plotters runs without its default features (they pull fontconfig): text is laid out by
//! ab_glyph with a TrueType font found at run time ([`font`]): `IAMM_PLOT_FONT`, else DejaVu
//! Sans, Liberation Sans or Noto Sans in the usual system places. Without one, writing fails
//! with an error that says what to install; the SVG cannot be written either, because plotters
//! measures every label with the font to lay the chart out.
//!
//! ```no_run
//! use iamm_plot::{Color, LineChart, Series, write_line_chart};
//! # fn main() -> anyhow::Result<()> {
//! let chart = LineChart {
//!     title: "Training loss".into(),
//!     x_label: "step".into(),
//!     y_label: "loss".into(),
//!     series: vec![Series { label: "loss".into(), points: vec![(1.0, 9.2), (2.0, 7.5)], color: Color::palette(0) }],
//!     hlines: vec![("target".into(), 3.0, Color::GREY)],
//!     ..LineChart::default()
//! };
//! write_line_chart(&chart, "curve.svg".as_ref(), "curve.png".as_ref())?;
//! # Ok(()) }
//! ```

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use plotters::coord::Shift;
use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
// The colour trait (stroke_width, filled, mix) under another name: `Color` is ours.
use plotters::style::Color as _;
use plotters::style::{FontStyle, register_font};

/// An RGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Color(pub u8, pub u8, pub u8);

impl Color {
    pub const BLACK: Color = Color(0, 0, 0);
    pub const GREY: Color = Color(120, 120, 120);
    /// Tableau 10: distinct hues that stay apart in print and for most colour-blind readers.
    pub const PALETTE: [Color; 10] = [
        Color(0x4e, 0x79, 0xa7),
        Color(0xf2, 0x8e, 0x2b),
        Color(0xe1, 0x57, 0x59),
        Color(0x76, 0xb7, 0xb2),
        Color(0x59, 0xa1, 0x4f),
        Color(0xed, 0xc9, 0x48),
        Color(0xb0, 0x7a, 0xa1),
        Color(0xff, 0x9d, 0xa7),
        Color(0x9c, 0x75, 0x5f),
        Color(0xba, 0xb0, 0xac),
    ];

    /// The `i`-th palette colour (cycles).
    pub fn palette(i: usize) -> Color {
        Self::PALETTE[i % Self::PALETTE.len()]
    }

    fn rgb(self) -> RGBColor {
        RGBColor(self.0, self.1, self.2)
    }
}

/// One line of a [`LineChart`]: points in drawing order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Series {
    pub label: String,
    pub points: Vec<(f64, f64)>,
    pub color: Color,
}

/// A line chart: series with a legend, optional labelled horizontal reference lines.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LineChart {
    pub title: String,
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<Series>,
    /// `(label, y, colour)`: dashed across the chart, in the legend as "label (y)".
    pub hlines: Vec<(String, f64, Color)>,
    /// Logarithmic y axis (every y must be positive).
    pub log_y: bool,
}

/// A heatmap of `values[row][col]` with row labels down the left side, column labels along the
/// bottom, and a colour scale beside it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Heatmap {
    pub title: String,
    pub row_labels: Vec<String>,
    pub col_labels: Vec<String>,
    pub values: Vec<Vec<f64>>,
    pub x_label: String,
    pub y_label: String,
    /// Print each cell's value in it (integers without decimals, else 2 decimals).
    pub show_values: bool,
}

/// Size of one line-chart panel, in pixels (SVG user units).
pub const PANEL_SIZE: (u32, u32) = (960, 480);

/// Writes one line chart.
pub fn write_line_chart(chart: &LineChart, svg: &Path, png: &Path) -> Result<()> {
    write_line_charts(std::slice::from_ref(chart), svg, png)
}

/// Writes several line charts as panels stacked top to bottom in one figure (for quantities
/// on different scales that belong together, e.g. training loss and validation accuracy).
pub fn write_line_charts(charts: &[LineChart], svg: &Path, png: &Path) -> Result<()> {
    if charts.is_empty() {
        bail!("no chart to draw for {}", svg.display());
    }
    for c in charts {
        check_line_chart(c)?;
    }
    emit(&Panels(charts), svg, png)
}

/// Writes a heatmap.
pub fn write_heatmap(h: &Heatmap, svg: &Path, png: &Path) -> Result<()> {
    check_heatmap(h)?;
    emit(h, svg, png)
}

/// Where the font is looked for, after `IAMM_PLOT_FONT`.
const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", // Debian, Ubuntu (fonts-dejavu-core)
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf", // Fedora
    "/usr/share/fonts/TTF/DejaVuSans.ttf",             // Arch
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",          // Alpine, older Fedora
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/liberation2/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/google-noto/NotoSans-Regular.ttf",
    "/Library/Fonts/Arial.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Finds and registers the font once per process; returns its path. Call it early (e.g.
/// before a long computation whose result will be plotted) to fail before the work.
pub fn font() -> Result<&'static Path> {
    static FONT: OnceLock<std::result::Result<PathBuf, String>> = OnceLock::new();
    FONT.get_or_init(|| load_font().map_err(|e| format!("{e:#}")))
        .as_deref()
        .map_err(|e| anyhow!("{e}"))
}

fn load_font() -> Result<PathBuf> {
    let (path, bytes) = match std::env::var_os("IAMM_PLOT_FONT") {
        // An explicit choice that does not work is an error, not a reason to pick another font.
        Some(p) => {
            let p = PathBuf::from(p);
            let bytes = std::fs::read(&p).with_context(|| format!("IAMM_PLOT_FONT={}: cannot read the font", p.display()))?;
            (p, bytes)
        }
        None => FONT_PATHS
            .iter()
            .find_map(|p| std::fs::read(p).ok().map(|b| (PathBuf::from(p), b)))
            .ok_or_else(|| {
                anyhow!(
                    "no font to draw the figures' text: install one (Debian/Ubuntu: `apt-get install \
                     fonts-dejavu-core`) or set IAMM_PLOT_FONT to a .ttf file (looked in {})",
                    FONT_PATHS[..4].join(", ")
                )
            })?,
    };
    // plotters keeps `&'static` font data: the one font of the process lives as long as it.
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    register_font("sans-serif", FontStyle::Normal, bytes)
        .map_err(|_| anyhow!("{}: not a TrueType/OpenType font (set IAMM_PLOT_FONT to a .ttf file)", path.display()))?;
    Ok(path)
}

fn check_line_chart(c: &LineChart) -> Result<()> {
    let name = if c.title.is_empty() { "line chart".to_string() } else { format!("chart '{}'", c.title) };
    if c.series.is_empty() {
        bail!("{name}: no series");
    }
    for s in &c.series {
        if s.points.is_empty() {
            bail!("{name}: series '{}' has no points", s.label);
        }
        if let Some((i, (x, y))) = s.points.iter().enumerate().find(|(_, (x, y))| !x.is_finite() || !y.is_finite()) {
            bail!("{name}: series '{}' point {i} is ({x}, {y}); every coordinate must be finite", s.label);
        }
        if c.log_y
            && let Some((i, (_, y))) = s.points.iter().enumerate().find(|(_, (_, y))| *y <= 0.0)
        {
            bail!("{name}: series '{}' point {i} has y = {y}, which a logarithmic axis cannot show", s.label);
        }
    }
    for (label, y, _) in &c.hlines {
        if !y.is_finite() || (c.log_y && *y <= 0.0) {
            bail!("{name}: reference line '{label}' at y = {y} cannot be drawn");
        }
    }
    Ok(())
}

fn check_heatmap(h: &Heatmap) -> Result<()> {
    let name = if h.title.is_empty() { "heatmap".to_string() } else { format!("heatmap '{}'", h.title) };
    let cols = h.values.first().map(Vec::len).unwrap_or(0);
    if h.values.is_empty() || cols == 0 {
        bail!("{name}: no values");
    }
    if let Some((r, row)) = h.values.iter().enumerate().find(|(_, row)| row.len() != cols) {
        bail!("{name}: row {r} has {} values, row 0 has {cols}; every row needs the same number", row.len());
    }
    if h.row_labels.len() != h.values.len() || h.col_labels.len() != cols {
        bail!(
            "{name}: {} row labels and {} column labels for {} x {cols} values",
            h.row_labels.len(),
            h.col_labels.len(),
            h.values.len()
        );
    }
    for (r, row) in h.values.iter().enumerate() {
        if let Some((c, v)) = row.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            bail!("{name}: value at row {r} ('{}'), column {c} ('{}') is {v}", h.row_labels[r], h.col_labels[c]);
        }
    }
    Ok(())
}

/// Something drawn the same way on the SVG and the bitmap backend.
trait Figure {
    fn size(&self) -> (u32, u32);
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()>;
}

fn draw_err(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("drawing failed: {e}")
}

fn emit(fig: &impl Figure, svg: &Path, png: &Path) -> Result<()> {
    font()?;
    let (w, h) = fig.size();
    let mut text = String::new();
    {
        let root = SVGBackend::with_string(&mut text, (w, h)).into_drawing_area();
        fig.draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    std::fs::write(svg, text).with_context(|| format!("writing {}", svg.display()))?;

    let mut rgb = vec![255u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area();
        fig.draw(&root)?;
        root.present().map_err(draw_err)?;
    }
    write_png(png, &rgb, (w, h))
}

fn write_png(path: &Path, rgb: &[u8], (w, h): (u32, u32)) -> Result<()> {
    let file = std::fs::File::create(path).with_context(|| format!("writing {}", path.display()))?;
    let mut enc = png::Encoder::new(std::io::BufWriter::new(file), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    let mut writer = enc.write_header().with_context(|| format!("writing {}", path.display()))?;
    writer.write_image_data(rgb).with_context(|| format!("writing {}", path.display()))?;
    writer.finish().with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

struct Panels<'a>(&'a [LineChart]);

impl Figure for Panels<'_> {
    fn size(&self) -> (u32, u32) {
        (PANEL_SIZE.0, PANEL_SIZE.1 * self.0.len() as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        root.fill(&WHITE).map_err(draw_err)?;
        for (area, chart) in root.split_evenly((self.0.len(), 1)).iter().zip(self.0) {
            draw_panel(area, chart)?;
        }
        Ok(())
    }
}

/// `lo..hi` widened by 5% on each side (in log space for a log axis), never empty.
fn padded(lo: f64, hi: f64, log: bool) -> (f64, f64) {
    if log {
        let (a, b) = padded(lo.log10(), hi.log10(), false);
        return (10f64.powf(a), 10f64.powf(b));
    }
    if hi - lo < 1e-12 * lo.abs().max(1.0) {
        let d = lo.abs().max(1.0) * 0.05;
        return (lo - d, hi + d);
    }
    let d = (hi - lo) * 0.05;
    (lo - d, hi + d)
}

fn draw_panel<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, c: &LineChart) -> Result<()> {
    let xs = c.series.iter().flat_map(|s| s.points.iter().map(|p| p.0));
    let ys = c.series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).chain(c.hlines.iter().map(|h| h.1));
    let (x0, x1) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| (a.min(x), b.max(x)));
    let (y0, y1) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| (a.min(y), b.max(y)));
    // x starts where the data starts: no padding needed left of step 1.
    let (x0, x1) = if x1 > x0 { (x0, x1) } else { padded(x0, x1, false) };
    let (y0, y1) = padded(y0, y1, c.log_y);
    let mut builder = ChartBuilder::on(area);
    builder.margin(14).x_label_area_size(48).y_label_area_size(76);
    if !c.title.is_empty() {
        builder.caption(&c.title, ("sans-serif", 22));
    }
    if c.log_y {
        let mut chart = builder.build_cartesian_2d(x0..x1, (y0..y1).log_scale()).map_err(draw_err)?;
        fill_panel(&mut chart, c, (x0, x1))
    } else {
        let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1).map_err(draw_err)?;
        fill_panel(&mut chart, c, (x0, x1))
    }
}

fn fill_panel<'a, DB, Y>(chart: &mut ChartContext<'a, DB, Cartesian2d<RangedCoordf64, Y>>, c: &LineChart, (x0, x1): (f64, f64)) -> Result<()>
where
    DB: DrawingBackend + 'a,
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    chart
        .configure_mesh()
        .x_desc(c.x_label.as_str())
        .y_desc(c.y_label.as_str())
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 16))
        .x_label_formatter(&|v| short(*v))
        .y_label_formatter(&|v| short(*v))
        .max_light_lines(1)
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(215, 215, 215))
        .draw()
        .map_err(draw_err)?;
    for s in &c.series {
        let color = s.color.rgb();
        chart
            .draw_series(LineSeries::new(s.points.iter().copied(), color.stroke_width(2)))
            .map_err(draw_err)?
            .label(s.label.as_str())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(2)));
        // Sparse series (validation checks) get markers: a single point draws no line at all.
        if s.points.len() <= 60 {
            chart
                .draw_series(s.points.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(draw_err)?;
        }
    }
    for (label, y, col) in &c.hlines {
        let color = col.rgb();
        chart
            .draw_series(DashedLineSeries::new([(x0, *y), (x1, *y)], 8, 6, color.stroke_width(2)))
            .map_err(draw_err)?
            .label(format!("{label} ({})", short(*y)))
            .legend(move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 24, y)], 5, 3, color.stroke_width(2)));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(RGBColor(160, 160, 160))
        .draw()
        .map_err(draw_err)?;
    Ok(())
}

/// A number in at most 4 significant digits, without trailing zeros.
fn short(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e9 {
        return format!("{v:.0}");
    }
    let digits = (3 - v.abs().log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.digits$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

/// Viridis at 5 stops, linearly interpolated: perceptually ordered and readable in grey.
fn scale_color(t: f64) -> RGBColor {
    const STOPS: [(u8, u8, u8); 5] = [(0x44, 0x01, 0x54), (0x3b, 0x52, 0x8b), (0x21, 0x91, 0x8c), (0x5e, 0xc9, 0x62), (0xfd, 0xe7, 0x25)];
    let t = t.clamp(0.0, 1.0) * (STOPS.len() - 1) as f64;
    let i = (t.floor() as usize).min(STOPS.len() - 2);
    let f = t - i as f64;
    let mix = |a: u8, b: u8| (a as f64 + (b as f64 - a as f64) * f).round() as u8;
    let (a, b) = (STOPS[i], STOPS[i + 1]);
    RGBColor(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// Width and height of `text` at `size` px in the registered font.
fn text_box(text: &str, size: u32) -> (u32, u32) {
    ("sans-serif", size).into_font().box_size(text).unwrap_or((text.chars().count() as u32 * size * 3 / 5, size))
}

const CELL: u32 = 26;
const LABEL_PX: u32 = 13;
const DESC_PX: u32 = 15;
const TITLE_PX: u32 = 20;
const BAR_WIDTH: u32 = 18;

/// Pixel layout of a heatmap: grid origin, label extents, colour bar position.
struct Layout {
    top: i32,
    left: i32,
    grid: (i32, i32),
    col_label_height: i32,
    bar_x: i32,
    size: (u32, u32),
}

impl Heatmap {
    fn layout(&self) -> Layout {
        let longest = |ls: &[String]| ls.iter().map(|l| text_box(l, LABEL_PX).0).max().unwrap_or(0) as i32;
        let (rows, cols) = (self.values.len() as i32, self.values[0].len() as i32);
        let top = 12 + if self.title.is_empty() { 0 } else { TITLE_PX as i32 + 16 };
        let left = 12 + if self.y_label.is_empty() { 0 } else { DESC_PX as i32 + 12 } + longest(&self.row_labels) + 8;
        let grid = (cols * CELL as i32, rows * CELL as i32);
        // Column labels are drawn rotated: their width is the height below the grid.
        let col_label_height = longest(&self.col_labels) + 8;
        let bar_x = left + grid.0 + 24;
        let ticks = self.ticks().iter().map(|&v| text_box(&short(v), LABEL_PX - 1).0).max().unwrap_or(0) as i32;
        let title = if self.title.is_empty() { 0 } else { text_box(&self.title, TITLE_PX).0 as i32 + 24 };
        let w = (bar_x + BAR_WIDTH as i32 + 8 + ticks + 16).max(title);
        let h = top + grid.1.max(120) + col_label_height + if self.x_label.is_empty() { 0 } else { DESC_PX as i32 + 16 } + 12;
        Layout { top, left, grid, col_label_height, bar_x, size: (w as u32, h as u32) }
    }

    fn range(&self) -> (f64, f64) {
        let (lo, hi) = self.values.iter().flatten().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        if hi > lo { (lo, hi) } else { (lo, lo + 1.0) }
    }

    /// Five evenly spaced values of the colour scale, ends included.
    fn ticks(&self) -> Vec<f64> {
        let (lo, hi) = self.range();
        (0..5).map(|i| lo + (hi - lo) * i as f64 / 4.0).collect()
    }
}

impl Figure for Heatmap {
    fn size(&self) -> (u32, u32) {
        self.layout().size
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<()> {
        use plotters::style::text_anchor::{HPos, Pos, VPos};
        root.fill(&WHITE).map_err(draw_err)?;
        let Layout { top, left, grid, col_label_height, bar_x, size } = self.layout();
        let (lo, hi) = self.range();
        let t = |v: f64| (v - lo) / (hi - lo);
        let cell = CELL as i32;
        let text = |s: &str, at: (i32, i32), style: TextStyle| root.draw(&Text::new(s.to_string(), at, style)).map_err(draw_err);
        let font = |px: u32| TextStyle::from(("sans-serif", px).into_font()).color(&BLACK);

        if !self.title.is_empty() {
            text(&self.title, (size.0 as i32 / 2, 12), font(TITLE_PX).pos(Pos::new(HPos::Center, VPos::Top)))?;
        }
        let integers = self.values.iter().flatten().all(|v| v.fract() == 0.0);
        for (r, row) in self.values.iter().enumerate() {
            let y = top + r as i32 * cell;
            for (c, &v) in row.iter().enumerate() {
                let x = left + c as i32 * cell;
                root.draw(&Rectangle::new([(x, y), (x + cell, y + cell)], scale_color(t(v)).filled())).map_err(draw_err)?;
                if self.show_values {
                    let s = if integers { format!("{v:.0}") } else { format!("{v:.2}") };
                    // Light text on the dark half of the scale.
                    let color = if t(v) < 0.55 { WHITE } else { BLACK };
                    let style = TextStyle::from(("sans-serif", 10).into_font()).color(&color).pos(Pos::new(HPos::Center, VPos::Center));
                    text(&s, (x + cell / 2, y + cell / 2), style)?;
                }
            }
            let style = font(LABEL_PX).pos(Pos::new(HPos::Right, VPos::Center));
            text(&self.row_labels[r], (left - 6, y + cell / 2), style)?;
        }
        root.draw(&Rectangle::new([(left, top), (left + grid.0, top + grid.1)], BLACK.stroke_width(1))).map_err(draw_err)?;
        for (c, label) in self.col_labels.iter().enumerate() {
            // Rotated a quarter turn clockwise: the text reads downwards from the grid's edge.
            let style = font(LABEL_PX).transform(FontTransform::Rotate90).pos(Pos::new(HPos::Left, VPos::Center));
            text(label, (left + c as i32 * cell + cell / 2, top + grid.1 + 6), style)?;
        }
        if !self.x_label.is_empty() {
            let style = font(DESC_PX).pos(Pos::new(HPos::Center, VPos::Top));
            text(&self.x_label, (left + grid.0 / 2, top + grid.1 + col_label_height + 8), style)?;
        }
        if !self.y_label.is_empty() {
            let style = font(DESC_PX).transform(FontTransform::Rotate270).pos(Pos::new(HPos::Center, VPos::Center));
            text(&self.y_label, (12 + DESC_PX as i32 / 2, top + grid.1 / 2), style)?;
        }

        // The colour scale: 100 bands from lo (bottom) to hi (top), beside the grid.
        let bar_h = grid.1.max(120);
        let band = |i: i32| top + bar_h - (bar_h * i) / 100;
        for i in 0..100 {
            let rect = Rectangle::new([(bar_x, band(i + 1)), (bar_x + BAR_WIDTH as i32, band(i))], scale_color(i as f64 / 99.0).filled());
            root.draw(&rect).map_err(draw_err)?;
        }
        root.draw(&Rectangle::new([(bar_x, top), (bar_x + BAR_WIDTH as i32, top + bar_h)], BLACK.stroke_width(1))).map_err(draw_err)?;
        for v in self.ticks() {
            let y = top + bar_h - (t(v) * bar_h as f64).round() as i32;
            let x = bar_x + BAR_WIDTH as i32;
            root.draw(&PathElement::new(vec![(x, y), (x + 4, y)], BLACK.stroke_width(1))).map_err(draw_err)?;
            text(&short(v), (x + 7, y), font(LABEL_PX - 1).pos(Pos::new(HPos::Left, VPos::Center)))?;
        }
        Ok(())
    }
}
