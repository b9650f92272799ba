/*
 * faults_daemon.c: fault tests on helixd as a whole (part of the faults
 * suite; see test_faults.c): helixd SIGKILLed under load, fifty clients
 * on one flow, a seeded random schedule of applies and kills, the
 * daemon-wide restart limit (throttle and exit), graceful shutdown under
 * load.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "tests/integration/faults.h"

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
	int			 n, a, acked = 0, done;
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

void
faults_daemon_tcases(Suite *s)
{
	TCase	*tc;

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
}
