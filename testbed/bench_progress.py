#!/usr/bin/env python3
"""Judges the initial-copy ETA lines a live `tt-ha apply` printed against the copy's real end.

Input: the apply output with each line prefixed by its wall-clock time (`TIME line`), and the
replicant's message file of that run. The copy begins at `Update setup for N files.` and ends
at `Start-up is done` (both from the message file's stamps, the same machine's clock). Every
`start pending` line shown after the first tenth of the copy is judged: its time left must be
within 30% of the real one, or within 2 s when less than 5 s are left. Prints each judged line
and a summary (median, p90 and max of the error)."""
import math
import re
import sys

STAMP = re.compile(rb"^\[(\d+):(\d+)\]")
ETA = re.compile(r"start pending \(\d+ s\): (.*?)(?:: ([\d.]+)%)?(?:, (?:about ([\d.]+) (s|min|h) left|(less than a second) left))?$")


def copy_span(msgfile):
    begin = end = None
    with open(msgfile, "rb") as f:
        for line in f:
            m = STAMP.match(line)
            if not m:
                continue
            t = int(m.group(1)) + int(m.group(2)) / 1e6
            if begin is None and b"Update setup for " in line:
                begin = t
            elif begin is not None and b"Start-up is done" in line:
                end = t
                break
    return begin, end


def quantile(v, p):
    if not v:
        return 0.0
    v = sorted(v)
    return v[max(0, math.ceil(len(v) * p) - 1)]


def main():
    applylog, msgfile = sys.argv[1], sys.argv[2]
    begin, end = copy_span(msgfile)
    if begin is None or end is None:
        sys.exit(f"{msgfile}: no copy from `Update setup` to `Start-up is done` in it")
    dur = end - begin
    rel, ab, bad, judged, back, prev = [], [], 0, 0, 0, 0.0
    for raw in open(applylog, encoding="utf-8", errors="replace"):
        t, _, text = raw.strip().partition(" ")
        m = ETA.search(text)
        if not m:
            continue
        t = float(t)
        pct = m.group(2)
        if pct is not None:
            back += float(pct) < prev
            prev = max(prev, float(pct))
        if t < begin + 0.1 * dur or t > end:
            continue
        left = end - t
        if m.group(5):
            eta = 0.5
        elif m.group(3):
            eta = float(m.group(3)) * {"s": 1, "min": 60, "h": 3600}[m.group(4)]
        else:
            eta = None
        judged += 1
        if eta is None:
            bad += 1
            print(f"BAD no ETA with {left:.1f} s left: {text}")
            continue
        err = abs(eta - left)
        ok = err <= 0.3 * left or (left < 5 and err <= 2)
        bad += not ok
        (rel if left >= 5 else ab).append(err / left if left >= 5 else err)
        print(f"{'ok ' if ok else 'BAD'} left={left:6.2f} shown={eta:6.1f}  {text}")
    print(
        f"live summary duration={dur:.2f}s judged={judged} outside_bar={bad} percent_backwards={back} "
        f"rel_err(>=5s left, n={len(rel)}) median={100*quantile(rel,0.5):.1f}% p90={100*quantile(rel,0.9):.1f}% max={100*quantile(rel,1):.1f}% "
        f"abs_err(<5s left, n={len(ab)}) median={quantile(ab,0.5):.2f}s p90={quantile(ab,0.9):.2f}s max={quantile(ab,1):.2f}s"
    )


if __name__ == "__main__":
    main()
