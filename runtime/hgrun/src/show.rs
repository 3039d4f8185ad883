//! `hgrun show FILE --png OUT.png`: draws the images of an array as a PNG grid.
//!
//! An array is image-shaped when its first axis counts examples and one example looks like an
//! image to [`hg_runtime::images::infer_image_shape`]: `[N, H, W]`, `[N, 1|3, H, W]`, or flat
//! `[N, H*W]` / `[N, 3*S*S]` with square images (`[N, 784]` draws 28x28). Without `--array`
//! the first image-shaped array of the file is drawn. Only the first `--limit` images are
//! drawn, so a whole data set never becomes a picture too large to open.

use crate::error::{Error, Result};
use crate::files;
use hg_runtime::Tensor;
use hg_runtime::images::{infer_image_shape, save_image_grid};
use std::path::Path;

/// Images drawn when `--limit` is not given: an 8x8 grid.
pub const DEFAULT_LIMIT: usize = 64;

/// What to draw and where.
#[derive(Clone, Debug)]
pub struct ShowRequest<'a> {
    pub file: &'a Path,
    pub array: Option<&'a str>,
    pub png: &'a Path,
    /// Images per row; `None` makes the grid as square as possible.
    pub cols: Option<usize>,
    pub limit: usize,
}

/// Writes the picture and returns the line describing it.
pub fn show(req: &ShowRequest<'_>) -> Result<String> {
    let file = files::load(req.file)?;
    let index = match req.array {
        Some(name) => file.arrays.iter().position(|(n, _)| n == name).ok_or_else(|| {
            Error::new(format!("{} has no array `{name}`; it has {}", req.file.display(), file.listing()))
        })?,
        None => file.arrays.iter().position(|(_, t)| image_shape(t).is_some()).ok_or_else(|| {
            Error::new(format!(
                "{} has no image-shaped array (an array of [N, H, W], [N, 1|3, H, W] or [N, H*W] with square images); it has {}",
                req.file.display(),
                file.listing()
            ))
        })?,
    };
    let (name, tensor) = (&file.arrays[index].0, &file.arrays[index].1);
    // Named as the file stores it (`u8[2, 784]`), not as it was widened on load.
    let described = file.describe(index);
    let Some((c, h, w)) = image_shape(tensor) else {
        return Err(Error::new(format!(
            "array `{name}` ({described}) of {} is not image-shaped: expected [N, H, W], [N, 1|3, H, W] or [N, H*W] with square images",
            req.file.display()
        )));
    };
    let n = tensor.shape()[0];
    if n == 0 {
        return Err(Error::new(format!("array `{name}` ({described}) of {} holds no images", req.file.display())));
    }
    let count = n.min(req.limit);
    let mut images = tensor.slice_rows(0, count);
    // Bytes are pixel levels 0..255; pictures draw 0..1.
    let bytes = file.file_dtype(index) == "u8";
    if bytes {
        let levels: Vec<f64> = images.to_f64_vec().iter().map(|v| v / 255.0).collect();
        images = Tensor::from_f64(images.shape().to_vec(), levels).map_err(|e| Error::new(e.to_string()))?;
    }
    let cols = req.cols.unwrap_or_else(|| square_columns(count)).min(count);
    save_image_grid(req.png, &images, Some((c, h, w)), cols)?;
    let rows = count.div_ceil(cols);
    let of = if count < n { format!(" (the first {count} of {n})") } else { String::new() };
    let scaled = if bytes { " (u8 levels / 255)" } else { "" };
    Ok(format!(
        "wrote {}: {} of {c}x{h}x{w} from `{name}`{of}{scaled} in {}\n",
        req.png.display(),
        crate::numfmt::plural(count, "image"),
        if rows == 1 { format!("1 row of {cols}") } else { format!("{rows} rows of {cols}") }
    ))
}

/// `(channels, height, width)` of one example, when the array is a batch of images.
fn image_shape(t: &Tensor) -> Option<(usize, usize, usize)> {
    match t.shape() {
        [_, per_example @ ..] if !per_example.is_empty() => infer_image_shape(per_example),
        _ => None,
    }
}

/// The fewest columns that make a grid at least as wide as it is tall.
fn square_columns(n: usize) -> usize {
    (1..=n.max(1)).find(|c| c * c >= n).unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_runtime::npy::write_npz;

    #[test]
    fn grids_are_as_square_as_possible() {
        let cases = [(1, 1), (2, 2), (4, 2), (5, 3), (64, 8), (65, 9)];
        for (n, cols) in cases {
            assert_eq!(square_columns(n), cols, "{n}");
        }
    }

    #[test]
    fn image_shapes_need_an_example_axis() {
        let t = |shape: Vec<usize>| Tensor::zeros(hg_abi::DType::F32, shape).unwrap();
        assert_eq!(image_shape(&t(vec![2, 784])), Some((1, 28, 28)));
        assert_eq!(image_shape(&t(vec![2, 3, 8, 8])), Some((3, 8, 8)));
        assert_eq!(image_shape(&t(vec![5, 4, 6])), Some((1, 4, 6)));
        assert_eq!(image_shape(&t(vec![784])), None);
        assert_eq!(image_shape(&t(vec![2, 10])), None);
        assert_eq!(image_shape(&t(vec![])), None);
    }

    #[test]
    fn picks_the_first_image_shaped_array_and_limits_the_count() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.npz");
        let label = Tensor::from_i64(vec![10], (0..10).collect()).unwrap();
        let image = Tensor::from_f32(vec![10, 16], vec![0.5; 160]).unwrap();
        write_npz(&path, &[("label".into(), label), ("image".into(), image)]).unwrap();
        let png = dir.path().join("g.png");
        let req = ShowRequest { file: &path, array: None, png: &png, cols: None, limit: 5 };
        let line = show(&req).unwrap();
        assert!(line.ends_with("g.png: 5 images of 1x4x4 from `image` (the first 5 of 10) in 2 rows of 3\n"), "{line}");
        assert!(png.is_file());
        let e = show(&ShowRequest { array: Some("label"), ..req.clone() }).unwrap_err().to_string();
        assert!(e.starts_with("array `label` (i64[10]) of ") && e.contains("is not image-shaped"), "{e}");
        let e = show(&ShowRequest { array: Some("nope"), ..req.clone() }).unwrap_err().to_string();
        assert!(e.ends_with("has no array `nope`; it has `label` i64[10], `image` f32[10, 16]"), "{e}");
    }
}
