#!/bin/bash
# multigpu.sh BUILD - the runs that need two GPUs of one machine (and python3
# with a CUDA build of torch). Same GPUs, same run, native next to xmig:
#
#  1. peer-copy moves: tests/cuda/zdtm holding 8 and 32 GiB (XMIG_MULTIGPU_GIB)
#     moves gpu0 -> gpu1 and back; downtime and total time against the
#     floor, one peer copy of the same bytes (torch, cudaMemcpyPeer);
#  2. a 2-rank DDP GPT (tests/torch/train_gpt.py --ddp, nccl backend), rank r
#     on GPU r: rank 1 moved to a fresh proxy on its GPU, then rank 0; both
#     ranks' losses and checksums must be the native 2-rank run's. Next to
#     it the Flexible CCL benchmark (tests/bench/ccl-rebuild: a fresh
#     ncclCommInitRank against xmig's rebuild of the same communicator);
#  3. all-reduce bus bandwidth, 8 MiB to 1 GiB (tests/torch/allreduce_bw.py);
#  4. a one-rank GPT (train_gpt.py, 66 allocations) moved gpu0 -> gpu1 ->
#     gpu0 -> gpu1 while training: its losses and checksum must be the
#     native run's on GPU 0, and each new proxy must have seen the imported
#     memory as the other GPU's (copy engines, not the same-GPU kernel);
#  5. a 2-rank job whose rank 0 (then both ranks) replays its all-reduce
#     from a CUDA graph (tests/torch/ccl_graphed.py): rank 1 moves, rank 0
#     moves, both swap GPUs at one cut; each time every rank whose graph
#     ran on the old communicator captures it again on the re-linked one;
#     both print their native sums.
#  6. a cut while a rank waits in NCCL for a late peer (tests/cuda/nccl_ops
#     --late-rank 1 --late-ms 5000 --split, rank r on GPU r: rank 0 waits
#     in the split, which NCCL makes a collective call): the freeze
#     succeeds once the peer comes (every rank run on and stopped again
#     meanwhile), then a thaw and a swap at one cut, re-linking both
#     communicators; both ranks check every round.
#  7. NCCL inside CUDA graphs, from C (tests/cuda/nccl_ops, rank r on GPU
#     r): both ranks replay a PreMulSum all-reduce from a graph and use a
#     split communicator; rank 1 moves, rank 0 moves, both swap at one cut,
#     every round checked. Then rank 0 holds a capture with an all-reduce
#     open for 3 s: a move is refused (4) meanwhile, and made after.
#  8. a rank killed while its collective waits for a peer that never comes
#     (tests/cuda/nccl_ops --pause-file F --pause-rank 1, rank r on GPU r):
#     rank 1 stops after round 0, rank 0 waits in round 1's collective
#     (NCCL's kernel spins, its copy back waits); rank 0 is killed, then
#     rank 1 goes on into a collective whose peer is gone and is killed 3 s
#     later. Natively each process and its GPU context go at once; under
#     xmig each rank's proxy must follow its application within seconds,
#     and no GPU memory may be left held. Then a PyTorch job whose rank 1
#     kills itself (tests/torch/peer_dies.py): rank 0 waits in its
#     all-reduce until the NCCL watchdog ends it (10 s), with PyTorch's
#     default error handling (3: the process ends at once) and with 1 (it
#     aborts the communicator first, from its thread, while the kernel
#     waits); rank 0 must end as natively, with no proxy left. Native and
#     xmig side by side.
#
# XMIG_MULTIGPU_PARTS picks some of them (default "1 2 3 4 5 6 7 8").
# Ends with markdown tables and "N passed, N failed".
set -u
B=$(cd "${1:?usage: multigpu.sh BUILD}" && pwd)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
XMIG=$B/bin/xmig
export XMIG_RUNTIME_DIR=$(mktemp -d /tmp/xmig-mgpu.XXXXXX)
export XMIG_DEVICE=cuda MASTER_ADDR=127.0.0.1
D=$(mktemp -d)
trap 'rm -rf "$D" "$XMIG_RUNTIME_DIR"' EXIT
. "$ROOT/tests/gpu/helpers.sh"

[ "$(nvidia-smi -L | wc -l)" -ge 2 ] || { echo "multigpu.sh: needs 2 GPUs" >&2; exit 2; }
nvidia-smi topo -m | head -4 | sed 's/^/# /'

field() { python3 -c 'import json,sys; m=json.load(open(sys.argv[1]))["items"][0]; print(eval(sys.argv[2], {}, m))' "$@"; }

# ---- 1. peer-copy moves -----------------------------------------------------
peer_moves() {
	sizes=${XMIG_MULTIGPU_GIB:-8 32}
	python3 - $sizes >"$D/floor" <<-'PY'
	import sys, time, torch
	for g in map(int, sys.argv[1:]):
	    a = torch.empty(g << 30, dtype=torch.uint8, device="cuda:0")
	    b = torch.empty(g << 30, dtype=torch.uint8, device="cuda:1")
	    b.copy_(a); torch.cuda.synchronize(0); torch.cuda.synchronize(1)
	    best = 1e9
	    for _ in range(3):
	        t0 = time.perf_counter(); b.copy_(a); torch.cuda.synchronize(0); torch.cuda.synchronize(1)
	        best = min(best, time.perf_counter() - t0)
	    print(g, "%.3f" % (best * 1e3))
	    del a, b; torch.cuda.empty_cache()
	PY
	echo "| GiB | move | xmig downtime (ms) | xmig total (ms) | floor: one peer copy (ms) | downtime / floor |" >"$D/t1"
	echo "|---:|---|---:|---:|---:|---:|" >>"$D/t1"
	for g in $sizes; do
		"$XMIG" run --job peer$g --gpu 0 -- "$B/tests/cuda/zdtm" --mib $((g * 1024)) --iters 1000000 \
			--sleep-ms 20 >"$D/peer$g.out" 2>"$D/peer$g.err" &
		app=$!
		wait_state peer$g running && sleep 1
		floor=$(awk -v g=$g '$1 == g { print $2 }' "$D/floor")
		for to in 1 0; do
			if "$XMIG" migrate --job peer$g --to gpu$to --json >"$D/m.json" 2>"$D/m.err"; then
				ok "$g GiB moved to gpu$to (peer copy)"
				printf '| %s | gpu%s -> gpu%s | %.1f | %.1f | %s | %.2f |\n' "$g" $((1 - to)) $to \
					"$(field "$D/m.json" downtime_ms)" "$(field "$D/m.json" total_ms)" "$floor" \
					"$(awk -v d="$(field "$D/m.json" downtime_ms)" -v f="$floor" 'BEGIN { print d / f }')" >>"$D/t1"
			else
				notok "$g GiB moved to gpu$to (peer copy)"
				cat "$D/m.err"
			fi
		done
		sleep 1
		check "... the $g GiB job still runs: its per-iteration checks held (zdtm exits on a wrong value)" kill -0 $app
		kill $app; wait $app 2>/dev/null
		grep -q "FAIL\|mismatch" "$D/peer$g.out" && notok "zdtm $g GiB reported a mismatch"
	done
}

# native_ranks PREFIX PORT SECONDS SCRIPT ARGS...: 2 ranks natively, rank r
# on GPU r, to $D/PREFIX<r>.out and .err, exit status to .status; waits for both.
native_ranks() {
	local pre=$1 p=$2 t=$3 r
	shift 3
	for r in 0 1; do
		{ CUDA_VISIBLE_DEVICES=$r RANK=$r WORLD_SIZE=2 MASTER_PORT=$p timeout -k 10 "$t" python3 "$@" \
			>"$D/$pre$r.out" 2>"$D/$pre$r.err"; echo $? >"$D/$pre$r.status"; } &
	done
	wait
}
# exited_well PREFIX: both ranks of native_ranks or xmig_ranks PREFIX ended with status 0
# (a rank that printed its result and then hung at exit is caught here)
exited_well() {
	[ "$(cat "$D/${1}0.status" 2>/dev/null)" = 0 ] && [ "$(cat "$D/${1}1.status" 2>/dev/null)" = 0 ]
}
# xmig_ranks JOB PREFIX PORT SECONDS SCRIPT ARGS...: the same under xmig, in
# the background (exit status to .status); their pids in $pids.
xmig_ranks() {
	local job=$1 pre=$2 p=$3 t=$4 r
	shift 4
	pids=
	for r in 0 1; do
		{ RANK=$r WORLD_SIZE=2 MASTER_PORT=$p timeout -k 10 "$t" "$XMIG" run --job "$job" \
			--rank $r --gpu $r -- python3 "$@" >"$D/$pre$r.out" 2>"$D/$pre$r.err"
		  echo $? >"$D/$pre$r.status"; } &
		pids="$pids $!"
	done
}

# step_pauses WHAT NATIVE XMIG: from the ranks' step times (NATIVE<r>,
# XMIG<r>: one per line, s, then when the step ended, if given), each
# rank's median and slowest steps, native and under xmig: a move holds up
# the job's step in which the cut came, and each re-linked communicator's
# first collective pays NCCL's connect. Where the files say when, the two
# slowest xmig steps' ends too, as XMIG_MOVE_TRACE's @ms stamps count.
step_pauses() {
	python3 - "$@" <<-'PY'
	import sys
	what, nat, xm = sys.argv[1:4]
	for r in (0, 1):
	    line = []
	    for name, pre in (("native", nat), ("xmig", xm)):
	        try:
	            rows = [x.split() for x in open("%s%d" % (pre, r))][10:]
	        except OSError:
	            continue
	        s = sorted(float(x[0]) * 1e3 for x in rows)
	        line.append("%s median %.1f, slowest %s" % (name, s[len(s) // 2],
	                    " ".join("%.1f" % x for x in s[:-5:-1])))
	        if name == "xmig" and rows and len(rows[0]) > 1:
	            top = sorted(rows, key=lambda x: -float(x[0]))[:2]
	            line.append("they ended @%s" % " @".join(
	                "%.3f" % (float(x[1]) * 1e3 % 1e6) for x in top))
	    if line:
	        print("# step times (ms), %s, rank %d: %s" % (what, r, "; ".join(line)))
	PY
}

# ---- 2. a 2-rank DDP GPT, native and under xmig, ranks moved ----------------
ddp() {
	GPT=("$ROOT/tests/torch/train_gpt.py" --ddp --steps 200 --sleep-ms 10)
	native_ranks n $port 180 "${GPT[@]}" --times "$D/nt{rank}"
	check "2-rank DDP GPT runs natively" grep -q '^PASS' "$D/n1.out"
	grep -q '^PASS' "$D/n1.out" || tail -5 "$D/n1.err"
	xmig_ranks ddp2 x $((port + 1)) 240 "${GPT[@]}" --times "$D/xt{rank}"
	wait_steps "$D/x1.out" 2
	"$XMIG" migrate --job ddp2 --rank 1 --to gpu1 --json >"$D/d1.json" 2>"$D/d1.err"
	check "rank 1 moved to a fresh proxy on its GPU, mid-training (a cut, both ranks re-linked)" \
		grep -q '"mode"' "$D/d1.json"
	cat "$D/d1.err" | grep -v '^$' | sed 's/^/# /' | tail -3
	wait_steps "$D/x1.out" 5
	"$XMIG" migrate --job ddp2 --rank 0 --to gpu0 --json >"$D/d2.json" 2>"$D/d2.err"
	check "... then rank 0" grep -q '"mode"' "$D/d2.json"
	cat "$D/d2.err" | grep -v '^$' | sed 's/^/# /' | tail -3
	wait $pids
	for r in 0 1; do
		check "rank $r moved: exactly the native 2-rank losses and checksum" cmp "$D/n$r.out" "$D/x$r.out"
		cmp -s "$D/n$r.out" "$D/x$r.out" || { diff "$D/n$r.out" "$D/x$r.out" | head -4; tail -5 "$D/x$r.err"; }
	done
	for f in d1 d2; do
		[ -s "$D/$f.json" ] && python3 -c 'import json,sys
for i in json.load(open(sys.argv[1]))["items"]: print("# %s: rank %s %s, downtime %.1f ms, total %.1f ms" % (sys.argv[2], i["rank"], i["mode"], i["downtime_ms"], i["total_ms"]))' "$D/$f.json" "$f"
	done
	grep -h "communicator .*\(rebuilt\|re-linked\|relinked\)" "$D"/x?.err | sed 's/^/# /' | head -8
	step_pauses "DDP GPT, two moves" "$D/nt" "$D/xt"
	NCCL_LIB=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib", "libnccl.so.2"))')
	echo "# Flexible CCL benchmark: XMIG_NCCL=$NCCL_LIB ccl-rebuild --gpus 2 --reps 5"
	XMIG_NCCL=$NCCL_LIB timeout 120 "$B/tests/bench/ccl-rebuild" --gpus 2 --reps 5 2>&1 | sed 's/^/# /'
	# where a rebuild's time goes, by NCCL's own timers (its logging slows it a little)
	echo "# the same with NCCL's log: ccl-rebuild --gpus 2 --reps 3 --nccl-log DIR"
	XMIG_NCCL=$NCCL_LIB timeout 120 "$B/tests/bench/ccl-rebuild" --gpus 2 --reps 3 \
		--nccl-log "$D/nccl-log" 2>&1 | sed 's/^/# /'
	grep -h "env plugin\|ENV/Plugin" "$D"/nccl-log/*.log 2>/dev/null | sort | uniq -c | sed 's/^/# /' | head -4
}

# ---- 3. all-reduce bus bandwidth ---------------------------------------------
allreduce() {
	AR=("$ROOT/tests/torch/allreduce_bw.py" --min-mib 8 --max-mib 1024)
	native_ranks an $((port + 2)) 120 "${AR[@]}"
	xmig_ranks ar ax $((port + 3)) 180 "${AR[@]}"
	wait $pids
	check "all-reduce natively: every size, right sums" test "$(grep -c ' ok$' "$D/an0.out")" -eq 8
	check "all-reduce under xmig: every size, right sums" test "$(grep -c ' ok$' "$D/ax0.out")" -eq 8
	[ "$(grep -c ' ok$' "$D/ax0.out")" -eq 8 ] || tail -n 5 "$D/ax0.err" "$D/ax1.err"
}

# ---- 4. a GPT moved from GPU to GPU -------------------------------------------
gpt_peer() {
	local GPT=("$ROOT/tests/torch/train_gpt.py" --steps 300 --sleep-ms 10) app n to
	CUDA_VISIBLE_DEVICES=0 timeout 180 python3 "${GPT[@]}" --times "$D/gnt0" >"$D/g.native" \
		2>"$D/g.native.err"
	check "GPT runs natively on GPU 0" grep -q '^PASS' "$D/g.native"
	XMIG_MOVE_TRACE=1 timeout 240 "$XMIG" run --job gpeer --gpu 0 -- python3 "${GPT[@]}" \
		--times "$D/gxt0" >"$D/g.xmig" 2>"$D/g.xmig.err" &
	app=$!
	n=0
	for to in 1 0 1; do
		n=$((n + 1))
		wait_steps "$D/g.xmig" $((2 * n))
		XMIG_MOVE_TRACE=1 "$XMIG" migrate --job gpeer --to gpu$to --json >"$D/g$n.json" \
			2>"$D/g$n.err"
		check "GPT moved to gpu$to mid-training (move $n, peer copy)" \
			grep -q '"mode":"copy"' "$D/g$n.json"
		grep -q '"mode":"copy"' "$D/g$n.json" || cat "$D/g$n.err"
	done
	wait $app
	check "GPT moved between GPUs: exactly the native losses and checksum" \
		cmp "$D/g.native" "$D/g.xmig"
	cmp -s "$D/g.native" "$D/g.xmig" || { diff "$D/g.native" "$D/g.xmig" | head -4; tail -5 "$D/g.xmig.err"; }
	check "... each peer copy went by copy engines (the imported memory seen as the other GPU's)" \
		test "$(grep -c 'allocations queued in .*(copy engines)' "$D/g.xmig.err")" -eq 3
	for n in 1 2 3; do
		[ -s "$D/g$n.json" ] && python3 -c 'import json,sys
m = json.load(open(sys.argv[1]))["items"][0]
print("# GPT move %s: gpu%s -> gpu%s, %d MiB, downtime %.1f ms, total %.1f ms, the job paused %s ms" % (sys.argv[2], m["from"]["gpu"], m["to"]["gpu"], m["moved_bytes"] >> 20, m["downtime_ms"], m["total_ms"], "%.2f" % m["paused_ms"] if m.get("paused_ms") else "-"))' "$D/g$n.json" $n
	done
	grep -h "xmig-proxy[^:]*: @[0-9.]* receive: \(frozen\|copied\|resumed\)" "$D/g.xmig.err" | sed 's/^/# /'
	# what each standby made ahead of the job's first uses, and what the
	# new proxies' calls still took over 2 ms in their first 2 s
	grep -h "receive: prelude: [0-9]* of the job's\|worker [0-9]*: [A-Z_0-9]* took" \
		"$D/g.xmig.err" | sed 's/^xmig-proxy/# xmig-proxy/' | head -40
	step_pauses "one-rank GPT, three moves" "$D/gnt" "$D/gxt"
}

# ---- 5. an NCCL all-reduce inside a CUDA graph: the job's ranks move ------
# mv_line LABEL JSON: a move's line for the log
mv_line() {
	python3 -c 'import json,sys
for m in json.load(open(sys.argv[1]))["items"]:
    print("# %s: rank %d gpu%s -> gpu%s, downtime %.1f ms, the job paused %s ms" % (sys.argv[2], m["rank"], m["from"]["gpu"], m["to"]["gpu"], m["downtime_ms"], "%.2f" % m["paused_ms"] if m.get("paused_ms") else "-"))' "$2" "$1"
}
ccl_graphed() {
	local ranks p=$((port + 4)) job
	for ranks in ${XMIG_CCL_GRAPHED_RANKS:-0 0,1}; do
		CG=("$ROOT/tests/torch/ccl_graphed.py" --steps 300 --sleep-ms 20 --graph-ranks $ranks)
		job=cg${ranks/,/}
		p=$((p + 2))
		native_ranks cn $p 120 "${CG[@]}" --times "$D/cnt{rank}"
		check "ccl_graphed ($ranks graphed): the graphed all-reduces run natively" \
			grep -q '^PASS' "$D/cn0.out"
		check "ccl_graphed ($ranks graphed): both native ranks exited (status 0)" exited_well cn
		grep -q '^PASS' "$D/cn0.out" || tail -5 "$D/cn0.err"
		xmig_ranks $job cx $((p + 1)) 180 "${CG[@]}" --times "$D/cxt{rank}"
		wait_steps "$D/cx1.out" 2
		check "ccl_graphed ($ranks graphed): ps says every rank can move" python3 -c 'import json,sys
i = json.load(sys.stdin)["items"]
sys.exit(0 if len(i) == 2 and all(x["cuda_graphs"] >= 1 or str(x["rank"]) not in sys.argv[1] for x in i) and not any(x["cuda_graphs_unmovable"] for x in i) else 1)' "$ranks" <<<"$("$XMIG" ps --json --job $job)"
		"$XMIG" migrate --job $job --rank 1 --to gpu1 --json >"$D/c1.json" 2>"$D/c1.err"
		check "ccl_graphed ($ranks graphed): rank 1 moved (rank 0 stays: its graph captured again on the re-linked communicator)" \
			grep -q '"mode"' "$D/c1.json"
		grep -q '"mode"' "$D/c1.json" || sed 's/^/# /' "$D/c1.err" | tail -5
		wait_steps "$D/cx1.out" 5
		"$XMIG" migrate --job $job --rank 0 --to gpu0 --json >"$D/c2.json" 2>"$D/c2.err"
		check "ccl_graphed ($ranks graphed): rank 0 moved holding its graph (its new proxy captures it after the re-link)" \
			grep -q '"mode"' "$D/c2.json"
		grep -q '"mode"' "$D/c2.json" || sed 's/^/# /' "$D/c2.err" | tail -5
		wait_steps "$D/cx1.out" 9
		"$XMIG" migrate --job $job --to gpu1,gpu0 --json >"$D/c3.json" 2>"$D/c3.err"
		check "ccl_graphed ($ranks graphed): both ranks swapped GPUs at one cut" \
			grep -q '"mode"' "$D/c3.json"
		grep -q '"mode"' "$D/c3.json" || sed 's/^/# /' "$D/c3.err" | tail -5
		wait $pids
		check "ccl_graphed ($ranks graphed): both ranks exited under xmig (status 0)" exited_well cx
		for r in 0 1; do
			check "ccl_graphed ($ranks graphed): rank $r printed its native sums" \
				cmp "$D/cn$r.out" "$D/cx$r.out"
			cmp -s "$D/cn$r.out" "$D/cx$r.out" || tail -5 "$D/cx$r.err"
		done
		for n in 1 2 3; do
			[ -s "$D/c$n.json" ] && mv_line "ccl_graphed ($ranks) move $n" "$D/c$n.json"
		done
		step_pauses "ccl_graphed ($ranks graphed), three moves" "$D/cnt" "$D/cxt"
	done
}

# ---- 2-rank nccl_ops jobs (parts 6 and 7) --------------------------------------
# nccl_duo JOB ITERS ARGS...: nccl_ops on 2 ranks, rank r on GPU r, in the
# background (pids $nd0 $nd1, output $D/JOB<r>.out); returns once both made
# their communicator.
nccl_duo() {
	local job=$1 iters=$2 r
	shift 2
	rm -f "$D/$job.id"   # (a part run twice: rank 1 must not read the last run's id)
	for r in 0 1; do
		"$XMIG" run --job "$job" --rank $r --gpu $r -- "$B/tests/cuda/nccl_ops" --iters "$iters" \
			--sleep-ms 20 --nranks 2 --rank $r --id-file "$D/$job.id" "$@" \
			>"$D/$job$r.out" 2>"$D/$job$r.err" &
		eval "nd$r=\$!"
	done
	for _ in $(seq 600); do
		grep -q '^communicator' "$D/${job}0.out" 2>/dev/null &&
			grep -q '^communicator' "$D/${job}1.out" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}
# nccl_duo_done JOB ITERS: both ranks ended, each with its rounds checked
nccl_duo_done() {
	local r
	timeout -k 5 120 tail --pid="$nd0" -f /dev/null
	timeout -k 5 120 tail --pid="$nd1" -f /dev/null
	for r in 0 1; do
		check "$1: rank $r checked its $2 rounds" grep -q '^PASS nccl_ops' "$D/$1$r.out"
		grep -q '^PASS nccl_ops' "$D/$1$r.out" || tail -3 "$D/$1$r.out" "$D/$1$r.err"
	done
}
# nccl_move NAME JOB ARGS...: xmig migrate --job JOB ARGS, checked, its downtimes printed
nccl_move() {
	local name=$1 job=$2
	shift 2
	"$XMIG" migrate --job "$job" "$@" >"$D/$job.mv" 2>&1
	check "$name" test $? -eq 0
	sed -n 's/^\(job .* moved .*downtime [0-9.]* ms\).*/# \1/p' "$D/$job.mv"
	grep -q ' moved ' "$D/$job.mv" || sed 's/^/# /' "$D/$job.mv" | tail -5
}

# ---- 6. a cut while a rank waits for a late peer in its first collective ----
late_peer() {
	local t0 ms
	nccl_duo late 300 --late-rank 1 --late-ms 5000 --split
	sleep 0.5
	t0=$(date +%s%N)
	"$XMIG" freeze --job late --json >"$D/lf.json" 2>"$D/lf.err"
	check "late peer: the job froze at one cut while rank 0 waited for rank 1 in NCCL" \
		in_state late frozen
	ms=$((($(date +%s%N) - t0) / 1000000))
	if grep -q 'waits for its peers' "$D/lf.err"; then
		echo "# late peer: NCCL held rank 0 in a call; the cut let the ranks run on and stopped them again (freeze took $ms ms)"
	else
		echo "# late peer: no rank was held in a call (NCCL did not wait for the peer in the call); freeze took $ms ms"
	fi
	sed 's/^/# /' "$D/lf.err" | tail -3
	"$XMIG" thaw --job late >/dev/null 2>&1
	"$XMIG" migrate --job late --to gpu1,gpu0 --json >"$D/l2.json" 2>"$D/l2.err"
	check "late peer: both ranks swapped GPUs at one cut" grep -q '"mode"' "$D/l2.json"
	check "late peer: both communicators (the job's and its split) re-linked" \
		test "$(grep -c 're-linked on its 2 ranks' "$D/l2.err")" = 2
	grep -q '"mode"' "$D/l2.json" || sed 's/^/# /' "$D/l2.err" | tail -5
	nccl_duo_done late 300
}

# ---- 7. NCCL inside CUDA graphs, from C ----------------------------------------
nccl_graphs() {
	local st
	nccl_duo ngr 300 --graph-all --graph-premul --split
	sleep 0.5
	# (the new proxies trace their calls of over 2 ms in their first 2 s)
	export XMIG_MOVE_TRACE=1
	nccl_move "nccl graphs: rank 1 moved; both ranks' PreMulSum graphs captured again on the re-linked communicators" \
		ngr --rank 1 --to gpu1
	sleep 0.5
	nccl_move "nccl graphs: then rank 0" ngr --rank 0 --to gpu0
	sleep 0.5
	nccl_move "nccl graphs: both swapped GPUs at one cut" ngr --to gpu1,gpu0
	check "nccl graphs: ... both communicators built and connected ahead, put in place at the cut" \
		test "$(grep -c 're-linked on its 2 ranks in .* (built and connected ahead' "$D/ngr.mv")" = 2
	grep 'ahead' "$D/ngr.mv" | sed 's/^/# /'
	unset XMIG_MOVE_TRACE
	check "nccl graphs: ... each rank's send and receive channels connected ahead too" \
		test "$(cat "$D/ngr0.err" "$D/ngr1.err" | grep -c 'built ahead in .* (peers: 1 sent to, 1 received from)')" -ge 2
	grep -h 'built ahead in\|worker [0-9]*: [A-Z_0-9]* took' "$D/ngr0.err" "$D/ngr1.err" |
		sed 's/^/# /' | head -30
	nccl_duo_done ngr 300

	nccl_duo ocap 200 --open-capture-ms 3000
	for _ in $(seq 100); do grep -q '^capture open' "$D/ocap0.out" && break; sleep 0.05; done
	"$XMIG" migrate --job ocap --rank 1 --to gpu1 >"$D/ocap.mv" 2>&1
	st=$?
	check "open capture: a move is refused (4) while rank 0 captures an all-reduce ($st)" test $st -eq 4
	check "... saying why" grep -q 'capturing a CUDA graph with NCCL calls on a communicator with peers' \
		"$D/ocap.mv"
	sleep 3   # (the capture dropped 3 s after it opened)
	nccl_move "open capture: once it closed, rank 1 moved" ocap --rank 1 --to gpu1
	nccl_duo_done ocap 200
}

# ---- 8. a rank killed while its collective waits for a peer that never comes ----
# gone_ms PID T0: wait (20 s at most) until process PID is gone (or a zombie); ms since T0 (ns)
gone_ms() {
	for _ in $(seq 400); do
		{ ! kill -0 "$1" 2>/dev/null || grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; } && break
		sleep 0.05
	done
	echo $((($(date +%s%N) - $2) / 1000000))
}
gpu_mib() { nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits | paste -sd' '; }
# dead_peer_run native|xmig: prints "RANK0_MS RANK1_MS RANK1_WAITED": from
# each rank's kill until the process holding its GPU context (the
# application natively, its proxy under xmig) is gone; whether rank 1 still
# waited in its collective 3 s after it went on.
dead_peer_run() {
	local mode=$1 job=dp$1 r t0 k0 k1 h0 h1 waited=no
	rm -f "$D/$job.id"
	touch "$D/$job.pause"
	for r in 0 1; do
		set -- "$B/tests/cuda/nccl_ops" --iters 300 --sleep-ms 20 --nranks 2 --rank $r \
			--id-file "$D/$job.id" --pause-file "$D/$job.pause" --pause-rank 1
		if [ "$mode" = native ]; then
			CUDA_VISIBLE_DEVICES=$r "$@" >"$D/$job$r.out" 2>"$D/$job$r.err" &
		else
			"$XMIG" run --job $job --rank $r --gpu $r -- "$@" >"$D/$job$r.out" 2>"$D/$job$r.err" &
		fi
		eval "dp$r=\$!"
	done
	for _ in $(seq 600); do grep -q '^paused after round 0' "$D/${job}1.out" 2>/dev/null && break; sleep 0.1; done
	sleep 1   # (rank 0 is in round 1's collective)
	h0=$dp0 h1=$dp1
	[ "$mode" = xmig ] && read -r h0 h1 < <("$XMIG" ps --json --job $job |
		python3 -c 'import json,sys; print(*(i["proxy_pid"] for i in sorted(json.load(sys.stdin)["items"], key=lambda i: i["rank"])))')
	t0=$(date +%s%N)
	kill -9 $dp0
	k0=$(gone_ms "$h0" "$t0")
	rm -f "$D/$job.pause"
	sleep 3
	kill -0 $dp1 2>/dev/null && waited=yes
	t0=$(date +%s%N)
	kill -9 $dp1 2>/dev/null
	k1=$(gone_ms "$h1" "$t0")
	wait $dp0 $dp1 2>/dev/null
	echo "$k0 $k1 $waited"
}
dead_peer() {
	local before after nat x
	before=$(gpu_mib)
	nat=$(dead_peer_run native)
	x=$(dead_peer_run xmig)
	sleep 1
	after=$(gpu_mib)
	set -- $nat $x
	echo "# dead peer: from each kill until the rank's GPU context was gone (ms): native rank 0 $1, rank 1 $2; xmig rank 0 $4, rank 1 $5"
	echo "# dead peer: rank 1 still waited in its collective 3 s after it went on: native $3, xmig $6"
	check "dead peer: rank 0's proxy followed its application, killed mid-collective, within 10 s ($4 ms)" test "$4" -le 10000
	check "dead peer: rank 1's proxy followed its application within 10 s ($5 ms)" test "$5" -le 10000
	check "dead peer: rank 0's proxy said a call still waited on the GPU, and did not wait for it" \
		grep -q 'a call still waits on the GPU' "$D/dpxmig0.err"
	grep -h 'xmig-proxy.*\(warning\|error\)' "$D"/dpxmig?.err | sed 's/^/# /' | head -6
	check "dead peer: no proxy of the job left" test -z "$(pgrep -f "xmig-proxy --job dpxmig ")"
	echo "# dead peer: GPU memory used (MiB per GPU) before $before, after $after"
	check "dead peer: no GPU memory left held (within 256 MiB per GPU)" python3 -c '
import sys
b, a = (list(map(int, s.split())) for s in sys.argv[1:3])
sys.exit(0 if all(y - x <= 256 for x, y in zip(b, a)) else 1)' "$before" "$after"
	for h in 3 1; do
		torch_peer_dies native $h
		torch_peer_dies xmig $h
	done
}
# torch_peer_dies native|xmig H: tests/torch/peer_dies.py with
# TORCH_NCCL_ASYNC_ERROR_HANDLING=H, rank 1 dying at step 30; rank 0's
# exit status and seconds from rank 1's death to rank 0's end, in $D/pd<mode><H>.res
torch_peer_dies() {
	local mode=$1 h=$2 pre=pd$1$2 r p=$((port + 20 + $2 * 2))
	[ "$1" = xmig ] && p=$((p + 1))
	# (no debug dump on the timeout: PyTorch would wait 60 s for it)
	local -x TORCH_NCCL_DUMP_ON_TIMEOUT=0 TORCH_NCCL_WAIT_TIMEOUT_DUMP_MILSEC=0
	for r in 0 1; do
		{ if [ "$mode" = native ]; then
			CUDA_VISIBLE_DEVICES=$r RANK=$r WORLD_SIZE=2 MASTER_PORT=$p TORCH_NCCL_ASYNC_ERROR_HANDLING=$h \
				timeout -k 5 120 python3 "$ROOT/tests/torch/peer_dies.py" --timeout-s 10
		  else
			RANK=$r WORLD_SIZE=2 MASTER_PORT=$p TORCH_NCCL_ASYNC_ERROR_HANDLING=$h timeout -k 5 120 \
				"$XMIG" run --job $pre --rank $r --gpu $r -- python3 "$ROOT/tests/torch/peer_dies.py" --timeout-s 10
		  fi >"$D/$pre$r.out" 2>"$D/$pre$r.err"
		  echo "$? $(date +%s%N)" >"$D/$pre$r.status"; } &
	done
	wait
	read -r st0 t0 <"$D/${pre}0.status"
	read -r st1 t1 <"$D/${pre}1.status"
	echo "$st0 $(((t0 - t1) / 1000000))" >"$D/$pre.res"
	echo "# torch peer dies, $mode, TORCH_NCCL_ASYNC_ERROR_HANDLING=$h: rank 1 status $st1; rank 0 status $st0, $(((t0 - t1) / 1000000)) ms after it"
	grep -h 'Watchdog\|timed out\|xmig-proxy.*\(warning\|error\)' "$D/${pre}0.err" | cut -c1-200 | head -3 | sed 's/^/#   /'
	[ "$mode" = xmig ] || return 0
	read -r nst nms <"$D/pdnative$h.res"
	check "torch peer dies (error handling $h): rank 1 killed itself at step 30, natively and under xmig" \
		grep -q 'dying at step 30' "$D/pdnative${h}1.out" "$D/${pre}1.out"
	check "torch peer dies (error handling $h): rank 0 waited for it, then was ended by the watchdog as natively (status $st0, native $nst)" \
		test "$st0" = "$nst" -a "$st0" != 0
	check "torch peer dies (error handling $h): ... within 10 s of the native time ($(((t0 - t1) / 1000000)) ms, native $nms ms)" \
		test $(((t0 - t1) / 1000000)) -le $((nms + 10000))
	for _ in $(seq 100); do pgrep -f "xmig-proxy --job $pre " >/dev/null || break; sleep 0.1; done
	check "torch peer dies (error handling $h): no proxy of the job left" test -z "$(pgrep -f "xmig-proxy --job $pre ")"
}

port=$((29600 + RANDOM % 3000))
for part in ${XMIG_MULTIGPU_PARTS:-1 2 3 4 5 6 7 8}; do
	case $part in
	1) peer_moves ;;
	2) ddp ;;
	3) allreduce ;;
	4) gpt_peer ;;
	5) ccl_graphed ;;
	6) late_peer ;;
	7) nccl_graphs ;;
	8) dead_peer ;;
	*) echo "multigpu.sh: no part $part (1 2 3 4 5 6 7 8)" >&2; exit 2 ;;
	esac
done
echo
[ -s "$D/t1" ] && cat "$D/t1" && echo
[ -s "$D/ax0.out" ] && echo "| message | native busbw (GB/s) | xmig busbw (GB/s) | xmig / native |" &&
echo "|---:|---:|---:|---:|" &&
paste -d' ' <(awk '{ print $2, $4 }' "$D/an0.out") <(awk '{ print $4 }' "$D/ax0.out") |
	awk 'NF == 3 { printf "| %d MiB | %s | %s | %.3f |\n", $1 / 1048576, $2, $3, $3 / $2 }'
# MULTIGPU_KEEP=DIR: the runs' own output, for a look afterwards
[ -n "${MULTIGPU_KEEP:-}" ] && cp "$D"/*.out "$D"/*.err "$D"/*.json "$D"/*.mv "$MULTIGPU_KEEP"/ 2>/dev/null
echo
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
