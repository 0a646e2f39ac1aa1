#!/usr/bin/env bash
# A two-"node" cluster on this one machine, for testing multi-node launches the way a real
# cluster runs them: a head namespace (where the launcher runs) and two worker namespaces,
# joined by a bridge in a fourth namespace, each with its own address and the workers with
# their own sshd (throwaway keys), so horovodrun starts every worker over ssh. (Launching from
# a worker node itself fails here: horovodrun treats that node as local and gives its workers
# the loopback interface, unreachable from the other namespace.)
#
#   scripts/netns_cluster.sh up STATE_DIR     # prints the addresses; needs root, ip, sshd
#   scripts/netns_cluster.sh down STATE_DIR
#
# Inside: head = 10.233.0.10 (namespace mxdl-n0), node1 = 10.233.0.1 (mxdl-n1), node2 =
# 10.233.0.2 (mxdl-n2), sshd on port 2222 in the nodes, key STATE_DIR/id_ed25519, ssh client
# settings in STATE_DIR/ssh_config. Traffic never leaves these namespaces.
set -euo pipefail
cmd=${1:?up or down}; state=${2:?state directory}
NODES=(1 2)
SUBNET=10.233.0
PORT=2222

down() {
    for n in "${NODES[@]}"; do
        if [ -f "$state/sshd-$n.pid" ]; then kill "$(cat "$state/sshd-$n.pid")" 2>/dev/null || true; fi
        ip netns del "mxdl-n$n" 2>/dev/null || true
    done
    ip netns del mxdl-n0 2>/dev/null || true
    ip netns del mxdl-sw 2>/dev/null || true
}

up() {
    command -v ip >/dev/null || { echo "netns_cluster: 'ip' (iproute2) is not installed" >&2; exit 3; }
    [ -x /usr/sbin/sshd ] || { echo "netns_cluster: sshd is not installed (apt-get install openssh-server)" >&2; exit 3; }
    mkdir -p "$state"
    down
    ip netns add mxdl-sw
    ip -n mxdl-sw link add mxdl-br type bridge
    ip -n mxdl-sw link set mxdl-br up
    for n in 0 "${NODES[@]}"; do
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
      for n in "${NODES[@]}"; do echo "$SUBNET.$n mxdl-node$n"; done; } > "$state/hosts"
    for n in "${NODES[@]}"; do
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
    echo "head $SUBNET.10 (netns mxdl-n0); node1 $SUBNET.1 (mxdl-n1), node2 $SUBNET.2 (mxdl-n2); ssh port $PORT"
}

case "$cmd" in
    up) up ;;
    down) down ;;
    *) echo "usage: $0 up|down STATE_DIR" >&2; exit 2 ;;
esac
