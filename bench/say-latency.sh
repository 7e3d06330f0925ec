#!/usr/bin/env bash
# First RTP packet of `say` after the ACK, cold and cached, and whether a long synthesis on one
# call delays another call's audio. Release build, SIPp on 127.0.0.1. Writes
# bench/results/<date>-say-latency.md.
#
#   bash bench/say-latency.sh [CALLS]      # default 20 cached calls
set -uo pipefail
cd "$(dirname "$0")/.."
. scripts/packages.sh
install_packages flite espeak-ng sip-tester
CALLS=${1:-20}
cargo build --release --locked -p warbler-server >/dev/null
work=$(mktemp -d)
server_pid=""
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi; }
trap cleanup EXIT

cat >"$work/warbler.toml" <<'TOML'
[[channels]]
numbers = ["1000"]
call_flow = [
  { command = "say", options = { text = "This is a cached benchmark phrase from Warbler." } },
  { command = "hangup" },
]
[[channels]]
numbers = ["2000"]
call_flow = [
  { command = "say", options = { text = "A long sentence, synthesized while another call is talking, must never delay that other call, because synthesis runs in its own task and the media loop keeps pacing." } },
  { command = "hangup" },
]
TOML
target/release/warbler serve --config "$work/warbler.toml" --data-dir "$work/data" \
    --http-listen 127.0.0.1:18180 --sip-listen 127.0.0.1:15160 --rtp-ports 31000-31999 \
    >"$work/server.log" 2>&1 &
server_pid=$!
for _ in $(seq 100); do grep -q "HTTP API on" "$work/server.log" && break; sleep 0.1; done

sipp_call() { # user local-port media-port count
    sipp 127.0.0.1:15160 -sf crates/sip/tests/sipp/uac_audio_dtmf_wait_bye.xml \
        -i 127.0.0.1 -mi 127.0.0.1 -ci 127.0.0.1 -nostdin -timeout 60s -timeout_error \
        -s "$1" -p "$2" -mp "$3" -m "$4" -l 1 \
        -key audio_pcap /usr/share/sip-tester/g711a.pcap -key dtmf_pcap /usr/share/sip-tester/dtmf_2833_1.pcap \
        -set dtmf_after_ms 100 >/dev/null 2>&1
}
latencies() { grep -o "first audio packet after the ACK to=$1 milliseconds=-\\?[0-9]*" "$work/server.log" | sed 's/.*=//'; }

sipp_call 1000 15161 16100 1                    # cold: synthesizes
cold=$(latencies 1000 | tail -1)
sipp_call 1000 15161 16100 "$CALLS"             # cached
cached=$(latencies 1000 | sed -n "2,$((CALLS + 1))p" | sort -n)
# Concurrency: a cold long sentence on 2000 while cached calls run on 1000.
sipp_call 2000 15163 16200 1 & long=$!
sipp_call 1000 15161 16100 5
wait $long || true
concurrent=$(latencies 1000 | tail -n 5 | sort -n)
long_cold=$(latencies 2000 | tail -1)

stats() { awk '{a[NR]=$1} END {n=NR; if(n==0){print "n/a"; exit}; p50=a[int((n+1)/2)]; i99=int(n*0.99+0.999); if(i99<1)i99=1; if(i99>n)i99=n; printf "n=%d p50=%d ms p99=%d ms max=%d ms", n, p50, a[i99], a[n]}'; }
date_tag=$(date -u +%Y-%m-%d)
out=bench/results/$date_tag-say-latency.md
{
  echo "# say: first RTP packet after the ACK ($date_tag)"
  echo
  echo "Machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo); release build; SIPp UAC on 127.0.0.1;"
  echo "flow: say (implicit answer) then hangup. Measured by the server from the ACK to the first audio packet."
  echo
  echo "| case | figure |"
  echo "| --- | --- |"
  echo "| cold (first synthesis, flite) | ${cold:-n/a} ms |"
  echo "| cached phrase, $CALLS calls | $(echo "$cached" | stats) |"
  echo "| cached calls while another call synthesizes a long sentence | $(echo "$concurrent" | stats) |"
  echo "| that long sentence itself (cold) | ${long_cold:-n/a} ms |"
  echo
  echo "Negative or zero: the audio was already queued when the ACK arrived (the 200 OK goes out,"
  echo "the cached clip starts on the next 20 ms tick)."
} >"$out"
cat "$out"
