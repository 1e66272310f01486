#!/usr/bin/env python3
"""Shrinks a replicant's message file for the progress fixtures, keeping what the initial
copy's progress reads at its real stamps.

Every line is kept except the per-page and per-record ones: of `FILEDONE` lines and of
received log records (`rep_process_message: ... type log|log_more`), one in EVERY (and the
last of each file) is kept; `PAGE:`/`PAGE_GAP`/`rep_apply`/page messages and the like are
dropped (the progress model does not read them). Usage: progress_filter.py IN OUT [EVERY]."""
import re
import sys

DROP = re.compile(
    rb"\] [A-Z_a-z]+: (?:.* )?(?:rep_process_message: .*type (?:page|page_more)|rep_send_message: .*type (?:page_req|log_req|all_req)|"
    rb"PAGE(?:_MORE|_GAP)?:|rep_apply:|will await|checking perm|sendpages:|Returning NOTPERM|Returning ISPERM)"
)
FILEDONE = re.compile(rb"\] [A-Z_a-z]+: FILEDONE: have (\d+) pages\. Need (\d+)\.")
LOGREC = re.compile(rb"rep_process_message: .*type (?:log|log_more),")


def main():
    src, dst = sys.argv[1], sys.argv[2]
    every = int(sys.argv[3]) if len(sys.argv) > 3 else 50
    kept = total = 0
    n_fd = n_log = 0
    with open(src, "rb") as f, open(dst, "wb") as out:
        for line in f:
            total += 1
            m = FILEDONE.search(line)
            if m:
                n_fd += 1
                if n_fd % every and m.group(1) != m.group(2):
                    continue
            elif LOGREC.search(line):
                n_log += 1
                if n_log % every:
                    continue
            elif DROP.search(line):
                continue
            out.write(line)
            kept += 1
    print(f"{dst}: kept {kept} of {total} lines", file=sys.stderr)


if __name__ == "__main__":
    main()
