#!/usr/bin/env bash
# The whole test suite: formatting, lints, and every test (unit, conformance, end to end
# through the real `hygge` binary). Installs what is missing. Used by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
export CARGO_BUILD_JOBS="${CARGO_BUILD_JOBS:-2}"

# Toolchain components the checks need (rustup ships them; a minimal profile may not).
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
  rustup component add rustfmt clippy
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
