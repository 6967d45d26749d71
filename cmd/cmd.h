/*
 * cmd.h - the command table (cf. tmux cmd.c, git.c).
 *
 * Each command lives in cmd/cmd-<name>.c and exports one struct xmig_cmd.
 * A command parses its own options with argp; argv[0] is the command name.
 * It returns an exit status from enum xmig_exit.
 */
#ifndef XMIG_CMD_H
#define XMIG_CMD_H

#include <argp.h>
#include <stdbool.h>
#include <stdio.h>

#include "../lib/xmig.h"

struct xmig_cmd {
	const char *name;
	const char *summary;       /* one line for `xmig --help` */
	int (*run)(int argc, char **argv);
};

/* Global options, parsed before the command name. */
struct xmig_globals {
	const char *nodes_file;    /* --nodes FILE */
	int verbose;
};
extern struct xmig_globals xmig_globals;

/* argp program version hook etc. live in xmig.c */
extern const char *argp_program_version;

/*
 * Run argp for a command (usage errors exit with XMIG_EXIT_USAGE). With
 * arg_index, parsing stops at the first non-option argument, whose index
 * is stored there (argc if none): for `xmig run [OPTIONS] CMD ARGS...`.
 */
int cmd_parse(const struct argp *argp, int argc, char **argv, void *input, int *arg_index);

/* Connect to a proxy's control socket and say hello; NULL with a message. */
struct xmig_conn *cmd_connect(const char *socket_path, char *why, size_t len);

/* Print one JSON document (compact, one line) to stdout. Steals doc. */
void cmd_print_json(json_t *doc);
/*
 * The same for a command's result: when status is not 0, with "error":
 * {"status", "message": the last error line printed}. Takes doc.
 */
void cmd_print_result(json_t *doc, int status);

#define XMIG_COMMANDS(X) \
	X(run) \
	X(ps) \
	X(freeze) \
	X(thaw) \
	X(snapshot) \
	X(suspend) \
	X(resume) \
	X(migrate) \
	X(nodes) \
	X(version) \
	X(plan) \
	X(apply)

#define X(n) extern const struct xmig_cmd cmd_##n;
XMIG_COMMANDS(X)
#undef X

#endif
