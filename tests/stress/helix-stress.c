/*
 * helix-stress: hammer a helixd with clients while a killer shoots its
 * workers, then check that nothing acknowledged was lost.
 *
 *   helix-stress -s SOCKET [-c CLIENTS] [-f FLOWS] [-d SECONDS] [-k KILL_MS]
 *                [--seed N] [--spawn HELIXD [--worker PATH]
 *                [--daemon-arg ARG]...] [--no-join] [--keep] [-v]
 *
 * Threads: one per client (its own connection, joined to every flow,
 * applying random valid ops to random flows, one request at a time), a
 * killer (every KILL_MS: session.inspect of a random flow, then SIGKILL of
 * its pid, or session.kill with KILL, TERM or SEGV), a watcher (scans /proc
 * for two live workers of one flow) and a verifier (reads flow.history of
 * every flow as it grows).  Checked, and counted as violations:
 *
 *  - every acknowledged version is in flow.history, holding the ops that
 *    were acknowledged as it, and no version is acknowledged twice;
 *  - flow.history has no gaps, and no acknowledged version is above the
 *    final version;
 *  - each joined client learns every version exactly once and in order,
 *    from its own replies and flow.update (a rejoin after flow.closed
 *    continues from where it was);
 *  - no flow ever has two live helix-worker processes;
 *  - no request goes unanswered (a hang), no connection is dropped, and an
 *    op valid against the acknowledged state is never refused;
 *  - with --spawn: helixd keeps running, stops with status 0 on SIGTERM and
 *    leaves no worker behind.
 *
 * Exit status: 0 no violation, 1 violations, 2 usage or set-up error.
 * Only Unix sockets; everything is bounded by the duration.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client/helix-client.h"

#define MAX_CLIENTS	1000
#define MAX_FLOWS	1000
#define CALL_MS		30000	/* a request unanswered this long hangs */
#define MAX_TRANSIENT	4	/* a client's extra nodes per flow */
#define MAX_VIOLATIONS	20	/* printed; all are counted */
#define MAX_CODES	32

/* ---- options and shared state ----------------------------------------- */

static struct {
	const char	*socket;
	int		 clients, flows, seconds, kill_ms;
	unsigned	 seed;
	const char	*spawn;		/* helixd to start, or NULL */
	const char	*worker;
	const char	*dargs[32];
	int		 ndargs;
	bool		 join, keep, verbose;
} opt = { NULL, 8, 4, 60, 500, 0, NULL, NULL, { 0 }, 0, true, false, false };

static char		 sockpath[256];
static char		 tmpdir[128];	/* --spawn: its directory */
static char		 statedir[192];
static pid_t		 helixd_pid;	/* the daemon (SO_PEERCRED) */
static char		 prefix[48];	/* flow ids: PREFIX-N */
static int64_t		 t_start, t_end;	/* ms, monotonic */
static atomic_bool	 stopping;

static pthread_mutex_t	 vlock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int	 nviolations;
static char		 violations[MAX_VIOLATIONS][512];

/* Error answers by code. */
static pthread_mutex_t	 code_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	char	 code[64];
	uint64_t n;
} codes[MAX_CODES];

static void __attribute__((format(printf, 1, 2)))
violation(const char *fmt, ...)
{
	va_list	ap;
	int	n = atomic_fetch_add(&nviolations, 1);

	if (n >= MAX_VIOLATIONS)
		return;
	pthread_mutex_lock(&vlock);
	va_start(ap, fmt);
	vsnprintf(violations[n], sizeof(violations[n]), fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&vlock);
	if (opt.verbose)
		fprintf(stderr, "helix-stress: VIOLATION %s\n", violations[n]);
}

static void
count_code(const char *code)
{
	int i;

	pthread_mutex_lock(&code_lock);
	for (i = 0; i < MAX_CODES; i++) {
		if (codes[i].code[0] == '\0')
			snprintf(codes[i].code, sizeof(codes[i].code), "%s",
			    code[0] ? code : "?");
		if (strcmp(codes[i].code, code[0] ? code : "?") == 0) {
			codes[i].n++;
			break;
		}
	}
	pthread_mutex_unlock(&code_lock);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static bool
running(void)
{
	return !atomic_load(&stopping) && now_ms() < t_end;
}

/* ---- flows: acknowledged versions and history ---------------------------- */

/*
 * A marker identifies one apply: (client + 1) << 32 | seq.  Each apply's
 * first op is set_meta with the title "cCLIENT:SEQ", so the history says
 * which apply made each version.
 */
struct flow {
	char		 id[64];
	pthread_mutex_t	 lock;
	uint64_t	*acked;		/* acked[v]: marker, 0 if none */
	uint64_t	*hist;		/* hist[v]: marker from flow.history */
	size_t		 cap;		/* of both, in versions */
	uint64_t	 max_acked;
	uint64_t	 fetched;	/* history read up to here */
};

static struct flow	*flows;

static int
flow_index(const char *id)
{
	size_t	len = strlen(prefix);
	char	*end;
	long	 n;

	if (id == NULL || strncmp(id, prefix, len) != 0 || id[len] != '-')
		return -1;
	n = strtol(id + len + 1, &end, 10);
	if (*end != '\0' || n < 0 || n >= opt.flows)
		return -1;
	return (int)n;
}

/* Make room for version v (lock held). */
static void
flow_grow(struct flow *f, uint64_t v)
{
	size_t	 ncap;

	if (v < f->cap)
		return;
	ncap = f->cap ? f->cap : 4096;
	while (ncap <= v)
		ncap *= 2;
	f->acked = realloc(f->acked, ncap * sizeof(*f->acked));
	f->hist = realloc(f->hist, ncap * sizeof(*f->hist));
	if (f->acked == NULL || f->hist == NULL) {
		fprintf(stderr, "helix-stress: out of memory\n");
		exit(2);
	}
	memset(f->acked + f->cap, 0, (ncap - f->cap) * sizeof(*f->acked));
	memset(f->hist + f->cap, 0, (ncap - f->cap) * sizeof(*f->hist));
	f->cap = ncap;
}

static void
flow_ack(struct flow *f, uint64_t v, uint64_t marker)
{
	pthread_mutex_lock(&f->lock);
	flow_grow(f, v);
	if (f->acked[v] != 0)
		violation("%s: version %" PRIu64 " acknowledged twice (to "
		    "c%" PRIu64 ":%" PRIu64 " and c%" PRIu64 ":%" PRIu64 ")",
		    f->id, v, (f->acked[v] >> 32) - 1, f->acked[v] & 0xffffffff,
		    (marker >> 32) - 1, marker & 0xffffffff);
	else
		f->acked[v] = marker;
	if (f->hist[v] != 0 && f->hist[v] != marker)
		violation("%s: version %" PRIu64 " acknowledged to c%" PRIu64
		    ":%" PRIu64 ", flow.history has c%" PRIu64 ":%" PRIu64,
		    f->id, v, (marker >> 32) - 1, marker & 0xffffffff,
		    (f->hist[v] >> 32) - 1, f->hist[v] & 0xffffffff);
	if (v > f->max_acked)
		f->max_acked = v;
	pthread_mutex_unlock(&f->lock);
}

/* The marker of an update (its first op's title), 0 if it has none. */
static uint64_t
update_marker(const json_t *u)
{
	const json_t	*op = json_array_get(json_object_get(u, "ops"), 0);
	const char	*t = json_string_value(json_object_get(op, "title"));
	unsigned long	 c, s;

	if (t == NULL || sscanf(t, "c%lu:%lu", &c, &s) != 2)
		return 0;
	return ((uint64_t)(c + 1) << 32) | (s & 0xffffffff);
}

/*
 * Read flow.history after what was read; check it is gapless and agrees
 * with what was acknowledged.  -1 when the call failed.
 */
static int
flow_fetch(struct hc_client *c, struct flow *f)
{
	struct hc_result	 r;
	json_t			*p, *ups, *u;
	uint64_t		 from, v, m, expect;
	size_t			 i;
	bool			 complete;
	int			 rv;

	pthread_mutex_lock(&f->lock);
	from = f->fetched;
	pthread_mutex_unlock(&f->lock);
	p = json_pack("[s, I]", f->id, (json_int_t)from);
	memset(&r, 0, sizeof(r));
	rv = hc_call(c, "flow.history", p, CALL_MS, &r);
	json_decref(p);
	if (rv != HC_OK) {
		if (rv == HC_ETIMEDOUT)
			violation("verifier: flow.history %s unanswered for "
			    "%d ms", f->id, CALL_MS);
		else if (rv == HC_ECONN)
			violation("verifier: connection lost (%s)", r.message);
		hc_result_clear(&r);
		return -1;
	}
	ups = json_object_get(r.value, "updates");
	complete = json_is_true(json_object_get(r.value, "complete"));
	expect = from + 1;
	pthread_mutex_lock(&f->lock);
	json_array_foreach(ups, i, u) {
		v = (uint64_t)json_integer_value(json_object_get(u, "version"));
		/* !complete: retention moved on; what lies between is
		 * unverifiable (counted at the end) */
		if (v != expect && !(i == 0 && !complete && v > expect))
			violation("%s: flow.history since %" PRIu64 ": version %"
			    PRIu64 " where %" PRIu64 " was due (a gap)", f->id,
			    from, v, expect);
		m = update_marker(u);
		flow_grow(f, v);
		f->hist[v] = m != 0 ? m : UINT64_MAX;
		if (f->acked[v] != 0 && f->acked[v] != m)
			violation("%s: version %" PRIu64 " acknowledged to c%"
			    PRIu64 ":%" PRIu64 ", flow.history has %s", f->id,
			    v, (f->acked[v] >> 32) - 1, f->acked[v] & 0xffffffff,
			    m ? "another apply" : "no marker");
		f->fetched = v;
		expect = v + 1;
	}
	pthread_mutex_unlock(&f->lock);
	hc_result_clear(&r);
	return 0;
}

/* ---- clients ---------------------------------------------------------------- */

struct cflow {			/* what one client knows of one flow */
	bool		 joined;
	bool		 joining;	/* first join: reply not yet in */
	bool		 rejoin;	/* flow.closed: join again */
	uint64_t	 last;		/* last version learnt */
	bool		 main;		/* node cN exists */
	bool		 dirty;		/* an outcome is unknown: re-read */
	int		 ntrans;
	uint32_t	 trans[MAX_TRANSIENT];	/* nodes cN-xSEQ */
	int64_t		 blocked_until;	/* session_failed: ms */
};

struct client {
	pthread_t	 th;
	int		 n;
	char		 cid[32];
	struct hc_client *c;
	struct cflow	*f;
	unsigned	 rs;
	uint32_t	 seq;
	/* statistics */
	uint64_t	 sent, acked, unknown, learnt, resyncs;
	uint32_t	*lat;		/* apply latencies, us */
	size_t		 nlat, latcap;
};

static struct client	*clients;

static void
client_notify(void *arg, const char *method, const json_t *params)
{
	struct client	*cl = arg;
	struct cflow	*cf;
	const char	*id = json_string_value(json_array_get(params, 0));
	const json_t	*body = json_array_get(params, 1);
	uint64_t	 v;
	int		 f;

	if ((f = flow_index(id)) == -1)
		return;
	cf = &cl->f[f];
	if (strcmp(method, "flow.update") == 0) {
		if (!cf->joined)
			return;
		v = (uint64_t)json_integer_value(json_object_get(body,
		    "version"));
		cl->learnt++;
		if (cf->joining)	/* the join reply will say where we are */
			return;
		if (v != cf->last + 1)
			violation("%s: %s learnt version %" PRIu64 " from a "
			    "flow.update after %" PRIu64 " (want each version "
			    "once, in order)", cl->cid, id, v, cf->last);
		if (v > cf->last)
			cf->last = v;
	} else if (strcmp(method, "flow.closed") == 0) {
		cf->joined = false;
		cf->rejoin = true;
		if (opt.verbose)
			fprintf(stderr, "helix-stress: %s: flow.closed %s %s\n",
			    cl->cid, id, json_string_value(json_object_get(body,
			    "reason")));
	}
}

/* session_failed's retry_after, in ms (at least 1 s). */
static int64_t
retry_ms(const struct hc_result *r)
{
	json_int_t s = json_integer_value(json_object_get(r->value,
	    "retry_after"));

	return (s < 1 ? 1 : s) * 1000;
}

/* Join flow f (again), continuing from what this client has learnt. */
static int
client_join(struct client *cl, int f)
{
	struct cflow		*cf = &cl->f[f];
	struct hc_result	 r;
	json_t			*p;
	int			 rv;
	uint64_t		 v, since = cf->last;

	if (cf->rejoin)
		p = json_pack("[s, s, I]", flows[f].id, cl->cid,
		    (json_int_t)cf->last);
	else
		p = json_pack("[s, s]", flows[f].id, cl->cid);
	/* updates replayed before the reply count from here */
	cf->joined = true;
	cf->joining = !cf->rejoin;
	memset(&r, 0, sizeof(r));
	rv = hc_call(cl->c, "flow.join", p, CALL_MS, &r);
	json_decref(p);
	cf->joining = false;
	if (rv != HC_OK) {
		cf->joined = false;
		if (rv == HC_ERROR) {
			count_code(r.code);
			if (strcmp(r.code, "session_failed") == 0)
				cf->blocked_until = now_ms() + retry_ms(&r);
		} else if (running())
			violation("%s: flow.join %s: %s", cl->cid, flows[f].id,
			    rv == HC_ETIMEDOUT ? "no answer" : r.message);
		hc_result_clear(&r);
		return -1;
	}
	v = (uint64_t)json_integer_value(json_object_get(r.value, "version"));
	if (!cf->joined) {
		/* flow.closed came before the reply: join again later */
	} else if (json_is_true(json_object_get(r.value, "resync"))) {
		cl->resyncs++;
		cf->last = v;
		cf->rejoin = false;
	} else if (!cf->rejoin) {
		cf->last = v;
	} else {
		if (cf->last != v)
			violation("%s: rejoined %s since %" PRIu64 ": learnt "
			    "up to %" PRIu64 ", the join reply says version %"
			    PRIu64, cl->cid, flows[f].id, since, cf->last, v);
		cf->rejoin = false;
	}
	hc_result_clear(&r);
	return 0;
}

/* After an unknown outcome: learn this client's nodes from the flow. */
static int
client_resync(struct client *cl, int f)
{
	struct cflow		*cf = &cl->f[f];
	struct hc_result	 r;
	json_t			*p, *n;
	char			 main_id[32], tpre[40];
	const char		*nid;
	size_t			 i;
	int			 rv;

	p = json_pack("[s]", flows[f].id);
	memset(&r, 0, sizeof(r));
	rv = hc_call(cl->c, "flow.get", p, CALL_MS, &r);
	json_decref(p);
	if (rv != HC_OK) {
		if (rv == HC_ERROR)
			count_code(r.code);
		hc_result_clear(&r);
		return -1;
	}
	snprintf(main_id, sizeof(main_id), "c%d", cl->n);
	snprintf(tpre, sizeof(tpre), "c%d-x", cl->n);
	cf->main = false;
	cf->ntrans = 0;
	json_array_foreach(json_object_get(r.value, "nodes"), i, n) {
		nid = json_string_value(json_object_get(n, "id"));
		if (nid == NULL)
			continue;
		if (strcmp(nid, main_id) == 0)
			cf->main = true;
		else if (strncmp(nid, tpre, strlen(tpre)) == 0 &&
		    cf->ntrans < MAX_TRANSIENT)
			cf->trans[cf->ntrans++] = (uint32_t)strtoul(nid +
			    strlen(tpre), NULL, 10);
	}
	cf->dirty = false;
	hc_result_clear(&r);
	return 0;
}

/*
 * Random valid ops for this client on flow f, after the marker; applies
 * the change to the model in *next (taken over only when acknowledged).
 */
static json_t *
client_ops(struct client *cl, int f, struct cflow *next)
{
	json_t	*ops = json_array();
	char	 id[32], tid[40], eid[40], title[48];
	int	 k, n, i;

	*next = cl->f[f];
	snprintf(id, sizeof(id), "c%d", cl->n);
	snprintf(title, sizeof(title), "c%d:%u", cl->n, cl->seq);
	json_array_append_new(ops, json_pack("{s:s, s:s}", "op", "set_meta",
	    "title", title));
	if (!next->main) {
		json_array_append_new(ops, json_pack("{s:s, s:{s:s, s:s, s:f, "
		    "s:f}}", "op", "add_node", "node", "id", id, "type", "main",
		    "x", 0.0, "y", 0.0));
		next->main = true;
	}
	n = rand_r(&cl->rs) % 4;
	for (k = 0; k < n; k++) {
		switch (rand_r(&cl->rs) % 4) {
		case 0:
			json_array_append_new(ops, json_pack("{s:s, s:s, s:i, "
			    "s:i, s:{s:i, s:s}}", "op", "update_node", "id", id,
			    "x", rand_r(&cl->rs) % 1000, "y",
			    rand_r(&cl->rs) % 1000, "data", "seq", cl->seq,
			    "by", cl->cid));
			break;
		case 1:
			if (next->ntrans >= MAX_TRANSIENT)
				break;
			snprintf(tid, sizeof(tid), "c%d-x%u", cl->n,
			    cl->seq * 4 + k);
			snprintf(eid, sizeof(eid), "c%d-e%u", cl->n,
			    cl->seq * 4 + k);
			json_array_append_new(ops, json_pack("{s:s, s:{s:s, "
			    "s:s, s:i, s:i, s:f}}", "op", "add_node", "node",
			    "id", tid, "type", "t", "x", k, "y", k, "width",
			    10.0));
			json_array_append_new(ops, json_pack("{s:s, s:{s:s, "
			    "s:s, s:s}}", "op", "add_edge", "edge", "id", eid,
			    "source", id, "target", tid));
			next->trans[next->ntrans++] = cl->seq * 4 + k;
			break;
		case 2:
			if (next->ntrans == 0)
				break;
			i = rand_r(&cl->rs) % next->ntrans;
			snprintf(tid, sizeof(tid), "c%d-x%u", cl->n,
			    next->trans[i]);
			json_array_append_new(ops, json_pack("{s:s, s:s}", "op",
			    "remove_node", "id", tid));
			next->trans[i] = next->trans[--next->ntrans];
			break;
		default:
			json_array_append_new(ops, json_pack("{s:s, s:f, s:f, "
			    "s:f}", "op", "set_viewport", "x",
			    (double)(rand_r(&cl->rs) % 100), "y", 1.5, "zoom",
			    0.5 + rand_r(&cl->rs) % 4));
		}
	}
	return ops;
}

static void
client_latency(struct client *cl, int64_t us)
{
	if (cl->nlat == cl->latcap) {
		cl->latcap = cl->latcap ? cl->latcap * 2 : 65536;
		if ((cl->lat = realloc(cl->lat, cl->latcap *
		    sizeof(*cl->lat))) == NULL) {
			fprintf(stderr, "helix-stress: out of memory\n");
			exit(2);
		}
	}
	cl->lat[cl->nlat++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

/* One apply to flow f; false when the client must stop. */
static bool
client_apply(struct client *cl, int f)
{
	struct cflow		*cf = &cl->f[f], next;
	struct hc_result	 r;
	json_t			*p, *ops;
	uint64_t		 v, marker;
	int64_t			 t0;
	int			 rv;

	if (opt.join && (!cf->joined || cf->rejoin) && client_join(cl, f) ==
	    -1)
		return true;
	if (cf->dirty && client_resync(cl, f) == -1)
		return true;
	cl->seq++;
	marker = ((uint64_t)(cl->n + 1) << 32) | cl->seq;
	ops = client_ops(cl, f, &next);
	p = json_pack("[s, o]", flows[f].id, ops);
	memset(&r, 0, sizeof(r));
	t0 = now_us();
	rv = hc_call(cl->c, "flow.apply", p, CALL_MS, &r);
	json_decref(p);
	cl->sent++;
	if (rv == HC_OK) {
		client_latency(cl, now_us() - t0);
		v = (uint64_t)json_integer_value(json_object_get(r.value,
		    "version"));
		cl->acked++;
		flow_ack(&flows[f], v, marker);
		if (cf->joined) {
			if (v != cf->last + 1)
				violation("%s: %s apply acknowledged as version %"
				    PRIu64 " after learning %" PRIu64 " (want "
				    "each version once, in order)", cl->cid,
				    flows[f].id, v, cf->last);
			if (v > cf->last)
				cf->last = v;
			cl->learnt++;
		}
		next.joined = cf->joined;
		next.rejoin = cf->rejoin;
		next.last = cf->last;
		*cf = next;
	} else if (rv == HC_ERROR) {
		count_code(r.code);
		if (strcmp(r.code, "session_crashed") == 0 ||
		    strcmp(r.code, "timeout") == 0) {
			cl->unknown++;
			cf->dirty = true;
		} else if (strcmp(r.code, "session_failed") == 0) {
			cf->blocked_until = now_ms() + retry_ms(&r);
		} else if (strcmp(r.code, "invalid_op") == 0 ||
		    strcmp(r.code, "conflict") == 0) {
			violation("%s: %s: apply c%d:%u refused (%s: %s), but "
			    "its ops are valid against the acknowledged state",
			    cl->cid, flows[f].id, cl->n, cl->seq, r.code,
			    r.message);
			cf->dirty = true;
		} else if (strcmp(r.code, "shutting_down") == 0) {
			if (running())
				violation("%s: shutting_down while running",
				    cl->cid);
			hc_result_clear(&r);
			return false;
		}
	} else {
		if (running())
			violation("%s: flow.apply %s: %s", cl->cid, flows[f].id,
			    rv == HC_ETIMEDOUT ? "no answer within 30 s (a "
			    "hang)" : r.message);
		hc_result_clear(&r);
		return false;
	}
	hc_result_clear(&r);
	return true;
}

static void *
client_run(void *arg)
{
	struct client	*cl = arg;
	int		 f, tries;

	while (running()) {
		for (tries = 0; tries < 8; tries++) {
			f = rand_r(&cl->rs) % opt.flows;
			if (cl->f[f].blocked_until <= now_ms())
				break;
		}
		if (tries == 8) {
			nap_ms(50);	/* every flow tried is parked */
			continue;
		}
		if (!client_apply(cl, f))
			break;
	}
	return NULL;
}

static int	proc_worker_flow(pid_t, char *);

/* ---- the killer ---------------------------------------------------------- */

static struct {
	pthread_t	 th;
	struct hc_client *c;
	unsigned	 rs;
	uint64_t	 kills, by_signal, by_method, missed;
} killer;

static void *
killer_run(void *arg)
{
	static const char *const sigs[] = { "KILL", "TERM", "SEGV" };
	struct hc_result	 r;
	json_t			*p;
	const char		*st;
	int64_t			 next = now_ms() + opt.kill_ms;
	pid_t			 pid;
	int			 f, rv;

	while (running()) {
		if (now_ms() < next) {
			nap_ms(5);
			continue;
		}
		next += opt.kill_ms;
		if (next < now_ms())
			next = now_ms() + opt.kill_ms;
		f = rand_r(&killer.rs) % opt.flows;
		p = json_pack("[s]", flows[f].id);
		memset(&r, 0, sizeof(r));
		rv = hc_call(killer.c, "session.inspect", p, CALL_MS, &r);
		json_decref(p);
		st = json_string_value(json_object_get(r.value, "state"));
		pid = (pid_t)json_integer_value(json_object_get(r.value, "pid"));
		if (rv == HC_ECONN) {
			violation("killer: connection lost (%s)", r.message);
			hc_result_clear(&r);
			break;
		}
		if (rv != HC_OK || pid <= 0 || st == NULL ||
		    strcmp(st, "running") != 0) {
			killer.missed++;
			hc_result_clear(&r);
			continue;
		}
		hc_result_clear(&r);
		if (rand_r(&killer.rs) % 2 == 0) {
			/*
			 * A real signal from outside, to a pid that is still
			 * a worker of this flow (not a recycled pid).
			 */
			if (proc_worker_flow(pid, NULL) == f &&
			    kill(pid, SIGKILL) == 0) {
				killer.kills++;
				killer.by_signal++;
			} else
				killer.missed++;
			continue;
		}
		p = json_pack("[s, s]", flows[f].id,
		    sigs[rand_r(&killer.rs) % 3]);
		memset(&r, 0, sizeof(r));
		rv = hc_call(killer.c, "session.kill", p, CALL_MS, &r);
		json_decref(p);
		if (rv == HC_OK) {
			killer.kills++;
			killer.by_method++;
		} else
			killer.missed++;
		hc_result_clear(&r);
	}
	return NULL;
}

/* ---- the /proc watcher: never two workers for one flow ---------------------- */

/* The --flow argument of pid when it is a worker of ours, else -1. */
static int
proc_worker_flow(pid_t pid, char *state_out)
{
	char	 path[64], buf[8192], *rp;
	ssize_t	 n;
	size_t	 off;
	int	 fd, pp, f = -1;
	char	 st;
	const char *prev = NULL;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	if ((rp = strrchr(buf, ')')) == NULL ||
	    sscanf(rp + 1, " %c %d", &st, &pp) != 2)
		return -1;
	if (st == 'Z' || st == 'X' || st == 'x' || pp != helixd_pid)
		return -1;
	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	for (off = 0; off < (size_t)n; off += strlen(buf + off) + 1) {
		if (prev != NULL && strcmp(prev, "--flow") == 0)
			f = flow_index(buf + off);
		prev = buf + off;
	}
	if (state_out != NULL)
		*state_out = st;
	return f;
}

static struct {
	pthread_t	 th;
	uint64_t	 scans, max_seen;
} watcher;

static void *
watcher_run(void *arg)
{
	pid_t		*seen = calloc((size_t)opt.flows * 4, sizeof(pid_t));
	int		*cnt = calloc((size_t)opt.flows, sizeof(int));
	DIR		*d;
	struct dirent	*de;
	char		*end;
	pid_t		 pid;
	int		 f, i, alive;

	if (seen == NULL || cnt == NULL)
		return NULL;
	while (running()) {
		memset(cnt, 0, (size_t)opt.flows * sizeof(int));
		if ((d = opendir("/proc")) == NULL)
			break;
		while ((de = readdir(d)) != NULL) {
			pid = (pid_t)strtol(de->d_name, &end, 10);
			if (*end != '\0' || pid <= 0)
				continue;
			if ((f = proc_worker_flow(pid, NULL)) < 0)
				continue;
			if (cnt[f] < 4)
				seen[f * 4 + cnt[f]] = pid;
			cnt[f]++;
		}
		closedir(d);
		for (f = 0; f < opt.flows; f++) {
			if (cnt[f] < 2)
				continue;
			/*
			 * A second look: a worker that died while the scan
			 * went on is not a second worker; two that are both
			 * alive now were alive together.
			 */
			alive = 0;
			for (i = 0; i < cnt[f] && i < 4; i++)
				if (proc_worker_flow(seen[f * 4 + i], NULL) == f)
					alive++;
			if (alive >= 2)
				violation("%s has %d live helix-worker "
				    "processes (pids %d %d)", flows[f].id, alive,
				    (int)seen[f * 4], (int)seen[f * 4 + 1]);
			if ((uint64_t)alive > watcher.max_seen)
				watcher.max_seen = (uint64_t)alive;
		}
		watcher.scans++;
		nap_ms(10);
	}
	free(seen);
	free(cnt);
	return NULL;
}

/* ---- the verifier ----------------------------------------------------------- */

static struct {
	pthread_t	 th;
	struct hc_client *c;
} verifier;

static void *
verifier_run(void *arg)
{
	int f;

	while (running()) {
		for (f = 0; f < opt.flows && running(); f++)
			flow_fetch(verifier.c, &flows[f]);
		nap_ms(200);
	}
	return NULL;
}

/* ---- helixd (--spawn) --------------------------------------------------------- */

static bool
sock_accepts(const char *path)
{
	struct sockaddr_un	sun;
	int			fd, rc;

	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun.sun_path))
		return false;
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return false;
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	return rc == 0;
}

static pid_t	 spawned;
static int	 spawned_status = -1;

static bool
spawned_exited(void)
{
	int st;

	if (spawned == 0 || spawned_status != -1)
		return spawned_status != -1;
	if (waitpid(spawned, &st, WNOHANG) == spawned) {
		spawned_status = st;
		return true;
	}
	return false;
}

static int
spawn_helixd(void)
{
	const char	*argv[64];
	char		 log[192];
	int		 n = 0, i, fd;
	int64_t		 dl;
	pid_t		 parent = getpid();

	snprintf(tmpdir, sizeof(tmpdir), "%s/helix-stress.XXXXXX", "/tmp");
	if (mkdtemp(tmpdir) == NULL) {
		fprintf(stderr, "helix-stress: mkdtemp: %s\n", strerror(errno));
		return -1;
	}
	snprintf(sockpath, sizeof(sockpath), "%s/s.sock", tmpdir);
	snprintf(statedir, sizeof(statedir), "%s/state", tmpdir);
	snprintf(log, sizeof(log), "%s/helixd.log", tmpdir);
	argv[n++] = opt.spawn;
	argv[n++] = "--config";
	argv[n++] = "";
	argv[n++] = "--socket";
	argv[n++] = sockpath;
	argv[n++] = "--state-dir";
	argv[n++] = statedir;
	/* kills are the point: never park a flow, never throttle */
	argv[n++] = "--max-restarts";
	argv[n++] = "255";
	argv[n++] = "--max-seconds";
	argv[n++] = "1";
	argv[n++] = "--max-restarts-total";
	argv[n++] = "0";
	argv[n++] = "--history-length";
	argv[n++] = "100000";
	if (opt.worker != NULL) {
		argv[n++] = "--worker";
		argv[n++] = opt.worker;
	}
	for (i = 0; i < opt.ndargs; i++)
		argv[n++] = opt.dargs[i];
	argv[n] = NULL;
	if ((spawned = fork()) == -1)
		return -1;
	if (spawned == 0) {
		setpgid(0, 0);
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		if (getppid() != parent)
			_exit(127);
		if ((fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
		    0600)) != -1) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		execv(opt.spawn, (char *const *)argv);
		_exit(127);
	}
	dl = now_ms() + 20000;
	while (!sock_accepts(sockpath)) {
		if (spawned_exited() || now_ms() > dl) {
			fprintf(stderr, "helix-stress: %s did not start (see "
			    "%s)\n", opt.spawn, log);
			return -1;
		}
		nap_ms(10);
	}
	opt.socket = sockpath;
	if (opt.verbose)
		fprintf(stderr, "helix-stress: helixd %d on %s, log %s\n",
		    (int)spawned, sockpath, log);
	return 0;
}

/* Workers of the spawned daemon still alive (by --state-dir). */
static int
spawned_workers(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[64], buf[8192], *end;
	const char	*prev;
	ssize_t		 n;
	size_t		 off;
	int		 fd, count = 0;
	pid_t		 pid;

	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		pid = (pid_t)strtol(de->d_name, &end, 10);
		if (*end != '\0' || pid <= 0 || pid == spawned)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = '\0';
		prev = NULL;
		for (off = 0; off < (size_t)n; off += strlen(buf + off) + 1) {
			if (prev != NULL && strcmp(prev, "--state-dir") == 0 &&
			    strcmp(buf + off, statedir) == 0)
				count++;
			prev = buf + off;
		}
	}
	closedir(d);
	return count;
}

static void
stop_helixd(void)
{
	int64_t	dl;
	int	left = 0;

	if (spawned == 0)
		return;
	if (spawned_exited())
		violation("helixd exited during the run (%s %d)",
		    WIFSIGNALED(spawned_status) ? "signal" : "status",
		    WIFSIGNALED(spawned_status) ? WTERMSIG(spawned_status) :
		    WEXITSTATUS(spawned_status));
	else {
		kill(spawned, SIGTERM);
		dl = now_ms() + 30000;
		while (!spawned_exited() && now_ms() < dl)
			nap_ms(10);
		if (!spawned_exited()) {
			violation("helixd still runs 30 s after SIGTERM");
			kill(spawned, SIGKILL);
			waitpid(spawned, NULL, 0);
		} else if (!WIFEXITED(spawned_status) ||
		    WEXITSTATUS(spawned_status) != 0)
			violation("helixd after SIGTERM: %s %d, want exit "
			    "status 0", WIFSIGNALED(spawned_status) ? "signal" :
			    "status", WIFSIGNALED(spawned_status) ?
			    WTERMSIG(spawned_status) :
			    WEXITSTATUS(spawned_status));
	}
	dl = now_ms() + 10000;
	while ((left = spawned_workers()) > 0 && now_ms() < dl)
		nap_ms(10);
	if (left > 0)
		violation("%d helix-worker processes left after helixd exited",
		    left);
}

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

/* ---- the end: final checks and the summary -------------------------------- */

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Every flow answers again; then the last of its history is read. */
static void
final_checks(struct hc_client *c, uint64_t *unverified, uint64_t *verified)
{
	struct hc_result	 r;
	struct flow		*fl;
	json_t			*p;
	uint64_t		 v, final;
	int64_t			 dl;
	int			 f, rv;


	for (f = 0; f < opt.flows; f++) {
		fl = &flows[f];
		/* a parked flow comes back after its cool-down */
		dl = now_ms() + 90000;
		for (;;) {
			p = json_pack("[s]", fl->id);
			memset(&r, 0, sizeof(r));
			rv = hc_call(c, "flow.get", p, CALL_MS, &r);
			json_decref(p);
			if (rv != HC_ERROR || now_ms() > dl)
				break;
			nap_ms(strcmp(r.code, "session_failed") == 0 ? 500 : 20);
			hc_result_clear(&r);
		}
		if (rv != HC_OK) {
			violation("%s: flow.get after the run: %s %s", fl->id,
			    r.code, r.message);
			hc_result_clear(&r);
			continue;
		}
		final = (uint64_t)json_integer_value(json_object_get(r.value,
		    "version"));
		hc_result_clear(&r);
		flow_fetch(c, fl);
		pthread_mutex_lock(&fl->lock);
		if (fl->fetched != final)
			violation("%s: flow.get says version %" PRIu64 ", "
			    "flow.history ends at %" PRIu64, fl->id, final,
			    fl->fetched);
		if (fl->max_acked > final)
			violation("%s: version %" PRIu64 " was acknowledged, the "
			    "flow is at %" PRIu64 " (lost)", fl->id,
			    fl->max_acked, final);
		for (v = 1; v <= fl->max_acked && v < fl->cap; v++) {
			if (fl->acked[v] == 0)
				continue;
			if (fl->hist[v] == 0)
				(*unverified)++;
			else if (fl->hist[v] == fl->acked[v])
				(*verified)++;
			/* a mismatch was reported when both were known */
		}
		pthread_mutex_unlock(&fl->lock);
	}
}

static json_int_t
stat_int(const json_t *st, const char *key)
{
	return json_integer_value(json_object_get(st, key));
}

static json_t *
sys_stats(struct hc_client *c)
{
	struct hc_result	r;
	json_t			*v;

	memset(&r, 0, sizeof(r));
	if (hc_call(c, "sys.stats", NULL, CALL_MS, &r) != HC_OK) {
		hc_result_clear(&r);
		return json_object();
	}
	v = r.value;
	r.value = NULL;
	hc_result_clear(&r);
	return v;
}

static void
usage(void)
{
	fprintf(stderr, "usage: helix-stress -s SOCKET [-c CLIENTS] [-f FLOWS] "
	    "[-d SECONDS] [-k KILL_MS]\n"
	    "                    [--seed N] [--no-join] [-v]\n"
	    "       helix-stress --spawn HELIXD [--worker PATH] "
	    "[--daemon-arg ARG]... [--keep] [...]\n"
	    "  -c  client connections (default 8)   -f  flows (default 4)\n"
	    "  -d  duration in seconds (default 60) -k  kill a worker every "
	    "KILL_MS (default 500; 0: never)\n");
	exit(2);
}

static int
posint(const char *s, int min, int max)
{
	char	*end;
	long	 v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < min || v > max)
		usage();
	return (int)v;
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "clients", required_argument, NULL, 'c' },
		{ "flows", required_argument, NULL, 'f' },
		{ "duration", required_argument, NULL, 'd' },
		{ "kill-ms", required_argument, NULL, 'k' },
		{ "seed", required_argument, NULL, 'S' },
		{ "spawn", required_argument, NULL, 'P' },
		{ "worker", required_argument, NULL, 'W' },
		{ "daemon-arg", required_argument, NULL, 'A' },
		{ "no-join", no_argument, NULL, 'J' },
		{ "keep", no_argument, NULL, 'K' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct hc_client	*c;
	struct ucred		 cred;
	socklen_t		 clen = sizeof(cred);
	json_t			*st0, *st1;
	char			 err[256];
	uint32_t		*lat;
	uint64_t		 sent = 0, acked = 0, unknown = 0, learnt = 0,
				 resyncs = 0, unverified = 0, verified = 0;
	size_t			 nlat = 0, i, k;
	bool			 seeded = false;
	int			 ch, n, f, nv;

	while ((ch = getopt_long(argc, argv, "s:c:f:d:k:vh", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 's': opt.socket = optarg; break;
		case 'c': opt.clients = posint(optarg, 1, MAX_CLIENTS); break;
		case 'f': opt.flows = posint(optarg, 1, MAX_FLOWS); break;
		case 'd': opt.seconds = posint(optarg, 1, 7 * 86400); break;
		case 'k': opt.kill_ms = posint(optarg, 0, 3600000); break;
		case 'S':
			opt.seed = (unsigned)strtoul(optarg, NULL, 0);
			seeded = true;
			break;
		case 'P': opt.spawn = optarg; break;
		case 'W': opt.worker = optarg; break;
		case 'A':
			if (opt.ndargs == (int)(sizeof(opt.dargs) /
			    sizeof(opt.dargs[0])) - 1)
				usage();
			opt.dargs[opt.ndargs++] = optarg;
			break;
		case 'J': opt.join = false; break;
		case 'K': opt.keep = true; break;
		case 'v': opt.verbose = true; break;
		default: usage();
		}
	}
	if (optind != argc || (opt.socket == NULL) == (opt.spawn == NULL))
		usage();
	if (!seeded)
		opt.seed = (unsigned)(time(NULL) ^ getpid());
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("helix-stress: seed %u (--seed %u repeats the schedule), %d "
	    "clients, %d flows, %d s, kill every %d ms\n", opt.seed, opt.seed,
	    opt.clients, opt.flows, opt.seconds, opt.kill_ms);
	if (opt.spawn != NULL && spawn_helixd() == -1)
		return 2;
	snprintf(prefix, sizeof(prefix), "stress-%08x-%d", opt.seed,
	    (int)getpid());

	if ((c = hc_connect(opt.socket, err, sizeof(err))) == NULL) {
		fprintf(stderr, "helix-stress: %s\n", err);
		return 2;
	}
	if (getsockopt(hc_fd(c), SOL_SOCKET, SO_PEERCRED, &cred, &clen) == -1) {
		fprintf(stderr, "helix-stress: SO_PEERCRED: %s\n",
		    strerror(errno));
		return 2;
	}
	helixd_pid = cred.pid;
	st0 = sys_stats(c);

	flows = calloc((size_t)opt.flows, sizeof(*flows));
	clients = calloc((size_t)opt.clients, sizeof(*clients));
	if (flows == NULL || clients == NULL)
		return 2;
	for (f = 0; f < opt.flows; f++) {
		snprintf(flows[f].id, sizeof(flows[f].id), "%s-%d", prefix, f);
		pthread_mutex_init(&flows[f].lock, NULL);
	}
	t_start = now_ms();
	t_end = t_start + (int64_t)opt.seconds * 1000;
	for (n = 0; n < opt.clients; n++) {
		struct client *cl = &clients[n];

		cl->n = n;
		snprintf(cl->cid, sizeof(cl->cid), "c%d", n);
		cl->rs = opt.seed * 7919u + (unsigned)n;
		cl->f = calloc((size_t)opt.flows, sizeof(*cl->f));
		if (cl->f == NULL ||
		    (cl->c = hc_connect(opt.socket, err, sizeof(err))) == NULL) {
			fprintf(stderr, "helix-stress: client %d: %s\n", n, err);
			return 2;
		}
		hc_set_notify(cl->c, client_notify, cl);
	}
	killer.rs = opt.seed;
	if ((killer.c = hc_connect(opt.socket, err, sizeof(err))) == NULL ||
	    (verifier.c = hc_connect(opt.socket, err, sizeof(err))) == NULL) {
		fprintf(stderr, "helix-stress: %s\n", err);
		return 2;
	}
	for (n = 0; n < opt.clients; n++)
		pthread_create(&clients[n].th, NULL, client_run, &clients[n]);
	if (opt.kill_ms > 0)
		pthread_create(&killer.th, NULL, killer_run, NULL);
	pthread_create(&watcher.th, NULL, watcher_run, NULL);
	pthread_create(&verifier.th, NULL, verifier_run, NULL);

	while (now_ms() < t_end) {
		nap_ms(100);
		if (spawned != 0 && spawned_exited())
			break;
		if (opt.verbose && (now_ms() - t_start) % 10000 < 100) {
			uint64_t a = 0;

			for (n = 0; n < opt.clients; n++)
				a += clients[n].acked;
			fprintf(stderr, "helix-stress: %3" PRId64 " s: %" PRIu64
			    " applies acknowledged, %" PRIu64 " kills, %d "
			    "violations\n", (now_ms() - t_start) / 1000, a,
			    killer.kills, atomic_load(&nviolations));
		}
	}
	atomic_store(&stopping, true);
	for (n = 0; n < opt.clients; n++)
		pthread_join(clients[n].th, NULL);
	if (opt.kill_ms > 0)
		pthread_join(killer.th, NULL);
	pthread_join(watcher.th, NULL);
	pthread_join(verifier.th, NULL);

	if (spawned == 0 || !spawned_exited()) {
		final_checks(c, &unverified, &verified);
		st1 = sys_stats(c);
	} else
		st1 = json_object();
	stop_helixd();

	/* ---- summary ---- */
	for (n = 0; n < opt.clients; n++) {
		sent += clients[n].sent;
		acked += clients[n].acked;
		unknown += clients[n].unknown;
		learnt += clients[n].learnt;
		resyncs += clients[n].resyncs;
		nlat += clients[n].nlat;
	}
	lat = malloc((nlat ? nlat : 1) * sizeof(*lat));
	for (n = 0, k = 0; n < opt.clients && lat != NULL; n++)
		for (i = 0; i < clients[n].nlat; i++)
			lat[k++] = clients[n].lat[i];
	if (lat != NULL && nlat > 0)
		qsort(lat, nlat, sizeof(*lat), cmp_u32);
	printf("duration          %.1f s\n", (now_ms() - t_start) / 1000.0);
	printf("applies           %" PRIu64 " sent, %" PRIu64 " acknowledged "
	    "(%.0f/s), %" PRIu64 " outcome unknown (session_crashed/timeout)\n",
	    sent, acked, acked / (double)opt.seconds, unknown);
	printf("apply latency     p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
	    nlat ? lat[nlat / 2] / 1000.0 : 0.0,
	    nlat ? lat[(nlat * 99) / 100] / 1000.0 : 0.0,
	    nlat ? lat[nlat - 1] / 1000.0 : 0.0);
	printf("errors by code   ");
	for (i = 0; i < MAX_CODES && codes[i].code[0]; i++)
		printf(" %s %" PRIu64, codes[i].code, codes[i].n);
	printf("%s\n", codes[0].code[0] ? "" : " none");
	printf("kills             %" PRIu64 " (%" PRIu64 " SIGKILL from here, "
	    "%" PRIu64 " session.kill), %" PRIu64 " skipped (no running "
	    "worker)\n", killer.kills, killer.by_signal, killer.by_method,
	    killer.missed);
	printf("helixd            restarts %lld, crashes %lld, sessions "
	    "started %lld (during the run)\n",
	    (long long)(stat_int(st1, "session_restarts_total") -
	    stat_int(st0, "session_restarts_total")),
	    (long long)(stat_int(st1, "session_crashes_total") -
	    stat_int(st0, "session_crashes_total")),
	    (long long)(stat_int(st1, "sessions_started_total") -
	    stat_int(st0, "sessions_started_total")));
	printf("joined clients    %" PRIu64 " versions learnt, %" PRIu64
	    " resyncs%s\n", learnt, resyncs, opt.join ? "" : " (--no-join)");
	printf("verification      %" PRIu64 " acknowledged versions found in "
	    "flow.history, %" PRIu64 " no longer retained (unverifiable)\n",
	    verified, unverified);
	printf("/proc watcher     %" PRIu64 " scans, at most %" PRIu64
	    " workers seen for one flow\n", watcher.scans,
	    watcher.max_seen ? watcher.max_seen : 1);
	nv = atomic_load(&nviolations);
	printf("violations        %d\n", nv);
	for (i = 0; i < (size_t)nv && i < MAX_VIOLATIONS; i++)
		printf("  %s\n", violations[i]);
	if (nv > MAX_VIOLATIONS)
		printf("  ... and %d more\n", nv - MAX_VIOLATIONS);
	if (tmpdir[0] != '\0') {
		if (nv > 0 || opt.keep)
			printf("helixd directory  %s (log: helixd.log)\n",
			    tmpdir);
		else
			nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	free(lat);
	json_decref(st0);
	json_decref(st1);
	for (n = 0; n < opt.clients; n++) {
		hc_close(clients[n].c);
		free(clients[n].f);
		free(clients[n].lat);
	}
	for (f = 0; f < opt.flows; f++) {
		free(flows[f].acked);
		free(flows[f].hist);
		pthread_mutex_destroy(&flows[f].lock);
	}
	free(clients);
	free(flows);
	hc_close(killer.c);
	hc_close(verifier.c);
	hc_close(c);
	return nv > 0 ? 1 : 0;
}
