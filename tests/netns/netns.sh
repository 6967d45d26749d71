#!/bin/sh
# netns.sh up|down TAG DIR - two nodes on one machine: network namespaces
# xmig-TAG-n1 and xmig-TAG-n2 joined by a veth pair (10.77.N.1 and .2),
# each with its own runtime directory under DIR, and DIR/nodes.conf naming
# them with `ip netns exec` as the command prefix. Needs root.
set -eu
cmd=$1 tag=$2 dir=$3
n1=xmig-$tag-n1 n2=xmig-$tag-n2
net=$(( $(printf '%s' "$tag" | cksum | cut -d' ' -f1) % 200 + 20 ))
case $cmd in
up)
	ip netns add "$n1"
	ip netns add "$n2"
	ip link add "xv$tag" type veth peer name "xw$tag"
	ip link set "xv$tag" netns "$n1"
	ip link set "xw$tag" netns "$n2"
	ip -n "$n1" addr add "10.77.$net.1/24" dev "xv$tag"
	ip -n "$n2" addr add "10.77.$net.2/24" dev "xw$tag"
	for n in "$n1" "$n2"; do ip -n "$n" link set lo up; done
	ip -n "$n1" link set "xv$tag" up
	ip -n "$n2" link set "xw$tag" up
	mkdir -p "$dir/n1" "$dir/n2"
	env=${XMIG_NODE_ENV:-}
	cat >"$dir/nodes.conf" <<CONF
# two nodes on one machine (tests/netns/netns.sh)
n1 10.77.$net.1 ip netns exec $n1 env XMIG_NODE=n1 XMIG_RUNTIME_DIR=$dir/n1 $env
n2 10.77.$net.2 ip netns exec $n2 env XMIG_NODE=n2 XMIG_RUNTIME_DIR=$dir/n2 $env
CONF
	;;
down)
	ip netns del "$n1" 2>/dev/null || true
	ip netns del "$n2" 2>/dev/null || true
	;;
cut)   # the cable: down on node 1's side
	ip -n "$n1" link set "xv$tag" down
	;;
*)
	echo "usage: netns.sh up|down|cut TAG DIR" >&2
	exit 2
	;;
esac
