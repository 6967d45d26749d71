# xmig - live migration of the GPU side of running jobs.
#
#   make            build everything under build/
#   make check      set up, build, run every test that needs no GPU
#   make demo       set up, build, run a real migration demo (GPU or sim device)
#   make bench      GPU benchmarks (native and xmig side by side)
#   make bench-plan TRACE=DIR   planner benchmark on the Alibaba 2023 trace
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
# libuv, jansson, xxhash and glpk are linked statically so the binaries carry
# no dependency the GPU machines lack.
static_lib = $(shell $(CC) -print-file-name=$(1))
STATIC_LIBS = $(call static_lib,libjansson.a) $(call static_lib,libxxhash.a)
UV_LIB   = $(call static_lib,libuv_a.a)
GLPK_LIB = $(call static_lib,libglpk.a)

.PHONY: all deps check demo bench bench-plan install clean
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
	    $(addprefix $(B)/obj/proxy/server/,device.o device-cuda.o device-sim.o device-remote.o \
	    sim-kernels.o)
XMIG     := $(B)/bin/xmig

$(XMIG): $(CMD_OBJS) $(LIBXMIG)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(CMD_OBJS) $(LIBXMIG) $(STATIC_LIBS) -lm -ldl

# ---- unit tests ---------------------------------------------------------
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/unit/%)

# A unit test may include the .c file it tests; -MMD tracks that.
$(B)/tests/unit/%: tests/unit/%.c $(LIBXMIG) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -o $@ $< $(LIBXMIG) $(UV_LIB) $(STATIC_LIBS) -lm -ldl

# ---- the proxy server ---------------------------------------------------------
CHANNEL_SRCS := $(wildcard proxy/channel/*.c)
PROXY_SRCS   := $(wildcard proxy/server/*.c) $(CHANNEL_SRCS)
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
CLIENT_OBJS := $(addprefix $(B)/obj/client/,client.o hostmem.o ring.o)
CUDART_OBJS := $(addprefix $(B)/obj/client/,cudart.o cudart-gen.o fatbin.o errors.o)
CUDA_OBJS   := $(addprefix $(B)/obj/client/,cuda.o)
FACADE      := $(B)/lib/xmig/facade
CUDART_SO   := $(FACADE)/libcudart.so.13
CUDA_SO     := $(FACADE)/libcuda.so.1

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

$(GEN)/cudart-unsupported.c: proxy/api/gen-stubs.sh proxy/api/syms/libcudart.so.13.syms $(CUDART_OBJS)
	nm $(CUDART_OBJS) > $@.nm
	sh $< proxy/api/syms/libcudart.so.13.syms $@.nm 801 > $@
$(GEN)/cuda-unsupported.c: proxy/api/gen-stubs.sh proxy/api/syms/libcuda.so.1.syms $(CUDA_OBJS)
	nm $(CUDA_OBJS) > $@.nm
	sh $< proxy/api/syms/libcuda.so.1.syms $@.nm 801 > $@
$(GEN)/libcudart.map: proxy/api/gen-version-script.sh proxy/api/syms/libcudart.so.13.syms
	@mkdir -p $(GEN)
	sh $< proxy/api/syms/libcudart.so.13.syms libcudart.so.13 > $@
$(GEN)/libcuda.map: proxy/api/gen-version-script.sh proxy/api/syms/libcuda.so.1.syms
	@mkdir -p $(GEN)
	sh $< proxy/api/syms/libcuda.so.1.syms > $@
$(GEN)/client.map:
	@mkdir -p $(GEN)
	printf '{ global: xmig_cl_*; local: *; };\n' > $@

$(CLIENT_LIB): $(CLIENT_OBJS) $(LIBXMIG) $(GEN)/client.map
	@mkdir -p $(dir $@)
	$(CC) -shared -pthread -Wl,-soname,libxmig-client.so -Wl,--version-script=$(GEN)/client.map \
		-Wl,-z,nodelete -o $@ $(CLIENT_OBJS) $(LIBXMIG) $(STATIC_LIBS) -ldl
$(CUDART_SO): $(CUDART_OBJS) $(B)/obj/client/cudart-unsupported.o $(CLIENT_LIB) $(GEN)/libcudart.map
	@mkdir -p $(dir $@)
	$(CC) -shared -pthread -Wl,-soname,libcudart.so.13 -Wl,--version-script=$(GEN)/libcudart.map \
		-Wl,-rpath,'$$ORIGIN/..' -o $@ $(CUDART_OBJS) $(B)/obj/client/cudart-unsupported.o \
		-L$(B)/lib/xmig -l:libxmig-client.so $(LIBXMIG) $(STATIC_LIBS) -ldl
$(CUDA_SO): $(CUDA_OBJS) $(B)/obj/client/cuda-unsupported.o $(CLIENT_LIB) $(GEN)/libcuda.map
	@mkdir -p $(dir $@)
	$(CC) -shared -pthread -Wl,-soname,libcuda.so.1 -Wl,--version-script=$(GEN)/libcuda.map \
		-Wl,-rpath,'$$ORIGIN/..' -o $@ $(CUDA_OBJS) $(B)/obj/client/cuda-unsupported.o \
		-L$(B)/lib/xmig -l:libxmig-client.so $(LIBXMIG) $(STATIC_LIBS) -ldl

# ---- CUDA test programs (self-checking; run natively and under xmig) ---------
CUDA_TEST_SRCS := $(wildcard tests/cuda/*.cu)
CUDA_TESTS := $(CUDA_TEST_SRCS:tests/cuda/%.cu=$(B)/tests/cuda/%)
$(B)/tests/cuda/%: tests/cuda/%.cu $(wildcard tests/cuda/*.h) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) -cudart shared $(CUDA_ARCH) -O2 -o $@ $<

# The same programs with nvcc's default static runtime: xmig run must stop them.
$(B)/tests/cuda-static/%: tests/cuda/%.cu $(wildcard tests/cuda/*.h) | $(DEPS_OK)
	@mkdir -p $(dir $@)
	$(NVCC) $(CUDA_ARCH) -O2 -o $@ $<
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

TEST_PROGRAMS := $(CUDA_TESTS) $(B)/tests/cuda-static/vector_add $(B)/tests/unsupported $(BENCH_BINS)
TARGETS := $(XMIG) $(UNIT_BINS) $(PROXY) $(CLIENT_LIB) $(CUDART_SO) $(CUDA_SO) $(TEST_PROGRAMS)
all: $(TARGETS)

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
	install -m 755 $(CLIENT_LIB) $(DESTDIR)$(PREFIX)/lib/xmig/
	install -m 755 $(CUDART_SO) $(CUDA_SO) $(DESTDIR)$(PREFIX)/lib/xmig/facade/

# GPU benchmarks: native and xmig side by side, same GPU, same run.
bench: all
	@command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || \
		{ echo "make bench needs an NVIDIA GPU (nvidia-smi finds none)" >&2; exit 1; }
	@echo "## core ($$(date -u +%F), $$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1))"
	@bash tests/bench/core.sh $(abspath $(B))
	@echo "## migration on one GPU"
	@bash tests/bench/migrate.sh $(abspath $(B))

clean:
	rm -rf $(B)

-include $(shell find $(B)/obj $(B)/tests/unit -name '*.d' 2>/dev/null)
