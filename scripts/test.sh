#!/usr/bin/env bash
# Runs the whole test suite as CI does: formatting, lints, the dependency rule, unit, HTTP,
# virtual-time and black-box tests (the real binary against SIPp and baresip on 127.0.0.1).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/packages.sh
install_packages flite espeak-ng sip-tester baresip sox lame
cargo fmt --all -- --check
cargo clippy --locked --workspace --all-targets -- -D warnings
bash scripts/check-dependencies.sh
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --locked --workspace --profile ci
else
    cargo test --locked --workspace --lib --bins --tests
fi
cargo test --locked --workspace --doc
