#!/usr/bin/env bash
# Makes the README's pictures from the real program: builds tt-ha, runs it in tmux on a fresh
# demo sandbox (two ttfs-sim servers on Debian's Berkeley DB 5.3), walks the setup, the
# monitor and the guided rollback as an operator would, captures the screen with its colours
# (`tmux capture-pane -e`) at each moment, and renders each capture to a PNG
# (screenshots/ansi2png.py, Pillow and DejaVu Sans Mono from Debian).
#
#   bash screenshots/make.sh
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v tmux >/dev/null || need+=(tmux)
/usr/bin/python3 -c 'import PIL' 2>/dev/null || need+=(python3-pil)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf ] || need+=(fonts-dejavu-core)
[ -f /usr/include/db.h ] || need+=(libdb5.3-dev)
command -v db5.3_recover >/dev/null || need+=(db5.3-util)
if [ ${#need[@]} -gt 0 ]; then
  $(command -v sudo) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
cargo build --workspace

W=140 H=38
bin=$PWD/target/debug/tt-ha
work=$(mktemp -d)
sock=$work/tmux.sock
t() { tmux -S "$sock" "$@"; }
cleanup() {
  t kill-server 2>/dev/null || true
  tmux -S "$work/tmux.sock" kill-server 2>/dev/null || true
  "$bin" demo --down "$work/sandbox" >/dev/null 2>&1 || true
}
trap cleanup EXIT

screen() { t capture-pane -p -t =tt:; }
wait_for() { # TEXT SECONDS
  local i
  for ((i = 0; i < $2 * 5; i++)); do
    if screen | grep -qF -- "$1"; then return 0; fi
    sleep 0.2
  done
  echo "timed out waiting for '$1'; the screen:" >&2
  screen >&2
  exit 1
}
capture() { # NAME [SESSION]: the screen now, with its colours, rendered later by `render`
  t capture-pane -e -p -t "=${2:-tt}:" >"$work/$1.ans"
}
render() { # NAME
  /usr/bin/python3 screenshots/ansi2png.py "$work/$1.ans" "screenshots/$1.png" --cols $W --rows $H
  echo "screenshots/$1.png"
}
shot() { # NAME [SESSION]
  sleep 0.6 # let the screen settle after the awaited text appears
  capture "$@"
  render "$1"
}
start() { t new-session -d -s tt -x $W -y $H -e LANG=C.UTF-8 -e TZ=UTC -- "$@"; }
# A second session beside the wizard: `tt-ha monitor` on the same site, read-only.
start_monitor() { t new-session -d -s mon -x $W -y $H -e LANG=C.UTF-8 -e TZ=UTC -- "$bin" --config "$work/sandbox/tt-ha.toml" monitor; }
# Writes to the master through its client port for $1 seconds (a PUT every 20 ms), in the background.
write_load() {
  local port
  port=$(awk '/^\[master\]/{m=1} /^\[\[replicant\]\]/{m=0} m && /^client_port/{print $3}' "$work/sandbox/tt-ha.toml")
  /usr/bin/python3 - "$port" "$1" <<'PY' &
import socket, sys, time
port, secs = int(sys.argv[1]), float(sys.argv[2])
end, n = time.time() + secs, 0
while time.time() < end:
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(f"PUT volume LOAD{n} x\n".encode())
        s.recv(200)
    n += 1
    time.sleep(0.02)
PY
}

# The sandbox. A larger database makes the initial copy last a few seconds.
"$bin" demo --no-open --volumes 300000 "$work/sandbox" >/dev/null

# The first-run screen: no tt-ha.toml yet; it finds the sandbox's running servers.
start "$bin" --config "$work/new/tt-ha.toml"
wait_for "describe the master" 30
shot 1-first-run
t kill-server
# A fresh tmux server of its own for the wizard (reusing a socket just killed can race).
sock=$work/tmux2.sock

# The wizard on the sandbox.
start "$bin" --config "$work/sandbox/tt-ha.toml" wizard
wait_for "Nothing has changed yet" 60
shot 2-preflight
t send-keys -t =tt: Enter
confirmed=""
init_shot=""
mon_started=""
copy_dash=""
SECONDS=0
while true; do
  s=$(screen)
  if ((SECONDS > 1200)); then echo "setup did not finish in 20 min; the screen:" >&2; echo "$s" >&2; exit 1; fi
  if grep -q "every step is done" <<<"$s" && grep -q "Replication functional" <<<"$s"; then break; fi
  if grep -qF "Stopped:" <<<"$s"; then echo "the run stopped:" >&2; echo "$s" >&2; exit 1; fi
  # The copy lasts seconds: both screens are captured at once and rendered after the setup.
  if [ -z "$init_shot" ] && grep -qE "Copying databases|writing the copied pages|catching up the log" <<<"$s"; then
    capture 4-initial-copy
    init_shot=1
  fi
  # The monitor holds both message files open: it starts only once the steps that need the
  # homes unused (prune, regions) are done.
  if [ -z "$mon_started" ] && grep -qF "✓ master.regions" <<<"$s"; then
    start_monitor
    mon_started=1
  fi
  if [ -n "$mon_started" ] && [ -z "$copy_dash" ] &&
    t capture-pane -p -t =mon: | grep -qE "… file [2-9][0-9]* of|… writing the pages to disk|… catching up the log"; then
    capture 9-dashboard-initial-copy mon
    copy_dash=1
  fi
  step_node=$(grep -o "Confirm [a-z.]* on [a-z-]*" <<<"$s" | head -1 | awk '{print $2, $4}') || true
  if [ -n "$step_node" ]; then
    read -r step node <<<"$step_node"
    if [ "$step" != "$confirmed" ]; then
      if [ "$step" = replicant.dbconfig ]; then
        t send-keys -t =tt: -l "${node:0:4}"
        shot 3-dbconfig-diff
        t send-keys -t =tt: -l "${node:4}"
      else
        t send-keys -t =tt: -l "$node"
      fi
      t send-keys -t =tt: Enter
      confirmed=$step
    fi
  fi
  [ -n "$mon_started" ] && [ -z "$copy_dash" ] || sleep 0.1
done
[ -n "$init_shot" ] || { echo "the initial copy was never seen in progress" >&2; exit 1; }
[ -n "$copy_dash" ] || { echo "the dashboard never showed the copy in progress" >&2; exit 1; }
render 4-initial-copy
render 9-dashboard-initial-copy
shot 5-functional

# The dashboard under write load: records shipped and applied per second, the lag.
write_load 12
sleep 8
shot 10-dashboard-write-load mon
wait
t kill-session -t =mon
sleep 1 # the monitor closes the message files before the rollback checks the homes

t send-keys -t =tt: m
wait_for "pid " 20
shot 6-monitor
t send-keys -t =tt: Escape
wait_for "setup wizard" 10

t send-keys -t =tt: r
wait_for "Dry run: nothing has changed" 30
shot 7-rollback-dry-run
t send-keys -t =tt: Enter
wait_for "Type rollback" 10
t send-keys -t =tt: -l rollback
t send-keys -t =tt: Enter
wait_for "is rolled back" 180
shot 8-rolled-back
t send-keys -t =tt: q
