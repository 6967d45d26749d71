#!/bin/sh
# check-sim-coverage.sh - fail when a tests/cuda program has a kernel that the
# sim device cannot run, i.e. with no entry in proxy/server/sim-kernels.c.
#
#   tests/cuda/check-sim-coverage.sh [PROGRAM...]
#
# With no PROGRAM it checks one binary per tests/cuda/*.cu (with its
# tests/cuda/parts/NAME_*.cu, if any): $B/tests/cuda/NAME
# when that is newer than its sources, else one compiled here with nvcc
# ($CUDA_HOME/bin/nvcc, flags as the Makefile's). SIM_KERNELS_C names the
# table source (default proxy/server/sim-kernels.c).
# Exit status: 0 all covered; 1 a kernel is missing or unreadable; 77 some
# program could not be checked (no binary and no nvcc) and none failed.
#
# A program's kernels are read from the binary without CUDA tools: the
# mangled names its host code registers (__cudaRegisterFunction's strings in
# .rodata) that are also symbols of its host-side launch stubs.
set -u
root=$(cd "$(dirname "$0")/../.." && pwd)
cudadir=$root/tests/cuda
table=${SIM_KERNELS_C:-$root/proxy/server/sim-kernels.c}
nvcc=${CUDA_HOME:-/usr/local/cuda}/bin/nvcc
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The mangled kernel names of one program, sorted.
kernels_of() {
	objcopy -O binary --only-section=.rodata "$1" "$tmp/rodata" 2>/dev/null || return 1
	strings -n 3 "$tmp/rodata" | grep -oE '_Z[0-9]+[A-Za-z0-9_]+' | sort -u >"$tmp/strings"
	nm --defined-only "$1" 2>/dev/null | awk '$2 ~ /^[TtWw]$/ { print $3 }' | sort -u >"$tmp/syms"
	comm -12 "$tmp/strings" "$tmp/syms"
}

# Is the binary $1 older than source $2 or the headers it includes?
stale() {
	for s in "$2" "$cudadir"/xtest.h "$cudadir"/formulas.h "$cudadir/parts/$(basename "$2" .cu)"_*.cu; do
		[ "$s" -nt "$1" ] && return 0
	done
	return 1
}

grep -oE '"_Z[^"]*"' "$table" | tr -d '"' | sort -u >"$tmp/table"
if [ ! -s "$tmp/table" ]; then
	echo "no kernel names found in $table"
	exit 1
fi

# The programs to check: the arguments, or one per .cu (built or compiled here).
all=0
if [ $# -eq 0 ]; then
	all=1
	for cu in "$cudadir"/*.cu; do
		name=$(basename "$cu" .cu)
		bin=${B:-/nonexistent}/tests/cuda/$name
		if [ -x "$bin" ] && ! stale "$bin" "$cu"; then
			set -- "$@" "$bin"
		elif [ -x "$nvcc" ]; then
			# (every library any of them links, as the Makefile's rules do one each)
			"$nvcc" -cudart shared -gencode arch=compute_90,code=sm_90 -O2 \
				-I"${B:-/nonexistent}/gen" -o "$tmp/$name" "$cu" \
				$(ls "$cudadir/parts/$name"_*.cu 2>/dev/null) -lcublasLt -lcublas \
				-lcudnn -lnccl -L"$(dirname "$nvcc")/../lib64/stubs" -lcuda \
				>"$tmp/$name.log" 2>&1 &
			set -- "$@" "$tmp/$name"
		else
			echo "skip $name: no up-to-date binary and no nvcc"
			touch "$tmp/skipped"
		fi
	done
	wait
fi

status=0
: >"$tmp/used"
for prog in "$@"; do
	name=$(basename "$prog")
	if [ ! -x "$prog" ]; then
		echo "FAIL $name: not built: $(head -5 "$tmp/$name.log" 2>/dev/null)"
		status=1
		continue
	fi
	kernels_of "$prog" >"$tmp/k"
	if [ ! -s "$tmp/k" ]; then
		echo "FAIL $name: no kernel names found (stripped binary?)"
		status=1
		continue
	fi
	missing=$(comm -23 "$tmp/k" "$tmp/table" | tr '\n' ' ')
	if [ -n "$missing" ]; then
		echo "FAIL $name: no sim kernel for: $missing"
		status=1
	else
		echo "ok $name: $(wc -l <"$tmp/k") kernels"
	fi
	cat "$tmp/k" >>"$tmp/used"
done

# Entries no program uses are only noted: other programs may launch them.
[ $all = 1 ] && [ ! -e "$tmp/skipped" ] && sort -u "$tmp/used" | comm -13 - "$tmp/table" | sed 's/^/note: no program uses /'
[ $status -eq 0 ] && [ -e "$tmp/skipped" ] && status=77
exit $status
