#!/usr/bin/env bash
# Two hosts on one machine for tt-ha's remote tests (issue #13): each host is a Linux network
# namespace with its own mount namespace, a tmpfs for its TapeTrack folders that the controller
# (the root namespaces, where tt-ha runs) cannot see, and OpenSSH's sshd listening on the
# host's own address. A bridge in the root namespace joins them to the controller.
#
#   hosts.sh up DIR [N]        bring instance N (1..250; default: the first free one) up;
#                              keys, ssh_config, known_hosts, hosts.env and hosts.json go in DIR
#   hosts.sh down DIR          stop every process of the instance and remove its namespaces,
#                              bridge and links (idempotent; also after a failed `up`)
#   hosts.sh exec DIR a|b CMD  run CMD inside that host's mount and network namespaces
#   hosts.sh link DIR a|b down|up
#                              cut that host off the network (its link to the bridge down:
#                              packets are dropped, no connection is told) or mend it
#
# Instance N:  bridge ttha-N-br (controller 10.213.N.1/24), host a = namespace ttha-N-a at
# 10.213.N.2, host b = ttha-N-b at 10.213.N.3; a host's private folder is /srv/ttha-N-a (an
# empty directory seen from the controller, a tmpfs inside the host). Root only.
set -euo pipefail

readonly HOSTS=(a b)
# sshd and ip live in sbin, which a user's PATH (and so `sudo -E`) may lack.
PATH=$PATH:/usr/sbin:/sbin
readonly PREFIX=10.213

die() {
  echo "hosts.sh: $*" >&2
  exit 1
}

usage() {
  sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

need_root() {
  [ "$(id -u)" = 0 ] ||
    die "must run as root (it creates network namespaces, a bridge and tmpfs mounts): run it with sudo"
}

# Every tool the script runs, with the Debian package that brings it.
need_tools() {
  local tool pkg missing=()
  for tool in ip:iproute2 nsenter:util-linux unshare:util-linux mount:mount \
    sshd:openssh-server ssh-keygen:openssh-client ssh:openssh-client setsid:util-linux; do
    pkg=${tool#*:}
    tool=${tool%%:*}
    command -v "$tool" >/dev/null || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] ||
    die "missing tools: apt-get install -y $(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')"
}

# Names and addresses of instance $1, as globals.
names() {
  N=$1
  BR=ttha-$N-br
  CONTROLLER=$PREFIX.$N.1
}
ns_of() { echo "ttha-$N-$1"; }
addr_of() { [ "$1" = a ] && echo "$PREFIX.$N.2" || echo "$PREFIX.$N.3"; }
root_of() { echo "/srv/ttha-$N-$1"; }

valid_instance() {
  [[ $1 =~ ^[0-9]+$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 250 ]
}

# The instance a folder belongs to, or nothing when none was brought up there.
instance_of_dir() {
  local n
  [ -f "$1/instance" ] || return 0
  n=$(cat "$1/instance")
  valid_instance "$n" || die "$1/instance holds '$n', not an instance number 1..250: remove the file after checking \`ip netns list\` for ttha-* namespaces"
  echo "$n"
}

# Claims instance $1 by creating its bridge (the kernel refuses a second one of the same
# name, so two `up`s running at once never share an instance). Fails when it is in use.
claim() {
  local n=$1 h
  for h in "${HOSTS[@]}"; do
    [ ! -e "/run/netns/ttha-$n-$h" ] || return 1
    [ -z "$(ls -A "/srv/ttha-$n-$h" 2>/dev/null)" ] || return 1
  done
  [ -z "$(ip -4 route show "$PREFIX.$n.0/24" 2>/dev/null)" ] || return 1
  ip link add "ttha-$n-br" type bridge 2>/dev/null
}

holder_pid() { cat "$DIR/holder-$1.pid"; }

# Runs a command inside host $1's mount and network namespaces.
in_host() {
  local h=$1
  shift
  nsenter -t "$(holder_pid "$h")" -m -n -- "$@"
}

wait_for() {
  local what=$1 tries=$2
  shift 2
  until "$@"; do
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || die "$what did not happen in time; see the logs in $DIR"
    sleep 0.1
  done
}

# The network half of host $1: a namespace, a veth pair to the bridge, its address inside.
host_network() {
  local h=$1 ns addr
  ns=$(ns_of "$h")
  addr=$(addr_of "$h")
  ip netns add "$ns"
  ip link add "$ns" type veth peer name "$ns-in"
  ip link set "$ns-in" netns "$ns"
  ip -n "$ns" link set "$ns-in" name eth0
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set lo up
  ip -n "$ns" link set eth0 up
  ip link set "$ns" master "$BR"
  ip link set "$ns" up
}

# The holder: a long-lived process in the host's network namespace and in a mount namespace of
# its own, where the host's folder is a tmpfs. Everything the host runs enters its namespaces.
host_holder() {
  local h=$1 root pid
  root=$(root_of "$h")
  mkdir -p "$root"
  rm -f "$DIR/holder-$h.pid"
  # setsid and redirections: the holder must not keep the caller's terminal or pipes open.
  setsid ip netns exec "$(ns_of "$h")" unshare --mount --propagation private -- \
    bash -c 'mount -t tmpfs -o mode=0755,size=512m "ttha-$3" "$1" && echo $$ >"$2.tmp" && mv "$2.tmp" "$2" && exec -a "ttha-$3 holder" sleep infinity' \
    holder "$root" "$DIR/holder-$h.pid" "$N-$h" </dev/null >>"$DIR/holder-$h.log" 2>&1 &
  wait_for "host $h's tmpfs at $root (see $DIR/holder-$h.log)" 50 test -s "$DIR/holder-$h.pid"
  pid=$(holder_pid "$h")
  [ "$(readlink "/proc/$pid/ns/mnt")" != "$(readlink /proc/self/ns/mnt)" ] ||
    die "host $h's holder (pid $pid) is not in a mount namespace of its own"
  [ "$(in_host "$h" findmnt -n -o FSTYPE --mountpoint "$root")" = tmpfs ] ||
    die "host $h has no tmpfs at $root: its files would land on the controller's disk"
  [ -z "$(ls -A "$root")" ] || die "$root is not empty from the controller: the tmpfs leaked out"
}

# sshd on host $1: host key made inside the host (its private half never leaves it), the
# controller's fresh client key as root's only authorized key.
host_sshd() {
  local h=$1 root sshd
  root=$(root_of "$h")
  sshd=$(command -v sshd)
  in_host "$h" mkdir -m 0700 "$root/ssh"
  in_host "$h" ssh-keygen -q -t ed25519 -N '' -C "ttha-$N-$h host key" -f "$root/ssh/ssh_host_ed25519_key"
  in_host "$h" cat "$root/ssh/ssh_host_ed25519_key.pub" >"$DIR/host-$h.pub"
  in_host "$h" install -m 0600 "$DIR/id_ed25519.pub" "$root/ssh/authorized_keys"
  in_host "$h" tee "$root/ssh/sshd_config" >/dev/null <<EOF
# sshd of testbed host ttha-$N-$h (made by testbed/hosts.sh; lives on the host's tmpfs)
ListenAddress $(addr_of "$h"):22
HostKey $root/ssh/ssh_host_ed25519_key
PidFile $root/ssh/sshd.pid
AuthorizedKeysFile $root/ssh/authorized_keys
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
UseDNS no
StrictModes yes
PrintMotd no
PrintLastLog no
MaxStartups 100:30:200
Subsystem sftp internal-sftp
EOF
  in_host "$h" "$sshd" -t -f "$root/ssh/sshd_config" ||
    die "sshd refuses host $h's configuration (see above)"
  setsid nsenter -t "$(holder_pid "$h")" -m -n -- \
    "$sshd" -D -f "$root/ssh/sshd_config" -E "$DIR/sshd-$h.log" </dev/null >/dev/null 2>&1 &
  wait_for "sshd on host $h writing its pid file (see $DIR/sshd-$h.log)" 100 in_host "$h" test -s "$root/ssh/sshd.pid"
  in_host "$h" cat "$root/ssh/sshd.pid" >"$DIR/sshd-$h.pid"
}

# The controller's side: a fresh client key (made before the hosts), then ssh_config and
# known_hosts naming the fresh host keys.
client_files() {
  local h
  {
    echo "# Made by testbed/hosts.sh for instance $N: ssh -F $DIR/ssh_config ttha-a"
    for h in "${HOSTS[@]}"; do
      printf 'Host ttha-%s\n  HostName %s\n' "$h" "$(addr_of "$h")"
    done
    printf 'Host ttha-a ttha-b %s %s\n' "$(addr_of a)" "$(addr_of b)"
    printf '  User root\n  IdentityFile "%s/id_ed25519"\n  IdentitiesOnly yes\n' "$DIR"
    printf '  UserKnownHostsFile "%s/known_hosts"\n  GlobalKnownHostsFile /dev/null\n' "$DIR"
    printf '  StrictHostKeyChecking yes\n  BatchMode yes\n  UpdateHostKeys no\n'
    printf '  ConnectTimeout 10\n  LogLevel ERROR\n'
  } >"$DIR/ssh_config"
  : >"$DIR/known_hosts"
  for h in "${HOSTS[@]}"; do
    printf '%s,ttha-%s %s\n' "$(addr_of "$h")" "$h" "$(cut -d' ' -f1,2 "$DIR/host-$h.pub")" >>"$DIR/known_hosts"
  done
}

json_string() {
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  printf '"%s"' "$s"
}

# hosts.env (for shells) and hosts.json (for the Rust tests).
describe() {
  local h H
  {
    printf 'TTHA_INSTANCE=%q\nTTHA_DIR=%q\nTTHA_BRIDGE=%q\nTTHA_CONTROLLER=%q\n' "$N" "$DIR" "$BR" "$CONTROLLER"
    printf 'TTHA_SSH_CONFIG=%q\nTTHA_IDENTITY=%q\nTTHA_KNOWN_HOSTS=%q\n' \
      "$DIR/ssh_config" "$DIR/id_ed25519" "$DIR/known_hosts"
    for h in "${HOSTS[@]}"; do
      H=${h^^}
      printf 'TTHA_%s_ALIAS=%q\nTTHA_%s_NS=%q\nTTHA_%s_ADDR=%q\n' \
        "$H" "ttha-$h" "$H" "$(ns_of "$h")" "$H" "$(addr_of "$h")"
      printf 'TTHA_%s_HOLDER=%q\nTTHA_%s_SSHD=%q\nTTHA_%s_ROOT=%q\n' \
        "$H" "$(holder_pid "$h")" "$H" "$(cat "$DIR/sshd-$h.pid")" "$H" "$(root_of "$h")"
    done
  } >"$DIR/hosts.env"
  {
    printf '{"instance":%s,"dir":%s,"bridge":"%s","controller":"%s",' "$N" "$(json_string "$DIR")" "$BR" "$CONTROLLER"
    printf '"ssh_config":%s,"identity":%s,"known_hosts":%s,"hosts":{' \
      "$(json_string "$DIR/ssh_config")" "$(json_string "$DIR/id_ed25519")" "$(json_string "$DIR/known_hosts")"
    for h in "${HOSTS[@]}"; do
      [ "$h" = a ] || printf ','
      printf '"%s":{"alias":"ttha-%s","namespace":"%s","address":"%s","holder_pid":%s,"sshd_pid":%s,"root":"%s"}' \
        "$h" "$h" "$(ns_of "$h")" "$(addr_of "$h")" "$(holder_pid "$h")" "$(cat "$DIR/sshd-$h.pid")" "$(root_of "$h")"
    done
    printf '}}\n'
  } >"$DIR/hosts.json"
}

ssh_works() { ssh -F "$DIR/ssh_config" "ttha-$1" true </dev/null >/dev/null 2>&1; }

cmd_up() {
  local n=${1:-} h
  need_root
  need_tools
  mkdir -p "$DIR"
  DIR=$(cd "$DIR" && pwd)
  [ -z "$(instance_of_dir "$DIR")" ] ||
    die "$DIR already holds instance $(cat "$DIR/instance"): run \`$0 down $DIR\` first"
  if [ -n "$n" ]; then
    valid_instance "$n" || die "instance '$n' is not a number from 1 to 250"
    claim "$n" || die "instance $n is in use (bridge ttha-$n-br, a ttha-$n-* namespace, a route to $PREFIX.$n.0/24 or a non-empty /srv/ttha-$n-*): choose another number, or run \`$0 down\` on the folder that brought it up"
  else
    for n in $(seq 1 250); do
      claim "$n" && break
      n=
    done
    [ -n "$n" ] || die "all 250 instances are in use: \`ip netns list\` shows them; take some down"
  fi
  names "$n"
  echo "$N" >"$DIR/instance"
  # From here on a failure takes down whatever was made.
  trap 'echo "hosts.sh: up failed; taking instance $N down" >&2; cmd_down >&2 || true' EXIT
  mkdir -p /run/sshd # sshd's privilege separation directory (the hosts share /run)
  ip addr add "$CONTROLLER/24" dev "$BR"
  ip link set "$BR" up
  rm -f "$DIR/id_ed25519" "$DIR/id_ed25519.pub"
  ssh-keygen -q -t ed25519 -N '' -C "tt-ha testbed controller, instance $N" -f "$DIR/id_ed25519"
  for h in "${HOSTS[@]}"; do
    host_network "$h"
    host_holder "$h"
    host_sshd "$h"
  done
  client_files
  for h in "${HOSTS[@]}"; do
    wait_for "ssh to host $h (ssh -F $DIR/ssh_config ttha-$h true)" 100 ssh_works "$h"
  done
  # The hosts reach each other across the bridge (a firewall may filter bridged traffic).
  in_host b timeout 5 bash -c "exec 3<>/dev/tcp/$(addr_of a)/22" ||
    die "host b cannot reach host a's sshd at $(addr_of a):22 across bridge $BR: is bridged traffic filtered (sysctl net.bridge.bridge-nf-call-iptables=1 with an iptables FORWARD policy of DROP)? Allow it: iptables -I FORWARD -i $BR -o $BR -j ACCEPT"
  describe
  trap - EXIT
  echo "instance $N up: ssh -F $DIR/ssh_config ttha-a (host a $(addr_of a), folder $(root_of a)); ttha-b ($(addr_of b), $(root_of b)); down: $0 down $DIR"
}

# Pids of the processes of host $1: those in its named network namespace, and those sharing
# the holder's network or mount namespace (found even when the namespace's name is gone).
host_pids() {
  local h=$1 ns holder net mnt p
  ns=$(ns_of "$h")
  [ ! -e "/run/netns/$ns" ] || ip netns pids "$ns" 2>/dev/null || true
  holder=$(cat "$DIR/holder-$h.pid" 2>/dev/null) || return 0
  [[ $holder =~ ^[0-9]+$ ]] && [ -r "/proc/$holder/cmdline" ] || return 0
  # Only the instance's own holder (a pid can be reused once it is gone).
  [ "$(tr '\0' '\n' <"/proc/$holder/cmdline" | head -n 1)" = "ttha-$N-$h holder" ] || return 0
  net=$(readlink "/proc/$holder/ns/net") && mnt=$(readlink "/proc/$holder/ns/mnt") || return 0
  for p in /proc/[0-9]*; do
    if [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$net" ] || [ "$(readlink "$p/ns/mnt" 2>/dev/null)" = "$mnt" ]; then
      echo "${p#/proc/}"
    fi
  done
}

all_pids() {
  local h
  for h in "${HOSTS[@]}"; do host_pids "$h"; done | sort -u
}

# Stops everything in the instance's namespaces: TERM first (a ttfs-sim closes its environment
# cleanly), KILL what is left after 15 s; what still lives 5 s later is left in $LEFT.
stop_processes() {
  local tries=0
  LEFT=$(all_pids)
  [ -n "$LEFT" ] || return 0
  # shellcheck disable=SC2086 # one pid a word
  kill -CONT $LEFT 2>/dev/null || true
  # shellcheck disable=SC2086
  kill -TERM $LEFT 2>/dev/null || true
  while [ -n "$LEFT" ] && [ "$tries" -lt 200 ]; do
    sleep 0.1
    tries=$((tries + 1))
    LEFT=$(all_pids)
    # shellcheck disable=SC2086
    [ "$tries" -ne 150 ] || kill -KILL $LEFT 2>/dev/null || true
  done
}

cmd_down() {
  local h root problems=()
  need_root
  [ -d "$DIR" ] || die "$DIR does not exist: give the folder passed to \`up\`"
  DIR=$(cd "$DIR" && pwd)
  local n
  n=$(instance_of_dir "$DIR")
  if [ -z "$n" ]; then
    echo "nothing to take down: $DIR/instance is missing (already down, or never up)"
    return 0
  fi
  names "$n"
  stop_processes
  [ -z "$LEFT" ] || problems+=("processes that survived SIGKILL (stuck in the kernel?): $(echo $LEFT)")
  for h in "${HOSTS[@]}"; do
    ip netns del "$(ns_of "$h")" 2>/dev/null || true
    ip link del "$(ns_of "$h")" 2>/dev/null || true
  done
  ip link del "$BR" 2>/dev/null || true
  for h in "${HOSTS[@]}"; do
    root=$(root_of "$h")
    [ ! -d "$root" ] || rmdir "$root" 2>/dev/null ||
      problems+=("$root is not empty from the controller: it holds files nobody should have put there; look and remove it by hand")
    [ ! -e "/run/netns/$(ns_of "$h")" ] || problems+=("namespace $(ns_of "$h") is still there")
    ! ip link show "$(ns_of "$h")" >/dev/null 2>&1 || problems+=("link $(ns_of "$h") is still there")
  done
  ! ip link show "$BR" >/dev/null 2>&1 || problems+=("bridge $BR is still there")
  if [ ${#problems[@]} -gt 0 ]; then
    printf 'hosts.sh: instance %s is not completely down:\n' "$N" >&2
    printf '  %s\n' "${problems[@]}" >&2
    die "run \`$0 down $DIR\` again once fixed"
  fi
  # What described the live instance goes with it (keys and logs stay for a post-mortem).
  rm -f "$DIR/hosts.env" "$DIR/hosts.json" "$DIR/instance"
  echo "instance $N down"
}

cmd_exec() {
  local h=$1 pid
  shift
  need_root
  [ "$h" = a ] || [ "$h" = b ] || die "host '$h' is neither a nor b"
  [ $# -gt 0 ] || die "exec needs a command to run on host $h"
  [ -d "$DIR" ] && DIR=$(cd "$DIR" && pwd)
  [ -n "$(instance_of_dir "$DIR")" ] || die "$DIR holds no instance that is up: run \`$0 up $DIR\` first"
  pid=$(holder_pid "$h")
  [ -e "/proc/$pid/ns/mnt" ] && [ "$(tr '\0' '\n' <"/proc/$pid/cmdline" | head -n 1)" = "ttha-$(cat "$DIR/instance")-$h holder" ] ||
    die "host $h's holder (pid $pid) is gone: run \`$0 down $DIR\` and \`$0 up $DIR\` again"
  exec nsenter -t "$pid" -m -n -- "$@"
}

# Cuts host $1 off the bridge (down) or joins it again (up): the controller's end of the host's
# veth pair, in the root namespace. A cut link drops packets silently, as a pulled cable does;
# TCP connections across it are not reset and carry on if it comes back in time.
cmd_link() {
  local h=$1 state=$2 dev
  need_root
  [ "$h" = a ] || [ "$h" = b ] || die "host '$h' is neither a nor b"
  [ "$state" = down ] || [ "$state" = up ] || die "link state '$state' is neither down nor up"
  [ -d "$DIR" ] && DIR=$(cd "$DIR" && pwd)
  [ -n "$(instance_of_dir "$DIR")" ] || die "$DIR holds no instance that is up: run \`$0 up $DIR\` first"
  names "$(cat "$DIR/instance")"
  dev=$(ns_of "$h")
  ip link show "$dev" >/dev/null 2>&1 || die "host $h's link $dev is gone: run \`$0 down $DIR\` and \`$0 up $DIR\` again"
  ip link set "$dev" "$state"
  # Up: wait until the bridge forwards through the port again (3 = forwarding).
  [ "$state" = down ] || wait_for "host $h's link $dev forwarding again" 100 \
    grep -qx 3 "/sys/class/net/$dev/brport/state"
}

main() {
  [ $# -ge 2 ] || usage
  local verb=$1
  DIR=$2
  shift 2
  case $verb in
  up)
    [ $# -le 1 ] || usage
    cmd_up "$@"
    ;;
  down)
    [ $# -eq 0 ] || usage
    cmd_down
    ;;
  exec)
    [ $# -ge 1 ] || usage
    cmd_exec "$@"
    ;;
  link)
    [ $# -eq 2 ] || usage
    cmd_link "$@"
    ;;
  *) usage ;;
  esac
}

main "$@"
