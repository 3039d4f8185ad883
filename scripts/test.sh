#!/usr/bin/env bash
# Sets up a fresh Debian 12 machine (idempotent) and runs the whole test suite, including the
# code generator crates that link LLVM and MLIR.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TERM_COLOR=never
cargo test --workspace --all-targets -j "$(nproc)" "$@"
