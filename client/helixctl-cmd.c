/*
 * helixctl-cmd.c: the commands of helixctl, one handler each, and their
 * table.
 *
 * By the time a handler runs, helixctl.c has checked the arity and parsed
 * the options; what is left is turning the arguments into params, one
 * call, and printing the result: as one JSON line with --json, else in a
 * form for people (helixctl-print.c).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/helixctl.h"

typedef void (*cmd_print_fn)(const json_t *);

/* Call and print: the tail of nearly every command. */
static int
cmd_call_print(struct helixctl *h, const char *method, json_t *params,
    cmd_print_fn print)
{
	json_t	*result;
	int	 rv;

	if ((rv = helixctl_call(h, method, params, &result)) != HC_OK)
		return (rv);
	if (h->json)
		print_json_line(result);
	else
		print(result);
	json_decref(result);
	return (HC_OK);
}

/* Out of memory is not worth a status of its own: an error, said once. */
static int
cmd_nomem(json_t *j)
{
	json_decref(j);
	helixctl_warn("out of memory");
	return (HC_ERROR);
}

/* [FLOW]: the params of the commands that name a flow and nothing else. */
static int
cmd_flow_params(const struct cmd_entry *cmd, struct cmd_args *a,
    json_t **params)
{
	json_t	*flow;
	int	 rv = HC_OK;

	if ((flow = helixctl_string(cmd, "FLOW", a->argv[0], &rv)) == NULL)
		return (rv);
	if ((*params = json_pack("[o]", flow)) == NULL)
		return (cmd_nomem(NULL));
	return (HC_OK);
}

/* Append v (consumed) to params; on failure params is freed. */
static int
cmd_append(json_t *params, json_t *v)
{
	if (v == NULL || json_array_append_new(params, v) == -1)
		return (cmd_nomem(params));
	return (HC_OK);
}

static int
cmd_flow_call(struct helixctl *h, const struct cmd_entry *cmd,
    struct cmd_args *a, const char *method, cmd_print_fn print)
{
	json_t	*params;
	int	 rv;

	if ((rv = cmd_flow_params(cmd, a, &params)) != HC_OK)
		return (rv);
	return (cmd_call_print(h, method, params, print));
}

static void
cmd_print_new_version(const json_t *result)
{
	printf("version %" JSON_INTEGER_FORMAT "\n",
	    json_integer_value(json_object_get(result, "version")));
}

/* flow.apply [FLOW, ops, base?]; ops is consumed. */
static int
cmd_apply_ops(struct helixctl *h, const struct cmd_entry *cmd,
    struct cmd_args *a, json_t *ops)
{
	json_t	*params;
	int	 rv;

	if (ops == NULL)
		return (cmd_nomem(NULL));
	if ((rv = cmd_flow_params(cmd, a, &params)) != HC_OK) {
		json_decref(ops);
		return (rv);
	}
	if ((rv = cmd_append(params, ops)) != HC_OK)
		return (rv);
	if ((a->flags & CMD_OPT_BASE) &&
	    (rv = cmd_append(params, json_integer(a->base))) != HC_OK)
		return (rv);
	return (cmd_call_print(h, "flow.apply", params,
	    cmd_print_new_version));
}

static int
cmd_ping(struct helixctl *h, const struct cmd_entry *cmd, struct cmd_args *a)
{
	return (cmd_call_print(h, "sys.ping", json_array(), print_scalar));
}

static void
cmd_print_version_map(const json_t *result)
{
	print_map(result);
	printf("client_version: %s\n", HELIX_VERSION);
}

static int
cmd_version(struct helixctl *h, const struct cmd_entry *cmd,
    struct cmd_args *a)
{
	return (cmd_call_print(h, "sys.version", json_array(),
	    cmd_print_version_map));
}

static int
cmd_get(struct helixctl *h, const struct cmd_entry *cmd, struct cmd_args *a)
{
	return (cmd_flow_call(h, cmd, a, "flow.get", print_flow));
}

static int
cmd_apply(struct helixctl *h, const struct cmd_entry *cmd, struct cmd_args *a)
{
	json_error_t	 jerr;
	json_t		*ops;
	const char	*what;

	if (strcmp(a->argv[1], "-") == 0) {
		what = "standard input";
		ops = json_loadf(stdin, JSON_REJECT_DUPLICATES, &jerr);
	} else {
		what = "OPS_JSON";
		ops = json_loads(a->argv[1], JSON_REJECT_DUPLICATES, &jerr);
	}
	if (ops == NULL)
		return (helixctl_usage(cmd, "%s: %s (line %d, column %d)",
		    what, jerr.text, jerr.line, jerr.column));
	if (!json_is_array(ops)) {
		json_decref(ops);
		return (helixctl_usage(cmd, "%s is not a JSON array of ops",
		    what));
	}
	return (cmd_apply_ops(h, cmd, a, ops));
}

static int
cmd_status(struct helixctl *h, const struct cmd_entry *cmd,
    struct cmd_args *a)
{
	return (cmd_flow_call(h, cmd, a, "flow.status", print_map));
}

static int
cmd_list(struct helixctl *h, const struct cmd_entry *cmd, struct cmd_args *a)
{
	json_t	*params;

	if (a->flags & CMD_OPT_ALL)
		params = json_pack("[{s:b}]", "all", 1);
	else
		params = json_array();
	return (cmd_call_print(h, "flow.list", params, print_list));
}

static int
cmd_close(struct helixctl *h, const struct cmd_entry *cmd, struct cmd_args *a)
{
	return (cmd_flow_call(h, cmd, a, "flow.close", print_map));
}

static int
cmd_delete(struct helixctl *h, const struct cmd_entry *cmd,
    struct cmd_args *a)
{
	return (cmd_flow_call(h, cmd, a, "flow.delete", print_map));
}

static int
cmd_history(struct helixctl *h, const struct cmd_entry *cmd,
    struct cmd_args *a)
{
	json_t	*params;
	int64_t	 since;
	int	 rv;

	if (helixctl_parse_uint(a->argv[1], &since) == -1)
		return (helixctl_usage(cmd, "bad version for SINCE: %s",
		    a->argv[1]));
	if ((rv = cmd_flow_params(cmd, a, &params)) != HC_OK ||
	    (rv = cmd_append(params, json_integer(since))) != HC_OK)
		return (rv);
	return (cmd_call_print(h, "flow.history", params, print_history));
}

static int
cmd_inspect(struct helixctl *h, const struct cmd_entry *cmd,
    struct cmd_args *a)
{
	return (cmd_flow_call(h, cmd, a, "session.inspect", print_map));
}

static int
cmd_kill(struct helixctl *h, const struct cmd_entry *cmd, struct cmd_args *a)
{
	json_t	*params, *sig = NULL;
	int64_t	 n;
	int	 rv = HC_OK;

	/* A number goes as one; a name is the server's to check. */
	if (a->argc > 1) {
		if (helixctl_parse_uint(a->argv[1], &n) == 0)
			sig = json_integer(n);
		else
			sig = helixctl_string(cmd, "SIGNAL", a->argv[1], &rv);
		if (sig == NULL)
			return (rv != HC_OK ? rv : cmd_nomem(NULL));
	}
	if ((rv = cmd_flow_params(cmd, a, &params)) != HC_OK) {
		json_decref(sig);
		return (rv);
	}
	if (sig != NULL && (rv = cmd_append(params, sig)) != HC_OK)
		return (rv);
	return (cmd_call_print(h, "session.kill", params, print_map));
}

static int
cmd_stats(struct helixctl *h, const struct cmd_entry *cmd, struct cmd_args *a)
{
	return (cmd_call_print(h, "sys.stats", json_array(), print_stats));
}

static int
cmd_watch(struct helixctl *h, const struct cmd_entry *cmd, struct cmd_args *a)
{
	json_t	*params;
	int	 rv;

	if ((rv = cmd_flow_params(cmd, a, &params)) != HC_OK)
		return (rv);
	/* [FLOW, client_id (nil: the server chooses), since_version]. */
	if ((a->flags & CMD_OPT_SINCE) &&
	    ((rv = cmd_append(params, json_null())) != HC_OK ||
	    (rv = cmd_append(params, json_integer(a->since))) != HC_OK))
		return (rv);
	return (stream_watch(h, a->argv[0], params));
}

static int
cmd_events(struct helixctl *h, const struct cmd_entry *cmd,
    struct cmd_args *a)
{
	json_t	*params, *prefixes, *p;
	int	 i, rv = HC_OK;

	/* No prefix: [], every event; else [[PREFIX, ...]]. */
	if ((params = json_array()) == NULL)
		return (cmd_nomem(NULL));
	if (a->argc > 0) {
		if ((prefixes = json_array()) == NULL)
			return (cmd_nomem(params));
		for (i = 0; i < a->argc; i++) {
			if ((p = helixctl_string(cmd, "PREFIX", a->argv[i],
			    &rv)) == NULL) {
				json_decref(prefixes);
				json_decref(params);
				return (rv);
			}
			if ((rv = cmd_append(prefixes, p)) != HC_OK) {
				json_decref(params);
				return (rv);
			}
		}
		if ((rv = cmd_append(params, prefixes)) != HC_OK)
			return (rv);
	}
	return (stream_events(h, params));
}

static void
cmd_print_nothing(const json_t *result)
{
}

static int
cmd_shutdown(struct helixctl *h, const struct cmd_entry *cmd,
    struct cmd_args *a)
{
	return (cmd_call_print(h, "sys.shutdown", json_array(),
	    cmd_print_nothing));
}

/* A string argument of a convenience verb: its JSON key and its name. */
struct cmd_field {
	const char	*key;
	const char	*what;
};

/*
 * The op of a convenience verb: {"op": op, key: {fields}} or, with key
 * NULL, {"op": op, fields...}.  The fields are the arguments after FLOW, in
 * order, then, with xy, "x" and "y" from the two that follow.
 */
static int
cmd_verb(struct helixctl *h, const struct cmd_entry *cmd, struct cmd_args *a,
    const char *op, const char *key, const struct cmd_field *fields, bool xy)
{
	json_t		*obj, *s, *o;
	double		 x = 0, y = 0;
	int		 i, rv = HC_OK;

	for (i = 0; fields[i].key != NULL; i++)
		;
	if (xy && helixctl_parse_coord(a->argv[i + 1], &x) == -1)
		return (helixctl_usage(cmd, "bad number for X: %s",
		    a->argv[i + 1]));
	if (xy && helixctl_parse_coord(a->argv[i + 2], &y) == -1)
		return (helixctl_usage(cmd, "bad number for Y: %s",
		    a->argv[i + 2]));

	/* {"op": ...} first: it reads better in watch and history. */
	if ((obj = json_object()) == NULL ||
	    (key == NULL && json_object_set_new(obj, "op",
	    json_string(op)) == -1))
		return (cmd_nomem(obj));
	for (i = 0; fields[i].key != NULL; i++) {
		if ((s = helixctl_string(cmd, fields[i].what, a->argv[i + 1],
		    &rv)) == NULL) {
			json_decref(obj);
			return (rv);
		}
		if (json_object_set_new(obj, fields[i].key, s) == -1)
			return (cmd_nomem(obj));
	}
	if (xy && (json_object_set_new(obj, "x", json_real(x)) == -1 ||
	    json_object_set_new(obj, "y", json_real(y)) == -1))
		return (cmd_nomem(obj));

	o = key != NULL ? json_pack("{s:s, s:o}", "op", op, key, obj) : obj;
	return (cmd_apply_ops(h, cmd, a, o == NULL ? NULL :
	    json_pack("[o]", o)));
}

static const struct cmd_field cmd_id[] = {
	{ "id", "ID" }, { NULL, NULL },
};

static int
cmd_add_node(struct helixctl *h, const struct cmd_entry *cmd,
    struct cmd_args *a)
{
	static const struct cmd_field	fields[] = {
		{ "id", "ID" }, { "type", "TYPE" }, { NULL, NULL },
	};

	return (cmd_verb(h, cmd, a, "add_node", "node", fields, true));
}

static int
cmd_move_node(struct helixctl *h, const struct cmd_entry *cmd,
    struct cmd_args *a)
{
	return (cmd_verb(h, cmd, a, "update_node", NULL, cmd_id, true));
}

static int
cmd_remove_node(struct helixctl *h, const struct cmd_entry *cmd,
    struct cmd_args *a)
{
	return (cmd_verb(h, cmd, a, "remove_node", NULL, cmd_id, false));
}

static int
cmd_add_edge(struct helixctl *h, const struct cmd_entry *cmd,
    struct cmd_args *a)
{
	static const struct cmd_field	fields[] = {
		{ "id", "ID" }, { "source", "SOURCE" }, { "target", "TARGET" },
		{ NULL, NULL },
	};

	return (cmd_verb(h, cmd, a, "add_edge", "edge", fields, false));
}

static int
cmd_remove_edge(struct helixctl *h, const struct cmd_entry *cmd,
    struct cmd_args *a)
{
	return (cmd_verb(h, cmd, a, "remove_edge", NULL, cmd_id, false));
}

const struct cmd_entry cmd_table[] = {
	{ "ping", 0, 0, 0, "",
	  "check that helixd answers",
	  "Check that helixd answers; prints pong.", cmd_ping },
	{ "version", 0, 0, 0, "",
	  "print server and client versions",
	  "Print the version of helixd, of its protocol and of helixctl.",
	  cmd_version },
	{ "get", 1, 1, 0, "FLOW",
	  "print the flow document",
	  "Print the flow document: its fields, then its nodes and edges.",
	  cmd_get },
	{ "apply", 2, 2, CMD_OPT_BASE, "FLOW OPS_JSON|- [--base N]",
	  "apply a JSON array of ops",
	  "Apply a JSON array of ops atomically and print the new version."
	  "  With -, the array is read from standard input.  With --base N,"
	  " nothing is applied unless the flow is at version N.", cmd_apply },
	{ "status", 1, 1, 0, "FLOW",
	  "print the flow's status",
	  "Print the status of the flow's session, without starting one.",
	  cmd_status },
	{ "list", 0, 0, CMD_OPT_ALL, "[--all]",
	  "list live sessions, or --all flows",
	  "List the live sessions; with --all, also the flows that exist"
	  " only on disk.", cmd_list },
	{ "close", 1, 1, 0, "FLOW",
	  "stop the flow's session",
	  "Stop the flow's session; its state stays on disk.  Its watchers"
	  " receive flow.closed.", cmd_close },
	{ "delete", 1, 1, 0, "FLOW",
	  "erase the flow's state and history",
	  "Erase the flow's stored state and history; it starts again at"
	  " version 0.", cmd_delete },
	{ "history", 2, 2, 0, "FLOW SINCE",
	  "print updates after version SINCE",
	  "Print the retained updates with a version above SINCE, oldest"
	  " first.", cmd_history },
	{ "inspect", 1, 1, 0, "FLOW",
	  "print the flow's session process",
	  "Print the details of the flow's session process: pid, state,"
	  " restarts, queue, memory, clients.", cmd_inspect },
	{ "kill", 1, 2, 0, "FLOW [SIGNAL]",
	  "signal the flow's worker (KILL)",
	  "Send SIGNAL to the flow's worker process: a name without SIG, or"
	  " a number; KILL by default.  helixd restarts the worker as after"
	  " any crash.", cmd_kill },
	{ "stats", 0, 0, 0, "",
	  "print counters and method latencies",
	  "Print the counters of helixd, then the latency of each method in"
	  " microseconds.", cmd_stats },
	{ "watch", 1, 1, CMD_OPT_SINCE, "FLOW [--since N]",
	  "print the flow's notifications",
	  "Join the flow and print each notification as a JSON line, until"
	  " interrupted (status 0) or the flow is closed (status 0, the"
	  " flow.closed line last).  With --since N, the updates after"
	  " version N come first.", cmd_watch },
	{ "events", 0, -1, 0, "[PREFIX ...]",
	  "print telemetry events",
	  "Print helixd's telemetry events whose names start with a PREFIX"
	  " (all without one) as JSON lines, until interrupted (status 0).",
	  cmd_events },
	{ "shutdown", 0, 0, 0, "",
	  "stop helixd gracefully",
	  "Stop helixd gracefully, as SIGTERM does.", cmd_shutdown },
	{ "add-node", 5, 5, CMD_OPT_BASE, "FLOW ID TYPE X Y [--base N]",
	  "add a node",
	  "Add a node of type TYPE at X, Y and print the new version.",
	  cmd_add_node },
	{ "move-node", 4, 4, CMD_OPT_BASE, "FLOW ID X Y [--base N]",
	  "move a node",
	  "Move a node to X, Y and print the new version.", cmd_move_node },
	{ "remove-node", 2, 2, CMD_OPT_BASE, "FLOW ID [--base N]",
	  "remove a node and its edges",
	  "Remove a node and its edges and print the new version.",
	  cmd_remove_node },
	{ "add-edge", 4, 4, CMD_OPT_BASE, "FLOW ID SOURCE TARGET [--base N]",
	  "add an edge from SOURCE to TARGET",
	  "Add an edge from node SOURCE to node TARGET and print the new"
	  " version.", cmd_add_edge },
	{ "remove-edge", 2, 2, CMD_OPT_BASE, "FLOW ID [--base N]",
	  "remove an edge",
	  "Remove an edge and print the new version.", cmd_remove_edge },
	{ NULL, 0, 0, 0, NULL, NULL, NULL, NULL },
};
