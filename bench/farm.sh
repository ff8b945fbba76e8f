#!/usr/bin/env bash
# "8 builders, one registry": the scale check of issue 12 (content-addressed
# mirrors on an OCI registry), on one machine over loopback.
#
#   bench/farm.sh               scale 0.25 of the 0.85 GB stand-in set (a few minutes)
#   SCALE=1 bench/farm.sh       the full-size set
#   SCALE=0.01 bench/farm.sh    a check that the script works (seconds)
#
# What it does and why:
#   1. builds modelfetch, bench/throttle and bench/gen once, generates the
#      stand-ins as bench/run.sh does, and serves them from bench/throttle
#      (the origin, paced at RATE per connection like a release CDN, logging
#      every request it served with its bytes: -count), next to Debian's
#      docker-registry (distribution 2.8) with filesystem storage in the work
#      folder, both on 127.0.0.1;
#   2. builder 1, with its own empty cache, fetches with
#      --mirror oci+http://REGISTRY/models --mirror-push: every model misses
#      the registry, comes from the origin, and is pushed;
#   3. BUILDERS (default 8) builders start at once, each with its own empty
#      cache (MODELFETCH_CACHE) and out dir, the same --mirror and no push:
#      a CI farm after its first build. Each is timed, each installed tree is
#      checked (modelfetch verify, offline), and --json must say every file
#      came from the mirror;
#   4. the origin's log must show each served file sent exactly once, in
#      full, in the whole experiment (all by builder 1) and no request at all
#      from the farm. Anything else exits 1: that is the point of the mirror.
#
# The report is a markdown section between <!-- farm --> markers, on stdout or
# in OUT. A run at the default scale with OUT unset also writes it to
# bench/FARM.md (bench/run.sh appends that file to docs/BENCHMARKS.md) and
# replaces the marked section of docs/BENCHMARKS.md.
#
# Environment: SCALE (fraction of the full set; default 0.25), RATE (origin
# bytes/s per connection; default 20 MiB/s as bench/run.sh; 0: unpaced),
# BUILDERS (default 8), BENCH_DIR (work folder; default a new temp folder,
# removed at exit unless KEEP=1), OUT (markdown file; default stdout).
set -euo pipefail
default_scale=0.25
scale=${SCALE:-$default_scale}
rate=${RATE:-20971520}
builders=${BUILDERS:-8}
root=$(cd "$(dirname "$0")/.." && pwd)
made_work=0
if [ -z "${BENCH_DIR:-}" ]; then
  work=$(mktemp -d /tmp/modelfetch-farm.XXXXXX)
  made_work=1
else
  work=$BENCH_DIR
fi
mkdir -p "$work"/{bin,srv}
work=$(cd "$work" && pwd)
cd "$work"
log() { echo "--- $*" >&2; }

# Both servers are children of this shell, stopped by PID whatever happens.
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$made_work" = 1 ] && [ "${KEEP:-0}" != 1 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT

need=()
for t in docker-registry bzip2 curl openssl python3 /usr/bin/time; do
  command -v "$t" >/dev/null || need+=("$t")
done
if [ ${#need[@]} -gt 0 ]; then
  pkgs=()
  for t in "${need[@]}"; do
    case $t in /usr/bin/time) pkgs+=(time) ;; python3) pkgs+=(python3-minimal) ;; *) pkgs+=("$t") ;; esac
  done
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
fi

log "building"
(cd "$root" && go build -trimpath -o "$work/bin/modelfetch" ./cmd/modelfetch \
  && go build -o "$work/bin/throttle" ./bench/throttle \
  && go build -o "$work/bin/gen" ./bench/gen)
PATH=$work/bin:$PATH

# The stand-in set (bench/standins.sh).
. "$root/bench/standins.sh"
log "generating stand-ins (scale $scale)"
make_standins "$scale"
installed=$(du -cbL data-* | tail -1 | cut -f1)
ls srv | sort > served-files

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

log "starting the origin (bench/throttle, $rate B/s per connection)"
throttle -dir srv -rate "$rate" -count > /dev/null 2> origin.log &
pids+=($!)
for _ in $(seq 100); do grep -q '://' origin.log 2>/dev/null && break; sleep 0.1; done
origin=$(grep -o 'http://[0-9.:]*' origin.log | head -1 || true)
[ -n "$origin" ] || { echo "farm: the origin did not start: $(cat origin.log)" >&2; exit 1; }

# The registry as internal/testsrv/registry.go runs it: filesystem storage
# here, text logs (one line per request, with the bytes written), no auth.
log "starting docker-registry"
rm -rf registry && mkdir -p registry/storage
reg_pid=
for _ in 1 2 3; do # a port free a moment ago can be taken: try a few
  reg="127.0.0.1:$(free_port)"
  cat > registry/config.yml <<YML
version: 0.1
log:
  level: info
  formatter: text
storage:
  filesystem:
    rootdirectory: $work/registry/storage
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: $reg
  secret: modelfetch-farm-secret
YML
  docker-registry serve registry/config.yml > registry/registry.log 2>&1 &
  reg_pid=$!
  for _ in $(seq 150); do
    curl -sf -o /dev/null "http://$reg/v2/" && break
    kill -0 "$reg_pid" 2>/dev/null || break
    sleep 0.1
  done
  if curl -sf -o /dev/null "http://$reg/v2/"; then pids+=("$reg_pid"); break; fi
  kill "$reg_pid" 2>/dev/null || true
  wait "$reg_pid" 2>/dev/null || true
  reg_pid=
  grep -q 'address already in use' registry/registry.log || break
done
[ -n "$reg_pid" ] || { echo "farm: docker-registry did not start: $(tail -c 600 registry/registry.log)" >&2; exit 1; }
mirror="oci+http://$reg/models"

# The manifest, as bench/run.sh writes it; each builder gives its own roots
# (--out for "models", --dir for "u2net").
write_manifest "$origin" models.toml

now() { date +%s.%N; }
served_lines() { grep -c ' served ' origin.log || true; }
reg_lines() { wc -l < registry/registry.log; }
reg_cpu() { awk '{ print $14 + $15 }' "/proc/$reg_pid/stat"; } # clock ticks, user + system
# machine_cpu: clock ticks all cores spent busy (not idle, not waiting for
# I/O) since boot, whoever ran: the other jobs on a shared machine show here.
machine_cpu() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }
# settle: the origin logs a request once its handler returns, a moment
# after the client has the last byte; wait until its log stops growing.
settle() {
  local a b
  a=$(served_lines)
  while sleep 0.5; b=$(served_lines); [ "$a" != "$b" ]; do a=$b; done
}

# builder NAME [modelfetch flags...]: one build's fetch, with its own empty
# cache and out dir, timed by /usr/bin/time (wall, user, system seconds).
builder() {
  local b=$1; shift
  rm -rf "$b" && mkdir -p "$b/cache"
  set +e
  MODELFETCH_CACHE=$work/$b/cache /usr/bin/time -f '%e %U %S' -o "$b.time" \
    modelfetch -m models.toml --out "$work/$b/out/models" --dir "u2net=$work/$b/out/u2net" \
    --progress none --json --mirror "$mirror" "$@" > "$b.json" 2> "$b.err"
  echo $? > "$b.rc"
  set -e
}
check_builder() { # name: exit status 0 and the installed tree verifies offline
  local b=$1
  if [ "$(cat "$b.rc")" != 0 ]; then
    echo "farm: $b failed (exit $(cat "$b.rc")): $(tail -5 "$b.err")" >&2
    exit 1
  fi
  modelfetch verify -q -m models.toml --out "$work/$b/out/models" --dir "u2net=$work/$b/out/u2net" \
    || { echo "farm: $b: the installed tree does not verify" >&2; exit 1; }
}

log "phase 1: builder 1 fetches from the origin and pushes to $mirror"
o0=$(served_lines); r0=$(reg_lines); c0=$(reg_cpu)
t0=$(now)
builder b1 --mirror-push
t1=$(now)
check_builder b1
settle
o1=$(served_lines); r1=$(reg_lines)
# Every blob must be in the registry now.
while read -r sum name; do
  curl -sf -o /dev/null -I "http://$reg/v2/models/blobs/sha256:$sum" \
    || { echo "farm: after the push the registry lacks $name (sha256:$sum)" >&2; exit 1; }
done < SHA256SUMS

log "phase 2: $builders builders at once, each with an empty cache, from the mirror"
load=$(cut -d' ' -f1-3 /proc/loadavg)
c1=$(reg_cpu); s1=$(machine_cpu)
t2=$(now)
farm_pids=()
for i in $(seq "$builders"); do
  builder "f$i" &
  farm_pids+=($!)
done
for p in "${farm_pids[@]}"; do wait "$p"; done
t3=$(now)
c2=$(reg_cpu); s2=$(machine_cpu)
for i in $(seq "$builders"); do check_builder "f$i"; done
settle
o2=$(served_lines); r2=$(reg_lines)

# One core's sha256 speed on this machine, for the physical bound (OpenSSL
# on 1 MiB blocks, with the SHA extensions Go's crypto/sha256 also uses).
hash_rate=$(openssl speed -seconds 1 -bytes 1048576 -evp sha256 2>/dev/null | awk '/^sha256/ { sub(/k$/, "", $2); printf "%d", $2 * 1000 }')

log "report"
set +e
python3 - "$work" "$scale" "$rate" "$builders" "$installed" "$mirror" "$origin" \
  "$o0" "$o1" "$o2" "$r0" "$r1" "$r2" "$t0" "$t1" "$t2" "$t3" "$c0" "$c1" "$c2" \
  "$(getconf CLK_TCK)" "$hash_rate" "$load" "$s1" "$s2" "$(nproc)" \
  "$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2}')" \
  "$(free -g | awk '/Mem:/ {print $2}')" > report.md <<'PY'
import json, os, re, statistics, sys, time
(work, scale, rate, nb, installed, mirror, origin, o0, o1, o2, r0, r1, r2,
 t0, t1, t2, t3, c0, c1, c2, tck, hash_rate, load, s1, s2, cores, cpu, mem) = sys.argv[1:]
rate, nb, installed, cores, tck = int(rate), int(nb), int(installed), int(cores), int(tck)
o0, o1, o2, r0, r1, r2 = (int(x) for x in (o0, o1, o2, r0, r1, r2))
t0, t1, t2, t3, hash_rate = (float(x) for x in (t0, t1, t2, t3, hash_rate))
c0, c1, c2, s1, s2 = (int(x) / tck for x in (c0, c1, c2, s1, s2))
os.chdir(work)
MB = 1e6
problems = []

# The origin's log: "throttle: served METHOD PATH STATUS BYTES", in order.
served = [l.split() for l in open("origin.log") if l.startswith("throttle: served ")]
def origin_phase(a, b):
    rows = served[a:b]
    return len(rows), sum(int(r[5]) for r in rows)
p1_req, p1_bytes = origin_phase(o0, o1)
p2_req, p2_bytes = origin_phase(o1, o2)
sizes = {f: os.path.getsize(os.path.join("srv", f)) for f in open("served-files").read().split()}
got = {}
for r in served:
    got[r[3].lstrip("/")] = got.get(r[3].lstrip("/"), 0) + int(r[5])
for f, n in sizes.items():
    if got.get(f, 0) != n:
        problems.append(f"the origin sent {got.get(f, 0)} bytes of {f} ({n} bytes) in the whole run, not exactly once")
for f in got:
    if f not in sizes:
        problems.append(f"the origin was asked for {f}, which it does not serve")
if p2_req:
    problems.append(f"the origin answered {p2_req} requests ({p2_bytes} bytes) during the farm phase")

# What each builder says (--json): where every artifact came from.
def doc(b):
    return json.load(open(f"{b}.json"))
b1 = doc("b1")
for a in b1["artifacts"]:
    if a.get("mirror"):
        problems.append(f"builder 1 got {a['name']} from the mirror, which should have been empty")
times, mirror_bytes, farm_user, farm_sys = [], 0, 0.0, 0.0
for i in range(1, nb + 1):
    d = doc(f"f{i}")
    wall, user, sys_ = (float(x) for x in open(f"f{i}.time").read().split()[-3:])
    times.append((wall, user + sys_))
    farm_user, farm_sys = farm_user + user, farm_sys + sys_
    for a in d["artifacts"]:
        if a.get("mirror") != mirror or a["status"] != "installed":
            problems.append(f"builder f{i}: {a['name']} is {a['status']} from {a.get('source', '-')}, not installed from the mirror")
        mirror_bytes += a.get("served_bytes", 0)
b1_wall, b1_user, b1_sys = (float(x) for x in open("b1.time").read().split()[-3:])

# The registry's log: blob GETs and the bytes it wrote, per phase.
def reg_phase(a, b):
    lines = open("registry/registry.log").read().splitlines()[a:b]
    n = miss = by = up = 0
    for l in lines:
        if "response completed" not in l:
            continue
        m = re.search(r'http\.request\.method=(\w+)', l)
        u = re.search(r'http\.request\.uri=(?:"([^"]*)"|(\S+))', l)  # quoted when it has to be
        st = re.search(r'http\.response\.status=(\d+)', l)
        w = re.search(r'http\.response\.written=(\d+)', l)
        if not (m and u):
            continue
        if m.group(1) == "GET" and "/blobs/sha256:" in (u.group(1) or u.group(2)):
            n += 1
            miss += bool(st and st.group(1) == "404")
            by += int(w.group(1)) if w else 0
        if m.group(1) in ("PUT", "PATCH", "POST"):
            up += 1
    return n, miss, by, up
g1, miss1, gb1, up1 = reg_phase(r0, r1)
g2, miss2, gb2, up2 = reg_phase(r1, r2)
if miss1 != g1:
    problems.append(f"the registry answered {g1 - miss1} of builder 1's {g1} blob GETs, but it started empty")
if miss2:
    problems.append(f"the registry answered {miss2} of the farm's blob GETs with 404")
if gb2 != nb * installed:
    problems.append(f"the registry logged {gb2} blob bytes sent to the farm, not {nb} x {installed}")

wall1, wall2 = t1 - t0, t3 - t2
walls = sorted(t[0] for t in times)
farm_cpu = sum(t[1] for t in times)
reg_cpu2 = c2 - c1
hash_floor = nb * installed / (cores * hash_rate)
throughput = gb2 / wall2

size = "the full set" if float(scale) == 1 else f"scale {scale} of the full set"
pace = f"{rate / (1 << 20):.0f} MiB/s per connection" if rate else "unpaced"
print("<!-- farm -->")
print("## Eight builders, one registry (issue 12 scale check)\n")
print("Rerun with `bench/farm.sh` (`SCALE=1` for the full set; it exits 1 unless the origin served each "
      "file once). Builder 1 fills the registry with `--mirror-push`; then 8 builders with empty caches "
      "fetch at once through the same `--mirror`.\n")
print(f"Measured by `bench/farm.sh` on {time.strftime('%Y-%m-%d', time.gmtime())}: {cores} cores ({cpu}), {mem} GiB; "
      f"{size}: {installed / MB:.0f} MB installed in 5 files, {sum(sizes.values()) / MB:.0f} MB served by the origin "
      f"(the dlib stand-in as .bz2). Origin: `bench/throttle` on loopback, {pace}; mirror: Debian's "
      f"`docker-registry` (distribution 2.8), filesystem storage, plain HTTP on loopback. "
      f"The machine was shared with other jobs (load average {load} when the farm started), "
      f"so the times are from a busy machine.\n")
print("| phase | wall | origin requests | origin bytes | registry blob GETs | registry bytes out |")
print("|---|---|---|---|---|---|")
print(f"| 1. builder 1: `--mirror {mirror.split('://')[0]}://… --mirror-push`, empty cache | {wall1:.2f} s | "
      f"{p1_req} | {p1_bytes / MB:.1f} MB | {g1} ({miss1} × 404) | {gb1 / MB:.1f} MB (then {up1} upload requests: POST, PUT) |")
print(f"| 2. {nb} builders at once, each an empty cache, same `--mirror` | {wall2:.2f} s | {p2_req} | "
      f"{p2_bytes / MB:.1f} MB | {g2} | {gb2 / MB:.1f} MB |")
print()
print(f"Per builder in phase 2: {', '.join(f'{w:.2f}' for w in walls)} s "
      f"(median {statistics.median(walls):.2f} s); each installed {installed / MB:.0f} MB and "
      f"`modelfetch verify` passed on every tree. Registry throughput in phase 2: "
      f"{gb2 / MB:.0f} MB in {wall2:.2f} s = **{throughput / MB:.0f} MB/s** "
      f"({mirror_bytes / MB:.0f} MB received, by the builders' `--json`).\n")
if problems:
    print("**Check failed:**\n")
    for p in problems:
        print(f"- {p}")
else:
    print(f"Check: the origin sent each of its {len(sizes)} files exactly once, in full, in the whole experiment "
          f"(all to builder 1), and answered no request from the {nb} builders; every file of the farm "
          f"came from the mirror.")
print()
busy = s2 - s1                      # core-seconds the whole machine was busy in phase 2
ours = farm_cpu + reg_cpu2
others = max(0.0, busy - ours)
capacity = cores * wall2
idle = max(0.0, capacity - busy)
para = [f"Physical bound. On loopback no network limits phase 2: the {nb} builders and the registry share "
        f"{cores} cores. Each builder hashes every byte it receives once (sha256) and writes it twice (the "
        f"install and its cache); the registry reads each blob from its storage and copies it through "
        f"loopback TCP. One core hashes {hash_rate / MB:.0f} MB/s here (`openssl speed`, with the SHA "
        f"extensions Go's crypto/sha256 uses too), so the farm's {nb} × {installed / MB:.0f} MB need "
        f"{hash_floor:.2f} s of hashing on {cores} cores, {hash_floor / wall2 * 100:.0f}% of phase 2's "
        f"{wall2:.2f} s. Of the {capacity:.1f} core-seconds of phase 2, the builders used {farm_cpu:.1f} "
        f"({farm_user:.1f} user, {farm_sys:.1f} system), the registry {reg_cpu2:.1f}, other jobs on the "
        f"shared machine {others:.1f}, and {idle:.1f} were idle."]
if idle > 0.25 * capacity:
    para.append(f"With the cores {idle / capacity * 100:.0f}% idle, phase 2 was not CPU-bound: the builders "
                f"waited on the registry, which served {g2} blob requests at once.")
else:
    where = ("mostly system time (the kernel receiving from loopback sockets and writing the install and "
             "the cache copy)" if farm_sys > farm_user else "mostly user time (HTTP, copying and hashing in Go)")
    para.append(f"So phase 2 is CPU-bound, and not by sha256: the builders' time is {where}, the registry's "
                f"is its reading and sending, and the other jobs took {others / capacity * 100:.0f}% of the "
                f"cores. The farm's own {ours:.1f} core-seconds alone need at least {ours / cores:.1f} s on "
                f"{cores} cores, the least phase 2 could take here on a quiet machine.")
para.append(f"On a real farm each builder has its own cores, so the registry's disk and network link become "
            f"the limit, while the origin is asked once (phase 1, {wall1:.2f} s at {pace}) instead of "
            f"{nb + 1} times.")
print(" ".join(para))
print("<!-- /farm -->")
sys.exit(1 if problems else 0)
PY
status=$?
set -e
if [ -n "${OUT:-}" ]; then
  mkdir -p "$(dirname "$OUT")" && cp report.md "$OUT" && echo "wrote $OUT" >&2
else
  cat report.md
fi
if [ "$status" != 0 ]; then
  echo "farm: the check failed (see the report)" >&2
  exit 1
fi
if [ -z "${OUT:-}" ] && [ "$scale" = "$default_scale" ] && [ "$builders" = 8 ]; then
  cp report.md "$root/bench/FARM.md"
  # The same section in docs/BENCHMARKS.md: replaced between its markers,
  # or appended when it has none yet.
  python3 - "$root/docs/BENCHMARKS.md" report.md <<'PY'
import sys
doc_path, sec = sys.argv[1], open(sys.argv[2]).read().strip() + "\n"
doc = open(doc_path).read()
a, b = doc.find("<!-- farm -->"), doc.find("<!-- /farm -->")
if a >= 0 and b > a:
    rest = doc[b + len("<!-- /farm -->"):].lstrip("\n")
    doc = doc[:a] + sec + ("\n" + rest if rest else "")
else:
    doc = doc.rstrip("\n") + "\n\n" + sec
open(doc_path, "w").write(doc)
PY
  echo "wrote bench/FARM.md and its section of docs/BENCHMARKS.md" >&2
fi
