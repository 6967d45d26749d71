/* cmd-version.c - xmig version [--json] */
#include "cmd.h"

struct version_opts {
	bool json;
};

static error_t parse_opt(int key, char *arg, struct argp_state *state)
{
	struct version_opts *o = state->input;

	(void)arg;
	switch (key) {
	case 'j':
		o->json = true;
		return 0;
	case ARGP_KEY_ARG:
		argp_error(state, "unexpected argument '%s'", arg);
		return EINVAL;
	default:
		return ARGP_ERR_UNKNOWN;
	}
}

static const struct argp_option options[] = {
	{ "json", 'j', NULL, 0, "Print {\"version\",\"protocol\"} as JSON", 0 },
	{ 0 }
};

static const struct argp argp = {
	options, parse_opt, NULL,
	"Print the version of xmig and of its control protocol.", NULL, NULL, NULL
};

static int run(int argc, char **argv)
{
	struct version_opts o = { 0 };

	if (cmd_parse(&argp, argc, argv, &o, NULL) < 0)
		return XMIG_EXIT_USAGE;
	if (o.json)
		cmd_print_json(json_pack("{s:s, s:i}", "version", XMIG_VERSION,
					 "protocol", XMIG_PROTOCOL));
	else
		printf("xmig %s (control protocol %d)\n", XMIG_VERSION, XMIG_PROTOCOL);
	return XMIG_EXIT_OK;
}

const struct xmig_cmd cmd_version = { "version", "print the version", run };
