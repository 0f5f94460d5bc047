//! Figures are written as SVG and PNG of the expected size, carry their labels and series, and
//! bad input is refused with a message that names the culprit.

use std::path::{Path, PathBuf};

use iamm_plot::{Color, Heatmap, LineChart, PANEL_SIZE, Series, write_heatmap, write_line_chart, write_line_charts};

fn paths(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    (dir.join(format!("{name}.svg")), dir.join(format!("{name}.png")))
}

/// Decodes the PNG: (width, height, RGB pixels).
fn decode(png: &Path) -> (u32, u32, Vec<[u8; 3]>) {
    let mut reader = png::Decoder::new(std::fs::File::open(png).unwrap()).read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    let pixels = buf[..info.buffer_size()].chunks(3).map(|p| [p[0], p[1], p[2]]).collect();
    (info.width, info.height, pixels)
}

fn count(pixels: &[[u8; 3]], c: Color) -> usize {
    pixels.iter().filter(|p| **p == [c.0, c.1, c.2]).count()
}

/// The stroke colours of the SVG's polylines, as `#RRGGBB`.
fn strokes(svg: &str) -> Vec<String> {
    svg.split("<polyline").skip(1).filter_map(|p| p.split("stroke=\"").nth(1).map(|s| s[..7].to_string())).collect()
}

fn hex(c: Color) -> String {
    format!("#{:02X}{:02X}{:02X}", c.0, c.1, c.2)
}

fn chart() -> LineChart {
    LineChart {
        title: "Training loss".into(),
        x_label: "update step".into(),
        y_label: "loss (nats)".into(),
        series: vec![
            Series { label: "train loss".into(), points: (1..=100).map(|i| (i as f64, 10.0 / (i as f64).sqrt())).collect(), color: Color::palette(0) },
            Series { label: "valid NLL & more".into(), points: vec![(50.0, 3.0), (100.0, 2.0)], color: Color::palette(1) },
        ],
        hlines: vec![("reference".into(), 2.5, Color::GREY)],
        log_y: false,
    }
}

#[test]
fn a_line_chart_is_written_as_svg_and_png() {
    let dir = tempfile::tempdir().unwrap();
    let (svg, png) = paths(dir.path(), "curve");
    write_line_chart(&chart(), &svg, &png).unwrap();

    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.starts_with("<svg"), "{}", &text[..60]);
    for label in ["Training loss", "update step", "loss (nats)", "train loss", "reference (2.5)"] {
        assert!(text.contains(label), "SVG lacks '{label}'");
    }
    assert!(text.contains("valid NLL &amp; more"), "labels are XML-escaped");
    // Each series is drawn as a line in its colour (legend sample included); unused colours are not.
    let strokes = strokes(&text);
    for c in [Color::palette(0), Color::palette(1)] {
        assert!(strokes.iter().filter(|s| **s == hex(c)).count() >= 2, "series {} not drawn: {strokes:?}", hex(c));
    }
    assert!(!strokes.contains(&hex(Color::palette(2))));
    assert!(strokes.contains(&hex(Color::GREY)), "the reference line");

    let (w, h, pixels) = decode(&png);
    assert_eq!((w, h), PANEL_SIZE);
    // The long training curve paints many pixels in its exact colour, the two-point one fewer.
    let (a, b) = (count(&pixels, Color::palette(0)), count(&pixels, Color::palette(1)));
    assert!(a > 1000 && b > 100 && a > b, "series pixels {a}, {b}");
    assert_eq!(count(&pixels, Color::palette(3)), 0);
}

#[test]
fn panels_stack_and_a_log_axis_works() {
    let dir = tempfile::tempdir().unwrap();
    let (svg, png) = paths(dir.path(), "panels");
    let mut log = chart();
    log.title = "Validation PPL".into();
    log.log_y = true;
    write_line_charts(&[chart(), log], &svg, &png).unwrap();
    let (w, h, _) = decode(&png);
    assert_eq!((w, h), (PANEL_SIZE.0, 2 * PANEL_SIZE.1));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(text.contains("Training loss") && text.contains("Validation PPL"));
}

fn heatmap() -> Heatmap {
    Heatmap {
        title: "Confusion".into(),
        row_labels: vec!["sad".into(), "joyful".into(), "afraid".into()],
        col_labels: vec!["sad".into(), "joyful".into()],
        values: vec![vec![7.0, 1.0], vec![0.0, 12.0], vec![3.0, 4.0]],
        x_label: "predicted".into(),
        y_label: "gold".into(),
        show_values: true,
    }
}

#[test]
fn a_heatmap_is_written_with_labels_and_values() {
    let dir = tempfile::tempdir().unwrap();
    let (svg, png) = paths(dir.path(), "confusion");
    write_heatmap(&heatmap(), &svg, &png).unwrap();
    let text = std::fs::read_to_string(&svg).unwrap();
    for label in ["Confusion", "joyful", "afraid", "predicted", "gold", ">\n12\n<", ">\n7\n<"] {
        assert!(text.contains(label), "SVG lacks {label:?}");
    }
    let (w, h, pixels) = decode(&png);
    // Grid, labels and the colour bar fit: 2 columns and 3 rows of 26 px plus the margins.
    assert!(w > 2 * 26 + 120 && h > 3 * 26 + 100, "{w}x{h}");
    // The largest value is the scale's top colour, the smallest its bottom (viridis ends),
    // both as a 26x26 cell and in the colour bar.
    let (top, bottom) = (Color(0xfd, 0xe7, 0x25), Color(0x44, 0x01, 0x54));
    assert!(count(&pixels, top) >= 26 * 20, "{}", count(&pixels, top));
    assert!(count(&pixels, bottom) >= 26 * 20, "{}", count(&pixels, bottom));

    let mut plain = heatmap();
    plain.show_values = false;
    write_heatmap(&plain, &svg, &png).unwrap();
    // 7 is a cell's value, not one of the scale's ticks (0, 3, 6, 9, 12).
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(!text.contains(">\n7\n<") && text.contains(">\n12\n<"));
}

fn refused(f: impl FnOnce(&Path, &Path) -> anyhow::Result<()>) -> String {
    let dir = tempfile::tempdir().unwrap();
    let (svg, png) = paths(dir.path(), "bad");
    let err = f(&svg, &png).expect_err("bad input is refused");
    assert!(!svg.exists() && !png.exists(), "nothing written for bad input");
    format!("{err:#}")
}

#[test]
fn bad_line_charts_are_refused() {
    let e = refused(|s, p| write_line_chart(&LineChart { title: "t".into(), ..LineChart::default() }, s, p));
    assert!(e.contains("chart 't': no series"), "{e}");
    let e = refused(|s, p| write_line_charts(&[], s, p));
    assert!(e.contains("no chart"), "{e}");

    let mut c = chart();
    c.series[1].points.clear();
    let e = refused(|s, p| write_line_chart(&c, s, p));
    assert!(e.contains("series 'valid NLL & more' has no points"), "{e}");

    let mut c = chart();
    c.series[0].points[4].1 = f64::NAN;
    let e = refused(|s, p| write_line_chart(&c, s, p));
    assert!(e.contains("series 'train loss' point 4 is (5, NaN)"), "{e}");

    let mut c = chart();
    c.series[0].points[0].0 = f64::INFINITY;
    assert!(refused(|s, p| write_line_chart(&c, s, p)).contains("point 0 is (inf, "));

    let mut c = chart();
    c.log_y = true;
    c.series[1].points[1].1 = 0.0;
    let e = refused(|s, p| write_line_chart(&c, s, p));
    assert!(e.contains("point 1 has y = 0") && e.contains("logarithmic"), "{e}");

    let mut c = chart();
    c.hlines[0].1 = f64::NAN;
    assert!(refused(|s, p| write_line_chart(&c, s, p)).contains("reference line 'reference'"));
}

#[test]
fn bad_heatmaps_are_refused() {
    let mut h = heatmap();
    h.values[2].pop();
    let e = refused(|s, p| write_heatmap(&h, s, p));
    assert!(e.contains("row 2 has 1 values, row 0 has 2"), "{e}");

    let mut h = heatmap();
    h.values[1][0] = f64::NAN;
    let e = refused(|s, p| write_heatmap(&h, s, p));
    assert!(e.contains("row 1 ('joyful'), column 0 ('sad') is NaN"), "{e}");

    let mut h = heatmap();
    h.col_labels.pop();
    let e = refused(|s, p| write_heatmap(&h, s, p));
    assert!(e.contains("3 row labels and 1 column labels for 3 x 2 values"), "{e}");

    let e = refused(|s, p| write_heatmap(&Heatmap::default(), s, p));
    assert!(e.contains("heatmap: no values"), "{e}");
    let h = Heatmap { values: vec![vec![]], row_labels: vec!["a".into()], ..Heatmap::default() };
    assert!(refused(|s, p| write_heatmap(&h, s, p)).contains("no values"));
}

#[test]
fn an_unwritable_path_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("missing/dir/x.svg");
    let err = write_line_chart(&chart(), &svg, &dir.path().join("x.png")).unwrap_err();
    assert!(format!("{err:#}").contains("missing/dir/x.svg"), "{err:#}");
}
