#!/usr/bin/env python3
"""Append-to-output latency of a remote node's message file, seen from the controller.

  bench_remote_follow.py HOSTS_DIR HOST CONFIG FILE TT_HA [PAIRS] [RATE] [SECONDS]

(A) `tt-ha --config CONFIG follow --node replicant` (the replicant reached through its agent
over ssh) against (B) `ssh -T -o BatchMode=yes -o StrictHostKeyChecking=yes -F
HOSTS_DIR/ssh_config -- HOST tail -F -n 0 FILE` (the same ssh options tt-ha uses), interleaved
A B A B, PAIRS pairs (default 5). In each run a writer on the host (testbed/hosts.sh exec)
appends RATE lines a second (default 1,000) for SECONDS seconds (default 5) to FILE, emptied
before the run; each line's append time (taken just before its write) is matched with the time
the follower's output line reached this script. Both clocks are the same machine's
(CLOCK_REALTIME, no time namespace). Prints p50 and p99 per run, then the median and range of
the per-pair ratios A/B, and the CPU time (user+sys) of each follower's process tree on the
controller (`tt-ha` and its ssh; `ssh` for B), the writer's taken out, and their context
switches per line (/proc/PID/task/*/status, between the writer's start and the last line), on
the controller and on the node (sshd's session process and what it runs).
"""
import json
import os
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))

WRITER = r"""
import os, sys, time, json
path, rate, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
fd = os.open(path, os.O_WRONLY | os.O_APPEND)
n = int(rate * secs)
stamps = []
t0 = time.monotonic()
for k in range(n):
    due = t0 + k / rate
    while True:
        left = due - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(left, 0.0005) if left > 0.0005 else 0)
    line = b"[1700000000:%d][10/1] CLIENT: bench line %d\n" % (k, k)
    stamps.append(time.time_ns())
    os.write(fd, line)
print(json.dumps(stamps))
"""


def host(hosts_dir, h, *cmd, **kw):
    return subprocess.run(
        [os.path.join(HERE, "hosts.sh"), "exec", hosts_dir, h, *cmd], check=True, **kw
    )


def read_lines(proc, out):
    """Each output line with the time it arrived."""
    buf = b""
    fd = proc.stdout.fileno()
    while True:
        chunk = os.read(fd, 65536)
        now = time.time_ns()
        if not chunk:
            return
        buf += chunk
        *lines, buf = buf.split(b"\n")
        for l in lines:
            out.append((now, l))




def tree(pid):
    """`pid` and its descendants (through /proc/PID/task/*/children)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/children" % (p, t)) as f:
                    todo.extend(int(c) for c in f.read().split())
        except OSError:
            pass
    return out


def switches(pid):
    """Context switches (voluntary + not) of every thread of `pid`'s process tree so far: a
    load-robust count of the wake-ups on the follower's side of the path."""
    n = 0
    for p in tree(pid):
        try:
            for t in os.listdir("/proc/%d/task" % p):
                with open("/proc/%d/task/%s/status" % (p, t)) as f:
                    for l in f:
                        if l.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                            n += int(l.split()[1])
        except OSError:
            pass
    return n


def node_side(kind, path, tt_ha):
    """The node side's process tree: the sshd session process serving the follower (the
    parent of the agent for A, of `tail` for B; the two hosts share this machine's process
    table), or None when it cannot be found."""
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % d, "rb") as f:
                argv = f.read().split(b"\0")
            with open("/proc/%s/stat" % d) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        # This run's agent: this tt-ha (other agents may run on the machine).
        if kind == "A" and argv[0] == tt_ha.encode() and argv[1:3] == [b"agent", b"--stdio"]:
            return ppid
        if kind == "B" and argv and argv[0].endswith(b"tail") and path.encode() in argv:
            return ppid
    return None


def one_run(kind, a):
    hosts_dir, h, config, path, tt_ha, rate, secs = a
    host(hosts_dir, h, "sh", "-c", 'rm -f "$1" && : > "$1"', "sh", path)
    if kind == "A":
        cmd = [tt_ha, "--config", config, "follow", "--node", "replicant",
               "--seconds", str(int(secs + 6))]
    else:
        quoted = "'" + path.replace("'", "'\\''") + "'"
        cmd = ["ssh", "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
               "-F", os.path.join(hosts_dir, "ssh_config"), "--", "ttha-" + h,
               "tail -F -n 0 " + quoted]
    r0 = os.times()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    got = []
    t = threading.Thread(target=read_lines, args=(proc, got), daemon=True)
    t.start()
    # Ready: A says its node is reached; B has no such line, both get a settle time.
    deadline = time.time() + 30
    if kind == "A":
        while not any(b'"reach":"reached"' in l for _, l in got):
            if time.time() > deadline:
                raise SystemExit("tt-ha follow never reached the node: %r" % got[:3])
            time.sleep(0.01)
    time.sleep(1.0)
    # The writer's tree is reaped here: its CPU is taken out of the follower's below.
    s0 = switches(proc.pid)
    node = node_side(kind, path, tt_ha)
    n0 = switches(node) if node else 0
    w0 = os.times()
    w = host(hosts_dir, h, "python3", "-c", WRITER, path, str(rate), str(secs),
             capture_output=True)
    w1 = os.times()
    writer_cpu = (w1.children_user - w0.children_user) + (w1.children_system - w0.children_system)
    stamps = json.loads(w.stdout)
    n = len(stamps)
    # Wait for the last line (bounded), then stop the follower.
    deadline = time.time() + 20
    while time.time() < deadline:
        if kind == "A":
            seen = sum(1 for _, l in got if l.startswith(b'{"line"'))
        else:
            seen = len(got)
        if seen >= n:
            break
        time.sleep(0.05)
    s1 = switches(proc.pid)
    n1 = switches(node) if node else 0
    proc.terminate()
    proc.wait()
    t.join(timeout=5)
    r1 = os.times()
    cpu = (r1.children_user - r0.children_user) + (r1.children_system - r0.children_system)
    cpu -= writer_cpu
    lat = []
    if kind == "A":
        lines = [(ts, json.loads(l)) for ts, l in got if l.startswith(b'{"line"')]
        for ts, v in lines:
            k = v["line"] - 1
            if 0 <= k < n:
                lat.append((ts - stamps[k]) / 1e6)
    else:
        for ts, l in got:
            parts = l.split(b"bench line ")
            if len(parts) == 2:
                k = int(parts[1])
                if 0 <= k < n:
                    lat.append((ts - stamps[k]) / 1e6)
    if len(lat) != n:
        raise SystemExit("%s: %d of %d lines came out" % (kind, len(lat), n))
    lat.sort()
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
    return p(0.50), p(0.99), cpu, (s1 - s0) / n, ((n1 - n0) / n if node else float("nan"))


def main():
    hosts_dir, h, config, path, tt_ha = sys.argv[1:6]
    pairs = int(sys.argv[6]) if len(sys.argv) > 6 else 5
    rate = int(sys.argv[7]) if len(sys.argv) > 7 else 1000
    secs = float(sys.argv[8]) if len(sys.argv) > 8 else 5.0
    a = (hosts_dir, h, config, path, tt_ha, rate, secs)
    r50, r99, rows = [], [], []
    print("load %s" % open("/proc/loadavg").read().strip())
    for i in range(pairs):
        A = one_run("A", a)
        B = one_run("B", a)
        r50.append(A[0] / B[0])
        r99.append(A[1] / B[1])
        print("pair %d: A p50 %.3f ms p99 %.3f ms cpu %.2f s cs/line %.2f + node %.2f | B p50 %.3f ms p99 %.3f ms cpu %.2f s cs/line %.2f + node %.2f"
              % (i + 1, A[0], A[1], A[2], A[3], A[4], B[0], B[1], B[2], B[3], B[4]), flush=True)
        rows.append((A, B))
    med = lambda xs: statistics.median(xs)
    print("A p50 median %.3f ms, p99 median %.3f ms; B p50 median %.3f ms, p99 median %.3f ms"
          % (med([r[0][0] for r in rows]), med([r[0][1] for r in rows]),
             med([r[1][0] for r in rows]), med([r[1][1] for r in rows])))
    print("ratio A/B p50 median %.2f (%.2f-%.2f), p99 median %.2f (%.2f-%.2f)"
          % (med(r50), min(r50), max(r50), med(r99), min(r99), max(r99)))
    print("cpu (user+sys of the follower's processes on the controller) A median %.2f s, B median %.2f s"
          % (med([r[0][2] for r in rows]), med([r[1][2] for r in rows])))
    print("context switches per line on the controller (the follower's threads and its ssh) A median %.2f, B median %.2f"
          % (med([r[0][3] for r in rows]), med([r[1][3] for r in rows])))
    print("context switches per line on the node (sshd's session and the agent, or tail) A median %.2f, B median %.2f"
          % (med([r[0][4] for r in rows]), med([r[1][4] for r in rows])))
    print("load %s" % open("/proc/loadavg").read().strip())


if __name__ == "__main__":
    main()
