/*
 * test-move-limits.c - what keeps a process from moving, read from its
 * `xmig ps --json` item (lib/move-limits.c): each field's reach and
 * reason, which comes first, and the proxy's reason cut before what it
 * says of the refusal.
 */
#include <string.h>

#include "lib/xmig.h"
#include "unit.h"

static enum xmig_move_reach reach_of(const char *item, char *why, size_t len)
{
	json_t *it = json_loads(item, 0, NULL);
	enum xmig_move_reach r = it ? xmig_move_limit(it, why, len) : (enum xmig_move_reach)-1;

	json_decref(it);
	return r;
}

int main(void)
{
	char why[512];

	CHECK(reach_of("{\"job\":\"a\",\"cuda_graphs\":3,\"cuda_graphs_unmovable\":null,"
		       "\"cuda_graphs_host_copies\":0,\"symbol_address_taken\":false,"
		       "\"host_mapped\":false}", why, sizeof(why)) == XMIG_MOVE_ANYWHERE &&
	      !*why, "graphs of device work only: it moves anywhere, no reason");
	CHECK(reach_of("{}", why, sizeof(why)) == XMIG_MOVE_ANYWHERE,
	      "an item without those fields (an older proxy's) moves anywhere");
	CHECK(reach_of("{\"cuda_graphs_host_copies\":1}", why, sizeof(why)) == XMIG_MOVE_IN_NODE &&
	      !strcmp(why, "its CUDA graphs copy to or from host memory or call host functions, "
		      "which a GPU on another node cannot reach"), "graphs that copy host memory: within its node (%s)", why);
	CHECK(reach_of("{\"host_mapped\":true}", why, sizeof(why)) == XMIG_MOVE_IN_NODE &&
	      strstr(why, "cudaHostAllocMapped"), "mapped pinned memory: within its node (%s)", why);
	CHECK(reach_of("{\"symbol_address_taken\":true,\"host_mapped\":true}", why, sizeof(why)) ==
		      XMIG_MOVE_NOWHERE && strstr(why, "cudaGetSymbolAddress"),
	      "a __device__ address taken: nowhere, before what only keeps it on its node (%s)", why);
	CHECK(reach_of("{\"cuda_graphs_unmovable\":\"the process is capturing a CUDA graph (x); "
		       "nothing was done, the job goes on\",\"cuda_graphs_host_copies\":2}", why,
		       sizeof(why)) == XMIG_MOVE_NOWHERE &&
	      !strcmp(why, "the process is capturing a CUDA graph (x)"),
	      "the proxy's reason, cut before what it says of the refusal: nowhere (%s)", why);
	CHECK(reach_of("{\"cuda_graphs_host_copies\":1}", NULL, 0) == XMIG_MOVE_IN_NODE,
	      "no room for the reason: the reach alone");
	CHECK(reach_of("{\"symbol_address_taken\":true}", why, 8) == XMIG_MOVE_NOWHERE &&
	      strlen(why) == 7, "a short buffer: the reason cut to fit");
	return unit_done();
}
