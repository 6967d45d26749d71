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
# libuv, jansson and xxhash are linked statically so the binaries carry no
# dependency the GPU machines lack. GLPK is not linked at all: `xmig plan
# --algorithm ilp` opens libglpk.so.40 at run time (lib/plan/glpk.c).
static_lib = $(shell $(CC) -print-file-name=$(1))
STATIC_LIBS = $(call static_lib,libjansson.a) $(call static_lib,libxxhash.a)
UV_LIB   = $(call static_lib,libuv_a.a)

.PHONY: all deps check check-unit check-cli demo bench bench-plan install clean
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
CMD_OBJS := $(CMD_SRCS:%.c=$(B)/obj/%.o)
XMIG     := $(B)/bin/xmig

$(XMIG): $(CMD_OBJS) $(LIBXMIG)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(CMD_OBJS) $(LIBXMIG) $(STATIC_LIBS) -lm -ldl

# ---- unit tests ---------------------------------------------------------
UNIT_SRCS := $(wildcard tests/unit/test-*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/unit/%)

$(B)/tests/unit/%: tests/unit/%.c $(LIBXMIG) tests/unit/unit.h
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $< $(LIBXMIG) $(UV_LIB) $(STATIC_LIBS) -lm -ldl

TARGETS := $(XMIG) $(UNIT_BINS)
all: $(TARGETS)

# ---- planner benchmark (reads the trace at run time; see tests/bench/) ----
BENCH_SRCS := $(wildcard tests/bench/*.c)
PLAN_BENCH := $(B)/tests/bench/plan-bench

$(PLAN_BENCH): $(BENCH_SRCS) tests/bench/bench.h $(LIBXMIG)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -o $@ $(BENCH_SRCS) $(LIBXMIG) $(STATIC_LIBS) -lm -ldl

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

clean:
	rm -rf $(B)

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
