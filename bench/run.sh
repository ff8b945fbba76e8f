#!/usr/bin/env bash
# Benchmark modelfetch against what users would otherwise run, on one machine.
#
#   bench/run.sh          full-size stand-ins (about 0.85 GB; about 20 minutes)
#   bench/run.sh quick    the same set scaled down 10x
#   SCALE=0.01 bench/run.sh quick    a check that the script works (a few minutes)
#
# Every command is timed under each setting of SETTINGS (default
# "http https http-link https-link"), one table each:
#   http        plain HTTP/1.1, RATE bytes/s per TCP connection
#   https       HTTPS with HTTP/2 offered (ALPN h2, http/1.1) under a CA the
#               server makes at start, RATE per TCP connection (the streams of
#               one HTTP/2 connection share it), behind a redirect hop to a
#               second host as GitHub → its storage CDN (REDIRECT=0: none)
#   *-link      the same, all connections sharing one LINK bytes/s link
#
# Environment: SCALE (fraction of the full-size set; default 1, quick 0.1),
# RATE (bytes/s per connection, default 20 MiB/s), LINK (bytes/s of the link
# cap, default 125000000: 1 Gb/s), HOP_DELAY (how long the redirecting host
# takes to answer, a Go duration, default 0s), CONNS (connections the physical
# bound allows, default 16: modelfetch's per-host cap), RUNS (hyperfine runs per
# command, default 3), BENCH_DIR (work folder, default a new temp folder), OUT
# (markdown report; default docs/BENCHMARKS.md for a full-size run, else stdout
# only), MODELFETCH (a modelfetch binary to time instead of one built from
# this tree: another commit's, for a before/after in the same conditions),
# SKIP (rows not to time, by name: "seed curl" leaves out the two slowest,
# which do not run modelfetch; any of seed curl best aria mf_cold mf_warm
# mf_cache mf_lock mf_check, and of the runs after the settings, mf_cold_fast
# best_fast sha_installed ssl_installed bz_std bz_par bz_lbzip2).
#
# The http setting's server also samples the connections in use
# (bench/throttle -timeline); one more cold run there gives the report's
# timeline table (bench/timeline.py).
#
# Everything runs on loopback: a Go server (bench/throttle) serves the
# stand-ins, paced per connection like release CDNs, and unpaced.
set -euo pipefail
mode=${1:-full}
case $mode in full) scale=${SCALE:-1} ;; quick) scale=${SCALE:-0.1} ;; *) echo "usage: bench/run.sh [quick]" >&2; exit 2 ;; esac
rate=${RATE:-20971520}
link=${LINK:-125000000}
hop_delay=${HOP_DELAY:-0s}
redirect=${REDIRECT:-1}
conns=${CONNS:-16}
runs=${RUNS:-3}
settings=${SETTINGS:-http https http-link https-link}
for s in $settings; do
  case $s in http | https | http-link | https-link) ;; *) echo "bench: unknown setting $s" >&2; exit 2 ;; esac
done
root=$(cd "$(dirname "$0")/.." && pwd)
work=${BENCH_DIR:-$(mktemp -d /tmp/modelfetch-bench.XXXXXX)}
mkdir -p "$work"/{bin,srv}
work=$(cd "$work" && pwd)
cd "$work"

need=()
for t in hyperfine aria2c lbzip2 wget curl bzip2 openssl python3 /usr/bin/time; do
  command -v "$t" >/dev/null || need+=("$t")
done
if [ ${#need[@]} -gt 0 ]; then
  pkgs=(ca-certificates)
  for t in "${need[@]}"; do
    case $t in aria2c) pkgs+=(aria2) ;; /usr/bin/time) pkgs+=(time) ;; python3) pkgs+=(python3-minimal) ;; *) pkgs+=("$t") ;; esac
  done
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

echo "--- building" >&2
if [ -n "${MODELFETCH:-}" ]; then
  cp "$MODELFETCH" "$work/bin/modelfetch"
else
  (cd "$root" && go build -trimpath -o "$work/bin/modelfetch" ./cmd/modelfetch)
fi
(cd "$root" && go build -o "$work/bin/throttle" ./bench/throttle \
  && go build -o "$work/bin/gen" ./bench/gen \
  && go build -o "$work/bin/bz2dec" ./bench/bz2dec)
PATH=$work/bin:$PATH

# The stand-in set (bench/standins.sh).
. "$root/bench/standins.sh"
echo "--- generating stand-ins (scale $scale)" >&2
make_standins "$scale"
served=$(du -cb srv/* | tail -1 | cut -f1)
installed=$(du -cbL data-* | tail -1 | cut -f1)

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
start_server() { # name throttle-flags...: runs in this shell so cleanup can stop it
  local name=$1; shift
  throttle -dir srv "$@" > /dev/null 2> "$name.log" &
  pids+=($!)
}
server_url() { # name: the URL clients start from
  for _ in $(seq 100); do grep -q '://' "$1.log" 2>/dev/null && break; sleep 0.1; done
  grep -o 'https\?://[0-9.:]*' "$1.log" | head -1
}
declare -A url ca
rm -f timeline-http.txt # the http server appends to it
for s in $settings; do
  flags=(-rate "$rate")
  case $s in *-link) flags+=(-link "$link") ;; esac
  [ "$s" != http ] || flags+=(-timeline "$work/timeline-http.txt")
  ca[$s]=
  case $s in https*)
    ca[$s]=$work/ca-$s.pem
    rm -f "${ca[$s]}"
    flags+=(-tls -ca "${ca[$s]}")
    [ "$redirect" = 1 ] && flags+=(-redirect -hop-delay "$hop_delay")
    ;;
  esac
  start_server "$s" "${flags[@]}"
done
start_server fast -rate 0
for s in $settings fast; do
  url[$s]=$(server_url "$s")
  [ -n "${url[$s]}" ] || { echo "bench: server $s did not start: $(cat "$s.log")" >&2; exit 1; }
done

for s in $settings fast; do
  write_manifest "${url[$s]}" "$s.toml"
  grep -v -e '^sha256 = ' -e '^size = ' "$s.toml" > "$s-unlocked.toml" # what lock starts from
done

# Each script takes the base URL and, for HTTPS, the CA file to trust.
mf="modelfetch --progress none"
files="codeformer.pth detection_Resnet50_Final.pth parsing_parsenet.pth u2net_human_seg.onnx"
cat > seed.sh <<SH
#!/usr/bin/env bash
# The seed pipeline: one file after another, wget, bunzip2, sha256sum -c.
set -e
ca=(); [ -z "\${2:-}" ] || ca=(--ca-certificate="\$2")
rm -rf dl && mkdir dl && cd dl
wget -q "\${ca[@]}" "\$1/$dlib.bz2" && bunzip2 "$dlib.bz2"
for f in $files; do wget -q "\${ca[@]}" "\$1/\$f"; done
sha256sum --quiet -c ../SHA256SUMS
SH
cat > aria.sh <<SH
#!/usr/bin/env bash
# aria2c -x8 for every file at once, and nothing else: the network as the
# best downloader sees it.
set -e
ca=(); [ -z "\${2:-}" ] || ca=(--ca-certificate="\$2")
rm -rf dl && mkdir dl && cd dl
for f in $dlib.bz2 $files; do echo "\$1/\$f"; done > list
aria2c -q -x8 -s8 -j5 --file-allocation=none "\${ca[@]}" -i list
SH
cat > best.sh <<SH
#!/usr/bin/env bash
# The best shell pipeline: aria2c -x8 for every file at once, lbzip2 -d on
# every core, then sha256sum -c, files in parallel.
set -e
"\$(dirname "\$0")/aria.sh" "\$@"
cd dl
lbzip2 -d -n"$(nproc)" "$dlib.bz2"
awk '{print \$2}' ../SHA256SUMS | xargs -P"$(nproc)" -n1 sha256sum | diff -q <(sort -k2 -) <(sort -k2 ../SHA256SUMS) >/dev/null
SH
cat > curl.sh <<SH
#!/usr/bin/env bash
# Streaming with curl: decompress and hash as the bytes arrive (no file kept).
set -e
ca=(); [ -z "\${2:-}" ] || ca=(--cacert "\$2")
curl -sf "\${ca[@]}" "\$1/$dlib.bz2" | bzip2 -dc | sha256sum > /dev/null
for f in $files; do curl -sf "\${ca[@]}" "\$1/\$f" | sha256sum > /dev/null; done
SH
chmod +x seed.sh aria.sh best.sh curl.sh

hf() { # name args...: hyperfine into results-name.json, unless SKIP names it
  local name=$1 w; shift
  for w in ${SKIP:-}; do
    case $name in "$w" | *_"$w") return 0 ;; esac
  done
  hyperfine --style none --runs "$runs" --export-json "results-$name.json" "$@" >&2
}
rm -f results-*.json rss-*.txt timeline-http.run timeline-http.wall
: > settings.tsv
for s in $settings; do
  k=${s//-/_}
  u=${url[$s]}
  c=${ca[$s]}
  pre= # modelfetch trusts the server's CA through SSL_CERT_FILE
  [ -z "$c" ] || pre="env SSL_CERT_FILE=$c "
  echo "--- $s: $u" >&2
  hf "${k}_mf_cold" --prepare "rm -rf out cache" "$pre$mf -m $s.toml --cache cache"
  hf "${k}_mf_warm" "$pre$mf -m $s.toml --cache cache"
  hf "${k}_mf_cache" --prepare "rm -rf out" "$pre$mf -m $s.toml --cache cache"
  hf "${k}_mf_lock" --prepare "rm -rf cache && cp $s-unlocked.toml $s-lock.toml" "$pre$mf lock -m $s-lock.toml --cache cache"
  hf "${k}_mf_check" --prepare "rm -rf cache" "$pre$mf lock --check -m $s.toml --cache cache"
  if [ "$s" = http ]; then
    rm -rf out cache
    sleep 1 # idle long enough for the timeline to start its clock again
    : > timeline-http.txt
    t0=$(date +%s.%N)
    $mf -m "$s.toml" --cache cache > /dev/null
    echo "$(date +%s.%N) - $t0" | bc > timeline-http.wall
    sleep 0.3 # the last samples
    cp timeline-http.txt timeline-http.run
  fi
  hf "${k}_seed" "./seed.sh $u $c"
  [ "$s" != http ] || hf "${k}_curl" "./curl.sh $u"
  hf "${k}_best" "./best.sh $u $c"
  hf "${k}_aria" "./aria.sh $u $c"
  rm -rf out cache
  /usr/bin/time -v $pre$mf -m "$s.toml" --cache cache 2> "rss-$k.txt" >/dev/null \
    || { cat "rss-$k.txt" >&2; exit 1; }
  rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /, "", $2); print $2}' "rss-$k.txt")
  hop=0
  case $s in https*) [ "$redirect" = 1 ] && hop=1 ;; esac
  lk=0
  case $s in *-link) lk=$link ;; esac
  printf '%s\t%s\t%s\t%s\n' "$s" "$lk" "$hop" "$rss_kb" >> settings.tsv
done
echo "--- unthrottled" >&2
hf mf_cold_fast --prepare "rm -rf out cache" "$mf -m fast.toml --cache cache"
hf best_fast "./best.sh ${url[fast]}"
echo "--- stages" >&2
rm -rf out cache && $mf -m fast.toml --cache cache > /dev/null
hf sha_installed "sha256sum out/models/* out/u2net/*"
hf ssl_installed "openssl dgst -sha256 out/models/* out/u2net/*"
hf bz_std "bz2dec -serial srv/$dlib.bz2"
hf bz_par "bz2dec srv/$dlib.bz2"
hf bz_lbzip2 "lbzip2 -d -n2 -c srv/$dlib.bz2 > /dev/null"
rm -rf out cache dl
bz_cpu=$( { /usr/bin/time -f '%U %S' bz2dec "srv/$dlib.bz2" ; } 2>&1 | tail -1)

python3 - "$served" "$installed" "$rate" "$conns" "$bz_cpu" "$scale" "$runs" "$hop_delay" "$root/bench" <<'PY' > report.md
import json, os, sys
sys.path.insert(0, sys.argv[9])
sys.dont_write_bytecode = True
import timeline
served, installed, rate, conns = (int(x) for x in sys.argv[1:5])
bz_cpu = sum(float(x) for x in sys.argv[5].split())
scale, runs, hop_delay = sys.argv[6], sys.argv[7], sys.argv[8]
cores = os.cpu_count()
med = {f[8:-5]: json.load(open(f))["results"][0]["median"] for f in os.listdir(".") if f.startswith("results-")}
mib = 1 << 20
size = "full set" if float(scale) == 1 else f"scale {scale} of the full set"
print(f"Stand-ins: {installed/1e6:.0f} MB installed, {served/1e6:.0f} MB served ({size}); "
      f"{cores} cores; median of {runs} runs. Paced servers: {rate/mib:.0f} MiB/s per TCP connection, "
      f"no burst credit for idle connections.\n")

def ratio(a, b):
    return f"{med[a] / med[b]:.2f}x" if a in med and b in med else ""

for line in open("settings.tsv"):
    name, link, hop, rss_kb = line.split()
    link, hop, rss_kb = int(link), hop == "1", int(rss_kb)
    k = name.replace("-", "_")
    proto = "HTTPS, HTTP/2 offered" if name.startswith("https") else "plain HTTP/1.1"
    title = f"**{name}**: {proto}, {rate/mib:.0f} MiB/s per connection"
    if link:
        title += f", {link/1e6:.0f} MB/s link for all connections"
    if hop:
        title += ", behind a 302 hop to a second host"
        if hop_delay not in ("0", "0s"):
            title += f" that answers after {hop_delay}"
    print(title + "\n")
    print("| command | median | vs seed | vs best shell | vs aria2c alone | note |")
    print("|---|---|---|---|---|---|")
    rows = [
        ("seed: wget → bunzip2 → sha256sum -c, one by one", "seed", ""),
        ("curl \\| bzip2 -dc \\| sha256sum, streaming, one by one", "curl", "installs nothing"),
        ("best shell: aria2c -x8 -j5 → lbzip2 → sha256sum", "best", ""),
        ("aria2c -x8 -j5 alone (the network as aria2c sees it)", "aria", ""),
        ("**modelfetch cold** (empty cache and out)", "mf_cold", ""),
        ("modelfetch from cache", "mf_cache", ""),
        ("modelfetch warm (all installed)", "mf_warm",
         f"{ratio(k + '_mf_warm', 'ssl_installed')} openssl dgst -sha256 of the installed files"),
        ("modelfetch lock (no value recorded, empty cache)", "mf_lock",
         f"{ratio(k + '_mf_lock', k + '_mf_cold')} the cold fetch"),
        ("modelfetch lock --check", "mf_check", f"{ratio(k + '_mf_check', k + '_mf_cold')} the cold fetch"),
    ]
    for label, key, note in rows:
        if f"{k}_{key}" not in med:
            continue
        print(f"| {label} | {med[f'{k}_{key}']:.2f} s | {ratio(f'{k}_{key}', f'{k}_seed')} | "
              f"{ratio(f'{k}_{key}', f'{k}_best')} | {ratio(f'{k}_{key}', f'{k}_aria')} | {note} |")
    net = served / (conns * rate)
    how = f"{served/1e6:.0f} MB ÷ ({conns} connections × {rate/mib:.0f} MiB/s)"
    if link and link < conns * rate:
        net = served / link
        how = f"{served/1e6:.0f} MB ÷ {link/1e6:.0f} MB/s link"
    bound = max(net, bz_cpu / cores)
    print()
    far = ", ".join(f"{who} {med[k + key] / bound:.2f}x{it}" for who, key, it in
                    [("modelfetch cold is", "_mf_cold", " it"), ("aria2c alone", "_aria", "")] if k + key in med)
    print(f"Physical bound: max(network {how} = {net:.2f} s, bzip2 CPU {bz_cpu:.2f} s ÷ {cores} cores) "
          f"= {bound:.2f} s; {far}.  ")
    print(f"Peak RSS of modelfetch cold: {rss_kb/1024:.0f} MiB.\n")

if os.path.exists("timeline-http.run"):
    print("**Connections in use over one cold run** (http setting, bench/throttle -timeline): " +
          timeline.table("timeline-http.run", 0.25, float(open("timeline-http.wall").read()),
                         "modelfetch", rate) + "\n")

if "mf_cold_fast" in med and "best_fast" in med:
    print("| unthrottled (plain HTTP) | median | |")
    print("|---|---|---|")
    print(f"| modelfetch cold | {med['mf_cold_fast']:.2f} s | |")
    print(f"| best shell | {med['best_fast']:.2f} s | |")
    print()
if all(k in med for k in ("bz_std", "bz_par", "bz_lbzip2")):
    print("| bzip2 stage (dlib stand-in) | median | vs Go compress/bzip2 |")
    print("|---|---|---|")
    for label, key in [("Go compress/bzip2", "bz_std"), ("modelfetch (block-parallel, all cores)", "bz_par"), ("lbzip2 -n2", "bz_lbzip2")]:
        print(f"| {label} | {med[key]:.2f} s | {med['bz_std']/med[key]:.2f}x faster |")
    print()
if "sha_installed" in med and "ssl_installed" in med:
    print(f"Hashing the installed files: sha256sum {med['sha_installed']:.2f} s, "
          f"openssl dgst -sha256 {med['ssl_installed']:.2f} s (one file after another).")
PY
cat report.md
if { [ "$mode" = full ] && [ "$scale" = 1 ]; } || [ -n "${OUT:-}" ]; then
  out=${OUT:-$root/docs/BENCHMARKS.md}
  mkdir -p "$(dirname "$out")"
  {
    echo "# Benchmarks"
    echo
    echo "Generated by \`bench/run.sh\` (a full-size run): do not edit this file. The tables down"
    echo "to \"How to run\" are that run's measurements; \"How to run\" up to the farm section is"
    echo "\`bench/ANALYSIS.md\`, hand-written, copied in (edit it there); \"Eight builders, one"
    echo "registry\" is \`bench/FARM.md\`, written by \`bench/farm.sh\`, which also replaces that"
    echo "section here."
    echo
    echo "Measured by \`bench/run.sh\` on $(date -u +%Y-%m-%d): $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB,"
    echo "$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}'), Go $(go env GOVERSION | sed 's/go//')."
    echo
    cat report.md
    echo
    cat "$root/bench/ANALYSIS.md"
    # The "8 builders, one registry" section, measured by bench/farm.sh.
    if [ -s "$root/bench/FARM.md" ]; then echo; cat "$root/bench/FARM.md"; fi
  } > "$out"
  echo "wrote $out" >&2
fi
