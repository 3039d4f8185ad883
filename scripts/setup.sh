#!/usr/bin/env bash
# Installs everything Hourglass needs on a fresh Debian 12 machine. Idempotent: every step
# checks before it acts, so running it again is cheap.
#   - LLVM/MLIR 22 development packages (codegen crates link them statically)
#   - the Fashion-MNIST data set (Debian package `dataset-fashion-mnist`)
#   - a Python venv under .venv with `ptxas` (PyPI's nvidia-cuda-nvcc) for checking PTX without a GPU,
#     and numpy/torch for the PyTorch parity checks under bench/ (scripts/test.sh runs them).
#     PyPI has no CPU-only torch for Linux: its wheel needs the CUDA libraries (nvidia-* wheels)
#     even to import, so this is the full install, about 5 GB and a few minutes the first time.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  llvm-22-dev libmlir-22-dev mlir-22-tools libclang1-22 libclang-common-22-dev libpolly-22-dev
  libzstd-dev zlib1g-dev libxml2-dev libffi-dev pkg-config
  dataset-fashion-mnist python3-venv
)

sudo_if_needed() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  sudo_if_needed apt-get update -qq
  DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found; install Rust (rustup) first" >&2
  exit 1
fi

# ptxas for PTX checks (no GPU needed).
VENV=.venv
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
if ! ls "$VENV"/lib/python3*/site-packages/nvidia/cuda_nvcc/bin/ptxas >/dev/null 2>&1; then
  "$VENV/bin/pip" install -q --disable-pip-version-check "nvidia-cuda-nvcc-cu12==12.8.*"
fi

# numpy and torch for bench/torch_twin (and bench/speed.py). `--python-checks` is accepted for
# older callers; they are always installed now.
if ! "$VENV/bin/python" -c "import numpy, torch" 2>/dev/null; then
  echo "setup: installing numpy and torch into $VENV (large download, a few minutes)"
  "$VENV/bin/pip" install -q --disable-pip-version-check numpy torch
fi
echo "setup: ok"
