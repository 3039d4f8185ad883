#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (idempotent), builds `hgc`, checks the VAE example and
# trains it on Fashion-MNIST, compiled to native code (Cranelift). Outputs go to runs/vae/
# (metrics.jsonl, checkpoints, final.safetensors, loss.png, reconstructions.png, samples.png),
# replacing the previous run of this script there.
#   scripts/run-example.sh                 # 10 epochs at batch 128, about 30 s of training on 2 cores
#   EPOCHS=30 scripts/run-example.sh       # longer; any extra arguments go to `hgc run ... train`
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
cargo build --release -p hgc
HGC=target/release/hgc
"$HGC" check examples/vae/vae.hgl
"$HGC" run examples/vae/vae.hgl train --backend cranelift --data fashion-mnist \
  --epochs "${EPOCHS:-10}" --batch 128 --seed 0 --checkpoint-every 1000 --out runs/vae --overwrite "$@"
