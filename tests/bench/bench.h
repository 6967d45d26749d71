/*
 * bench.h - the planner benchmark (tests/bench/): fragmented cluster states
 * built from the Alibaba GPU trace of 2023 the way the FGD paper does
 * (trace.c), and the planners run on them (plan-bench.c).
 */
#ifndef XMIG_BENCH_H
#define XMIG_BENCH_H

#include <stdint.h>

#include "lib/plan/plan.h"

struct tnode {
	char name[40];
	int64_t cpu_m;
	uint64_t mem;
	int gpus;
	char model[16];
};

struct tspec {
	int64_t cpu_m;
	uint64_t mem;
	int gpus;
	int milli;             /* share per GPU, 1..1000 */
	char spec[64];         /* allowed models joined by '|', or "" */
};

struct trace {
	struct tnode *nodes;
	int nnodes;
	struct tspec *specs;
	int nspecs;
	int cpu_only;          /* specs left out: they ask for no GPU */
};

/* Read DIR/openb_node_list_gpu_node.csv and DIR/openb_pod_list_default.csv (or DIR/csv/...). */
int trace_load(const char *dir, struct trace *tr);
void trace_free(struct trace *tr);

enum placement { PLACE_BESTFIT, PLACE_SPREAD };

struct gen {
	const struct trace *tr;
	const int *pick;       /* nodes of the trace to use (NULL: all) */
	int npick;
	int replicas;          /* the node list this many times */
	enum placement place;
	double fill;           /* requested GPU / capacity, 0.9 */
	double depart;         /* probability a task has left */
	uint64_t seed;
};

struct gen_stats {
	int nodes, gpus, arrived, placed, failed, left;
	double requested;      /* GPUs requested by the arrivals */
};

/* Build the state document. */
json_t *gen_state(const struct gen *g, struct gen_stats *s);
/* Assumed device memory of a model, bytes (G2 and G3 are undisclosed). */
uint64_t model_memory(const char *model);

/*
 * Floors under the device bytes of any plan (floor.c). bytes_floor: one
 * that frees k nodes, by GPU share capacity alone; UINT64_MAX when k is out
 * of reach. bytes_floor_tight: the same, but the nodes left must also fit
 * the tasks' shares as whole items per GPU (bin packing bound L2), their
 * CPUs and their host memory. bytes_floor_models: one that frees as many
 * used nodes of each component as the names in `freed` (a plan's freed
 * nodes): the cheapest that many of each.
 */
uint64_t bytes_floor(const struct xp_state *st, int k);
uint64_t bytes_floor_tight(const struct xp_state *st, int k);
uint64_t bytes_floor_models(const struct xp_state *st, json_t *freed);

/* xoshiro256** seeded by splitmix64: the same seed gives the same states. */
struct rng {
	uint64_t s[4];
};
void rng_seed(struct rng *r, uint64_t seed);
uint64_t rng_next(struct rng *r);
double rng_unit(struct rng *r);     /* [0,1) */

#endif
