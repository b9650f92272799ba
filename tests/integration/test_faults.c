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

#include "tests/integration/harness.h"

#define NELEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* "EXPR: got X, want Y" */
#define EXPECT_EQ(got, want) do {					\
	long long g_ = (long long)(got), w_ = (long long)(want);	\
	ck_assert_msg(g_ == w_, "%s: got %lld, want %lld", #got, g_, w_); \
} while (0)

/* ---- helpers ------------------------------------------------------------ */

/* Nothing from a sanitizer in the log of a daemon (and its workers). */
static void
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
static void
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
static json_int_t
apply(struct hc_client *c, const char *flow, const char *ops)
{
	json_t		*r = h_ok(c, "flow.apply", "[\"%s\", %s]", flow, ops);
	json_int_t	 v = h_int(r, "version");

	json_decref(r);
	return v;
}

/* apply with the ops as a printf format. */
static json_int_t __attribute__((format(printf, 3, 4)))
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

/* The id of the node that the first op of an update adds ("" if none). */
static const char *
update_node_id(const json_t *update)
{
	const json_t *op = json_array_get(json_object_get(update, "ops"), 0);
	const json_t *id = json_object_get(json_object_get(op, "node"), "id");

	return json_is_string(id) ? json_string_value(id) : "";
}

/* Whether the document has a node with this id. */
static bool
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
static json_t *
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
static const char *
err_code(const json_t *err)
{
	const json_t *c = json_object_get(err, "code");

	return json_is_string(c) ? json_string_value(c) : "";
}

static bool
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

static void
expect_no_workers(const struct hd *d, const char *when)
{
	struct workers_arg a = { d, 0 };

	ck_assert_msg(h_poll(no_workers, &a, H_EVENT_MS), "%s: got %d "
	    "helix-worker processes of %s still alive after %d ms, want 0",
	    when, a.n, d->state, H_EVENT_MS);
}

/* sys.stats field. */
static json_int_t
stat_of(struct hc_client *c, const char *key)
{
	json_t		*st = h_ok(c, "sys.stats", NULL);
	json_int_t	 v = h_int(st, key);

	json_decref(st);
	return v;
}

/* ---- raw connections: every message, in arrival order ------------------- */

/* Pack and send one message (JSON text, printf format). */
static void __attribute__((format(printf, 2, 3)))
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

/* What a connection joined to one flow has learnt, in arrival order. */
struct seq {
	const char	*who;
	json_int_t	 last;		/* last version learnt */
	json_int_t	 missed;	/* the first version skipped, 0 if none */
	char		 bad[512];	/* the first violation, "" if none */
};

/* A version learnt (from a reply or a flow.update): must be last + 1. */
static void
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
#define KS_ROUNDS	6

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

START_TEST(test_kill_split_output)
{
	/* history reaches back over everything the worker committed */
	const char		*opts[] = { "--history-length", "1000000", NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*adm = h_connect(d);
	struct kf		*k = calloc(1, sizeof(*k));
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
	for (round = 0; round < KS_ROUNDS; round++) {
		pid = h_worker_pid(adm, "ks");
		k->nreq = 0;
		memset(k->req, 0, sizeof(k->req));
		k->base += 10000;
		snprintf(pre, sizeof(pre), "k%d", round);
		for (i = 0; i < KS_N; i++) {
			ck_assert_int_lt(k->nreq, KF_MAX);
			raw_send(&k->raw, "[0, %u, \"flow.apply\", [\"ks\", "
			    "[{\"op\": \"set_meta\", \"title\": \"%s-%d\"}]]]",
			    k->base + (uint32_t)k->nreq, pre, i);
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
			;
		ck_assert_int_eq(kill(pid, SIGKILL), 0);
		KF_UNTIL(k, kf_all_answered(k), H_CALL_MS,
		    "every apply answered");
		h_wait_new_pid(adm, "ks", pid, H_EVENT_MS);
		V = h_version(adm, "ks");
		KF_UNTIL(k, k->seq.last >= V || k->seq.bad[0] != '\0',
		    H_EVENT_MS, "every committed version learnt");
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
			    "flow.update for it, so it never learns it", round,
			    k->seq.bad, (long long)k->seq.missed,
			    title ? title : "?", origin ? origin : "nil",
			    title == NULL || i == k->nreq ? "?" :
			    k->req[i].crashed ? "session_crashed" :
			    "with a result");
		}
		ck_assert_msg(k->seq.bad[0] == '\0', "round %d: %s", round,
		    k->seq.bad);
	}
	h_raw_close(&k->raw);
	free(k);
	hc_close(adm);
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
	int			 kills = 0, rv, errors = 0;
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
		errors++;
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
	(void)errors;
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

/* ---- 6. SIGKILL helixd under load ------------------------------------------- */

#define LD_THREADS	6
#define LD_FLOWS	3
#define LD_MAX		20000

struct loader {
	pthread_t		 th;
	struct hc_client	*c;
	int			 n;		/* thread number */
	char			 flow[16];
	atomic_int		 acked;
	atomic_bool		*stop;
	json_int_t		*ver;		/* ver[i]: version of apply i */
	int			 tried;		/* applies sent */
	int			 errors;	/* error answers */
	char			 first_err[384];
	int			 end;		/* the status that ended it */
};

static void *
loader_run(void *arg)
{
	struct loader		*l = arg;
	struct hc_result	 r;
	json_t			*p;
	char			 id[32];
	int			 rv;

	while (!atomic_load(l->stop) && l->tried < LD_MAX) {
		snprintf(id, sizeof(id), "t%d-%d", l->n, l->tried);
		p = json_pack("[s, [{s:s, s:{s:s, s:s, s:i, s:i}}]]", l->flow,
		    "op", "add_node", "node", "id", id, "type", "t", "x",
		    l->n, "y", l->tried);
		memset(&r, 0, sizeof(r));
		rv = hc_call(l->c, "flow.apply", p, H_CALL_MS, &r);
		json_decref(p);
		l->tried++;
		if (rv == HC_OK) {
			l->ver[l->tried - 1] = json_integer_value(
			    json_object_get(r.value, "version"));
			atomic_fetch_add(&l->acked, 1);
		} else if (rv == HC_ERROR) {
			if (l->errors++ == 0)
				snprintf(l->first_err, sizeof(l->first_err),
				    "%s: %s", r.code, r.message);
		} else {
			l->end = rv;
			hc_result_clear(&r);
			break;
		}
		hc_result_clear(&r);
	}
	return NULL;
}

static bool
loaders_busy(void *arg)
{
	struct loader	*l = arg;
	int		 i;

	for (i = 0; i < LD_THREADS; i++)
		if (atomic_load(&l[i].acked) < 40)
			return false;
	return true;
}

static const char *const sync_modes[] = { "full", "batch", "none" };

START_TEST(test_sigkill_daemon_load)
{
	const char		*opts[] = { "--sync", sync_modes[_i],
				    "--history-length", "1000000", NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*c;
	struct loader		*l = calloc(LD_THREADS, sizeof(*l));
	atomic_bool		 stop = false;
	json_t			*ups[LD_FLOWS], *docs[LD_FLOWS], *u;
	json_int_t		 V[LD_FLOWS], v;
	char			 dir[H_DIR_MAX], flow[16], id[32];
	int			 i, t, f, acked = 0;
	size_t			 k;

	ck_assert_ptr_nonnull(l);
	for (t = 0; t < LD_THREADS; t++) {
		l[t].c = h_connect(d);
		l[t].n = t;
		snprintf(l[t].flow, sizeof(l[t].flow), "L%d", t % LD_FLOWS);
		l[t].stop = &stop;
		l[t].ver = calloc(LD_MAX, sizeof(*l[t].ver));
		ck_assert_ptr_nonnull(l[t].ver);
		ck_assert_int_eq(pthread_create(&l[t].th, NULL, loader_run,
		    &l[t]), 0);
	}
	ck_assert_msg(h_poll(loaders_busy, l, H_EVENT_MS), "the %d clients "
	    "did not get 40 applies each acknowledged within %d ms",
	    LD_THREADS, H_EVENT_MS);
	h_kill9(d);
	for (t = 0; t < LD_THREADS; t++) {
		pthread_join(l[t].th, NULL);
		ck_assert_msg(l[t].errors == 0, "client %d: got %d error "
		    "answers (first %s), want none before the kill", t,
		    l[t].errors, l[t].first_err);
		ck_assert_msg(l[t].end == HC_ECONN, "client %d ended with "
		    "status %d, want %d (connection lost)", t, l[t].end,
		    HC_ECONN);
		hc_close(l[t].c);
		acked += atomic_load(&l[t].acked);
	}
	expect_no_workers(d, "after SIGKILL of helixd");
	expect_clean_log(d);

	/* A new helixd on the same state has every acknowledged apply. */
	snprintf(dir, sizeof(dir), "%s", d->dir);
	d = h_start_in(dir, opts);
	c = h_connect(d);
	for (f = 0; f < LD_FLOWS; f++) {
		snprintf(flow, sizeof(flow), "L%d", f);
		ups[f] = full_history(c, flow, &V[f]);
		docs[f] = h_ok(c, "flow.get", "[\"%s\"]", flow);
		EXPECT_EQ(h_int(docs[f], "version"), V[f]);
		EXPECT_EQ(json_array_size(json_object_get(docs[f], "nodes")),
		    V[f]);
	}
	for (t = 0; t < LD_THREADS; t++) {
		f = t % LD_FLOWS;
		for (i = 0; i < l[t].tried; i++) {
			if ((v = l[t].ver[i]) == 0)
				continue;
			snprintf(id, sizeof(id), "t%d-%d", t, i);
			ck_assert_msg(v <= V[f], "sync %s: acknowledged %s as "
			    "version %lld of L%d, the new helixd has version "
			    "%lld", sync_modes[_i], id, v, f, V[f]);
			u = json_array_get(ups[f], (size_t)v - 1);
			ck_assert_msg(strcmp(update_node_id(u), id) == 0,
			    "sync %s: L%d version %lld: got %s, want the "
			    "acknowledged %s", sync_modes[_i], f, v,
			    update_node_id(u), id);
			ck_assert_msg(doc_has_node(docs[f], id), "sync %s: "
			    "acknowledged node %s missing from L%d",
			    sync_modes[_i], id, f);
		}
	}
	/* and nothing is there that was not asked for, or twice */
	for (f = 0; f < LD_FLOWS; f++) {
		json_array_foreach(ups[f], k, u) {
			int tt, ii;

			ck_assert_msg(sscanf(update_node_id(u), "t%d-%d", &tt,
			    &ii) == 2 && tt % LD_FLOWS == f && tt < LD_THREADS &&
			    ii < l[tt].tried && (l[tt].ver[ii] == 0 ||
			    l[tt].ver[ii] == (json_int_t)k + 1), "L%d version "
			    "%zu: got %s, want an apply sent to L%d",
			    f, k + 1, update_node_id(u), f);
		}
		json_decref(ups[f]);
		json_decref(docs[f]);
	}
	fprintf(stderr, "test_sigkill_daemon_load (sync %s): %d applies "
	    "acknowledged before the kill, all present\n", sync_modes[_i],
	    acked);
	for (t = 0; t < LD_THREADS; t++)
		free(l[t].ver);
	free(l);
	hc_close(c);
	finish(d);
}
END_TEST

/* ---- 7. fifty clients on one flow ------------------------------------------- */

#define CR_CLIENTS	50
#define CR_APPLIES	10
#define CR_TOTAL	(CR_CLIENTS * CR_APPLIES)

struct crowd {
	struct h_raw	 raw;
	struct seq	 seq;
	char		 who[16];
	bool		 joined;
	int		 answered;
};

START_TEST(test_crowd)
{
	struct hd		*d = h_start(NULL);
	struct hc_client	*c = h_connect(d);
	struct crowd		*cr = calloc(CR_CLIENTS, sizeof(*cr));
	char			(*vid)[32] = calloc(CR_TOTAL + 1, 32);
	char			 id[32];
	const char		*got;
	json_t			*m, *doc;
	json_int_t		 v, type, msgid;
	int			 i, n, a, acked = 0, done;
	int64_t			 dl;

	ck_assert_ptr_nonnull(cr);
	ck_assert_ptr_nonnull(vid);
	for (n = 0; n < CR_CLIENTS; n++) {
		h_raw_open(d, &cr[n].raw);
		snprintf(cr[n].who, sizeof(cr[n].who), "c%02d", n);
		cr[n].seq.who = cr[n].who;
		raw_send(&cr[n].raw, "[0, 1, \"flow.join\", [\"crowd\", "
		    "\"%s\"]]", cr[n].who);
	}
	/* joined: every reply to msgid 1, version 0 */
	dl = h_now_ms() + H_CALL_MS;
	for (done = 0; done < CR_CLIENTS; ) {
		ck_assert_msg(h_now_ms() < dl, "flow.join: %d of %d joined "
		    "within %d ms", done, CR_CLIENTS, H_CALL_MS);
		for (n = 0; n < CR_CLIENTS; n++) {
			while (!cr[n].joined && h_raw_next(&cr[n].raw, 0, &m) ==
			    1) {
				if (json_integer_value(json_array_get(m, 0)) == 1) {
					ck_assert_msg(json_is_null(
					    json_array_get(m, 2)), "%s flow.join: "
					    "got %s", cr[n].who, h_dump(m));
					EXPECT_EQ(h_int(json_array_get(m, 3),
					    "version"), 0);
					cr[n].joined = true;
					done++;
				}
				json_decref(m);
			}
		}
		h_nap();
	}
	/* every client applies, interleaved, all pipelined */
	for (a = 0; a < CR_APPLIES; a++)
		for (n = 0; n < CR_CLIENTS; n++) {
			snprintf(id, sizeof(id), "%s-%d", cr[n].who, a);
			raw_send(&cr[n].raw, "[0, %d, \"flow.apply\", "
			    "[\"crowd\", [%s]]]", 100 + a, node_op(id));
		}
	/* read everything, in arrival order, per connection */
	dl = h_now_ms() + 2 * H_CALL_MS;
	for (;;) {
		done = 0;
		for (n = 0; n < CR_CLIENTS; n++) {
			while (h_raw_next(&cr[n].raw, 0, &m) == 1) {
				type = json_integer_value(json_array_get(m, 0));
				msgid = json_integer_value(json_array_get(m, 1));
				v = 0;
				got = NULL;
				if (type == 1 && msgid >= 100 && msgid < 100 +
				    CR_APPLIES) {
					ck_assert_msg(json_is_null(
					    json_array_get(m, 2)), "%s apply "
					    "%lld: got %s, want a result",
					    cr[n].who, (long long)msgid - 100,
					    h_dump(m));
					v = h_int(json_array_get(m, 3), "version");
					snprintf(id, sizeof(id), "%s-%lld",
					    cr[n].who, (long long)msgid - 100);
					got = id;
					cr[n].answered++;
					acked++;
					seq_learn(&cr[n].seq, v, "its reply");
				} else if (type == 2 && strcmp(json_string_value(
				    json_array_get(m, 1)), "flow.update") == 0) {
					const json_t *up = json_array_get(
					    json_array_get(m, 2), 1);

					v = h_int(up, "version");
					got = update_node_id(up);
					seq_learn(&cr[n].seq, v, "a flow.update");
					ck_assert_msg(strcmp(h_str(up, "origin"),
					    cr[n].who) != 0, "%s got a flow.update "
					    "of its own apply (version %lld)",
					    cr[n].who, (long long)v);
				}
				if (got != NULL) {
					ck_assert_msg(v >= 1 && v <= CR_TOTAL,
					    "%s: version %lld out of 1..%d",
					    cr[n].who, (long long)v, CR_TOTAL);
					if (vid[v][0] == '\0')
						snprintf(vid[v], 32, "%s", got);
					ck_assert_msg(strcmp(vid[v], got) == 0,
					    "version %lld: %s learnt it as %s, "
					    "another client as %s", (long long)v,
					    cr[n].who, got, vid[v]);
				}
				json_decref(m);
			}
			ck_assert_msg(cr[n].seq.bad[0] == '\0', "%s",
			    cr[n].seq.bad);
			if (cr[n].answered == CR_APPLIES &&
			    cr[n].seq.last == CR_TOTAL)
				done++;
		}
		if (done == CR_CLIENTS)
			break;
		if (h_now_ms() >= dl) {
			for (n = 0; n < CR_CLIENTS; n++)
				if (cr[n].answered != CR_APPLIES ||
				    cr[n].seq.last != CR_TOTAL)
					break;
			ck_abort_msg("%s after %d ms: got %d answers and "
			    "versions up to %lld, want %d answers and every "
			    "version up to %d", cr[n].who, 2 * H_CALL_MS,
			    cr[n].answered, (long long)cr[n].seq.last,
			    CR_APPLIES, CR_TOTAL);
		}
		h_nap();
	}
	EXPECT_EQ(acked, CR_TOTAL);
	doc = h_ok(c, "flow.get", "[\"crowd\"]");
	EXPECT_EQ(h_int(doc, "version"), acked);
	EXPECT_EQ(json_array_size(json_object_get(doc, "nodes")), acked);
	json_decref(doc);
	/* nothing more: no duplicate */
	for (n = 0; n < CR_CLIENTS; n++) {
		while (h_raw_next(&cr[n].raw, n == 0 ? H_QUIET_MS : 0, &m) == 1) {
			type = json_integer_value(json_array_get(m, 0));
			ck_assert_msg(type != 1 && !(type == 2 &&
			    strcmp(json_string_value(json_array_get(m, 1)),
			    "flow.update") == 0), "%s: an extra message after "
			    "every version was learnt: %s", cr[n].who, h_dump(m));
			json_decref(m);
		}
		h_raw_close(&cr[n].raw);
	}
	(void)i;
	free(vid);
	free(cr);
	hc_close(c);
	finish(d);
}
END_TEST

/* ---- 8. property: random applies and random kills ------------------------- */

#define RF_FLOWS	3
#define RF_CLIENTS	4
#define RF_STEPS	1500
#define RF_MAXREQ	(RF_STEPS + 8)

struct rf_req {
	uint32_t	 msgid;
	int		 client;
	int		 flow;
	json_int_t	 version;	/* acknowledged version, 0 if not */
	bool		 answered;
	char		 id[24];
};

/* Per client and flow: how often each version was learnt. */
struct rf_client {
	struct hc_client	*c;
	int			 n;
	uint8_t			 seen[RF_FLOWS][RF_MAXREQ + 1];
	char			 bad[256];
};

static void
rf_notify(void *arg, const char *method, const json_t *params)
{
	struct rf_client	*rc = arg;
	const char		*flow;
	json_int_t		 v;
	int			 f;

	if (strcmp(method, "flow.update") != 0)
		return;
	flow = json_string_value(json_array_get(params, 0));
	v = json_integer_value(json_object_get(json_array_get(params, 1),
	    "version"));
	if (flow == NULL || sscanf(flow, "p%d", &f) != 1 || f < 0 ||
	    f >= RF_FLOWS || v < 1 || v > RF_MAXREQ) {
		if (rc->bad[0] == '\0')
			snprintf(rc->bad, sizeof(rc->bad), "client %d: a "
			    "flow.update for %s version %lld, out of range",
			    rc->n, flow ? flow : "?", (long long)v);
		return;
	}
	rc->seen[f][v]++;
}

/*
 * The /proc watcher: no flow ever has two live workers, and every worker
 * is a child of the daemon.
 */
struct watcher {
	pthread_t	 th;
	const char	*state;
	pid_t		 daemon;
	atomic_bool	 stop;
	atomic_int	 scans;
	atomic_int	 dups;
	char		 why[512];
};

static void *
watcher_run(void *arg)
{
	struct watcher	*w = arg;
	char		 why[512];
	struct timespec	 ts = { 0, 2 * 1000 * 1000 };

	struct h_worker	 ws[64];
	int		 i, n;

	while (!atomic_load(&w->stop)) {
		if (h_flow_duplicates(w->state, why, sizeof(why)) > 0 &&
		    atomic_fetch_add(&w->dups, 1) == 0)
			memcpy(w->why, why, sizeof(why));
		n = h_scan_workers(w->state, ws, 64);
		for (i = 0; i < n && i < 64; i++) {
			if (ws[i].ppid == w->daemon)
				continue;
			if (atomic_fetch_add(&w->dups, 1) == 0)
				snprintf(w->why, sizeof(w->why), "worker %d of "
				    "flow %s has parent %d, want helixd %d",
				    (int)ws[i].pid, ws[i].flow, (int)ws[i].ppid,
				    (int)w->daemon);
		}
		atomic_fetch_add(&w->scans, 1);
		nanosleep(&ts, NULL);
	}
	return NULL;
}

static unsigned
test_seed(void)
{
	const char	*env = getenv("HELIX_SEED");
	struct timespec	 ts;

	if (env != NULL && *env != '\0')
		return (unsigned)strtoul(env, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return (unsigned)(ts.tv_nsec ^ ts.tv_sec ^ getpid());
}

/* Collect every answer client n still owes. */
static void
rf_drain(struct rf_client *rc, struct rf_req *req, int nreq, int *crashed)
{
	struct hc_result	 r;
	int			 i, rv;

	for (i = 0; i < nreq; i++) {
		if (req[i].client != rc->n || req[i].answered)
			continue;
		memset(&r, 0, sizeof(r));
		rv = hc_wait(rc->c, req[i].msgid, H_CALL_MS, &r);
		req[i].answered = true;
		if (rv == HC_OK) {
			req[i].version = h_int(r.value, "version");
			ck_assert_msg(req[i].version >= 1 && req[i].version <=
			    RF_MAXREQ, "apply %s: version %lld out of range",
			    req[i].id, (long long)req[i].version);
			rc->seen[req[i].flow][req[i].version]++;
		} else {
			ck_assert_msg(rv == HC_ERROR && (strcmp(r.code,
			    "session_crashed") == 0 || strcmp(r.code, "timeout")
			    == 0), "apply %s: got status %d %s (%s), want a "
			    "result, session_crashed or timeout", req[i].id, rv,
			    r.code, r.message);
			(*crashed)++;
		}
		hc_result_clear(&r);
	}
}

START_TEST(test_random_faults)
{
	const char		*opts[] = { "--max-restarts", "255",
				    "--max-seconds", "1", "--max-restarts-total",
				    "0", "--history-length", "100000", NULL };
	static const char *const sigs[] = { "KILL", "TERM", "SEGV" };
	struct hd		*d;
	struct hc_client	*adm;
	struct rf_client	*rc = calloc(RF_CLIENTS, sizeof(*rc));
	struct rf_req		*req = calloc(RF_MAXREQ, sizeof(*req));
	struct watcher		 w;
	unsigned		 seed = test_seed(), rs;
	json_t			*p, *r, *ups[RF_FLOWS], *doc, *u;
	json_int_t		 V[RF_FLOWS];
	char			 flow[16], code[64], why[512];
	int			 nreq = 0, step, i, f, n, kills = 0, crashed = 0;
	int			 acked = 0, dups;
	size_t			 k;
	pid_t			 pid;

	fprintf(stderr, "test_random_faults: seed %u (HELIX_SEED=%u "
	    "repeats this run)\n", seed, seed);
	/*
	 * Under AddressSanitizer a SIGSEGV from session.kill would be
	 * reported as a memory fault: let it kill the worker plainly.
	 */
	{
		const char	*o = getenv("ASAN_OPTIONS");
		char		 buf[1024];

		snprintf(buf, sizeof(buf), "%s%shandle_segv=0", o ? o : "",
		    o && *o ? ":" : "");
		setenv("ASAN_OPTIONS", buf, 1);
	}
	d = h_start(opts);
	adm = h_connect(d);
	rs = seed;
	ck_assert_ptr_nonnull(rc);
	ck_assert_ptr_nonnull(req);
	for (n = 0; n < RF_CLIENTS; n++) {
		rc[n].c = h_connect(d);
		rc[n].n = n;
		hc_set_notify(rc[n].c, rf_notify, &rc[n]);
		for (f = 0; f < RF_FLOWS; f++)
			json_decref(h_ok(rc[n].c, "flow.join", "[\"p%d\", "
			    "\"P%d\"]", f, n));
	}
	memset(&w, 0, sizeof(w));
	w.state = d->state;
	w.daemon = d->pid;
	ck_assert_int_eq(pthread_create(&w.th, NULL, watcher_run, &w), 0);

	for (step = 0; step < RF_STEPS; step++) {
		int dice = rand_r(&rs) % 100;

		n = rand_r(&rs) % RF_CLIENTS;
		f = rand_r(&rs) % RF_FLOWS;
		snprintf(flow, sizeof(flow), "p%d", f);
		if (dice < 55) {
			struct rf_req *q = &req[nreq];

			q->client = n;
			q->flow = f;
			snprintf(q->id, sizeof(q->id), "s%d", step);
			p = h_json("[\"%s\", [%s]]", flow, node_op(q->id));
			EXPECT_EQ(hc_send(rc[n].c, "flow.apply", p, &q->msgid),
			    HC_OK);
			json_decref(p);
			nreq++;
		} else if (dice < 70) {
			/*
			 * A worker that answered something restarts at once
			 * (no back-off): inspect (answered by the worker) then
			 * kill.
			 */
			r = NULL;
			if (h_call(adm, &r, code, sizeof(code),
			    "session.inspect", "[\"%s\"]", flow) == HC_OK &&
			    json_is_integer(json_object_get(r, "pid")) &&
			    strcmp(h_str(r, "state"), "running") == 0) {
				const char *sig = sigs[rand_r(&rs) %
				    NELEMS(sigs)];

				json_decref(r);
				r = NULL;
				if (h_call(adm, &r, code, sizeof(code),
				    "session.kill", "[\"%s\", \"%s\"]", flow,
				    sig) == HC_OK)
					kills++;
				else
					ck_assert_msg(strcmp(code, "not_running")
					    == 0, "session.kill %s %s: got %s, "
					    "want a result or not_running", flow,
					    sig, code);
			}
			json_decref(r);
			dups = h_flow_duplicates(d->state, why, sizeof(why));
			ck_assert_msg(dups == 0, "step %d (seed %u): %s", step,
			    seed, why);
		} else if (dice < 90) {
			rf_drain(&rc[n], req, nreq, &crashed);
		} else {
			dups = h_flow_duplicates(d->state, why, sizeof(why));
			ck_assert_msg(dups == 0, "step %d (seed %u): %s", step,
			    seed, why);
			json_decref(h_ok(adm, "flow.status", "[\"%s\"]", flow));
		}
	}
	for (n = 0; n < RF_CLIENTS; n++)
		rf_drain(&rc[n], req, nreq, &crashed);
	atomic_store(&w.stop, true);
	pthread_join(w.th, NULL);
	ck_assert_msg(atomic_load(&w.dups) == 0, "seed %u: %s", seed, w.why);
	ck_assert_msg(atomic_load(&w.scans) > 0, "the /proc watcher never "
	    "scanned");

	/*
	 * A worker killed by the last steps may not be reaped yet: wait until
	 * each flow answers again (session_crashed meanwhile is fine).
	 */
	for (f = 0; f < RF_FLOWS; f++) {
		int64_t dl = h_now_ms() + H_EVENT_MS;

		for (;;) {
			r = NULL;
			i = h_call(adm, &r, code, sizeof(code), "flow.get",
			    "[\"p%d\"]", f);
			json_decref(r);
			if (i == HC_OK)
				break;
			ck_assert_msg(i == HC_ERROR && (strcmp(code,
			    "session_crashed") == 0 || strcmp(code, "timeout") ==
			    0) && h_now_ms() < dl, "flow.get p%d after the "
			    "steps: got status %d %s, want a result within %d ms",
			    f, i, code, H_EVENT_MS);
			h_nap();
		}
	}

	/* Every acknowledged apply is there, once, at its version. */
	for (f = 0; f < RF_FLOWS; f++) {
		snprintf(flow, sizeof(flow), "p%d", f);
		ups[f] = full_history(adm, flow, &V[f]);
		doc = h_ok(adm, "flow.get", "[\"%s\"]", flow);
		EXPECT_EQ(h_int(doc, "version"), V[f]);
		for (i = 0; i < nreq; i++) {
			if (req[i].flow != f || req[i].version == 0)
				continue;
			acked++;
			u = json_array_get(ups[f], (size_t)req[i].version - 1);
			ck_assert_msg(u != NULL && strcmp(update_node_id(u),
			    req[i].id) == 0, "seed %u: %s version %lld: got %s, "
			    "want the acknowledged %s", seed, flow,
			    (long long)req[i].version, u ? update_node_id(u) :
			    "nothing", req[i].id);
			ck_assert_msg(doc_has_node(doc, req[i].id), "seed %u: "
			    "acknowledged node %s missing from %s", seed,
			    req[i].id, flow);
		}
		json_array_foreach(ups[f], k, u) {
			bool found = false;

			for (i = 0; i < nreq && !found; i++)
				found = req[i].flow == f && strcmp(req[i].id,
				    update_node_id(u)) == 0 && (req[i].version ==
				    0 || req[i].version == (json_int_t)k + 1);
			ck_assert_msg(found, "seed %u: %s version %zu adds %s: "
			    "not an apply sent to %s (or acknowledged as "
			    "another version)", seed, flow, k + 1,
			    update_node_id(u), flow);
		}
		json_decref(doc);
	}

	/* Each joined client learns every version exactly once. */
	for (n = 0; n < RF_CLIENTS; n++) {
		for (f = 0; f < RF_FLOWS; f++) {
			json_int_t	v;
			bool		all;
			int64_t		dl = h_now_ms() + H_EVENT_MS;

			for (;;) {
				all = true;
				for (v = 1; v <= V[f]; v++)
					if (rc[n].seen[f][v] == 0)
						all = false;
				if (all || h_now_ms() >= dl)
					break;
				hc_poll(rc[n].c, 20);
			}
			for (v = 1; v <= V[f]; v++)
				ck_assert_msg(rc[n].seen[f][v] == 1, "seed %u: "
				    "joined client %d learnt p%d version %lld "
				    "%d times, want exactly once (from its reply "
				    "or a flow.update)", seed, n, f, (long long)v,
				    rc[n].seen[f][v]);
			for (v = V[f] + 1; v <= RF_MAXREQ; v++)
				ck_assert_msg(rc[n].seen[f][v] == 0, "seed %u: "
				    "client %d learnt p%d version %lld, beyond "
				    "the committed %lld", seed, n, f,
				    (long long)v, (long long)V[f]);
		}
		ck_assert_msg(rc[n].bad[0] == '\0', "seed %u: %s", seed,
		    rc[n].bad);
	}
	ck_assert_msg(stat_of(adm, "session_crashes_total") >= kills,
	    "session_crashes_total below the %d kills", kills);
	fprintf(stderr, "test_random_faults: seed %u: %d applies (%d "
	    "acknowledged, %d session_crashed or timeout), %d kills, %d "
	    "/proc scans\n", seed, nreq, acked, crashed, kills,
	    atomic_load(&w.scans));
	for (f = 0; f < RF_FLOWS; f++)
		json_decref(ups[f]);
	for (n = 0; n < RF_CLIENTS; n++)
		hc_close(rc[n].c);
	free(rc);
	free(req);
	(void)pid;
	hc_close(adm);
	finish(d);
}
END_TEST

/* ---- 9. the daemon-wide restart limit ---------------------------------------- */

/* Kill flow's worker with SIGKILL; the killed pid. */
static pid_t
kill_worker(struct hc_client *c, const char *flow)
{
	pid_t pid = h_worker_pid(c, flow);

	ck_assert_msg(pid > 0, "flow %s has no worker to kill", flow);
	ck_assert_int_eq(kill(pid, SIGKILL), 0);
	return pid;
}

struct throttle_arg {
	struct hc_client	*c;
	json_int_t		 throttled;	/* want more than this */
	json_int_t		 ms;		/* out */
};

static bool
throttled(void *arg)
{
	struct throttle_arg	*a = arg;
	json_t			*st = h_ok(a->c, "sys.stats", NULL);
	bool			 yes;

	a->ms = h_int(st, "restart_throttle_ms");
	yes = h_int(st, "restarts_throttled_total") > a->throttled &&
	    a->ms > 0;
	json_decref(st);
	return yes;
}

START_TEST(test_global_throttle)
{
	const char		*opts[] = { "--max-restarts-total", "3",
				    "--max-restarts-total-seconds", "60", NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*c = h_connect(d);
	struct throttle_arg	 ta = { c, 0, 0 };
	json_t			*st;
	char			 flow[16];
	int64_t			 t0, dt1, dt2;
	json_int_t		 ms1;
	pid_t			 pid;
	int			 f;

	for (f = 0; f < 5; f++) {
		snprintf(flow, sizeof(flow), "g%d", f);
		apply(c, flow, "[{\"op\": \"set_meta\", \"title\": \"x\"}]");
	}
	/* three restarts, one per flow: within the limit, immediate */
	for (f = 0; f < 3; f++) {
		snprintf(flow, sizeof(flow), "g%d", f);
		pid = kill_worker(c, flow);
		h_wait_new_pid(c, flow, pid, H_EVENT_MS);
	}
	st = h_ok(c, "sys.stats", NULL);
	ck_assert_msg(h_int(st, "restarts_throttled_total") == 0 &&
	    h_int(st, "restart_throttle_ms") == 0 &&
	    h_int(st, "session_restarts_total") == 3, "sys.stats after 3 "
	    "restarts with max_restarts_total 3: got %s, want 3 restarts, "
	    "none throttled", h_dump(st));
	json_decref(st);

	/* the fourth: still restarted, but later */
	t0 = h_now_ms();
	pid = kill_worker(c, "g3");
	ck_assert_msg(h_poll(throttled, &ta, H_EVENT_MS), "sys.stats after a "
	    "4th restart with max_restarts_total 3: got restart_throttle_ms "
	    "%lld and no restarts_throttled_total, want both > 0",
	    (long long)ta.ms);
	ms1 = ta.ms;
	h_wait_new_pid(c, "g3", pid, H_EVENT_MS);
	dt1 = h_now_ms() - t0;
	ck_assert_msg(dt1 >= ms1 * 8 / 10, "throttled restart of g3 came "
	    "after %lld ms, want about restart_throttle_ms %lld",
	    (long long)dt1, (long long)ms1);
	/* the fifth: later still */
	t0 = h_now_ms();
	ta.throttled = 1;
	pid = kill_worker(c, "g4");
	ck_assert_msg(h_poll(throttled, &ta, H_EVENT_MS), "a 5th restart was "
	    "not throttled");
	ck_assert_msg(ta.ms > ms1, "restart_throttle_ms: got %lld after %lld, "
	    "want it to grow", (long long)ta.ms, (long long)ms1);
	h_wait_new_pid(c, "g4", pid, H_EVENT_MS);
	dt2 = h_now_ms() - t0;
	ck_assert_msg(dt2 >= ta.ms * 8 / 10, "throttled restart of g4 came "
	    "after %lld ms, want about restart_throttle_ms %lld",
	    (long long)dt2, (long long)ta.ms);
	st = h_ok(c, "sys.stats", NULL);
	EXPECT_EQ(h_int(st, "session_restarts_total"), 5);
	EXPECT_EQ(h_int(st, "restarts_throttled_total"), 2);
	json_decref(st);
	/* everything still there */
	for (f = 0; f < 5; f++) {
		snprintf(flow, sizeof(flow), "g%d", f);
		EXPECT_EQ(h_version(c, flow), 1);
	}
	hc_close(c);
	finish(d);
}
END_TEST

START_TEST(test_global_escalate_exit)
{
	const char		*opts[] = { "--max-restarts-total", "3",
				    "--max-restarts-total-seconds", "60",
				    "--escalate", "exit", NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*c = h_connect(d);
	char			 flow[16];
	pid_t			 pid;
	int			 f;

	for (f = 0; f < 4; f++) {
		snprintf(flow, sizeof(flow), "x%d", f);
		apply(c, flow, "[{\"op\": \"set_meta\", \"title\": \"x\"}]");
	}
	for (f = 0; f < 3; f++) {
		snprintf(flow, sizeof(flow), "x%d", f);
		pid = kill_worker(c, flow);
		h_wait_new_pid(c, flow, pid, H_EVENT_MS);
	}
	ck_assert_msg(!d->exited, "helixd exited after 3 restarts with "
	    "max_restarts_total 3");
	kill_worker(c, "x3");
	ck_assert_msg(h_wait_exit(d, H_STOP_MS), "helixd still runs %d ms "
	    "after a 4th restart with max_restarts_total 3 and escalate exit",
	    H_STOP_MS);
	ck_assert_msg(WIFEXITED(d->status) && WEXITSTATUS(d->status) == 3,
	    "helixd with escalate exit: got %s, want exit status 3; log:\n%s",
	    h_status_text(d->status), h_log_tail(d));
	expect_no_workers(d, "after escalate exit");
	expect_clean_log(d);
	hc_close(c);
}
END_TEST

/* ---- 10. graceful shutdown under load ---------------------------------------- */

#define GS_JOINED	3
#define GS_APPLIERS	2
#define GS_N		100

START_TEST(test_graceful_shutdown)
{
	const char		*opts[] = { "--shutdown-timeout-ms", "3000",
				    NULL };
	struct hd		*d = h_start(opts);
	struct hc_client	*j[GS_JOINED], *a[GS_APPLIERS], *c;
	static uint32_t		 ids[GS_APPLIERS][GS_N];
	static json_int_t	 ver[GS_APPLIERS][GS_N];
	struct hc_result	 r;
	json_t			*p, *n, *doc[2];
	char			 dir[H_DIR_MAX], id[32];
	int			 i, k, f, rv, results = 0, errors = 0;
	int64_t			 t0, dt;
	struct stat		 sb;
	bool			 closed[2];

	for (i = 0; i < GS_JOINED; i++) {
		j[i] = h_connect(d);
		for (f = 0; f < 2; f++)
			json_decref(h_ok(j[i], "flow.join", "[\"gs%d\", "
			    "\"J%d\"]", f, i));
	}
	for (k = 0; k < GS_APPLIERS; k++) {
		a[k] = h_connect(d);
		for (i = 0; i < GS_N; i++) {
			snprintf(id, sizeof(id), "a%d-%d", k, i);
			p = h_json("[\"gs%d\", [%s]]", i % 2, node_op(id));
			EXPECT_EQ(hc_send(a[k], "flow.apply", p, &ids[k][i]),
			    HC_OK);
			json_decref(p);
		}
		/* once answered, every apply before it reached helixd */
		json_decref(h_ok(a[k], "sys.ping", NULL));
	}
	t0 = h_now_ms();
	ck_assert_int_eq(kill(d->pid, SIGTERM), 0);

	/* every in-flight apply is answered: a result or an error */
	for (k = 0; k < GS_APPLIERS; k++)
		for (i = 0; i < GS_N; i++) {
			memset(&r, 0, sizeof(r));
			rv = hc_wait(a[k], ids[k][i], H_CALL_MS, &r);
			ck_assert_msg(rv == HC_OK || rv == HC_ERROR, "apply "
			    "a%d-%d in flight at SIGTERM: got status %d (%s), "
			    "want a result or an error", k, i, rv, r.message);
			if (rv == HC_OK) {
				ver[k][i] = h_int(r.value, "version");
				results++;
			} else {
				ck_assert_msg(strcmp(r.code, "shutting_down") ==
				    0 || strcmp(r.code, "session_crashed") == 0,
				    "apply a%d-%d at SIGTERM: got %s, want a "
				    "result, shutting_down or session_crashed",
				    k, i, r.code);
				errors++;
			}
			hc_result_clear(&r);
		}
	/* every joined client: flow.closed "shutdown", for each flow */
	for (i = 0; i < GS_JOINED; i++) {
		closed[0] = closed[1] = false;
		while (!closed[0] || !closed[1]) {
			n = h_next(j[i], "flow.closed", H_EVENT_MS);
			ck_assert_msg(n != NULL, "joined client J%d: got no "
			    "flow.closed for gs%d, want reason shutdown", i,
			    closed[0] ? 1 : 0);
			f = strcmp(json_string_value(json_array_get(n, 0)),
			    "gs1") == 0;
			ck_assert_msg(strcmp(h_str(json_array_get(n, 1),
			    "reason"), "shutdown") == 0, "J%d flow.closed: got "
			    "%s, want reason shutdown", i, h_dump(n));
			ck_assert_msg(!closed[f], "J%d: flow.closed for gs%d "
			    "twice", i, f);
			closed[f] = true;
			json_decref(n);
		}
	}
	ck_assert_msg(h_wait_exit(d, 3000 + 2000 + H_EVENT_MS), "helixd still "
	    "runs %d ms after SIGTERM", 3000 + 2000 + H_EVENT_MS);
	dt = h_now_ms() - t0;
	ck_assert_msg(WIFEXITED(d->status) && WEXITSTATUS(d->status) == 0,
	    "helixd after SIGTERM: got %s, want exit status 0; log:\n%s",
	    h_status_text(d->status), h_log_tail(d));
	ck_assert_msg(dt <= 3000 + 2000 + 3000, "helixd took %lld ms to exit "
	    "after SIGTERM, want at most shutdown_timeout_ms 3000 + the 2 s "
	    "drain + slack", (long long)dt);
	expect_no_workers(d, "after SIGTERM");
	expect_clean_log(d);
	ck_assert_msg(lstat(d->sock, &sb) == -1, "the socket %s is still "
	    "there after a graceful stop", d->sock);
	for (i = 0; i < GS_JOINED; i++)
		hc_close(j[i]);
	for (k = 0; k < GS_APPLIERS; k++)
		hc_close(a[k]);

	/* what was acknowledged is there for the next daemon */
	snprintf(dir, sizeof(dir), "%s", d->dir);
	d = h_start_in(dir, opts);
	c = h_connect(d);
	for (f = 0; f < 2; f++)
		doc[f] = h_ok(c, "flow.get", "[\"gs%d\"]", f);
	for (k = 0; k < GS_APPLIERS; k++)
		for (i = 0; i < GS_N; i++) {
			if (ver[k][i] == 0)
				continue;
			snprintf(id, sizeof(id), "a%d-%d", k, i);
			ck_assert_msg(doc_has_node(doc[i % 2], id) &&
			    h_int(doc[i % 2], "version") >= ver[k][i],
			    "acknowledged %s (version %lld) missing after the "
			    "graceful stop", id, (long long)ver[k][i]);
		}
	json_decref(doc[0]);
	json_decref(doc[1]);
	fprintf(stderr, "test_graceful_shutdown: %d applies answered with a "
	    "result, %d with an error; exit after %lld ms\n", results, errors,
	    (long long)dt);
	hc_close(c);
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

	tc = tcase_create("daemon");
	tcase_add_loop_test(tc, test_sigkill_daemon_load, 0,
	    NELEMS(sync_modes));
	tcase_add_test(tc, test_global_throttle);
	tcase_add_test(tc, test_global_escalate_exit);
	tcase_add_test(tc, test_graceful_shutdown);
	suite_add_tcase(s, tc);

	tc = tcase_create("load");
	tcase_add_test(tc, test_crowd);
	tcase_add_test(tc, test_random_faults);
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
	sr = srunner_create(faults_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	h_base_done(failed != 0);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
