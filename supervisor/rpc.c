/*
 * rpc.c: the method table and the checks every method shares, done once:
 * unknown_method, arity, admin, flow id validation, shutting_down.
 * Handlers live in rpc-sys.c, rpc-flow.c and rpc-session.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "supervisor/helixd.h"

static struct method_stats mstats[16];

static const struct rpc_method methods[] = {
	{ "sys.ping",		0, 0, 0, rpc_sys_ping, &mstats[0] },
	{ "sys.version",	0, 0, 0, rpc_sys_version, &mstats[1] },
	{ "sys.stats",		0, 0, 0, rpc_sys_stats, &mstats[2] },
	{ "sys.subscribe",	0, 1, 0, rpc_sys_subscribe, &mstats[3] },
	{ "sys.shutdown",	0, 0, RPC_ADMIN, rpc_sys_shutdown, &mstats[4] },
	{ "flow.join",		1, 3, RPC_FLOW | RPC_STARTS, rpc_flow_join, &mstats[5] },
	{ "flow.leave",		1, 1, RPC_FLOW, rpc_flow_leave, &mstats[6] },
	{ "flow.get",		1, 1, RPC_FLOW | RPC_STARTS, rpc_flow_get, &mstats[7] },
	{ "flow.apply",		2, 3, RPC_FLOW | RPC_STARTS, rpc_flow_apply, &mstats[8] },
	{ "flow.history",	2, 2, RPC_FLOW | RPC_STARTS, rpc_flow_history, &mstats[9] },
	{ "flow.status",	1, 1, RPC_FLOW, rpc_flow_status, &mstats[10] },
	{ "flow.list",		0, 1, 0, rpc_flow_list, &mstats[11] },
	{ "flow.close",		1, 1, RPC_FLOW, rpc_flow_close, &mstats[12] },
	{ "flow.delete",	1, 1, RPC_FLOW, rpc_flow_delete, &mstats[13] },
	{ "session.inspect",	1, 1, RPC_FLOW, rpc_session_inspect, &mstats[14] },
	{ "session.kill",	1, 2, RPC_FLOW | RPC_ADMIN, rpc_session_kill, &mstats[15] },
};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

const struct rpc_method *
rpc_find(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NMETHODS; i++) {
		if (strlen(methods[i].name) == len &&
		    memcmp(methods[i].name, name, len) == 0)
			return &methods[i];
	}
	return NULL;
}

size_t
rpc_methods(const struct rpc_method **out)
{
	*out = methods;
	return NMETHODS;
}

/* A log2 histogram: bucket i holds latencies in [2^i, 2^(i+1)) us. */
void
rpc_stats_record(const struct rpc_method *m, uint64_t us)
{
	struct method_stats	*ms = m->stats;
	int			 b = 0;

	ms->count++;
	if (us > ms->max_us)
		ms->max_us = us;
	while (b < LAT_BUCKETS - 1 && (us >> (b + 1)) != 0)
		b++;
	ms->buckets[b]++;
}

/* Percentile estimate: the upper bound of the bucket holding it, capped by max. */
uint64_t
rpc_stats_percentile(const struct method_stats *ms, double p)
{
	uint64_t	want, seen = 0, hi;
	int		b;

	if (ms->count == 0)
		return 0;
	want = (uint64_t)ceil(p * (double)ms->count);
	if (want == 0)
		want = 1;
	for (b = 0; b < LAT_BUCKETS; b++) {
		seen += ms->buckets[b];
		if (seen >= want) {
			hi = (b >= 63) ? UINT64_MAX : ((uint64_t)2 << b) - 1;
			return hi < ms->max_us ? hi : ms->max_us;
		}
	}
	return ms->max_us;
}

/*
 * Send a complete response for k, keeping the order of replies on the
 * flow's session; frees k.
 */
void
rpc_reply(struct call *k, msgpack_sbuffer *sb)
{
	if (k->s != NULL && session_must_hold(k->s, k->c)) {
		session_local_reply(k->s, k, sb);
		return;
	}
	rpc_finish(k, sb);
}

void
rpc_reply_error(struct call *k, const struct proto_error *e)
{
	msgpack_sbuffer	sb;
	msgpack_packer	pk;

	srv->st.errors_total++;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	proto_pack_error(&pk, k->msgid, e);
	rpc_reply(k, &sb);
	msgpack_sbuffer_destroy(&sb);
}

/* Start a reply: caller packs exactly one result object into pk. */
void
rpc_result_begin(struct call *k, msgpack_sbuffer *sb, msgpack_packer *pk)
{
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
	proto_pack_result_begin(pk, k->msgid);
}

void
rpc_result_end(struct call *k, msgpack_sbuffer *sb)
{
	rpc_reply(k, sb);
	msgpack_sbuffer_destroy(sb);
}

/*
 * A call that is off its session's queue is done: send sb (the whole
 * response, or NULL for none), record the latency, free k.
 */
void
rpc_finish(struct call *k, const msgpack_sbuffer *sb)
{
	if (sb != NULL && k->c != NULL && k->want_reply)
		client_reply_packed(k->c, sb);
	if (k->m != NULL && k->state != CALL_ABANDONED)	/* counted then */
		rpc_stats_record(k->m, now_us() - k->started_us);
	call_free(k);
}

/* Relay a worker's answer as [1, client msgid, error, result]; frees k. */
void
rpc_relay(struct call *k, const msgpack_object *err,
    const msgpack_object *result)
{
	msgpack_sbuffer	sb;
	msgpack_packer	pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_uint32(&pk, k->msgid);
	if (err != NULL && !proto_is_nil(err)) {
		srv->st.errors_total++;
		msgpack_pack_object(&pk, *err);
		msgpack_pack_nil(&pk);
	} else {
		msgpack_pack_nil(&pk);
		if (result != NULL)
			msgpack_pack_object(&pk, *result);
		else
			msgpack_pack_nil(&pk);
	}
	rpc_finish(k, &sb);
	msgpack_sbuffer_destroy(&sb);
}

static bool
rpc_admin_ok(const struct client *c)
{
	return c->uid == 0 || c->uid == srv->uid;
}

void
rpc_dispatch(struct client *c, const struct proto_msg *msg)
{
	const struct rpc_method	*m;
	const msgpack_object	*params = msg->params;
	struct proto_error	 e;
	struct session		*s = NULL;
	struct call		*k;
	char			 id[PROTO_FLOW_ID_MAX + 1];
	bool			 want_reply = msg->type == PROTO_REQUEST;
	const char		*fid;
	size_t			 fidlen;

	srv->st.requests_total++;
	memset(&e, 0, sizeof(e));
	if ((m = rpc_find(msg->method, msg->method_len)) == NULL) {
		if (want_reply) {
			proto_error_set(&e, PC_UNKNOWN_METHOD,
			    "unknown method '%.*s'",
			    (int)(msg->method_len > 64 ? 64 : msg->method_len),
			    msg->method);
			client_reply_error(c, msg->msgid, &e);
		}
		return;
	}
	if ((k = call_new(c, m, msg->msgid, want_reply)) == NULL) {
		proto_error_set(&e, PC_OVERLOADED, "out of memory");
		client_reply_error(c, msg->msgid, &e);
		return;
	}
	if (srv->shutting_down) {
		proto_error_set(&e, PC_SHUTTING_DOWN, "helixd is stopping");
		goto fail;
	}
	if (proto_params_arity(params, m->min_params, m->max_params, &e) == -1) {
		/* name the method: the codec does not know it */
		char tmp[sizeof(e.message)];

		memcpy(tmp, e.message, sizeof(tmp));
		proto_error_set(&e, PC_INVALID_PARAMS, "%s: %.200s", m->name,
		    tmp);
		goto fail;
	}
	if ((m->flags & RPC_ADMIN) && !rpc_admin_ok(c)) {
		proto_error_set(&e, PC_PERMISSION_DENIED,
		    "%s is an admin method: uid %d is not the daemon's (%d) "
		    "or root", m->name, (int)c->uid, (int)srv->uid);
		goto fail;
	}
	if (m->flags & RPC_FLOW) {
		if (proto_get_str(proto_param(params, 0), &fid, &fidlen) == -1) {
			proto_error_set(&e, PC_INVALID_PARAMS,
			    "%s: flow id must be a string", m->name);
			goto fail;
		}
		if (!proto_valid_flow_id(fid, fidlen)) {
			proto_error_set(&e, PC_INVALID_FLOW_ID,
			    "invalid flow id: 1 to %d bytes of A-Z a-z 0-9 _ . : -, "
			    "not starting with '.'", PROTO_FLOW_ID_MAX);
			goto fail;
		}
		memcpy(id, fid, fidlen);
		id[fidlen] = '\0';
		s = (m->flags & RPC_STARTS) ? registry_get(id) : registry_find(id);
		if ((m->flags & RPC_STARTS) && s == NULL) {
			proto_error_set(&e, PC_OVERLOADED, "out of memory");
			goto fail;
		}
		k->s = s;
	}
	if (m->fn(c, k, params, s, &e) == -1)
		goto fail;
	return;
fail:
	k->s = s;
	rpc_reply_error(k, &e);
	if (s != NULL)
		registry_gc(s);
}
