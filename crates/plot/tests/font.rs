//! A font named in IAMM_PLOT_FONT that cannot be used is an error that says so (its own test
//! binary: the font is chosen once per process).

use iamm_plot::{Color, LineChart, Series, write_line_chart};

#[test]
fn an_unusable_iamm_plot_font_is_explained() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_font = dir.path().join("font.ttf");
    std::fs::write(&not_a_font, b"not a font").unwrap();
    // SAFETY: the only test of this binary; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("IAMM_PLOT_FONT", &not_a_font) };
    let chart = LineChart {
        series: vec![Series { label: "a".into(), points: vec![(0.0, 1.0), (1.0, 2.0)], color: Color::palette(0) }],
        ..LineChart::default()
    };
    let (svg, png) = (dir.path().join("a.svg"), dir.path().join("a.png"));
    let err = format!("{:#}", write_line_chart(&chart, &svg, &png).unwrap_err());
    assert!(err.contains("font.ttf: not a TrueType/OpenType font") && err.contains("IAMM_PLOT_FONT"), "{err}");
    assert!(!svg.exists());
    // The outcome is remembered, not retried with another font.
    assert_eq!(format!("{:#}", iamm_plot::font().unwrap_err()), err);
}
