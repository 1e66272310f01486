#!/usr/bin/env bash
# CPU of the monitor screen against `tail -F` in tmux, under load and idle (see bench_tui.py).
# Not part of CI: it takes about 5 minutes. Usage: bash testbed/bench-tui.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin tt-ha
exec python3 testbed/bench_tui.py "$@"
