#!/usr/bin/env bash
# The dependency rule of ARCHITECTURE.md: the sans-IO cores never see tokio or any I/O crate,
# and the HTTP layer never sees the runtime.
set -euo pipefail
cd "$(dirname "$0")/.."
fail=0
for core in warbler-model warbler-flow warbler-media warbler-call; do
    if cargo tree --locked -p "$core" -e normal --prefix none | grep -qE '^(tokio|sqlx|axum|reqwest|hyper|rsipstack) '; then
        echo "dependency rule broken: $core depends on an I/O crate"; fail=1
    fi
done
if cargo tree --locked -p warbler-http -e normal --prefix none | grep -qE '^warbler-(runtime|sip|media|call|flow) '; then
    echo "dependency rule broken: warbler-http depends on the runtime or a core it must not see"; fail=1
fi
[ "$fail" = 0 ] && echo "dependency rule: ok"
exit "$fail"
