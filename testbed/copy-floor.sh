#!/usr/bin/env bash
# The initial copy against its physical floor, and what DB_CONFIG settings change it.
#
#   testbed/copy-floor.sh [VOLUMES] [ROUNDS]      (default 3000000 volumes, 2 rounds)
#
# Makes one `tt-ha demo` sandbox, then for each round and each DB_CONFIG variant (interleaved:
# V1 V2 … V1 V2 …): writes the variant's lines into both nodes' DB_CONFIG, runs
# `tt-ha apply --yes`, reads the copy's length from the replicant's message-file stamps
# (`Update setup` → `Start-up is done`, and its stages), then `tt-ha rollback --yes` (which puts
# back the DB_CONFIGs as they were before the apply, variant included: the next variant
# replaces those lines). The floor: the master's database files (the ones the copy ships, by
# their Berkeley DB magic) copied with `cp` and sent over loopback TCP (python sockets, a
# stand-in for `nc`/`ssh cat`), each from a warm page cache, the same number of times.
# Prints one line per run and a summary (median and range per variant, and the ratios).
# BIN=DIR runs DIR/tt-ha (ttfs-sim beside it) instead of building target/debug.
set -euo pipefail
cd "$(dirname "$0")/.."
volumes=${1:-3000000}
rounds=${2:-2}
if [ -z "${BIN:-}" ]; then
    cargo build -q --workspace
    BIN=target/debug
fi
bin="$BIN/tt-ha"
dir=$(mktemp -d "${TMPDIR:-/tmp}/tt-ha-copy-floor.XXXXXX")
trap '"$bin" demo --down "$dir/s" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
out=${OUT:-$dir/results.txt}
echo "load before: $(cat /proc/loadavg)" | tee -a "$out"
"$bin" demo "$dir/s" --no-open --volumes "$volumes" >/dev/null
cfg="$dir/s/tt-ha.toml"
mhome="$dir/s/master/TapeTrack Framework Server/var/db"
rhome="$dir/s/replicant/TapeTrack Framework Server/var/db"
variants=(
    "default|"
    "limit-off|rep_set_limit 0 0"
    "limit-1MB|rep_set_limit 0 1048576"
    "bulk|rep_set_config db_rep_conf_bulk on"
)
MARK="# copy-floor variant"
set_variant() { # HOME LINES
    python3 - "$1/DB_CONFIG" "$2" "$MARK" <<'PY'
import sys
path, lines, mark = sys.argv[1], sys.argv[2], sys.argv[3]
old = open(path, "rb").read().decode().splitlines(keepends=True)
# Each variant line follows a marker comment line (DB_CONFIG allows no comment after a
# setting: `rep_set_limit 0 0 # x` fails the environment's open, BDB1584).
kept, skip = [], False
for l in old:
    if l.rstrip("\n") == mark:
        skip = True
        continue
    if not skip:
        kept.append(l)
    skip = False
add = "".join(f"{mark}\n{l}\n" for l in lines.split(";") if l)
body = "".join(kept)
# Before the replication blocks.
i = body.find("\n# High Availability")
open(path, "w").write(body[:i + 1] + add + body[i + 1:] if i >= 0 else body + add)
PY
}
copy_span() { # MESSAGE_FILE -> "copy pages flush log recovery" seconds
    python3 - "$1" <<'PY'
import re, sys
st = re.compile(rb"^\[(\d+):(\d+)\]")
marks = {}
for line in open(sys.argv[1], "rb"):
    m = st.match(line)
    if not m:
        continue
    t = int(m.group(1)) + int(m.group(2)) / 1e6
    for key, needle in (("begin", b"Update setup for "), ("pages", b"RECOVER_LOG now"),
                        ("log", b"LOG_REQ from"), ("ready", b"LOGREADY"), ("end", b"Start-up is done")):
        if needle in line and key not in marks and ("begin" in marks or key == "begin"):
            marks[key] = t
if not {"begin", "pages", "log", "ready", "end"} <= marks.keys():
    print("incomplete", sorted(marks))
    sys.exit(0)
b = marks["begin"]
print("%.3f %.3f %.3f %.3f %.3f" % (marks["end"] - b, marks["pages"] - b, marks["log"] - marks["pages"],
      marks["ready"] - marks["log"], marks["end"] - marks["ready"]))
PY
}
for r in $(seq "$rounds"); do
    for v in "${variants[@]}"; do
        name=${v%%|*} lines=${v#*|}
        set_variant "$mhome" "$lines"
        set_variant "$rhome" "$lines"
        cpu0=$(awk '{print $1}' /proc/uptime)
        if ! "$bin" --config "$cfg" apply --yes >"$dir/apply-$name-$r.log" 2>&1; then
            # A master may need longer to serve after its regions moved: resume once.
            "$bin" --config "$cfg" apply --yes >>"$dir/apply-$name-$r.log" 2>&1 || {
                echo "run $r $name: apply failed: $(grep -m1 FAIL "$dir/apply-$name-$r.log")" | tee -a "$out"
                for n in master replicant; do
                    echo "  $n's ttfs-sim.log:"; tail -5 "$dir/s/$n/TapeTrack Framework Server/var/ttfs-sim.log" 2>/dev/null || true
                done
            }
        fi
        span=$(copy_span "$rhome/\$DB_Msg.txt" 2>&1 || true)
        echo "run $r $name copy/pages/flush/log/recovery_s $span load $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out"
        if [ -n "${KEEP:-}" ] && [ -f "$rhome/\$DB_Msg.txt" ]; then
            mkdir -p "$KEEP" && cp "$rhome/\$DB_Msg.txt" "$KEEP/floor-$name-$r-replicant.txt"
        fi
        "$bin" --config "$cfg" rollback --yes >"$dir/rollback-$name-$r.log" 2>&1 ||
            { echo "rollback failed:"; tail -5 "$dir/rollback-$name-$r.log"; exit 1; }
        # The sandbox's own quarantine (the replicant's copy of this run), for good: a dozen
        # copies would fill the disk.
        "$bin" --config "$cfg" finalize --yes >/dev/null
        # The floor, interleaved with the copies: the same files, warm cache.
        python3 - "$mhome" "$dir/floor" <<'PY' | tee -a "$out"
import os, shutil, socket, struct, subprocess, sys, threading, time
home, dst = sys.argv[1], sys.argv[2]
MAGICS = {0x053162, 0x061561, 0x042253, 0x074582}
files = []
for n in sorted(os.listdir(home)):
    p = os.path.join(home, n)
    if not os.path.isfile(p) or os.path.islink(p):
        continue
    with open(p, "rb") as f:
        h = f.read(16)
    if len(h) == 16 and (struct.unpack("<I", h[12:16])[0] in MAGICS or struct.unpack(">I", h[12:16])[0] in MAGICS):
        files.append(p)
size = sum(os.path.getsize(p) for p in files)
os.makedirs(dst, exist_ok=True)
t = time.monotonic()
subprocess.run(["cp", *files, dst], check=True)
subprocess.run(["sync", "-f", dst], check=True)
cp = time.monotonic() - t
def serve(srv, out):
    c, _ = srv.accept()
    with open(out, "wb") as f:
        while True:
            b = c.recv(1 << 20)
            if not b:
                break
            f.write(b)
        f.flush(); os.fsync(f.fileno())
    c.close()
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
th = threading.Thread(target=serve, args=(srv, os.path.join(dst, "stream")))
t = time.monotonic(); th.start()
s = socket.create_connection(srv.getsockname())
for p in files:
    with open(p, "rb") as f:
        s.sendfile(f)
s.close(); th.join()
tcp = time.monotonic() - t
shutil.rmtree(dst)
print("floor %d files %.1f MB cp+sync_s %.3f loopback_tcp+fsync_s %.3f" % (len(files), size / 1e6, cp, tcp))
PY
    done
done
echo "load after: $(cat /proc/loadavg)" | tee -a "$out"
python3 - "$out" <<'PY'
import re, statistics, sys
runs, floor = {}, {"cp": [], "tcp": []}
for l in open(sys.argv[1]):
    m = re.match(r"run \d+ (\S+) copy/pages/flush/log/recovery_s ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+) ([\d.]+)", l)
    if m:
        runs.setdefault(m.group(1), []).append([float(x) for x in m.groups()[1:]])
    m = re.match(r"floor .* cp\+sync_s ([\d.]+) loopback_tcp\+fsync_s ([\d.]+)", l)
    if m:
        floor["cp"].append(float(m.group(1))); floor["tcp"].append(float(m.group(2)))
cp, tcp = statistics.median(floor["cp"]), statistics.median(floor["tcp"])
print(f"floor: cp+sync median {cp:.2f} s (range {min(floor['cp']):.2f}-{max(floor['cp']):.2f}), loopback TCP+fsync median {tcp:.2f} s (range {min(floor['tcp']):.2f}-{max(floor['tcp']):.2f}), n={len(floor['cp'])}")
for name, rs in runs.items():
    copy = [r[0] for r in rs]
    med = statistics.median(copy)
    stages = [statistics.median(r[i] for r in rs) for i in range(1, 5)]
    print(f"{name:12s} copy median {med:.2f} s (range {min(copy):.2f}-{max(copy):.2f}, n={len(copy)}) "
          f"pages/flush/log/recovery {'/'.join('%.2f' % s for s in stages)} s; x{med/cp:.1f} cp, x{med/tcp:.1f} loopback")
PY
