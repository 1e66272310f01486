#!/usr/bin/env python3
"""CPU cost of the monitor screen (`tt-ha monitor`) against `tail -F` of the same two files.

Both run as whole processes in a tmux pane of the same fixed size, on the same input: real
Berkeley DB message lines (tests/fixtures/bdb/*.txt) appended to both `$DB_Msg.txt` files by a
writer process at RATE lines/s in total, one write per line as BDB's message file does. CPU time
is utime+stime from /proc/PID/stat over a fixed window; write system calls from /proc/PID/io
(syscw: terminal writes, neither program writes files here). Runs are interleaved
(tt-ha, tail, tt-ha, tail, ...), each on freshly re-seeded files, and the table gives the median
and range of PAIRS pairs, under load and idle.

Run with `bash testbed/bench-tui.sh` (it builds the release binary first).
Three windows: "load" (writing), "idle" (files quiet since before the screen started) and
"quiet" (idle right after QUIET_AFTER seconds of load, not measured: the charts still move).
Environment: PAIRS (5), RATE (2000), LOAD_SECS (10), IDLE_SECS (20), QUIET_AFTER (5),
WINDOWS (load,idle,quiet), COLS (200), ROWS (50).
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("TT_HA_BIN", ROOT / "target" / "release" / "tt-ha"))
PAIRS = int(os.environ.get("PAIRS", "5"))
RATE = int(os.environ.get("RATE", "2000"))
LOAD_SECS = float(os.environ.get("LOAD_SECS", "10"))
IDLE_SECS = float(os.environ.get("IDLE_SECS", "20"))
# "quiet": idle right after QUIET_AFTER seconds of load (not measured), when the charts still
# move on with the clock; "idle": a pair quiet since before the screen started.
QUIET_AFTER = float(os.environ.get("QUIET_AFTER", "5"))
WINDOWS = os.environ.get("WINDOWS", "load,idle,quiet").split(",")
COLS = int(os.environ.get("COLS", "200"))
ROWS = int(os.environ.get("ROWS", "50"))
WARMUP = 2.0
TICK = os.sysconf("SC_CLK_TCK")


def fixture_lines(suffix):
    """Every stamped line of the real message files of one role, in file order."""
    out = []
    for f in sorted((ROOT / "tests" / "fixtures" / "bdb").glob(f"*-{suffix}.txt")):
        for line in f.read_bytes().splitlines():
            if line.startswith(b"["):
                out.append(line + b"\n")
    if not out:
        sys.exit(f"no fixture lines for {suffix} in tests/fixtures/bdb: run from a tt-ha checkout")
    return out


def make_site(base):
    """Two homes with DB_CONFIG and a config whose servers are never found (nothing runs)."""
    homes = []
    for role in ("master", "replicant"):
        h = base / role / "var" / "db"
        h.mkdir(parents=True)
        shutil.copy(ROOT / "templates" / "DB_CONFIG", h / "DB_CONFIG")
        homes.append(h)
    cfg = base / "tt-ha.toml"
    node = """name = "{name}"
address = "127.0.0.1"
replication_port = {rport}
client_port = {cport}
home = '{home}'
{extra}
[{table}.service]
kind = "commands"
start = ["true"]
stop = ["true"]
status = ["false"]
[{table}.process]
name = "tt-ha-bench-no-such-server"
"""
    cfg.write_text(
        "[master]\n"
        + node.format(name="bench-master", rport=47110, cport=47100, home=homes[0],
                      extra=f"backup_dir = '{base / 'backup'}'", table="master")
        + "\n[[replicant]]\n"
        + node.format(name="bench-replicant", rport=47111, cport=47101, home=homes[1],
                      extra="", table="replicant")
    )
    return cfg, [h / "$DB_Msg.txt" for h in homes]


def seed(files, lines):
    """The same starting content for every run: the first 300 lines of each role."""
    for f, ls in zip(files, lines):
        f.write_bytes(b"".join(ls[:300]))


WRITER = r"""
import sys, time
rate = int(sys.argv[1]); files = sys.argv[2:4]; srcs = [sys.argv[4], sys.argv[5]]
lines = [[l + b"\n" for l in open(s, "rb").read().splitlines() if l] for s in srcs]
fs = [open(f, "ab", buffering=0) for f in files]
start = time.monotonic(); n = 0; idx = [300, 300]
while True:
    due = start + n / rate
    now = time.monotonic()
    if due > now:
        time.sleep(due - now)
    i = n % 2
    ls = lines[i]
    fs[i].write(ls[idx[i] % len(ls)])
    idx[i] += 1
    n += 1
"""


def cpu_ticks(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def syscw(pid):
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("syscw:"):
            return int(line.split()[1])
    return 0


class Tmux:
    def __init__(self, base):
        self.sock = str(base / "tmux.sock")

    def run(self, *args, check=True):
        return subprocess.run(["tmux", "-S", self.sock, *args], check=check,
                              capture_output=True, text=True)

    def start(self, name, argv):
        cmd = "exec " + " ".join(shlex_quote(a) for a in argv)
        self.run("new-session", "-d", "-s", name, "-x", str(COLS), "-y", str(ROWS), cmd)
        self.run("set-option", "-t", name, "remain-on-exit", "off")
        return int(self.run("list-panes", "-t", name, "-F", "#{pane_pid}").stdout.split()[0])

    def kill(self, name):
        self.run("kill-session", "-t", name, check=False)

    def close(self):
        self.run("kill-server", check=False)


def shlex_quote(s):
    import shlex
    return shlex.quote(str(s))


def write_for(files, srcs, rate):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(rate),
                             str(files[0]), str(files[1]), str(srcs[0]), str(srcs[1])])


def measure(tmux, name, argv, files, lines, srcs, rate, secs, before=0.0):
    """CPU % of one core and terminal writes per second of `argv` over `secs`, after `before`
    seconds of writing at RATE lines/s that are not measured (a pair that has just fallen
    quiet: the screen's charts move on with the clock until they show no activity)."""
    seed(files, lines)
    pid = tmux.start(name, argv)
    time.sleep(WARMUP)
    if before:
        w = write_for(files, srcs, RATE)
        time.sleep(before)
        w.kill()
        w.wait()
    writer = None
    if rate:
        writer = write_for(files, srcs, rate)
        time.sleep(0.5)
    try:
        t0, c0, w0 = time.monotonic(), cpu_ticks(pid), syscw(pid)
        time.sleep(secs)
        t1, c1, w1 = time.monotonic(), cpu_ticks(pid), syscw(pid)
    finally:
        if writer:
            writer.kill()
            writer.wait()
        tmux.kill(name)
    dt = t1 - t0
    return 100.0 * (c1 - c0) / TICK / dt, (w1 - w0) / dt


def summary(v):
    return f"{statistics.median(v):7.2f}  [{min(v):.2f} .. {max(v):.2f}]"


def main():
    if not BIN.exists():
        sys.exit(f"{BIN} does not exist: build it with `cargo build --release --bin tt-ha`")
    if shutil.which("tmux") is None or shutil.which("tail") is None:
        sys.exit("tmux and tail are needed: apt-get install tmux coreutils")
    base = Path(tempfile.mkdtemp(prefix="tt-ha-bench-tui-"))
    tmux = Tmux(base)
    try:
        cfg, files = make_site(base)
        lines = [fixture_lines("master"), fixture_lines("replicant")]
        srcs = []
        for role, ls in zip(("master", "replicant"), lines):
            s = base / f"src-{role}.txt"
            s.write_bytes(b"".join(ls))
            srcs.append(s)
        ours = [str(BIN), "monitor", "--config", str(cfg)]
        tail = ["tail", "-F", str(files[0]), str(files[1])]
        print(f"tt-ha monitor vs tail -F, tmux pane {COLS}x{ROWS}, {os.cpu_count()} cores, "
              f"{PAIRS} interleaved pairs; load {RATE} lines/s for {LOAD_SECS:g} s, "
              f"idle {IDLE_SECS:g} s", flush=True)
        results = {}
        windows = [("load", RATE, LOAD_SECS, 0.0), ("idle", 0, IDLE_SECS, 0.0),
                   ("quiet", 0, IDLE_SECS, QUIET_AFTER)]
        for label, rate, secs, before in [w for w in windows if w[0] in WINDOWS]:
            a_cpu, b_cpu, a_w, b_w, ratio = [], [], [], [], []
            for i in range(PAIRS):
                ca, wa = measure(tmux, f"a{i}{label}", ours, files, lines, srcs, rate, secs,
                                 before)
                cb, wb = measure(tmux, f"b{i}{label}", tail, files, lines, srcs, rate, secs,
                                 before)
                a_cpu.append(ca); b_cpu.append(cb); a_w.append(wa); b_w.append(wb)
                ratio.append(ca / cb if cb > 0 else float("inf"))
                print(f"  {label} pair {i + 1}: tt-ha {ca:.2f}% ({wa:.0f} writes/s), "
                      f"tail -F {cb:.2f}% ({wb:.0f} writes/s)", flush=True)
            results[label] = (a_cpu, b_cpu, a_w, b_w, ratio)
        print()
        print(f"{'':6} {'measure':22} {'median  [range]':>30}")
        for label, (a_cpu, b_cpu, a_w, b_w, ratio) in results.items():
            finite = [r for r in ratio if r != float("inf")]
            print(f"{label:6} {'tt-ha CPU % of a core':22} {summary(a_cpu):>30}")
            print(f"{'':6} {'tail -F CPU %':22} {summary(b_cpu):>30}")
            print(f"{'':6} {'ratio tt-ha / tail -F':22} "
                  f"{(summary(finite) if finite else 'tail -F used no CPU'):>30}")
            print(f"{'':6} {'tt-ha writes/s':22} {summary(a_w):>30}")
            print(f"{'':6} {'tail -F writes/s':22} {summary(b_w):>30}")
        bars = {"load": 5.0, "idle": 0.3, "quiet": 0.3}
        print("\nbar: " + "; ".join(
            f"{label} <= {bars[label]:g}% "
            f"{'met' if statistics.median(r[0]) <= bars[label] else 'NOT met'}"
            for label, r in results.items()))
    finally:
        tmux.close()
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
