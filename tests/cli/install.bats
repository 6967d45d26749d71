#!/usr/bin/env bats
# install.bats - `make install` puts every piece where the installed
# programs look for it (the proxy, NCCL's env plugin, the client library and
# the facades, man pages, completions, schemas), and the installed xmig runs
# and moves a job on the sim device with nothing from the build directory.

load ../helpers

setup() { xmig_setup; }
teardown() { xmig_teardown; }

@test "install: make install DESTDIR=... lays out every piece, and the installed xmig moves a job" {
	need_program vector_add
	d="$BATS_TEST_TMPDIR/root"
	run make -s -C "$ROOT" B="$B" DESTDIR="$d" PREFIX=/usr install
	assert_success
	for f in bin/xmig libexec/xmig/xmig-proxy libexec/xmig/libnccl-env-xmig.so \
		lib/xmig/libxmig-client.so lib/xmig/facade/libcudart.so.13 \
		lib/xmig/facade/libcuda.so.1 lib/xmig/facade/libnccl.so.2 \
		share/man/man1/xmig.1 share/man/man8/xmig-proxy.8 \
		share/bash-completion/completions/xmig share/zsh/site-functions/_xmig \
		share/xmig/schema/ps.schema.json; do
		[ -s "$d/usr/$f" ] || { echo "missing: /usr/$f" >&2; false; }
	done
	# every man page and schema of the source tree, installed
	for m in "$ROOT"/share/man/*.scd; do
		n=$(basename "$m" .scd)
		[ -s "$d/usr/share/man/man${n##*.}/$n" ] || { echo "missing man page $n" >&2; false; }
	done
	for j in "$ROOT"/share/schema/*.json; do
		[ -s "$d/usr/share/xmig/schema/$(basename "$j")" ] || { echo "missing $j" >&2; false; }
	done
	# the installed programs alone: a job run and moved, its output exact
	X="$d/usr/bin/xmig"
	"$X" run --job inst -- "$CUDA_BIN/zdtm" --mib 4 --iters 150 --sleep-ms 20 \
		>"$BATS_TEST_TMPDIR/z.out" 2>"$BATS_TEST_TMPDIR/z.err" &
	app=$!
	for _ in $(seq 100); do "$X" ps --job inst 2>/dev/null | grep -q running && break; sleep 0.1; done
	run "$X" migrate --job inst --to gpu1
	assert_success
	# the proxy serving it now is the installed one
	pid=$("$X" ps --json --job inst | jq -r '.items[0].proxy_pid')
	[ "$(readlink "/proc/$pid/exe")" = "$d/usr/libexec/xmig/xmig-proxy" ]
	run timeout 60 tail --pid="$app" -f /dev/null
	assert_success
	grep -q '^PASS zdtm' "$BATS_TEST_TMPDIR/z.out" || { cat "$BATS_TEST_TMPDIR/z.err" >&2; false; }
}
