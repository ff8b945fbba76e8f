#!/usr/bin/env bash
# A timeline of one cold run: the connections in use and the bytes per
# second, as the server sees them (bench/throttle -timeline), in bins of
# BIN seconds, as a markdown table on stdout, and the CPU the client and the
# server used.
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
  rm -rf out cache dl && sync # nothing left to write back from before
  : > timeline.txt
  srv_cpu0=$(awk '{print $14 + $15}' "/proc/$srv/stat")
  start=$(date +%s.%N)
  if [ "$client" = aria2c ]; then
    mkdir dl
    for f in srv/*; do echo "$url/${f#srv/}"; done > dl/list
    (cd dl && /usr/bin/time -o ../client.cpu -f '%U %S' aria2c -q -x8 -s8 -j5 --file-allocation=none -i list)
  else
    # shellcheck disable=SC2086
    /usr/bin/time -o client.cpu -f '%U %S' "$mf" --progress none -m timeline.toml --cache cache ${ARGS:-} > /dev/null
  fi
  wall=$(echo "$(date +%s.%N) - $start" | bc)
  srv_cpu=$(awk -v t0="$srv_cpu0" -v hz="$(getconf CLK_TCK)" '{printf "%.2f", ($14 + $15 - t0) / hz}' "/proc/$srv/stat")
  sleep 0.7 # the last samples; and idle, so the next run starts at time 0
done
python3 "$root/bench/timeline.py" timeline.txt "$bin" "$wall" "$client" "$rate"
read -r cu cs < client.cpu
echo
echo "CPU of that run: $client ${cu} s user + ${cs} s system; the server ${srv_cpu} s; $(nproc) cores."
