//! PNG pictures a training run leaves behind: grids of images (samples), input/output pairs
//! (reconstructions) and loss curves with labelled axes.
//!
//! Image tensors hold one image per row of the first axis, channel-first (`[N, C, H, W]`,
//! `[N, H, W]` or flat `[N, C*H*W]`) with C = 1 (grey) or 3 (RGB); values are clamped to
//! `[0, 1]` (NaN draws black). Small images are magnified by a whole factor so every tile is at
//! least [`MIN_TILE`] pixels high, which keeps 28x28 digits legible in a file viewer.
//!
//! **Invariant**: pictures are written atomically, and a picture that would exceed
//! [`MAX_SIDE`] pixels on a side is refused with an error instead of allocated.

mod canvas;
mod font;
mod plot;

pub use plot::{Panel, plot_loss_curve, plot_panels};

use crate::fsutil::IoError;
use canvas::{Canvas, Rgb};
use hg_exec::tensor::Tensor;
use std::path::Path;

/// Tiles smaller than this are magnified by an integer factor.
pub const MIN_TILE: usize = 64;
/// The largest width or height of a picture, in pixels.
pub const MAX_SIDE: usize = 16384;
/// Space between tiles, in pixels.
const GAP: usize = 2;
/// Colour of the gaps between tiles: mid grey, visible against both black and white images.
const GAP_COLOUR: Rgb = [128, 128, 128];
/// Pairs per row of a reconstruction picture before it wraps.
const RECON_COLUMNS: usize = 16;

/// The `(channels, height, width)` of one example of a model input or output, when it looks
/// like an image: `[H*W]` with a square side, `[3*S*S]`, `[H, W]`, `[1|3, H, W]`.
pub fn infer_image_shape(shape: &[usize]) -> Option<(usize, usize, usize)> {
    match *shape {
        [d] => {
            if let Some(s) = exact_sqrt(d) {
                Some((1, s, s))
            } else if d % 3 == 0 {
                exact_sqrt(d / 3).map(|s| (3, s, s))
            } else {
                None
            }
        }
        [h, w] if h >= 2 && w >= 2 => Some((1, h, w)),
        [c @ (1 | 3), h, w] if h >= 2 && w >= 2 => Some((c, h, w)),
        _ => None,
    }
}

/// The side `s >= 2` with `s * s == n`.
fn exact_sqrt(n: usize) -> Option<usize> {
    let s = (n as f64).sqrt().round() as usize;
    (s >= 2 && s.checked_mul(s) == Some(n)).then_some(s)
}

/// Saves a grid of `cols` images per row. `image_shape` gives `(c, h, w)` of one image; when
/// `None` it is inferred from the tensor's shape with [`infer_image_shape`].
pub fn save_image_grid(
    path: impl AsRef<Path>,
    images: &Tensor,
    image_shape: Option<(usize, usize, usize)>,
    cols: usize,
) -> Result<(), IoError> {
    let path = path.as_ref();
    let shape = checked_shape(path, images, image_shape)?;
    let n = images.shape()[0];
    let cols = cols.clamp(1, n.max(1));
    let values = images.to_f64_vec();
    let per = shape.0 * shape.1 * shape.2;
    let tiles: Vec<&[f64]> = values.chunks_exact(per.max(1)).take(n).collect();
    let rows: Vec<Vec<&[f64]>> = tiles.chunks(cols).map(|r| r.to_vec()).collect();
    draw_tiles(path, &rows, shape)?.save_png(path)
}

/// Saves reconstructions: a row of inputs above a row of their outputs, pair `i` in column `i`,
/// for the first `max` examples (wrapping after [`RECON_COLUMNS`] pairs).
pub fn save_reconstructions(
    path: impl AsRef<Path>,
    inputs: &Tensor,
    outputs: &Tensor,
    image_shape: (usize, usize, usize),
    max: usize,
) -> Result<(), IoError> {
    let path = path.as_ref();
    let shape = checked_shape(path, inputs, Some(image_shape))?;
    checked_shape(path, outputs, Some(image_shape))?;
    let n = max.min(inputs.shape()[0]).min(outputs.shape()[0]);
    let per = shape.0 * shape.1 * shape.2;
    let (xs, ys) = (inputs.to_f64_vec(), outputs.to_f64_vec());
    let xs: Vec<&[f64]> = xs.chunks_exact(per.max(1)).take(n).collect();
    let ys: Vec<&[f64]> = ys.chunks_exact(per.max(1)).take(n).collect();
    let mut rows = Vec::new();
    for (x, y) in xs.chunks(RECON_COLUMNS).zip(ys.chunks(RECON_COLUMNS)) {
        rows.push(x.to_vec());
        rows.push(y.to_vec());
    }
    draw_tiles(path, &rows, shape)?.save_png(path)
}

/// Checks that `t` is a batch of images of `shape` (or infers it) and returns `(c, h, w)`.
fn checked_shape(
    path: &Path,
    t: &Tensor,
    shape: Option<(usize, usize, usize)>,
) -> Result<(usize, usize, usize), IoError> {
    let refuse = |problem: String| IoError::unsupported(path.display().to_string(), problem);
    let Some((&n, per_example)) = t.shape().split_first() else {
        return Err(refuse(format!("a scalar ({t}) is not a batch of images")));
    };
    if n == 0 {
        return Err(refuse(format!("there are no images to draw ({t})")));
    }
    let (c, h, w) = match shape {
        Some(s) => s,
        None => infer_image_shape(per_example).ok_or_else(|| {
            refuse(format!("cannot tell the image size of {t}; give the (channels, height, width) of one image"))
        })?,
    };
    if c != 1 && c != 3 {
        return Err(refuse(format!("images must have 1 or 3 channels, not {c}")));
    }
    let values: usize = per_example.iter().product();
    if c.checked_mul(h).and_then(|v| v.checked_mul(w)) != Some(values) || values == 0 {
        return Err(refuse(format!(
            "{t} does not hold images of {c}x{h}x{w} ({values} values per example instead of {})",
            c.saturating_mul(h).saturating_mul(w)
        )));
    }
    Ok((c, h, w))
}

/// Lays out rows of tiles (rows may be shorter than the widest) on a gap-coloured canvas.
fn draw_tiles(path: &Path, rows: &[Vec<&[f64]>], (c, h, w): (usize, usize, usize)) -> Result<Canvas, IoError> {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let scale = MIN_TILE.div_ceil(h).max(1);
    let side = |count: usize, tile: usize, scale: usize| {
        count.checked_mul(tile.checked_mul(scale)?.checked_add(GAP)?)?.checked_add(GAP)
    };
    // Magnify only as far as the picture stays within MAX_SIDE.
    let fits = |s: usize| matches!((side(cols, w, s), side(rows.len(), h, s)), (Some(x), Some(y)) if x <= MAX_SIDE && y <= MAX_SIDE);
    let Some(scale) = (1..=scale).rev().find(|&s| fits(s)) else {
        return Err(IoError::unsupported(
            path.display().to_string(),
            format!("{} rows of {cols} images of {h}x{w} pixels exceed {MAX_SIDE} pixels on a side", rows.len()),
        ));
    };
    let (tw, th) = (w * scale, h * scale);
    let mut canvas = Canvas::new(cols * (tw + GAP) + GAP, rows.len() * (th + GAP) + GAP, GAP_COLOUR);
    for (r, row) in rows.iter().enumerate() {
        for (col, tile) in row.iter().enumerate() {
            let (x0, y0) = (GAP + col * (tw + GAP), GAP + r * (th + GAP));
            for y in 0..h {
                for x in 0..w {
                    let level = |ch: usize| {
                        let v = tile[(ch * h + y) * w + x];
                        // NaN fails both comparisons of clamp's callers; map it to black explicitly.
                        if v.is_nan() { 0 } else { (v.clamp(0.0, 1.0) * 255.0).round() as u8 }
                    };
                    let colour = if c == 3 { [level(0), level(1), level(2)] } else { [level(0); 3] };
                    canvas.fill_rect(
                        (x0 + x * scale) as i64,
                        (y0 + y * scale) as i64,
                        scale as i64,
                        scale as i64,
                        colour,
                    );
                }
            }
        }
    }
    Ok(canvas)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_abi::DType;

    fn load(path: &Path) -> image::RgbImage {
        image::load_from_memory(&std::fs::read(path).unwrap()).unwrap().to_rgb8()
    }

    #[test]
    fn infers_common_image_shapes() {
        assert_eq!(infer_image_shape(&[784]), Some((1, 28, 28)));
        assert_eq!(infer_image_shape(&[3072]), Some((3, 32, 32)));
        assert_eq!(infer_image_shape(&[1, 28, 28]), Some((1, 28, 28)));
        assert_eq!(infer_image_shape(&[3, 32, 32]), Some((3, 32, 32)));
        assert_eq!(infer_image_shape(&[28, 28]), Some((1, 28, 28)));
        assert_eq!(infer_image_shape(&[16]), Some((1, 4, 4)));
        assert_eq!(infer_image_shape(&[10]), None);
        assert_eq!(infer_image_shape(&[1]), None);
        assert_eq!(infer_image_shape(&[5, 8, 8]), None);
        assert_eq!(infer_image_shape(&[]), None);
        assert_eq!(infer_image_shape(&[2, 3, 4, 5]), None);
    }

    #[test]
    fn grid_places_and_clamps_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("grid.png");
        // Three 2x2 grey images: all-black, a bright one out of range, and one with NaN.
        let mut v = vec![0.0f32; 4];
        v.extend([2.0, 1.0, 0.5, -1.0]);
        v.extend([f32::NAN, 0.25, 0.75, 1.0]);
        let t = Tensor::from_f32(vec![3, 2, 2], v).unwrap();
        save_image_grid(&path, &t, None, 2).unwrap();
        let img = load(&path);
        let scale = MIN_TILE.div_ceil(2);
        let tile = 2 * scale + GAP;
        assert_eq!((img.width() as usize, img.height() as usize), (2 * tile + GAP, 2 * tile + GAP));
        assert_eq!(img.get_pixel(0, 0).0, GAP_COLOUR);
        let px = |tile_x: usize, tile_y: usize, x: usize, y: usize| {
            img.get_pixel((GAP + tile_x * tile + x * scale) as u32, (GAP + tile_y * tile + y * scale) as u32).0
        };
        assert_eq!(px(0, 0, 1, 1), [0; 3]);
        assert_eq!(px(1, 0, 0, 0), [255; 3]);
        assert_eq!(px(1, 0, 0, 1), [128; 3]);
        assert_eq!(px(1, 0, 1, 1), [0; 3]);
        assert_eq!(px(0, 1, 0, 0), [0; 3]);
        assert_eq!(px(0, 1, 1, 0), [64; 3]);
        // The unused cell of the second row stays gap-coloured.
        assert_eq!(px(1, 1, 0, 0), GAP_COLOUR);
    }

    #[test]
    fn rgb_images_keep_their_channels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rgb.png");
        let t = Tensor::from_f64(vec![1, 12], vec![1., 1., 1., 1., 0., 0., 0., 0., 0., 0., 0., 1.]).unwrap();
        save_image_grid(&path, &t, Some((3, 2, 2)), 8).unwrap();
        let img = load(&path);
        let scale = MIN_TILE.div_ceil(2) as u32;
        assert_eq!(img.get_pixel(2, 2).0, [255, 0, 0]);
        assert_eq!(img.get_pixel(2 + scale, 2 + scale).0, [255, 0, 255]);
    }

    #[test]
    fn reconstructions_put_inputs_above_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recon.png");
        let inputs = Tensor::from_f32(vec![20, 64], vec![1.0; 20 * 64]).unwrap();
        let outputs = Tensor::from_f32(vec![20, 1, 8, 8], vec![0.0; 20 * 64]).unwrap();
        save_reconstructions(&path, &inputs, &outputs, (1, 8, 8), 18).unwrap();
        let img = load(&path);
        let tile = 8 * 8 + GAP;
        // 18 pairs wrap into two row pairs of at most 16 columns.
        assert_eq!((img.width() as usize, img.height() as usize), (16 * tile + GAP, 4 * tile + GAP));
        assert_eq!(img.get_pixel(GAP as u32, GAP as u32).0, [255; 3]);
        assert_eq!(img.get_pixel(GAP as u32, (GAP + tile) as u32).0, [0; 3]);
        assert_eq!(img.get_pixel(GAP as u32, (GAP + 2 * tile) as u32).0, [255; 3]);
        assert_eq!(img.get_pixel((GAP + 2 * tile) as u32, (GAP + 3 * tile) as u32).0, GAP_COLOUR);
    }

    #[test]
    fn bad_image_tensors_are_refused_with_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.png");
        let err = |t: &Tensor, shape| save_image_grid(&path, t, shape, 4).unwrap_err().to_string();
        let flat = Tensor::from_f32(vec![2, 10], vec![0.0; 20]).unwrap();
        assert!(err(&flat, None).contains("cannot tell the image size"), "{}", err(&flat, None));
        let e = err(&flat, Some((1, 3, 3)));
        assert!(e.contains("f32[2, 10] does not hold images of 1x3x3 (10 values per example instead of 9)"), "{e}");
        assert!(err(&flat, Some((2, 5, 1))).contains("1 or 3 channels"));
        assert!(err(&Tensor::scalar_f32(1.0), None).contains("scalar"));
        let empty = Tensor::zeros(DType::F32, vec![0, 4, 4]).unwrap();
        assert!(err(&empty, None).contains("no images"));
        let e = err(&flat, None);
        assert!(e.starts_with("cannot write ") && e.contains("bad.png"), "{e}");
        let huge = Tensor::zeros(DType::F32, vec![1, 1, 20000 * 2]).unwrap();
        assert!(err(&huge, Some((1, 2, 20000))).contains("exceed"));
        assert!(!path.exists());
    }
}
