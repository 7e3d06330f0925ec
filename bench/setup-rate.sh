#!/usr/bin/env bash
# SIP call setup rate: SIPp's built-in `uac` (INVITE, 200, ACK, 1 s, BYE) against a release
# `warbler serve` whose channel flow answers and says a cached phrase; each rate runs for 20 s.
# Reports successful and failed calls, the server's CPU and RSS. Writes
# bench/results/<date>-setup-rate.md.
#
#   bash bench/setup-rate.sh [RATE ...]     # calls per second; default: 50 100 200
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/packages.sh
install_packages flite espeak-ng sip-tester
RATES=("$@"); [ ${#RATES[@]} -eq 0 ] && RATES=(50 100 200)
cargo build --release --locked -p warbler-server >/dev/null
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
date_tag=$(date -u +%Y-%m-%d)
out=bench/results/$date_tag-setup-rate.md
{
  echo "# SIP call setup rate ($date_tag)"
  echo
  echo "Machine: $(nproc) cores; release build; SIPp built-in \`uac\` on 127.0.0.1 (INVITE, 200, ACK,"
  echo "1 s, BYE), 20 s per rate. Server flow: answer, say a cached phrase."
  echo
  echo "| rate (calls/s) | calls | successful | failed | server CPU | server RSS |"
  echo "| --- | --- | --- | --- | --- | --- |"
} >"$out"
for rate in "${RATES[@]}"; do
  rm -rf "$work/data"
  cat >"$work/warbler.toml" <<'TOML'
[[channels]]
call_flow = [ { command = "answer" }, { command = "say", options = { text = "Hello." } } ]
TOML
  target/release/warbler serve --config "$work/warbler.toml" --data-dir "$work/data" \
      --http-listen 127.0.0.1:18380 --sip-listen 127.0.0.1:15360 --rtp-ports 30000-39999 \
      --log warn >"$work/server.log" 2>&1 &
  server=$!; pids+=("$server")
  for _ in $(seq 100); do grep -q "HTTP API on" "$work/server.log" && break; sleep 0.1; done
  total=$((rate * 20))
  ticks_before=$(awk '{print $14+$15}' /proc/$server/stat)
  (cd "$work" && sipp 127.0.0.1:15360 -sn uac -i 127.0.0.1 -mi 127.0.0.1 -ci 127.0.0.1 -nostdin \
      -s 1000 -p 15361 -mp 16500 -r "$rate" -m "$total" -d 1000 -timeout 120s \
      -trace_stat -fd 5 >"$work/sipp.out" 2>&1)
  ticks_after=$(awk '{print $14+$15}' /proc/$server/stat)
  rss=$(awk '/VmRSS/ {print $2}' /proc/$server/status)
  stat=$(ls -t "$work"/uac_*_.csv 2>/dev/null | head -1)
  read -r ok failed < <(python3 - "$stat" <<'PY'
import csv, sys
rows = list(csv.reader(open(sys.argv[1]), delimiter=';'))
head, last = rows[0], rows[-1]
print(last[head.index('SuccessfulCall(C)')], last[head.index('FailedCall(C)')])
PY
)
  seconds=$(awk -v a="$ticks_before" -v b="$ticks_after" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", (b-a)/hz}')
  echo "| $rate | $total | $ok | $failed | ${seconds} s CPU over the run ($(awk -v s="$seconds" 'BEGIN {printf "%.0f", s/21*100}') % of a core) | $((rss / 1024)) MiB |" >>"$out"
  kill "$server" 2>/dev/null; wait "$server" 2>/dev/null
  rm -f "$work"/uac_*
done
cat "$out"
