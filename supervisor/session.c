/*
 * session.c: one struct per flow, one state enum, one transition function.
 *
 * A session owns at most one worker incarnation at a time (gen counts
 * them).  Requests for the flow are parked as calls in session->calls in
 * request order: QUEUED until the worker is ready, SENT once written to it.
 * The worker answers strictly in order, so an answer always belongs to the
 * first SENT call; anything else is a protocol violation and the worker is
 * killed.  Every call has a deadline.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "supervisor/helixd.h"

static void	session_worker_read(struct bufferevent *, void *);
static void	session_worker_event(struct bufferevent *, short, void *);
static void	session_send_queued(struct session *);
static void	session_flush(struct session *);
static void	session_kill_worker(struct session *, const char *why);
static void	session_restart_timer(evutil_socket_t, short, void *);
static void	session_close_channel(struct session *);
static int	session_internal(struct session *, const char *method,
		    call_done_fn, const msgpack_object *arg);

static const char *state_names[] = {
	[S_NONE] = "hibernated",	/* nothing live: state is on disk */
	[S_STARTING] = "starting",
	[S_RUNNING] = "running",
	[S_RESTARTING] = "restarting",
	[S_FAILED] = "failed",
	[S_STOPPING] = "stopping",
	[S_HIBERNATED] = "hibernated",
};

const char *
session_state_name(enum session_state st)
{
	return state_names[st];
}

bool
session_live(const struct session *s)
{
	return s->pid != 0;
}

/* Every change of state goes through here: log and telemetry. */
static void
session_transition(struct session *s, enum session_state to, const char *why)
{
	enum session_state from = s->state;

	if (from == to)
		return;
	s->state = to;
	s->state_since_us = now_us();
	log_event(HLOG_DEBUG, s->id, "session.state", " from=%s to=%s reason=%s",
	    state_names[from], state_names[to], log_q(why ? why : "-"));
	/* reason carries the new state; the log line has the why. */
	telemetry_send("session.changed", s->id, s->pid, state_names[to], NULL,
	    0, -1);
}

/* ---- calls ------------------------------------------------------------ */

struct call *
call_new(struct client *c, const struct rpc_method *m, uint32_t msgid,
    bool want_reply)
{
	struct call *k;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return NULL;
	k->c = c;
	k->m = m;
	k->msgid = msgid;
	k->want_reply = want_reply;
	k->started_us = now_us();
	if (c != NULL)
		LIST_INSERT_HEAD(&c->calls, k, by_client);
	return k;
}

void
call_free(struct call *k)
{
	if (k->c != NULL)
		LIST_REMOVE(k, by_client);
	if (k->ev_deadline != NULL)
		event_free(k->ev_deadline);
	if (k->out != NULL)
		evbuffer_free(k->out);
	free(k);
}

/* Written to the worker, which still owes the answer. */
static bool
call_sent(const struct call *k)
{
	return k->state == CALL_SENT || k->state == CALL_ABANDONED;
}

static void
session_unlink_call(struct session *s, struct call *k)
{
	TAILQ_REMOVE(&s->calls, k, entry);
	s->ncalls--;
}

/* Reply to the client of k with an error now; k stays where it is. */
static void
call_fail(struct call *k, const struct proto_error *e)
{
	if (k->c != NULL && k->want_reply)
		client_reply_error(k->c, k->msgid, e);
	else
		srv->st.errors_total++;
	if (k->m != NULL)
		rpc_stats_record(k->m, now_us() - k->started_us);
}

/* {"version": v} for an apply that is known to be committed; frees k. */
static void
call_reply_version(struct call *k, uint64_t v)
{
	msgpack_sbuffer	sb;
	msgpack_packer	pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	proto_pack_result_begin(&pk, k->msgid);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "version");
	msgpack_pack_uint64(&pk, v);
	rpc_finish(k, &sb);
	msgpack_sbuffer_destroy(&sb);
}

static void
call_deadline(evutil_socket_t fd, short ev, void *arg)
{
	struct call		*k = arg;
	struct session		*s = k->s;
	struct proto_error	 e;

	proto_error_set(&e, PC_TIMEOUT, "flow %s did not answer within %u ms",
	    s->id, srv->cfg.call_timeout_ms);
	if (k->committed != 0) {
		/* Its update was fanned out already: the reply is the version. */
		session_unlink_call(s, k);
		call_reply_version(k, k->committed);
		session_flush(s);
		registry_gc(s);
		return;
	}
	if (k->on_timeout != NULL)	/* the method can still answer */
		k->on_timeout(k);
	else
		call_fail(k, &e);
	if (call_sent(k)) {
		/* The worker will still answer: keep the slot, drop the reply. */
		k->state = CALL_ABANDONED;
		if (k->c != NULL) {
			LIST_REMOVE(k, by_client);
			k->c = NULL;
		}
	} else {
		session_unlink_call(s, k);
		call_free(k);
	}
	session_flush(s);
	registry_gc(s);
}

/*
 * Start the worker request of k: [0, seq, method, [params...]].  The
 * caller packs nparams params and then calls session_submit.
 */
msgpack_packer *
session_call_packer(struct call *k, const char *method, uint32_t nparams,
    msgpack_sbuffer *sb)
{
	static msgpack_packer pk;

	k->seq = ++k->s->next_seq;
	if (k->seq == 0)
		k->seq = ++k->s->next_seq;
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	proto_pack_request_begin(&pk, k->seq, method, nparams);
	return &pk;
}

/*
 * Park k (whose request is in sb) on s; start the worker if needed.
 * Takes sb's contents.  -1 with e when the call cannot be taken.
 */
int
session_submit(struct session *s, struct call *k, msgpack_sbuffer *sb,
    struct proto_error *e)
{
	struct timeval tv;

	if (s->ncalls >= srv->cfg.max_queue) {
		msgpack_sbuffer_destroy(sb);
		return proto_error_set(e, PC_OVERLOADED,
		    "flow %s has %u requests queued (max_queue)", s->id,
		    s->ncalls);
	}
	if (!session_live(s) && s->state != S_RESTARTING) {
		if (session_start(s, e) == -1) {
			msgpack_sbuffer_destroy(sb);
			return -1;
		}
	}
	if ((k->out = evbuffer_new()) == NULL) {
		msgpack_sbuffer_destroy(sb);
		return proto_error_set(e, PC_OVERLOADED, "out of memory");
	}
	evbuffer_add(k->out, sb->data, sb->size);
	msgpack_sbuffer_destroy(sb);
	k->s = s;
	k->state = CALL_QUEUED;
	TAILQ_INSERT_TAIL(&s->calls, k, entry);
	s->ncalls++;
	/* Monitoring (status, inspect) does not keep a session awake. */
	if (k->m != NULL && (k->m->flags & RPC_STARTS))
		s->last_activity = now_s();
	if (k->c != NULL) {
		k->ev_deadline = evtimer_new(srv->base, call_deadline, k);
		tv.tv_sec = srv->cfg.call_timeout_ms / 1000;
		tv.tv_usec = (srv->cfg.call_timeout_ms % 1000) * 1000;
		evtimer_add(k->ev_deadline, &tv);
	}
	if (s->state == S_RUNNING)
		session_send_queued(s);
	return 0;
}

/* A reply the master produced itself, held behind the calls before it. */
void
session_local_reply(struct session *s, struct call *k, msgpack_sbuffer *sb)
{
	k->s = s;
	k->state = CALL_LOCAL;
	if ((k->out = evbuffer_new()) != NULL)
		evbuffer_add(k->out, sb->data, sb->size);
	TAILQ_INSERT_TAIL(&s->calls, k, entry);
	s->ncalls++;
	session_flush(s);
}

/*
 * Send held local replies that no longer wait for anything.  Order is
 * owed per connection: a held reply waits only for earlier calls of the
 * same connection, never for another's or for the master's own (ping,
 * resync, stop).  One pass, marking connections that still wait.
 */
static uint64_t flush_gen;

static void
session_flush(struct session *s)
{
	struct call	*k, *tk;
	uint64_t	 gen = ++flush_gen;

	TAILQ_FOREACH_SAFE(k, &s->calls, entry, tk) {
		if (k->state == CALL_ABANDONED || k->c == NULL)
			continue;
		if (k->state != CALL_LOCAL) {
			k->c->flush_gen = gen;	/* later replies wait for it */
			continue;
		}
		if (k->c->flush_gen == gen)
			continue;
		session_unlink_call(s, k);
		if (k->want_reply && k->out != NULL)
			client_send(k->c, k->out);
		rpc_stats_record(k->m, now_us() - k->started_us);
		call_free(k);
	}
}

/* True when a reply for c on s must wait behind an earlier call of c. */
bool
session_must_hold(struct session *s, struct client *c)
{
	struct call *k;

	if (c == NULL)
		return false;
	TAILQ_FOREACH(k, &s->calls, entry) {
		if (k->c == c && k->state != CALL_ABANDONED)
			return true;
	}
	return false;
}

/* After a failed w.delete the worker lives on: send what waited. */
void
session_resume(struct session *s)
{
	s->last_sent = false;
	session_send_queued(s);
}

static void
session_send_queued(struct session *s)
{
	struct call *k;

	/*
	 * Nothing goes after a call the worker exits on (w.stop, w.delete):
	 * what is queued behind it waits for the next incarnation.
	 */
	if (s->bev == NULL || s->last_sent)
		return;
	TAILQ_FOREACH(k, &s->calls, entry) {
		if (k->state != CALL_QUEUED)
			continue;
		bufferevent_write_buffer(s->bev, k->out);
		k->state = CALL_SENT;
		k->sent_us = now_us();
		if (k->last) {
			s->last_sent = true;
			break;
		}
	}
}

/* ---- the worker channel --------------------------------------------- */

int
session_failed_error(struct session *s, struct proto_error *e)
{
	double left = s->failed_until - now_s();

	proto_error_set(e, PC_SESSION_FAILED,
	    "flow %s exceeded its restart intensity (more than %u restarts "
	    "in %u s)", s->id, srv->cfg.max_restarts, srv->cfg.max_seconds);
	proto_error_extra(e, "retry_after", left > 0 ? (int64_t)left + 1 : 1);
	return -1;
}

int
session_start(struct session *s, struct proto_error *e)
{
	struct session	*victim;
	int		 fd;
	pid_t		 pid;

	if (srv->shutting_down)
		return proto_error_set(e, PC_SHUTTING_DOWN, "helixd is stopping");
	if (s->state == S_FAILED) {
		if (now_s() < s->failed_until)
			return session_failed_error(s, e);
		/* The cool-down is over: a fresh intensity window. */
		s->rs.n = 0;
		s->rs.next_ms = 0;
	}
	if (srv->nlive >= srv->cfg.max_sessions) {
		if ((victim = registry_lru_idle()) == NULL)
			return proto_error_set(e, PC_MAX_SESSIONS_REACHED,
			    "%u sessions live (max_sessions) and none idle",
			    srv->nlive);
		/* Its worker exits in the background; the count drops at reap. */
		session_stop(victim, NULL);
	}
	if ((pid = spawn_worker(s, &fd, e)) == -1)
		return -1;
	/* A worker's message is a document or an update carrying a request. */
	s->rd = proto_reader_create((srv->cfg.max_flow_bytes >
	    srv->cfg.max_message_bytes ? srv->cfg.max_flow_bytes :
	    srv->cfg.max_message_bytes) + (1 << 20), PROTO_MAX_DEPTH);
	s->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (s->rd == NULL || s->bev == NULL) {
		/* spawn succeeded: let the reaper see it as a failed start */
		kill(pid, SIGKILL);
		if (s->bev == NULL)
			close(fd);
		s->pid = pid;
		srv->nlive++;
		session_close_channel(s);
		return proto_error_set(e, PC_OVERLOADED, "out of memory");
	}
	bufferevent_setcb(s->bev, session_worker_read, NULL,
	    session_worker_event, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
	s->pid = pid;
	s->fd = fd;
	s->gen++;
	s->served = 0;
	s->stop_wanted = false;
	s->violation = false;
	s->ping_seq = 0;
	s->last_sent = false;
	s->no_restore = false;
	s->last_heard_us = now_us();
	s->started_at = now_s();
	s->last_activity = s->started_at;
	srv->nlive++;
	srv->st.sessions_started_total++;
	session_transition(s, S_STARTING, "start");
	telemetry_send("session.start", s->id, pid, NULL, NULL, 0, -1);
	return 0;
}

static void
session_close_channel(struct session *s)
{
	if (s->bev != NULL) {
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	if (s->rd != NULL) {
		proto_reader_destroy(s->rd);
		s->rd = NULL;
	}
	s->fd = -1;
}

/* The worker will exit by itself (after w.delete): not a crash. */
void
session_expect_exit(struct session *s, const char *why)
{
	s->stop_wanted = true;
	session_transition(s, S_STOPPING, why);
}

/* A misbehaving worker is killed; the reaper counts it as a crash. */
static void
session_kill_worker(struct session *s, const char *why)
{
	if (!session_live(s))
		return;
	log_event(HLOG_WARN, s->id, "session.kill", " pid=%d reason=%s",
	    (int)s->pid, log_q(why));
	s->violation = true;
	s->kill_reason = why;
	kill(s->pid, SIGKILL);
	session_close_channel(s);
}

/* The first SENT (or abandoned) call: the one the worker answers next. */
static struct call *
session_head_sent(struct session *s)
{
	struct call *k;

	TAILQ_FOREACH(k, &s->calls, entry) {
		if (call_sent(k))
			return k;
		if (k->state == CALL_QUEUED)
			return NULL;
	}
	return NULL;
}

/*
 * Fan an update out to every joined connection but the origin's; the
 * origin call, when there is one, learns its version from the reply, or
 * from its committed mark if the worker dies before replying.
 */
static void
session_fanout(struct session *s, const msgpack_object *update,
    struct call *oc)
{
	struct client	*origin = oc != NULL ? oc->c : NULL;
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	struct member	*m;
	uint64_t	 v;

	if (proto_get_uint(proto_map_get(update, "version"), &v) == -1)
		return;
	if (v <= s->fanned)
		return;		/* already delivered (resync after restart) */
	s->fanned = v;
	if (v > s->version)
		s->version = v;
	if (oc != NULL)
		oc->committed = v;
	/* Encoded once, written to every joined connection but the origin. */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	proto_pack_notify_begin(&pk, "flow.update", 2);
	proto_pack_str(&pk, s->id);
	msgpack_pack_object(&pk, *update);
	LIST_FOREACH(m, &s->members, in_session) {
		if (m->c != origin)
			client_send_buf(m->c, sb.data, sb.size);
	}
	msgpack_sbuffer_destroy(&sb);
}

static int
session_hello(struct session *s, const struct proto_msg *msg)
{
	const msgpack_object	*h = proto_param(msg->params, 0);
	const char		*str;
	size_t			 len;
	uint64_t		 proto, version;
	int64_t			 pid;

	if ((s->state != S_STARTING && s->state != S_STOPPING) || h == NULL ||
	    proto_get_uint(proto_map_get(h, "protocol"), &proto) == -1 ||
	    proto != PROTO_VERSION ||
	    proto_get_str(proto_map_get(h, "version"), &str, &len) == -1 ||
	    len != strlen(HELIX_VERSION) || memcmp(str, HELIX_VERSION, len) != 0 ||
	    proto_get_str(proto_map_get(h, "flow_id"), &str, &len) == -1 ||
	    len != strlen(s->id) || memcmp(str, s->id, len) != 0 ||
	    proto_get_int(proto_map_get(h, "pid"), &pid) == -1 ||
	    pid != s->pid ||
	    proto_get_uint(proto_map_get(h, "flow_version"), &version) == -1)
		return -1;
	s->version = version;
	if (version < s->fanned)	/* erased meanwhile: numbering restarts */
		s->fanned = version;
	if (s->state == S_STARTING)
		session_transition(s, S_RUNNING, "hello");
	/*
	 * A worker can commit and die before its update was fanned out:
	 * fetch what joined connections have not seen, before anything else.
	 */
	if (s->fanned < version && !LIST_EMPTY(&s->members)) {
		msgpack_object since = { .type = MSGPACK_OBJECT_POSITIVE_INTEGER };

		since.via.u64 = s->fanned;
		session_internal_first(s, "w.sync", since);
	} else if (s->fanned < version)
		s->fanned = version;
	session_send_queued(s);
	return 0;
}

static void
session_answer(struct session *s, const struct proto_msg *msg)
{
	struct call *k = session_head_sent(s);

	if (k == NULL || k->seq != msg->msgid) {
		session_kill_worker(s, "protocol_violation");
		return;
	}
	session_unlink_call(s, k);
	s->served++;
	/*
	 * A call its client gave up on still has effects on the session
	 * (a delete: the worker exits; members are told): done runs with no
	 * client to answer.
	 */
	if (k->done != NULL) {
		k->done(k, proto_is_nil(msg->error) ? NULL : msg->error,
		    msg->result);
	} else if (k->state == CALL_ABANDONED) {
		call_free(k);
	} else {
		rpc_relay(k, msg->error, msg->result);
	}
	session_flush(s);
}

/* receiver_dispatch_sender: everything the worker says comes through here. */
static void
session_dispatch_worker(struct session *s, const msgpack_object *o)
{
	struct proto_msg	 msg;
	struct proto_error	 e;
	struct call		*k;
	bool			 has_msgid;

	if (proto_msg_parse(o, &msg, &e, &has_msgid) == -1)
		goto bad;
	switch (msg.type) {
	case PROTO_NOTIFY:
		if (proto_method_is(&msg, "w.hello")) {
			if (session_hello(s, &msg) == -1)
				goto bad;
			return;
		}
		if (proto_method_is(&msg, "w.update") &&
		    (s->state == S_RUNNING || s->state == S_STOPPING) &&
		    proto_param(msg.params, 0) != NULL &&
		    proto_param(msg.params, 0)->type == MSGPACK_OBJECT_MAP) {
			k = session_head_sent(s);
			session_fanout(s, proto_param(msg.params, 0),
			    k != NULL && k->state != CALL_ABANDONED &&
			    k->c != NULL && k->want_reply ? k : NULL);
			return;
		}
		goto bad;
	case PROTO_RESPONSE:
		if (s->state != S_RUNNING && s->state != S_STOPPING)
			goto bad;
		session_answer(s, &msg);
		return;
	case PROTO_REQUEST:
		goto bad;
	}
bad:
	session_kill_worker(s, "protocol_violation");
}

static void
session_worker_read(struct bufferevent *bev, void *arg)
{
	struct session		*s = arg;
	struct evbuffer		*in = bufferevent_get_input(bev);
	msgpack_object		 o;
	enum proto_read		 r;
	uint32_t		 gen = s->gen;

	if (reader_feed_evbuffer(s->rd, in) == -1) {
		session_kill_worker(s, "out_of_memory");
		return;
	}
	/* A worker answers as fast as it can; its output is bounded per message. */
	for (;;) {
		r = proto_reader_next(s->rd, &o, NULL, NULL);
		if (r == PROTO_READ_MORE)
			return;
		if (r != PROTO_READ_OBJECT) {
			session_kill_worker(s, "protocol_violation");
			return;
		}
		s->last_heard_us = now_us();
		session_dispatch_worker(s, &o);
		if (s->gen != gen || s->rd == NULL)
			return;
	}
}

static void
session_worker_event(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;

	/* EOF: the worker is gone or going; the reaper classifies the exit. */
	log_event(HLOG_DEBUG, s->id, "session.eof", " pid=%d", (int)s->pid);
	session_close_channel(s);
}

/* ---- internal calls: heartbeat, stop, resync -------------------------- */

static void
resync_done(struct call *k, const msgpack_object *err,
    const msgpack_object *result)
{
	struct session		*s = k->s;
	const msgpack_object	*ups;
	uint32_t		 i, n;
	bool			 complete = false;

	ups = err == NULL ? proto_map_get(result, "updates") : NULL;
	if (err == NULL)
		proto_get_bool(proto_map_get(result, "complete"), &complete);
	if (ups != NULL && ups->type == MSGPACK_OBJECT_ARRAY && complete) {
		for (i = 0; i < ups->via.array.size; i++) {
			if (ups->via.array.ptr[i].type == MSGPACK_OBJECT_MAP)
				session_fanout(s, &ups->via.array.ptr[i], NULL);
		}
	} else if (s->fanned < s->version) {
		/*
		 * History no longer reaches back to what the joined connections
		 * last saw: rather than skip versions, unsubscribe them; they
		 * join again (with since_version they get "resync": true).
		 */
		n = session_closed_notify(s, "closed");
		log_event(HLOG_WARN, s->id, "session.resync_lost",
		    " fanned=%llu version=%llu unsubscribed=%u",
		    (unsigned long long)s->fanned,
		    (unsigned long long)s->version, n);
	}
	if (s->fanned < s->version)
		s->fanned = s->version;
	call_free(k);
}

static void
ping_done(struct call *k, const msgpack_object *err,
    const msgpack_object *result)
{
	k->s->ping_seq = 0;
	call_free(k);
}

static void
stop_done(struct call *k, const msgpack_object *err,
    const msgpack_object *result)
{
	call_free(k);
}

/* A call of the master's own; first puts it ahead of queued client calls. */
static int
session_internal_at(struct session *s, const char *method, call_done_fn done,
    const msgpack_object *arg, bool first, bool last)
{
	struct call	*k;
	msgpack_sbuffer	 sb;
	msgpack_packer	*pk;

	if ((k = call_new(NULL, NULL, 0, false)) == NULL)
		return -1;
	k->s = s;
	k->done = done;
	k->last = last;
	pk = session_call_packer(k, method, arg != NULL ? 1 : 0, &sb);
	if (arg != NULL)
		msgpack_pack_object(pk, *arg);
	if ((k->out = evbuffer_new()) == NULL) {
		msgpack_sbuffer_destroy(&sb);
		call_free(k);
		return -1;
	}
	evbuffer_add(k->out, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	k->state = CALL_QUEUED;
	if (first)
		TAILQ_INSERT_HEAD(&s->calls, k, entry);
	else
		TAILQ_INSERT_TAIL(&s->calls, k, entry);
	s->ncalls++;
	if (s->state == S_RUNNING || s->state == S_STOPPING)
		session_send_queued(s);
	return (int)k->seq;
}

static int
session_internal(struct session *s, const char *method, call_done_fn done,
    const msgpack_object *arg)
{
	return session_internal_at(s, method, done, arg, false, false);
}

void
session_internal_first(struct session *s, const char *method,
    msgpack_object arg)
{
	session_internal_at(s, method, resync_done, &arg, true, false);
}

/* ---- members ---------------------------------------------------------- */

struct member *
session_member_find(struct session *s, struct client *c)
{
	struct member *m;

	LIST_FOREACH(m, &c->members, in_client) {
		if (m->s == s)
			return m;
	}
	return NULL;
}

void
session_member_add(struct session *s, struct client *c, const char *cid)
{
	struct member *m;

	if ((m = calloc(1, sizeof(*m))) == NULL)
		return;
	m->c = c;
	m->s = s;
	snprintf(m->client_id, sizeof(m->client_id), "%s", cid);
	LIST_INSERT_HEAD(&c->members, m, in_client);
	LIST_INSERT_HEAD(&s->members, m, in_session);
	s->nmembers++;
	telemetry_send("client.joined", s->id, s->pid, NULL, cid, 0, -1);
	session_presence(s, "joined", cid, c);
}

void
session_member_remove(struct member *m, bool notify)
{
	struct session	*s = m->s;
	char		 cid[PROTO_CLIENT_ID_MAX + 1];

	snprintf(cid, sizeof(cid), "%s", m->client_id);
	LIST_REMOVE(m, in_client);
	LIST_REMOVE(m, in_session);
	s->nmembers--;
	free(m);
	s->last_activity = now_s();
	telemetry_send("client.left", s->id, s->pid, NULL, cid, 0, -1);
	if (notify)
		session_presence(s, "left", cid, NULL);
}

/* flow.presence to every joined connection but `except`. */
void
session_presence(struct session *s, const char *key, const char *cid,
    struct client *except)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	struct member	*m;

	if (LIST_EMPTY(&s->members))
		return;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	proto_pack_notify_begin(&pk, "flow.presence", 2);
	proto_pack_str(&pk, s->id);
	msgpack_pack_map(&pk, 2);
	proto_pack_key(&pk, "client_count");
	msgpack_pack_uint32(&pk, s->nmembers);
	proto_pack_key(&pk, key);
	proto_pack_str(&pk, cid);
	LIST_FOREACH(m, &s->members, in_session) {
		if (m->c != except)
			client_send_buf(m->c, sb.data, sb.size);
	}
	msgpack_sbuffer_destroy(&sb);
}

/* flow.closed to every member, who are then unsubscribed; returns how many. */
uint32_t
session_closed_notify(struct session *s, const char *reason)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	struct member	*m;
	uint32_t	 n = 0;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	proto_pack_notify_begin(&pk, "flow.closed", 2);
	proto_pack_str(&pk, s->id);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "reason");
	proto_pack_str(&pk, reason);
	while ((m = LIST_FIRST(&s->members)) != NULL) {
		client_send_buf(m->c, sb.data, sb.size);
		LIST_REMOVE(m, in_client);
		LIST_REMOVE(m, in_session);
		s->nmembers--;
		telemetry_send("client.left", s->id, s->pid, NULL, m->client_id, 0, -1);
		free(m);
		n++;
	}
	msgpack_sbuffer_destroy(&sb);
	return n;
}

/* ---- stopping, reaping, restarting ------------------------------------ */

/* Fail every call: SENT ones with session_crashed, QUEUED ones with e. */
static void
session_fail_calls(struct session *s, bool sent_only,
    const struct proto_error *queued_err)
{
	struct proto_error	 crashed;
	struct call		*k, *tk;
	uint64_t		 gen = ++flush_gen;

	proto_error_set(&crashed, PC_SESSION_CRASHED,
	    "the session process of flow %s died while handling this request",
	    s->id);
	TAILQ_FOREACH_SAFE(k, &s->calls, entry, tk) {
		if (k->state == CALL_LOCAL) {
			/*
			 * In order: everything before it is answered by now,
			 * unless a call of the same connection stays queued.
			 */
			if (k->c != NULL && k->c->flush_gen == gen)
				continue;
			session_unlink_call(s, k);
			if (k->c != NULL && k->want_reply && k->out != NULL)
				client_send(k->c, k->out);
			rpc_stats_record(k->m, now_us() - k->started_us);
			call_free(k);
			continue;
		}
		if (k->state == CALL_SENT && k->committed != 0) {
			/*
			 * Its update was committed and fanned out to everyone
			 * else before the worker died: the reply is the only way
			 * this connection learns that version.
			 */
			session_unlink_call(s, k);
			call_reply_version(k, k->committed);
			continue;
		}
		if (call_sent(k)) {
			if (k->state != CALL_ABANDONED)
				call_fail(k, &crashed);
		} else if (sent_only) {
			if (k->c != NULL)	/* stays queued: later replies wait */
				k->c->flush_gen = gen;
			continue;
		} else if (k->c != NULL) {
			call_fail(k, queued_err);
		}
		session_unlink_call(s, k);
		call_free(k);
	}
	/* Internal calls that were queued belong to the dead incarnation. */
	TAILQ_FOREACH_SAFE(k, &s->calls, entry, tk) {
		if (k->c == NULL && k->m == NULL) {
			session_unlink_call(s, k);
			call_free(k);
		}
	}
	s->ping_seq = 0;
	session_flush(s);
}

/*
 * Ask the worker to stop (it exits 0 with its state on disk).  reason,
 * when not NULL, is sent to members as flow.closed; NULL hibernates
 * quietly.  Members are unsubscribed now.
 */
void
session_stop(struct session *s, const char *reason)
{
	struct proto_error e;

	if (reason != NULL)
		session_closed_notify(s, reason);
	if (s->state == S_RESTARTING || s->state == S_FAILED) {
		/* No worker: nothing to stop; queued calls cannot be served. */
		if (s->ev_timer != NULL)
			evtimer_del(s->ev_timer);
		proto_error_set(&e, srv->shutting_down ? PC_SHUTTING_DOWN :
		    PC_SESSION_CRASHED, "flow %s was stopped", s->id);
		session_fail_calls(s, false, &e);
		if (s->state == S_RESTARTING)
			session_transition(s, S_NONE, reason);
		/* The caller frees s (registry_gc) once it is done with it. */
		return;
	}
	if (!session_live(s) || s->state == S_STOPPING)
		return;
	s->stop_wanted = true;
	session_transition(s, S_STOPPING, reason ? reason : "hibernate");
	if (s->bev == NULL) {
		kill(s->pid, SIGTERM);
		return;
	}
	session_internal_at(s, "w.stop", stop_done, NULL, false, true);
}

void
session_kill_all(int sig)
{
	struct session *s, *ts;

	HASH_ITER(hh, srv->sessions, s, ts) {
		if (session_live(s))
			kill(s->pid, sig);
	}
}

static bool
session_head_queued(struct session *s)
{
	struct call *k;

	TAILQ_FOREACH(k, &s->calls, entry) {
		if (k->state == CALL_QUEUED && k->c != NULL)
			return true;
	}
	return false;
}

static struct session *
session_by_pid(pid_t pid)
{
	struct session *s, *ts;

	HASH_ITER(hh, srv->sessions, s, ts) {
		if (s->pid == pid)
			return s;
	}
	return NULL;
}

static void
session_restart_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct session		*s = arg;
	struct proto_error	 e;

	if (s->state != S_RESTARTING)
		return;
	if (session_start(s, &e) == -1) {
		log_event(HLOG_WARN, s->id, "session.restart",
		    " result=failed error=%s", log_q(e.message));
		session_fail_calls(s, false, &e);
		session_transition(s, S_NONE, "restart failed");
		session_closed_notify(s, "failed");
		registry_gc(s);
		return;
	}
	srv->st.session_restarts_total++;
	s->restarts++;
	telemetry_send("session.restart", s->id, s->pid, NULL, NULL, 0, -1);
}

static void
session_schedule_restart(struct session *s, uint32_t delay_ms)
{
	struct timeval tv;

	session_transition(s, S_RESTARTING, "crash");
	if (s->ev_timer == NULL)
		s->ev_timer = evtimer_new(srv->base, session_restart_timer, s);
	tv.tv_sec = delay_ms / 1000;
	tv.tv_usec = (delay_ms % 1000) * 1000;
	evtimer_add(s->ev_timer, &tv);
}

/* The worker exited: classify once, tear down in one place. */
void
session_reap(pid_t pid, int status)
{
	struct session		*s = session_by_pid(pid);
	struct proto_error	 e;
	enum restart_verdict	 v;
	bool			 clean, over;
	int			 sig = 0, code = -1;
	uint32_t		 delay = 0, global;

	if (s == NULL)
		return;
	if (WIFSIGNALED(status))
		sig = WTERMSIG(status);
	else if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	/*
	 * An exit we asked for is a stop, however it ended (a worker killed
	 * because it did not stop in time included): its state is on disk.
	 */
	clean = s->stop_wanted && !s->violation;
	if (clean && code != 0)
		log_event(HLOG_WARN, s->id, "session.stop_unclean",
		    " pid=%d signal=%d exit_status=%d", (int)pid, sig, code);
	session_close_channel(s);
	s->pid = 0;
	srv->nlive--;
	master_store_reader_check();
	if (srv->shutting_down && srv->nlive == 0)
		event_base_loopexit(srv->base, NULL);

	if (clean) {
		telemetry_send("session.stop", s->id, pid, s->deleting ?
		    "deleted" : "normal", NULL, sig, code);
		s->deleting = false;
		session_transition(s, S_HIBERNATED, "exit");
		proto_error_set(&e, PC_SHUTTING_DOWN, "helixd is stopping");
		session_fail_calls(s, true, &e);
		/* Requests that arrived while it stopped get a new worker. */
		if (session_head_queued(s) && !srv->shutting_down &&
		    session_start(s, &e) == -1)
			session_fail_calls(s, false, &e);
		else if (srv->shutting_down)
			session_fail_calls(s, false, &e);
		registry_gc(s);
		return;
	}

	srv->st.session_crashes_total++;
	telemetry_send("session.crash", s->id, pid,
	    s->violation ? s->kill_reason : (sig ? "signal" : "exit"),
	    NULL, sig, code);
	session_fail_calls(s, true, NULL);
	if (srv->shutting_down) {
		proto_error_set(&e, PC_SHUTTING_DOWN, "helixd is stopping");
		session_fail_calls(s, false, &e);
		session_transition(s, S_HIBERNATED, "shutdown");
		registry_gc(s);
		return;
	}
	v = restart_decide(&s->rs, now_s(), srv->cfg.max_restarts,
	    srv->cfg.max_seconds, s->served > 0, &delay);
	if (v == RESTART_GIVE_UP) {
		s->failed_until = now_s() + srv->cfg.restart_cooldown;
		log_event(HLOG_ERROR, s->id, "session.intensity",
		    " restarts=%u max_restarts=%u max_seconds=%u cooldown=%u",
		    s->restarts, srv->cfg.max_restarts, srv->cfg.max_seconds,
		    srv->cfg.restart_cooldown);
		telemetry_send("session.failed", s->id, pid, "intensity", NULL,
		    sig, code);
		session_transition(s, S_FAILED, "intensity");
		session_failed_error(s, &e);
		session_fail_calls(s, false, &e);
		session_closed_notify(s, "failed");
		return;
	}
	/* Something systemic? The daemon-wide count, over every session. */
	over = restart_global_note(&srv->grs, now_s(), srv->cfg.max_restarts_total,
	    srv->cfg.max_restarts_total_seconds);
	if (over && srv->cfg.escalate == ESCALATE_EXIT) {
		log_event(HLOG_ERROR, s->id, "server.escalate",
		    " max_restarts_total=%u seconds=%u action=exit status=%d",
		    srv->cfg.max_restarts_total,
		    srv->cfg.max_restarts_total_seconds, EXIT_HELIX_ESCALATE);
		srv->exit_status = EXIT_HELIX_ESCALATE;
		session_transition(s, S_HIBERNATED, "escalate");
		proto_error_set(&e, PC_SHUTTING_DOWN, "helixd is stopping");
		session_fail_calls(s, false, &e);
		server_shutdown("max_restarts_total exceeded (escalate = exit)");
		return;
	}
	global = restart_global_backoff(&srv->grs, over);
	if (over) {
		srv->st.restarts_throttled++;
		log_event(HLOG_ERROR, s->id, "server.restart_throttle",
		    " max_restarts_total=%u seconds=%u delay_ms=%u",
		    srv->cfg.max_restarts_total,
		    srv->cfg.max_restarts_total_seconds, global);
		if (global > delay)
			delay = global;
		v = RESTART_LATER;
	}
	if (v == RESTART_NOW && session_start(s, &e) == 0) {
		srv->st.session_restarts_total++;
		s->restarts++;
		telemetry_send("session.restart", s->id, s->pid, NULL, NULL, 0, -1);
		return;
	}
	session_schedule_restart(s, delay ? delay : 100);
}

/* Once a second: heartbeats, the watchdog, idle hibernation. */
void
session_tick(double now)
{
	struct session	*s, *ts;
	struct call	*head;
	uint64_t	 us = now_us(), since;
	uint64_t	 wd = srv->cfg.watchdog_timeout_ms ?
			    srv->cfg.watchdog_timeout_ms :
			    3ULL * srv->cfg.call_timeout_ms;
	int		 seq;

	HASH_ITER(hh, srv->sessions, s, ts) {
		/* A worker that neither says hello nor stops in time is killed. */
		if (session_live(s) && !s->violation &&
		    ((s->state == S_STARTING && (us - s->state_since_us) / 1000 >
		    wd) || (s->state == S_STOPPING && (us - s->state_since_us) /
		    1000 > srv->cfg.shutdown_timeout_ms && !srv->shutting_down))) {
			log_event(HLOG_WARN, s->id, "session.watchdog",
			    " pid=%d state=%s action=kill", (int)s->pid,
			    state_names[s->state]);
			if (s->state == S_STARTING)
				session_kill_worker(s, "no_hello");
			else {
				kill(s->pid, SIGKILL);	/* still a stop, not a crash */
				session_close_channel(s);
			}
			continue;
		}
		if (s->state != S_RUNNING || s->bev == NULL)
			continue;
		/*
		 * The watchdog measures progress, not queue length: the worker
		 * owes an answer (a call or a heartbeat) and has said nothing
		 * for wd ms.  A long queue behind a busy, live worker is fine.
		 */
		if ((head = session_head_sent(s)) != NULL) {
			since = head->sent_us > s->last_heard_us ? head->sent_us :
			    s->last_heard_us;
			if ((us - since) / 1000 > wd) {
				log_event(HLOG_WARN, s->id, "session.watchdog",
				    " pid=%d silent_ms=%llu", (int)s->pid,
				    (unsigned long long)(us - since) / 1000);
				session_kill_worker(s, "watchdog");
				continue;
			}
		}
		if (head == NULL && s->ping_seq == 0 &&
		    (us - s->ping_sent_us) / 1000 >= srv->cfg.heartbeat_interval_ms &&
		    (seq = session_internal(s, "w.ping", ping_done, NULL)) > 0) {
			s->ping_seq = (uint32_t)seq;
			s->ping_sent_us = us;
		}
		if (srv->cfg.idle_timeout != 0 && s->nmembers == 0 &&
		    s->ncalls <= 1 && now - s->last_activity >
		    srv->cfg.idle_timeout)
			session_stop(s, NULL);
	}
}

void
session_pack_status(struct session *s, msgpack_packer *pk)
{
	msgpack_pack_map(pk, 7);
	proto_pack_key(pk, "flow_id");
	proto_pack_str(pk, s->id);
	proto_pack_key(pk, "active");
	if (session_live(s))
		msgpack_pack_true(pk);
	else
		msgpack_pack_false(pk);
	proto_pack_key(pk, "state");
	proto_pack_str(pk, session_state_name(s->state));
	proto_pack_key(pk, "client_count");
	msgpack_pack_uint32(pk, s->nmembers);
	proto_pack_key(pk, "version");
	msgpack_pack_uint64(pk, s->version);
	proto_pack_key(pk, "last_activity");
	msgpack_pack_double(pk, s->last_activity);
	proto_pack_key(pk, "restarts");
	msgpack_pack_uint32(pk, s->restarts);
}
