/*
 * test_faults.c: fault tolerance of helixd and helix-worker as built, with
 * real processes and real signals (man/helixd.8, Supervision and Watchdog;
 * ../shared/PROTOCOL.md).  Workers are killed in the middle of requests,
 * after acknowledged changes, past the restart intensity, in a crash loop,
 * while stopped; helixd is SIGKILLed under load and stopped with SIGTERM
 * under load; fifty clients write to one flow; a seeded random schedule
 * mixes applies and kills.  What is checked each time: every request is
 * answered exactly once, nothing acknowledged is lost, versions have no
 * gaps, a joined connection learns every version exactly once, and no flow
 * ever has two live workers.
 *
 * Every wait polls a condition until a deadline (harness.h); failure
 * messages read "got X, want Y".  HELIX_SEED fixes the seed of the random
 * test (it is printed on every run).
 *
 * This file: the shared helpers (faults.h), the tests on workers, main.
 * faults_daemon.c: helixd killed under load, the daemon-wide restart
 * limit, graceful shutdown, fifty clients, the random schedule.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tests/integration/faults.h"
/* ---- helpers ------------------------------------------------------------ */

/* Nothing from a sanitizer in the log of a daemon (and its workers). */
void
expect_clean_log(const struct hd *d)
{
	char		*log = h_log(d);
	const char	*bad;

	if ((bad = strstr(log, "runtime error:")) != NULL ||
	    (bad = strstr(log, "ERROR: AddressSanitizer")) != NULL ||
	    (bad = strstr(log, "ERROR: LeakSanitizer")) != NULL)
		ck_abort_msg("sanitizer report in %s: got \"%.300s\", want "
		    "none", d->log, bad);
	free(log);
}

/* Stop with SIGTERM: exit status 0 wanted, and no worker left behind. */
void
finish(struct hd *d)
{
	int	st = h_stop(d);
	int	left;
	bool	gone;

	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "helixd after SIGTERM: got %s, want exit status 0; log:\n%s",
	    h_status_text(st), h_log_tail(d));
	H_POLL(gone, (h_reap(), (left = h_scan_workers(d->state, NULL, 0)) ==
	    0), H_EVENT_MS);
	ck_assert_msg(gone, "after helixd exited: got %d worker processes, "
	    "want 0", left);
	expect_clean_log(d);
}

/* flow.apply that must succeed: the version it reports. */
json_int_t
apply(struct hc_client *c, const char *flow, const char *ops)
{
	json_t		*r = h_ok(c, "flow.apply", "[\"%s\", %s]", flow, ops);
	json_int_t	 v = h_int(r, "version");

	json_decref(r);
	return v;
}

/* apply with the ops as a printf format. */
json_int_t
applyf(struct hc_client *c, const char *flow, const char *fmt, ...)
{
	va_list	 ap;
	char	*ops;
	json_int_t v;

	va_start(ap, fmt);
	if (vasprintf(&ops, fmt, ap) == -1)
		ck_abort_msg("out of memory");
	va_end(ap);
	v = apply(c, flow, ops);
	free(ops);
	return v;
}

/* One add_node op as JSON text (static buffer, rotating). */
const char *
node_op(const char *id)
{
	static char	buf[4][256];
	static int	i;

	i = (i + 1) % 4;
	snprintf(buf[i], sizeof(buf[i]), "{\"op\": \"add_node\", \"node\": "
	    "{\"id\": \"%s\", \"type\": \"t\", \"x\": 1, \"y\": 2}}", id);
	return buf[i];
}

/* The id of the node that the first op of an update adds ("" if none). */
const char *
update_node_id(const json_t *update)
{
	const json_t *op = json_array_get(json_object_get(update, "ops"), 0);
	const json_t *id = json_object_get(json_object_get(op, "node"), "id");

	return json_is_string(id) ? json_string_value(id) : "";
}

/* Whether the document has a node with this id. */
bool
doc_has_node(const json_t *doc, const char *id)
{
	const json_t	*n;
	size_t		 i;

	json_array_foreach(json_object_get(doc, "nodes"), i, n) {
		const json_t *nid = json_object_get(n, "id");

		if (json_is_string(nid) && strcmp(json_string_value(nid), id) == 0)
			return true;
	}
	return false;
}

/*
 * flow.history since 0 must be complete and hold versions 1..V in order
 * (gapless): the updates array (caller decrefs); V into *vp.
 */
json_t *
full_history(struct hc_client *c, const char *flow, json_int_t *vp)
{
	json_t		*h = h_ok(c, "flow.history", "[\"%s\", 0]", flow);
	json_t		*ups = json_incref(json_object_get(h, "updates"));
	const json_t	*u;
	size_t		 i;

	ck_assert_msg(h_bool(h, "complete"), "flow.history %s 0: got complete "
	    "false, want true", flow);
	ck_assert_msg(json_is_array(ups), "flow.history %s: got %s, want an "
	    "updates array", flow, h_dump(h));
	json_array_foreach(ups, i, u) {
		ck_assert_msg(h_int(u, "version") == (json_int_t)i + 1,
		    "flow.history %s: update %zu has version %lld, want %zu "
		    "(versions without gaps)", flow, i, h_int(u, "version"),
		    i + 1);
	}
	json_decref(h);
	*vp = (json_int_t)json_array_size(ups);
	return ups;
}

/* An error answer's code ("" if it has none). */
const char *
err_code(const json_t *err)
{
	const json_t *c = json_object_get(err, "code");

	return json_is_string(c) ? json_string_value(c) : "";
}

bool
pid_dead(void *arg)
{
	return !h_pid_alive(*(pid_t *)arg);
}

struct workers_arg {
	const struct hd	*d;
	int		 n;
};

/* No worker of this daemon is alive (zombies reaped). */
static bool
no_workers(void *arg)
{
	struct workers_arg *a = arg;

	h_reap();
	a->n = h_scan_workers(a->d->state, NULL, 0);
	return a->n == 0;
}

void
expect_no_workers(const struct hd *d, const char *when)
{
	struct workers_arg a = { d, 0 };

	ck_assert_msg(h_poll(no_workers, &a, H_EVENT_MS), "%s: got %d "
	    "helix-worker processes of %s still alive after %d ms, want 0",
	    when, a.n, d->state, H_EVENT_MS);
}

/* sys.stats field. */
json_int_t
stat_of(struct hc_client *c, const char *key)
{
	json_t		*st = h_ok(c, "sys.stats", NULL);
	json_int_t	 v = h_int(st, key);

	json_decref(st);
	return v;
}

/* ---- raw connections: every message, in arrival order ------------------- */

/* Pack and send one message (JSON text, printf format). */
void
raw_send(struct h_raw *r, const char *fmt, ...)
{
	msgpack_sbuffer	 sb;
	va_list		 ap;
	char		*text;

	va_start(ap, fmt);
	if (vasprintf(&text, fmt, ap) == -1)
		ck_abort_msg("out of memory");
	va_end(ap);
	msgpack_sbuffer_init(&sb);
	h_pack(&sb, "%s", text);
	ck_assert_msg(h_raw_send(r, sb.data, sb.size), "send %s: the server "
	    "closed the connection", text);
	msgpack_sbuffer_destroy(&sb);
	free(text);
}


/* A version learnt (from a reply or a flow.update): must be last + 1. */
void
seq_learn(struct seq *q, json_int_t v, const char *how)
{
	if (v > q->last + 1 && q->missed == 0)
		q->missed = q->last + 1;
	if (v != q->last + 1 && q->bad[0] == '\0')
		snprintf(q->bad, sizeof(q->bad), "%s: learnt version %lld "
		    "from %s after %lld, want %lld (each version exactly once, "
		    "in order)", q->who, (long long)v, how,
		    (long long)q->last, (long long)q->last + 1);
	if (v > q->last)
		q->last = v;
}
/* ---- 1. kill -9 in the middle of pipelined applies ------------------------ */

#define KF_ROUNDS	4
#define KF_N		300	/* applies per round */
#define KF_AFTER	5	/* applies after each restart */
#define KF_MAX		6000

struct kf_req {
	int		 answers;	/* how many responses came */
	json_int_t	 version;	/* its result, 0 if none */
	bool		 crashed;	/* answered session_crashed */
	char		 id[32];	/* the node it adds */
};

struct kf {
	struct h_raw	 raw;
	struct seq	 seq;
	struct kf_req	 req[KF_MAX];
	int		 nreq;
	uint32_t	 base;		/* msgid of req[0] */
	bool		 pong;		/* the sys.ping sync came back */
	uint32_t	 ping_id;
};

/* Read one message within ms and account for it: 1, or 0 on timeout. */
static int
kf_read(struct kf *k, int ms)
{
	json_t		*m;
	json_int_t	 type, msgid;
	int		 rv, i;
	char		*d;

	rv = h_raw_next(&k->raw, ms, &m);
	ck_assert_msg(rv != -1, "the applying connection was closed by "
	    "helixd, want it open");
	if (rv == 0)
		return 0;
	type = json_integer_value(json_array_get(m, 0));
	if (type == 1) {
		msgid = json_integer_value(json_array_get(m, 1));
		if (msgid == k->ping_id || msgid == 1) {	/* or flow.join */
			k->pong = k->pong || msgid == k->ping_id;
			json_decref(m);
			return 1;
		}
		i = (int)(msgid - k->base);
		if (i < 0 || i >= k->nreq) {
			d = h_dump(m);
			ck_abort_msg("response to an unknown msgid: got %s", d);
		}
		k->req[i].answers++;
		ck_assert_msg(k->req[i].answers == 1, "apply %s (msgid %lld): "
		    "got %d answers, want exactly 1", k->req[i].id,
		    (long long)msgid, k->req[i].answers);
		if (!json_is_null(json_array_get(m, 2))) {
			const char *code = err_code(json_array_get(m, 2));

			if (strcmp(code, "session_crashed") != 0) {
				d = h_dump(m);
				ck_abort_msg("apply %s: got %s, want a result or "
				    "session_crashed", k->req[i].id, d);
			}
			k->req[i].crashed = true;
		} else {
			k->req[i].version = h_int(json_array_get(m, 3),
			    "version");
			seq_learn(&k->seq, k->req[i].version, "its reply");
		}
	} else if (type == 2 && strcmp(json_string_value(json_array_get(m, 1)),
	    "flow.update") == 0) {
		seq_learn(&k->seq, h_int(json_array_get(json_array_get(m, 2),
		    1), "version"), "a flow.update");
	}
	json_decref(m);
	return 1;
}

/* Send n applies adding id prefix-i, then a sys.ping to sync with helixd. */
static void
kf_send(struct kf *k, const char *prefix, int n)
{
	struct kf_req	*q;
	int		 i;

	for (i = 0; i < n; i++) {
		ck_assert_int_lt(k->nreq, KF_MAX);
		q = &k->req[k->nreq];
		snprintf(q->id, sizeof(q->id), "%s-%d", prefix, i);
		raw_send(&k->raw, "[0, %u, \"flow.apply\", [\"kf\", [%s]]]",
		    k->base + (uint32_t)k->nreq, node_op(q->id));
		k->nreq++;
	}
	/*
	 * helixd reads a connection in order: once the ping is answered,
	 * every apply before it has been handed to the worker.
	 */
	k->pong = false;
	k->ping_id++;
	raw_send(&k->raw, "[0, %u, \"sys.ping\", []]", k->ping_id);
}

static bool
kf_all_answered(struct kf *k)
{
	int i;

	for (i = 0; i < k->nreq; i++)
		if (k->req[i].answers == 0)
			return false;
	return true;
}

/* Read until cond holds, or abort after ms. */
#define KF_UNTIL(k, cond, ms, what) do {				\
	int64_t dl_ = h_now_ms() + (ms);				\
	while (!(cond)) {						\
		ck_assert_msg(h_now_ms() < dl_, "applying connection: "	\
		    "%s: not within %d ms", (what), (int)(ms));		\
		kf_read((k), 50);					\
	}								\
} while (0)

START_TEST(test_kill_in_flight)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*adm = h_connect(d);
	struct kf		*k = calloc(1, sizeof(*k));
	json_t			*ups, *doc, *u;
	json_int_t		 V, maxack = 0;
	pid_t			 pid;
	int			 round, i, j, crashed = 0, committed_crashed = 0;
	size_t			 x;
	char			 prefix[16];
	bool			 found;

	ck_assert_ptr_nonnull(k);
	k->seq.who = "joined applying connection";
	k->base = 1000;
	k->ping_id = 1;
	h_raw_open(d, &k->raw);
	raw_send(&k->raw, "[0, 1, \"flow.join\", [\"kf\", \"A\"]]");
	k->ping_id = 500;
	/* the join reply has msgid 1: read until it is there */
	{
		json_t	*m;
		int64_t	 dl = h_now_ms() + H_CALL_MS;

		for (;;) {
			ck_assert_msg(h_now_ms() < dl, "flow.join: no answer");
			if (h_raw_next(&k->raw, 50, &m) != 1)
				continue;
			if (json_integer_value(json_array_get(m, 0)) == 1) {
				ck_assert_msg(json_is_null(json_array_get(m, 2)),
				    "flow.join: got %s, want a result", h_dump(m));
				json_decref(m);
				break;
			}
			json_decref(m);
		}
	}
	pid = h_worker_pid(adm, "kf");
	ck_assert_msg(pid > 0, "flow.join started no worker");

	for (round = 0; round < KF_ROUNDS; round++) {
		snprintf(prefix, sizeof(prefix), "r%d", round);
		if (round == 0) {
			/*
			 * A stopped worker reads nothing: every apply is in
			 * flight when it dies (session_crashed for sure).
			 */
			ck_assert_int_eq(kill(pid, SIGSTOP), 0);
			kf_send(k, prefix, 50);
		} else
			kf_send(k, prefix, KF_N);
		KF_UNTIL(k, k->pong, H_CALL_MS, "sys.ping after the applies");
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		KF_UNTIL(k, kf_all_answered(k), H_CALL_MS,
		    "every apply answered after the worker was killed");
		pid = h_wait_new_pid(adm, "kf", pid, H_EVENT_MS);
		/* Sent after the restart: served by the new worker. */
		snprintf(prefix, sizeof(prefix), "a%d", round);
		i = k->nreq;
		kf_send(k, prefix, KF_AFTER);
		KF_UNTIL(k, kf_all_answered(k) && k->pong, H_CALL_MS,
		    "the applies after the restart answered");
		for (j = i; j < k->nreq; j++)
			ck_assert_msg(k->req[j].version > 0, "apply %s sent to "
			    "the restarted worker: got session_crashed, want a "
			    "result", k->req[j].id);
		ck_assert_msg(h_worker_pid(adm, "kf") == pid, "the restarted "
		    "worker %d was replaced while serving", (int)pid);
	}

	/* Nothing more is owed: no second answer, no stray update. */
	V = h_version(adm, "kf");
	KF_UNTIL(k, k->seq.last >= V, H_EVENT_MS,
	    "every committed version learnt");
	{
		int64_t dl = h_now_ms() + H_QUIET_MS;

		while (h_now_ms() < dl)
			kf_read(k, 20);
	}
	ck_assert_msg(k->seq.bad[0] == '\0', "%s", k->seq.bad);
	EXPECT_EQ(k->seq.last, V);

	/* Every committed version belongs to exactly one request. */
	ups = full_history(adm, "kf", &V);
	for (i = 0; i < k->nreq; i++) {
		if (k->req[i].crashed)
			crashed++;
		if (k->req[i].version > maxack)
			maxack = k->req[i].version;
		found = false;
		json_array_foreach(ups, x, u) {
			if (strcmp(update_node_id(u), k->req[i].id) != 0)
				continue;
			ck_assert_msg(!found, "apply %s committed twice",
			    k->req[i].id);
			found = true;
			if (k->req[i].version > 0)
				ck_assert_msg(h_int(u, "version") ==
				    k->req[i].version, "apply %s: acknowledged "
				    "as version %lld, history has it at %lld",
				    k->req[i].id, k->req[i].version,
				    h_int(u, "version"));
			else
				committed_crashed++;
		}
		ck_assert_msg(found || k->req[i].version == 0, "acknowledged "
		    "apply %s (version %lld) missing from flow.history",
		    k->req[i].id, k->req[i].version);
	}
	json_array_foreach(ups, x, u) {
		found = false;
		for (i = 0; i < k->nreq && !found; i++)
			found = strcmp(update_node_id(u), k->req[i].id) == 0;
		ck_assert_msg(found, "flow.history version %zu adds %s, which "
		    "no request asked for", x + 1, update_node_id(u));
	}
	ck_assert_msg(crashed >= 50, "answers session_crashed: got %d, want "
	    ">= 50 (the applies sent to the stopped worker)", crashed);
	/* The last request was acknowledged: the restored state is its. */
	EXPECT_EQ(V, maxack);
	doc = h_ok(adm, "flow.get", "[\"kf\"]");
	EXPECT_EQ(h_int(doc, "version"), maxack);
	EXPECT_EQ(json_array_size(json_object_get(doc, "nodes")), V);
	for (i = 0; i < k->nreq; i++)
		ck_assert_msg(k->req[i].version == 0 ||
		    doc_has_node(doc, k->req[i].id), "flow.get after the "
		    "restarts: acknowledged node %s missing", k->req[i].id);
	json_decref(doc);
	json_decref(ups);
	fprintf(stderr, "test_kill_in_flight: %d applies, %d session_crashed "
	    "(%d of them committed), final version %lld\n", k->nreq, crashed,
	    committed_crashed, (long long)V);
	h_raw_close(&k->raw);
	free(k);
	hc_close(adm);
	finish(d);
}
END_TEST

/*
 * 1b. The worker's output cut at an arbitrary byte: helixd is stopped
 * (SIGSTOP) while the worker works through a long pipeline, so that its
 * answers pile up in the socket and in its own buffer; then the worker is
 * killed and helixd continued.  helixd reads what reached the socket: the
 * last complete message may be the w.update of an apply whose answer never
 * left the worker.  The applying connection is joined: it must still learn
 * that version (contract: every committed version exactly once, "when a
 * session restarts, joined connections receive every committed update
 * they have not yet seen").
 */
#define KS_N		6000
#define KS_ROUNDS	10
#define KS_PAD		"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

/* The worker's wchar from /proc/PID/io; -1 if gone. */
static long long
proc_wchar(pid_t pid)
{
	char		 path[64], line[128];
	FILE		*f;
	long long	 v = -1;

	snprintf(path, sizeof(path), "/proc/%d/io", (int)pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "wchar: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

/* Another joined connection: which versions reached it. */
struct observer {
	uint8_t		*seen;
	size_t		 cap;
};

static void
observer_notify(void *arg, const char *method, const json_t *params)
{
	struct observer	*o = arg;
	json_int_t	 v;

	if (strcmp(method, "flow.update") != 0)
		return;
	v = json_integer_value(json_object_get(json_array_get(params, 1),
	    "version"));
	if (v <= 0)
		return;
	if ((size_t)v >= o->cap) {
		size_t ncap = (size_t)v * 2 + 1024;

		o->seen = realloc(o->seen, ncap);
		ck_assert_ptr_nonnull(o->seen);
		memset(o->seen + o->cap, 0, ncap - o->cap);
		o->cap = ncap;
	}
	o->seen[v]++;
}

START_TEST(test_kill_split_output)
{
	/* history reaches back over everything the worker committed */
	const char		*opts[] = { "--history-length", "1000000", NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*adm = h_connect(d), *b = h_connect(d);
	struct kf		*k = calloc(1, sizeof(*k));
	struct observer		 ob = { NULL, 0 };
	json_int_t		 V;
	long long		 w0, w1;
	int64_t			 stable;
	pid_t			 pid;
	int			 round, i;
	char			 pre[16];

	ck_assert_ptr_nonnull(k);
	k->seq.who = "joined applying connection";
	k->base = 100000;
	k->ping_id = 500;
	h_raw_open(d, &k->raw);
	raw_send(&k->raw, "[0, 1, \"flow.join\", [\"ks\", \"A\"]]");
	KF_UNTIL(k, (kf_read(k, 20), h_worker_pid(adm, "ks") > 0), H_CALL_MS,
	    "flow.join");
	json_decref(h_ok(b, "flow.join", "[\"ks\", \"B\"]"));
	hc_set_notify(b, observer_notify, &ob);
	for (round = 0; round < KS_ROUNDS; round++) {
		pid = h_worker_pid(adm, "ks");
		k->nreq = 0;
		memset(k->req, 0, sizeof(k->req));
		k->base += 10000;
		snprintf(pre, sizeof(pre), "k%d", round);
		for (i = 0; i < KS_N; i++) {
			ck_assert_int_lt(k->nreq, KF_MAX);
			/* updates of varying sizes: cuts fall anywhere */
			raw_send(&k->raw, "[0, %u, \"flow.apply\", [\"ks\", "
			    "[{\"op\": \"set_meta\", \"title\": \"%s-%d\", "
			    "\"description\": \"%.*s\"}]]]",
			    k->base + (uint32_t)k->nreq, pre, i,
			    (i * 37 + round * 11) % 97, KS_PAD);
			snprintf(k->req[k->nreq].id, sizeof(k->req[0].id),
			    "%s-%d", pre, i);
			k->nreq++;
		}
		k->pong = false;
		k->ping_id++;
		raw_send(&k->raw, "[0, %u, \"sys.ping\", []]", k->ping_id);
		KF_UNTIL(k, k->pong, H_CALL_MS, "sys.ping after the applies");
		ck_assert_int_eq(kill(d->pid, SIGSTOP), 0);
		/* the worker writes until its output is stuck or it is done */
		w0 = proc_wchar(pid);
		stable = h_now_ms();
		while (h_now_ms() - stable < 300) {
			h_nap();
			w1 = proc_wchar(pid);
			if (w1 != w0) {
				w0 = w1;
				stable = h_now_ms();
			}
		}
		/*
		 * helixd resumes reading; once the worker writes again (its
		 * output was stuck), kill it: helixd is in the middle of
		 * its output.
		 */
		ck_assert_int_eq(kill(d->pid, SIGCONT), 0);
		stable = h_now_ms();
		while (proc_wchar(pid) == w0 && h_now_ms() - stable < 2000)
			;	/* no nap: the moment matters, and it is short */
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		KF_UNTIL(k, kf_all_answered(k), H_CALL_MS,
		    "every apply answered");
		h_wait_new_pid(adm, "ks", pid, H_EVENT_MS);
		V = h_version(adm, "ks");
		KF_UNTIL(k, k->seq.last >= V || k->seq.bad[0] != '\0',
		    H_EVENT_MS, "every committed version learnt");
		while (hc_poll(b, 0) == HC_OK)
			;
		if (k->seq.missed != 0) {
			/* which apply made the version it never learnt? */
			json_t *h = h_ok(adm, "flow.history", "[\"ks\", %lld]",
			    (long long)k->seq.missed - 1);
			const json_t *u = json_array_get(json_object_get(h,
			    "updates"), 0);
			const char *title = json_string_value(json_object_get(
			    json_array_get(json_object_get(u, "ops"), 0),
			    "title"));
			const char *origin = json_string_value(
			    json_object_get(u, "origin"));

			for (i = 0; title != NULL && i < k->nreq; i++)
				if (strcmp(k->req[i].id, title) == 0)
					break;
			ck_abort_msg("round %d: %s.  Version %lld is committed "
			    "(flow.history: apply %s, origin %s); the joined "
			    "connection that sent it was answered %s, and got no "
			    "flow.update for it, so it never learns it (the other "
			    "joined connection got its flow.update %d times)",
			    round, k->seq.bad, (long long)k->seq.missed,
			    title ? title : "?", origin ? origin : "nil",
			    title == NULL || i == k->nreq ? "?" :
			    k->req[i].crashed ? "session_crashed" :
			    "with a result", (size_t)k->seq.missed < ob.cap ?
			    ob.seen[k->seq.missed] : 0);
		}
		ck_assert_msg(k->seq.bad[0] == '\0', "round %d: %s", round,
		    k->seq.bad);
	}
	h_raw_close(&k->raw);
	free(k);
	free(ob.seen);
	hc_close(adm);
	hc_close(b);
	finish(d);
}
END_TEST

/* ---- 2. kill -9 after acknowledged changes ---------------------------------- */

#define KA_N	25

START_TEST(test_kill_after_ack)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	json_t			*before, *after, *ups;
	json_int_t		 V;
	pid_t			 pid;
	char			 id[32];
	int			 i;

	for (i = 0; i < KA_N; i++) {
		snprintf(id, sizeof(id), "n%d", i);
		switch (i % 5) {
		case 0: case 1:
			EXPECT_EQ(applyf(c, "ka", "[%s]", node_op(id)), i + 1);
			break;
		case 2:
			snprintf(id, sizeof(id), "n%d", i - 1);
			EXPECT_EQ(applyf(c, "ka", "[{\"op\": \"update_node\", "
			    "\"id\": \"%s\", \"x\": %d, \"data\": {\"i\": %d}}]",
			    id, i, i), i + 1);
			break;
		case 3:
			EXPECT_EQ(applyf(c, "ka", "[{\"op\": \"add_edge\", "
			    "\"edge\": {\"id\": \"e%d\", \"source\": \"n%d\", "
			    "\"target\": \"n%d\"}}]", i, i - 3, i - 2), i + 1);
			break;
		default:
			EXPECT_EQ(applyf(c, "ka", "[{\"op\": \"set_meta\", "
			    "\"title\": \"t%d\"}]", i), i + 1);
		}
	}
	before = h_ok(c, "flow.get", "[\"ka\"]");
	pid = h_worker_pid(c, "ka");
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	ck_assert_msg(h_poll(pid_dead, &pid, H_EVENT_MS), "worker %d alive "
	    "after SIGKILL", (int)pid);
	h_wait_new_pid(c, "ka", pid, H_EVENT_MS);
	after = h_ok(c, "flow.get", "[\"ka\"]");
	if (!h_equal(after, before))
		ck_abort_msg("flow.get after kill -9: got %s, want %s",
		    h_dump(after), h_dump(before));
	EXPECT_EQ(h_int(after, "version"), KA_N);
	ups = full_history(c, "ka", &V);
	EXPECT_EQ(V, KA_N);
	json_decref(ups);
	json_decref(before);
	json_decref(after);
	hc_close(c);
	finish(d);
}
END_TEST

/* ---- 3. past the restart intensity: parked, then back -------------------- */

struct inspect_arg {
	struct hc_client	*c;
	const char		*flow;
	pid_t			 old;
	pid_t			 pid;		/* out: new running pid */
	bool			 failed;	/* out: parked */
};

/* A new running worker, or the session parked as failed. */
static bool
restarted_or_failed(void *arg)
{
	struct inspect_arg	*a = arg;
	json_t			*r = NULL;
	char			 code[64];
	const json_t		*p, *st;
	bool			 done = false;

	if (h_call(a->c, &r, code, sizeof(code), "session.inspect",
	    "[\"%s\"]", a->flow) == HC_OK) {
		p = json_object_get(r, "pid");
		st = json_object_get(r, "state");
		if (json_is_string(st) && strcmp(json_string_value(st),
		    "failed") == 0) {
			a->failed = true;
			done = true;
		} else if (json_is_integer(p) && json_integer_value(p) !=
		    a->old && json_is_string(st) &&
		    strcmp(json_string_value(st), "running") == 0 &&
		    h_pid_alive((pid_t)json_integer_value(p))) {
			a->pid = (pid_t)json_integer_value(p);
			done = true;
		}
	}
	json_decref(r);
	return done;
}

START_TEST(test_intensity)
{
	const char		*opts[] = { "--max-restarts", "3",
				    "--max-seconds", "60", "--restart-cooldown",
				    "2", NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*c = h_connect(d), *j = h_connect(d);
	struct inspect_arg	 ia = { c, "in", 0, 0, false };
	json_t			*before, *after, *e, *n, *st, *ra;
	json_int_t		 retry;
	char			 code[64];
	int			 kills = 0, rv;
	int64_t			 parked_at, back_at;
	pid_t			 pid;

	json_decref(h_ok(j, "flow.join", "[\"in\", \"J\"]"));
	applyf(c, "in", "[%s]", node_op("a"));
	applyf(c, "in", "[%s]", node_op("b"));
	apply(c, "in", "[{\"op\": \"set_meta\", \"title\": \"kept\"}]");
	before = h_ok(c, "flow.get", "[\"in\"]");
	pid = h_worker_pid(c, "in");

	/* max_restarts 3: three kills are restarted, the fourth parks it. */
	while (!ia.failed) {
		ck_assert_msg(kills < 10, "flow not parked after %d kills with "
		    "max_restarts 3", kills);
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		kills++;
		ia.old = pid;
		ck_assert_msg(h_poll(restarted_or_failed, &ia, H_EVENT_MS),
		    "kill %d: neither a new running worker nor the state "
		    "failed within %d ms", kills, H_EVENT_MS);
		pid = ia.pid;
	}
	parked_at = h_now_ms();
	EXPECT_EQ(kills, 4);

	/* flow.status: failed, not active */
	st = h_ok(c, "flow.status", "[\"in\"]");
	ck_assert_msg(strcmp(h_str(st, "state"), "failed") == 0 &&
	    !h_bool(st, "active") && h_int(st, "client_count") == 0,
	    "flow.status of a parked flow: got %s, want state failed, active "
	    "false, client_count 0", h_dump(st));
	json_decref(st);
	/* the joined connection: flow.closed "failed" */
	n = h_next(j, "flow.closed", H_EVENT_MS);
	h_expect("flow.closed to the joined connection of a parked flow", n,
	    "[\"in\", {\"reason\": \"failed\"}]");
	json_decref(n);
	ck_assert_msg(h_worker_pid(c, "in") == 0, "a parked flow has a "
	    "worker");
	/* requests: session_failed with an integer retry_after >= 1 */
	e = h_err(c, "session_failed", "flow.get", "[\"in\"]");
	ra = json_object_get(e, "retry_after");
	ck_assert_msg(json_is_integer(ra), "session_failed: got %s, want an "
	    "integer retry_after", h_dump(e));
	retry = json_integer_value(ra);
	ck_assert_msg(retry >= 1 && retry <= 3, "retry_after with "
	    "restart_cooldown 2: got %lld, want 1..3", (long long)retry);
	json_decref(e);
	json_decref(h_err(c, "session_failed", "flow.apply", "[\"in\", [%s]]",
	    node_op("z")));
	json_decref(h_err(j, "session_failed", "flow.join", "[\"in\", \"J\"]"));
	json_decref(h_err(c, "session_failed", "flow.history", "[\"in\", 0]"));

	/* After the cool-down the next request starts it again. */
	for (;;) {
		after = NULL;
		rv = h_call(c, &after, code, sizeof(code), "flow.get",
		    "[\"in\"]");
		if (rv == HC_OK)
			break;
		ck_assert_msg(rv == HC_ERROR && strcmp(code, "session_failed")
		    == 0, "flow.get during the cool-down: got %s (status %d), "
		    "want session_failed", code, rv);
		json_decref(after);
		ck_assert_msg(h_now_ms() - parked_at < 2000 + H_EVENT_MS,
		    "flow.get still session_failed %lld ms after parking with "
		    "restart_cooldown 2", (long long)(h_now_ms() - parked_at));
		h_nap();
	}
	back_at = h_now_ms();
	ck_assert_msg(back_at - parked_at >= 1000, "the parked flow started "
	    "again after %lld ms, want the cool-down of 2 s",
	    (long long)(back_at - parked_at));
	if (!h_equal(after, before))
		ck_abort_msg("flow.get after the cool-down: got %s, want %s",
		    h_dump(after), h_dump(before));
	json_decref(after);
	/* running again, with a fresh window: one more kill is restarted */
	pid = h_wait_new_pid(c, "in", 0, H_EVENT_MS);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	h_wait_new_pid(c, "in", pid, H_EVENT_MS);
	/* the joined connection was unsubscribed */
	EXPECT_EQ(apply(c, "in", "[{\"op\": \"set_meta\", \"title\": "
	    "\"again\"}]"), 4);
	ck_assert_msg(!h_got(j, "flow.update", H_QUIET_MS), "a connection "
	    "unsubscribed by flow.closed still got a flow.update");
	json_decref(before);
	hc_close(c);
	hc_close(j);
	finish(d);
}
END_TEST

/* ---- 4. a crash loop backs off ---------------------------------------------- */

#define CL_WATCH_MS	2500

START_TEST(test_crash_loop_backoff)
{
	char			 dir[H_DIR_MAX], script[H_DIR_MAX + 16];
	const char		*opts[] = { "--worker", script,
				    "--call-timeout-ms", "1000", NULL };
	struct hd		*d;
	struct hc_client	*c, *s, *p;
	struct hc_result	 r;
	double			 t[256], first = 0, gap, maxgap = 0;
	int			 nt = 0, in2s = 0, answered = 0, i, rv;
	int64_t			 t0, sent_at = 0;
	uint32_t		 id = 0;
	bool			 waiting = false;
	char			*method;
	json_t			*params, *pong;

	h_fresh_dir(dir, sizeof(dir));
	snprintf(script, sizeof(script), "%s/die.sh", dir);
	h_write_file(script, "#!/bin/sh\nexit 1\n", 0755);
	d = h_start_in(dir, opts);
	c = h_connect(d);
	s = h_connect(d);
	p = h_connect(d);
	json_decref(h_ok(s, "sys.subscribe", "[[\"session.\"]]"));

	t0 = h_now_ms();
	while (h_now_ms() - t0 < CL_WATCH_MS) {
		if (!waiting) {
			params = h_json("[\"loop\"]");
			EXPECT_EQ(hc_send(c, "flow.get", params, &id), HC_OK);
			json_decref(params);
			sent_at = h_now_ms();
			waiting = true;
		}
		memset(&r, 0, sizeof(r));
		rv = hc_wait(c, id, 0, &r);
		if (rv != HC_ETIMEDOUT) {
			/* an error, in time: never a result, never a hang */
			ck_assert_msg(rv == HC_ERROR, "flow.get while the worker "
			    "always dies: got status %d %s, want an error", rv,
			    h_dump(r.value));
			ck_assert_msg(h_now_ms() - sent_at <= 1000 + H_EVENT_MS,
			    "flow.get answered %s after %lld ms, want within "
			    "the call timeout", r.code,
			    (long long)(h_now_ms() - sent_at));
			answered++;
			waiting = false;
		} else
			ck_assert_msg(h_now_ms() - sent_at <= 1000 + H_EVENT_MS,
			    "flow.get unanswered after %lld ms (call timeout "
			    "1000)", (long long)(h_now_ms() - sent_at));
		hc_result_clear(&r);
		while (hc_next_notify(s, 10, &method, &params) == HC_OK) {
			const char *name = json_string_value(
			    json_array_get(params, 0));
			double tm = h_num(json_array_get(params, 1), "time");

			if (name != NULL && strcmp(name, "session.start") == 0 &&
			    first == 0)
				first = tm;
			if (name != NULL && strcmp(name, "session.restart") == 0 &&
			    nt < (int)NELEMS(t))
				t[nt++] = tm;
			free(method);
			json_decref(params);
		}
		/* the master stays responsive */
		pong = h_ok(p, "sys.ping", NULL);
		json_decref(pong);
	}
	ck_assert_msg(first > 0, "no session.start event for flow loop");
	for (i = 0; i < nt; i++)
		if (t[i] - first <= 2.0)
			in2s++;
	ck_assert_msg(nt >= 3, "restarts of a worker that always dies, in "
	    "%d ms: got %d, want >= 3 (it is restarted)", CL_WATCH_MS, nt);
	ck_assert_msg(in2s < 15, "restarts within 2 s of a worker that always "
	    "dies: got %d, want < 15 (a back-off, not a spin)", in2s);
	/*
	 * The gaps grow (100, 200, 400, 800 ms ...): none shrinks by more
	 * than timer jitter, none is a spin, and the back-off reaches 400 ms.
	 */
	for (i = 1; i < nt; i++) {
		gap = t[i] - t[i - 1];
		if (gap > maxgap)
			maxgap = gap;
		ck_assert_msg(gap >= 0.08, "restart %d came %.3f s after the "
		    "one before: want a back-off of at least 100 ms", i + 1,
		    gap);
		ck_assert_msg(i < 2 || gap >= t[i - 1] - t[i - 2] - 0.05,
		    "restart %d came %.3f s after the one before, which came "
		    "%.3f s after its own: want a back-off that grows", i + 1,
		    gap, t[i - 1] - t[i - 2]);
	}
	ck_assert_msg(maxgap >= 0.35, "longest gap between restarts in %d ms: "
	    "got %.3f s, want >= 0.35 (a back-off that doubles)", CL_WATCH_MS,
	    maxgap);
	ck_assert_msg(answered >= 1, "no flow.get answered in %d ms",
	    CL_WATCH_MS);
	ck_assert_msg(stat_of(p, "session_crashes_total") >= nt,
	    "session_crashes_total below the %d restarts seen", nt);
	fprintf(stderr, "test_crash_loop_backoff: %d restarts in %d ms (%d in "
	    "the first 2 s), %d requests answered with errors\n", nt,
	    CL_WATCH_MS, in2s, answered);
	hc_close(c);
	hc_close(s);
	hc_close(p);
	finish(d);
}
END_TEST

/* ---- 5. a stopped worker: timeout, then the watchdog ---------------------- */

START_TEST(test_sigstop_watchdog)
{
	const char		*opts[] = { "--call-timeout-ms", "300",
				    "--watchdog-timeout-ms", "1000",
				    "--heartbeat-interval-ms", "100", NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*c = h_connect(d), *adm = h_connect(d);
	json_t			*before, *after, *e, *st;
	int64_t			 t0, dt;
	pid_t			 pid, npid;
	char			*log, want[128];

	applyf(c, "wd", "[%s]", node_op("a"));
	apply(c, "wd", "[{\"op\": \"set_meta\", \"title\": \"kept\"}]");
	before = h_ok(c, "flow.get", "[\"wd\"]");
	pid = h_worker_pid(adm, "wd");
	json_decref(h_ok(adm, "session.kill", "[\"wd\", \"STOP\"]"));

	/* callers get timeout within the call timeout */
	t0 = h_now_ms();
	e = h_err(c, "timeout", "flow.get", "[\"wd\"]");
	dt = h_now_ms() - t0;
	json_decref(e);
	ck_assert_msg(dt >= 250 && dt <= 300 + 1700, "flow.get to a stopped "
	    "worker: timeout after %lld ms, want about 300 (call_timeout_ms)",
	    (long long)dt);
	t0 = h_now_ms();
	e = h_err(c, "timeout", "flow.apply", "[\"wd\", [%s]]", node_op("z"));
	dt = h_now_ms() - t0;
	json_decref(e);
	ck_assert_msg(dt >= 250 && dt <= 300 + 1700, "flow.apply to a stopped "
	    "worker: timeout after %lld ms, want about 300", (long long)dt);

	/* the watchdog kills and restarts it */
	npid = h_wait_new_pid(adm, "wd", pid, H_EVENT_MS);
	ck_assert_msg(h_poll(pid_dead, &pid, H_EVENT_MS), "the stopped "
	    "worker %d is still alive after the watchdog", (int)pid);
	log = h_log(d);
	snprintf(want, sizeof(want), "event=session.watchdog flow=wd pid=%d",
	    (int)pid);
	ck_assert_msg(strstr(log, want) != NULL, "helixd's log: no \"%s\" "
	    "line, want the watchdog to say it killed the worker", want);
	free(log);
	st = h_ok(adm, "sys.stats", NULL);
	ck_assert_msg(h_int(st, "session_crashes_total") == 1 &&
	    h_int(st, "session_restarts_total") == 1, "sys.stats after the "
	    "watchdog: got crashes %lld restarts %lld, want 1 and 1",
	    h_int(st, "session_crashes_total"),
	    h_int(st, "session_restarts_total"));
	json_decref(st);
	st = h_ok(adm, "flow.status", "[\"wd\"]");
	EXPECT_EQ(h_int(st, "restarts"), 1);
	json_decref(st);
	/* data intact: the stopped worker never read the apply */
	after = h_ok(c, "flow.get", "[\"wd\"]");
	if (!h_equal(after, before))
		ck_abort_msg("flow.get after the watchdog: got %s, want %s",
		    h_dump(after), h_dump(before));
	json_decref(after);
	json_decref(before);
	EXPECT_EQ(apply(c, "wd", "[{\"op\": \"set_meta\", \"title\": "
	    "\"on\"}]"), 3);
	ck_assert_msg(h_worker_pid(adm, "wd") == npid, "the new worker was "
	    "replaced again");
	hc_close(c);
	hc_close(adm);
	finish(d);
}
END_TEST
/* ------------------------------------------------------------------------ */

static Suite *
faults_suite(void)
{
	Suite	*s = suite_create("faults");
	TCase	*tc;

	tc = tcase_create("workers");
	tcase_add_test(tc, test_kill_in_flight);
	tcase_add_test(tc, test_kill_split_output);
	tcase_add_test(tc, test_kill_after_ack);
	tcase_add_test(tc, test_intensity);
	tcase_add_test(tc, test_crash_loop_backoff);
	tcase_add_test(tc, test_sigstop_watchdog);
	suite_add_tcase(s, tc);

	faults_daemon_tcases(s);
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
	sr = srunner_create(faults_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	h_base_done(failed != 0);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
