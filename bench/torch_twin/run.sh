#!/usr/bin/env bash
# PyTorch parity of training: trains bench/torch_twin/twin.hgl for 50 SGD steps with the
# interpreter from fresh weights (saved to init.safetensors), then trains the PyTorch twin from
# the same weights on the same batches and compares the loss of every step.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash scripts/setup.sh --python-checks
cargo build --release -p hgc
out=runs/torch_twin
rm -rf "$out"
mkdir -p "$out"
target/release/hgc run bench/torch_twin/twin.hgl train --backend interp --data fashion-mnist \
  --limit 1600 --shuffle false --steps 50 --batch 32 --seed 0 --progress quiet \
  --init "$out/init.safetensors" --eval-data fashion-mnist:test --out "$out"
.venv/bin/python bench/torch_twin/twin.py "$out"
