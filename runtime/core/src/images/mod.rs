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
/// Space between tiles (and around the picture), in pixels.
const GAP: usize = 2;
/// Space between the input/output pairs of a reconstruction picture, in pixels: wider than
/// [`GAP`], so that each input reads as one with the output beside it.
const PAIR_GAP: usize = 10;
/// Colour of the gaps between tiles: mid grey, visible against both black and white images.
const GAP_COLOUR: Rgb = [128, 128, 128];
/// Pairs per row of a reconstruction picture before it wraps (16 tiles, as wide as a sample grid).
const RECON_COLUMNS: usize = 8;

/// Where the tiles of a picture go, for tiles of `(width, height)` pixels: the picture's size
/// and the top-left corner of every tile, or `None` when a size overflows.
type Layout<'a> = &'a dyn Fn(usize, usize) -> Option<((usize, usize), Vec<(usize, usize)>)>;

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
    let rows = n.div_ceil(cols);
    let layout = |tw: usize, th: usize| {
        let width = cols.checked_mul(tw.checked_add(GAP)?)?.checked_add(GAP)?;
        let height = rows.checked_mul(th.checked_add(GAP)?)?.checked_add(GAP)?;
        let origins = (0..n).map(|i| (GAP + (i % cols) * (tw + GAP), GAP + (i / cols) * (th + GAP))).collect();
        Some(((width, height), origins))
    };
    let what = format!("{rows} rows of {cols} images");
    draw_tiles(path, &tiles, shape, &layout, &what)?.save_png(path)
}

/// Saves reconstructions: each input beside its output, `(input | output)`, for the first
/// `max` examples, in a grid of such pairs ([`RECON_COLUMNS`] to a row, in reading order) with
/// a wider gap between pairs than inside one.
pub fn save_reconstructions(
    path: impl AsRef<Path>,
    inputs: &Tensor,
    outputs: &Tensor,
    image_shape: (usize, usize, usize),
    max: usize,
) -> Result<(), IoError> {
    save_image_groups(path, &[inputs, outputs], image_shape, max)
}

/// Saves one group of tiles per example, `(columns[0] | columns[1] | ...)`, for the first `max`
/// examples: an input beside its reconstruction, or beside the pictures a model declares (a
/// masked autoencoder's masked input and its prediction). Groups wrap after as many tiles as
/// [`RECON_COLUMNS`] pairs take, with a wider gap between groups than inside one.
pub fn save_image_groups(
    path: impl AsRef<Path>,
    columns: &[&Tensor],
    image_shape: (usize, usize, usize),
    max: usize,
) -> Result<(), IoError> {
    let path = path.as_ref();
    let Some(first) = columns.first() else {
        return Err(IoError::unsupported(path.display().to_string(), "no images to draw".to_string()));
    };
    let shape = checked_shape(path, first, Some(image_shape))?;
    let mut n = max.min(first.shape()[0]);
    for c in columns {
        checked_shape(path, c, Some(image_shape))?;
        n = n.min(c.shape()[0]);
    }
    let k = columns.len();
    let per = (shape.0 * shape.1 * shape.2).max(1);
    let values: Vec<Vec<f64>> = columns.iter().map(|c| c.to_f64_vec()).collect();
    let tiles: Vec<&[f64]> = (0..n).flat_map(|i| values.iter().map(move |v| &v[i * per..(i + 1) * per])).collect();
    let cols = (2 * RECON_COLUMNS / k).clamp(1, n.max(1));
    let rows = n.div_ceil(cols);
    let layout = |tw: usize, th: usize| {
        let group = tw.checked_mul(k)?.checked_add(GAP.checked_mul(k - 1)?)?;
        let width = cols.checked_mul(group.checked_add(PAIR_GAP)?)?.checked_sub(PAIR_GAP)?.checked_add(2 * GAP)?;
        let height = rows.checked_mul(th.checked_add(PAIR_GAP)?)?.checked_sub(PAIR_GAP)?.checked_add(2 * GAP)?;
        let mut origins = Vec::with_capacity(k * n);
        for p in 0..n {
            let (x, y) = (GAP + (p % cols) * (group + PAIR_GAP), GAP + (p / cols) * (th + PAIR_GAP));
            origins.extend((0..k).map(|j| (x + j * (tw + GAP), y)));
        }
        Some(((width, height), origins))
    };
    let what = if k == 2 {
        format!("{rows} rows of {cols} input/output pairs")
    } else {
        format!("{rows} rows of {cols} groups of {k} images")
    };
    draw_tiles(path, &tiles, shape, &layout, &what)?.save_png(path)
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

/// Draws `tiles` where `layout` puts them, on a gap-coloured canvas, magnified as far as the
/// picture stays within [`MAX_SIDE`]; `what` names the arrangement for the error.
fn draw_tiles(
    path: &Path,
    tiles: &[&[f64]],
    (c, h, w): (usize, usize, usize),
    layout: Layout,
    what: &str,
) -> Result<Canvas, IoError> {
    let at_scale = |s: usize| layout(w.checked_mul(s)?, h.checked_mul(s)?);
    let fits = |s: &usize| matches!(at_scale(*s), Some(((x, y), _)) if x <= MAX_SIDE && y <= MAX_SIDE);
    let Some(scale) = (1..=MIN_TILE.div_ceil(h).max(1)).rev().find(fits) else {
        return Err(IoError::unsupported(
            path.display().to_string(),
            format!("{what} of {h}x{w} pixels exceed {MAX_SIDE} pixels on a side"),
        ));
    };
    let Some(((width, height), origins)) = at_scale(scale) else { unreachable!("the scale fits") };
    let mut canvas = Canvas::new(width, height, GAP_COLOUR);
    for (tile, (x0, y0)) in tiles.iter().zip(origins) {
        for y in 0..h {
            for x in 0..w {
                let level = |ch: usize| {
                    let v = tile[(ch * h + y) * w + x];
                    // NaN fails both comparisons of clamp's callers; map it to black explicitly.
                    if v.is_nan() { 0 } else { (v.clamp(0.0, 1.0) * 255.0).round() as u8 }
                };
                let colour = if c == 3 { [level(0), level(1), level(2)] } else { [level(0); 3] };
                canvas.fill_rect((x0 + x * scale) as i64, (y0 + y * scale) as i64, scale as i64, scale as i64, colour);
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
    fn reconstructions_put_each_input_beside_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("recon.png");
        // Input i is all i/32, output i all 1 - i/32 (exact in binary), so every tile says whose
        // it is.
        let level = |i: usize| i as f32 / 32.0;
        let xs: Vec<f32> = (0..20).flat_map(|i| [level(i); 64]).collect();
        let ys: Vec<f32> = (0..20).flat_map(|i| [1.0 - level(i); 64]).collect();
        let inputs = Tensor::from_f32(vec![20, 64], xs).unwrap();
        let outputs = Tensor::from_f32(vec![20, 1, 8, 8], ys).unwrap();
        save_reconstructions(&path, &inputs, &outputs, (1, 8, 8), 18).unwrap();
        let img = load(&path);
        let tile = 8 * 8;
        let pair = 2 * tile + GAP;
        // 18 pairs wrap into three rows of at most 8 pairs.
        let size = (8 * (pair + PAIR_GAP) - PAIR_GAP + 2 * GAP, 3 * (tile + PAIR_GAP) - PAIR_GAP + 2 * GAP);
        assert_eq!((img.width() as usize, img.height() as usize), size);
        let grey = |v: f32| [(v * 255.0).round() as u8; 3];
        for p in 0..18 {
            let (x, y) = (GAP + (p % 8) * (pair + PAIR_GAP), GAP + (p / 8) * (tile + PAIR_GAP));
            let at = |x: usize, y: usize| img.get_pixel(x as u32, y as u32).0;
            assert_eq!(at(x + 1, y + 1), grey(level(p)), "input {p}");
            assert_eq!(at(x + tile - 1, y + tile - 1), grey(level(p)), "input {p}");
            // A thin gap inside the pair, then the output beside the input.
            assert_eq!(at(x + tile, y + 1), GAP_COLOUR, "pair {p}");
            assert_eq!(at(x + tile + GAP + 1, y + 1), grey(1.0 - level(p)), "output {p}");
            assert_eq!(at(x + pair - 1, y + tile - 1), grey(1.0 - level(p)), "output {p}");
            // A wider gap after the pair.
            if p % 8 < 7 {
                assert!((x + pair..x + pair + PAIR_GAP).all(|gx| at(gx, y + 1) == GAP_COLOUR), "after pair {p}");
            }
        }
        // The cells after the last pair stay gap-coloured.
        let last_row = GAP + 2 * (tile + PAIR_GAP) + 1;
        assert_eq!(img.get_pixel((GAP + 2 * (pair + PAIR_GAP) + 1) as u32, last_row as u32).0, GAP_COLOUR);
    }

    #[test]
    fn groups_of_three_put_each_picture_after_its_input() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("groups.png");
        let level = |i: usize, j: usize| (4 * i + j) as f32 / 64.0;
        let column =
            |j: usize| Tensor::from_f32(vec![7, 64], (0..7).flat_map(|i| [level(i, j); 64]).collect()).unwrap();
        let (a, b, c) = (column(0), column(1), column(2));
        save_image_groups(&path, &[&a, &b, &c], (1, 8, 8), 7).unwrap();
        let img = load(&path);
        let tile = 8 * 8;
        let group = 3 * tile + 2 * GAP;
        // 16 tiles to a row: 5 groups of three, then the last 2 on a second row.
        let size = (5 * (group + PAIR_GAP) - PAIR_GAP + 2 * GAP, 2 * (tile + PAIR_GAP) - PAIR_GAP + 2 * GAP);
        assert_eq!((img.width() as usize, img.height() as usize), size);
        for p in 0..7 {
            let (x, y) = (GAP + (p % 5) * (group + PAIR_GAP), GAP + (p / 5) * (tile + PAIR_GAP));
            for j in 0..3 {
                let px = img.get_pixel((x + j * (tile + GAP) + 1) as u32, (y + 1) as u32).0;
                assert_eq!(px, [(level(p, j) * 255.0).round() as u8; 3], "example {p}, picture {j}");
            }
        }
    }

    #[test]
    fn one_reconstruction_is_one_pair() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("one.png");
        let t = Tensor::from_f32(vec![1, 16], vec![1.0; 16]).unwrap();
        save_reconstructions(&path, &t, &t, (1, 4, 4), 8).unwrap();
        let img = load(&path);
        let tile = 4 * MIN_TILE.div_ceil(4);
        assert_eq!((img.width() as usize, img.height() as usize), (2 * tile + 3 * GAP, tile + 2 * GAP));
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
