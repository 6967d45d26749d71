/*
 * cache.c - what a communicator's build found, kept per node so that a
 * rebuild after a move skips NCCL's topology detection and graph search:
 * NCCL dumps the system topology (NCCL_TOPO_DUMP_FILE) and the computed
 * graphs (NCCL_GRAPH_DUMP_FILE) on the first build and reads them back
 * (NCCL_TOPO_FILE, NCCL_GRAPH_FILE) on the next. NCCL looks these up at
 * each init, so they are set around the init call only (the proxy holds
 * the init lock meanwhile), through env.c. A topology or graph file of
 * the job's own environment is left to NCCL, not cached. Beside them, a
 * small JSON record of the bootstrap facts (ranks, this rank's GPU, build
 * times) for status and the benchmark.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../lib/xmig.h"
#include "ccl.h"

static int mkdir_p(const char *path)
{
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (char *p = tmp + 1; *p; p++)
		if (*p == '/') {
			*p = 0;
			if (mkdir(tmp, 0700) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	return mkdir(tmp, 0700) < 0 && errno != EEXIST ? -1 : 0;
}

int ccl_cache_dir(const char *runtime_dir, const char *node, char *dir, size_t len)
{
	const char *explicit = getenv("XMIG_CCL_CACHE");

	if (explicit && *explicit)
		snprintf(dir, len, "%s", explicit);
	else
		snprintf(dir, len, "%s/ccl-cache/%s", runtime_dir, node && *node ? node : "local");
	if (mkdir_p(dir) < 0)
		return xmig_error_errno("cannot make the NCCL cache directory %s", dir);
	return 0;
}

static bool exists(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && st.st_size > 0;
}

void ccl_cache_files(const char *dir, uint64_t key, const char *layout,
		     struct ccl_cache_files *f)
{
	uint64_t placement = xmig_hash64(layout ?: "", strlen(layout ?: ""));

	/* the topology is the node's; the graphs depend on where the ranks are */
	snprintf(f->topo, sizeof(f->topo), "%s/topo.xml", dir);
	snprintf(f->graph, sizeof(f->graph), "%s/%016llx-%016llx.graph.xml", dir,
		 (unsigned long long)key, (unsigned long long)placement);
	snprintf(f->info, sizeof(f->info), "%s/%016llx.json", dir, (unsigned long long)key);
	f->have_topo = exists(f->topo);
	f->have_graph = exists(f->graph);
}

/* The file variables as the job's environment has them (mostly: unset). */
static void own_files(void)
{
	static const char *const names[] = { "NCCL_TOPO_FILE", "NCCL_TOPO_DUMP_FILE",
					      "NCCL_GRAPH_FILE", "NCCL_GRAPH_DUMP_FILE" };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		ccl_env_set(names[i], NULL);
}

void ccl_cache_setenv(struct ccl_cache_files *f, int rank)
{
	char r[16];

	snprintf(r, sizeof(r), "%d", rank);
	own_files();
	f->topo_dump[0] = f->graph_dump[0] = 0;
	/* the job's own topology file (a VM's, say) is the topology: left alone */
	if (ccl_env_own("NCCL_TOPO_FILE"))
		;
	else if (f->have_topo)
		ccl_env_set("NCCL_TOPO_FILE", f->topo);
	else {
		snprintf(f->topo_dump, sizeof(f->topo_dump), "%s.%d", f->topo, (int)getpid());
		ccl_env_set("NCCL_TOPO_DUMP_FILE", f->topo_dump);
		ccl_env_set("NCCL_TOPO_DUMP_FILE_RANK", r);
	}
	/* XMIG_CCL_GRAPH_CACHE=0: the topology only; NCCL searches graphs again */
	if (!f->graph[0] || ccl_env_own("NCCL_GRAPH_FILE") ||
	    (getenv("XMIG_CCL_GRAPH_CACHE") && !strcmp(getenv("XMIG_CCL_GRAPH_CACHE"), "0")))
		return;
	if (f->have_graph)
		ccl_env_set("NCCL_GRAPH_FILE", f->graph);
	else {
		snprintf(f->graph_dump, sizeof(f->graph_dump), "%s.%d", f->graph, (int)getpid());
		ccl_env_set("NCCL_GRAPH_DUMP_FILE", f->graph_dump);
		ccl_env_set("NCCL_GRAPH_DUMP_FILE_RANK", r);
	}
}

void ccl_cache_keep(const struct ccl_cache_files *f)
{
	/* a rank NCCL did not have dump leaves no file: nothing to rename */
	if (f->topo_dump[0] && exists(f->topo_dump))
		rename(f->topo_dump, f->topo);
	if (f->graph_dump[0] && exists(f->graph_dump))
		rename(f->graph_dump, f->graph);
	if (f->topo_dump[0])
		unlink(f->topo_dump);
	if (f->graph_dump[0])
		unlink(f->graph_dump);
}

void ccl_cache_unset(void)
{
	ccl_env_after_init();
	own_files();
}

int ccl_cache_note(const struct ccl_cache_files *f, const struct ccl_comm *c,
		   const char *gpu_uuid, bool rebuilt)
{
	char tmp[600];
	json_t *o = json_pack("{s:s, s:i, s:i, s:s, s:I, s:f, s:f, s:b, s:b, s:b}", "key", "",
			      "nranks", c->nranks, "rank", c->rank, "gpu", gpu_uuid ?: "",
			      "generation", (json_int_t)c->generation, "init_s", c->init_s,
			      "rebuild_s", c->rebuild_s, "rebuilt", rebuilt, "topo_cached",
			      f->have_topo, "graph_cached", f->have_graph);
	int r;

	json_object_set_new(o, "key", json_sprintf("%016llx", (unsigned long long)c->key));
	/* written whole, then renamed: ranks of one node share the directory */
	snprintf(tmp, sizeof(tmp), "%s.%d", f->info, (int)getpid());
	r = json_dump_file(o, tmp, JSON_COMPACT);
	json_decref(o);
	if (r < 0 || rename(tmp, f->info) < 0) {
		unlink(tmp);
		return xmig_error("cannot write the NCCL cache record %s", f->info);
	}
	return 0;
}
