/*
 * rpc-session.c: session.inspect and session.kill.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "supervisor/helixd.h"

static void
pack_inspect(msgpack_packer *pk, struct session *s, int64_t rss)
{
	struct member	*m;
	struct call	*k;
	uint32_t	 q = 0;

	TAILQ_FOREACH(k, &s->calls, entry) {
		if (k->c != NULL)
			q++;
	}
	msgpack_pack_map(pk, 11);
	proto_pack_key(pk, "flow_id");
	proto_pack_str(pk, s->id);
	proto_pack_key(pk, "pid");
	if (session_live(s))
		msgpack_pack_int64(pk, s->pid);
	else
		msgpack_pack_nil(pk);
	proto_pack_key(pk, "state");
	proto_pack_str(pk, session_state_name(s->state));
	proto_pack_key(pk, "restarts");
	msgpack_pack_uint32(pk, s->restarts);
	proto_pack_key(pk, "started_at");
	if (session_live(s))
		msgpack_pack_double(pk, s->started_at);
	else
		msgpack_pack_nil(pk);
	proto_pack_key(pk, "queue_depth");
	msgpack_pack_uint32(pk, q);
	proto_pack_key(pk, "rss_bytes");
	if (rss >= 0)
		msgpack_pack_int64(pk, rss);
	else
		msgpack_pack_nil(pk);
	proto_pack_key(pk, "clients");
	msgpack_pack_array(pk, s->nmembers);
	LIST_FOREACH(m, &s->members, in_session)
		proto_pack_str(pk, m->client_id);
	proto_pack_key(pk, "client_count");
	msgpack_pack_uint32(pk, s->nmembers);
	proto_pack_key(pk, "version");
	msgpack_pack_uint64(pk, s->version);
	proto_pack_key(pk, "generation");
	msgpack_pack_uint32(pk, s->gen);
}

static void
inspect_done(struct call *k, const msgpack_object *err,
    const msgpack_object *result)
{
	msgpack_sbuffer	sb;
	msgpack_packer	pk;
	int64_t		rss = -1;

	if (err == NULL)
		proto_get_int(proto_map_get(result, "rss_bytes"), &rss);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	proto_pack_result_begin(&pk, k->msgid);
	pack_inspect(&pk, k->s, rss);
	rpc_finish(k, &sb);
	msgpack_sbuffer_destroy(&sb);
}

/* A hung worker: answer from what the master knows, rss_bytes nil. */
static void
inspect_timeout(struct call *k)
{
	msgpack_sbuffer	sb;
	msgpack_packer	pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	proto_pack_result_begin(&pk, k->msgid);
	pack_inspect(&pk, k->s, -1);
	if (k->c != NULL && k->want_reply)
		client_reply_packed(k->c, &sb);
	msgpack_sbuffer_destroy(&sb);
	rpc_stats_record(k->m, now_us() - k->started_us);
}

int
rpc_session_inspect(struct client *c, struct call *k,
    const msgpack_object *params, struct session *s, struct proto_error *e)
{
	const msgpack_object	*p0 = proto_param(params, 0);
	char			 id[PROTO_FLOW_ID_MAX + 1];
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	uint64_t		 version = 0;
	double			 at;
	bool			 found;

	if (s != NULL && s->state == S_RUNNING) {
		/* rss_bytes is the worker's to measure. */
		k->done = inspect_done;
		k->on_timeout = inspect_timeout;
		session_call_packer(k, "w.status", 0, &sb);
		return session_submit(s, k, &sb, e);
	}
	if (s == NULL) {
		memcpy(id, p0->via.str.ptr, p0->via.str.size);
		id[p0->via.str.size] = '\0';
		if (master_store_meta(id, &found, &version, &at) != 0)
			return proto_error_set(e, PC_STORAGE_ERROR,
			    "cannot read the state of flow %s", id);
	}
	rpc_result_begin(k, &sb, &pk);
	if (s != NULL) {
		pack_inspect(&pk, s, -1);
	} else {
		msgpack_pack_map(&pk, 11);
		proto_pack_key(&pk, "flow_id");
		proto_pack_strn(&pk, p0->via.str.ptr, p0->via.str.size);
		proto_pack_key(&pk, "pid");
		msgpack_pack_nil(&pk);
		proto_pack_key(&pk, "state");
		proto_pack_str(&pk, "hibernated");
		proto_pack_key(&pk, "restarts");
		msgpack_pack_uint32(&pk, 0);
		proto_pack_key(&pk, "started_at");
		msgpack_pack_nil(&pk);
		proto_pack_key(&pk, "queue_depth");
		msgpack_pack_uint32(&pk, 0);
		proto_pack_key(&pk, "rss_bytes");
		msgpack_pack_nil(&pk);
		proto_pack_key(&pk, "clients");
		msgpack_pack_array(&pk, 0);
		proto_pack_key(&pk, "client_count");
		msgpack_pack_uint32(&pk, 0);
		proto_pack_key(&pk, "version");
		msgpack_pack_uint64(&pk, version);
		proto_pack_key(&pk, "generation");
		msgpack_pack_uint32(&pk, 0);
	}
	rpc_result_end(k, &sb);
	return 0;
}

/* "KILL", "SIGKILL", "kill" or a number. */
static int
parse_signal(const msgpack_object *o, int *sig)
{
	const char	*str;
	char		 name[32];
	size_t		 len;
	int64_t		 n;
	int		 i;

	if (o == NULL || proto_is_nil(o)) {
		*sig = SIGKILL;
		return 0;
	}
	if (proto_get_int(o, &n) == 0) {
		if (n < 1 || n >= NSIG)
			return -1;
		*sig = (int)n;
		return 0;
	}
	if (proto_get_str(o, &str, &len) == -1 || len == 0 ||
	    len >= sizeof(name))
		return -1;
	for (i = 0; i < (int)len; i++)
		name[i] = (str[i] >= 'a' && str[i] <= 'z') ? str[i] - 32 : str[i];
	name[len] = '\0';
	str = strncmp(name, "SIG", 3) == 0 ? name + 3 : name;
	for (i = 1; i < NSIG; i++) {
		const char *abbrev = sigabbrev_np(i);

		if (abbrev != NULL && strcmp(abbrev, str) == 0) {
			*sig = i;
			return 0;
		}
	}
	return -1;
}

int
rpc_session_kill(struct client *c, struct call *k, const msgpack_object *params,
    struct session *s, struct proto_error *e)
{
	msgpack_sbuffer	sb;
	msgpack_packer	pk;
	int		sig;
	pid_t		pid;

	if (parse_signal(proto_param(params, 1), &sig) == -1)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "session.kill: signal must be a name like \"KILL\" or "
		    "\"TERM\", or a number from 1 to %d", NSIG - 1);
	if (s == NULL || !session_live(s))
		return proto_error_set(e, PC_NOT_RUNNING,
		    "flow %.*s has no live worker",
		    (int)proto_param(params, 0)->via.str.size,
		    proto_param(params, 0)->via.str.ptr);
	pid = s->pid;
	log_event(HLOG_INFO, s->id, "session.signal", " pid=%d signal=%s",
	    (int)pid, sigabbrev_np(sig));
	if (kill(pid, sig) == -1)
		return proto_error_set(e, PC_NOT_RUNNING,
		    "flow %s: worker %d is gone", s->id, (int)pid);
	rpc_result_begin(k, &sb, &pk);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "pid");
	msgpack_pack_int64(&pk, pid);
	rpc_result_end(k, &sb);
	return 0;
}
