#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (idempotent) and runs the whole test suite, including the
# code generator crates that link LLVM and MLIR, then the PyTorch training parity checks
# (bench/torch_twin/run.sh) with the debug `hgc` the test run built.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TERM_COLOR=never
cargo test --workspace --all-targets -j "$(nproc)" "$@"
# LLVM and the MLIR lowering (run on the CPU) join the conformance suite through the `mlir`
# feature, which implies `llvm` (one more test binary that links LLVM and MLIR; the day-to-day
# build leaves them out).
cargo test -p hg-tests --features mlir --test conformance -j "$(nproc)" "$@"
# The tests above built target/debug/hgc; make sure it is current, then compare with PyTorch.
cargo build -q -p hgc
HGC=target/debug/hgc bash bench/torch_twin/run.sh
