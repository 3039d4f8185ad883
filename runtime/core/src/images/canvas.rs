//! A tiny RGB raster with just the drawing the runtime's pictures need (rectangles, thick lines,
//! bitmap text) and PNG encoding.
//!
//! **Invariant**: drawing outside the canvas is clipped silently, so callers can draw with
//! coordinates computed from arbitrary data without bounds checks of their own.

use super::font;
use crate::fsutil::{IoError, atomic_write};
use image::ImageEncoder;
use image::codecs::png::PngEncoder;
use std::path::Path;

pub(crate) type Rgb = [u8; 3];

pub(crate) struct Canvas {
    pub width: usize,
    pub height: usize,
    pixels: Vec<u8>,
}

impl Canvas {
    pub fn new(width: usize, height: usize, background: Rgb) -> Canvas {
        let pixels = background.iter().copied().cycle().take(width * height * 3).collect();
        Canvas { width, height, pixels }
    }

    pub fn set(&mut self, x: i64, y: i64, colour: Rgb) {
        if x < 0 || y < 0 || x as usize >= self.width || y as usize >= self.height {
            return;
        }
        let at = (y as usize * self.width + x as usize) * 3;
        self.pixels[at..at + 3].copy_from_slice(&colour);
    }

    #[cfg(test)]
    pub fn get(&self, x: usize, y: usize) -> Rgb {
        let at = (y * self.width + x) * 3;
        [self.pixels[at], self.pixels[at + 1], self.pixels[at + 2]]
    }

    pub fn fill_rect(&mut self, x: i64, y: i64, w: i64, h: i64, colour: Rgb) {
        for yy in y.max(0)..(y + h).min(self.height as i64) {
            for xx in x.max(0)..(x + w).min(self.width as i64) {
                self.set(xx, yy, colour);
            }
        }
    }

    /// A line of the given thickness in pixels (Bresenham with a square brush).
    pub fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), thickness: i64, colour: Rgb) {
        // Points far outside the canvas (huge values) are clamped so the loop below stays short.
        let lim = (self.width.max(self.height) * 4) as f64;
        let clamp = |v: f64| v.clamp(-lim, lim).round() as i64;
        let (mut x, mut y, x1, y1) = (clamp(x0), clamp(y0), clamp(x1), clamp(y1));
        let (dx, dy) = ((x1 - x).abs(), -(y1 - y).abs());
        let (sx, sy) = (if x < x1 { 1 } else { -1 }, if y < y1 { 1 } else { -1 });
        let mut err = dx + dy;
        let half = thickness / 2;
        loop {
            self.fill_rect(x - half, y - half, thickness, thickness, colour);
            if x == x1 && y == y1 {
                break;
            }
            let e2 = 2 * err;
            if e2 >= dy {
                err += dy;
                x += sx;
            }
            if e2 <= dx {
                err += dx;
                y += sy;
            }
        }
    }

    /// Draws text with the 5x7 font magnified `scale` times; returns the width drawn.
    pub fn text(&mut self, x: i64, y: i64, text: &str, scale: i64, colour: Rgb) -> i64 {
        let mut cx = x;
        for ch in text.chars() {
            let rows = font::glyph(ch);
            for (row, bits) in rows.iter().enumerate() {
                for col in 0..font::WIDTH {
                    if bits & (1 << (font::WIDTH - 1 - col)) != 0 {
                        self.fill_rect(cx + col as i64 * scale, y + row as i64 * scale, scale, scale, colour);
                    }
                }
            }
            cx += font::ADVANCE as i64 * scale;
        }
        cx - x
    }

    /// Draws text turned a quarter turn counter-clockwise, reading upwards from `(x, y)` (the
    /// bottom-left corner), as a vertical axis label; returns the length drawn.
    pub fn text_up(&mut self, x: i64, y: i64, text: &str, scale: i64, colour: Rgb) -> i64 {
        let mut along = 0;
        for ch in text.chars() {
            let rows = font::glyph(ch);
            for (row, bits) in rows.iter().enumerate() {
                for col in 0..font::WIDTH {
                    if bits & (1 << (font::WIDTH - 1 - col)) != 0 {
                        let u = along + col as i64;
                        self.fill_rect(x + row as i64 * scale, y - (u + 1) * scale, scale, scale, colour);
                    }
                }
            }
            along += font::ADVANCE as i64;
        }
        along * scale
    }

    pub fn encode_png(&self) -> Result<Vec<u8>, image::ImageError> {
        let mut out = Vec::new();
        PngEncoder::new(&mut out).write_image(
            &self.pixels,
            self.width as u32,
            self.height as u32,
            image::ExtendedColorType::Rgb8,
        )?;
        Ok(out)
    }

    /// Encodes to PNG and writes the file atomically.
    pub fn save_png(&self, path: &Path) -> Result<(), IoError> {
        if self.width == 0 || self.height == 0 || self.width > u32::MAX as usize || self.height > u32::MAX as usize {
            return Err(IoError::unsupported(
                path.display().to_string(),
                format!("an image of {}x{} pixels cannot be stored as png", self.width, self.height),
            ));
        }
        let bytes = self.encode_png().map_err(|e| {
            IoError::unsupported(
                path.display().to_string(),
                format!("png encoding failed: {}", crate::fsutil::lowercase_first(&e.to_string())),
            )
        })?;
        atomic_write(path, &bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drawing_is_clipped_and_lines_connect_their_ends() {
        let mut c = Canvas::new(10, 8, [255; 3]);
        c.fill_rect(-5, -5, 7, 7, [0, 0, 0]);
        assert_eq!(c.get(1, 1), [0, 0, 0]);
        assert_eq!(c.get(2, 2), [255; 3]);
        c.line((0.0, 7.0), (9.0, 7.0), 1, [1, 2, 3]);
        assert!((0..10).all(|x| c.get(x, 7) == [1, 2, 3]));
        c.line((-1e300, 0.0), (f64::MAX, 1e300), 3, [9, 9, 9]);
        let png = c.encode_png().unwrap();
        let back = image::load_from_memory(&png).unwrap().to_rgb8();
        assert_eq!((back.width(), back.height()), (10, 8));
        assert_eq!(back.get_pixel(3, 7).0, [1, 2, 3]);
    }

    #[test]
    fn text_draws_ink_and_reports_its_width() {
        let mut c = Canvas::new(40, 10, [255; 3]);
        let w = c.text(1, 1, "0.5", 1, [0, 0, 0]);
        assert_eq!(w, 3 * font::ADVANCE as i64);
        let ink = (0..40).flat_map(|x| (0..10).map(move |y| (x, y))).filter(|&(x, y)| c.get(x, y) == [0, 0, 0]).count();
        assert!(ink > 15, "{ink}");
    }

    #[test]
    fn turned_text_is_the_text_rotated() {
        let (mut flat, mut up) = (Canvas::new(20, 10, [255; 3]), Canvas::new(10, 20, [255; 3]));
        let w = flat.text(0, 0, "l1", 1, [0, 0, 0]);
        assert_eq!(up.text_up(0, 20, "l1", 1, [0, 0, 0]), w);
        // Pixel (x, y) of the flat text lands at (y, 19 - x) when turned.
        for x in 0..20 {
            for y in 0..10 {
                assert_eq!(flat.get(x, y), up.get(y, 19 - x), "({x}, {y})");
            }
        }
    }
}
