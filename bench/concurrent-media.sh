#!/usr/bin/env bash
# Concurrent calls playing audio: N SIPp calls into a release `warbler serve` whose channel flow
# answers and plays a long sentence; tshark captures the server's RTP on loopback for 10 s and
# bench/rtp_intervals.py reports the send-interval error (target: p99 within 2 ms), plus the
# server's CPU and RSS. Writes bench/results/<date>-concurrent-media.md.
#
#   bash bench/concurrent-media.sh [N ...]     # default: 50 100 200
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/packages.sh
install_packages flite espeak-ng sip-tester tshark
COUNTS=("$@"); [ ${#COUNTS[@]} -eq 0 ] && COUNTS=(50 100 200)
cargo build --release --locked -p warbler-server >/dev/null
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
date_tag=$(date -u +%Y-%m-%d)
out=bench/results/$date_tag-concurrent-media.md
{
  echo "# Concurrent calls playing audio ($date_tag)"
  echo
  echo "Machine: $(nproc) cores; release build; SIPp UAC and tshark on 127.0.0.1. Each call: answer,"
  echo "then a cached sentence said 20 times (G.711, 20 ms packets). Intervals measured from a loopback"
  echo "capture of the server's RTP over 10 s, first second of each stream skipped."
  echo
  echo "| calls | streams seen | send interval error p50 / p99 / max | lost | server CPU | server RSS | RSS per call |"
  echo "| --- | --- | --- | --- | --- | --- | --- |"
} >"$out"
for n in "${COUNTS[@]}"; do
  rm -rf "$work/data"
  cat >"$work/warbler.toml" <<'TOML'
[[channels]]
call_flow = [
  { command = "answer" },
  { command = "say", options = { text = "This benchmark sentence is spoken again and again while many calls run.", loop = 20 } },
]
TOML
  target/release/warbler serve --config "$work/warbler.toml" --data-dir "$work/data" \
      --http-listen 127.0.0.1:18280 --sip-listen 127.0.0.1:15260 --rtp-ports 30000-39999 \
      --log warn >"$work/server.log" 2>&1 &
  server=$!; pids+=("$server")
  for _ in $(seq 100); do grep -q "HTTP API on" "$work/server.log" && break; sleep 0.1; done
  rss_idle=$(awk '/VmRSS/ {print $2}' /proc/$server/status)
  sipp 127.0.0.1:15260 -sf crates/sip/tests/sipp/uac_audio_dtmf_hangup.xml \
      -i 127.0.0.1 -mi 127.0.0.1 -ci 127.0.0.1 -nostdin -timeout 120s \
      -s 1000 -p 15261 -mp 16300 -m "$n" -l "$n" -r 50 \
      -key audio_pcap /usr/share/sip-tester/g711a.pcap -key dtmf_pcap /usr/share/sip-tester/dtmf_2833_1.pcap \
      -set dtmf_after_ms 100 -set hangup_after_ms 40000 >"$work/sipp.log" 2>&1 &
  sipp_pid=$!; pids+=("$sipp_pid")
  sleep $(( n / 50 + 3 ))   # benchmark: let every call be set up and answered
  ticks_before=$(awk '{print $14+$15}' /proc/$server/stat)
  tshark -i lo -f "udp src portrange 30000-39999" -a duration:10 -T fields \
      -e frame.time_epoch -e rtp.ssrc -e rtp.seq -o rtp.heuristic_rtp:TRUE -Y rtp 2>/dev/null >"$work/rtp.tsv"
  ticks_after=$(awk '{print $14+$15}' /proc/$server/stat)
  rss=$(awk '/VmRSS/ {print $2}' /proc/$server/status)
  result=$(python3 bench/rtp_intervals.py <"$work/rtp.tsv")
  cpu=$(awk -v a="$ticks_before" -v b="$ticks_after" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f %%", (b-a)/hz/10*100}')
  streams=$(echo "$result" | sed -n 's/.*streams=\([0-9]*\).*/\1/p')
  p=$(echo "$result" | sed -n 's/.*p50=\([0-9.]*ms\) p99=\([0-9.]*ms\) max=\([0-9.]*ms\).*/\1 \/ \2 \/ \3/p')
  lost=$(echo "$result" | sed -n 's/.*lost=\([0-9]*\).*/\1/p')
  per_call=$(awk -v r="$rss" -v i="$rss_idle" -v n="${streams:-0}" 'BEGIN {if (n>0) printf "%.0f KiB", (r-i)/n; else print "n/a"}')
  echo "| $n | ${streams:-0} | ${p:-n/a} | ${lost:-n/a} | $cpu | $((rss / 1024)) MiB | $per_call |" >>"$out"
  kill "$sipp_pid" "$server" 2>/dev/null; wait "$sipp_pid" "$server" 2>/dev/null
done
cat "$out"
