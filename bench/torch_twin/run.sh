#!/usr/bin/env bash
# PyTorch parity of training. Trains each twin spec of bench/torch_twin with the interpreter from
# fresh weights (saved to init.safetensors) on the first Fashion-MNIST images in order, then
# trains its PyTorch twin (twin.py) from the same weights on the same batches and compares the
# loss of every step. Exits non-zero if any twin differs by more than the tolerance.
#   bench/torch_twin/run.sh                 # all twins; outputs in runs/torch_twin/<twin>/
#   HGC=target/release/hgc bench/torch_twin/run.sh mlp_sgd vae
# HGC names the `hgc` binary to use; without it, a debug build of it is made with cargo.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! .venv/bin/python -c "import numpy, torch" 2>/dev/null; then
  bash scripts/setup.sh
fi
if [ -z "${HGC:-}" ]; then
  cargo build -q -p hgc
  HGC=target/debug/hgc
fi

# twin, spec, steps, batch: each run is a few seconds with a debug build.
TWINS=(
  "mlp_sgd twin.hgl 40 32"
  "mlp_adam twin_adam.hgl 40 32"
  "conv twin_conv.hgl 20 16"
  "vae twin_vae.hgl 30 32"
  "bn twin_bn.hgl 30 32"
  "vqvae ../../examples/vqvae/vqvae.hgl 20 16"
  "sae ../../examples/sae/sae.hgl 20 32"
  "gan twin_gan.hgl 30 32"
  "sae_auxk twin_auxk.hgl 30 32"
)
selected=("$@")
out=runs/torch_twin
mkdir -p "$out"
names=()
for entry in "${TWINS[@]}"; do
  read -r name spec steps batch <<<"$entry"
  if [ ${#selected[@]} -gt 0 ] && [[ ! " ${selected[*]} " =~ " $name " ]]; then
    continue
  fi
  names+=("$name")
  dir="$out/$name"
  rm -rf "$dir"
  mkdir -p "$dir"
  limit=$((steps * batch))
  echo "torch_twin: training $name ($spec, $steps steps of $batch)"
  "$HGC" run "bench/torch_twin/$spec" train --backend interp --data fashion-mnist --limit "$limit" \
    --shuffle false --steps "$steps" --batch "$batch" --seed 0 --progress quiet \
    --init "$dir/init.safetensors" --eval-data fashion-mnist:test --out "$dir" 2>"$dir/hgc.log" || {
    cat "$dir/hgc.log" >&2
    exit 1
  }
  printf '{"steps": %d, "batch": %d, "seed": 0}\n' "$steps" "$batch" >"$dir/plan.json"
done
if [ ${#names[@]} -eq 0 ]; then
  echo "torch_twin: no twin named ${selected[*]}" >&2
  exit 2
fi
.venv/bin/python bench/torch_twin/twin.py "$out" "${names[@]}"
