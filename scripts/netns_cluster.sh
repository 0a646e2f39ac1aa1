#!/usr/bin/env bash
# A cluster of 2-4 "nodes" on this one machine, for testing and measuring multi-node jobs the way a
# real cluster runs them: a head namespace (where the launcher runs) and N worker namespaces,
# joined by a bridge in a switch namespace, each with its own address, and the workers with their
# own sshd (throwaway keys), so horovodrun starts every worker over ssh. (Launching from a worker
# node itself fails here: horovodrun treats that node as local and gives its workers the loopback
# interface, unreachable from the other namespace.)
#
#   scripts/netns_cluster.sh up STATE_DIR [--nodes N] [--rate RATE]   # needs root, ip, sshd
#   scripts/netns_cluster.sh rate STATE_DIR RATE|off                  # reshape a running cluster
#   scripts/netns_cluster.sh measure STATE_DIR                        # bulk transfer node1 -> node2
#   scripts/netns_cluster.sh down STATE_DIR
#
# --nodes: worker nodes, 2 to 4 (default 2). --rate: each worker node's link rate in tc's units
# (50mbit, 200mbit, 1gbit; 1mbit to 10gbit), shaped in both directions with tbf: on the node's
# side of its link (what it sends) and on the switch's side (what it receives). With a rate, `up`
# measures the rate it set and prints it. The kernel here has no netem, so latency is not emulated.
#
# Inside: head = 10.233.0.10 (namespace mxdl-n0), node K = 10.233.0.K (mxdl-nK, host name
# mxdl-nodeK), sshd on port 2222 in the nodes, key STATE_DIR/id_ed25519, ssh client settings in
# STATE_DIR/ssh_config and an `ssh` that uses them in STATE_DIR/bin. Run a command on the head with
#   ip netns exec mxdl-n0 env PATH=STATE_DIR/bin:$PATH COMMAND
# Traffic never leaves these namespaces.
set -euo pipefail
SUBNET=10.233.0
PORT=2222
MAX_NODES=4

die() { echo "netns_cluster: $*" >&2; exit 2; }

# rate_bits RATE: tc's rate units to bits/s; a rate outside 1mbit..10gbit is a usage error
rate_bits() {
    [[ "$1" =~ ^([0-9]+([.][0-9]+)?)(kbit|mbit|gbit)$ ]] \
        || die "--rate takes a rate such as 50mbit, 200mbit or 1gbit, got '$1'"
    local bits
    bits=$(awk -v n="${BASH_REMATCH[1]}" -v u="${BASH_REMATCH[3]}" \
        'BEGIN{m=(u=="kbit")?1e3:(u=="mbit")?1e6:1e9; printf "%.0f", n*m}')
    [ "$bits" -ge 1000000 ] && [ "$bits" -le 10000000000 ] || die "--rate $1 is out of range (1mbit to 10gbit)"
    echo "$bits"
}

nodes_of() { cat "$1/nodes" 2>/dev/null || echo 2; }

down() {
    local n
    for n in $(seq 1 "$MAX_NODES"); do
        if [ -f "$state/sshd-$n.pid" ]; then kill "$(cat "$state/sshd-$n.pid")" 2>/dev/null || true; fi
        ip netns del "mxdl-n$n" 2>/dev/null || true
    done
    ip netns del mxdl-n0 2>/dev/null || true
    ip netns del mxdl-sw 2>/dev/null || true
}

# shape RATE|off: tbf on both ends of every worker node's link. The burst holds 10 ms at the rate
# and at least one 64 KiB segment (veth hands tbf whole GSO segments); the queue holds 50 ms.
shape() {
    local n bits burst
    for n in $(seq 1 "$(nodes_of "$state")"); do
        ip netns exec "mxdl-n$n" tc qdisc del dev mxdl0 root 2>/dev/null || true
        ip netns exec mxdl-sw tc qdisc del dev "mxdl-s$n" root 2>/dev/null || true
    done
    rm -f "$state/rate"
    [ "$1" = off ] && return 0
    bits=$(rate_bits "$1")
    burst=$(( bits / 8 / 100 > 65536 ? bits / 8 / 100 : 65536 ))
    for n in $(seq 1 "$(nodes_of "$state")"); do
        ip netns exec "mxdl-n$n" tc qdisc add dev mxdl0 root tbf rate "$1" burst "$burst" latency 50ms
        ip netns exec mxdl-sw tc qdisc add dev "mxdl-s$n" root tbf rate "$1" burst "$burst" latency 50ms
    done
    echo "$1" > "$state/rate"
}

# measure: a bulk TCP transfer from node 1 to node 2, long enough (about 2 s at the set rate, at
# least 4 MiB) for tbf's burst not to count; the receiver times it from its first byte to the end.
measure() {
    local py bytes set
    py=$(command -v python3)
    set=$(cat "$state/rate" 2>/dev/null || echo off)
    bytes=$(( 4 << 20 ))
    [ "$set" != off ] && bytes=$(( $(rate_bits "$set") / 4 > bytes ? $(rate_bits "$set") / 4 : bytes ))
    ip netns exec mxdl-n2 "$py" - "$SUBNET.2" "$bytes" > "$state/measured" <<'PY' &
import socket, sys, time
srv = socket.create_server((sys.argv[1], 5201))
conn, _ = srv.accept()
got, start = 0, None
while True:
    chunk = conn.recv(1 << 20)
    if not chunk:
        break
    start = start or time.perf_counter()
    got += len(chunk)
seconds = time.perf_counter() - start
print(f"{got * 8 / seconds / 1e6:.1f} {got} {seconds:.2f}")
PY
    local server=$!
    ip netns exec mxdl-n1 "$py" - "$SUBNET.2" "$bytes" <<'PY'
import socket, sys, time
for _ in range(50):  # the receiver may not listen yet
    try:
        sock = socket.create_connection((sys.argv[1], 5201))
        break
    except ConnectionRefusedError:
        time.sleep(0.1)
block, left = b"\0" * (1 << 20), int(sys.argv[2])
while left > 0:
    left -= sock.send(block[:left])
sock.close()
PY
    wait "$server"
    read -r mbits got seconds < "$state/measured"
    echo "link node1 -> node2: set $set, measured $mbits Mbit/s ($got bytes in ${seconds}s)"
}

up() {
    local nodes=2 rate="" n
    while [ $# -gt 0 ]; do
        case "$1" in
            --nodes) [[ "${2-}" =~ ^[0-9]+$ ]] || die "--nodes takes a number from 2 to $MAX_NODES, got '${2-}'"
                [ "$2" -ge 2 ] && [ "$2" -le "$MAX_NODES" ] || die "--nodes $2 is out of range (2 to $MAX_NODES)"
                nodes=$2; shift ;;
            --rate) [ -n "${2-}" ] || die "--rate needs a rate such as 200mbit"; rate_bits "$2" >/dev/null
                rate=$2; shift ;;
            *) die "unknown option $1 (up STATE_DIR [--nodes N] [--rate RATE])" ;;
        esac
        shift
    done
    command -v ip >/dev/null || { echo "netns_cluster: 'ip' (iproute2) is not installed" >&2; exit 3; }
    [ -x /usr/sbin/sshd ] || { echo "netns_cluster: sshd is not installed (apt-get install openssh-server)" >&2; exit 3; }
    mkdir -p "$state"
    down
    echo "$nodes" > "$state/nodes"
    ip netns add mxdl-sw
    ip -n mxdl-sw link add mxdl-br type bridge
    ip -n mxdl-sw link set mxdl-br up
    for n in 0 $(seq 1 "$nodes"); do
        ip netns add "mxdl-n$n"
        ip link add "mxdl-h$n" type veth peer name "mxdl-s$n"
        ip link set "mxdl-h$n" netns "mxdl-n$n"
        ip link set "mxdl-s$n" netns mxdl-sw
        ip -n mxdl-sw link set "mxdl-s$n" master mxdl-br
        ip -n mxdl-sw link set "mxdl-s$n" up
        ip -n "mxdl-n$n" link set "mxdl-h$n" name mxdl0
        ip -n "mxdl-n$n" addr add "$SUBNET.$([ "$n" = 0 ] && echo 10 || echo "$n")/24" dev mxdl0
        ip -n "mxdl-n$n" link set mxdl0 up
        ip -n "mxdl-n$n" link set lo up
    done
    [ -f "$state/id_ed25519" ] || ssh-keygen -q -t ed25519 -N "" -f "$state/id_ed25519"
    cp "$state/id_ed25519.pub" "$state/authorized_keys"
    chmod 600 "$state/authorized_keys"
    mkdir -p /run/sshd
    { echo "127.0.0.1 localhost"; echo "$SUBNET.10 mxdl-head"
      for n in $(seq 1 "$nodes"); do echo "$SUBNET.$n mxdl-node$n"; done; } > "$state/hosts"
    for n in $(seq 1 "$nodes"); do
        [ -f "$state/host_key_$n" ] || ssh-keygen -q -t ed25519 -N "" -f "$state/host_key_$n"
        cat > "$state/sshd_$n.conf" <<CONF
ListenAddress $SUBNET.$n
Port $PORT
HostKey $state/host_key_$n
AuthorizedKeysFile $state/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
StrictModes no
UsePAM no
PidFile $state/sshd-$n.pid
AcceptEnv *
PermitUserEnvironment yes
CONF
        # Each node gets its own host name (UTS namespace) that resolves to its own address
        # (a private /etc/hosts bind-mounted in its mount namespace): Gloo advertises the
        # address the host name resolves to, and a shared name resolves to loopback.
        ip netns exec "mxdl-n$n" unshare --uts --mount sh -c \
            "hostname mxdl-node$n && mount --bind '$state/hosts' /etc/hosts && exec /usr/sbin/sshd -f '$state/sshd_$n.conf'"
    done
    cat > "$state/ssh_config" <<CONF
Host $SUBNET.*
    Port $PORT
    IdentityFile $state/id_ed25519
    StrictHostKeyChecking no
    UserKnownHostsFile /dev/null
    LogLevel ERROR
CONF
    # horovodrun, the preflight and the doctor call plain `ssh`: put STATE_DIR/bin first on PATH
    mkdir -p "$state/bin"
    printf '#!/bin/sh\nexec /usr/bin/ssh -F %s/ssh_config "$@"\n' "$state" > "$state/bin/ssh"
    chmod 755 "$state/bin/ssh"
    local listing="head $SUBNET.10 (netns mxdl-n0)"
    for n in $(seq 1 "$nodes"); do listing+="; node$n $SUBNET.$n (mxdl-n$n)"; done
    echo "$listing; ssh port $PORT"
    if [ -n "$rate" ]; then
        shape "$rate"
        measure
    fi
}

cmd=${1:-}; state=${2:-}
[ -n "$cmd" ] && [ -n "$state" ] || die "usage: $0 up|rate|measure|down STATE_DIR ..."
shift 2
case "$cmd" in
    up) up "$@" ;;
    rate) [ $# = 1 ] || die "usage: $0 rate STATE_DIR RATE|off"; [ "$1" = off ] || rate_bits "$1" >/dev/null
        shape "$1"; [ "$1" = off ] || measure ;;
    measure) measure ;;
    down) down ;;
    *) die "usage: $0 up|rate|measure|down STATE_DIR ..." ;;
esac
