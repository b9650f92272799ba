/*
 * test_daemon.c: helixd and helix-worker as built, against the contract
 * (../shared/PROTOCOL.md, man/helix-protocol.7), driven like a user does:
 * through libhelix-client, and with raw bytes where the test is about the
 * wire.  Each test starts its own daemon in a fresh directory (harness.c)
 * and, where the test is not about dying, ends by stopping it with SIGTERM
 * and checking it exits 0.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tests/integration/harness.h"

#define NELEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* "EXPR: got X, want Y" */
#define EXPECT_EQ(got, want) do {					\
	long long g_ = (long long)(got), w_ = (long long)(want);	\
	ck_assert_msg(g_ == w_, "%s: got %lld, want %lld", #got, g_, w_); \
} while (0)

static const char *const contract_methods[] = {
	"sys.ping", "sys.version", "flow.join", "flow.leave", "flow.get",
	"flow.apply", "flow.history", "flow.status", "flow.list",
	"flow.close", "flow.delete", "session.inspect", "session.kill",
	"sys.stats", "sys.subscribe", "sys.shutdown",
};

static const char *const states[] = {
	"starting", "running", "restarting", "failed", "stopping",
	"hibernated",
};

/* ---- helpers ------------------------------------------------------------ */

static double
unix_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Stop with SIGTERM: exit status 0 wanted. */
static void
finish(struct hd *d)
{
	int st = h_stop(d);

	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "helixd after SIGTERM: got %s, want exit status 0; log:\n%s",
	    h_status_text(st), h_log_tail(d));
}

/* flow.apply that must succeed: the version it reports. */
static json_int_t
apply(struct hc_client *c, const char *flow, const char *ops)
{
	json_t		*r = h_ok(c, "flow.apply", "[\"%s\", %s]", flow, ops);
	json_int_t	 v = h_int(r, "version");

	json_decref(r);
	return v;
}

/* One add_node op, as JSON text (static buffer, rotating). */
static const char *
node_op(const char *id)
{
	static char	buf[4][256];
	static int	i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "{\"op\": \"add_node\", \"node\": "
	    "{\"id\": \"%s\", \"type\": \"t\", \"x\": 1, \"y\": 2}}", id);
	return buf[i];
}

static void
expect_doc(struct hc_client *c, const char *flow, const char *want)
{
	json_t	*doc = h_ok(c, "flow.get", "[\"%s\"]", flow);
	char	 what[192];

	snprintf(what, sizeof(what), "flow.get %s", flow);
	h_expect(what, doc, want);
	json_decref(doc);
}

static bool
is_state(const char *s)
{
	size_t i;

	for (i = 0; i < NELEMS(states); i++)
		if (strcmp(s, states[i]) == 0)
			return true;
	return false;
}

/* The status map of the contract, for flow_id. */
static void
check_status_map(const json_t *st, const char *flow)
{
	char *d = h_dump(st);

	ck_assert_msg(json_is_object(st), "status: got %s, want a map", d);
	ck_assert_msg(strcmp(h_str(st, "flow_id"), flow) == 0,
	    "status flow_id: got %s, want %s", d, flow);
	h_bool(st, "active");
	ck_assert_msg(is_state(h_str(st, "state")),
	    "status state: got %s, want one of starting running restarting "
	    "failed stopping hibernated", d);
	ck_assert_msg(h_int(st, "client_count") >= 0, "client_count: got %s", d);
	ck_assert_msg(h_int(st, "version") >= 0, "version: got %s", d);
	h_num(st, "last_activity");
	ck_assert_msg(h_int(st, "restarts") >= 0, "restarts: got %s", d);
	free(d);
}

/* The element of a flow.list answer with flow_id, or NULL. */
static const json_t *
list_find(const json_t *list, const char *flow)
{
	const json_t	*e;
	size_t		 i;

	json_array_foreach(list, i, e) {
		const json_t *id = json_object_get(e, "flow_id");

		if (json_is_string(id) && strcmp(json_string_value(id), flow) == 0)
			return e;
	}
	return NULL;
}

struct listed_arg {
	struct hc_client	*c;
	const char		*flow;
	const char		*params;
	bool			 want;
};

static bool
listed_is(void *arg)
{
	struct listed_arg	*a = arg;
	json_t			*l = h_ok(a->c, "flow.list", "%s", a->params);
	bool			 found = list_find(l, a->flow) != NULL;

	json_decref(l);
	return found == a->want;
}

struct pid_arg {
	struct hc_client	*c;
	const char		*flow;
};

static bool
pid_is_nil(void *arg)
{
	struct pid_arg *a = arg;

	return h_worker_pid(a->c, a->flow) == 0;
}

struct count_arg {
	struct hc_client	*c;
	const char		*flow;
	json_int_t		 n;
};

/* flow.status's client_count is n. */
static bool
count_is(void *arg)
{
	struct count_arg	*a = arg;
	json_t			*st = h_ok(a->c, "flow.status", "[\"%s\"]",
				    a->flow);
	bool			 eq = h_int(st, "client_count") == a->n;

	json_decref(st);
	return eq;
}

/* The next sys.event named name (others skipped), or abort. */
static json_t *
wait_event(struct hc_client *c, const char *name)
{
	json_t		*ev;
	const char	*n;

	for (;;) {
		ev = h_next(c, "sys.event", H_EVENT_MS);
		ck_assert_msg(ev != NULL, "subscriber: got no sys.event %s "
		    "within %d ms", name, H_EVENT_MS);
		ck_assert_msg(json_is_array(ev) && json_array_size(ev) == 3 &&
		    json_is_string(json_array_get(ev, 0)) &&
		    json_is_object(json_array_get(ev, 1)) &&
		    json_is_object(json_array_get(ev, 2)), "sys.event: got %s, "
		    "want [name, measurements, metadata]", h_dump(ev));
		n = json_string_value(json_array_get(ev, 0));
		if (strcmp(n, name) == 0)
			return ev;
		json_decref(ev);
	}
}

/* flow.status's active is false. */
static bool
inactive(void *arg)
{
	struct pid_arg	*a = arg;
	json_t		*st = h_ok(a->c, "flow.status", "[\"%s\"]", a->flow);
	bool		 off = !h_bool(st, "active");

	json_decref(st);
	return off;
}

static bool
pid_dead(void *arg)
{
	return !h_pid_alive(*(pid_t *)arg);
}

/* ---- sys.* --------------------------------------------------------------- */

START_TEST(test_sys_ping_version)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	json_t			*r;

	r = h_ok(c, "sys.ping", NULL);
	h_expect("sys.ping", r, "\"pong\"");
	json_decref(r);
	r = h_ok(c, "sys.version", NULL);
	ck_assert_msg(strlen(h_str(r, "version")) > 0,
	    "sys.version version: got \"\", want a version");
	ck_assert_msg(h_int(r, "protocol") == 1,
	    "sys.version protocol: got %lld, want 1", h_int(r, "protocol"));
	json_decref(r);
	hc_close(c);
	finish(d);
}
END_TEST

START_TEST(test_sys_stats)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d), *c2 = h_connect(d);
	static const char *const keys[] = {
		"sessions_live", "sessions_started_total",
		"session_restarts_total", "session_crashes_total",
		"connections", "requests_total", "errors_total",
	};
	json_t		*s0, *s1, *m, *e;
	json_int_t	 p50, p99, max;
	size_t		 i;
	int		 n;

	s0 = h_ok(c, "sys.stats", NULL);
	for (i = 0; i < NELEMS(keys); i++)
		ck_assert_msg(h_int(s0, keys[i]) >= 0, "%s: got %lld, want >= 0",
		    keys[i], h_int(s0, keys[i]));
	ck_assert_msg(h_int(s0, "connections") >= 2,
	    "connections: got %lld, want >= 2 (two are open)",
	    h_int(s0, "connections"));
	m = json_object_get(s0, "methods");
	for (i = 0; i < NELEMS(contract_methods); i++) {
		e = json_object_get(m, contract_methods[i]);
		ck_assert_msg(json_is_object(e),
		    "methods.%s: missing from sys.stats", contract_methods[i]);
		h_int(e, "count");
		p50 = h_int(e, "p50_us");
		p99 = h_int(e, "p99_us");
		max = h_int(e, "max_us");
		ck_assert_msg(0 <= p50 && p50 <= p99 && p99 <= max,
		    "methods.%s: got p50 %lld p99 %lld max %lld, want "
		    "0 <= p50 <= p99 <= max", contract_methods[i], p50, p99, max);
	}

	/* Counters move with the traffic. */
	for (n = 0; n < 10; n++)
		json_decref(h_ok(c, "sys.ping", NULL));
	json_decref(h_err(c, "unknown_method", "no.such.method", NULL));
	json_decref(h_ok(c, "flow.get", "[\"st\"]"));
	s1 = h_ok(c, "sys.stats", NULL);
	ck_assert_msg(h_int(s1, "requests_total") >=
	    h_int(s0, "requests_total") + 12,
	    "requests_total: got %lld, want >= %lld",
	    h_int(s1, "requests_total"), h_int(s0, "requests_total") + 12);
	ck_assert_msg(h_int(s1, "errors_total") >= h_int(s0, "errors_total") + 1,
	    "errors_total: got %lld, want >= %lld", h_int(s1, "errors_total"),
	    h_int(s0, "errors_total") + 1);
	e = json_object_get(json_object_get(s1, "methods"), "sys.ping");
	ck_assert_msg(h_int(e, "count") >= 10,
	    "methods.sys.ping.count: got %lld, want >= 10", h_int(e, "count"));
	e = json_object_get(json_object_get(s1, "methods"), "flow.get");
	ck_assert_msg(h_int(e, "count") == 1,
	    "methods.flow.get.count: got %lld, want 1", h_int(e, "count"));
	ck_assert_msg(h_int(e, "max_us") > 0,
	    "methods.flow.get.max_us: got 0, want > 0 (it started a worker)");
	ck_assert_msg(h_int(s1, "sessions_live") == 1,
	    "sessions_live: got %lld, want 1", h_int(s1, "sessions_live"));
	ck_assert_msg(h_int(s1, "sessions_started_total") == 1,
	    "sessions_started_total: got %lld, want 1",
	    h_int(s1, "sessions_started_total"));
	json_decref(s0);
	json_decref(s1);
	hc_close(c2);
	hc_close(c);
	finish(d);
}
END_TEST

/* ---- errors shared by every method: table ------------------------------ */

static const struct err_case {
	const char	*method;
	const char	*params;	/* JSON text, NULL = [] */
	const char	*code;
} err_cases[] = {
	{ "no.such.method", NULL, "unknown_method" },
	{ "", NULL, "unknown_method" },
	{ "sys.pingx", NULL, "unknown_method" },
	{ "SYS.PING", NULL, "unknown_method" },
	/* arity */
	{ "sys.ping", "[1]", "invalid_params" },
	{ "sys.version", "[1]", "invalid_params" },
	{ "sys.stats", "[1]", "invalid_params" },
	{ "sys.shutdown", "[1]", "invalid_params" },
	{ "sys.subscribe", "[[], 1]", "invalid_params" },
	{ "flow.join", NULL, "invalid_params" },
	{ "flow.join", "[\"e\", \"c\", 1, 2]", "invalid_params" },
	{ "flow.leave", NULL, "invalid_params" },
	{ "flow.get", NULL, "invalid_params" },
	{ "flow.get", "[\"e\", \"e\"]", "invalid_params" },
	{ "flow.apply", "[\"e\"]", "invalid_params" },
	{ "flow.apply", "[\"e\", [], 0, 1]", "invalid_params" },
	{ "flow.history", "[\"e\"]", "invalid_params" },
	{ "flow.status", NULL, "invalid_params" },
	{ "flow.list", "[{}, {}]", "invalid_params" },
	{ "flow.close", NULL, "invalid_params" },
	{ "flow.delete", NULL, "invalid_params" },
	{ "session.inspect", NULL, "invalid_params" },
	{ "session.kill", NULL, "invalid_params" },
	{ "session.kill", "[\"e\", \"KILL\", 1]", "invalid_params" },
	/* types */
	{ "flow.get", "[5]", "invalid_params" },
	{ "flow.get", "[null]", "invalid_params" },
	{ "flow.status", "[[\"e\"]]", "invalid_params" },
	{ "flow.join", "[\"e\", 5]", "invalid_params" },
	{ "flow.join", "[\"e\", \"has space\"]", "invalid_params" },
	{ "flow.join", "[\"e\", \"\"]", "invalid_params" },
	{ "flow.join", "[\"e\", \"caf\\u00e9\"]", "invalid_params" },
	{ "flow.join", "[\"e\", \"c\", \"1\"]", "invalid_params" },
	{ "flow.join", "[\"e\", \"c\", -1]", "invalid_params" },
	{ "flow.join", "[\"e\", \"c\", 1.5]", "invalid_params" },
	{ "flow.apply", "[\"e\", {}]", "invalid_params" },
	{ "flow.apply", "[\"e\", \"ops\"]", "invalid_params" },
	{ "flow.apply", "[\"e\", null]", "invalid_params" },
	{ "flow.apply", "[\"e\", [], \"0\"]", "invalid_params" },
	{ "flow.apply", "[\"e\", [], -1]", "invalid_params" },
	{ "flow.history", "[\"e\", \"0\"]", "invalid_params" },
	{ "flow.history", "[\"e\", -1]", "invalid_params" },
	{ "flow.list", "[5]", "invalid_params" },
	{ "flow.list", "[\"all\"]", "invalid_params" },
	{ "sys.subscribe", "[5]", "invalid_params" },
	{ "sys.subscribe", "[[5]]", "invalid_params" },
	/* flow ids */
	{ "flow.get", "[\"\"]", "invalid_flow_id" },
	{ "flow.get", "[\".hidden\"]", "invalid_flow_id" },
	{ "flow.get", "[\"a b\"]", "invalid_flow_id" },
	{ "flow.get", "[\"a/b\"]", "invalid_flow_id" },
	{ "flow.get", "[\"caf\\u00e9\"]", "invalid_flow_id" },
	{ "flow.get", "[\"a\\u0000b\"]", "invalid_flow_id" },
	{ "flow.join", "[\"x*\"]", "invalid_flow_id" },
	{ "flow.apply", "[\"..\", []]", "invalid_flow_id" },
	{ "flow.leave", "[\"a b\"]", "invalid_flow_id" },
	{ "flow.history", "[\"\", 0]", "invalid_flow_id" },
	{ "flow.status", "[\"a b\"]", "invalid_flow_id" },
	{ "flow.close", "[\"a b\"]", "invalid_flow_id" },
	{ "flow.delete", "[\"a b\"]", "invalid_flow_id" },
	{ "session.inspect", "[\"a b\"]", "invalid_flow_id" },
	{ "session.kill", "[\"a b\"]", "invalid_flow_id" },
	/* state */
	{ "flow.leave", "[\"never-joined\"]", "not_joined" },
	{ "session.kill", "[\"no-worker\"]", "not_running" },
	{ "session.kill", "[\"no-worker\", \"TERM\"]", "not_running" },
};

START_TEST(test_errors)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	char			 long_id[160], params[256], code[64];
	json_t			*r, *v = NULL;
	size_t			 i;
	int			 rv;

	for (i = 0; i < NELEMS(err_cases); i++) {
		const struct err_case *t = &err_cases[i];

		v = NULL;
		rv = h_call(c, &v, code, sizeof(code), t->method, "%s",
		    t->params ? t->params : "[]");
		if (rv != HC_ERROR || strcmp(code, t->code) != 0) {
			char *dv = h_dump(v);

			ck_abort_msg("%s %s: got %s %s, want error %s", t->method,
			    t->params ? t->params : "[]", rv == HC_OK ? "result" :
			    rv == HC_ERROR ? "error" : "no answer", dv, t->code);
		}
		ck_assert_msg(json_is_string(json_object_get(v, "message")),
		    "%s %s: error without a message string", t->method,
		    t->params ? t->params : "[]");
		json_decref(v);
	}

	/* Length limits: 128 bytes is a flow id, 129 is not. */
	memset(long_id, 'f', 128);
	long_id[128] = '\0';
	r = h_ok(c, "flow.status", "[\"%s\"]", long_id);
	json_decref(r);
	memset(long_id, 'f', 129);
	long_id[129] = '\0';
	json_decref(h_err(c, "invalid_flow_id", "flow.status", "[\"%s\"]",
	    long_id));
	snprintf(params, sizeof(params), "[\"e\", \"%s\"]", long_id);
	json_decref(h_err(c, "invalid_params", "flow.join", "%s", params));

	/* None of that stopped the daemon (sys.shutdown [1] included). */
	r = h_ok(c, "sys.ping", NULL);
	json_decref(r);
	hc_close(c);
	finish(d);
}
END_TEST

/* ---- flow.get / flow.apply ---------------------------------------------- */

START_TEST(test_get_new_flow)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);

	expect_doc(c, "fresh:1", "{\"id\": \"fresh:1\", \"version\": 0, "
	    "\"title\": \"\", \"description\": \"\", \"viewport\": {\"x\": 0, "
	    "\"y\": 0, \"zoom\": 1}, \"nodes\": [], \"edges\": []}");
	hc_close(c);
	finish(d);
}
END_TEST

/* Each step: the ops of one apply, then the whole document. */
static const struct op_step {
	const char *ops;
	const char *title, *description, *viewport, *nodes, *edges;
} op_steps[] = {
	{ "[{\"op\": \"add_node\", \"node\": {\"id\": \"a\", \"type\": \"in\", "
	  "\"x\": 1, \"y\": 2}}]",
	  "", "", "{\"x\": 0, \"y\": 0, \"zoom\": 1}",
	  "[{\"id\": \"a\", \"type\": \"in\", \"x\": 1, \"y\": 2}]", "[]" },
	{ "[{\"op\": \"add_node\", \"node\": {\"id\": \"b\", \"type\": \"out\", "
	  "\"x\": -3.5, \"y\": 4.25, \"width\": 10, \"height\": 20.5, "
	  "\"data\": {\"k\": \"v\", \"n\": [1, 2.5, {\"z\": null}], "
	  "\"t\": true}}}]",
	  "", "", "{\"x\": 0, \"y\": 0, \"zoom\": 1}",
	  "[{\"id\": \"a\", \"type\": \"in\", \"x\": 1, \"y\": 2}, "
	  "{\"id\": \"b\", \"type\": \"out\", \"x\": -3.5, \"y\": 4.25, "
	  "\"width\": 10, \"height\": 20.5, \"data\": {\"k\": \"v\", "
	  "\"n\": [1, 2.5, {\"z\": null}], \"t\": true}}]", "[]" },
	{ "[{\"op\": \"add_edge\", \"edge\": {\"id\": \"e1\", \"source\": \"a\", "
	  "\"target\": \"b\", \"source_handle\": \"o\", \"target_handle\": "
	  "\"i\", \"data\": {\"w\": 1}}}]",
	  "", "", "{\"x\": 0, \"y\": 0, \"zoom\": 1}",
	  "[{\"id\": \"a\", \"type\": \"in\", \"x\": 1, \"y\": 2}, "
	  "{\"id\": \"b\", \"type\": \"out\", \"x\": -3.5, \"y\": 4.25, "
	  "\"width\": 10, \"height\": 20.5, \"data\": {\"k\": \"v\", "
	  "\"n\": [1, 2.5, {\"z\": null}], \"t\": true}}]",
	  "[{\"id\": \"e1\", \"source\": \"a\", \"target\": \"b\", "
	  "\"source_handle\": \"o\", \"target_handle\": \"i\", "
	  "\"data\": {\"w\": 1}}]" },
	/* update_node: only the fields given; data replaces the whole map */
	{ "[{\"op\": \"update_node\", \"id\": \"a\", \"x\": 10, \"type\": "
	  "\"mid\", \"data\": {\"k\": 2}}, {\"op\": \"update_node\", \"id\": "
	  "\"b\", \"data\": {\"only\": true}, \"width\": 3}]",
	  "", "", "{\"x\": 0, \"y\": 0, \"zoom\": 1}",
	  "[{\"id\": \"a\", \"type\": \"mid\", \"x\": 10, \"y\": 2, "
	  "\"data\": {\"k\": 2}}, "
	  "{\"id\": \"b\", \"type\": \"out\", \"x\": -3.5, \"y\": 4.25, "
	  "\"width\": 3, \"height\": 20.5, \"data\": {\"only\": true}}]",
	  "[{\"id\": \"e1\", \"source\": \"a\", \"target\": \"b\", "
	  "\"source_handle\": \"o\", \"target_handle\": \"i\", "
	  "\"data\": {\"w\": 1}}]" },
	{ "[{\"op\": \"set_viewport\", \"x\": 5, \"y\": -6.5, \"zoom\": 2}]",
	  "", "", "{\"x\": 5, \"y\": -6.5, \"zoom\": 2}",
	  "[{\"id\": \"a\", \"type\": \"mid\", \"x\": 10, \"y\": 2, "
	  "\"data\": {\"k\": 2}}, "
	  "{\"id\": \"b\", \"type\": \"out\", \"x\": -3.5, \"y\": 4.25, "
	  "\"width\": 3, \"height\": 20.5, \"data\": {\"only\": true}}]",
	  "[{\"id\": \"e1\", \"source\": \"a\", \"target\": \"b\", "
	  "\"source_handle\": \"o\", \"target_handle\": \"i\", "
	  "\"data\": {\"w\": 1}}]" },
	{ "[{\"op\": \"set_meta\", \"title\": \"T\", \"description\": "
	  "\"D \\u2603\"}]",
	  "T", "D \xe2\x98\x83", "{\"x\": 5, \"y\": -6.5, \"zoom\": 2}",
	  "[{\"id\": \"a\", \"type\": \"mid\", \"x\": 10, \"y\": 2, "
	  "\"data\": {\"k\": 2}}, "
	  "{\"id\": \"b\", \"type\": \"out\", \"x\": -3.5, \"y\": 4.25, "
	  "\"width\": 3, \"height\": 20.5, \"data\": {\"only\": true}}]",
	  "[{\"id\": \"e1\", \"source\": \"a\", \"target\": \"b\", "
	  "\"source_handle\": \"o\", \"target_handle\": \"i\", "
	  "\"data\": {\"w\": 1}}]" },
	/* set_meta with only a title keeps the description */
	{ "[{\"op\": \"set_meta\", \"title\": \"T2\"}]",
	  "T2", "D \xe2\x98\x83", "{\"x\": 5, \"y\": -6.5, \"zoom\": 2}",
	  "[{\"id\": \"a\", \"type\": \"mid\", \"x\": 10, \"y\": 2, "
	  "\"data\": {\"k\": 2}}, "
	  "{\"id\": \"b\", \"type\": \"out\", \"x\": -3.5, \"y\": 4.25, "
	  "\"width\": 3, \"height\": 20.5, \"data\": {\"only\": true}}]",
	  "[{\"id\": \"e1\", \"source\": \"a\", \"target\": \"b\", "
	  "\"source_handle\": \"o\", \"target_handle\": \"i\", "
	  "\"data\": {\"w\": 1}}]" },
	{ "[{\"op\": \"remove_edge\", \"id\": \"e1\"}]",
	  "T2", "D \xe2\x98\x83", "{\"x\": 5, \"y\": -6.5, \"zoom\": 2}",
	  "[{\"id\": \"a\", \"type\": \"mid\", \"x\": 10, \"y\": 2, "
	  "\"data\": {\"k\": 2}}, "
	  "{\"id\": \"b\", \"type\": \"out\", \"x\": -3.5, \"y\": 4.25, "
	  "\"width\": 3, \"height\": 20.5, \"data\": {\"only\": true}}]",
	  "[]" },
	/* several ops, one version; later ops see the earlier ones */
	{ "[{\"op\": \"add_node\", \"node\": {\"id\": \"c\", \"type\": \"t\", "
	  "\"x\": 0, \"y\": 0}}, {\"op\": \"add_edge\", \"edge\": {\"id\": "
	  "\"e2\", \"source\": \"a\", \"target\": \"b\"}}, {\"op\": "
	  "\"add_edge\", \"edge\": {\"id\": \"e3\", \"source\": \"c\", "
	  "\"target\": \"a\"}}]",
	  "T2", "D \xe2\x98\x83", "{\"x\": 5, \"y\": -6.5, \"zoom\": 2}",
	  "[{\"id\": \"a\", \"type\": \"mid\", \"x\": 10, \"y\": 2, "
	  "\"data\": {\"k\": 2}}, "
	  "{\"id\": \"b\", \"type\": \"out\", \"x\": -3.5, \"y\": 4.25, "
	  "\"width\": 3, \"height\": 20.5, \"data\": {\"only\": true}}, "
	  "{\"id\": \"c\", \"type\": \"t\", \"x\": 0, \"y\": 0}]",
	  "[{\"id\": \"e2\", \"source\": \"a\", \"target\": \"b\"}, "
	  "{\"id\": \"e3\", \"source\": \"c\", \"target\": \"a\"}]" },
	/* remove_node takes its edges with it */
	{ "[{\"op\": \"remove_node\", \"id\": \"b\"}]",
	  "T2", "D \xe2\x98\x83", "{\"x\": 5, \"y\": -6.5, \"zoom\": 2}",
	  "[{\"id\": \"a\", \"type\": \"mid\", \"x\": 10, \"y\": 2, "
	  "\"data\": {\"k\": 2}}, "
	  "{\"id\": \"c\", \"type\": \"t\", \"x\": 0, \"y\": 0}]",
	  "[{\"id\": \"e3\", \"source\": \"c\", \"target\": \"a\"}]" },
};

START_TEST(test_apply_ops)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	json_t			*doc, *want;
	json_int_t		 v;
	size_t			 i;
	char			*g;

	for (i = 0; i < NELEMS(op_steps); i++) {
		const struct op_step *t = &op_steps[i];

		v = apply(c, "ops", t->ops);
		ck_assert_msg(v == (json_int_t)i + 1,
		    "step %zu %s: got version %lld, want %zu", i, t->ops, v,
		    i + 1);
		doc = h_ok(c, "flow.get", "[\"ops\"]");
		want = json_pack("{s:s, s:I, s:s, s:s, s:o, s:o, s:o}",
		    "id", "ops", "version", (json_int_t)i + 1,
		    "title", t->title, "description", t->description,
		    "viewport", h_json("%s", t->viewport),
		    "nodes", h_json("%s", t->nodes),
		    "edges", h_json("%s", t->edges));
		if (!h_equal(doc, want)) {
			g = h_dump(doc);
			ck_abort_msg("step %zu %s: flow.get: got %s, want %s", i,
			    t->ops, g, h_dump(want));
		}
		json_decref(doc);
		json_decref(want);
	}
	hc_close(c);
	finish(d);
}
END_TEST

#define BASE_OPS							\
	"[{\"op\": \"add_node\", \"node\": {\"id\": \"a\", \"type\": \"t\", " \
	"\"x\": 0, \"y\": 0}}, {\"op\": \"add_node\", \"node\": {\"id\": " \
	"\"b\", \"type\": \"t\", \"x\": 1, \"y\": 1}}, {\"op\": \"add_edge\", " \
	"\"edge\": {\"id\": \"e1\", \"source\": \"a\", \"target\": \"b\"}}]"
#define NEW_C	"{\"op\": \"add_node\", \"node\": {\"id\": \"c\", \"type\": " \
	"\"t\", \"x\": 0, \"y\": 0}}"

/* Invalid applies on a flow holding a, b and a->b: nothing applied. */
static const struct inv_case {
	const char	*ops;
	int		 index;
} inv_cases[] = {
	{ "[" NEW_C ", {\"op\": \"add_node\", \"node\": {\"id\": \"a\", "
	  "\"type\": \"t\", \"x\": 0, \"y\": 0}}]", 1 },
	{ "[" NEW_C ", " NEW_C "]", 1 },
	{ "[{\"op\": \"update_node\", \"id\": \"zz\", \"x\": 1}]", 0 },
	{ "[{\"op\": \"remove_node\", \"id\": \"zz\"}]", 0 },
	{ "[{\"op\": \"add_edge\", \"edge\": {\"id\": \"e2\", \"source\": "
	  "\"a\", \"target\": \"zz\"}}]", 0 },
	{ "[{\"op\": \"add_edge\", \"edge\": {\"id\": \"e2\", \"source\": "
	  "\"zz\", \"target\": \"a\"}}]", 0 },
	{ "[{\"op\": \"add_edge\", \"edge\": {\"id\": \"e1\", \"source\": "
	  "\"a\", \"target\": \"b\"}}]", 0 },
	{ "[{\"op\": \"remove_edge\", \"id\": \"zz\"}]", 0 },
	{ "[{\"op\": \"set_viewport\", \"x\": 0, \"y\": 0, \"zoom\": 0}]", 0 },
	{ "[{\"op\": \"set_viewport\", \"x\": 0, \"y\": 0, \"zoom\": -1}]", 0 },
	{ "[{\"op\": \"set_viewport\", \"x\": \"0\", \"y\": 0, \"zoom\": 1}]",
	  0 },
	{ "[{\"op\": \"frobnicate\"}]", 0 },
	{ "[{\"id\": \"a\"}]", 0 },
	{ "[5]", 0 },
	{ "[" NEW_C ", \"add_node\"]", 1 },
	{ "[{\"op\": \"add_node\", \"node\": {\"id\": \"\", \"type\": \"t\", "
	  "\"x\": 0, \"y\": 0}}]", 0 },
	{ "[{\"op\": \"add_node\", \"node\": {\"id\": \"d\", \"x\": 0, "
	  "\"y\": 0}}]", 0 },
	{ "[{\"op\": \"add_node\", \"node\": {\"id\": \"d\", \"type\": \"\", "
	  "\"x\": 0, \"y\": 0}}]", 0 },
	{ "[{\"op\": \"add_node\", \"node\": {\"id\": \"d\", \"type\": \"t\", "
	  "\"x\": \"0\", \"y\": 0}}]", 0 },
	{ "[{\"op\": \"add_node\", \"node\": {\"id\": \"d\", \"type\": \"t\", "
	  "\"x\": 0}}]", 0 },
	{ "[{\"op\": \"add_node\", \"node\": {\"id\": \"d\", \"type\": \"t\", "
	  "\"x\": 0, \"y\": 0, \"width\": 0}}]", 0 },
	{ "[{\"op\": \"add_node\", \"node\": {\"id\": \"d\", \"type\": \"t\", "
	  "\"x\": 0, \"y\": 0, \"height\": -1}}]", 0 },
	{ "[{\"op\": \"add_node\", \"node\": {\"id\": \"d\", \"type\": \"t\", "
	  "\"x\": 0, \"y\": 0, \"data\": \"x\"}}]", 0 },
	{ "[{\"op\": \"add_node\", \"node\": {\"id\": 7, \"type\": \"t\", "
	  "\"x\": 0, \"y\": 0}}]", 0 },
	/* later ops see the state left by the earlier ones */
	{ "[{\"op\": \"remove_node\", \"id\": \"a\"}, {\"op\": \"remove_edge\", "
	  "\"id\": \"e1\"}]", 1 },
	{ "[{\"op\": \"remove_edge\", \"id\": \"e1\"}, {\"op\": \"remove_edge\", "
	  "\"id\": \"e1\"}]", 1 },
	{ "[" NEW_C ", {\"op\": \"add_edge\", \"edge\": {\"id\": \"e9\", "
	  "\"source\": \"c\", \"target\": \"a\"}}, {\"op\": \"update_node\", "
	  "\"id\": \"nope\", \"x\": 1}]", 2 },
	{ "[{\"op\": \"update_node\", \"id\": \"a\", \"x\": 5}, {\"op\": "
	  "\"set_meta\", \"title\": \"ok\"}, {\"op\": \"set_viewport\", "
	  "\"x\": 1, \"y\": 1, \"zoom\": 1}, {\"op\": \"remove_node\", "
	  "\"id\": \"b\"}, {\"op\": \"update_node\", \"id\": \"b\", "
	  "\"x\": 1}]", 4 },
};

START_TEST(test_apply_invalid)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	json_t			*before, *after, *e;
	char			 big[6000], *g;
	size_t			 i;

	EXPECT_EQ(apply(c, "inv", BASE_OPS), 1);
	before = h_ok(c, "flow.get", "[\"inv\"]");
	for (i = 0; i < NELEMS(inv_cases); i++) {
		const struct inv_case *t = &inv_cases[i];

		e = h_err(c, "invalid_op", "flow.apply", "[\"inv\", %s]",
		    t->ops);
		if (h_int(e, "index") != t->index)
			ck_abort_msg("case %zu %s: index: got %lld, want %d", i,
			    t->ops, h_int(e, "index"), t->index);
		json_decref(e);
		after = h_ok(c, "flow.get", "[\"inv\"]");
		if (!h_equal(before, after)) {
			g = h_dump(after);
			ck_abort_msg("case %zu %s applied something: flow.get got "
			    "%s, want %s", i, t->ops, g, h_dump(before));
		}
		json_decref(after);
	}

	/* Lengths: title 255 bytes is fine, 256 is not; description 5000. */
	memset(big, 't', 256);
	big[256] = '\0';
	e = h_err(c, "invalid_op", "flow.apply",
	    "[\"inv\", [{\"op\": \"set_meta\", \"title\": \"%s\"}]]", big);
	EXPECT_EQ(h_int(e, "index"), 0);
	json_decref(e);
	memset(big, 'd', 5001);
	big[5001] = '\0';
	e = h_err(c, "invalid_op", "flow.apply", "[\"inv\", [{\"op\": "
	    "\"set_meta\", \"title\": \"ok\"}, {\"op\": \"set_meta\", "
	    "\"description\": \"%s\"}]]", big);
	EXPECT_EQ(h_int(e, "index"), 1);
	json_decref(e);
	/* node id 256 bytes; data nested deeper than 16 */
	memset(big, 'n', 256);
	big[256] = '\0';
	e = h_err(c, "invalid_op", "flow.apply", "[\"inv\", [{\"op\": "
	    "\"add_node\", \"node\": {\"id\": \"%s\", \"type\": \"t\", "
	    "\"x\": 0, \"y\": 0}}]]", big);
	EXPECT_EQ(h_int(e, "index"), 0);
	json_decref(e);
	e = h_err(c, "invalid_op", "flow.apply", "[\"inv\", [{\"op\": "
	    "\"update_node\", \"id\": \"a\", \"data\": "
	    "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":"
	    "{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":"
	    "{\"a\":{}}}}}}}}}}}}}}}}}}}}}]]");
	EXPECT_EQ(h_int(e, "index"), 0);
	json_decref(e);
	after = h_ok(c, "flow.get", "[\"inv\"]");
	h_expect("flow.get after the invalid applies", after,
	    g = h_dump(before));
	free(g);
	json_decref(after);
	json_decref(before);
	hc_close(c);
	finish(d);
}
END_TEST

/* NaN and infinities cannot be written in JSON: packed by hand. */
START_TEST(test_apply_nan)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	const double		 bad[] = { NAN, INFINITY, -INFINITY };
	struct hc_result	 r;
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	uint32_t		 id;
	size_t			 i, where;

	for (i = 0; i < NELEMS(bad) * 2; i++) {
		where = i % 2;	/* node x, or viewport zoom */
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_array(&pk, 2);
		msgpack_pack_str_with_body(&pk, "nan", 3);
		msgpack_pack_array(&pk, 1);
		if (where == 0) {
			msgpack_pack_map(&pk, 2);
			msgpack_pack_str_with_body(&pk, "op", 2);
			msgpack_pack_str_with_body(&pk, "add_node", 8);
			msgpack_pack_str_with_body(&pk, "node", 4);
			msgpack_pack_map(&pk, 4);
			msgpack_pack_str_with_body(&pk, "id", 2);
			msgpack_pack_str_with_body(&pk, "n", 1);
			msgpack_pack_str_with_body(&pk, "type", 4);
			msgpack_pack_str_with_body(&pk, "t", 1);
			msgpack_pack_str_with_body(&pk, "x", 1);
			msgpack_pack_double(&pk, bad[i / 2]);
			msgpack_pack_str_with_body(&pk, "y", 1);
			msgpack_pack_int(&pk, 0);
		} else {
			msgpack_pack_map(&pk, 4);
			msgpack_pack_str_with_body(&pk, "op", 2);
			msgpack_pack_str_with_body(&pk, "set_viewport", 12);
			msgpack_pack_str_with_body(&pk, "x", 1);
			msgpack_pack_int(&pk, 0);
			msgpack_pack_str_with_body(&pk, "y", 1);
			msgpack_pack_int(&pk, 0);
			msgpack_pack_str_with_body(&pk, "zoom", 4);
			msgpack_pack_double(&pk, bad[i / 2]);
		}
		EXPECT_EQ(hc_send_raw_params(c, "flow.apply", sb.data,
		    sb.size, &id), HC_OK);
		msgpack_sbuffer_destroy(&sb);
		memset(&r, 0, sizeof(r));
		if (hc_wait(c, id, H_CALL_MS, &r) != HC_ERROR ||
		    strcmp(r.code, "invalid_op") != 0)
			ck_abort_msg("%s = %f: got %s %s, want error invalid_op",
			    where == 0 ? "node x" : "viewport zoom", bad[i / 2],
			    r.is_error ? "error" : "result", h_dump(r.value));
		EXPECT_EQ(h_int(r.value, "index"), 0);
		hc_result_clear(&r);
	}
	EXPECT_EQ(h_version(c, "nan"), 0);
	hc_close(c);
	finish(d);
}
END_TEST

START_TEST(test_apply_conflict)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	json_t			*e, *r;

	EXPECT_EQ(apply(c, "cf", "[" NEW_C "]"), 1);
	/* base_version 0 when the flow is at 1: conflict, nothing applied */
	e = h_err(c, "conflict", "flow.apply", "[\"cf\", [%s], 0]",
	    node_op("x"));
	ck_assert_msg(h_int(e, "version") == 1,
	    "conflict version: got %lld, want 1", h_int(e, "version"));
	json_decref(e);
	e = h_err(c, "conflict", "flow.apply", "[\"cf\", [%s], 7]",
	    node_op("x"));
	ck_assert_msg(h_int(e, "version") == 1,
	    "conflict version: got %lld, want 1", h_int(e, "version"));
	json_decref(e);
	EXPECT_EQ(h_version(c, "cf"), 1);
	/* the current version: applied */
	r = h_ok(c, "flow.apply", "[\"cf\", [%s], 1]", node_op("x"));
	ck_assert_msg(h_int(r, "version") == 2,
	    "apply with base_version 1: got version %lld, want 2",
	    h_int(r, "version"));
	json_decref(r);
	/* nil base_version: last writer wins */
	r = h_ok(c, "flow.apply", "[\"cf\", [%s], null]", node_op("y"));
	EXPECT_EQ(h_int(r, "version"), 3);
	json_decref(r);
	hc_close(c);
	finish(d);
}
END_TEST

/* ---- flow.join / leave ----------------------------------------------- */

static bool
valid_client_id(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 1 || n > 128)
		return false;
	for (i = 0; i < n; i++)
		if (s[i] <= ' ' || s[i] > '~')
			return false;
	return true;
}

START_TEST(test_join)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*a = h_connect(d), *b = h_connect(d),
				*c = h_connect(d), *x = h_connect(d);
	json_t			*r, *rb;
	const char		*anon;

	r = h_ok(a, "flow.join", "[\"j\", \"alice\"]");
	ck_assert_msg(strcmp(h_str(r, "client_id"), "alice") == 0,
	    "client_id: got %s, want alice", h_str(r, "client_id"));
	ck_assert_msg(h_int(r, "client_count") == 1,
	    "client_count: got %lld, want 1", h_int(r, "client_count"));
	ck_assert_msg(h_int(r, "version") == 0, "version: got %lld, want 0",
	    h_int(r, "version"));
	ck_assert_msg(!json_is_true(json_object_get(r, "resync")),
	    "resync: got true without since_version");
	json_decref(r);

	/* No client id: the server makes one, "anon:" + base32. */
	rb = h_ok(b, "flow.join", "[\"j\"]");
	anon = h_str(rb, "client_id");
	ck_assert_msg(strncmp(anon, "anon:", 5) == 0 && strlen(anon) > 5 &&
	    valid_client_id(anon), "generated client_id: got \"%s\", want "
	    "\"anon:\" and random base32", anon);
	ck_assert_msg(strspn(anon + 5, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
	    "abcdefghijklmnopqrstuvwxyz") == strlen(anon + 5),
	    "generated client_id: got \"%s\", want base32 after anon:", anon);
	ck_assert_msg(h_int(rb, "client_count") == 2,
	    "client_count: got %lld, want 2", h_int(rb, "client_count"));
	r = h_ok(c, "flow.join", "[\"j\", null]");
	ck_assert_msg(strncmp(h_str(r, "client_id"), "anon:", 5) == 0,
	    "client_id with nil: got %s, want anon:...", h_str(r, "client_id"));
	ck_assert_msg(strcmp(h_str(r, "client_id"), anon) != 0,
	    "two connections got the same generated id %s", anon);
	EXPECT_EQ(h_int(r, "client_count"), 3);
	json_decref(r);
	json_decref(rb);

	/* Joining again is idempotent. */
	r = h_ok(a, "flow.join", "[\"j\", \"alice\"]");
	ck_assert_msg(h_int(r, "client_count") == 3,
	    "client_count after joining again: got %lld, want 3",
	    h_int(r, "client_count"));
	json_decref(r);

	/* Client ids need not be unique. */
	r = h_ok(x, "flow.join", "[\"j\", \"alice\"]");
	EXPECT_EQ(h_int(r, "client_count"), 4);
	json_decref(r);

	/* The version joins report follows the applies. */
	apply(a, "j", "[" NEW_C "]");
	r = h_ok(a, "flow.join", "[\"j2\", \"alice\"]");
	EXPECT_EQ(h_int(r, "version"), 0);
	json_decref(r);
	hc_close(x);
	x = h_connect(d);
	r = h_ok(x, "flow.join", "[\"j\", \"late\"]");
	ck_assert_msg(h_int(r, "version") == 1, "version: got %lld, want 1",
	    h_int(r, "version"));
	ck_assert_msg(h_int(r, "client_count") == 4,
	    "client_count after a close and a join: got %lld, want 4",
	    h_int(r, "client_count"));
	json_decref(r);

	r = h_ok(a, "flow.status", "[\"j\"]");
	EXPECT_EQ(h_int(r, "client_count"), 4);
	json_decref(r);
	hc_close(a);
	hc_close(b);
	hc_close(c);
	hc_close(x);
	finish(d);
}
END_TEST

/* Queued notifications taken now: the flow.update params, in order. */
static json_t *
queued_updates(struct hc_client *c, size_t n)
{
	json_t	*ups = json_array(), *p;
	char	*m;

	while (n-- > 0) {
		EXPECT_EQ(hc_next_notify(c, 0, &m, &p), HC_OK);
		if (strcmp(m, "flow.update") == 0)
			json_array_append_new(ups, p);
		else
			json_decref(p);
		free(m);
	}
	return ups;
}

START_TEST(test_join_replay)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*a = h_connect(d), *c;
	static const char *const ops[] = {
		"[{\"op\": \"add_node\", \"node\": {\"id\": \"n1\", \"type\": "
		"\"t\", \"x\": 1, \"y\": 1}}]",
		"[{\"op\": \"set_meta\", \"title\": \"two\"}]",
		"[{\"op\": \"update_node\", \"id\": \"n1\", \"x\": 3}]",
	};
	struct hc_result	 r;
	json_t			*ups, *res, *want;
	uint32_t		 id;
	size_t			 i, since, npend;
	char			*g;

	json_decref(h_ok(a, "flow.join", "[\"rp\", \"alice\"]"));
	for (i = 0; i < NELEMS(ops); i++)
		EXPECT_EQ(apply(a, "rp", ops[i]), (int)i + 1);

	for (since = 0; since <= 3; since++) {
		c = h_connect(d);
		json_t *p = h_json("[\"rp\", \"carol\", %zu]", since);

		EXPECT_EQ(hc_send(c, "flow.join", p, &id), HC_OK);
		json_decref(p);
		memset(&r, 0, sizeof(r));
		EXPECT_EQ(hc_wait(c, id, H_CALL_MS, &r), HC_OK);
		/* What is queued now came before the reply. */
		npend = hc_pending_notifies(c);
		ups = queued_updates(c, npend);
		want = json_array();
		for (i = since; i < 3; i++)
			json_array_append_new(want, json_pack("[s, {s:I, s:o, s:s}]",
			    "rp", "version", (json_int_t)i + 1, "ops",
			    h_json("%s", ops[i]), "origin", "alice"));
		if (!h_equal(ups, want)) {
			g = h_dump(ups);
			ck_abort_msg("join since %zu: flow.update before the reply: "
			    "got %s, want %s", since, g, h_dump(want));
		}
		res = r.value;
		ck_assert_msg(h_int(res, "version") == 3,
		    "join since %zu: version: got %lld, want 3", since,
		    h_int(res, "version"));
		ck_assert_msg(!json_is_true(json_object_get(res, "resync")),
		    "join since %zu: got resync true, want none", since);
		json_decref(ups);
		json_decref(want);
		hc_result_clear(&r);
		/* and nothing replayed after the reply either */
		ck_assert_msg(!h_got(c, "flow.update", H_QUIET_MS),
		    "join since %zu: a flow.update came after the reply", since);
		hc_close(c);
	}

	/* Above the current version: resync, nothing replayed. */
	c = h_connect(d);
	res = h_ok(c, "flow.join", "[\"rp\", \"dave\", 10]");
	ck_assert_msg(json_is_true(json_object_get(res, "resync")),
	    "join since 10 > 3: got %s, want resync true", h_dump(res));
	EXPECT_EQ(h_int(res, "version"), 3);
	json_decref(res);
	ck_assert_msg(!h_got(c, "flow.update", H_QUIET_MS),
	    "join since 10 > 3: got a flow.update, want none");
	/* Joined all the same: the next apply reaches it. */
	apply(a, "rp", "[{\"op\": \"set_meta\", \"title\": \"four\"}]");
	res = h_next(c, "flow.update", H_EVENT_MS);
	ck_assert_msg(res != NULL, "after a resync join: no flow.update");
	h_expect("flow.update after a resync join", res, "[\"rp\", "
	    "{\"version\": 4, \"ops\": [{\"op\": \"set_meta\", \"title\": "
	    "\"four\"}], \"origin\": \"alice\"}]");
	json_decref(res);
	hc_close(c);
	hc_close(a);
	finish(d);
}
END_TEST

START_TEST(test_leave)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*a = h_connect(d), *b = h_connect(d),
				*w = h_connect(d);
	struct count_arg	 ca;
	json_t			*r, *u;

	json_decref(h_ok(a, "flow.join", "[\"lv\", \"a\"]"));
	json_decref(h_ok(b, "flow.join", "[\"lv\", \"b\"]"));
	json_decref(h_ok(w, "flow.join", "[\"lv\", \"w\"]"));
	r = h_ok(a, "flow.leave", "[\"lv\"]");
	h_expect("flow.leave", r, "{\"client_count\": 2}");
	json_decref(r);
	json_decref(h_err(a, "not_joined", "flow.leave", "[\"lv\"]"));
	json_decref(h_err(a, "not_joined", "flow.leave", "[\"other\"]"));

	/* A left: B's apply reaches W, not A. */
	apply(b, "lv", "[" NEW_C "]");
	u = h_next(w, "flow.update", H_EVENT_MS);
	ck_assert_msg(u != NULL, "witness: no flow.update");
	json_decref(u);
	json_decref(h_ok(a, "sys.ping", NULL));
	ck_assert_msg(!h_got(a, "flow.update", H_QUIET_MS),
	    "a connection that left got a flow.update");

	/* A closed connection leaves every flow it joined. */
	hc_close(b);
	ca.c = w;
	ca.flow = "lv";
	ca.n = 1;
	ck_assert_msg(h_poll(count_is, &ca, H_EVENT_MS), "client_count after a joined connection closed: "
	    "want 1 within %d ms", H_EVENT_MS);
	hc_close(a);
	hc_close(w);
	finish(d);
}
END_TEST

/* ---- flow.history ------------------------------------------------------ */

START_TEST(test_history)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	const char		*keep[] = { "--history-length", "2", NULL };
	json_t			*r;

	r = h_ok(c, "flow.history", "[\"hs\", 0]");
	h_expect("history of a new flow", r,
	    "{\"updates\": [], \"complete\": true}");
	json_decref(r);
	apply(c, "hs", "[" NEW_C "]");		/* origin nil: not joined */
	json_decref(h_ok(c, "flow.join", "[\"hs\", \"h1\"]"));
	apply(c, "hs", "[{\"op\": \"set_meta\", \"title\": \"t\"}]");
	apply(c, "hs", "[{\"op\": \"remove_node\", \"id\": \"c\"}]");
	r = h_ok(c, "flow.history", "[\"hs\", 0]");
	h_expect("flow.history since 0", r, "{\"updates\": ["
	    "{\"version\": 1, \"ops\": [" NEW_C "], \"origin\": null}, "
	    "{\"version\": 2, \"ops\": [{\"op\": \"set_meta\", \"title\": "
	    "\"t\"}], \"origin\": \"h1\"}, "
	    "{\"version\": 3, \"ops\": [{\"op\": \"remove_node\", \"id\": "
	    "\"c\"}], \"origin\": \"h1\"}], \"complete\": true}");
	json_decref(r);
	r = h_ok(c, "flow.history", "[\"hs\", 2]");
	h_expect("flow.history since 2", r, "{\"updates\": ["
	    "{\"version\": 3, \"ops\": [{\"op\": \"remove_node\", \"id\": "
	    "\"c\"}], \"origin\": \"h1\"}], \"complete\": true}");
	json_decref(r);
	r = h_ok(c, "flow.history", "[\"hs\", 3]");
	h_expect("flow.history since 3", r,
	    "{\"updates\": [], \"complete\": true}");
	json_decref(r);
	hc_close(c);
	finish(d);

	/* Retention: 2 updates kept. */
	d = h_start(keep);
	c = h_connect(d);
	apply(c, "hk", "[{\"op\": \"set_meta\", \"title\": \"1\"}]");
	apply(c, "hk", "[{\"op\": \"set_meta\", \"title\": \"2\"}]");
	apply(c, "hk", "[{\"op\": \"set_meta\", \"title\": \"3\"}]");
	apply(c, "hk", "[{\"op\": \"set_meta\", \"title\": \"4\"}]");
	r = h_ok(c, "flow.history", "[\"hk\", 0]");
	h_expect("flow.history since 0, 2 kept", r, "{\"updates\": ["
	    "{\"version\": 3, \"ops\": [{\"op\": \"set_meta\", \"title\": "
	    "\"3\"}], \"origin\": null}, "
	    "{\"version\": 4, \"ops\": [{\"op\": \"set_meta\", \"title\": "
	    "\"4\"}], \"origin\": null}], \"complete\": false}");
	json_decref(r);
	r = h_ok(c, "flow.history", "[\"hk\", 2]");
	h_expect("flow.history since 2, 2 kept", r, "{\"updates\": ["
	    "{\"version\": 3, \"ops\": [{\"op\": \"set_meta\", \"title\": "
	    "\"3\"}], \"origin\": null}, "
	    "{\"version\": 4, \"ops\": [{\"op\": \"set_meta\", \"title\": "
	    "\"4\"}], \"origin\": null}], \"complete\": true}");
	json_decref(r);
	/* join since a version history no longer reaches: resync */
	r = h_ok(c, "flow.join", "[\"hk\", \"late\", 1]");
	ck_assert_msg(json_is_true(json_object_get(r, "resync")),
	    "join since 1 with 2 kept of 4: got %s, want resync true",
	    h_dump(r));
	json_decref(r);
	hc_close(c);
	finish(d);
}
END_TEST

/* ---- flow.status / flow.list ------------------------------------------- */

START_TEST(test_status)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	json_t			*st, *l;
	double			 t0 = unix_now(), la;

	/* A flow never used: answered without starting a session. */
	st = h_ok(c, "flow.status", "[\"ss\"]");
	check_status_map(st, "ss");
	ck_assert_msg(!h_bool(st, "active"), "active: got true for a flow "
	    "with no session");
	EXPECT_EQ(h_int(st, "version"), 0);
	EXPECT_EQ(h_int(st, "client_count"), 0);
	json_decref(st);
	ck_assert_msg(h_worker_pid(c, "ss") == 0,
	    "flow.status started a worker");
	l = h_ok(c, "flow.list", NULL);
	h_expect("flow.list after flow.status", l, "[]");
	json_decref(l);

	json_decref(h_ok(c, "flow.join", "[\"ss\", \"me\"]"));
	apply(c, "ss", "[" NEW_C "]");
	apply(c, "ss", "[{\"op\": \"set_meta\", \"title\": \"x\"}]");
	st = h_ok(c, "flow.status", "[\"ss\"]");
	check_status_map(st, "ss");
	ck_assert_msg(h_bool(st, "active"), "active: got false with a worker");
	ck_assert_msg(strcmp(h_str(st, "state"), "running") == 0,
	    "state: got %s, want running", h_str(st, "state"));
	EXPECT_EQ(h_int(st, "client_count"), 1);
	EXPECT_EQ(h_int(st, "version"), 2);
	EXPECT_EQ(h_int(st, "restarts"), 0);
	la = h_num(st, "last_activity");
	ck_assert_msg(la >= t0 - 2 && la <= unix_now() + 2,
	    "last_activity: got %f, want unix seconds in [%f, %f]", la, t0,
	    unix_now());
	json_decref(st);
	hc_close(c);
	finish(d);
}
END_TEST

START_TEST(test_list)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	struct listed_arg	 la = { c, "lb", "[]", false };
	json_t			*l, *r;
	const json_t		*e;
	size_t			 i;
	char			 dir[sizeof(d->dir)];

	l = h_ok(c, "flow.list", NULL);
	h_expect("flow.list of a new daemon", l, "[]");
	json_decref(l);
	l = h_ok(c, "flow.list", "[{\"all\": true}]");
	h_expect("flow.list all of a new daemon", l, "[]");
	json_decref(l);

	json_decref(h_ok(c, "flow.get", "[\"la\"]"));
	apply(c, "lb", "[" NEW_C "]");
	l = h_ok(c, "flow.list", NULL);
	ck_assert_msg(json_array_size(l) == 2, "flow.list: got %s, want la "
	    "and lb", h_dump(l));
	json_array_foreach(l, i, e) {
		check_status_map(e, h_str(e, "flow_id"));
		ck_assert_msg(h_bool(e, "active"), "flow.list: got %s, want "
		    "active", h_dump(e));
	}
	ck_assert_msg(list_find(l, "la") && list_find(l, "lb"),
	    "flow.list: got %s, want la and lb", h_dump(l));
	json_decref(l);

	/* Closed: not live any more, still on disk. */
	r = h_ok(c, "flow.close", "[\"lb\"]");
	json_decref(r);
	ck_assert_msg(h_poll(listed_is, &la, H_EVENT_MS),
	    "flow.list still lists lb %d ms after flow.close", H_EVENT_MS);
	l = h_ok(c, "flow.list", "[{\"all\": false}]");
	ck_assert_msg(list_find(l, "la") != NULL && list_find(l, "lb") == NULL,
	    "flow.list {all: false}: got %s, want la only", h_dump(l));
	json_decref(l);
	l = h_ok(c, "flow.list", "[{\"all\": true}]");
	e = list_find(l, "lb");
	ck_assert_msg(e != NULL && list_find(l, "la") != NULL,
	    "flow.list all: got %s, want la and lb", h_dump(l));
	check_status_map(e, "lb");
	ck_assert_msg(!h_bool(e, "active") && h_int(e, "version") == 1,
	    "flow.list all, lb: got %s, want active false and version 1",
	    h_dump(e));
	json_decref(l);
	hc_close(c);
	finish(d);

	/* A new daemon on the same state: nothing live, lb on disk. */
	snprintf(dir, sizeof(dir), "%s", d->dir);
	d = h_start_in(dir, NULL);
	c = h_connect(d);
	l = h_ok(c, "flow.list", NULL);
	h_expect("flow.list after a restart", l, "[]");
	json_decref(l);
	l = h_ok(c, "flow.list", "[{\"all\": true}]");
	e = list_find(l, "lb");
	ck_assert_msg(e != NULL && json_array_size(l) == 1,
	    "flow.list all after a restart: got %s, want lb only (la was "
	    "never written)", h_dump(l));
	ck_assert_msg(!h_bool(e, "active") && h_int(e, "version") == 1,
	    "flow.list all, lb: got %s, want active false, version 1",
	    h_dump(e));
	json_decref(l);
	hc_close(c);
	finish(d);
}
END_TEST

/* ---- flow.close / flow.delete ------------------------------------------ */

START_TEST(test_close)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*a = h_connect(d), *b = h_connect(d),
				*c = h_connect(d);
	struct pid_arg		 pa = { c, "cl" };
	json_t			*r, *n;
	pid_t			 pid;

	json_decref(h_ok(a, "flow.join", "[\"cl\", \"a\"]"));
	json_decref(h_ok(b, "flow.join", "[\"cl\", \"b\"]"));
	apply(c, "cl", "[" NEW_C "]");
	pid = h_worker_pid(c, "cl");
	ck_assert_msg(pid > 0, "no worker for a joined flow");

	r = h_ok(c, "flow.close", "[\"cl\"]");
	h_expect("flow.close", r, "{\"client_count\": 2}");
	json_decref(r);
	n = h_next(a, "flow.closed", H_EVENT_MS);
	h_expect("flow.closed to a", n, "[\"cl\", {\"reason\": \"closed\"}]");
	json_decref(n);
	n = h_next(b, "flow.closed", H_EVENT_MS);
	h_expect("flow.closed to b", n, "[\"cl\", {\"reason\": \"closed\"}]");
	json_decref(n);

	/* The worker stops; the connections stay open and unsubscribed. */
	ck_assert_msg(h_poll(pid_is_nil, &pa, H_EVENT_MS),
	    "session.inspect pid: not nil %d ms after flow.close", H_EVENT_MS);
	ck_assert_msg(h_poll(pid_dead, &pid, H_EVENT_MS),
	    "worker %d alive %d ms after flow.close", (int)pid, H_EVENT_MS);
	json_decref(h_ok(a, "sys.ping", NULL));
	json_decref(h_err(a, "not_joined", "flow.leave", "[\"cl\"]"));
	r = h_ok(c, "flow.status", "[\"cl\"]");
	ck_assert_msg(!h_bool(r, "active") && h_int(r, "client_count") == 0 &&
	    h_int(r, "version") == 1, "flow.status after close: got %s, want "
	    "active false, client_count 0, version 1", h_dump(r));
	json_decref(r);

	/* The state stays: a new session starts from it. */
	EXPECT_EQ(apply(c, "cl", "[{\"op\": \"remove_node\", \"id\": "
	    "\"c\"}]"), 2);
	ck_assert_msg(!h_got(a, "flow.update", H_QUIET_MS),
	    "a closed-out connection got a flow.update");

	/* No session: nobody to disconnect. */
	r = h_ok(c, "flow.close", "[\"never\"]");
	h_expect("flow.close of an unknown flow", r, "{\"client_count\": 0}");
	json_decref(r);
	hc_close(a);
	hc_close(b);
	hc_close(c);
	finish(d);
}
END_TEST

static const char *const empty_doc_fmt = "{\"id\": \"%s\", \"version\": 0, "
    "\"title\": \"\", \"description\": \"\", \"viewport\": {\"x\": 0, "
    "\"y\": 0, \"zoom\": 1}, \"nodes\": [], \"edges\": []}";

START_TEST(test_delete)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*a = h_connect(d), *b = h_connect(d);
	struct pid_arg		 pa = { b, "dl2" };
	json_t			*r, *n;
	char			 want[512];
	const json_t		*l;

	json_decref(h_ok(a, "flow.join", "[\"dl\", \"a\"]"));
	apply(a, "dl", "[" NEW_C "]");
	apply(a, "dl", "[{\"op\": \"set_meta\", \"title\": \"x\"}]");
	r = h_ok(b, "flow.delete", "[\"dl\"]");
	h_expect("flow.delete", r, "{\"deleted\": true}");
	json_decref(r);
	n = h_next(a, "flow.closed", H_EVENT_MS);
	h_expect("flow.closed to a joined connection", n,
	    "[\"dl\", {\"reason\": \"deleted\"}]");
	json_decref(n);
	snprintf(want, sizeof(want), empty_doc_fmt, "dl");
	expect_doc(b, "dl", want);
	r = h_ok(b, "flow.history", "[\"dl\", 0]");
	h_expect("flow.history after delete", r,
	    "{\"updates\": [], \"complete\": true}");
	json_decref(r);
	EXPECT_EQ(apply(b, "dl", "[" NEW_C "]"), 1);
	ck_assert_msg(!h_got(a, "flow.update", H_QUIET_MS),
	    "a connection joined before the delete got a flow.update");

	/* Never written: nothing to delete. */
	r = h_ok(b, "flow.delete", "[\"ghost\"]");
	h_expect("flow.delete of a flow never written", r,
	    "{\"deleted\": false}");
	json_decref(r);

	/* A flow with no worker (closed) is deleted too. */
	apply(b, "dl2", "[" NEW_C "]");
	json_decref(h_ok(b, "flow.close", "[\"dl2\"]"));
	ck_assert_msg(h_poll(pid_is_nil, &pa, H_EVENT_MS),
	    "dl2 still has a worker after flow.close");
	r = h_ok(b, "flow.delete", "[\"dl2\"]");
	h_expect("flow.delete of a closed flow", r, "{\"deleted\": true}");
	json_decref(r);
	r = h_ok(b, "flow.list", "[{\"all\": true}]");
	ck_assert_msg((l = list_find(r, "dl2")) == NULL ||
	    h_int(l, "version") == 0, "flow.list all after delete: got %s, "
	    "want no dl2", h_dump(r));
	json_decref(r);
	snprintf(want, sizeof(want), empty_doc_fmt, "dl2");
	expect_doc(b, "dl2", want);
	hc_close(a);
	hc_close(b);
	finish(d);
}
END_TEST

/* ---- session.inspect / session.kill ------------------------------------ */

START_TEST(test_inspect)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	static const char *const keys[] = { "pid", "state", "restarts",
	    "started_at", "queue_depth", "rss_bytes", "clients", "version" };
	json_t			*r;
	pid_t			 pid, ppid;
	char			 comm[64], st;
	size_t			 i;
	double			 t0 = unix_now(), sa;

	r = h_ok(c, "session.inspect", "[\"ins\"]");
	for (i = 0; i < NELEMS(keys); i++)
		ck_assert_msg(json_object_get(r, keys[i]) != NULL,
		    "session.inspect: got %s, want key %s", h_dump(r), keys[i]);
	ck_assert_msg(json_is_null(json_object_get(r, "pid")),
	    "pid of a flow with no worker: got %s, want nil", h_dump(r));
	h_expect("clients of a flow with no worker",
	    json_object_get(r, "clients"), "[]");
	json_decref(r);

	json_decref(h_ok(c, "flow.join", "[\"ins\", \"bob\"]"));
	apply(c, "ins", "[" NEW_C "]");
	r = h_ok(c, "session.inspect", "[\"ins\"]");
	pid = (pid_t)h_int(r, "pid");
	ck_assert_msg(h_proc_stat(pid, &ppid, &st, comm, sizeof(comm)) == 0 &&
	    st != 'Z' && ppid == d->pid && strcmp(comm, "helix-worker") == 0,
	    "inspect pid %d: got a process %s with parent %d, want a live "
	    "helix-worker child of helixd %d", (int)pid, comm, (int)ppid,
	    (int)d->pid);
	ck_assert_msg(strcmp(h_str(r, "state"), "running") == 0,
	    "state: got %s, want running", h_str(r, "state"));
	EXPECT_EQ(h_int(r, "restarts"), 0);
	sa = h_num(r, "started_at");
	ck_assert_msg(sa >= t0 - 2 && sa <= unix_now() + 2,
	    "started_at: got %f, want about %f", sa, t0);
	ck_assert_msg(h_int(r, "queue_depth") >= 0, "queue_depth: got %lld",
	    h_int(r, "queue_depth"));
	ck_assert_msg(h_int(r, "rss_bytes") > 0, "rss_bytes: got %lld, want "
	    "> 0", h_int(r, "rss_bytes"));
	h_expect("clients", json_object_get(r, "clients"), "[\"bob\"]");
	EXPECT_EQ(h_int(r, "version"), 1);
	json_decref(r);
	hc_close(c);
	finish(d);
}
END_TEST

START_TEST(test_kill_restart)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*a = h_connect(d), *c = h_connect(d);
	static const char *const sigs[] = { NULL, "\"TERM\"", "9", "\"SEGV\"" };
	json_t			*before, *r, *u, *st;
	pid_t			 pid, npid;
	size_t			 i;
	json_int_t		 v;
	char			*g;

	json_decref(h_err(c, "not_running", "session.kill", "[\"kx\"]"));
	json_decref(h_ok(a, "flow.join", "[\"kx\", \"watch\"]"));
	apply(c, "kx", BASE_OPS);
	u = h_next(a, "flow.update", H_EVENT_MS);
	ck_assert_msg(u != NULL, "joined connection: no flow.update 1");
	json_decref(u);
	json_decref(h_err(c, "invalid_params", "session.kill",
	    "[\"kx\", \"NOPE\"]"));
	json_decref(h_err(c, "invalid_params", "session.kill",
	    "[\"kx\", \"\"]"));
	json_decref(h_err(c, "invalid_params", "session.kill",
	    "[\"kx\", 100000]"));
	json_decref(h_err(c, "invalid_params", "session.kill",
	    "[\"kx\", [9]]"));

	pid = h_worker_pid(c, "kx");
	for (i = 0; i < NELEMS(sigs); i++) {
		before = h_ok(c, "flow.get", "[\"kx\"]");
		v = h_int(before, "version");
		if (sigs[i] == NULL)
			r = h_ok(c, "session.kill", "[\"kx\"]");
		else
			r = h_ok(c, "session.kill", "[\"kx\", %s]", sigs[i]);
		ck_assert_msg(h_int(r, "pid") == pid,
		    "session.kill %s: got pid %lld, want %d", sigs[i] ? sigs[i] :
		    "(KILL)", h_int(r, "pid"), (int)pid);
		json_decref(r);
		ck_assert_msg(h_poll(pid_dead, &pid, H_EVENT_MS),
		    "worker %d alive %d ms after session.kill %s", (int)pid,
		    H_EVENT_MS, sigs[i] ? sigs[i] : "");
		npid = h_wait_new_pid(c, "kx", pid, H_EVENT_MS);
		r = h_ok(c, "session.inspect", "[\"kx\"]");
		ck_assert_msg(h_int(r, "restarts") == (json_int_t)i + 1,
		    "restarts after %zu kills: got %lld", i + 1,
		    h_int(r, "restarts"));
		json_decref(r);
		/* Nothing committed was lost. */
		r = h_ok(c, "flow.get", "[\"kx\"]");
		if (!h_equal(r, before)) {
			g = h_dump(r);
			ck_abort_msg("flow.get after kill %s: got %s, want %s",
			    sigs[i] ? sigs[i] : "", g, h_dump(before));
		}
		json_decref(r);
		json_decref(before);
		/* Still joined: the next update reaches a. */
		EXPECT_EQ(apply(c, "kx", "[{\"op\": \"set_meta\", "
		    "\"title\": \"t\"}]"), v + 1);
		u = h_next(a, "flow.update", H_EVENT_MS);
		ck_assert_msg(u != NULL, "joined connection: no flow.update "
		    "after the restart");
		ck_assert_msg(h_int(json_array_get(u, 1), "version") == v + 1,
		    "flow.update after the restart: got %s, want version %lld",
		    h_dump(u), v + 1);
		json_decref(u);
		pid = npid;
	}
	st = h_ok(c, "sys.stats", NULL);
	ck_assert_msg(h_int(st, "session_crashes_total") == (json_int_t)NELEMS(sigs)
	    && h_int(st, "session_restarts_total") == (json_int_t)NELEMS(sigs),
	    "sys.stats: got crashes %lld restarts %lld, want %zu each",
	    h_int(st, "session_crashes_total"),
	    h_int(st, "session_restarts_total"), NELEMS(sigs));
	json_decref(st);
	hc_close(a);
	hc_close(c);
	finish(d);
}
END_TEST

/* A stopped worker: calls time out, the watchdog replaces it. */
START_TEST(test_stopped_worker)
{
	const char		*opts[] = { "--call-timeout-ms", "300",
				    "--heartbeat-interval-ms", "100", NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*c = h_connect(d);
	json_t			*r;
	char			 code[64], *hung;
	pid_t			 pid;
	int			 rv;

	apply(c, "stp", "[" NEW_C "]");
	pid = h_worker_pid(c, "stp");
	r = h_ok(c, "session.kill", "[\"stp\", \"STOP\"]");
	json_decref(r);
	json_decref(h_err(c, "timeout", "flow.get", "[\"stp\"]"));
	/*
	 * session.inspect answers in every state, a hung worker included
	 * (checked at the end, so that the rest is checked either way).
	 */
	r = NULL;
	rv = h_call(c, &r, code, sizeof(code), "session.inspect",
	    "[\"stp\"]");
	hung = h_dump(r);
	json_decref(r);
	h_wait_new_pid(c, "stp", pid, H_EVENT_MS);
	ck_assert_msg(h_poll(pid_dead, &pid, H_EVENT_MS),
	    "stopped worker %d still there", (int)pid);
	EXPECT_EQ(h_version(c, "stp"), 1);
	ck_assert_msg(rv == HC_OK, "session.inspect of a hung (SIGSTOPped) "
	    "worker: got %s %s, want the inspect map", code, hung);
	free(hung);
	hc_close(c);
	finish(d);
}
END_TEST

/* ---- limits, crashes, parking -------------------------------------------- */

#define NQ	100

START_TEST(test_limits)
{
	const char		*opts[] = { "--max-clients-per-flow", "2",
				    "--max-queue", "2", "--max-sessions", "1",
				    NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*a = h_connect(d), *b = h_connect(d),
				*c = h_connect(d), *q = h_connect(d);
	struct pid_arg		 pa = { c, "q" };
	static uint32_t		 ids[NQ];
	struct hc_result	 r;
	json_t			*p, *res;
	json_int_t		 ok = 0, over = 0;
	char			 nid[32];
	int			 i, rv;

	/* overloaded: more pipelined than the queue holds */
	for (i = 0; i < NQ; i++) {
		snprintf(nid, sizeof(nid), "n%d", i);
		p = h_json("[\"q\", [%s]]", node_op(nid));
		EXPECT_EQ(hc_send(q, "flow.apply", p, &ids[i]), HC_OK);
		json_decref(p);
	}
	for (i = 0; i < NQ; i++) {
		memset(&r, 0, sizeof(r));
		rv = hc_wait(q, ids[i], H_CALL_MS, &r);
		if (rv == HC_OK) {
			ck_assert_msg(h_int(r.value, "version") == ok + 1,
			    "apply %d: got version %lld, want %lld", i,
			    h_int(r.value, "version"), ok + 1);
			ok++;
		} else {
			ck_assert_msg(rv == HC_ERROR &&
			    strcmp(r.code, "overloaded") == 0, "apply %d with "
			    "max_queue 2: got %s (%s), want a result or "
			    "overloaded", i, r.code, r.message);
			over++;
		}
		hc_result_clear(&r);
	}
	ck_assert_msg(over > 0, "%d pipelined applies with max_queue 2: got "
	    "no overloaded, want some", NQ);
	EXPECT_EQ(h_version(q, "q"), ok);

	/* max_clients_reached; joining again still works */
	json_decref(h_ok(a, "flow.join", "[\"q\", \"a\"]"));
	json_decref(h_ok(b, "flow.join", "[\"q\", \"b\"]"));
	json_decref(h_err(c, "max_clients_reached", "flow.join",
	    "[\"q\", \"c\"]"));
	res = h_ok(a, "flow.join", "[\"q\", \"a\"]");
	EXPECT_EQ(h_int(res, "client_count"), 2);
	json_decref(res);

	/* max_sessions_reached: the one live session has clients */
	json_decref(h_err(c, "max_sessions_reached", "flow.get", "[\"q2\"]"));
	/* without clients it is idle: evicted for the new one */
	json_decref(h_ok(a, "flow.leave", "[\"q\"]"));
	json_decref(h_ok(b, "flow.leave", "[\"q\"]"));
	EXPECT_EQ(h_version(c, "q2"), 0);
	ck_assert_msg(h_poll(pid_is_nil, &pa, H_EVENT_MS),
	    "the evicted session q still has a worker");
	EXPECT_EQ(h_version(c, "q"), ok);
	hc_close(a);
	hc_close(b);
	hc_close(c);
	hc_close(q);
	finish(d);
}
END_TEST

/* A request in flight when its worker dies: session_crashed. */
START_TEST(test_session_crashed)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d), *adm = h_connect(d);
	struct hc_result	 r;
	json_t			*p, *st;
	uint32_t		 id;
	pid_t			 pid;
	int			 rv;

	apply(c, "cr", "[" NEW_C "]");
	pid = h_worker_pid(adm, "cr");
	json_decref(h_ok(adm, "session.kill", "[\"cr\", \"STOP\"]"));
	p = h_json("[\"cr\", [{\"op\": \"set_meta\", \"title\": \"lost\"}]]");
	EXPECT_EQ(hc_send(c, "flow.apply", p, &id), HC_OK);
	json_decref(p);
	/* In flight for sure once the master has it queued. */
	memset(&r, 0, sizeof(r));
	EXPECT_EQ(hc_wait(c, id, H_QUIET_MS, &r), HC_ETIMEDOUT);
	json_decref(h_ok(adm, "session.kill", "[\"cr\", \"KILL\"]"));
	memset(&r, 0, sizeof(r));
	rv = hc_wait(c, id, H_CALL_MS, &r);
	ck_assert_msg(rv == HC_ERROR && strcmp(r.code, "session_crashed") == 0,
	    "apply in flight when the worker was killed: got %s %s (%s), want "
	    "error session_crashed", rv == HC_OK ? "result" : "error",
	    h_dump(r.value), r.message);
	hc_result_clear(&r);
	h_wait_new_pid(adm, "cr", pid, H_EVENT_MS);
	/* the stopped worker never read it: not committed */
	EXPECT_EQ(h_version(c, "cr"), 1);
	st = h_ok(adm, "sys.stats", NULL);
	ck_assert_msg(h_int(st, "session_crashes_total") == 1,
	    "session_crashes_total: got %lld, want 1",
	    h_int(st, "session_crashes_total"));
	json_decref(st);
	hc_close(c);
	hc_close(adm);
	finish(d);
}
END_TEST

struct state_arg {
	struct hc_client	*c;
	const char		*flow;
	const char		*state;
};

static bool
state_is(void *arg)
{
	struct state_arg	*a = arg;
	json_t			*st = h_ok(a->c, "flow.status", "[\"%s\"]",
				    a->flow);
	bool			 eq = strcmp(h_str(st, "state"), a->state) == 0;

	json_decref(st);
	return eq;
}

/* Past max_restarts: parked (failed), session_failed, delete still works. */
START_TEST(test_session_failed)
{
	const char		*opts[] = { "--max-restarts", "1",
				    "--restart-cooldown", "60", NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*a = h_connect(d), *c = h_connect(d);
	struct state_arg	 sa = { c, "fl", "failed" };
	json_t			*e, *n, *st;
	pid_t			 pid;
	char			 want[512];

	json_decref(h_ok(a, "flow.join", "[\"fl\", \"a\"]"));
	apply(c, "fl", "[" NEW_C "]");
	pid = h_worker_pid(c, "fl");
	json_decref(h_ok(c, "session.kill", "[\"fl\"]"));
	pid = h_wait_new_pid(c, "fl", pid, H_EVENT_MS);
	apply(c, "fl", "[{\"op\": \"set_meta\", \"title\": \"t\"}]");
	json_decref(h_ok(c, "session.kill", "[\"fl\"]"));
	ck_assert_msg(h_poll(state_is, &sa, H_EVENT_MS),
	    "flow.status state: not failed %d ms after the second crash with "
	    "max_restarts 1", H_EVENT_MS);
	n = h_next(a, "flow.closed", H_EVENT_MS);
	h_expect("flow.closed of a parked flow", n,
	    "[\"fl\", {\"reason\": \"failed\"}]");
	json_decref(n);
	st = h_ok(c, "flow.status", "[\"fl\"]");
	ck_assert_msg(!h_bool(st, "active"), "flow.status of a failed flow: "
	    "got %s, want active false", h_dump(st));
	json_decref(st);
	ck_assert_msg(h_worker_pid(c, "fl") == 0, "a failed flow has a worker");
	e = h_err(c, "session_failed", "flow.get", "[\"fl\"]");
	ck_assert_msg(h_num(e, "retry_after") > 0, "retry_after: got %s, want "
	    "> 0 seconds", h_dump(e));
	json_decref(e);
	json_decref(h_err(c, "session_failed", "flow.apply", "[\"fl\", [%s]]",
	    node_op("z")));
	json_decref(h_err(c, "session_failed", "flow.join", "[\"fl\"]"));
	json_decref(h_err(c, "not_running", "session.kill", "[\"fl\"]"));
	/* Other flows carry on. */
	EXPECT_EQ(apply(c, "other", "[" NEW_C "]"), 1);
	/* Delete works on a failed flow; it starts again at 0. */
	e = h_ok(c, "flow.delete", "[\"fl\"]");
	h_expect("flow.delete of a failed flow", e, "{\"deleted\": true}");
	json_decref(e);
	snprintf(want, sizeof(want), empty_doc_fmt, "fl");
	expect_doc(c, "fl", want);
	hc_close(a);
	hc_close(c);
	finish(d);
}
END_TEST

/* Configured flow limits: invalid_op at the op that passes one. */
START_TEST(test_flow_limits)
{
	const char		*opts[] = { "--max-nodes", "2", "--max-edges",
				    "1", "--max-ops", "3", "--max-data-bytes", "100",
				    NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*c = h_connect(d);
	static const struct {
		const char	*ops;
		int		 index;
	} cases[] = {
		{ "[{\"op\": \"add_node\", \"node\": {\"id\": \"n3\", \"type\": "
		  "\"t\", \"x\": 0, \"y\": 0}}]", 0 },
		{ "[{\"op\": \"remove_node\", \"id\": \"n1\"}, {\"op\": "
		  "\"add_node\", \"node\": {\"id\": \"n3\", \"type\": \"t\", "
		  "\"x\": 0, \"y\": 0}}, {\"op\": \"add_node\", \"node\": "
		  "{\"id\": \"n4\", \"type\": \"t\", \"x\": 0, \"y\": 0}}]", 2 },
		{ "[{\"op\": \"add_edge\", \"edge\": {\"id\": \"e2\", \"source\": "
		  "\"n2\", \"target\": \"n1\"}}]", 0 },
		{ "[{\"op\": \"set_meta\", \"title\": \"1\"}, {\"op\": "
		  "\"set_meta\", \"title\": \"2\"}, {\"op\": \"set_meta\", "
		  "\"title\": \"3\"}, {\"op\": \"set_meta\", \"title\": \"4\"}]",
		  3 },
		{ "[{\"op\": \"update_node\", \"id\": \"n1\", \"data\": {\"s\": "
		  "\"0123456789012345678901234567890123456789012345678901234567"
		  "8901234567890123456789012345678901234567890123456789\"}}]", 0 },
	};
	json_t			*e;
	size_t			 i;

	EXPECT_EQ(apply(c, "lim", "[{\"op\": \"add_node\", \"node\": "
	    "{\"id\": \"n1\", \"type\": \"t\", \"x\": 0, \"y\": 0}}, {\"op\": "
	    "\"add_node\", \"node\": {\"id\": \"n2\", \"type\": \"t\", \"x\": 0, "
	    "\"y\": 0}}, {\"op\": \"add_edge\", \"edge\": {\"id\": \"e1\", "
	    "\"source\": \"n1\", \"target\": \"n2\"}}]"), 1);
	for (i = 0; i < NELEMS(cases); i++) {
		e = h_err(c, "invalid_op", "flow.apply", "[\"lim\", %s]",
		    cases[i].ops);
		ck_assert_msg(h_int(e, "index") == cases[i].index,
		    "%s: index: got %lld, want %d", cases[i].ops,
		    h_int(e, "index"), cases[i].index);
		json_decref(e);
	}
	EXPECT_EQ(h_version(c, "lim"), 1);
	/* within the limits: fine */
	EXPECT_EQ(apply(c, "lim", "[{\"op\": \"remove_node\", \"id\": "
	    "\"n1\"}, {\"op\": \"add_node\", \"node\": {\"id\": \"n3\", "
	    "\"type\": \"t\", \"x\": 0, \"y\": 0, \"data\": {\"s\": \"short\"}}}, "
	    "{\"op\": \"add_edge\", \"edge\": {\"id\": \"e2\", \"source\": "
	    "\"n3\", \"target\": \"n2\"}}]"), 2);
	hc_close(c);
	finish(d);
}
END_TEST

/* An idle session stops (hibernates); its flow comes back intact. */
START_TEST(test_idle_hibernate)
{
	const char		*opts[] = { "--idle-timeout", "1", NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*c = h_connect(d), *j = h_connect(d);
	struct pid_arg		 pa = { c, "idle" };
	json_t			*st;
	pid_t			 pid, held;

	apply(c, "idle", "[" NEW_C "]");
	json_decref(h_ok(j, "flow.join", "[\"held\", \"j\"]"));
	pid = h_worker_pid(c, "idle");
	held = h_worker_pid(c, "held");
	/* flow.status, not session.inspect: a request to the flow is activity */
	ck_assert_msg(h_poll(inactive, &pa, H_EVENT_MS),
	    "an idle session still active after %d ms with idle_timeout 1",
	    H_EVENT_MS);
	ck_assert_msg(h_poll(pid_dead, &pid, H_EVENT_MS),
	    "the idle worker %d is still alive", (int)pid);
	st = h_ok(c, "flow.status", "[\"idle\"]");
	check_status_map(st, "idle");
	ck_assert_msg(!h_bool(st, "active") && h_int(st, "version") == 1,
	    "flow.status of a hibernated flow: got %s, want active false, "
	    "version 1", h_dump(st));
	json_decref(st);
	/* a session with a client is not idle */
	ck_assert_msg(h_worker_pid(c, "held") == held && h_pid_alive(held),
	    "a session with a joined client was stopped as idle");
	EXPECT_EQ(apply(c, "idle", "[{\"op\": \"set_meta\", "
	    "\"title\": \"back\"}]"), 2);
	hc_close(c);
	hc_close(j);
	finish(d);
}
END_TEST

/*
 * A worker killed while applies are in flight: every acknowledged version
 * survives, the joined connection learns each committed version exactly
 * once and in order, and what was lost is answered session_crashed.
 */
#define NCU	400

START_TEST(test_crash_catch_up)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*a = h_connect(d), *b = h_connect(d),
				*adm = h_connect(d);
	static uint32_t		 ids[NCU];
	struct hc_result	 r;
	json_t			*p, *u, *h;
	json_int_t		 final, last_ok = 0, next = 1, v;
	int			 i, rv, crashed = 0;

	json_decref(h_ok(a, "flow.join", "[\"cu\", \"A\"]"));
	for (i = 0; i < NCU; i++) {
		p = h_json("[\"cu\", [{\"op\": \"set_meta\", \"title\": \"%d\"}]]",
		    i);
		EXPECT_EQ(hc_send(b, "flow.apply", p, &ids[i]), HC_OK);
		json_decref(p);
	}
	memset(&r, 0, sizeof(r));
	EXPECT_EQ(hc_wait(b, ids[0], H_CALL_MS, &r), HC_OK);
	hc_result_clear(&r);
	json_decref(h_ok(adm, "session.kill", "[\"cu\"]"));
	for (i = 1; i < NCU; i++) {
		memset(&r, 0, sizeof(r));
		rv = hc_wait(b, ids[i], H_CALL_MS, &r);
		if (rv == HC_OK) {
			v = h_int(r.value, "version");
			ck_assert_msg(v > last_ok, "apply %d: version %lld after "
			    "%lld", i, v, last_ok);
			last_ok = v;
		} else {
			ck_assert_msg(rv == HC_ERROR &&
			    strcmp(r.code, "session_crashed") == 0,
			    "apply %d: got %s (%s), want a result or "
			    "session_crashed", i, r.code, r.message);
			crashed++;
		}
		hc_result_clear(&r);
	}
	final = h_version(adm, "cu");
	ck_assert_msg(final >= last_ok && final >= 1, "version after the "
	    "crash: got %lld, want >= the last acknowledged %lld", final,
	    last_ok);
	/* A learns 1..final, each once, in order. */
	while (next <= final) {
		u = h_next(a, "flow.update", H_EVENT_MS);
		ck_assert_msg(u != NULL, "A: no flow.update for version %lld "
		    "(committed: %lld)", next, final);
		v = h_int(json_array_get(u, 1), "version");
		ck_assert_msg(v == next, "A: flow.update version %lld, want "
		    "%lld (each committed version once, in order)", v, next);
		next++;
		json_decref(u);
	}
	ck_assert_msg(!h_got(a, "flow.update", H_QUIET_MS),
	    "A: a flow.update beyond the committed version %lld", final);
	h = h_ok(adm, "flow.history", "[\"cu\", 0]");
	ck_assert_msg((json_int_t)json_array_size(json_object_get(h, "updates"))
	    == final, "flow.history: got %zu updates, want %lld",
	    json_array_size(json_object_get(h, "updates")), final);
	json_decref(h);
	(void)crashed;
	hc_close(a);
	hc_close(b);
	hc_close(adm);
	finish(d);
}
END_TEST

/* Admin methods from another uid: permission_denied (needs root). */
START_TEST(test_permission_denied)
{
	const char		*opts[] = { "--socket-mode", "0666", NULL };
	struct hd		*d;
	struct hc_client	*c;
	json_t			*res;
	char			 parent[sizeof(d->dir)], *slash;
	pid_t			 pid;
	int			 st;

	if (geteuid() != 0)
		return;		/* a peer of another uid needs root */
	d = h_start(opts);
	c = h_connect(d);
	apply(c, "pd", "[" NEW_C "]");
	snprintf(parent, sizeof(parent), "%s", d->dir);
	if ((slash = strrchr(parent, '/')) != NULL)
		*slash = '\0';
	EXPECT_EQ(chmod(parent, 0711), 0);
	EXPECT_EQ(chmod(d->dir, 0711), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		struct hc_client	*u;
		struct hc_result	 r;
		char			 err[256];

		if (setgid(65534) == -1 || setuid(65534) == -1)
			_exit(10);
		if ((u = hc_connect(d->sock, err, sizeof(err))) == NULL)
			_exit(11);
		memset(&r, 0, sizeof(r));
		if (hc_call_text(u, "sys.ping", NULL, H_CALL_MS, &r) != HC_OK)
			_exit(12);
		hc_result_clear(&r);
		if (hc_call_text(u, "session.kill", "[\"pd\"]", H_CALL_MS,
		    &r) != HC_ERROR || strcmp(r.code, "permission_denied") != 0)
			_exit(13);
		hc_result_clear(&r);
		if (hc_call_text(u, "sys.shutdown", NULL, H_CALL_MS, &r) !=
		    HC_ERROR || strcmp(r.code, "permission_denied") != 0)
			_exit(14);
		hc_result_clear(&r);
		if (hc_call_text(u, "flow.get", "[\"pd\"]", H_CALL_MS, &r) !=
		    HC_OK)
			_exit(15);
		_exit(0);
	}
	EXPECT_EQ(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "a peer with uid 65534: %s (11: cannot connect, 12: sys.ping "
	    "failed, 13: session.kill not permission_denied, 14: sys.shutdown "
	    "not permission_denied, 15: flow.get failed)", h_status_text(st));
	/* Neither the kill nor the shutdown happened. */
	ck_assert_msg(h_pid_alive(h_worker_pid(c, "pd")), "the worker died");
	res = h_ok(c, "flow.status", "[\"pd\"]");
	ck_assert_msg(h_int(res, "restarts") == 0,
	    "session.kill from another uid killed the worker");
	json_decref(res);
	hc_close(c);
	finish(d);
}
END_TEST

/* ---- sys.subscribe ----------------------------------------------------- */

static const json_t *
meta_of(const json_t *ev)
{
	return json_array_get(ev, 2);
}

START_TEST(test_subscribe)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*s = h_connect(d), *s2 = h_connect(d),
				*c = h_connect(d);
	json_t			*r, *ev;
	const json_t		*sig;
	const char		*name;
	pid_t			 pid;
	char			*m;
	bool			 joined = false;

	r = h_ok(s, "sys.subscribe", NULL);
	h_expect("sys.subscribe", r, "{}");
	json_decref(r);
	r = h_ok(s2, "sys.subscribe", "[[\"client.\"]]");
	h_expect("sys.subscribe [client.]", r, "{}");
	json_decref(r);

	json_decref(h_ok(c, "flow.join", "[\"ev\", \"evc\"]"));
	pid = h_worker_pid(c, "ev");
	ev = wait_event(s, "session.start");
	ck_assert_msg(strcmp(h_str(meta_of(ev), "flow_id"), "ev") == 0 &&
	    h_int(meta_of(ev), "pid") == pid, "session.start: got %s, want "
	    "flow_id ev and pid %d", h_dump(ev), (int)pid);
	json_decref(ev);

	/* The filtered subscriber: client.* only. */
	for (;;) {
		ev = h_next(s2, "sys.event", H_EVENT_MS);
		ck_assert_msg(ev != NULL, "subscriber [client.]: no client.joined");
		name = json_string_value(json_array_get(ev, 0));
		ck_assert_msg(name != NULL && strncmp(name, "client.", 7) == 0,
		    "subscriber [client.]: got %s, want client.* only",
		    h_dump(ev));
		if (strcmp(name, "client.joined") == 0) {
			ck_assert_msg(strcmp(h_str(meta_of(ev), "flow_id"),
			    "ev") == 0, "client.joined: got %s, want flow_id ev",
			    h_dump(ev));
			joined = true;
		}
		json_decref(ev);
		if (joined)
			break;
	}

	/* A crash: session.crash with the signal, then session.restart. */
	json_decref(h_ok(c, "session.kill", "[\"ev\"]"));
	ev = wait_event(s, "session.crash");
	sig = json_object_get(meta_of(ev), "signal");
	ck_assert_msg(strcmp(h_str(meta_of(ev), "flow_id"), "ev") == 0 &&
	    ((json_is_string(sig) && (strcmp(json_string_value(sig), "KILL") == 0
	    || strcmp(json_string_value(sig), "SIGKILL") == 0)) ||
	    (json_is_integer(sig) && json_integer_value(sig) == SIGKILL)),
	    "session.crash: got %s, want flow_id ev and signal KILL",
	    h_dump(ev));
	json_decref(ev);
	ev = wait_event(s, "session.restart");
	ck_assert_msg(strcmp(h_str(meta_of(ev), "flow_id"), "ev") == 0,
	    "session.restart: got %s, want flow_id ev", h_dump(ev));
	json_decref(ev);

	/* The filtered one saw no session.* in all that. */
	json_decref(h_ok(s2, "sys.ping", NULL));
	while (hc_next_notify(s2, 0, &m, &r) == HC_OK) {
		if (strcmp(m, "sys.event") == 0) {
			name = json_string_value(json_array_get(r, 0));
			ck_assert_msg(name != NULL && strncmp(name, "client.",
			    7) == 0, "subscriber [client.]: got %s", h_dump(r));
		}
		free(m);
		json_decref(r);
	}
	hc_close(s);
	hc_close(s2);
	hc_close(c);
	finish(d);
}
END_TEST

/* ---- sys.shutdown ---------------------------------------------------- */

START_TEST(test_shutdown)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*a = h_connect(d), *b = h_connect(d),
				*c = h_connect(d);
	json_t			*r, *n;
	pid_t			 p1, p2;

	json_decref(h_ok(a, "flow.join", "[\"sd1\", \"a\"]"));
	json_decref(h_ok(b, "flow.join", "[\"sd2\", \"b\"]"));
	apply(a, "sd1", "[" NEW_C "]");
	p1 = h_worker_pid(c, "sd1");
	p2 = h_worker_pid(c, "sd2");
	r = h_ok(c, "sys.shutdown", NULL);
	h_expect("sys.shutdown", r, "{}");
	json_decref(r);
	n = h_next(a, "flow.closed", H_EVENT_MS);
	h_expect("flow.closed at shutdown", n,
	    "[\"sd1\", {\"reason\": \"shutdown\"}]");
	json_decref(n);
	n = h_next(b, "flow.closed", H_EVENT_MS);
	h_expect("flow.closed at shutdown", n,
	    "[\"sd2\", {\"reason\": \"shutdown\"}]");
	json_decref(n);
	ck_assert_msg(h_wait_exit(d, H_STOP_MS),
	    "helixd still running %d ms after sys.shutdown", H_STOP_MS);
	ck_assert_msg(WIFEXITED(d->status) && WEXITSTATUS(d->status) == 0,
	    "helixd after sys.shutdown: got %s, want exit status 0; log:\n%s",
	    h_status_text(d->status), h_log_tail(d));
	ck_assert_msg(h_poll(pid_dead, &p1, H_EVENT_MS) &&
	    h_poll(pid_dead, &p2, H_EVENT_MS),
	    "workers %d %d outlived helixd", (int)p1, (int)p2);
	hc_close(a);
	hc_close(b);
	hc_close(c);
}
END_TEST

/* ---- the wire ---------------------------------------------------------- */

/* Well-formed, readable msgid, not a request: invalid_request. */
static const struct {
	const char	*msg;
	uint32_t	 msgid;
} invreq_cases[] = {
	{ "[0, 5, 7, []]", 5 },
	{ "[0, 1006, \"sys.ping\", {}]", 1006 },
	{ "[0, 1007, \"sys.ping\"]", 1007 },
	{ "[0, 1008, \"sys.ping\", [], 1]", 1008 },
	{ "[0, 1009, null, []]", 1009 },
	{ "[0, 1010, \"sys.ping\", null]", 1010 },
	{ "[0, 1011, \"sys.ping\", \"x\"]", 1011 },
	{ "[0, 4294967295, [\"sys.ping\"], []]", 4294967295u },
};

START_TEST(test_invalid_request)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	struct hc_result	 r;
	msgpack_sbuffer		 sb;
	json_t			*v;
	size_t			 i;

	for (i = 0; i < NELEMS(invreq_cases); i++) {
		msgpack_sbuffer_init(&sb);
		h_pack(&sb, "%s", invreq_cases[i].msg);
		EXPECT_EQ(hc_write_raw(c, sb.data, sb.size), HC_OK);
		msgpack_sbuffer_destroy(&sb);
		memset(&r, 0, sizeof(r));
		if (hc_wait(c, invreq_cases[i].msgid, H_CALL_MS, &r) !=
		    HC_ERROR || strcmp(r.code, "invalid_request") != 0)
			ck_abort_msg("%s: got %s %s (%s), want error "
			    "invalid_request for msgid %u", invreq_cases[i].msg,
			    r.is_error ? "error" : "result", h_dump(r.value),
			    r.message, invreq_cases[i].msgid);
		hc_result_clear(&r);
		/* and the connection stays open */
		v = h_ok(c, "sys.ping", NULL);
		json_decref(v);
	}

	/* A client's response is ignored; so is an unknown notification. */
	msgpack_sbuffer_init(&sb);
	h_pack(&sb, "[1, 77, null, \"x\"]");
	h_pack(&sb, "[2, \"no.such.method\", []]");
	EXPECT_EQ(hc_write_raw(c, sb.data, sb.size), HC_OK);
	msgpack_sbuffer_destroy(&sb);
	v = h_ok(c, "sys.ping", NULL);
	json_decref(v);
	memset(&r, 0, sizeof(r));
	ck_assert_msg(hc_wait(c, 77, H_QUIET_MS, &r) == HC_ETIMEDOUT,
	    "a client's response was answered: %s", h_dump(r.value));
	hc_result_clear(&r);
	ck_assert_msg(hc_pending_notifies(c) == 0,
	    "a client's response or notification got a notification back");
	hc_close(c);
	finish(d);
}
END_TEST

/* Not MessagePack, or no readable msgid: sys.error, then EOF. */
static const struct {
	const char	*what;
	const char	*bytes;
	size_t		 len;
} proterr_cases[] = {
#define BYTES(s)	s, sizeof(s) - 1
	{ "0xc1", BYTES("\xc1") },
	{ "0xc1 after a request", BYTES("\x94\x00\x01\xa8sys.ping\x90\xc1") },
	{ "msgid -1", BYTES("\x94\x00\xff\xa8sys.ping\x90") },
	{ "msgid 2^32", BYTES("\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00"
	  "\xa8sys.ping\x90") },
	{ "msgid a str", BYTES("\x94\x00\xa1x\xa8sys.ping\x90") },
	{ "msgid nil", BYTES("\x94\x00\xc0\xa8sys.ping\x90") },
	{ "empty array", BYTES("\x90") },
#undef BYTES
};

START_TEST(test_protocol_error)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*ctl = h_connect(d), *c;
	json_t			*p, *v;
	char			*m;
	size_t			 i;
	int			 rv;

	for (i = 0; i < NELEMS(proterr_cases); i++) {
		c = h_connect(d);
		EXPECT_EQ(hc_write_raw(c, proterr_cases[i].bytes,
		    proterr_cases[i].len), HC_OK);
		p = h_next(c, "sys.error", H_EVENT_MS);
		ck_assert_msg(p != NULL, "%s: got no sys.error, want "
		    "protocol_error", proterr_cases[i].what);
		ck_assert_msg(json_is_array(p) && json_array_size(p) == 1 &&
		    strcmp(h_str(json_array_get(p, 0), "code"),
		    "protocol_error") == 0 &&
		    json_is_string(json_object_get(json_array_get(p, 0),
		    "message")), "%s: got sys.error %s, want "
		    "[{code: protocol_error, message}]", proterr_cases[i].what,
		    h_dump(p));
		json_decref(p);
		/* Then the connection ends. */
		rv = hc_next_notify(c, H_EVENT_MS, &m, &p);
		ck_assert_msg(rv == HC_ECONN, "%s: after sys.error got %s, want "
		    "EOF", proterr_cases[i].what, rv == HC_OK ? m :
		    "no EOF in time");
		hc_close(c);
		/* Nothing else is affected. */
		v = h_ok(ctl, "sys.ping", NULL);
		json_decref(v);
	}
	hc_close(ctl);
	finish(d);
}
END_TEST

START_TEST(test_message_too_large)
{
	const char		*opts[] = { "--max-message-bytes", "4096", NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*c = h_connect(d), *w = h_connect(d);
	struct hc_result	 r;
	json_t			*params, *v;
	char			 big[5001];
	uint32_t		 id = 0;
	int			 rv;

	json_decref(h_ok(w, "flow.join", "[\"big\", \"w\"]"));
	/* Under the limit: fine. */
	memset(big, 'x', 3000);
	big[3000] = '\0';
	v = h_ok(c, "flow.apply", "[\"big\", [{\"op\": \"add_node\", \"node\": "
	    "{\"id\": \"n\", \"type\": \"t\", \"x\": 0, \"y\": 0, \"data\": "
	    "{\"s\": \"%s\"}}}]]", big);
	json_decref(v);
	ck_assert_msg(h_got(w, "flow.update", H_EVENT_MS),
	    "joined connection: no flow.update for version 1");
	/* Over it: message_too_large for its msgid, then the close. */
	memset(big, 'y', 5000);
	big[5000] = '\0';
	params = h_json("[\"big\", [{\"op\": \"add_node\", \"node\": {\"id\": "
	    "\"m\", \"type\": \"t\", \"x\": 0, \"y\": 0, \"data\": {\"s\": "
	    "\"%s\"}}}]]", big);
	rv = hc_send(c, "flow.apply", params, &id);
	json_decref(params);
	ck_assert_msg((rv == HC_OK || rv == HC_ECONN) && id != 0,
	    "sending the large request: status %d, msgid %u", rv, id);
	memset(&r, 0, sizeof(r));
	rv = hc_wait(c, id, H_CALL_MS, &r);
	ck_assert_msg(rv == HC_ERROR && strcmp(r.code, "message_too_large") == 0,
	    "request of 5 KB with max 4096: got %s %s (%s), want error "
	    "message_too_large", rv == HC_OK ? "result" : "status",
	    h_dump(r.value), r.message);
	hc_result_clear(&r);
	rv = hc_call(c, "sys.ping", NULL, H_CALL_MS, &r);
	ck_assert_msg(rv == HC_ECONN, "after message_too_large: got status %d "
	    "(%s), want the connection closed", rv, r.message);
	hc_result_clear(&r);
	hc_close(c);
	/* Nothing applied; other connections carry on. */
	EXPECT_EQ(h_version(w, "big"), 1);
	ck_assert_msg(!h_got(w, "flow.update", H_QUIET_MS),
	    "the refused apply reached a joined connection");
	hc_close(w);
	finish(d);
}
END_TEST

/* A client notification is executed like a request, never answered. */
START_TEST(test_client_notification)
{
	struct hd	*d = h_start(NULL);
	struct h_raw	 raw;
	msgpack_sbuffer	 sb;
	json_t		*m;
	int		 rv;

	h_raw_open(d, &raw);
	msgpack_sbuffer_init(&sb);
	h_pack(&sb, "[2, \"flow.apply\", [\"nt\", [%s]]]", node_op("n1"));
	h_pack(&sb, "[2, \"flow.apply\", [\"nt\", \"not ops\"]]");
	h_pack(&sb, "[2, \"flow.get\", [\"a b\"]]");
	h_pack(&sb, "[2, \"sys.ping\", []]");
	h_pack(&sb, "[0, 1, \"flow.get\", [\"nt\"]]");
	ck_assert(h_raw_send(&raw, sb.data, sb.size));
	msgpack_sbuffer_destroy(&sb);

	rv = h_raw_next(&raw, H_CALL_MS, &m);
	ck_assert_msg(rv == 1, "no answer to flow.get (status %d)", rv);
	ck_assert_msg(json_integer_value(json_array_get(m, 0)) == 1 &&
	    json_integer_value(json_array_get(m, 1)) == 1,
	    "first message: got %s, want the response to msgid 1 (the "
	    "notifications are never answered)", h_dump(m));
	ck_assert_msg(json_is_null(json_array_get(m, 2)) &&
	    h_int(json_array_get(m, 3), "version") == 1,
	    "flow.get after a notified apply: got %s, want version 1",
	    h_dump(m));
	json_decref(m);
	rv = h_raw_next(&raw, H_QUIET_MS, &m);
	ck_assert_msg(rv == 0, "after the answer: got %s, want nothing",
	    rv == 1 ? h_dump(m) : "EOF");
	h_raw_close(&raw);
	finish(d);
}
END_TEST

/* ---- pipelining and many connections ------------------------------------ */

#define NPIPE	2000

START_TEST(test_pipeline)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	static uint32_t		 ids[NPIPE];
	struct hc_result	 r;
	json_t			*p, *doc;
	char			 nid[32];
	int			 i, rv;

	for (i = 0; i < NPIPE; i++) {
		snprintf(nid, sizeof(nid), "n%d", i);
		p = h_json("[\"pipe\", [%s]]", node_op(nid));
		rv = hc_send(c, "flow.apply", p, &ids[i]);
		json_decref(p);
		ck_assert_msg(rv == HC_OK, "hc_send %d: status %d (%s)", i, rv,
		    hc_last_error(c));
	}
	for (i = 0; i < NPIPE; i++) {
		memset(&r, 0, sizeof(r));
		rv = hc_wait(c, ids[i], H_CALL_MS * 3, &r);
		ck_assert_msg(rv == HC_OK, "apply %d: got status %d %s (%s), "
		    "want a result", i, rv, r.code, r.message);
		ck_assert_msg(h_int(r.value, "version") == i + 1,
		    "apply %d: got version %lld, want %d (request order)", i,
		    h_int(r.value, "version"), i + 1);
		hc_result_clear(&r);
	}
	doc = h_ok(c, "flow.get", "[\"pipe\"]");
	EXPECT_EQ(h_int(doc, "version"), NPIPE);
	EXPECT_EQ(json_array_size(json_object_get(doc, "nodes")), NPIPE);
	for (i = 0; i < NPIPE; i++) {
		snprintf(nid, sizeof(nid), "n%d", i);
		ck_assert_msg(strcmp(h_str(json_array_get(json_object_get(doc,
		    "nodes"), i), "id"), nid) == 0, "node %d: want %s "
		    "(insertion order)", i, nid);
	}
	json_decref(doc);
	hc_close(c);
	finish(d);
}
END_TEST

/* The order answers arrive in, read off the wire: per flow, request order. */
#define NMIX	600

START_TEST(test_pipeline_wire_order)
{
	struct hd	*d = h_start(NULL);
	struct h_raw	 raw;
	msgpack_sbuffer	 sb;
	json_t		*m;
	static bool	 seen[3 * NMIX + 1];
	uint32_t	 id, last[3] = { 0, 0, 0 };
	json_int_t	 ver[2] = { 0, 0 };
	int		 i, n, rv, k;

	h_raw_open(d, &raw);
	msgpack_sbuffer_init(&sb);
	for (i = 0, id = 1; i < NMIX; i++) {
		h_pack(&sb, "[0, %u, \"flow.apply\", [\"wa\", [%s]]]", id++,
		    node_op("x") /* same id: later ones fail */);
		h_pack(&sb, "[0, %u, \"flow.apply\", [\"wb\", [{\"op\": "
		    "\"set_meta\", \"title\": \"%d\"}]]]", id++, i);
		h_pack(&sb, "[0, %u, \"sys.ping\", []]", id++);
	}
	ck_assert(h_raw_send(&raw, sb.data, sb.size));
	msgpack_sbuffer_destroy(&sb);
	for (n = 0; n < 3 * NMIX; n++) {
		rv = h_raw_next(&raw, H_CALL_MS, &m);
		ck_assert_msg(rv == 1, "answer %d of %d: none (status %d)", n,
		    3 * NMIX, rv);
		ck_assert_msg(json_integer_value(json_array_get(m, 0)) == 1,
		    "got %s, want responses only", h_dump(m));
		id = (uint32_t)json_integer_value(json_array_get(m, 1));
		ck_assert_msg(id >= 1 && id <= 3 * NMIX && !seen[id],
		    "response msgid %u: unknown or twice", id);
		seen[id] = true;
		k = (int)((id - 1) % 3);	/* 0: wa, 1: wb, 2: ping */
		ck_assert_msg(id > last[k], "%s: answer %u after %u, want "
		    "request order", k == 0 ? "wa" : k == 1 ? "wb" : "ping", id,
		    last[k]);
		last[k] = id;
		if (k == 0 && id == 1) {
			ck_assert_msg(json_is_null(json_array_get(m, 2)),
			    "first add_node: got %s", h_dump(m));
			ver[0] = 1;
		} else if (k == 0) {
			ck_assert_msg(strcmp(h_str(json_array_get(m, 2), "code"),
			    "invalid_op") == 0, "repeated add_node: got %s, "
			    "want invalid_op", h_dump(m));
		} else if (k == 1) {
			ck_assert_msg(json_is_null(json_array_get(m, 2)) &&
			    h_int(json_array_get(m, 3), "version") == ver[1] + 1,
			    "wb apply: got %s, want version %lld", h_dump(m),
			    ver[1] + 1);
			ver[1]++;
		}
		json_decref(m);
	}
	EXPECT_EQ(ver[1], NMIX);
	h_raw_close(&raw);
	finish(d);
}
END_TEST

/*
 * A joined connection learns every version exactly once, from its own
 * replies or from flow.update, and never a reply reporting v before every
 * version below v: read off the wire while two connections apply at once.
 */
#define NORD	300

START_TEST(test_update_order)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*b = h_connect(d);
	struct h_raw		 raw;
	msgpack_sbuffer		 sb;
	static uint32_t		 bids[NORD];
	static bool		 known[2 * NORD + 1];
	struct hc_result	 r;
	json_t			*m, *p, *res;
	json_int_t		 v, below, replies = 0;
	uint32_t		 id;
	int			 i, rv, type;

	h_raw_open(d, &raw);
	msgpack_sbuffer_init(&sb);
	h_pack(&sb, "[0, 1, \"flow.join\", [\"ord\", \"A\"]]");
	ck_assert(h_raw_send(&raw, sb.data, sb.size));
	rv = h_raw_next(&raw, H_CALL_MS, &m);
	ck_assert_msg(rv == 1 && json_is_null(json_array_get(m, 2)),
	    "join: got %s", rv == 1 ? h_dump(m) : "nothing");
	json_decref(m);
	msgpack_sbuffer_destroy(&sb);

	msgpack_sbuffer_init(&sb);
	for (i = 0; i < NORD; i++)
		h_pack(&sb, "[0, %d, \"flow.apply\", [\"ord\", [{\"op\": "
		    "\"set_meta\", \"title\": \"A%d\"}]]]", i + 2, i);
	for (i = 0; i < NORD; i++) {
		p = h_json("[\"ord\", [{\"op\": \"set_meta\", \"title\": "
		    "\"B%d\"}]]", i);
		EXPECT_EQ(hc_send(b, "flow.apply", p, &bids[i]), HC_OK);
		json_decref(p);
		if (i == NORD / 3)
			ck_assert(h_raw_send(&raw, sb.data, sb.size));
	}
	msgpack_sbuffer_destroy(&sb);

	while (replies < NORD) {
		rv = h_raw_next(&raw, H_CALL_MS, &m);
		ck_assert_msg(rv == 1, "A: got %lld of %d replies, then %s",
		    replies, NORD, rv == 0 ? "nothing" : "EOF");
		type = (int)json_integer_value(json_array_get(m, 0));
		if (type == 2 && strcmp(json_string_value(json_array_get(m, 1)),
		    "flow.update") == 0) {
			v = h_int(json_array_get(json_array_get(m, 2), 1),
			    "version");
			/* B did not join; A's own applies are not echoed */
			ck_assert_msg(json_is_null(json_object_get(
			    json_array_get(json_array_get(m, 2), 1), "origin")),
			    "A: got %s, want only B's updates (origin nil)",
			    h_dump(m));
		} else if (type == 1) {
			id = (uint32_t)json_integer_value(json_array_get(m, 1));
			ck_assert_msg(json_is_null(json_array_get(m, 2)),
			    "A's apply %u: got %s", id, h_dump(m));
			v = h_int(json_array_get(m, 3), "version");
			/* every version below v learned already */
			for (below = 1; below < v; below++)
				ck_assert_msg(known[below], "A: reply reporting "
				    "version %lld before version %lld was sent",
				    v, below);
			replies++;
		} else {
			json_decref(m);
			continue;	/* flow.presence and the like */
		}
		ck_assert_msg(v >= 1 && v <= 2 * NORD && !known[v],
		    "A: version %lld learned twice or out of range (%s)", v,
		    h_dump(m));
		known[v] = true;
		json_decref(m);
	}
	for (i = 0; i < NORD; i++) {
		memset(&r, 0, sizeof(r));
		EXPECT_EQ(hc_wait(b, bids[i], H_CALL_MS, &r), HC_OK);
		hc_result_clear(&r);
	}
	/* the rest of B's versions reach A as updates */
	for (v = 1; v <= 2 * NORD; v++) {
		while (!known[v]) {
			rv = h_raw_next(&raw, H_CALL_MS, &m);
			ck_assert_msg(rv == 1, "A never learned version %lld", v);
			if (json_integer_value(json_array_get(m, 0)) == 2 &&
			    strcmp(json_string_value(json_array_get(m, 1)),
			    "flow.update") == 0) {
				json_int_t u = h_int(json_array_get(
				    json_array_get(m, 2), 1), "version");

				ck_assert_msg(u >= 1 && u <= 2 * NORD && !known[u],
				    "A: version %lld twice", u);
				known[u] = true;
			}
			json_decref(m);
		}
	}
	res = h_ok(b, "flow.get", "[\"ord\"]");
	EXPECT_EQ(h_int(res, "version"), 2 * NORD);
	json_decref(res);
	h_raw_close(&raw);
	hc_close(b);
	finish(d);
}
END_TEST

#define NCROWD	50

START_TEST(test_crowd_join)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c[NCROWD], *ctl;
	struct hc_result	 r;
	uint32_t		 ids[NCROWD];
	bool			 counts[NCROWD + 1] = { false };
	json_t			*p, *ins, *st;
	pid_t			 pid, workers[8];
	json_int_t		 n;
	int			 i, nw;

	for (i = 0; i < NCROWD; i++)
		c[i] = h_connect(d);
	/* Every join is sent before any answer is awaited. */
	for (i = 0; i < NCROWD; i++) {
		p = h_json("[\"crowd\", \"c%02d\"]", i);
		EXPECT_EQ(hc_send(c[i], "flow.join", p, &ids[i]), HC_OK);
		json_decref(p);
	}
	for (i = 0; i < NCROWD; i++) {
		memset(&r, 0, sizeof(r));
		ck_assert_msg(hc_wait(c[i], ids[i], H_CALL_MS, &r) == HC_OK,
		    "join %d: got %s (%s), want a result", i, r.code, r.message);
		n = h_int(r.value, "client_count");
		ck_assert_msg(n >= 1 && n <= NCROWD && !counts[n],
		    "join %d: client_count %lld, want a distinct count in 1..%d",
		    i, n, NCROWD);
		counts[n] = true;
		hc_result_clear(&r);
	}
	ck_assert_msg(counts[NCROWD], "no join reported client_count %d",
	    NCROWD);

	ctl = h_connect(d);
	ins = h_ok(ctl, "session.inspect", "[\"crowd\"]");
	pid = (pid_t)h_int(ins, "pid");
	ck_assert_msg(json_array_size(json_object_get(ins, "clients")) == NCROWD,
	    "session.inspect clients: got %s, want %d ids", h_dump(ins),
	    NCROWD);
	json_decref(ins);
	nw = h_workers_of(d->pid, workers, 8);
	ck_assert_msg(nw == 1 && workers[0] == pid, "helix-worker children of "
	    "helixd: got %d (first %d), want exactly 1, pid %d", nw,
	    nw > 0 ? (int)workers[0] : 0, (int)pid);
	st = h_ok(ctl, "flow.status", "[\"crowd\"]");
	ck_assert_msg(h_int(st, "client_count") == NCROWD,
	    "flow.status client_count: got %lld, want %d",
	    h_int(st, "client_count"), NCROWD);
	json_decref(st);
	st = h_ok(ctl, "sys.stats", NULL);
	ck_assert_msg(h_int(st, "sessions_started_total") == 1,
	    "sessions_started_total: got %lld, want 1",
	    h_int(st, "sessions_started_total"));
	json_decref(st);
	for (i = 0; i < NCROWD; i++)
		hc_close(c[i]);
	hc_close(ctl);
	finish(d);
}
END_TEST

#define NFAN	5

START_TEST(test_fanout)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c[NFAN], *outsider;
	json_t			*u;
	char			 want[512];
	int			 i;

	for (i = 0; i < NFAN; i++) {
		c[i] = h_connect(d);
		json_decref(h_ok(c[i], "flow.join", "[\"fan\", \"c%d\"]", i));
	}
	outsider = h_connect(d);

	/* c2 applies: everyone else hears it with origin c2. */
	EXPECT_EQ(apply(c[2], "fan", "[" NEW_C "]"), 1);
	for (i = 0; i < NFAN; i++) {
		if (i == 2)
			continue;
		u = h_next(c[i], "flow.update", H_EVENT_MS);
		ck_assert_msg(u != NULL, "c%d: no flow.update for version 1", i);
		h_expect("flow.update", u, "[\"fan\", {\"version\": 1, \"ops\": "
		    "[" NEW_C "], \"origin\": \"c2\"}]");
		json_decref(u);
	}
	/* c0 applies: c2's first update is version 2, so it never got 1. */
	EXPECT_EQ(apply(c[0], "fan", "[{\"op\": \"set_meta\", "
	    "\"title\": \"by c0\"}]"), 2);
	u = h_next(c[2], "flow.update", H_EVENT_MS);
	ck_assert_msg(u != NULL, "c2: no flow.update for version 2");
	h_expect("c2's first flow.update (its own apply is not echoed)", u,
	    "[\"fan\", {\"version\": 2, \"ops\": [{\"op\": \"set_meta\", "
	    "\"title\": \"by c0\"}], \"origin\": \"c0\"}]");
	json_decref(u);
	/* Someone not joined: origin nil, everyone hears it. */
	EXPECT_EQ(apply(outsider, "fan", "[{\"op\": \"set_meta\", "
	    "\"title\": \"by outsider\"}]"), 3);
	for (i = 0; i < NFAN; i++) {
		u = h_next(c[i], "flow.update", H_EVENT_MS);
		ck_assert_msg(u != NULL, "c%d: no flow.update", i);
		if (i != 0 && i != 2) {
			/* the one for version 2 came first */
			EXPECT_EQ(h_int(json_array_get(u, 1), "version"),
			    2);
			json_decref(u);
			u = h_next(c[i], "flow.update", H_EVENT_MS);
			ck_assert_msg(u != NULL, "c%d: no flow.update 3", i);
		}
		snprintf(want, sizeof(want), "[\"fan\", {\"version\": 3, "
		    "\"ops\": [{\"op\": \"set_meta\", \"title\": \"by "
		    "outsider\"}], \"origin\": null}]");
		h_expect("flow.update from a connection that did not join", u,
		    want);
		json_decref(u);
	}
	/* Nothing more: every version exactly once. */
	for (i = 0; i < NFAN; i++) {
		json_decref(h_ok(c[i], "sys.ping", NULL));
		ck_assert_msg(!h_got(c[i], "flow.update", H_QUIET_MS / 4),
		    "c%d: a flow.update too many", i);
	}
	ck_assert_msg(!h_got(outsider, "flow.update", 0),
	    "a connection that did not join got a flow.update");
	for (i = 0; i < NFAN; i++)
		hc_close(c[i]);
	hc_close(outsider);
	finish(d);
}
END_TEST

/* ---- durability across daemons ----------------------------------------- */

#define NFLOWS	3
#define NCHANGES 30

/* Apply NCHANGES per flow, pipelined; all acknowledged. */
static void
write_flows(struct hc_client *c, const char *prefix)
{
	static uint32_t	 ids[NFLOWS * NCHANGES];
	struct hc_result r;
	json_t		*p;
	char		 nid[32];
	int		 f, i, n = 0;

	for (i = 0; i < NCHANGES; i++) {
		for (f = 0; f < NFLOWS; f++) {
			snprintf(nid, sizeof(nid), "n%d", i);
			if (i % 3 == 2)
				p = h_json("[\"%s%d\", [{\"op\": \"set_meta\", "
				    "\"title\": \"t%d\"}, {\"op\": \"update_node\", "
				    "\"id\": \"n%d\", \"x\": %d.5}]]", prefix, f, i,
				    i - 1, i);
			else
				p = h_json("[\"%s%d\", [%s]]", prefix, f,
				    node_op(nid));
			EXPECT_EQ(hc_send(c, "flow.apply", p, &ids[n++]),
			    HC_OK);
			json_decref(p);
		}
	}
	for (i = 0; i < n; i++) {
		memset(&r, 0, sizeof(r));
		ck_assert_msg(hc_wait(c, ids[i], H_CALL_MS, &r) == HC_OK,
		    "apply %d: got %s (%s)", i, r.code, r.message);
		hc_result_clear(&r);
	}
}

/* Documents and histories of the flows, to compare after a restart. */
static json_t *
snapshot_flows(struct hc_client *c, const char *prefix)
{
	json_t	*all = json_object();
	char	 id[64];
	int	 f;

	for (f = 0; f < NFLOWS; f++) {
		snprintf(id, sizeof(id), "%s%d", prefix, f);
		json_object_set_new(all, id, json_pack("{s:o, s:o}",
		    "doc", h_ok(c, "flow.get", "[\"%s\"]", id),
		    "history", h_ok(c, "flow.history", "[\"%s\", 0]", id)));
	}
	return all;
}

static void
expect_flows(struct hc_client *c, const char *prefix, const json_t *want,
    const char *when)
{
	json_t	*got = snapshot_flows(c, prefix);
	char	*g;
	int	 f;
	char	 id[64];

	for (f = 0; f < NFLOWS; f++) {
		snprintf(id, sizeof(id), "%s%d", prefix, f);
		ck_assert_msg(h_int(json_object_get(json_object_get(got, id),
		    "doc"), "version") == NCHANGES, "%s: %s version: got %lld, "
		    "want %d", when, id, h_int(json_object_get(json_object_get(
		    got, id), "doc"), "version"), NCHANGES);
	}
	if (!h_equal(got, want)) {
		g = h_dump(got);
		ck_abort_msg("%s: got %s, want %s", when, g, h_dump(want));
	}
	json_decref(got);
}

START_TEST(test_restart_durable)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	json_t			*before, *l;
	char			 dir[sizeof(d->dir)];

	write_flows(c, "dur");
	before = snapshot_flows(c, "dur");
	hc_close(c);
	finish(d);

	snprintf(dir, sizeof(dir), "%s", d->dir);
	d = h_start_in(dir, NULL);
	c = h_connect(d);
	expect_flows(c, "dur", before, "after SIGTERM and a new daemon");
	l = h_ok(c, "flow.list", "[{\"all\": true}]");
	ck_assert_msg(json_array_size(l) == NFLOWS, "flow.list all: got %s, "
	    "want the %d flows", h_dump(l), NFLOWS);
	json_decref(l);
	/* and the versions go on */
	EXPECT_EQ(apply(c, "dur0", "[{\"op\": \"set_meta\", "
	    "\"title\": \"more\"}]"), NCHANGES + 1);
	json_decref(before);
	hc_close(c);
	finish(d);
}
END_TEST

struct orphans_arg {
	pid_t	 daemon;
	pid_t	*pids;
	int	 n;
};

static bool
orphans_gone(void *arg)
{
	struct orphans_arg	*o = arg;
	int			 i;

	for (i = 0; i < o->n; i++)
		if (h_pid_alive(o->pids[i]))
			return false;
	return h_workers_of(o->daemon, NULL, 0) == 0 &&
	    h_workers_of(getpid(), NULL, 0) == 0;
}

static const char *const sync_modes[] = { "full", "batch", "none" };

START_TEST(test_sigkill_daemon)
{
	const char		*opts[] = { "--sync", sync_modes[_i], NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*c = h_connect(d);
	struct orphans_arg	 o;
	pid_t			 pids[NFLOWS];
	json_t			*before;
	struct stat		 sb;
	char			 dir[sizeof(d->dir)];
	int			 f;

	write_flows(c, "k");
	before = snapshot_flows(c, "k");
	for (f = 0; f < NFLOWS; f++) {
		char id[16];

		snprintf(id, sizeof(id), "k%d", f);
		pids[f] = h_worker_pid(c, id);
		ck_assert_msg(pids[f] > 0, "%s has no worker", id);
	}
	hc_close(c);
	h_kill9(d);

	/* Its workers go too. */
	o.daemon = d->pid;
	o.pids = pids;
	o.n = NFLOWS;
	ck_assert_msg(h_poll(orphans_gone, &o, H_EVENT_MS),
	    "sync %s: workers %d %d %d of a SIGKILLed helixd: some still alive "
	    "after %d ms", sync_modes[_i], (int)pids[0], (int)pids[1],
	    (int)pids[2], H_EVENT_MS);
	ck_assert_msg(lstat(d->sock, &sb) == 0 && S_ISSOCK(sb.st_mode),
	    "the SIGKILLed daemon left no socket file (%s)", d->sock);

	/* A new daemon on the same state has everything acknowledged. */
	snprintf(dir, sizeof(dir), "%s", d->dir);
	d = h_start_in(dir, opts);
	c = h_connect(d);
	expect_flows(c, "k", before, "after SIGKILL and a new daemon");
	json_decref(before);
	hc_close(c);
	finish(d);
}
END_TEST

START_TEST(test_stale_socket)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	struct sockaddr_un	 sun;
	struct stat		 sb;
	char			 dir[sizeof(d->dir)];
	int			 fd, rc;

	apply(c, "st", "[" NEW_C "]");
	hc_close(c);
	h_kill9(d);
	ck_assert_msg(lstat(d->sock, &sb) == 0 && S_ISSOCK(sb.st_mode),
	    "no stale socket file after SIGKILL");
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, d->sock, strlen(d->sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	ck_assert_msg(rc == -1, "the stale socket accepted a connection");

	snprintf(dir, sizeof(dir), "%s", d->dir);
	d = h_start_in(dir, NULL);
	c = h_connect(d);
	json_decref(h_ok(c, "sys.ping", NULL));
	EXPECT_EQ(h_version(c, "st"), 1);
	hc_close(c);
	finish(d);
}
END_TEST

START_TEST(test_second_daemon)
{
	struct hd		*d = h_start(NULL), *d2;
	struct hc_client	*c = h_connect(d);
	char			 log2[sizeof(d->dir) + 32], *text;
	bool			 clear;

	apply(c, "one", "[" NEW_C "]");
	snprintf(log2, sizeof(log2), "%s/helixd2.log", d->dir);
	d2 = h_spawn(d->dir, d->sock, log2, NULL);
	ck_assert_msg(h_wait_exit(d2, H_STOP_MS), "a second helixd on %s "
	    "still runs after %d ms, want it refused", d->sock, H_STOP_MS);
	text = h_log(d2);
	ck_assert_msg(WIFEXITED(d2->status) && WEXITSTATUS(d2->status) != 0,
	    "second helixd: got %s, want a non-zero exit status; stderr: %s",
	    h_status_text(d2->status), text);
	clear = strstr(text, d->sock) != NULL && (strstr(text, "already") ||
	    strstr(text, "in use") || strstr(text, "running"));
	ck_assert_msg(clear, "second helixd's stderr: got \"%s\", want the "
	    "socket path and that a daemon already listens there", text);
	free(text);

	/* The first one is untouched. */
	json_decref(h_ok(c, "sys.ping", NULL));
	hc_close(c);
	c = h_connect(d);
	EXPECT_EQ(h_version(c, "one"), 1);
	hc_close(c);
	finish(d);
}
END_TEST

/* ------------------------------------------------------------------------ */

static Suite *
daemon_suite(void)
{
	Suite	*s = suite_create("daemon");
	TCase	*tc;

	tc = tcase_create("methods");
	tcase_add_test(tc, test_sys_ping_version);
	tcase_add_test(tc, test_sys_stats);
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_get_new_flow);
	tcase_add_test(tc, test_apply_ops);
	tcase_add_test(tc, test_apply_invalid);
	tcase_add_test(tc, test_apply_nan);
	tcase_add_test(tc, test_apply_conflict);
	tcase_add_test(tc, test_join);
	tcase_add_test(tc, test_join_replay);
	tcase_add_test(tc, test_leave);
	tcase_add_test(tc, test_history);
	tcase_add_test(tc, test_status);
	tcase_add_test(tc, test_list);
	tcase_add_test(tc, test_close);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_inspect);
	tcase_add_test(tc, test_kill_restart);
	tcase_add_test(tc, test_stopped_worker);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_session_crashed);
	tcase_add_test(tc, test_session_failed);
	tcase_add_test(tc, test_permission_denied);
	tcase_add_test(tc, test_flow_limits);
	tcase_add_test(tc, test_idle_hibernate);
	tcase_add_test(tc, test_crash_catch_up);
	tcase_add_test(tc, test_subscribe);
	tcase_add_test(tc, test_shutdown);
	suite_add_tcase(s, tc);

	tc = tcase_create("wire");
	tcase_add_test(tc, test_invalid_request);
	tcase_add_test(tc, test_protocol_error);
	tcase_add_test(tc, test_message_too_large);
	tcase_add_test(tc, test_client_notification);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_test(tc, test_pipeline);
	tcase_add_test(tc, test_pipeline_wire_order);
	tcase_add_test(tc, test_update_order);
	tcase_add_test(tc, test_crowd_join);
	tcase_add_test(tc, test_fanout);
	suite_add_tcase(s, tc);

	tc = tcase_create("lifecycle");
	tcase_add_test(tc, test_restart_durable);
	tcase_add_loop_test(tc, test_sigkill_daemon, 0, NELEMS(sync_modes));
	tcase_add_test(tc, test_stale_socket);
	tcase_add_test(tc, test_second_daemon);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	/* meson test sets it; by hand, the same. */
	setenv("CK_DEFAULT_TIMEOUT", "120", 0);
	h_base_init();
	sr = srunner_create(daemon_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	h_base_done(failed != 0);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
