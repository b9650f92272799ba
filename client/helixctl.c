/*
 * helixctl.c: the command-line client of helixd.
 *
 *	helixctl [-s PATH] [--json] [--timeout MS] COMMAND [ARG ...]
 *
 * The checks every command shares live here, once: the global options, the
 * lookup in cmd_table, arity, the command's options and the numbers they
 * take, --help.  A command is refused with a usage error (exit 2) before
 * anything is sent.  Exit statuses are enum hc_status: 0 ok, 1 the server
 * answered an error, 2 usage, 3 no connection, 4 no answer in time.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/helixctl.h"

#define HELIXCTL_SYNOPSIS \
	"helixctl [-s PATH] [--json] [--timeout MS] COMMAND [ARG ...]"

/* Options that may follow the command: its own, and the global long ones. */
struct helixctl_option {
	const char	*name;
	int		 flag;		/* CMD_OPT_*, or 0 for a global one */
	bool		 value;		/* takes a value */
};

static const struct helixctl_option helixctl_options[] = {
	{ "base",	CMD_OPT_BASE,	true },
	{ "all",	CMD_OPT_ALL,	false },
	{ "since",	CMD_OPT_SINCE,	true },
	{ "json",	0,		false },
	{ "socket",	0,		true },
	{ "timeout",	0,		true },
	{ NULL,		0,		false },
};

void
helixctl_warn(const char *fmt, ...)
{
	va_list	ap;

	fflush(stdout);
	fputs("helixctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static void
helixctl_usage_line(FILE *f, const struct cmd_entry *cmd)
{
	if (cmd == NULL)
		fprintf(f, "usage: %s\n", HELIXCTL_SYNOPSIS);
	else
		fprintf(f, "usage: helixctl %s%s%s\n", cmd->name,
		    cmd->usage[0] != '\0' ? " " : "", cmd->usage);
}

/* A usage error: why, then the usage line of the command (or helixctl's). */
int
helixctl_usage(const struct cmd_entry *cmd, const char *fmt, ...)
{
	va_list	ap;

	fflush(stdout);
	fputs("helixctl: ", stderr);
	if (cmd != NULL)
		fprintf(stderr, "%s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	helixctl_usage_line(stderr, cmd);
	return (HC_EUSAGE);
}

/* The width of "add-edge FLOW ID SOURCE TARGET [--base N]". */
#define HELIXCTL_HELP_COLUMN	41

static void
helixctl_help(void)
{
	const struct cmd_entry	*cmd;
	char			 line[128];

	printf("usage: %s\n", HELIXCTL_SYNOPSIS);
	printf("       helixctl [COMMAND] --help\n\ncommands:\n");
	for (cmd = cmd_table; cmd->name != NULL; cmd++) {
		snprintf(line, sizeof line, "%s%s%s", cmd->name,
		    cmd->usage[0] != '\0' ? " " : "", cmd->usage);
		printf("  %-*s %s\n", HELIXCTL_HELP_COLUMN, line, cmd->summary);
	}
	printf("\noptions:\n");
	printf("  %-*s %s\n", HELIXCTL_HELP_COLUMN, "-s, --socket PATH",
	    "helixd's socket ($HELIX_SOCKET)");
	printf("  %-*s %s\n", HELIXCTL_HELP_COLUMN, "-j, --json",
	    "print results as JSON lines");
	printf("  %-*s %s\n", HELIXCTL_HELP_COLUMN, "-t, --timeout MS",
	    "answer timeout, ms (10000; 0: none)");
	printf("  %-*s %s\n", HELIXCTL_HELP_COLUMN, "-V, --version",
	    "print helixctl's version");
	printf("\nexit status: 0 ok, 1 error from helixd, 2 usage,"
	    " 3 no connection, 4 timed out\n");
}

/* COMMAND --help: the usage, then the help wrapped at 72 columns. */
static void
helixctl_cmd_help(const struct cmd_entry *cmd)
{
	const char	*p = cmd->help, *end, *brk;
	size_t		 width = 72;

	helixctl_usage_line(stdout, cmd);
	putchar('\n');
	while (*p != '\0') {
		end = p + strlen(p);
		if ((size_t)(end - p) > width) {
			for (brk = p + width; brk > p && *brk != ' '; brk--)
				;
			if (brk > p)
				end = brk;
		}
		printf("%.*s\n", (int)(end - p), p);
		for (p = end; *p == ' '; p++)
			;
	}
}

/* A version or a count: decimal digits only, at most INT64_MAX. */
int
helixctl_parse_uint(const char *s, int64_t *out)
{
	char			*end;
	unsigned long long	 v;

	if (s[0] < '0' || s[0] > '9')
		return (-1);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > INT64_MAX)
		return (-1);
	*out = (int64_t)v;
	return (0);
}

/* A coordinate: a finite decimal number, "-12", "3.5", "1e3". */
int
helixctl_parse_coord(const char *s, double *out)
{
	char	*end;
	double	 v;

	if (s[0] == '\0' || strspn(s, "0123456789+-.eE") != strlen(s))
		return (-1);
	errno = 0;
	v = strtod(s, &end);
	if (errno == ERANGE && fabs(v) > 1)
		return (-1);
	if (end == s || *end != '\0' || !isfinite(v))
		return (-1);
	*out = v;
	return (0);
}

/* An argument as a JSON string; NULL and *rv = usage when not UTF-8. */
json_t *
helixctl_string(const struct cmd_entry *cmd, const char *what, const char *s,
    int *rv)
{
	json_t	*j;

	if ((j = json_string(s)) == NULL)
		*rv = helixctl_usage(cmd, "%s is not valid UTF-8", what);
	return (j);
}

int
helixctl_connect(struct helixctl *h)
{
	char	err[512];

	if (h->client != NULL)
		return (HC_OK);
	if ((h->client = hc_connect(h->socket, err, sizeof err)) == NULL) {
		helixctl_warn("%s", err);
		return (HC_ECONN);
	}
	return (HC_OK);
}

/*
 * One request: params (a JSON array, consumed) to method.  On HC_OK the
 * result goes to *result, else the reason goes to stderr.
 */
int
helixctl_call(struct helixctl *h, const char *method, json_t *params,
    json_t **result)
{
	struct hc_result	 r;
	const json_t		*msg;
	int			 rv;

	*result = NULL;
	if (params == NULL) {
		helixctl_warn("out of memory");
		return (HC_ERROR);
	}
	if ((rv = helixctl_connect(h)) != HC_OK) {
		json_decref(params);
		return (rv);
	}
	rv = hc_call(h->client, method, params, h->timeout_ms, &r);
	json_decref(params);
	switch (rv) {
	case HC_OK:
		*result = r.value;
		r.value = NULL;
		break;
	case HC_ERROR:
		/* The whole message: r.message is cut at 255 bytes. */
		msg = json_object_get(r.value, "message");
		helixctl_warn("%s: %s", r.code[0] != '\0' ? r.code : "error",
		    json_is_string(msg) ? json_string_value(msg) : r.message);
		break;
	default:
		helixctl_warn("%s", r.message[0] != '\0' ? r.message :
		    hc_last_error(h->client));
		break;
	}
	hc_result_clear(&r);
	return (rv);
}

/* Everything is written, or the status says it was not. */
int
helixctl_output(int rv)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		helixctl_warn("writing the output: %s", strerror(errno));
		if (rv == HC_OK)
			rv = HC_ERROR;
	}
	return (rv);
}

static int
helixctl_timeout(const struct cmd_entry *cmd, const char *s, int *out)
{
	int64_t	v;

	if (helixctl_parse_uint(s, &v) == -1 || v > INT_MAX)
		return (helixctl_usage(cmd, "bad timeout (milliseconds,"
		    " 0 for none): %s", s));
	*out = v == 0 ? -1 : (int)v;
	return (HC_OK);
}

static int
helixctl_option_value(struct helixctl *h, const struct cmd_entry *cmd,
    const struct helixctl_option *o, const char *value, struct cmd_args *a)
{
	int64_t	v;

	if (strcmp(o->name, "socket") == 0) {
		h->socket = value;
		return (HC_OK);
	}
	if (strcmp(o->name, "timeout") == 0)
		return (helixctl_timeout(cmd, value, &h->timeout_ms));
	if (helixctl_parse_uint(value, &v) == -1)
		return (helixctl_usage(cmd, "bad number for --%s: %s", o->name,
		    value));
	if (o->flag == CMD_OPT_BASE)
		a->base = v;
	else
		a->since = v;
	return (HC_OK);
}

/*
 * After the command, an argument that starts with "--" is an option (so a
 * negative coordinate is not), until "--".  The global long options may be
 * given here too: "helixctl inspect F --json".
 */
static int
helixctl_parse_args(struct helixctl *h, const struct cmd_entry *cmd,
    int argc, char **argv, struct cmd_args *a)
{
	const struct helixctl_option	*o;
	const char			*arg, *eq, *value;
	size_t				 len;
	bool				 done = false;
	int				 i, rv;

	memset(a, 0, sizeof *a);
	if ((a->argv = calloc((size_t)argc + 1, sizeof *a->argv)) == NULL) {
		helixctl_warn("out of memory");
		return (HC_ERROR);
	}
	for (i = 0; i < argc; i++) {
		arg = argv[i];
		if (done || strncmp(arg, "--", 2) != 0) {
			a->argv[a->argc++] = argv[i];
			continue;
		}
		if (arg[2] == '\0') {
			done = true;
			continue;
		}
		eq = strchr(arg + 2, '=');
		len = eq != NULL ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		for (o = helixctl_options; o->name != NULL; o++) {
			if (strlen(o->name) == len &&
			    strncmp(o->name, arg + 2, len) == 0)
				break;
		}
		if (o->name == NULL || (o->flag != 0 &&
		    (cmd->options & o->flag) == 0))
			return (helixctl_usage(cmd, "unknown option: %.*s",
			    (int)len + 2, arg));
		if (!o->value) {
			if (eq != NULL)
				return (helixctl_usage(cmd, "--%s takes no"
				    " value", o->name));
			if (o->flag == 0)
				h->json = true;
			a->flags |= o->flag;
			continue;
		}
		if (eq != NULL)
			value = eq + 1;
		else if (i + 1 < argc)
			value = argv[++i];
		else
			return (helixctl_usage(cmd, "--%s needs a value",
			    o->name));
		if ((rv = helixctl_option_value(h, cmd, o, value, a)) != HC_OK)
			return (rv);
		a->flags |= o->flag;
	}
	if (a->argc < cmd->lower)
		return (helixctl_usage(cmd, "too few arguments"));
	if (cmd->upper >= 0 && a->argc > cmd->upper)
		return (helixctl_usage(cmd, "too many arguments"));
	return (HC_OK);
}

static bool
helixctl_wants_help(int argc, char **argv)
{
	int	i;

	for (i = 0; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--help") == 0 ||
		    strcmp(argv[i], "-h") == 0)
			return (true);
	}
	return (false);
}

int
main(int argc, char **argv)
{
	static const struct option	 longopts[] = {
		{ "socket",	required_argument,	NULL,	's' },
		{ "json",	no_argument,		NULL,	'j' },
		{ "timeout",	required_argument,	NULL,	't' },
		{ "help",	no_argument,		NULL,	'h' },
		{ "version",	no_argument,		NULL,	'V' },
		{ NULL,		0,			NULL,	0 },
	};
	struct helixctl			 h;
	const struct cmd_entry		*cmd;
	struct cmd_args			 a;
	int				 ch, rv;

	memset(&h, 0, sizeof h);
	h.timeout_ms = HELIXCTL_TIMEOUT_MS;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+s:jt:hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 's':
			h.socket = optarg;
			break;
		case 'j':
			h.json = true;
			break;
		case 't':
			if (helixctl_timeout(NULL, optarg, &h.timeout_ms) !=
			    HC_OK)
				return (HC_EUSAGE);
			break;
		case 'h':
			helixctl_help();
			return (helixctl_output(HC_OK));
		case 'V':
			printf("helixctl %s\n", HELIX_VERSION);
			return (helixctl_output(HC_OK));
		default:
			if (optopt != 0 && strchr("st", optopt) != NULL)
				return (helixctl_usage(NULL, "-%c needs a"
				    " value", optopt));
			if (optopt != 0)
				return (helixctl_usage(NULL, "unknown option:"
				    " -%c", optopt));
			return (helixctl_usage(NULL, "unknown option: %s",
			    argv[optind - 1]));
		}
	}
	argc -= optind;
	argv += optind;
	if (argc == 0)
		return (helixctl_usage(NULL, "no command"));
	for (cmd = cmd_table; cmd->name != NULL; cmd++) {
		if (strcmp(cmd->name, argv[0]) == 0)
			break;
	}
	if (cmd->name == NULL)
		return (helixctl_usage(NULL, "unknown command: %s", argv[0]));
	if (helixctl_wants_help(argc - 1, argv + 1)) {
		helixctl_cmd_help(cmd);
		return (helixctl_output(HC_OK));
	}

	rv = helixctl_parse_args(&h, cmd, argc - 1, argv + 1, &a);
	if (rv == HC_OK)
		rv = cmd->exec(&h, cmd, &a);
	free(a.argv);
	hc_close(h.client);
	return (helixctl_output(rv));
}
