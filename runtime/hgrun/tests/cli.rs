//! End-to-end tests of the `hgrun` binary: each test writes small files with the runtime's own
//! writers into a temporary directory, runs the command, and checks its stdout, stderr and exit
//! status. Corrupt and missing inputs must give one `error: ...` line and status 1, never a
//! panic.

use hg_abi::DType;
use hg_runtime::NamedTensors;
use hg_runtime::checkpoint::save_safetensors;
use hg_runtime::data::{SHAPES_DEFAULT_SIZE, shapes};
use hg_runtime::images::save_image_grid;
use hg_runtime::npy::{read_npz, write_npy, write_npz};
use hg_runtime::train::{CheckpointMeta, save_checkpoint};
use hg_runtime::{Tensor, TensorData};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What a run of the binary printed and how it exited.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn hgrun_in(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hgrun"));
    cmd.current_dir(dir).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("the hgrun binary runs");
    Run {
        code: out.status.code().expect("hgrun exits normally, not by a signal"),
        stdout: String::from_utf8(out.stdout).expect("stdout is utf-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is utf-8"),
    }
}

fn hgrun(dir: &Path, args: &[&str]) -> Run {
    hgrun_in(dir, args, &[])
}

/// Asserts a clean failure: status 1, nothing on stdout, one `error: ` line containing `needle`.
fn assert_error(run: &Run, needle: &str) {
    assert_eq!(run.code, 1, "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.starts_with("error: ") && run.stderr.ends_with('\n'), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
    assert!(run.stderr.contains(needle), "expected `{needle}` in: {}", run.stderr);
}

fn f32s(shape: Vec<usize>, values: Vec<f32>) -> Tensor {
    Tensor::from_f32(shape, values).unwrap()
}

fn meta() -> CheckpointMeta {
    CheckpointMeta {
        step: 120,
        epoch: 2,
        position: 32,
        seed: 7,
        base_lr: 0.001,
        total_steps: 500,
        batch: 16,
        shuffle: true,
        examples: 100,
        record: None,
    }
}

/// A checkpoint as the training loop writes it: two parameters, Adam state and a step counter.
fn write_checkpoint(path: &Path) {
    let params: NamedTensors = [
        ("param:enc.w".to_string(), f32s(vec![2, 3], vec![0.5, -1.0, 2.0, 3.5, 0.0, -0.25])),
        ("param:enc.b".to_string(), f32s(vec![3], vec![0.0, 0.0, 0.0])),
    ]
    .into();
    let state: NamedTensors = [
        ("state:adam.m.enc.w".to_string(), f32s(vec![2, 3], vec![0.01; 6])),
        ("state:adam.t".to_string(), Tensor::scalar_i64(120)),
    ]
    .into();
    save_checkpoint(path, &params, &state, &meta()).unwrap();
}

/// An IDX file of unsigned bytes, the format of the Fashion-MNIST files.
fn idx(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut out = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        out.extend_from_slice(&d.to_be_bytes());
    }
    out.extend_from_slice(data);
    out
}

#[test]
fn inspect_shows_checkpoint_counters_metadata_and_statistics() {
    let dir = tempfile::tempdir().unwrap();
    write_checkpoint(&dir.path().join("checkpoint.safetensors"));
    let run = hgrun(dir.path(), &["inspect", "checkpoint.safetensors"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    let expected = "\
checkpoint.safetensors: safetensors, 4 tensors, 16 values
kind: training checkpoint: step 120 of 500, epoch 2 (next batch at example 32 of 100), seed 7, batch 16, shuffled, base lr 0.001
parameters: 9 values in 2 tensors; optimizer state: 7 values in 2 tensors
metadata:
  base_lr         0.001
  batch           16
  epoch           2
  examples        100
  format          hourglass-checkpoint
  format_version  1
  position        32
  seed            7
  shuffle         true
  step            120
  total_steps     500
tensors:
  name                dtype  shape   values   min   max      mean      std
  param:enc.b         f32    [3]          3     0     0         0        0
  param:enc.w         f32    [2, 3]       6    -1   3.5  0.791667  1.51669
  state:adam.m.enc.w  f32    [2, 3]       6  0.01  0.01      0.01        0
  state:adam.t        i64    []           1   120   120       120        0
";
    assert_eq!(run.stdout, expected);

    let run = hgrun(dir.path(), &["inspect", "checkpoint.safetensors", "--json"]);
    assert_eq!(run.code, 0);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["format"], "safetensors");
    assert_eq!(json["kind"], "checkpoint");
    assert_eq!(json["checkpoint"]["step"], 120);
    assert_eq!(json["checkpoint"]["epoch"], 2);
    assert_eq!(json["checkpoint"]["seed"], 7);
    assert_eq!(json["checkpoint"]["base_lr"], 0.001);
    assert_eq!(json["metadata"]["total_steps"], "500");
    assert_eq!(json["values"], 16);
    let w = &json["tensors"][1];
    assert_eq!((w["name"].as_str(), w["dtype"].as_str()), (Some("param:enc.w"), Some("f32")));
    assert_eq!(w["shape"], serde_json::json!([2, 3]));
    assert_eq!((w["min"].as_f64(), w["max"].as_f64(), w["values"].as_u64()), (Some(-1.0), Some(3.5), Some(6)));
    assert!((w["mean"].as_f64().unwrap() - 4.75 / 6.0).abs() < 1e-12);
}

#[test]
fn inspect_lists_npy_and_npz_arrays() {
    let dir = tempfile::tempdir().unwrap();
    let codes = Tensor::new(DType::I32, vec![4], TensorData::I32(vec![3, -1, 4, 1])).unwrap();
    write_npy(dir.path().join("codes.npy"), &codes).unwrap();
    let run = hgrun(dir.path(), &["inspect", "codes.npy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        "codes.npy: npy, 1 array, 4 values\narrays:\n  name   dtype  shape  values  min  max  mean      std\n  codes  i32    [4]         4   -1    4  1.75  1.92029\n"
    );
    let mask = Tensor::new(DType::Bool, vec![2, 2], TensorData::Bool(vec![true, false, false, false])).unwrap();
    let x = f32s(vec![2, 2], vec![f32::NAN, 0.5, f32::NEG_INFINITY, 1.5]);
    write_npz(dir.path().join("d.npz"), &[("x".into(), x), ("mask".into(), mask)]).unwrap();
    let run = hgrun(dir.path(), &["inspect", "d.npz"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[0], "d.npz: npz, 2 arrays, 8 values");
    assert_eq!(lines[3], "  x     f32    [2, 2]       4  0.5  1.5     1       0.5  1 nan, 1 inf");
    assert_eq!(lines[4], "  mask  bool   [2, 2]       4    0    1  0.25  0.433013");
    let json: serde_json::Value =
        serde_json::from_str(&hgrun(dir.path(), &["inspect", "d.npz", "--json"]).stdout).unwrap();
    assert_eq!(json["tensors"][0]["nan"], 1);
    assert_eq!(json["tensors"][0]["inf"], 1);
    assert_eq!(json["tensors"][1]["dtype"], "bool");
    assert_eq!(json["checkpoint"], serde_json::Value::Null);
}

/// An `.npy` file of unsigned bytes (numpy's `uint8`, `|u1`), which `write_npy` cannot write
/// (tensors hold no u8): `values` in C order.
fn u8_npy(path: &Path, shape: &[usize], values: &[u8]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let comma = if shape.len() == 1 { "," } else { "" };
    let mut header = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': ({}{comma}), }}", dims.join(", "));
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    bytes.extend_from_slice(values);
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn u8_arrays_are_reported_as_u8_and_drawn_as_levels() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pixels: Vec<u8> = (0..2 * 16).map(|i| (i * 8) as u8).collect();
    u8_npy(&d.join("bytes.npy"), &[2, 4, 4], &pixels);
    let run = hgrun(d, &["inspect", "bytes.npy"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let lines: Vec<&str> = run.stdout.lines().collect();
    assert_eq!(lines[3], "  bytes  u8     [2, 4, 4]      32    0  248   124  73.8647", "{}", run.stdout);
    assert!(!run.stdout.contains("i32"), "{}", run.stdout);
    let json: serde_json::Value = serde_json::from_str(&hgrun(d, &["inspect", "bytes.npy", "--json"]).stdout).unwrap();
    assert_eq!(json["tensors"][0]["dtype"], "u8");
    assert_eq!(json["tensors"][0]["max"], 248);

    // `show` draws the bytes as levels 0..255 and names the file's dtype in its errors.
    let run = hgrun(d, &["show", "bytes.npy", "--png", "b.png"]);
    assert_eq!(
        run.stdout, "wrote b.png: 2 images of 1x4x4 from `bytes` (u8 levels / 255) in 1 row of 2\n",
        "{}",
        run.stderr
    );
    let expected = d.join("expected.png");
    let levels = Tensor::from_f64(vec![2, 4, 4], pixels.iter().map(|&p| f64::from(p) / 255.0).collect()).unwrap();
    save_image_grid(&expected, &levels, None, 2).unwrap();
    let decode = |p: PathBuf| image::open(p).unwrap().to_rgb8();
    assert!(decode(d.join("b.png")) == decode(expected), "u8 pixels are drawn as levels / 255");
    u8_npy(&d.join("row.npy"), &[2, 3], &[1, 2, 3, 4, 5, 6]);
    assert_error(&hgrun(d, &["show", "row.npy", "--png", "o.png"]), "it has `row` u8[2, 3]");
    let e = hgrun(d, &["show", "row.npy", "--array", "row", "--png", "o.png"]);
    assert_error(&e, "array `row` (u8[2, 3]) of row.npy is not image-shaped");
    assert!(!e.stderr.contains("i32"), "{}", e.stderr);
}

#[test]
fn corrupt_missing_and_unknown_files_are_clean_errors() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_checkpoint(&d.join("good.safetensors"));
    let good = std::fs::read(d.join("good.safetensors")).unwrap();
    std::fs::write(d.join("cut.safetensors"), &good[..good.len() - 5]).unwrap();
    std::fs::write(d.join("tiny.safetensors"), b"abc").unwrap();
    std::fs::write(d.join("junk.npy"), b"this is not numpy").unwrap();
    std::fs::write(d.join("junk.npz"), b"PK\x03\x04 not really a zip archive").unwrap();
    std::fs::write(d.join("notes.txt"), b"hello").unwrap();
    for command in ["inspect", "show"] {
        fn with<'a>(command: &'a str, file: &'a str) -> Vec<&'a str> {
            if command == "show" { vec![command, file, "--png", "o.png"] } else { vec![command, file] }
        }
        let with = |file| with(command, file);
        assert_error(
            &hgrun(d, &with("cut.safetensors")),
            "cut.safetensors: the tensor data does not match the file length",
        );
        assert_error(&hgrun(d, &with("tiny.safetensors")), "tiny.safetensors: not a safetensors file");
        assert_error(&hgrun(d, &with("junk.npy")), "junk.npy: not an npy file");
        assert_error(&hgrun(d, &with("junk.npz")), "junk.npz: not a valid npz (zip) archive");
        assert_error(&hgrun(d, &with("missing.npz")), "cannot read missing.npz: no such file or directory");
        assert_error(
            &hgrun(d, &with("notes.txt")),
            "notes.txt: unknown file type (expected a .safetensors, .npy or .npz file)",
        );
    }
    assert!(!d.join("o.png").exists());
    assert_error(&hgrun(d, &["diff", "good.safetensors", "cut.safetensors"]), "cut.safetensors");
    assert_error(&hgrun(d, &["diff", "nowhere.safetensors", "good.safetensors"]), "cannot read nowhere.safetensors");
}

#[test]
fn show_draws_the_same_grid_as_the_runtime() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = shapes(12, 3, SHAPES_DEFAULT_SIZE);
    write_npz(d.join("scenes.npz"), &data.arrays).unwrap();
    let run = hgrun(d, &["show", "scenes.npz", "--png", "grid.png", "--limit", "10", "--cols", "5"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert_eq!(run.stdout, "wrote grid.png: 10 images of 3x32x32 from `image` (the first 10 of 12) in 2 rows of 5\n");
    let expected = d.join("expected.png");
    save_image_grid(&expected, &data.get("image").unwrap().slice_rows(0, 10), None, 5).unwrap();
    let decode = |p: PathBuf| image::open(p).unwrap().to_rgb8();
    let (got, want) = (decode(d.join("grid.png")), decode(expected));
    assert_eq!(got.dimensions(), want.dimensions());
    assert!(got == want, "the pictures differ");

    // Flat [N, 784] draws 28x28 tiles; the default grid is as square as possible.
    let flat = f32s(vec![3, 784], (0..3 * 784).map(|i| (i % 784) as f32 / 784.0).collect());
    write_npy(d.join("flat.npy"), &flat).unwrap();
    let run = hgrun(d, &["show", "flat.npy", "--png", "flat.png"]);
    assert_eq!(run.stdout, "wrote flat.png: 3 images of 1x28x28 from `flat` in 2 rows of 2\n", "{}", run.stderr);
    let expected = d.join("flat-expected.png");
    save_image_grid(&expected, &flat, Some((1, 28, 28)), 2).unwrap();
    assert!(decode(d.join("flat.png")) == decode(expected), "the flat pictures differ");
}

#[test]
fn show_names_the_arrays_it_cannot_draw() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let labels = Tensor::from_i64(vec![3], vec![1, 2, 3]).unwrap();
    let codes = f32s(vec![3, 10], vec![0.0; 30]);
    write_npz(d.join("codes.npz"), &[("label".into(), labels), ("z".into(), codes)]).unwrap();
    assert_error(
        &hgrun(d, &["show", "codes.npz", "--png", "o.png"]),
        "codes.npz has no image-shaped array (an array of [N, H, W], [N, 1|3, H, W] or [N, H*W] with square images); it has `label` i64[3], `z` f32[3, 10]",
    );
    assert_error(
        &hgrun(d, &["show", "codes.npz", "--array", "image", "--png", "o.png"]),
        "codes.npz has no array `image`; it has `label` i64[3], `z` f32[3, 10]",
    );
    assert_error(
        &hgrun(d, &["show", "codes.npz", "--array", "z", "--png", "o.png"]),
        "array `z` (f32[3, 10]) of codes.npz is not image-shaped",
    );
    let empty = f32s(vec![0, 4, 4], vec![]);
    write_npy(d.join("empty.npy"), &empty).unwrap();
    assert_error(
        &hgrun(d, &["show", "empty.npy", "--png", "o.png"]),
        "array `empty` (f32[0, 4, 4]) of empty.npy holds no images",
    );
    let tiles = f32s(vec![2, 4, 4], vec![0.5; 32]);
    write_npy(d.join("tiles.npy"), &tiles).unwrap();
    assert_error(&hgrun(d, &["show", "tiles.npy", "--png", "no-such-dir/o.png"]), "cannot write no-such-dir/o.png");
    assert!(!d.join("o.png").exists());
}

#[test]
fn data_exports_shapes_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let run = hgrun(d, &["data", "shapes:30", "--limit", "6", "--seed", "5", "--out", "s.npz"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert_eq!(run.stdout, "wrote s.npz: 6 examples of shapes:30 (image f32[6, 3, 32, 32], n_objects i64[6])\n");
    assert_eq!(read_npz(d.join("s.npz")).unwrap(), shapes(6, 5, SHAPES_DEFAULT_SIZE).arrays);
    let run = hgrun(d, &["data", "shapes:4", "--out", "c.npz", "--compress"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(read_npz(d.join("c.npz")).unwrap(), shapes(4, 0, SHAPES_DEFAULT_SIZE).arrays);

    assert_error(
        &hgrun(d, &["data", "mnist", "--out", "m.npz"]),
        "unknown data set `mnist`; use fashion-mnist, fashion-mnist:test or shapes[:N]",
    );
    assert_error(&hgrun(d, &["data", "shapes:lots", "--out", "m.npz"]), "`shapes:lots`: expected a number of scenes");
    assert_error(&hgrun(d, &["data", "shapes:2", "--out", "m.npy"]), "m.npy: the output must be an .npz file");
    assert_error(&hgrun(d, &["data", "shapes:2", "--out", "gone/m.npz"]), "cannot write gone/m.npz");
    assert!(!d.join("m.npz").exists());
}

#[test]
fn data_exports_fashion_mnist_from_its_directory() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let fm = d.join("fm");
    std::fs::create_dir(&fm).unwrap();
    let pixels: Vec<u8> = (0..3 * 28 * 28).map(|i| (i % 251) as u8).collect();
    std::fs::write(fm.join("t10k-images-idx3-ubyte"), idx(&[3, 28, 28], &pixels)).unwrap();
    std::fs::write(fm.join("t10k-labels-idx1-ubyte"), idx(&[3], &[9, 0, 4])).unwrap();
    let env = [("HG_FASHION_MNIST_DIR", fm.as_path())];
    let run = hgrun_in(d, &["data", "fashion-mnist:test", "--limit", "2", "--out", "t.npz"], &env);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert_eq!(run.stdout, "wrote t.npz: 2 examples of fashion-mnist:test (image f32[2, 28, 28], label i64[2])\n");
    let arrays = read_npz(d.join("t.npz")).unwrap();
    assert_eq!(arrays[1], ("label".to_string(), Tensor::from_i64(vec![2], vec![9, 0]).unwrap()));
    let want: Vec<f32> = pixels[..2 * 784].iter().map(|&b| f32::from(b) / 255.0).collect();
    assert_eq!(arrays[0], ("image".to_string(), f32s(vec![2, 28, 28], want)));

    assert_error(
        &hgrun_in(d, &["data", "fashion-mnist:test", "--seed", "1", "--out", "t.npz"], &env),
        "--seed only applies to `shapes`",
    );
    // The train split is not in the directory: the error says how to install the data set.
    assert_error(&hgrun_in(d, &["data", "fashion-mnist", "--out", "t.npz"], &env), "run scripts/setup.sh");
}

#[test]
fn diff_passes_equal_files_and_fails_different_ones() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write_checkpoint(&d.join("a.safetensors"));
    write_checkpoint(&d.join("b.safetensors"));
    let run = hgrun(d, &["diff", "a.safetensors", "b.safetensors"]);
    assert_eq!((run.code, run.stderr.as_str()), (0, ""));
    assert_eq!(
        run.stdout,
        "comparing a.safetensors and b.safetensors (rtol 0, atol 0)\nsame: 4 tensors match within rtol 0, atol 0; metadata equal\n"
    );

    // A second file whose weights moved a little, lost a tensor and gained one.
    let tensors = |w: Vec<f32>, extra: &str| -> BTreeMap<String, Tensor> {
        [("enc.w".to_string(), f32s(vec![2, 2], w)), (extra.to_string(), Tensor::scalar_f32(0.0))].into()
    };
    let meta = |step: &str| -> BTreeMap<String, String> { [("step".to_string(), step.to_string())].into() };
    save_safetensors(d.join("w1.safetensors"), &tensors(vec![1.0, 2.0, 3.0, 4.0], "old"), &meta("10")).unwrap();
    save_safetensors(d.join("w2.safetensors"), &tensors(vec![1.0, 2.0, 3.0, 4.004], "new"), &meta("11")).unwrap();
    let run = hgrun(d, &["diff", "w1.safetensors", "w2.safetensors"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(run.stderr, "");
    assert_eq!(
        run.stdout,
        "\
comparing w1.safetensors and w2.safetensors (rtol 0, atol 0)
`old`: only in w1.safetensors
`new`: only in w2.safetensors
`enc.w`: 1 of 4 values differ; max abs diff 0.00400019 at [1, 1] (4 vs 4.004), max rel diff 0.000999048
metadata `step`: `10` vs `11`
differ: 1 of 1 shared tensor differ, 1 tensor only in w1.safetensors, 1 tensor only in w2.safetensors, metadata differs in 1 key
"
    );
    // Within tolerance and ignoring metadata, only the unmatched names remain.
    let run = hgrun(d, &["diff", "w1.safetensors", "w2.safetensors", "--rtol", "1e-3", "--ignore-metadata", "-v"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("`enc.w`: 4 values match within tolerance; max abs diff 0.00400019"), "{}", run.stdout);
    assert!(
        run.stdout.ends_with("differ: 1 tensor only in w1.safetensors, 1 tensor only in w2.safetensors\n"),
        "{}",
        run.stdout
    );

    let json = hgrun(d, &["diff", "w1.safetensors", "w2.safetensors", "--json"]);
    assert_eq!(json.code, 1);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(json["same"], false);
    assert_eq!(json["only_in_a"], serde_json::json!(["old"]));
    assert_eq!(json["tensors"][0]["status"], "differs");
    assert_eq!(json["tensors"][0]["max_abs_diff_at"], serde_json::json!([1, 1]));
    assert_eq!(json["metadata"][0], serde_json::json!({"key": "step", "a": "10", "b": "11"}));

    // npz and npy files compare by array name too; a shape change is reported, not compared.
    write_npz(d.join("x.npz"), &[("x".into(), f32s(vec![2, 2], vec![0.0; 4]))]).unwrap();
    write_npy(d.join("x.npy"), &f32s(vec![4], vec![0.0; 4])).unwrap();
    let run = hgrun(d, &["diff", "x.npz", "x.npy"]);
    assert_eq!(run.code, 1);
    assert!(run.stdout.contains("`x`: shape [2, 2] vs [4]\n"), "{}", run.stdout);
}

#[test]
fn usage_errors_and_help() {
    let dir = tempfile::tempdir().unwrap();
    let run = hgrun(dir.path(), &["--help"]);
    assert_eq!(run.code, 0);
    for command in ["inspect", "show", "data", "diff"] {
        assert!(run.stdout.contains(command), "{}", run.stdout);
    }
    let run = hgrun(dir.path(), &["show", "x.npz"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("--png"), "{}", run.stderr);
    let run = hgrun(dir.path(), &["diff", "a.safetensors", "b.safetensors", "--rtol", "nan"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("expected a finite number >= 0, not `nan`"), "{}", run.stderr);
}
