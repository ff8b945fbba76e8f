#!/usr/bin/env bash
# Benchmark modelfetch against what users would otherwise run, on one machine.
#
#   bench/run.sh          full-size stand-ins (about 0.85 GB; several minutes)
#   bench/run.sh quick    the same set scaled down 10x
#
# Environment: RATE (bytes/s per connection of the throttled server, default
# 20 MiB/s), RUNS (hyperfine runs per command, default 3), BENCH_DIR (work
# folder, default a new temp folder), OUT (markdown report, default
# docs/BENCHMARKS.md for a full run, stdout only for quick).
#
# Everything runs on loopback: a Go server (bench/throttle) serves the
# stand-ins, throttled per connection like release CDNs, and unthrottled.
set -euo pipefail
mode=${1:-full}
rate=${RATE:-20971520}
runs=${RUNS:-3}
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$(mktemp -d /tmp/modelfetch-bench.XXXXXX)}
mkdir -p "$work"/{bin,srv}
cd "$work"

need=()
for t in hyperfine aria2c lbzip2 wget curl bzip2 python3 /usr/bin/time; do
  command -v "$t" >/dev/null || need+=("$t")
done
if [ ${#need[@]} -gt 0 ]; then
  pkgs=()
  for t in "${need[@]}"; do
    case $t in aria2c) pkgs+=(aria2) ;; /usr/bin/time) pkgs+=(time) ;; python3) pkgs+=(python3-minimal) ;; *) pkgs+=("$t") ;; esac
  done
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

echo "--- building" >&2
(cd "$root" && go build -trimpath -o "$work/bin/modelfetch" ./cmd/modelfetch \
  && go build -o "$work/bin/throttle" ./bench/throttle \
  && go build -o "$work/bin/gen" ./bench/gen \
  && go build -o "$work/bin/bz2dec" ./bench/bz2dec)
PATH=$work/bin:$PATH

# name kind installed-size (the real artifacts' sizes)
scale=1
[ "$mode" = quick ] && scale=10
set_files() {
  cat <<LIST
shape_predictor_68_face_landmarks.dat floats 99693937
codeformer.pth random 376637898
detection_Resnet50_Final.pth random 109497761
parsing_parsenet.pth random 85331193
u2net_human_seg.onnx random 175997641
LIST
}
echo "--- generating stand-ins (scale 1/$scale)" >&2
: > SHA256SUMS
seed=1
while read -r name kind size; do
  size=$((size / scale))
  if [ ! -s "data-$name" ] || [ "$(stat -c %s "data-$name")" != "$size" ]; then
    gen -kind "$kind" -size "$size" -seed "$seed" > "data-$name"
  fi
  echo "$(sha256sum "data-$name" | cut -d' ' -f1)  $name" >> SHA256SUMS
  seed=$((seed + 1))
done < <(set_files)
dlib=shape_predictor_68_face_landmarks.dat
[ -s "srv/$dlib.bz2" ] || bzip2 -9 -c "data-$dlib" > "srv/$dlib.bz2"
for f in codeformer.pth detection_Resnet50_Final.pth parsing_parsenet.pth u2net_human_seg.onnx; do
  ln -f "data-$f" "srv/$f"
done
served=$(du -cb srv/* | tail -1 | cut -f1)
installed=$(du -cbL data-* | tail -1 | cut -f1)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
start_server() { # rate name: runs in this shell so cleanup can stop it
  throttle -dir srv -rate "$1" > /dev/null 2> "$2.log" &
  pids+=($!)
}
server_url() { # name
  for _ in $(seq 100); do grep -q 'http://' "$1.log" 2>/dev/null && break; sleep 0.1; done
  grep -o 'http://[0-9.:]*' "$1.log" | head -1
}
start_server "$rate" slow
start_server 0 fast
slow=$(server_url slow)
fast=$(server_url fast)
[ -n "$slow" ] && [ -n "$fast" ] || { echo "bench: servers did not start" >&2; exit 1; }

manifest() { # base-url file
  {
    echo 'version = 1'
    echo '[dirs]'
    echo "models = \"$work/out/models\""
    echo "u2net = \"$work/out/u2net\""
    while read -r sum name; do
      key=${name%%.*}
      echo "[models.$key]"
      [ "$name" = u2net_human_seg.onnx ] && echo 'dir = "u2net"'
      echo "path = \"$name\""
      echo "sha256 = \"$sum\""
      echo "size = $(stat -c %s "data-$name")"
      if [ "$name" = "$dlib" ]; then echo "urls = [\"$1/$name.bz2\"]"; else echo "urls = [\"$1/$name\"]"; fi
    done < SHA256SUMS
  } > "$2"
}
manifest "$slow" slow.toml
manifest "$fast" fast.toml

mf="modelfetch --progress none"
files="codeformer.pth detection_Resnet50_Final.pth parsing_parsenet.pth u2net_human_seg.onnx"
cat > seed.sh <<SH
#!/usr/bin/env bash
# The seed pipeline: one file after another, wget, bunzip2, sha256sum -c.
set -e
rm -rf dl && mkdir dl && cd dl
wget -q "\$1/$dlib.bz2" && bunzip2 "$dlib.bz2"
for f in $files; do wget -q "\$1/\$f"; done
sha256sum --quiet -c ../SHA256SUMS
SH
cat > best.sh <<SH
#!/usr/bin/env bash
# The best shell pipeline: aria2c -x8 for every file at once, lbzip2 -d on
# every core, then sha256sum -c, files in parallel.
set -e
rm -rf dl && mkdir dl && cd dl
for f in $dlib.bz2 $files; do echo "\$1/\$f"; done > list
aria2c -q -x8 -s8 -j5 --file-allocation=none -i list
lbzip2 -d -n"$(nproc)" "$dlib.bz2"
awk '{print \$2}' ../SHA256SUMS | xargs -P"$(nproc)" -n1 sha256sum | diff -q <(sort -k2 -) <(sort -k2 ../SHA256SUMS) >/dev/null
SH
cat > curl.sh <<SH
#!/usr/bin/env bash
# Streaming with curl: decompress and hash as the bytes arrive (no file kept).
set -e
curl -sf "\$1/$dlib.bz2" | bzip2 -dc | sha256sum > /dev/null
for f in $files; do curl -sf "\$1/\$f" | sha256sum > /dev/null; done
SH
chmod +x seed.sh best.sh curl.sh

hf() { # name args... : median seconds into results/name
  local name=$1; shift
  hyperfine --style none --runs "$runs" --export-json "results-$name.json" "$@" >&2
}
rm -f results-*.json
echo "--- throttled at $((rate / 1048576)) MiB/s per connection" >&2
hf mf_cold --prepare "rm -rf out cache" "$mf -m slow.toml --cache cache"
hf mf_warm "$mf -m slow.toml --cache cache"
hf mf_cache --prepare "rm -rf out" "$mf -m slow.toml --cache cache"
hf seed "./seed.sh $slow"
hf best "./best.sh $slow"
hf curl "./curl.sh $slow"
echo "--- unthrottled" >&2
hf mf_cold_fast --prepare "rm -rf out cache" "$mf -m fast.toml --cache cache"
hf best_fast "./best.sh $fast"
echo "--- stages" >&2
hf sha_installed "sha256sum out/models/* out/u2net/*"
hf bz_std "bz2dec -serial srv/$dlib.bz2"
hf bz_par "bz2dec srv/$dlib.bz2"
hf bz_lbzip2 "lbzip2 -d -n2 -c srv/$dlib.bz2 > /dev/null"
rm -rf out cache
/usr/bin/time -v modelfetch --progress none -m slow.toml --cache cache 2> rss.txt >/dev/null
rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' rss.txt)
bz_cpu=$( { /usr/bin/time -f '%U %S' bz2dec "srv/$dlib.bz2" ; } 2>&1 | tail -1)

python3 - "$served" "$installed" "$rate" "$rss_kb" "$bz_cpu" "$mode" "$runs" <<'PY' > report.md
import json, os, sys
served, installed, rate, rss_kb = (int(x) for x in sys.argv[1:5])
bz_cpu = sum(float(x) for x in sys.argv[5].split())
mode, runs = sys.argv[6], sys.argv[7]
cores = os.cpu_count()
med = {f[8:-5]: json.load(open(f))["results"][0]["median"] for f in os.listdir(".") if f.startswith("results-")}
conns = 16  # modelfetch's per-host cap: every file is on one loopback host
bound = max(served / (conns * rate), bz_cpu / cores)
mib = 1 << 20
def row(label, key, base=None, note=""):
    t = med[key]
    ratio = f"{t / med[base]:.2f}x" if base else ""
    print(f"| {label} | {t:.2f} s | {ratio} | {note} |")
print(f"Stand-ins: {installed/1e6:.0f} MB installed, {served/1e6:.0f} MB served ({mode} set); "
      f"{cores} cores; throttled server: {rate/mib:.0f} MiB/s per connection; median of {runs} runs.\n")
print("| command | median | vs seed pipeline | note |")
print("|---|---|---|---|")
row("seed: wget → bunzip2 → sha256sum -c, one by one", "seed", "seed")
row("curl \\| bzip2 -dc \\| sha256sum, streaming, one by one", "curl", "seed", "installs nothing")
row("best shell: aria2c -x8 (all files) → lbzip2 → sha256sum", "best", "seed")
row("**modelfetch cold** (empty cache and out)", "mf_cold", "seed",
    f"{med['mf_cold']/med['best']:.2f}x the best shell; lower bound {bound:.2f} s ({med['mf_cold']/bound:.2f}x)")
row("modelfetch from cache", "mf_cache", "seed")
row("modelfetch warm (all installed)", "mf_warm", "seed", f"{med['mf_warm']/med['sha_installed']:.2f}x sha256sum of the installed files")
print()
print("| unthrottled | median | |")
print("|---|---|---|")
print(f"| modelfetch cold | {med['mf_cold_fast']:.2f} s | |")
print(f"| best shell | {med['best_fast']:.2f} s | |")
print()
print("| bzip2 stage (dlib stand-in) | median | vs Go compress/bzip2 |")
print("|---|---|---|")
for label, key in [("Go compress/bzip2", "bz_std"), ("modelfetch (pbzip2, all cores)", "bz_par"), ("lbzip2 -n2", "bz_lbzip2")]:
    print(f"| {label} | {med[key]:.2f} s | {med['bz_std']/med[key]:.2f}x faster |")
print()
print(f"Lower bound: max({served/1e6:.0f} MB ÷ ({conns} connections × {rate/mib:.0f} MiB/s), "
      f"bzip2 CPU {bz_cpu:.2f} s ÷ {cores} cores) = {bound:.2f} s.  ")
print(f"Peak RSS of modelfetch cold: {rss_kb/1024:.0f} MiB.  ")
print(f"sha256sum of the installed files: {med['sha_installed']:.2f} s.")
PY
cat report.md
if [ "$mode" = full ] || [ -n "${OUT:-}" ]; then
  out=${OUT:-$root/docs/BENCHMARKS.md}
  mkdir -p "$(dirname "$out")"
  {
    echo "# Benchmarks"
    echo
    echo "Measured by \`bench/run.sh\` on $(date -u +%Y-%m-%d): $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB,"
    echo "$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), Go $(go env GOVERSION | sed 's/go//')."
    echo
    cat report.md
    echo
    cat "$root/bench/ANALYSIS.md"
  } > "$out"
  echo "wrote $out" >&2
fi
