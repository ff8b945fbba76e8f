#!/usr/bin/env bash
# A timeline of one cold run: the connections in use and the bytes per
# second, as the server sees them (bench/throttle -timeline), in bins of
# BIN seconds, as a markdown table on stdout.
#
#   bench/timeline.sh                  modelfetch built from this tree
#   MF=/path/to/modelfetch bench/timeline.sh   another build (e.g. main's)
#   CLIENT=aria2c bench/timeline.sh    aria2c -x8 -s8 -j5 downloading alone
#
# Environment: SCALE (fraction of the full stand-in set, default 1), RATE
# (bytes/s per connection, default 20 MiB/s), BIN (default 0.25), RUNS
# (cold runs, default 1; the table is of the last), BENCH_DIR (work folder,
# default a new temp folder; the stand-ins are reused when they fit), ARGS
# (more modelfetch flags).
set -euo pipefail
scale=${SCALE:-1}
rate=${RATE:-20971520}
bin=${BIN:-0.25}
runs=${RUNS:-1}
client=${CLIENT:-modelfetch}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$(mktemp -d /tmp/modelfetch-timeline.XXXXXX)}
mkdir -p "$work"/{bin,srv}
work=$(cd "$work" && pwd)
cd "$work"
(cd "$root" && go build -o "$work/bin/throttle" ./bench/throttle && go build -o "$work/bin/gen" ./bench/gen)
mf=${MF:-}
if [ -z "$mf" ] && [ "$client" = modelfetch ]; then
  (cd "$root" && go build -trimpath -o "$work/bin/modelfetch" ./cmd/modelfetch)
  mf=$work/bin/modelfetch
fi
PATH=$work/bin:$PATH
. "$root/bench/standins.sh"
make_standins "$scale" >&2
rm -f timeline.txt throttle.log
throttle -dir srv -rate "$rate" -timeline timeline.txt > /dev/null 2> throttle.log &
srv=$!
trap 'kill $srv 2>/dev/null || true' EXIT
for _ in $(seq 100); do grep -q '://' throttle.log 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'http://[0-9.:]*' throttle.log | head -1)
write_manifest "$url" timeline.toml
for _ in $(seq "$runs"); do
  rm -rf out cache dl
  : > timeline.txt
  start=$(date +%s.%N)
  if [ "$client" = aria2c ]; then
    mkdir dl
    for f in srv/*; do echo "$url/${f#srv/}"; done > dl/list
    (cd dl && aria2c -q -x8 -s8 -j5 --file-allocation=none -i list)
  else
    # shellcheck disable=SC2086
    "$mf" --progress none -m timeline.toml --cache cache ${ARGS:-} > /dev/null
  fi
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  sleep 0.3 # the last samples
done
python3 - "$bin" "$wall" "$client" "$rate" <<'PY'
import sys, collections
bin, wall, client, rate = float(sys.argv[1]), float(sys.argv[2]), sys.argv[3], int(sys.argv[4])
short = {"shape_predictor_68_face_landmarks.dat.bz2": "dlib.bz2", "codeformer.pth": "codeformer",
         "detection_Resnet50_Final.pth": "detection", "parsing_parsenet.pth": "parsing",
         "u2net_human_seg.onnx": "u2net"}
rows = collections.defaultdict(lambda: {"n": 0, "flight": 0, "bytes": 0, "peak": 0, "files": collections.Counter()})
for line in open("timeline.txt"):
    f = line.split()
    t, flight, sent = float(f[0]), int(f[1]), int(f[2])
    r = rows[int(t // bin)]
    r["n"] += 1
    r["flight"] += flight
    r["peak"] = max(r["peak"], flight)
    r["bytes"] += sent
    for kv in f[3:]:
        k, v = kv.rsplit("=", 1)
        r["files"][short.get(k, k)] += int(v)
names = list(short.values())
print(f"{client}, one cold run: {wall:.2f} s wall. Per bin of {bin:g} s: requests in flight "
      f"(connections in use), mean and peak; mean per file; MiB/s sent "
      f"(each connection paced at {rate / (1 << 20):.0f} MiB/s).\n")
print("| t (s) | in use | peak | " + " | ".join(names) + " | MiB/s |")
print("|---" * (len(names) + 4) + "|")
total = 0
for b in sorted(rows):
    r = rows[b]
    n = r["n"]
    total += r["bytes"]
    per = " | ".join(f"{r['files'][k] / n:.1f}" if r["files"][k] else "" for k in names)
    print(f"| {b * bin:.2f} | {r['flight'] / n:.1f} | {r['peak']} | {per} | {r['bytes'] / bin / (1 << 20):.0f} |")
print(f"\n{total / 1e6:.0f} MB sent.")
PY
