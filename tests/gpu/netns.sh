#!/bin/bash
# netns.sh BUILD - cross-node moves on a GPU machine: two network namespaces
# stand for two nodes (sharing its GPU). A CUDA workload moves to the other
# "node" and back and must print what it prints natively; then the downtime
# and total time of moves of 1 and 8 GiB against the link's floor (TCP
# throughput between the namespaces, measured in the same run). Needs root.
# Ends with "N passed, N failed" and a markdown table.
set -u
B=$(cd "${1:?usage: netns.sh BUILD}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
XMIG=$B/bin/xmig
TAG=g$$
D=$(mktemp -d /tmp/xgn.XXXXXX)
. "$ROOT/tests/gpu/helpers.sh"

DEV=${XMIG_NETNS_DEVICE:-cuda}   # (sim: a dry run of this script without a GPU)
if command -v ip >/dev/null && [ -z "${XMIG_NETNS_LOOPBACK:-}" ]; then
	XMIG_NODE_ENV="XMIG_DEVICE=$DEV" sh "$ROOT/tests/netns/netns.sh" up $TAG "$D" || exit 1
	trap 'ip netns pids "xmig-$TAG-n2" | xargs -r kill; sh "$ROOT/tests/netns/netns.sh" down $TAG "$D"; rm -rf "$D"' EXIT
	prefix() { echo ip netns exec "xmig-$TAG-$1"; }
else
	# no ip(8) (a bare GPU machine): the two nodes share this network
	# namespace, at two loopback addresses; the link is the loopback's
	echo "# no ip(8) here: nodes n1 and n2 share one network namespace, at 127.0.0.1 and 127.0.0.2"
	mkdir -p "$D/n1" "$D/n2"
	for n in 1 2; do
		echo "n$n 127.0.0.$n env XMIG_NODE=n$n XMIG_RUNTIME_DIR=$D/n$n XMIG_DEVICE=$DEV"
	done >"$D/nodes.conf"
	# (node n2's processes, its executors among them, are those of its runtime directory)
	trap 'grep -lz "^XMIG_RUNTIME_DIR=$D/n2\$" /proc/[0-9]*/environ 2>/dev/null |
		cut -d/ -f3 | xargs -r kill 2>/dev/null; rm -rf "$D"' EXIT
	prefix() { :; }
fi
export XMIG_NODES=$D/nodes.conf
addr2=$(awk '$1 == "n2" { print $2 }' "$XMIG_NODES")
on() {
	local node=$1
	shift
	$(prefix "$node") env XMIG_NODE="$node" XMIG_RUNTIME_DIR="$D/$node" \
		XMIG_DEVICE=$DEV XMIG_NODES="$XMIG_NODES" "$@"
}
where() {
	on n1 "$XMIG" ps --all --json --job "$1" | python3 -c 'import json,sys; i=json.load(sys.stdin)["items"]; print("%s:%s@%s" % (i[0]["node"], i[0]["gpu"], i[0]["host"]) if i else "-")'
}
wait_running() {
	for _ in $(seq 300); do
		on n1 "$XMIG" ps --json --job "$1" | grep -q '"state":"running"' && return 0
		sleep 0.1
	done
	return 1
}

# correctness: to the other node and back, twice
args=(--mib 512 --iters 200 --sleep-ms 25)
"$B/tests/cuda/zdtm" "${args[@]}" >"$D/native" 2>/dev/null
on n1 "$XMIG" run --job c1 -- "$B/tests/cuda/zdtm" "${args[@]}" >"$D/c1.out" 2>"$D/c1.err" &
app=$!
wait_running c1
for hop in n2:gpu0 n1:gpu0 n2:gpu0 n1:gpu0; do
	check "move to $hop" on n1 "$XMIG" migrate --job c1 --to $hop
	check "... ps --all shows it on ${hop%%:*}" test "$(where c1)" = "${hop%%:*}:0@n1"
done
wait $app
check "the workload ended well" test $? -eq 0
check "... and printed exactly its native output" cmp "$D/native" "$D/c1.out"
[ $fail -eq 0 ] || cat "$D/c1.err"

# CUDA graphs across nodes: a captured cuBLAS GEMM is captured again by the
# executor on n2 and back home; a graph that copies from pinned host memory
# stays on its node (status 4), and moves to a new proxy there instead
"$B/tests/cuda/blas_gemm" --capture --iters 100 >"$D/gb.native" 2>/dev/null
on n1 "$XMIG" run --job gb -- "$B/tests/cuda/blas_gemm" --capture --iters 100 --sleep-ms 50 \
	>"$D/gb.out" 2>"$D/gb.err" &
app=$!
wait_running gb
sleep 0.5
for hop in n2:gpu0 n1:gpu0; do
	check "captured GEMM moved to $hop" on n1 "$XMIG" migrate --job gb --to $hop
done
wait $app
check "... the captured GEMM's job ended well and printed its native output" cmp "$D/gb.native" "$D/gb.out"
[ $fail -eq 0 ] || tail -5 "$D/gb.err"
"$B/tests/cuda/graphs" --rounds 40 >"$D/gr.native" 2>/dev/null
on n1 "$XMIG" run --job gr -- "$B/tests/cuda/graphs" --rounds 40 --sleep-ms 60 \
	>"$D/gr.out" 2>"$D/gr.err" &
app=$!
wait_running gr
sleep 0.5
on n1 "$XMIG" migrate --job gr --to n2:gpu0 >/dev/null 2>"$D/gr.mig"
check "a graph with pinned host copies is not moved to the other node (4)" test $? -eq 4
check "... but to a new proxy on its own node" on n1 "$XMIG" migrate --job gr --to n1:gpu0
wait $app
check "... and printed its native output" cmp "$D/gr.native" "$D/gr.out"

# consolidation: two jobs, one moved to n2; plan frees a node, apply packs them live
for j in k1 k2; do
	on n1 "$XMIG" run --job $j --share 0.4 -- "$B/tests/cuda/zdtm" "${args[@]}" >"$D/$j.out" 2>"$D/$j.err" &
	eval "pid_$j=$!"
	wait_running $j
done
check "k2 moved to n2 first" on n1 "$XMIG" migrate --job k2 --to n2:gpu0
on n1 "$XMIG" plan --json -o "$D/plan.json" 2>"$D/plan.err"
check "plan frees one node with one move" python3 -c "import json; p=json.load(open('$D/plan.json')); assert p['summary']['nodes_freed'] == 1 and len(p['moves']) == 1, p"
on n1 "$XMIG" apply "$D/plan.json" --json >"$D/apply.json" 2>"$D/apply.err"
check "apply moved it" python3 -c "import json; r=json.load(open('$D/apply.json')); assert r['summary']['moved'] == 1, r"
check "... both jobs now on one node" test "$(where k1 | cut -d: -f1)" = "$(where k2 | cut -d: -f1)"
wait $pid_k1 && wait $pid_k2
check "both workloads ended well" test $? -eq 0
check "... k1 printed exactly its native output" cmp "$D/native" "$D/k1.out"
check "... k2 printed exactly its native output" cmp "$D/native" "$D/k2.out"

# PyTorch: the GPT trains on the other node and comes back, bit-identical;
# then a run that trains there all along, for its step time
if python3 -c 'import torch' 2>/dev/null; then
	GPT=("$ROOT/tests/torch/train_gpt.py" --steps 300 --sleep-ms 10)
	python3 "${GPT[@]}" >"$D/gpt.native" 2>"$D/gpt.native.err"
	on n1 "$XMIG" run --job g1 -- python3 "${GPT[@]}" >"$D/gpt.out" 2>"$D/gpt.err" &
	app=$!
	for _ in $(seq 600); do grep -q '^step 25 ' "$D/gpt.out" 2>/dev/null && break; sleep 0.1; done
	check "GPT moved to n2 while training" on n1 "$XMIG" migrate --job g1 --to n2:gpu0
	check "... ps --all shows it there" test "$(where g1)" = "n2:0@n1"
	for _ in $(seq 600); do grep -q '^step 150 ' "$D/gpt.out" 2>/dev/null && break; sleep 0.1; done
	check "... and back home" on n1 "$XMIG" migrate --job g1 --to n1:gpu0
	wait $app
	check "GPT across nodes: exactly the native losses and checksum" cmp "$D/gpt.native" "$D/gpt.out"
	cmp -s "$D/gpt.native" "$D/gpt.out" || { tail -5 "$D/gpt.err"; diff "$D/gpt.native" "$D/gpt.out" | head -5; }

	STEP=("$ROOT/tests/torch/train_gpt.py" --steps 150 --batch "${XMIG_BENCH_BATCH:-64}" --seq 512)
	python3 "${STEP[@]}" >/dev/null 2>"$D/step.native"
	on n1 "$XMIG" run --job g2 -- python3 "${STEP[@]}" >"$D/step.out" 2>"$D/step.remote" &
	app=$!
	for _ in $(seq 600); do grep -q '^step 0 ' "$D/step.out" 2>/dev/null && break; sleep 0.05; done
	on n1 "$XMIG" migrate --job g2 --to n2:gpu0 >/dev/null 2>&1
	check "GPT step-time run moved to n2 at its first step" test "$(where g2)" = "n2:0@n1"
	wait $app
	n=$(awk '/median step/ { print $3 }' "$D/step.native")
	r=$(awk '/median step/ { print $3 }' "$D/step.remote")
	echo "# GPT step (batch ${XMIG_BENCH_BATCH:-64} x 512): native $n ms, context on the other node $r ms ($(awk -v n="$n" -v r="$r" 'BEGIN { printf "%.3f", r / n }')x)"
else
	echo "# PyTorch: skipped (no python3 torch here)"
fi

# the link's floor: TCP throughput from n1 to n2, 2 GiB
on n2 python3 -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("'"$addr2"'", 47000)); s.listen(1); c, _ = s.accept()
buf = bytearray(16 << 20); v = memoryview(buf); n = 0
while True:
    k = c.recv_into(v)
    if not k: break
    n += k
print(n)' >"$D/recv" &
sleep 0.5
gbs=$(on n1 python3 -c '
import socket, time
s = socket.create_connection(("'"$addr2"'", 47000)); buf = bytes(16 << 20)
t = time.time()
for _ in range(128): s.sendall(buf)
s.shutdown(socket.SHUT_WR); s.recv(1); dt = time.time() - t
print("%.3f" % ((128 << 24) / dt / 1e9))')
wait
echo "# link floor: TCP n1 -> n2 at $gbs GB/s"

echo "| GiB | move | xmig downtime (ms) | xmig total (ms) | floor: bytes over the link (ms) | downtime / floor |"
echo "|---:|---|---:|---:|---:|---:|"
for g in 1 8; do
	on n1 "$XMIG" run --job b$g -- "$B/tests/cuda/zdtm" --mib $((g * 1024)) --iters 1000000 \
		--sleep-ms 20 >/dev/null 2>"$D/b$g.err" &
	app=$!
	wait_running b$g
	sleep 1
	for hop in n2:gpu0 n1:gpu0 n2:gpu0 n1:gpu0; do
		on n1 "$XMIG" migrate --job b$g --to $hop --json 2>>"$D/b$g.mig" |
			python3 -c 'import json,sys; m=json.load(sys.stdin)["items"][0]; print(m["to"]["node"], m["downtime_ms"], m["total_ms"], m["moved_bytes"])' >>"$D/b$g.res"
	done
	kill $app
	wait $app 2>/dev/null
	# XMIG_MOVE_TRACE=1: each move's send and receive of the memory stream, in order
	# (the job's stderr has both proxies'); a receiver whose writer hardly waits for
	# chunks while its reader waits for buffers is bound by the link, as it should be
	[ -n "${XMIG_MOVE_TRACE:-}" ] && grep -h "xmig-proxy[^:]*: @[0-9.]* \(send\|receive\): stream" "$D/b$g.err" |
		sed "s/^/# b$g /"
	for dir in n2 n1; do
		label=$([ $dir = n2 ] && echo "to the other node" || echo "back home")
		awk -v d=$dir -v g=$g -v f="$gbs" -v l="$label" '$1 == d { dn += $2; tt += $3; b = $4; k++ }
			END { if (k) { floor = b / (f * 1e9) * 1000; printf "| %d | %s | %.1f | %.1f | %.1f | %.2f |\n", g, l, dn / k, tt / k, floor, dn / k / floor } }' "$D/b$g.res"
	done
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
