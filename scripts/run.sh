#!/usr/bin/env bash
# Builds and starts Warbler on its embedded defaults (SQLite in ./warbler-data), installing the
# text-to-speech programs it needs. Extra arguments go to `warbler serve` (see README).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/packages.sh
install_packages flite espeak-ng
cargo build --release --locked -p warbler-server
exec target/release/warbler serve "$@"
