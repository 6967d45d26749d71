/*
 * move-limits.c - what a process holds that a move cannot take, read from
 * its item of `xmig ps --json`: by xmig migrate before it moves it, by
 * xmig ps to say so below its table, by the live planner to leave it be.
 */
#include <stdio.h>
#include <string.h>

#include "xmig.h"

static enum xmig_move_reach limit(enum xmig_move_reach reach, char *why, size_t len,
				  const char *text, int text_len)
{
	if (why && len)
		snprintf(why, len, "%.*s", text_len, text);
	return reach;
}

enum xmig_move_reach xmig_move_limit(json_t *item, char *why, size_t len)
{
	const char *graphs = json_string_value(json_object_get(item, "cuda_graphs_unmovable"));
	static const char symbol[] = "it took the address of a __device__ variable "
				     "(cudaGetSymbolAddress), which would not survive a move";
	static const char host_copies[] = "its CUDA graphs copy to or from host memory or call "
					  "host functions, which a GPU on another node cannot "
					  "reach";
	static const char mapped[] = "its kernels reach mapped pinned host memory "
				     "(cudaHostAllocMapped or cudaHostGetDevicePointer), which "
				     "cannot reach another node";

	if (json_is_true(json_object_get(item, "symbol_address_taken")))
		return limit(XMIG_MOVE_NOWHERE, why, len, symbol, (int)strlen(symbol));
	/* (the proxy's reason, less what it says of a refusal: "; nothing was done ...") */
	if (graphs)
		return limit(XMIG_MOVE_NOWHERE, why, len, graphs, (int)strcspn(graphs, ";"));
	if (json_integer_value(json_object_get(item, "cuda_graphs_host_copies")) > 0)
		return limit(XMIG_MOVE_IN_NODE, why, len, host_copies, (int)strlen(host_copies));
	if (json_is_true(json_object_get(item, "host_mapped")))
		return limit(XMIG_MOVE_IN_NODE, why, len, mapped, (int)strlen(mapped));
	return limit(XMIG_MOVE_ANYWHERE, why, len, "", 0);
}
