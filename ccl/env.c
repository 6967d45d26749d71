/*
 * env.c - the NCCL variables of one build (the node's caches: cache.c,
 * relink.c), set where the job's NCCL reads them:
 *   - in xmig's NCCL environment plugin (plugin/nccl-env.c), when that
 *     NCCL asks one (2.28.7 and later) and ccl_env_arm named ours before
 *     NCCL started: the process environment is then never written;
 *   - else in the process environment, around the init only (callers hold
 *     the proxy's build lock). Older NCCLs leave only that way, and setenv
 *     while other threads call getenv is unsafe before glibc 2.40.
 * Taking a variable away gives back what the job's environment had (its
 * own NCCL_TOPO_FILE, say), not nothing.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>

#include "../lib/xmig.h"
#include "ccl.h"

#define PLUGIN_SINCE 22807   /* NCCL 2.28.7, the first to ask an env plugin */
#define MAX_NAMES 16

static int (*plugin_set)(const char *name, const char *value);
static bool (*plugin_adopted)(void);
static int via_plugin = -1;   /* decided at the first build */

/* The job's own value of each name this file has changed, from before the change. */
static struct {
	const char *name;
	char *value;
} own[MAX_NAMES];
static int nown;

/*
 * NCCL's RAS keeps the processes of a job in touch with each other and
 * takes one that goes away for a dead peer. A move retires a process, so
 * the others' RAS would call the moved rank dead and, while it handles the
 * loss (up to a minute), hold up each new communicator's bootstrap: on two
 * H200s a re-link's median was 48 ms with it and 25 ms without. Off in
 * xmig's proxies unless the job's environment sets NCCL_RAS_ENABLE.
 * Called at the proxy's start, before any thread.
 */
void ccl_env_defaults(void)
{
	setenv("NCCL_RAS_ENABLE", "0", 0);   /* (0: the job's own value stays) */
}

int ccl_env_arm(const char *plugin)
{
	void *h;

	if (getenv("NCCL_ENV_PLUGIN")) {
		xmig_debug("NCCL_ENV_PLUGIN is the job's own (%s): NCCL's cache variables go "
			   "through the environment", getenv("NCCL_ENV_PLUGIN"));
		return -1;
	}
	if (!(h = dlopen(plugin, RTLD_NOW | RTLD_LOCAL)) ||
	    !(plugin_set = (int (*)(const char *, const char *))dlsym(h, "xmig_nccl_env_set")) ||
	    !(plugin_adopted = (bool (*)(void))dlsym(h, "xmig_nccl_env_adopted"))) {
		xmig_warn("xmig's NCCL environment plugin cannot be used (%s): NCCL's cache "
			  "variables go through the environment", dlerror());
		plugin_set = NULL;
		return -1;
	}
	/* the same file, so NCCL's dlopen finds this copy, table and all */
	setenv("NCCL_ENV_PLUGIN", plugin, 1);
	return 0;
}

bool ccl_env_via_plugin(void)
{
	if (via_plugin < 0)
		via_plugin = plugin_set && ccl_nccl_version() >= PLUGIN_SINCE;
	return via_plugin == 1;
}

const char *ccl_env_own(const char *name)
{
	for (int i = 0; i < nown; i++)
		if (!strcmp(own[i].name, name))
			return own[i].value;
	return getenv(name);   /* not changed by xmig */
}

/* Remember name's own value before the first change; -1 when out of room. */
static int remember(const char *name)
{
	const char *v;

	for (int i = 0; i < nown; i++)
		if (!strcmp(own[i].name, name))
			return 0;
	if (nown == MAX_NAMES)
		return -1;
	v = getenv(name);
	own[nown].name = name;
	own[nown].value = v ? strdup(v) : NULL;
	nown++;
	return 0;
}

int ccl_env_set(const char *name, const char *value)
{
	if (remember(name) < 0)
		return xmig_error("too many NCCL variables to set (%s)", name);
	if (!value)
		value = ccl_env_own(name);
	if (ccl_env_via_plugin())
		return plugin_set(name, value) == 0 ? 0 : xmig_error("cannot set %s for NCCL", name);
	return (value ? setenv(name, value, 1) : unsetenv(name)) == 0
		       ? 0 : xmig_error_errno("cannot set %s for NCCL", name);
}

void ccl_env_after_init(void)
{
	static bool said;

	/* (NCCL's own "loaded external env plugin" line comes before its log is set up) */
	if (via_plugin != 1 || plugin_adopted()) {
		if (!said)
			xmig_debug("NCCL %d reads its cache variables %s", ccl_nccl_version(),
				   via_plugin == 1 ? "through xmig's environment plugin"
						   : "from the process environment");
		said = true;
		return;
	}
	/* NCCL did not take the plugin up: the next builds use the environment */
	xmig_warn("NCCL %d did not load xmig's environment plugin; its cache variables "
		  "go through the environment from now on", ccl_nccl_version());
	via_plugin = 0;
}
