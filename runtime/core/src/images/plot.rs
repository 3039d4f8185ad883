//! Loss curves drawn by hand: axes labelled with their quantity (the vertical label turned a
//! quarter turn), a light grid, one coloured polyline per series, labels for the smallest and
//! largest step and value, and a legend, all on a white PNG. A picture holds one panel or
//! several stacked ones (the loss, then each metric) sharing the step axis's meaning.
//!
//! Non-finite points (a diverged loss) are skipped and break the line, so one NaN does not hide
//! the rest of the curve.

use super::canvas::{Canvas, Rgb};
use super::font;
use crate::fsutil::IoError;
use std::path::Path;

const WIDTH: usize = 800;
const HEIGHT: usize = 480;
/// Font magnification for every label.
const TEXT_SCALE: i64 = 2;
const TEXT_HEIGHT: i64 = font::HEIGHT as i64 * TEXT_SCALE;
const WHITE: Rgb = [255, 255, 255];
const AXIS: Rgb = [40, 40, 40];
const GRID: Rgb = [225, 225, 225];
const GRID_LINES: usize = 5;
/// Series colours (the "tab10" palette), reused cyclically.
pub(crate) const PALETTE: [Rgb; 10] = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
];

/// One plot: named series of `(x, y)` points, in drawing order, and the axes' labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Panel {
    pub x_label: String,
    pub y_label: String,
    pub series: Vec<(String, Vec<(f64, f64)>)>,
}

/// Draws `series` (name, `(step, value)` points in drawing order) as a line plot with the axes
/// labelled `step` and `loss`.
pub fn plot_loss_curve(path: impl AsRef<Path>, series: &[(&str, &[(f64, f64)])]) -> Result<(), IoError> {
    let series = series.iter().map(|(n, p)| (n.to_string(), p.to_vec())).collect();
    plot_panels(path, &[Panel { x_label: "step".into(), y_label: "loss".into(), series }])
}

/// Draws the panels one below the other, each [`HEIGHT`] pixels high, their plot areas
/// aligned.
pub fn plot_panels(path: impl AsRef<Path>, panels: &[Panel]) -> Result<(), IoError> {
    let mut c = Canvas::new(WIDTH, HEIGHT * panels.len().max(1), WHITE);
    let label_w = panels.iter().map(|p| value_labels_width(&p.series)).max().unwrap_or(0);
    if panels.is_empty() {
        draw(&mut c, 0, &Panel::default(), label_w);
    }
    for (i, panel) in panels.iter().enumerate() {
        draw(&mut c, (i * HEIGHT) as i64, panel, label_w);
    }
    c.save_png(path.as_ref())
}

/// The labels of the extreme steps and values: `([x0, x1], [y0, y1])`.
fn extreme_labels(series: &[(String, Vec<(f64, f64)>)]) -> Option<([String; 2], [String; 2])> {
    bounds(series)
        .map(|((x0, x1), (y0, y1))| ([format_number(x0), format_number(x1)], [format_number(y0), format_number(y1)]))
}

/// The width of the widest value label, in pixels.
fn value_labels_width(series: &[(String, Vec<(f64, f64)>)]) -> i64 {
    let char_w = font::ADVANCE as i64 * TEXT_SCALE;
    extreme_labels(series).map_or(0, |(_, ys)| ys.iter().map(|s| s.len() as i64).max().unwrap_or(0) * char_w)
}

/// The finite bounding box of all points, widened when it is degenerate.
fn bounds(series: &[(String, Vec<(f64, f64)>)]) -> Option<((f64, f64), (f64, f64))> {
    let finite = series.iter().flat_map(|(_, pts)| pts.iter()).filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::INFINITY, f64::NEG_INFINITY);
    for &(x, y) in finite {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    (x0 <= x1).then_some(((x0, x1), (y0, y1)))
}

/// Widens a range so it has positive length; `pad` adds that fraction on both sides.
fn widen((lo, hi): (f64, f64), pad: f64) -> (f64, f64) {
    let span = hi - lo;
    if span > 0.0 && span.is_finite() {
        (lo - span * pad, hi + span * pad)
    } else {
        let d = (lo.abs() * 0.1).max(0.5);
        (lo - d, hi + d)
    }
}

/// The plot area of a panel whose top is at `top0` and whose value labels are `label_w`
/// pixels wide: `(left, right, top, bottom)`. Left of it, from the edge: the turned axis label,
/// then the value labels; above it the legend; below it the step labels and the axis label.
fn frame(top0: i64, label_w: i64) -> (i64, i64, i64, i64) {
    let left = 16 + TEXT_HEIGHT + 10 + label_w + 8;
    (left, WIDTH as i64 - 24, top0 + 16 + TEXT_HEIGHT + 14, top0 + HEIGHT as i64 - (16 + TEXT_HEIGHT + 8))
}

/// Draws `panel` with its top at `top0`, leaving `label_w` pixels for the value labels.
fn draw(c: &mut Canvas, top0: i64, panel: &Panel, label_w: i64) {
    let series = &panel.series;
    let char_w = font::ADVANCE as i64 * TEXT_SCALE;
    let data = bounds(series);
    let labels = extreme_labels(series);
    let (left, right, top, bottom) = frame(top0, label_w);
    let (pw, ph) = ((right - left) as f64, (bottom - top) as f64);

    for k in 0..=GRID_LINES {
        let f = k as f64 / GRID_LINES as f64;
        let gx = left as f64 + f * pw;
        let gy = top as f64 + f * ph;
        c.line((gx, top as f64), (gx, bottom as f64), 1, GRID);
        c.line((left as f64, gy), (right as f64, gy), 1, GRID);
    }
    c.line((left as f64, top as f64), (left as f64, bottom as f64), 1, AXIS);
    c.line((left as f64, bottom as f64), (right as f64, bottom as f64), 1, AXIS);

    // Axis labels: the quantity turned upwards, centred left of the value labels; the step
    // centred below the axis, between the step labels.
    let text_w = |t: &str| t.chars().count() as i64 * char_w;
    let y_len = text_w(&panel.y_label);
    c.text_up(16, (top + bottom) / 2 + y_len / 2, &panel.y_label, TEXT_SCALE, AXIS);
    let label_y = bottom + 8;
    c.text((left + right) / 2 - text_w(&panel.x_label) / 2, label_y, &panel.x_label, TEXT_SCALE, AXIS);

    let Some(((dx0, dx1), (dy0, dy1))) = data else {
        let msg = "no data";
        c.text((left + right) / 2 - text_w(msg) / 2, (top + bottom) / 2, msg, TEXT_SCALE, AXIS);
        return;
    };
    let (x0, x1) = widen((dx0, dx1), 0.0);
    let (y0, y1) = widen((dy0, dy1), 0.05);
    let px = |x: f64| left as f64 + (x - x0) / (x1 - x0) * pw;
    let py = |y: f64| top as f64 + (1.0 - (y - y0) / (y1 - y0)) * ph;

    // Labels first, so the curves are drawn over the ticks: value extremes left of the axis at
    // their heights, step extremes below it.
    if let Some(([xl0, xl1], [yl0, yl1])) = labels {
        for (value, text) in [(dy0, &yl0), (dy1, &yl1)] {
            let y = py(value).round() as i64;
            c.line(((left - 5) as f64, y as f64), (left as f64, y as f64), 1, AXIS);
            c.text(left - 8 - text_w(text), y - TEXT_HEIGHT / 2, text, TEXT_SCALE, AXIS);
        }
        c.text(left, label_y, &xl0, TEXT_SCALE, AXIS);
        c.text(right - text_w(&xl1), label_y, &xl1, TEXT_SCALE, AXIS);
    }

    for (i, (_, points)) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        let mut prev: Option<(f64, f64)> = None;
        for &(x, y) in points.iter() {
            if !(x.is_finite() && y.is_finite()) {
                prev = None;
                continue;
            }
            let p = (px(x), py(y));
            c.line(prev.unwrap_or(p), p, 2, colour);
            prev = Some(p);
        }
    }

    // Legend across the top margin.
    let mut lx = left;
    for (i, (name, _)) in series.iter().enumerate() {
        let colour = PALETTE[i % PALETTE.len()];
        c.fill_rect(lx, top0 + 16 + TEXT_HEIGHT / 2 - 2, 24, 4, colour);
        lx += 30;
        lx += c.text(lx, top0 + 16, name, TEXT_SCALE, AXIS) + 2 * char_w;
    }
}

/// A short label: four significant digits, plain for moderate magnitudes, otherwise
/// scientific (`1.23e-5`).
pub(crate) fn format_number(v: f64) -> String {
    let a = v.abs();
    if v == 0.0 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&a) {
        return format!("{v:.2e}");
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') { s.trim_end_matches('0').trim_end_matches('.').to_string() } else { s }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(img: &image::RgbImage, colour: Rgb) -> usize {
        img.pixels().filter(|p| p.0 == colour).count()
    }

    #[test]
    fn numbers_are_formatted_compactly() {
        assert_eq!(format_number(0.0), "0");
        assert_eq!(format_number(0.123456), "0.1235");
        assert_eq!(format_number(2.5), "2.5");
        assert_eq!(format_number(1234.0), "1234");
        assert_eq!(format_number(-45.678), "-45.68");
        assert_eq!(format_number(1.5e-5), "1.50e-5");
        assert_eq!(format_number(2.0e7), "2.00e7");
    }

    #[test]
    fn curves_are_drawn_in_their_colours() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("loss.png");
        let train: Vec<(f64, f64)> = (0..100).map(|s| (s as f64, 2.0 / (1.0 + s as f64))).collect();
        let mut eval: Vec<(f64, f64)> = (0..10).map(|s| (s as f64 * 10.0, 1.5 / (1.0 + s as f64))).collect();
        eval[4].1 = f64::NAN;
        plot_loss_curve(&path, &[("train loss", &train), ("eval loss", &eval)]).unwrap();
        let img = image::load_from_memory(&std::fs::read(&path).unwrap()).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (WIDTH as u32, HEIGHT as u32));
        assert_eq!(img.get_pixel(WIDTH as u32 - 1, HEIGHT as u32 - 1).0, WHITE);
        assert!(count(&img, PALETTE[0]) > 500, "train line");
        assert!(count(&img, PALETTE[1]) > 300, "eval line");
        assert!(count(&img, PALETTE[2]) == 0);
        assert!(count(&img, AXIS) > 300, "axes and labels");
        assert!(count(&img, GRID) > 1000, "grid");
        // The first training point (step 0, the largest value) sits at the top-left of the plot.
        let mut c = Canvas::new(WIDTH, HEIGHT, WHITE);
        let panel = Panel {
            x_label: "step".into(),
            y_label: "loss".into(),
            series: vec![("train loss".into(), train.clone())],
        };
        let label_w = format_number(0.02).len() as i64 * font::ADVANCE as i64 * TEXT_SCALE;
        draw(&mut c, 0, &panel, label_w);
        let (left, _, top, bottom) = frame(0, label_w);
        let y_first = (top as f64 + (bottom - top) as f64 * 0.05 / 1.1).round() as usize;
        assert_eq!(c.get(left as usize, y_first), PALETTE[0]);
    }

    /// Ink (axis-coloured pixels) inside a rectangle.
    fn ink(img: &image::RgbImage, (x0, y0, x1, y1): (u32, u32, u32, u32)) -> usize {
        (x0..x1).flat_map(|x| (y0..y1).map(move |y| (x, y))).filter(|&(x, y)| img.get_pixel(x, y).0 == AXIS).count()
    }

    #[test]
    fn panels_stack_with_labelled_axes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("panels.png");
        let line: Vec<(f64, f64)> = (0..20).map(|s| (s as f64, 1.0 / (1.0 + s as f64))).collect();
        let panel = |y: &str| Panel {
            x_label: "step".into(),
            y_label: y.into(),
            series: vec![(format!("train {y}"), line.clone()), (format!("eval {y}"), line[..5].to_vec())],
        };
        plot_panels(&path, &[panel("loss"), panel("kl")]).unwrap();
        let img = image::load_from_memory(&std::fs::read(&path).unwrap()).unwrap().to_rgb8();
        assert_eq!((img.width(), img.height()), (WIDTH as u32, 2 * HEIGHT as u32));
        let h = HEIGHT as u32;
        for top in [0, h] {
            // The turned y label in the left strip, the x label centred under the axis.
            let left_strip = (16, top + 40, 16 + TEXT_HEIGHT as u32, top + h - 40);
            assert!(ink(&img, left_strip) > 20, "y label of the panel at {top}");
            let under =
                (WIDTH as u32 / 2 - 40, top + h - 16 - TEXT_HEIGHT as u32 - 2, WIDTH as u32 / 2 + 60, top + h - 8);
            assert!(ink(&img, under) > 20, "x label of the panel at {top}");
        }
        // Both panels have both curves.
        let colour_in = |colour: Rgb, top: u32| {
            (0..WIDTH as u32)
                .flat_map(|x| (top..top + h).map(move |y| (x, y)))
                .filter(|&(x, y)| img.get_pixel(x, y).0 == colour)
                .count()
        };
        for top in [0, h] {
            assert!(colour_in(PALETTE[0], top) > 300 && colour_in(PALETTE[1], top) > 50, "panel at {top}");
        }
        // "loss" and "kl" differ, so the two left strips differ.
        let strip = |top: u32| -> Vec<[u8; 3]> {
            (16..16 + TEXT_HEIGHT as u32)
                .flat_map(|x| (top..top + h).map(move |y| (x, y)))
                .map(|(x, y)| img.get_pixel(x, y).0)
                .collect()
        };
        assert_ne!(strip(0), strip(h));
    }

    #[test]
    fn degenerate_input_still_gives_a_picture() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("empty.png");
        plot_loss_curve(&path, &[]).unwrap();
        let nan = [(0.0, f64::NAN), (f64::INFINITY, 1.0)];
        plot_loss_curve(&path, &[("nan", &nan)]).unwrap();
        let one = [(3.0, 0.5)];
        plot_loss_curve(&path, &[("single", &one)]).unwrap();
        let img = image::load_from_memory(&std::fs::read(&path).unwrap()).unwrap().to_rgb8();
        assert!(count(&img, PALETTE[0]) > 0);
        let e = plot_loss_curve(dir.path().join("nope").join("x.png"), &[]).unwrap_err().to_string();
        assert!(e.contains("x.png"), "{e}");
    }
}
