//! `shapes`: a seeded generator of small multi-object scenes for object-centric models.
//!
//! Each example is an RGB image (f32 `[3, size, size]` in `[0, 1]`, array `image`) with 1 to 4
//! objects (circle, square or triangle) of a random bright colour, position and size on a black
//! background, later objects occluding earlier ones; `n_objects` (i64) says how many. `image`
//! is a documented layout: it may feed an input with as many values per example (`[B, 3072]`),
//! with a note saying so.
//!
//! **Invariant**: example `i` depends only on `(seed, i, size)`: its random numbers come from
//! the Philox draw site `(seed, step = i, site = SHAPES_SITE)`, and rasterisation uses only
//! exactly-rounded arithmetic, so every machine generates the same pixels and a prefix of a
//! larger data set equals the smaller one.

use super::{Dataset, Source};
use hg_exec::philox::{DrawSite, SHAPES_SITE, ShuffleRng};
use hg_exec::tensor::Tensor;

/// Image side used when a caller has no preference.
pub const SHAPES_DEFAULT_SIZE: usize = 32;
const MAX_OBJECTS: u64 = 4;
/// Radii as fractions of the image side.
const MIN_RADIUS: f64 = 0.08;
const MAX_RADIUS: f64 = 0.22;
/// Colour channels are drawn from `[MIN_CHANNEL, 1]`, so no object is invisible on black.
const MIN_CHANNEL: f64 = 0.25;
const COS_30: f64 = 0.866_025_403_784_438_6;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Shape {
    Circle,
    Square,
    Triangle,
}

#[derive(Clone, Copy, Debug)]
struct Object {
    shape: Shape,
    colour: [f64; 3],
    cx: f64,
    cy: f64,
    r: f64,
}

impl Object {
    /// Whether the point lies inside the object.
    fn contains(&self, x: f64, y: f64) -> bool {
        let (dx, dy) = (x - self.cx, y - self.cy);
        match self.shape {
            Shape::Circle => dx * dx + dy * dy <= self.r * self.r,
            // A square of similar area to the circle: half-side 0.85 r.
            Shape::Square => dx.abs() <= 0.85 * self.r && dy.abs() <= 0.85 * self.r,
            Shape::Triangle => {
                // Upward triangle inscribed in the circle: apex at the top, base below the centre.
                let h = self.r * COS_30;
                let (ax, ay) = (0.0, -self.r);
                let (bx, by) = (h, self.r * 0.5);
                let (cx, cy) = (-h, self.r * 0.5);
                let edge = |px: f64, py: f64, qx: f64, qy: f64| (qx - px) * (dy - py) - (qy - py) * (dx - px);
                let (e1, e2, e3) = (edge(ax, ay, bx, by), edge(bx, by, cx, cy), edge(cx, cy, ax, ay));
                (e1 >= 0.0 && e2 >= 0.0 && e3 >= 0.0) || (e1 <= 0.0 && e2 <= 0.0 && e3 <= 0.0)
            }
        }
    }
}

/// Draws the objects of example `index`.
fn scene(seed: u64, index: u64, size: usize) -> Vec<Object> {
    let mut rng = ShuffleRng::at_site(DrawSite::new(seed, index, SHAPES_SITE));
    let side = size as f64;
    let n = 1 + rng.below(MAX_OBJECTS);
    (0..n)
        .map(|_| {
            let shape = [Shape::Circle, Shape::Square, Shape::Triangle][rng.below(3) as usize];
            let colour = [0; 3].map(|_: u8| MIN_CHANNEL + (1.0 - MIN_CHANNEL) * rng.next_f64());
            let r = (side * (MIN_RADIUS + (MAX_RADIUS - MIN_RADIUS) * rng.next_f64())).max(1.0);
            // Centres keep the whole object inside the image when it fits at all.
            let free = (side - 2.0 * r).max(0.0);
            let cx = (side - free) / 2.0 + free * rng.next_f64();
            let cy = (side - free) / 2.0 + free * rng.next_f64();
            Object { shape, colour, cx, cy, r }
        })
        .collect()
}

/// Generates `n` scenes of `size` x `size` pixels from `seed`.
pub fn shapes(n: usize, seed: u64, size: usize) -> Dataset {
    let plane = size * size;
    let mut pixels = vec![0.0f32; n * 3 * plane];
    let mut counts = Vec::with_capacity(n);
    for i in 0..n {
        let objects = scene(seed, i as u64, size);
        counts.push(objects.len() as i64);
        let image = &mut pixels[i * 3 * plane..(i + 1) * 3 * plane];
        for obj in &objects {
            // Only pixels in the object's bounding box can be inside it.
            let lo = |c: f64| (c - obj.r).floor().max(0.0) as usize;
            let hi = |c: f64| ((c + obj.r).ceil().max(0.0) as usize).min(size);
            for y in lo(obj.cy)..hi(obj.cy) {
                for x in lo(obj.cx)..hi(obj.cx) {
                    // Sample at the pixel centre.
                    if obj.contains(x as f64 + 0.5, y as f64 + 0.5) {
                        for (ch, &v) in obj.colour.iter().enumerate() {
                            image[ch * plane + y * size + x] = v as f32;
                        }
                    }
                }
            }
        }
    }
    let image = Tensor::from_f32(vec![n, 3, size, size], pixels).expect("pixel buffer matches its shape");
    let n_objects = Tensor::from_i64(vec![n], counts).expect("one count per example");
    let arrays = vec![("image".into(), image), ("n_objects".into(), n_objects)];
    let image_source = Source::Documented {
        dataset: "shapes".into(),
        noun: "images".into(),
        stored: "f32".into(),
        values: "values in [0, 1]".into(),
    };
    Dataset { arrays, len: n, sources: [("image".to_string(), image_source)].into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scenes_are_deterministic_and_prefix_stable() {
        let a = shapes(20, 5, 32);
        assert_eq!(a, shapes(20, 5, 32));
        assert_eq!(shapes(7, 5, 32), a.take(7));
        assert_ne!(a.get("image"), shapes(20, 6, 32).get("image"));
        assert_eq!(a.get("image").unwrap().shape(), &[20, 3, 32, 32]);
    }

    #[test]
    fn scenes_have_visible_objects_on_black() {
        let ds = shapes(200, 1, SHAPES_DEFAULT_SIZE);
        let counts = ds.get("n_objects").unwrap().to_f64_vec();
        for k in 1..=4 {
            let c = counts.iter().filter(|&&n| n == k as f64).count();
            assert!((25..75).contains(&c), "{c} scenes with {k} objects");
        }
        let plane = 32 * 32;
        let pixels = ds.get("image").unwrap().to_f64_vec();
        for (i, img) in pixels.chunks(3 * plane).enumerate() {
            assert!(img.iter().all(|v| (0.0..=1.0).contains(v)));
            let lit = (0..plane).filter(|&p| img[p] + img[plane + p] + img[2 * plane + p] > 0.0).count();
            // Each object covers at least a few pixels; the background stays mostly black.
            assert!(lit >= 4 && lit < plane * 3 / 4, "scene {i} lights {lit} pixels");
            assert!(img[0] == 0.0 || img[plane - 1] == 0.0 || img[plane - 32] == 0.0, "scene {i} corners");
        }
    }

    #[test]
    fn shapes_rasterise_as_expected() {
        let obj = |shape| Object { shape, colour: [1.0; 3], cx: 10.0, cy: 10.0, r: 5.0 };
        let circle = obj(Shape::Circle);
        assert!(circle.contains(10.0, 14.9) && !circle.contains(14.0, 14.0));
        let square = obj(Shape::Square);
        assert!(square.contains(14.0, 14.0) && !square.contains(14.5, 10.0));
        let tri = obj(Shape::Triangle);
        assert!(
            tri.contains(10.0, 6.0) && tri.contains(6.0, 12.4) && !tri.contains(6.0, 7.0) && !tri.contains(10.0, 13.0)
        );
        // Tiny and empty images do not panic.
        assert_eq!(shapes(3, 1, 2).len, 3);
        assert_eq!(shapes(2, 1, 0).get("n_objects").unwrap().len(), 2);
        assert_eq!(shapes(0, 1, 32).len, 0);
    }
}
