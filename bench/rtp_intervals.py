#!/usr/bin/env python3
"""Inter-packet send intervals of every RTP stream in a capture (tshark fields input).

Reads lines "frame.time_epoch<TAB>rtp.ssrc<TAB>rtp.seq" on stdin (one per RTP packet, taken on
the sender's side of loopback) and prints the error of each interval against 20 ms: p50, p99,
max (ms), the number of streams and packets, and sequence gaps (loss).
"""
import sys
from collections import defaultdict

streams = defaultdict(list)
for line in sys.stdin:
    parts = line.strip().split("\t")
    if len(parts) < 3 or not parts[1]:
        continue
    try:
        streams[parts[1]].append((float(parts[0]), int(parts[2])))
    except ValueError:
        continue
errors, packets, gaps = [], 0, 0
for packets_of_stream in streams.values():
    packets_of_stream.sort()
    packets += len(packets_of_stream)
    # Skip the first second of each stream (answer, first clip) and the last packet.
    start = packets_of_stream[0][0] + 1.0
    previous = None
    for time, sequence in packets_of_stream:
        if previous and time >= start:
            errors.append(abs((time - previous[0]) * 1000.0 - 20.0 * ((sequence - previous[1]) % 65536 or 1)))
            gaps += max(0, (sequence - previous[1]) % 65536 - 1)
        previous = (time, sequence)
errors.sort()
if not errors:
    print("no RTP intervals measured")
    sys.exit(1)
pick = lambda q: errors[min(len(errors) - 1, int(q * len(errors)))]
print(f"streams={len(streams)} packets={packets} intervals={len(errors)} "
      f"p50={pick(0.50):.2f}ms p99={pick(0.99):.2f}ms max={errors[-1]:.2f}ms lost={gaps}")
