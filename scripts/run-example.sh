#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (idempotent), builds `hgc`, checks the VAE example and
# trains it on Fashion-MNIST with the reference interpreter. Outputs go to runs/vae/
# (metrics.jsonl, checkpoints, final.safetensors, loss.png, reconstructions.png, samples.png),
# replacing the previous run of this script there.
#   scripts/run-example.sh                 # 300 steps, a few minutes on 2 cores
#   STEPS=3000 scripts/run-example.sh      # longer; any extra arguments go to `hgc run ... train`
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -p hgc
HGC=target/release/hgc
"$HGC" check examples/vae/vae.hgl
"$HGC" run examples/vae/vae.hgl train --backend interp --data fashion-mnist \
  --steps "${STEPS:-300}" --batch 64 --seed 0 --checkpoint-every 100 --out runs/vae --overwrite "$@"
