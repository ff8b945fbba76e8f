#!/usr/bin/env bash
# Benchmark `modelfetch lock` of the stand-in set served as hf:// sources:
# from the Hub's metadata (the default) versus by download (lock --download).
#
#   bench/hub.sh            the full-size set (about 0.81 GB served)
#   SCALE=0.1 bench/hub.sh  scaled down
#
# A fake Hub (bench/hubsrv) answers the revision API and resolve's 302 with
# X-Linked-Etag/X-Linked-Size; the 302 leads to a bench/throttle server that
# serves the files paced at RATE bytes/s per connection (default 20 MiB/s),
# and counts the body bytes it sends. Each way is run RUNS times (default 3)
# from a manifest with no values; the median time is printed, with the bytes
# of file the run downloaded.
set -euo pipefail
scale=${SCALE:-1}
rate=${RATE:-20971520}
runs=${RUNS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$(mktemp -d /tmp/modelfetch-hub-bench.XXXXXX)}
mkdir -p "$work"/{bin,srv}
work=$(cd "$work" && pwd)
cd "$work"

echo "--- building" >&2
(cd "$root" && go build -trimpath -o "$work/bin/modelfetch" ./cmd/modelfetch \
  && go build -o "$work/bin/throttle" ./bench/throttle \
  && go build -o "$work/bin/gen" ./bench/gen \
  && go build -o "$work/bin/hubsrv" ./bench/hubsrv)
PATH=$work/bin:$PATH
. "$root/bench/standins.sh"
echo "--- generating stand-ins (scale $scale)" >&2
make_standins "$scale"
served=$(du -cbL srv/* | tail -1 | cut -f1)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
throttle -dir srv -rate "$rate" -count 2>> storage.log &
pids+=($!)
wait_line() { # file pattern: the first line of file matching pattern, once there
  for _ in $(seq 600); do
    if grep -q "$2" "$1" 2>/dev/null; then grep -m1 "$2" "$1"; return; fi
    sleep 0.1
  done
  echo "bench: no \"$2\" in $1" >&2; exit 1
}
storage=$(wait_line storage.log 'serving' | sed 's/.* on //')
hubsrv -dir srv -storage "$storage" 2> hub.log &
pids+=($!)
endpoint=$(wait_line hub.log 'hub ' | sed 's/.* on //')

manifest() {
  {
    echo 'version = 1'
    for f in srv/*; do
      name=$(basename "$f")
      echo "[models.${name%%.*}]"
      echo "path = \"$name\""
      echo "urls = [\"hf://bench/standins/$name\"]"
    done
  } > models.toml
}

# run NAME FLAGS...: RUNS locks from scratch; prints "median-seconds bytes".
run() {
  local name=$1 times=() bytes i t0 t1
  shift
  for i in $(seq "$runs"); do
    manifest
    : > storage.log
    t0=$(date +%s.%N)
    HF_ENDPOINT=$endpoint modelfetch lock --no-cache -q "$@"
    t1=$(date +%s.%N)
    times+=("$(echo "$t1 - $t0" | bc)")
    bytes=$(awk '/^throttle: served/ { n += $NF } END { print n + 0 }' storage.log)
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v b="$bytes" '{ a[NR] = $1 } END { printf "%.2f %d\n", a[int((NR + 1) / 2)], b }'
}
echo "--- lock from metadata" >&2
read -r meta_s meta_b < <(run metadata)
cp models.toml locked-metadata.toml
echo "--- lock --download" >&2
read -r dl_s dl_b < <(run download --download)
cmp models.toml locked-metadata.toml # both ways record the same values

echo
echo "Stand-ins: $served bytes served as hf:// files, $(ls srv | wc -l) models; storage paced at $rate bytes/s per connection; median of $runs runs."
echo
echo "| lock | median | bytes of file downloaded |"
echo "|---|---|---|"
echo "| from the Hub's metadata (default) | $meta_s s | $meta_b |"
echo "| \`--download\` | $dl_s s | $dl_b |"
