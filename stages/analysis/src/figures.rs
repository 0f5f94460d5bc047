//! Figures 3 and 4: the top-k curves with the all-words average, as SVG and PNG.

use std::path::Path;

use anyhow::Result;
use iamm_plot::{Color, LineChart, Series, write_line_chart};

use crate::words::{Analysis, CurvePoint, curve_points};

/// The paper's colours: red for the count ranking, blue for the weight ranking, gray for the
/// all-words average.
const RED: Color = Color(0xd6, 0x27, 0x28);
const BLUE: Color = Color(0x1f, 0x77, 0xb4);

/// Writes `fig3_intensity.{svg,png}` and `fig4_idf.{svg,png}` into `dir`; returns the file
/// names written. Figure 3 is skipped (empty list entry) when no associated word is in the
/// lexicon and missing words are excluded.
pub fn write_figures(a: &Analysis, lexicon_label: &str, dir: &Path) -> Result<Vec<String>> {
    let count = curve_points(&a.curves, "count")?;
    let weight = curve_points(&a.curves, "weight")?;
    let mut written = Vec::new();
    let series = |pts: &[CurvePoint], pick: &dyn Fn(&CurvePoint) -> Option<f64>, label: &str, color| Series {
        label: label.to_string(),
        points: pts.iter().filter_map(|p| pick(p).map(|y| (p.0, y))).collect(),
        color,
    };
    let intensity = |p: &CurvePoint| p.1;
    let idf = |p: &CurvePoint| Some(p.2);
    if let Some(avg) = a.test.intensity {
        let chart = LineChart {
            title: format!("Emotion intensity of the top-k associated words ({lexicon_label})"),
            x_label: "k (top-k words)".into(),
            y_label: "mean emotion intensity".into(),
            series: vec![
                series(&count, &intensity, "ranked by attention count", RED),
                series(&weight, &intensity, "ranked by model weight", BLUE),
            ],
            hlines: vec![("all test words".into(), avg, Color::GREY)],
            log_y: false,
        };
        write_line_chart(&chart, &dir.join("fig3_intensity.svg"), &dir.join("fig3_intensity.png"))?;
        written.extend(["fig3_intensity.svg".to_string(), "fig3_intensity.png".to_string()]);
    }
    let chart = LineChart {
        title: "IDF of the top-k associated words".into(),
        x_label: "k (top-k words)".into(),
        y_label: "mean IDF".into(),
        series: vec![
            series(&count, &idf, "ranked by attention count", RED),
            series(&weight, &idf, "ranked by model weight", BLUE),
        ],
        hlines: vec![("all test words".into(), a.test.idf, Color::GREY)],
        log_y: false,
    };
    write_line_chart(&chart, &dir.join("fig4_idf.svg"), &dir.join("fig4_idf.png"))?;
    written.extend(["fig4_idf.svg".to_string(), "fig4_idf.png".to_string()]);
    Ok(written)
}
