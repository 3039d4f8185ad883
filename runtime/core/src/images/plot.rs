//! Loss curves drawn by hand: axes, a light grid, one coloured polyline per series, labels for
//! the smallest and largest step and value, and a legend, all on a white PNG.
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

/// Draws `series` (name, `(step, value)` points in drawing order) as a line plot.
pub fn plot_loss_curve(path: impl AsRef<Path>, series: &[(&str, &[(f64, f64)])]) -> Result<(), IoError> {
    draw(series).save_png(path.as_ref())
}

/// The finite bounding box of all points, widened when it is degenerate.
fn bounds(series: &[(&str, &[(f64, f64)])]) -> Option<((f64, f64), (f64, f64))> {
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

fn draw(series: &[(&str, &[(f64, f64)])]) -> Canvas {
    let mut c = Canvas::new(WIDTH, HEIGHT, WHITE);
    let char_w = font::ADVANCE as i64 * TEXT_SCALE;
    let data = bounds(series);
    let labels = data
        .map(|((x0, x1), (y0, y1))| ([format_number(x0), format_number(x1)], [format_number(y0), format_number(y1)]));
    let label_w = labels.as_ref().map_or(0, |(_, ys)| ys.iter().map(|s| s.len() as i64).max().unwrap_or(0) * char_w);
    let (left, right) = (16 + label_w + 8, WIDTH as i64 - 24);
    let (top, bottom) = (16 + TEXT_HEIGHT + 14, HEIGHT as i64 - (16 + TEXT_HEIGHT + 8));
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

    let Some(((dx0, dx1), (dy0, dy1))) = data else {
        let msg = "no data";
        c.text((left + right) / 2 - msg.len() as i64 * char_w / 2, (top + bottom) / 2, msg, TEXT_SCALE, AXIS);
        return c;
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
            let w = text.len() as i64 * char_w;
            c.text(left - 8 - w, y - TEXT_HEIGHT / 2, text, TEXT_SCALE, AXIS);
        }
        let y = bottom + 8;
        c.text(left, y, &xl0, TEXT_SCALE, AXIS);
        let w = xl1.len() as i64 * char_w;
        c.text(right - w, y, &xl1, TEXT_SCALE, AXIS);
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
        c.fill_rect(lx, 16 + TEXT_HEIGHT / 2 - 2, 24, 4, colour);
        lx += 30;
        lx += c.text(lx, 16, name, TEXT_SCALE, AXIS) + 2 * char_w;
    }
    c
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
        let c = draw(&[("train loss", &train)]);
        let label_w = format_number(0.02).len() as i64 * font::ADVANCE as i64 * TEXT_SCALE;
        let left = (16 + label_w + 8) as usize;
        let top = (16 + TEXT_HEIGHT + 14) as f64;
        let ph = (HEIGHT as i64 - (16 + TEXT_HEIGHT + 8)) as f64 - top;
        let y_first = (top + ph * 0.05 / 1.1).round() as usize;
        assert_eq!(c.get(left, y_first), PALETTE[0]);
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
