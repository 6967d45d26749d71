# xmig - live migration of the GPU side of running jobs.
#
#   make            build everything under build/
#   make check      set up, build, run every test that needs no GPU
#   make demo       set up, build, run a real migration demo (GPU or sim device)
#   make bench      GPU benchmarks (native and xmig side by side)
#   make bench-plan TRACE=DIR   planner benchmark on the Alibaba 2023 trace
#   make man        the man pages (scdoc) under build/man/
#   make install    PREFIX=/usr/local DESTDIR=
#   make deps       check for (as root: install) the Debian packages used
#
# Set-up is part of the build: every target that compiles first runs
# share/deps.sh, which installs missing Debian packages when run as root and
# otherwise says exactly what is missing.

PREFIX    ?= /usr/local
DESTDIR   ?=
CUDA_HOME ?= /usr/local/cuda
B         ?= build

CC      := gcc
NVCC    := $(CUDA_HOME)/bin/nvcc
CUDA_ARCH ?= -gencode arch=compute_90,code=sm_90
WARN    := -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-format-truncation
CFLAGS  ?= -O2 -g
ALL_CFLAGS = -std=gnu11 $(WARN) $(CFLAGS) -fPIC -pthread -I. -Ilib -I$(B)/gen \
	     -isystem $(CUDA_HOME)/include
LDFLAGS ?=
# libuv, jansson and xxhash are linked statically so the binaries carry no
# dependency the GPU machines lack. GLPK is not linked at all: `xmig plan
# --algorithm ilp` opens libglpk.so.40 at run time (lib/plan/glpk.c).
static_lib = $(shell $(CC) -print-file-name=$(1))
STATIC_LIBS = $(call static_lib,libjansson.a) $(call static_lib,libxxhash.a)
UV_LIB   = $(call static_lib,libuv_a.a)

.PHONY: all deps check check-gpu demo bench bench-plan man install clean
.DEFAULT_GOAL := all

DEPS_OK := $(B)/.deps-ok
$(DEPS_OK): share/deps.sh
	@mkdir -p $(B)
	@sh share/deps.sh --install
	@touch $@
deps:
	@sh share/deps.sh --install

# ---- libxmig ------------------------------------------------------------
LIB_SRCS := $(wildcard lib/*.c lib/plan/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(B)/obj/%.o)
LIBXMIG  := $(B)/libxmig.a

$(B)/obj/%.o: %.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIBXMIG): $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

# ---- the CLI ------------------------------------------------------------
CMD_SRCS := $(wildcard cmd/*.c)
# The CLI asks the device backends about GPUs (prechecks, xmig nodes).
CMD_OBJS := $(CMD_SRCS:%.c=$(B)/obj/%.o) \
	    $(addprefix $(B)/obj/proxy/server/,device.o device-cuda.o device-sim.o device-remote.o freed-cache.o \
	    sim-kernels.o blas-cuda.o blas-sim.o blaslt-cuda.o blaslt-sim.o dnn-cuda.o dnn-sim.o \
	    real-lib.o) \
	    $(patsubst %.c,$(B)/obj/%.o,$(wildcard ccl/*.c))
XMIG     := $(B)/bin/xmig

$(XMIG): $(CMD_OBJS) $(LIBXMIG)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(CMD_OBJS) $(LIBXMIG) $(STATIC_LIBS) -lm -ldl

# NCCL's environment plugin, opened by the proxy and by the job's NCCL
# (2.28.7 and later) beside it: the cache variables without setenv.
NCCL_ENV_PLUGIN := $(B)/libexec/xmig/libnccl-env-xmig.so
$(NCCL_ENV_PLUGIN): ccl/plugin/nccl-env.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -fvisibility=hidden -shared -Wl,-soname,libnccl-env-xmig.so \
		$(LDFLAGS) -o $@ $<

# ---- unit tests ---------------------------------------------------------
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/unit/%)

# A unit test may include the .c file it tests; -MMD tracks that.
$(B)/tests/unit/%: tests/unit/%.c $(LIBXMIG) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(LIBXMIG) $(UV_LIB) $(STATIC_LIBS) -lm -ldl

# test-device-sim drives the sim backend itself (and what it links).
SIM_DEVICE_OBJS := $(addprefix $(B)/obj/proxy/server/,device-sim.o sim-kernels.o blas-sim.o \
	blaslt-sim.o dnn-sim.o) $(B)/obj/ccl/nccl-sim.o
$(B)/tests/unit/test-device-sim: tests/unit/test-device-sim.c $(SIM_DEVICE_OBJS) $(LIBXMIG) \
		tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(SIM_DEVICE_OBJS) $(LIBXMIG) $(UV_LIB) \
		$(STATIC_LIBS) -lm -ldl

# test-ccl opens NCCL's environment plugin as NCCL would.
$(B)/tests/unit/test-ccl: $(NCCL_ENV_PLUGIN)

# test-reallib needs stand-in libraries: one through its RUNPATH, one to
# load by path, one in an LD_LIBRARY_PATH directory behind a facade's.
REALLIB_T := $(B)/tests/unit/reallib
REALLIB_FAKES := $(REALLIB_T)/run/libxmigfake.so.1 $(REALLIB_T)/other/libxmigother.so.1 \
	$(REALLIB_T)/path/libxmigthird.so.1 $(REALLIB_T)/facade/libxmigthird.so.1
$(REALLIB_FAKES): tests/unit/reallib-fake.c
	@mkdir -p $(dir $@)
	$(CC) -shared -fPIC $(if $(findstring /facade/,$@),-DFACADE) -Wl,-soname,$(notdir $@) -o $@ $<
$(B)/tests/unit/test-reallib: tests/unit/test-reallib.c proxy/client/reallib.c tests/unit/unit.h \
		$(REALLIB_FAKES)
	$(CC) $(ALL_CFLAGS) -o $@ $< -Wl,--no-as-needed -Wl,--enable-new-dtags \
		-Wl,-rpath,'$$ORIGIN/reallib/run' $(REALLIB_T)/run/libxmigfake.so.1 -ldl

# ---- the proxy server ---------------------------------------------------------
CHANNEL_SRCS := $(wildcard proxy/channel/*.c)
CCL_SRCS     := $(wildcard ccl/*.c)
PROXY_SRCS   := $(wildcard proxy/server/*.c) $(CHANNEL_SRCS) $(CCL_SRCS)
PROXY_OBJS   := $(PROXY_SRCS:%.c=$(B)/obj/%.o)
PROXY        := $(B)/libexec/xmig/xmig-proxy

$(PROXY): $(PROXY_OBJS) $(LIBXMIG)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(PROXY_OBJS) $(LIBXMIG) $(UV_LIB) $(STATIC_LIBS) -ldl -lm

# ---- the client library and the facades --------------------------------------------
# Objects of the application side are hidden by default; the facades export
# exactly the real libraries' symbols (version scripts from proxy/api/syms).
CLIENT_CFLAGS = $(ALL_CFLAGS) -fvisibility=hidden
GEN := $(B)/gen
CLIENT_LIB := $(B)/lib/xmig/libxmig-client.so
CLIENT_OBJS := $(addprefix $(B)/obj/client/,client.o fill.o host-func.o host-register.o hostmem.o module.o registered-ranges.o reallib.o ring.o)
CUDART_OBJS := $(addprefix $(B)/obj/client/,cudart.o cudart-gen.o cudart-capture.o cudart-graph.o cudart-graph-build.o cudart-entry.o cudart-host-func.o cudart-legacy.o cudart-mempool.o cudart-user-object.o fatbin.o errors.o nt-copy.o)
CUDA_OBJS   := $(addprefix $(B)/obj/client/,cuda.o cuda-device.o cuda-link.o cuda-module.o cuda-memory.o cuda-graph.o cuda-graph-build.o cuda-tensormap.o)
FACADE      := $(B)/lib/xmig/facade

$(B)/obj/client/%.o: proxy/client/%.c $(GEN)/cuda-errors.h $(GEN)/cu-errors.h | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -MMD -MP -c $< -o $@
$(B)/obj/client/ring.o: proxy/channel/ring.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(CLIENT_CFLAGS) -MMD -MP -c $< -o $@
$(B)/obj/client/%-unsupported.o: $(GEN)/%-unsupported.c
	$(CC) $(CLIENT_CFLAGS) -c $< -o $@

$(GEN)/cuda-errors.h: proxy/api/gen-errors.sh $(CUDA_HOME)/include/driver_types.h | $(DEPS_OK)
	@mkdir -p $(GEN)
	sh $< $(CUDA_HOME)/include/driver_types.h cudaError 'cuda(Success|Error)' XMIG_CUDART_ERRORS > $@
$(GEN)/cu-errors.h: proxy/api/gen-errors.sh $(CUDA_HOME)/include/cuda.h | $(DEPS_OK)
	@mkdir -p $(GEN)
	sh $< $(CUDA_HOME)/include/cuda.h cudaError_enum CUDA_ XMIG_CU_ERRORS > $@

$(GEN)/cudnn-status.h: proxy/api/gen-cudnn-status.sh $(CUDA_HOME)/include/cudnn_graph_v9.h | $(DEPS_OK)
	@mkdir -p $(GEN)
	sh $< $(CUDA_HOME)/include/cudnn_graph_v9.h > $@
$(B)/obj/client/cudnn.o: $(GEN)/cudnn-status.h

$(GEN)/cu-proc-table.h: proxy/api/gen-proc-table.sh $(CUDA_HOME)/include/cudaTypedefs.h proxy/api/syms/libcuda.so.1.syms | $(DEPS_OK)
	@mkdir -p $(GEN)
	sh $< $(CUDA_HOME)/include/cudaTypedefs.h proxy/api/syms/libcuda.so.1.syms > $@
$(B)/obj/client/cuda.o: $(GEN)/cu-proc-table.h

$(GEN)/client.map:
	@mkdir -p $(GEN)
	printf '{ global: xmig_cl_*; local: *; };\n' > $@

$(CLIENT_LIB): $(CLIENT_OBJS) $(LIBXMIG) $(GEN)/client.map
	@mkdir -p $(dir $@)
	$(CC) -shared -pthread -Wl,-soname,libxmig-client.so -Wl,--version-script=$(GEN)/client.map \
		-Wl,-z,nodelete -o $@ $(CLIENT_OBJS) $(LIBXMIG) $(STATIC_LIBS) -ldl
# A facade: every symbol of the real library (proxy/api/syms/SONAME.syms),
# exported under its version node; the symbols our objects do not define
# fail loudly with the library's not-supported status.
#   facade NAME, SONAME, VERSION-NODE (or empty), OBJECTS, STATUS[, FACADES IT LINKS]
define facade
$(1)_SO := $(FACADE)/$(2)
$(GEN)/$(1)-unsupported.c: proxy/api/gen-stubs.sh proxy/api/syms/$(2).syms $(4)
	nm $(4) > $$@.nm
	sh $$< proxy/api/syms/$(2).syms $$@.nm $(5) > $$@
$(GEN)/$(1).map: proxy/api/gen-version-script.sh proxy/api/syms/$(2).syms
	@mkdir -p $(GEN)
	sh $$< proxy/api/syms/$(2).syms $(3) > $$@
$$($(1)_SO): $(4) $(B)/obj/client/$(1)-unsupported.o $(CLIENT_LIB) $(GEN)/$(1).map $(6)
	@mkdir -p $$(dir $$@)
	$(CC) -shared -pthread -Wl,-soname,$(2) -Wl,--version-script=$(GEN)/$(1).map \
		-Wl,-rpath,'$$$$ORIGIN/..:$$$$ORIGIN' -o $$@ $(4) $(B)/obj/client/$(1)-unsupported.o \
		$(6) -L$(B)/lib/xmig -l:libxmig-client.so $$(LIBXMIG) $$(STATIC_LIBS) -ldl
FACADES += $$($(1)_SO)
endef

# What both cuBLAS facades link: status names, handles in the proxy, versions.
CUBLAS_SHARED := $(B)/obj/client/cublas-status.o $(B)/obj/client/blas-handle.o
$(eval $(call facade,cudart,libcudart.so.13,libcudart.so.13,$(CUDART_OBJS),801))
$(eval $(call facade,cuda,libcuda.so.1,,$(CUDA_OBJS),801,$(cudart_SO)))
$(eval $(call facade,cublas,libcublas.so.13,libcublas.so.13,$(B)/obj/client/cublas.o $(CUBLAS_SHARED),15))
$(eval $(call facade,cublasLt,libcublasLt.so.13,libcublasLt.so.13,$(B)/obj/client/cublaslt.o $(CUBLAS_SHARED),15))
$(eval $(call facade,cudnn,libcudnn.so.9,libcudnn.so.9,$(B)/obj/client/cudnn.o,3000))
$(eval $(call facade,nccl,libnccl.so.2,,$(B)/obj/client/nccl.o,5))
CUDART_SO := $(cudart_SO)
CUDA_SO := $(cuda_SO)

# ---- CUDA test programs (self-checking; run natively and under xmig) ---------
CUDA_TEST_SRCS := $(wildcard tests/cuda/*.cu)
CUDA_TESTS := $(CUDA_TEST_SRCS:tests/cuda/%.cu=$(B)/tests/cuda/%)
$(B)/tests/cuda/%: tests/cuda/%.cu $(wildcard tests/cuda/*.h) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) -cudart shared $(CUDA_ARCH) -O2 -o $@ $<

# Links cuBLAS (the facade under xmig, NVIDIA's natively).
$(B)/tests/cuda/blas_gemm: tests/cuda/blas_gemm.cu $(wildcard tests/cuda/*.h) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) -cudart shared $(CUDA_ARCH) -O2 -o $@ $< -lcublas
# Links cuBLASLt (and cuBLAS, whose handle it also uses as an Lt handle).
$(B)/tests/cuda/blaslt_matmul: tests/cuda/blaslt_matmul.cu $(wildcard tests/cuda/*.h) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) -cudart shared $(CUDA_ARCH) -O2 -o $@ $< -lcublasLt -lcublas

# Links cuDNN (the facade under xmig, NVIDIA's natively).
$(B)/tests/cuda/dnn_graph: tests/cuda/dnn_graph.cu $(wildcard tests/cuda/*.h) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) -cudart shared $(CUDA_ARCH) -O2 -o $@ $< -lcudnn

# Loads its kernels through the driver API: a cubin and PTX of
# tests/cuda/kernels/driver_module.cu, embedded as bytes; links libcuda.
CUDA_PTX_ARCH ?= compute_90
$(GEN)/driver_module_images.h: tests/cuda/kernels/driver_module.cu tests/cuda/formulas.h tests/cuda/embed.sh | $(DEPS_OK)
	@mkdir -p $(GEN)
	$(NVCC) -cubin $(CUDA_ARCH) -O2 -o $(GEN)/driver_module.cubin $<
	$(NVCC) -ptx -arch=$(CUDA_PTX_ARCH) -O2 -o $(GEN)/driver_module.ptx $<
	sh tests/cuda/embed.sh dm_cubin $(GEN)/driver_module.cubin dm_ptx $(GEN)/driver_module.ptx > $@
$(B)/tests/cuda/driver_module $(B)/tests/cuda/driver_library $(B)/tests/cuda/driver_graph $(B)/tests/cuda/driver_graph_nodes $(B)/tests/cuda/driver_link: $(B)/tests/cuda/%: tests/cuda/%.cu $(GEN)/driver_module_images.h $(wildcard tests/cuda/*.h) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) -cudart shared $(CUDA_ARCH) -O2 -I$(GEN) -o $@ $< -L$(CUDA_HOME)/lib64/stubs -lcuda

# The runtime's and the driver's stream-ordered allocation: links libcuda.
$(B)/tests/cuda/malloc_async: tests/cuda/malloc_async.cu $(wildcard tests/cuda/*.h) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) -cudart shared $(CUDA_ARCH) -O2 -o $@ $< -L$(CUDA_HOME)/lib64/stubs -lcuda

# Two translation units, so two fat binaries (tests/cuda/parts/NAME_*.cu).
$(B)/tests/cuda/late_module: tests/cuda/late_module.cu tests/cuda/parts/late_module_b.cu $(wildcard tests/cuda/*.h) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) -cudart shared $(CUDA_ARCH) -O2 -o $@ tests/cuda/late_module.cu tests/cuda/parts/late_module_b.cu

# Links NCCL (the facade under xmig, NVIDIA's natively).
$(B)/tests/cuda/nccl_ops: tests/cuda/nccl_ops.cu $(wildcard tests/cuda/*.h) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) -cudart shared $(CUDA_ARCH) -O2 -o $@ $< -lnccl

# The same programs with nvcc's default static runtime: xmig run must stop them.
$(B)/tests/cuda-static/%: tests/cuda/%.cu $(wildcard tests/cuda/*.h) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) $(CUDA_ARCH) -O2 -o $@ $<
# A library with the static runtime inside, and a plain C program loading it.
$(B)/tests/static-lib/libstatic_lib.so: tests/cuda/static/static_lib.cu | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) -shared -Xcompiler -fPIC $(CUDA_ARCH) -O2 -o $@ $<
# The same library under NVRTC's name: xmig refuses it the driver's private
# table, as it does NVRTC (which compiles without it), and lets it go on.
$(B)/tests/static-lib/nvrtc/libnvrtc.so.13: tests/cuda/static/static_lib.cu | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) -shared -Xcompiler -fPIC $(CUDA_ARCH) -O2 -o $@ $<
$(B)/tests/static-lib/uses_static_lib: tests/cuda/static/uses_static_lib.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< -ldl
# Calls functions the facades do not support.
$(B)/tests/unsupported: tests/cuda/unsupported.c | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< -L$(CUDA_HOME)/lib64 -L$(CUDA_HOME)/lib64/stubs -lcudart -lcuda

# Benchmarks (CUDA C++; run by make bench on a GPU).
BENCH_SRCS := $(wildcard tests/bench/*.cu)
BENCH_BINS := $(BENCH_SRCS:tests/bench/%.cu=$(B)/tests/bench/%)
$(B)/tests/bench/%: tests/bench/%.cu | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) -cudart shared $(CUDA_ARCH) -O2 -std=c++17 -o $@ $< -L$(CUDA_HOME)/lib64/stubs -lcuda
$(B)/tests/bench/copy_out: proxy/client/nt-copy.c proxy/client/nt-copy.h

# The Flexible CCL rebuild benchmark: the proxy's build code, natively on every GPU.
CCL_BENCH := $(B)/tests/bench/ccl-rebuild
# (not the sim device's double, which records into the sim device's captures)
CCL_BENCH_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(filter-out ccl/nccl-sim.c,$(wildcard ccl/*.c))) \
	$(B)/obj/proxy/server/real-lib.o
$(CCL_BENCH): tests/bench/ccl/ccl-rebuild.c $(CCL_BENCH_OBJS) $(LIBXMIG) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(CCL_BENCH_OBJS) $(LIBXMIG) \
		$(STATIC_LIBS) -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart -ldl -lm

# ---- man pages (scdoc) ------------------------------------------------------
MAN_SRCS  := $(wildcard share/man/*.scd)
MAN_PAGES := $(MAN_SRCS:share/man/%.scd=$(B)/man/%)
$(B)/man/%: share/man/%.scd | $(DEPS_OK)
	@mkdir -p $(dir $@)
	scdoc < $< > $@
man: $(MAN_PAGES)

TEST_PROGRAMS := $(CUDA_TESTS) $(B)/tests/cuda-static/vector_add \
	$(B)/tests/static-lib/libstatic_lib.so $(B)/tests/static-lib/nvrtc/libnvrtc.so.13 $(B)/tests/static-lib/uses_static_lib $(B)/tests/unsupported $(BENCH_BINS) \
	$(CCL_BENCH)
TARGETS := $(XMIG) $(UNIT_BINS) $(PROXY) $(NCCL_ENV_PLUGIN) $(CLIENT_LIB) $(FACADES) $(TEST_PROGRAMS) $(MAN_PAGES)
all: $(TARGETS)

# ---- planner benchmark (reads the trace at run time; see tests/bench/) ----
PLAN_BENCH_SRCS := $(wildcard tests/bench/*.c)
PLAN_BENCH := $(B)/tests/bench/plan-bench

$(PLAN_BENCH): $(PLAN_BENCH_SRCS) tests/bench/bench.h $(LIBXMIG)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(PLAN_BENCH_SRCS) $(LIBXMIG) $(STATIC_LIBS) -lm -ldl

all: $(PLAN_BENCH)

# make bench-plan TRACE=DIR [BENCH_PLAN_ARGS="--seeds 42-43"]
bench-plan: $(PLAN_BENCH)
	@if [ -z "$(TRACE)" ]; then \
		echo "make bench-plan: set TRACE=DIR, the Alibaba GPU trace of 2023 (a directory holding" \
		     "openb_node_list_gpu_node.csv and openb_pod_list_default.csv, or csv/ with them)," \
		     "e.g. TRACE=../shared/traces/alibaba-gpu-v2023" >&2; exit 2; fi
	@if [ ! -f "$(TRACE)/openb_node_list_gpu_node.csv" ] && [ ! -f "$(TRACE)/csv/openb_node_list_gpu_node.csv" ]; then \
		echo "make bench-plan: TRACE=$(TRACE) has no openb_node_list_gpu_node.csv (nor csv/...);" \
		     "it must be the trace directory" >&2; exit 2; fi
	$(PLAN_BENCH) --trace "$(TRACE)" $(BENCH_PLAN_ARGS)

# ---- tests --------------------------------------------------------------
check: all
	@B=$(abspath $(B)) sh tests/run.sh

# A real migration demo: on a GPU when there is one, else on the sim device.
demo: all
	@bash share/demo.sh $(abspath $(B))

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/libexec/xmig \
		$(DESTDIR)$(PREFIX)/lib/xmig/facade
	install -m 755 $(XMIG) $(DESTDIR)$(PREFIX)/bin/xmig
	install -m 755 $(PROXY) $(DESTDIR)$(PREFIX)/libexec/xmig/xmig-proxy
	install -m 755 $(NCCL_ENV_PLUGIN) $(DESTDIR)$(PREFIX)/libexec/xmig/
	install -m 755 $(CLIENT_LIB) $(DESTDIR)$(PREFIX)/lib/xmig/
	install -m 755 $(FACADES) $(DESTDIR)$(PREFIX)/lib/xmig/facade/
	install -d $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/man/man8 \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions \
		$(DESTDIR)$(PREFIX)/share/zsh/site-functions $(DESTDIR)$(PREFIX)/share/xmig/schema
	install -m 644 $(filter %.1,$(MAN_PAGES)) $(DESTDIR)$(PREFIX)/share/man/man1/
	install -m 644 $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(PREFIX)/share/man/man8/
	install -m 644 completions/xmig.bash \
		$(DESTDIR)$(PREFIX)/share/bash-completion/completions/xmig
	install -m 644 completions/_xmig $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_xmig
	install -m 644 share/schema/*.json $(DESTDIR)$(PREFIX)/share/xmig/schema/
	install -d $(DESTDIR)$(PREFIX)/share/xmig/examples
	install -m 755 share/examples/xmig-consolidate $(DESTDIR)$(PREFIX)/share/xmig/examples/
	install -m 644 share/examples/xmig-consolidate.cron $(DESTDIR)$(PREFIX)/share/xmig/examples/

# GPU benchmarks: native and xmig side by side, same GPU, same run.
bench: all
	@command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || \
		{ echo "make bench needs an NVIDIA GPU (nvidia-smi finds none)" >&2; exit 1; }
	@echo "## core ($$(date -u +%F), $$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1))"
	@bash tests/bench/core.sh $(abspath $(B))
	@echo "## migration on one GPU"
	@bash tests/bench/migrate.sh $(abspath $(B))
	@echo "## a pageable device-to-host copy's copy out of the bulk area (memcpy, streaming stores)"
	@$(B)/tests/bench/copy_out
	@echo "## a copy move's copy of many allocations (the proxy's kernel, copy engines)"
	@$(B)/tests/bench/copy_many && $(B)/tests/bench/copy_many 4096 256 && \
		$(B)/tests/bench/copy_many 8192 8
	@if python3 -c 'import torch; assert torch.cuda.is_available()' 2>/dev/null; then \
		echo "## PyTorch training under xmig"; bash tests/torch/run.sh $(abspath $(B)); \
		echo "## PyTorch GPT step time and memory"; bash tests/bench/torch.sh $(abspath $(B)); \
		echo "## a move while the job first uses kernels: the prelude refreshed, and not"; \
		bash tests/bench/refresh.sh $(abspath $(B)); \
	else echo "## PyTorch: skipped (no python3 torch with CUDA here)"; fi

# The GPU tests (on a machine with an NVIDIA GPU; see tests/gpu, tests/torch).
check-gpu: all
	bash tests/gpu/check.sh $(abspath $(B))
	@if python3 -c 'import torch' 2>/dev/null; then bash tests/torch/run.sh $(abspath $(B)); fi

clean:
	rm -rf $(B)

-include $(shell find $(B)/obj $(B)/tests/unit -name '*.d' 2>/dev/null)
