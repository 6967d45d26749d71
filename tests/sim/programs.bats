#!/usr/bin/env bats
# programs.bats - the CUDA test programs, built with nvcc, run unchanged
# under `xmig run` on the sim device and print exactly what they print
# natively on a GPU (tests/cuda/expected/*.out, recorded on an H100).

load ../helpers

setup() { xmig_setup; }
teardown() { xmig_teardown; }

run_program() {
	local name=$1
	shift
	need_program "$name"
	run --separate-stderr "$XMIG" run -- "$CUDA_BIN/$name" "$@"
	if [ "$status" -ne 0 ]; then
		echo "$stderr" >&2
	fi
	assert_success
	diff -u "$ROOT/tests/cuda/expected/$name.out" <(printf '%s\n' "$output")
}

@test "sim: vector_add matches the native output" { run_program vector_add; }
@test "sim: streams_events matches the native output" { run_program streams_events; }
@test "sim: threads matches the native output" { run_program threads; }
@test "sim: struct_args matches the native output" { run_program struct_args; }
@test "sim: device_globals matches the native output" { run_program device_globals; }
@test "sim: pageable_big matches the native output" { run_program pageable_big; }
@test "sim: malloc_reuse matches the native output" { run_program malloc_reuse; }
# A small C program of the test's, $BATS_TEST_TMPDIR/NAME.c, built against
# xmig's runtime facade (it runs under xmig run as any program would).
build_c() {   # build_c NAME
	command -v gcc >/dev/null || skip "no gcc"
	gcc -I"${CUDA_HOME:-/usr/local/cuda}/include" -o "$BATS_TEST_TMPDIR/$1" \
		"$BATS_TEST_TMPDIR/$1.c" "$B/lib/xmig/facade/libcudart.so.13" || skip "cannot build"
}

@test "sim: malloc_async (stream-ordered allocation) matches the native output" { run_program malloc_async; }
@test "sim: host_register (the program's own memory pinned with cudaHostRegister) matches the native output" {
	run_program host_register
}
@test "sim: cudaFreeAsync of cudaMalloc's memory leaves the pool's count of memory in use as it was" {
	cat >"$BATS_TEST_TMPDIR/poolcount.c" <<-'EOF'
	#include <stdio.h>
	#include <cuda_runtime_api.h>
	int main(void)
	{
		cudaMemPool_t pool;
		void *a, *b;
		unsigned long long used = 1;

		if (cudaDeviceGetDefaultMemPool(&pool, 0) || cudaMallocAsync(&a, 1 << 20, 0) ||
		    cudaMalloc(&b, 1 << 20) || cudaFreeAsync(b, 0) || cudaStreamSynchronize(0) ||
		    cudaMemPoolGetAttribute(pool, cudaMemPoolAttrUsedMemCurrent, &used))
			return 2;
		printf("used %llu\n", used);
		return 0;
	}
	EOF
	build_c poolcount
	run "$XMIG" run -- "$BATS_TEST_TMPDIR/poolcount"
	assert_success
	assert_output "used 1048576"
}

@test "sim: the pool's release threshold counts the memory in use: a freed block past it is released at the next synchronise" {
	cat >"$BATS_TEST_TMPDIR/thresh.c" <<-'EOF'
	#include <stdint.h>
	#include <stdio.h>
	#include <cuda_runtime_api.h>
	#define MIB (1ull << 20)
	int main(void)
	{
		cudaMemPool_t pool;
		uint64_t threshold = 8 * MIB;
		size_t free0, free1, total;
		void *a, *b;

		if (cudaDeviceGetDefaultMemPool(&pool, 0) ||
		    cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &threshold) ||
		    cudaMallocAsync(&a, 8 * MIB, 0) || cudaStreamSynchronize(0) ||
		    cudaMemGetInfo(&free0, &total) || cudaMallocAsync(&b, 4 * MIB, 0) ||
		    cudaFreeAsync(b, 0) || cudaStreamSynchronize(0) || cudaMemGetInfo(&free1, &total))
			return 2;
		/* 8 MiB in use and 4 freed: 12 reserved, past 8; the 4 go back */
		printf("freed block %s\n", free1 == free0 ? "released" : "kept");
		return 0;
	}
	EOF
	build_c thresh
	run "$XMIG" run -- "$BATS_TEST_TMPDIR/thresh"
	assert_success
	assert_output "freed block released"
}

@test "sim: user object reference counts past INT_MAX are refused, and one that would wrap too; the destructor runs once, at the last release" {
	cat >"$BATS_TEST_TMPDIR/uo.c" <<-'EOF'
	#include <limits.h>
	#include <stdio.h>
	#include <cuda_runtime_api.h>
	static int runs;
	static void gone(void *p) { (void)p; runs++; }
	int main(void)
	{
		cudaUserObject_t o;

		printf("create INT_MAX+1: %s\n", cudaGetErrorName(cudaUserObjectCreate(&o, NULL, gone,
		       (unsigned)INT_MAX + 1, cudaUserObjectNoDestructorSync)));
		if (cudaUserObjectCreate(&o, NULL, gone, 1, cudaUserObjectNoDestructorSync))
			return 2;
		printf("retain INT_MAX+1: %s\n", cudaGetErrorName(cudaUserObjectRetain(o, (unsigned)INT_MAX + 1)));
		printf("retain INT_MAX: %s\n", cudaGetErrorName(cudaUserObjectRetain(o, INT_MAX)));
		printf("again: %s\n", cudaGetErrorName(cudaUserObjectRetain(o, INT_MAX)));
		printf("once more, past UINT_MAX: %s\n", cudaGetErrorName(cudaUserObjectRetain(o, 2)));
		cudaUserObjectRelease(o, INT_MAX);
		cudaUserObjectRelease(o, INT_MAX);
		printf("destructor runs before the last release: %d\n", runs);
		cudaUserObjectRelease(o, 1);
		printf("after: %d\n", runs);
		return 0;
	}
	EOF
	build_c uo
	run "$XMIG" run -- "$BATS_TEST_TMPDIR/uo"
	assert_success
	assert_output "create INT_MAX+1: cudaErrorInvalidValue
retain INT_MAX+1: cudaErrorInvalidValue
retain INT_MAX: cudaSuccess
again: cudaSuccess
once more, past UINT_MAX: cudaErrorInvalidValue
destructor runs before the last release: 0
after: 1"
}

@test "sim: an allocation larger than any GPU (up to SIZE_MAX) is cudaErrorMemoryAllocation, not wrapped around; the next one is served" {
	cat >"$BATS_TEST_TMPDIR/huge.c" <<-'EOF'
	#include <stdint.h>
	#include <stdio.h>
	#include <cuda_runtime_api.h>
	int main(void)
	{
		size_t sizes[] = { SIZE_MAX, SIZE_MAX - 100, (size_t)1 << 62 };
		void *p;

		for (int i = 0; i < 3; i++)
			printf("%s %s\n", cudaGetErrorName(cudaMalloc(&p, sizes[i])),
			       cudaGetErrorName(cudaMallocAsync(&p, sizes[i], 0)));
		printf("then %s\n", cudaGetErrorName(cudaMalloc(&p, 1 << 20)));
		return 0;
	}
	EOF
	build_c huge
	run "$XMIG" run -- "$BATS_TEST_TMPDIR/huge"
	assert_success
	assert_output "cudaErrorMemoryAllocation cudaErrorMemoryAllocation
cudaErrorMemoryAllocation cudaErrorMemoryAllocation
cudaErrorMemoryAllocation cudaErrorMemoryAllocation
then cudaSuccess"
}
@test "sim: driver_entry matches the native output" { run_program driver_entry; }
@test "sim: blas_gemm matches the native output" { run_program blas_gemm; }
@test "sim: blaslt_matmul matches the native output" { run_program blaslt_matmul; }
@test "sim: zdtm matches the native output" { run_program zdtm --iters 20 --sleep-ms 0; }
@test "sim: graphs (stream capture, CUDA graphs) matches the native output" { run_program graphs; }
@test "sim: driver_library (the driver's library API, CUkernel launches) matches the native output" {
	run_program driver_library
}
@test "sim: driver_graph (driver-API contexts, capture and graphs) matches the native output" {
	run_program driver_graph
}
@test "sim: device_misc (bank configuration, a stream's device, the device by PCI bus id) matches the native output" {
	run_program device_misc
}
@test "sim: launch_ex (runtime launches with attributes: clusters, cooperative; cluster occupancy) matches the native output" {
	run_program launch_ex
}
@test "sim: driver_link (the driver's JIT linker, as Numba uses it) matches the native output" {
	run_program driver_link
}
@test "sim: volume_3d (pitched volumes, 3D copies and fills, runtime and driver) matches the native output" {
	run_program volume_3d
}
@test "sim: rows_2d (pitched memory, 2D copies and fills, runtime and driver) matches the native output" {
	run_program rows_2d
}
@test "sim: graph_nodes (a CUDA graph built node by node, inspected, its nodes set anew) matches the native output" {
	run_program graph_nodes
}
@test "sim: driver_graph_nodes (a graph built node by node through the driver API) matches the native output" {
	run_program driver_graph_nodes
}
@test "sim: graphs built node by node refuse misuse with CUDA's errors (edges named twice, updates of another shape, an embedded child destroyed alone), a child changed through its node changes its parent, and a node added to a captured graph fails loudly (801, one line)" {
	need_program graph_nodes
	run --separate-stderr "$XMIG" run -- "$CUDA_BIN/graph_nodes" --bad-input
	assert_success
	assert_output "a dependency of another graph: cudaErrorInvalidValue
a node given as a graph: cudaErrorInvalidValue
a dependency named twice: cudaErrorInvalidValue
an edge that is not there, removed: cudaErrorInvalidValue
an edge named twice, removed: cudaErrorInvalidValue
an edge named twice, added: cudaErrorInvalidValue
edges after: as before
a node added to no graph: cudaErrorInvalidValue
an embedded child graph destroyed alone: cudaErrorInvalidValue
a removed node found in a clone: cudaErrorInvalidValue
an update from a graph with one node more: cudaErrorGraphExecUpdateFailure (topology changed)
an update from a graph whose node is a fill: cudaErrorGraphExecUpdateFailure (node type changed)
a cycle, instantiated: cudaErrorInvalidValue
a kernel node of no kernel: cudaErrorInvalidDeviceFunction
a node added to a captured graph: cudaErrorNotSupported
a chain of 2000 fills added last-first: the last to run left 1999 1999
a kernel node with its arguments in extra: 5 became 16 16
... with 4 bytes more than its parameters: cudaErrorInvalidValue
... and with kernelParams too: cudaErrorInvalidValue
a child graph changed through its node: the parent fills 12 12
PASS graph_nodes"
	assert_equal "$stderr" "xmig: error: a CUDA graph with a cycle in its edges
xmig: error: adding a node to a captured CUDA graph is not supported"
}
@test "sim: host_func (host functions and stream callbacks, in stream order) matches the native output" {
	run_program host_func
}
@test "sim: a host function that calls CUDA is refused with cudaErrorNotPermitted, no hang" {
	need_program host_func
	run --separate-stderr timeout 60 "$XMIG" run -- "$CUDA_BIN/host_func" --cuda-inside
	assert_success
	assert_line "a CUDA call in a host function returned cudaErrorNotPermitted"
	[[ "$stderr" == *"a host function called the CUDA API"* ]]
}
@test "sim: driver_module (driver-API modules and launches) matches the native output" {
	run_program driver_module
}

@test "sim: TMA descriptors fail loudly on the sim device, with the driver's not-supported" {
	need_program driver_module
	run --separate-stderr "$XMIG" run -- "$CUDA_BIN/driver_module" --tma
	assert_failure 1
	assert_line --partial "cuTensorMapEncodeTiled("
	assert_line --partial "returned 801"
	[[ "$stderr" == *"error: TMA descriptors (cuTensorMapEncodeTiled, cuTensorMapEncodeIm2col): not available on a sim device"* ]]
}

@test "sim: the proxy leaves nothing behind when the program ends" {
	need_program vector_add
	run "$XMIG" run --job tidy -- "$CUDA_BIN/vector_add"
	assert_success
	# (the proxy ends after the program: wait for it, not a fixed time)
	no_proxy_left
	job_dir_gone tidy
	run "$XMIG" ps --json
	assert_output '{"items":[]}'
}

@test "sim: a program linked with the static CUDA runtime is stopped with a rebuild hint" {
	[ -x "$B/tests/cuda-static/vector_add" ] || skip "static test program not built"
	run --separate-stderr "$XMIG" run -- "$B/tests/cuda-static/vector_add"
	assert_equal "$status" 7
	assert_equal "$stderr" "xmig: error: this program reaches the CUDA driver through private interfaces (the CUDA runtime is linked statically); rebuild it with \`nvcc -cudart shared\` to run it under xmig"
	assert_output ""
}

@test "sim: a library with the static CUDA runtime inside is named when the program is stopped" {
	lib="$B/tests/static-lib/libstatic_lib.so"
	[ -e "$lib" ] || skip "static-runtime library not built"
	run --separate-stderr "$XMIG" run -- "$B/tests/static-lib/uses_static_lib" "$lib"
	assert_equal "$status" 7
	assert_equal "$stderr" "xmig: error: $(realpath "$lib"), loaded by this program, reaches the CUDA driver through private interfaces (it has the CUDA runtime linked statically); xmig cannot serve it"
}

@test "sim: NVRTC asking for the driver's private table is refused it and goes on (it compiles without it); another library is still stopped" {
	# (the static-runtime library under NVRTC's name: its runtime cannot
	# start without the table and says so, 801; the program is not stopped)
	lib="$B/tests/static-lib/nvrtc/libnvrtc.so.13"
	[ -e "$lib" ] || skip "static-runtime library not built"
	XMIG_LOG=debug run --separate-stderr "$XMIG" run -- "$B/tests/static-lib/uses_static_lib" "$lib"
	assert_success
	assert_output "static_lib_touch -> 801"
	grep -q "libnvrtc.so.13 asked for a private driver table: refused" <<<"$stderr"
	! grep -q "xmig: error" <<<"$stderr"
	# a copy named otherwise: stopped as before
	mkdir "$BATS_TEST_TMPDIR/d" && cp "$lib" "$BATS_TEST_TMPDIR/d/libnvrt.so.13"
	run --separate-stderr "$XMIG" run -- "$B/tests/static-lib/uses_static_lib" "$BATS_TEST_TMPDIR/d/libnvrt.so.13"
	assert_equal "$status" 7
}

# What the GPU can do but a job under xmig cannot ask of it reads "no", in
# attributes and properties alike, so that libraries take their fallbacks
# (ggml's and PyTorch's allocators check virtual memory management first);
# the rest is the device's. Through ctypes, as a Python library asks.
@test "sim: features xmig does not serve (VMM, managed memory, IPC) read as absent; the rest (host registration too) as the device's" {
	run --separate-stderr "$XMIG" run -- python3 -c '
import ctypes
rt = ctypes.CDLL("libcudart.so.13")
def attr(a):
    v = ctypes.c_int(-1)
    r = rt.cudaDeviceGetAttribute(ctypes.byref(v), a, 0)
    return "%d:%d" % (r, v.value)
print("vmm", attr(102), "posix-fd", attr(103), "managed", attr(83), "register", attr(99),
      "ipc-event", attr(125), "rdma", attr(116))
print("warp", attr(10), "pools", attr(115))
prop = ctypes.create_string_buffer(4096)
print("props", rt.cudaGetDeviceProperties(prop, 0))
'
	echo "$stderr" >&2
	assert_success
	assert_line "vmm 0:0 posix-fd 0:0 managed 0:0 register 0:1 ipc-event 0:0 rdma 0:0"
	assert_line "warp 0:32 pools 0:1"
	assert_line "props 0"
}
