/*
 * xmig.c - main: global options, then dispatch through the command table.
 *
 *   xmig [--nodes FILE] [-v] COMMAND [OPTIONS] [ARGS]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

const char *argp_program_version = "xmig " XMIG_VERSION;

struct xmig_globals xmig_globals;

static const struct xmig_cmd *const commands[] = {
#define X(n) &cmd_##n,
	XMIG_COMMANDS(X)
#undef X
};

static void usage(FILE *out)
{
	size_t i;

	fprintf(out,
		"Usage: xmig [--nodes FILE] [-v] COMMAND [OPTIONS] [ARGS]\n"
		"Live-migrate the GPU side of running jobs.\n\n"
		"Commands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-10s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(out,
		"\nGlobal options:\n"
		"  --nodes FILE   node list (default $XMIG_NODES, /etc/xmig/nodes.conf)\n"
		"  -v, --verbose  more messages on stderr\n"
		"  -h, --help     this help;  xmig COMMAND --help for a command's\n"
		"  -V, --version  print the version\n\n"
		"Exit status: 0 ok, 1 failed (rolled back), 2 usage, 3 not found,\n"
		"4 refused, 5 unavailable, 6 bad input, 7 static CUDA runtime (run);\n"
		"run also: 126 cannot execute, 127 not found, else the program's. See xmig(1).\n");
}

int cmd_parse(const struct argp *argp, int argc, char **argv, void *input, int *arg_index)
{
	error_t e = argp_parse(argp, argc, argv, arg_index ? ARGP_IN_ORDER : 0, arg_index, input);

	return e ? -1 : 0;
}

struct xmig_conn *cmd_connect(const char *socket_path, char *why, size_t len)
{
	struct xmig_conn *c = xmig_conn_open(socket_path);
	json_t *res = NULL;
	char *msg = NULL;
	int code;

	if (!c) {
		snprintf(why, len, "%s", strerror(errno));
		return NULL;
	}
	if (xmig_rpc_call(c, "hello", json_pack("{s:i}", "protocol", XMIG_PROTOCOL), 5000, &res,
			  &code, &msg) < 0) {
		snprintf(why, len, "%s", msg ? msg : "no answer");
		free(msg);
		xmig_conn_close(c);
		return NULL;
	}
	json_decref(res);
	return c;
}

void cmd_print_json(json_t *doc)
{
	char *s = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENSURE_ASCII |
			     JSON_REAL_PRECISION(15));   /* 0.1, not 0.10000000000000001 */

	if (s) {
		puts(s);
		free(s);
	}
	fflush(stdout);
	json_decref(doc);
}

void cmd_print_result(json_t *doc, int status)
{
	char why[1024];

	/* (what failed, as the last error line says it: for scripts, and xmig apply) */
	if (status && doc)
		json_object_set_new(doc, "error",
				    json_pack("{s:i, s:s}", "status", status, "message",
					      xmig_log_last_error(why, sizeof(why)) ?: ""));
	cmd_print_json(doc);
}

int main(int argc, char **argv)
{
	const char *name;
	size_t i;
	int argi = 1;

	xmig_log_init("xmig");
	argp_err_exit_status = XMIG_EXIT_USAGE;
	/* A proxy that dies mid-call must give an error, not kill us. */
	signal(SIGPIPE, SIG_IGN);
	xmig_globals.nodes_file = getenv("XMIG_NODES");

	while (argi < argc && argv[argi][0] == '-') {
		const char *a = argv[argi];

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return XMIG_EXIT_OK;
		} else if (!strcmp(a, "-V") || !strcmp(a, "--version")) {
			printf("xmig %s\n", XMIG_VERSION);
			return XMIG_EXIT_OK;
		} else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			xmig_globals.verbose++;
			xmig_log_set_level(XMIG_LOG_DEBUG);
		} else if (!strcmp(a, "--nodes") && argi + 1 < argc) {
			xmig_globals.nodes_file = argv[++argi];
		} else if (!strncmp(a, "--nodes=", 8)) {
			xmig_globals.nodes_file = a + 8;
		} else if (!strcmp(a, "--nodes")) {
			xmig_error("--nodes needs a FILE");
			usage(stderr);
			return XMIG_EXIT_USAGE;
		} else {
			xmig_error("unknown global option '%s'", a);
			usage(stderr);
			return XMIG_EXIT_USAGE;
		}
		argi++;
	}
	if (argi >= argc) {
		usage(stderr);
		return XMIG_EXIT_USAGE;
	}
	name = argv[argi];
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (!strcmp(commands[i]->name, name)) {
			char prog[64];

			/* argp names the program after argv[0]: "Usage: xmig ps ..." */
			snprintf(prog, sizeof(prog), "xmig %s", name);
			argv[argi] = prog;
			return commands[i]->run(argc - argi, argv + argi);
		}
	}
	if (!strcmp(name, "help")) {
		usage(stdout);
		return XMIG_EXIT_OK;
	}
	xmig_error("'%s' is not an xmig command; see 'xmig --help'", name);
	return XMIG_EXIT_USAGE;
}
