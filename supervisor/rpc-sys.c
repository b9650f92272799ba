/*
 * rpc-sys.c: the methods the master answers itself.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "supervisor/helixd.h"

int
rpc_sys_ping(struct client *c, struct call *k, const msgpack_object *params,
    struct session *s, struct proto_error *e)
{
	msgpack_sbuffer	sb;
	msgpack_packer	pk;

	rpc_result_begin(k, &sb, &pk);
	proto_pack_str(&pk, "pong");
	rpc_result_end(k, &sb);
	return 0;
}

int
rpc_sys_version(struct client *c, struct call *k, const msgpack_object *params,
    struct session *s, struct proto_error *e)
{
	msgpack_sbuffer	sb;
	msgpack_packer	pk;

	rpc_result_begin(k, &sb, &pk);
	msgpack_pack_map(&pk, 2);
	proto_pack_key(&pk, "version");
	proto_pack_str(&pk, HELIX_VERSION);
	proto_pack_key(&pk, "protocol");
	msgpack_pack_uint32(&pk, PROTO_VERSION);
	rpc_result_end(k, &sb);
	return 0;
}

static void
pack_u64(msgpack_packer *pk, const char *key, uint64_t v)
{
	proto_pack_key(pk, key);
	msgpack_pack_uint64(pk, v);
}

int
rpc_sys_stats(struct client *c, struct call *k, const msgpack_object *params,
    struct session *s, struct proto_error *e)
{
	const struct rpc_method	 *m;
	const char		**names;
	msgpack_sbuffer		  sb;
	msgpack_packer		  pk;
	size_t			  i, n, nev;

	n = rpc_methods(&m);
	nev = telemetry_names(&names);
	rpc_result_begin(k, &sb, &pk);
	msgpack_pack_map(&pk, 16);
	proto_pack_key(&pk, "restart_throttle_ms");
	msgpack_pack_uint32(&pk, srv->grs.backoff_ms);
	pack_u64(&pk, "restarts_throttled_total", srv->st.restarts_throttled);
	pack_u64(&pk, "sessions_live", srv->nlive);
	pack_u64(&pk, "sessions_known", registry_count());
	pack_u64(&pk, "sessions_started_total", srv->st.sessions_started_total);
	pack_u64(&pk, "session_restarts_total", srv->st.session_restarts_total);
	pack_u64(&pk, "session_crashes_total", srv->st.session_crashes_total);
	pack_u64(&pk, "connections", srv->nclients);
	pack_u64(&pk, "connections_total", srv->st.connections_total);
	pack_u64(&pk, "requests_total", srv->st.requests_total);
	pack_u64(&pk, "errors_total", srv->st.errors_total);
	pack_u64(&pk, "protocol_errors_total", srv->st.protocol_errors);
	pack_u64(&pk, "slow_client_disconnects_total",
	    srv->st.slow_client_disconnects);
	proto_pack_key(&pk, "uptime_s");
	msgpack_pack_double(&pk, now_s() - srv->started_at);
	proto_pack_key(&pk, "events");
	msgpack_pack_map(&pk, nev);
	for (i = 0; i < nev; i++)
		pack_u64(&pk, names[i], srv->st.events[i]);
	proto_pack_key(&pk, "methods");
	msgpack_pack_map(&pk, n);
	for (i = 0; i < n; i++) {
		const struct method_stats *ms = m[i].stats;

		proto_pack_key(&pk, m[i].name);
		msgpack_pack_map(&pk, 4);
		pack_u64(&pk, "count", ms->count);
		pack_u64(&pk, "p50_us", rpc_stats_percentile(ms, 0.50));
		pack_u64(&pk, "p99_us", rpc_stats_percentile(ms, 0.99));
		pack_u64(&pk, "max_us", ms->max_us);
	}
	rpc_result_end(k, &sb);
	return 0;
}

int
rpc_sys_subscribe(struct client *c, struct call *k,
    const msgpack_object *params, struct session *s, struct proto_error *e)
{
	const msgpack_object	*p = proto_param(params, 0);
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	char			**pre = NULL;
	uint32_t		 i, n = 0;
	const char		*str;
	size_t			 len;

	if (p != NULL && !proto_is_nil(p)) {
		if (p->type != MSGPACK_OBJECT_ARRAY || p->via.array.size > 64)
			return proto_error_set(e, PC_INVALID_PARAMS,
			    "sys.subscribe: prefixes must be an array of at "
			    "most 64 strings");
		n = p->via.array.size;
		if ((pre = calloc(n + 1, sizeof(*pre))) == NULL)
			return proto_error_set(e, PC_OVERLOADED, "out of memory");
		for (i = 0; i < n; i++) {
			if (proto_get_str(&p->via.array.ptr[i], &str, &len) == -1 ||
			    len > 128 || (pre[i] = strndup(str, len)) == NULL) {
				uint32_t bad = i;

				while (i-- > 0)
					free(pre[i]);
				free(pre);
				return proto_error_set(e, PC_INVALID_PARAMS,
				    "sys.subscribe: prefix %u is not a string "
				    "of at most 128 bytes", bad);
			}
		}
	}
	for (i = 0; i < c->nprefixes; i++)
		free(c->prefixes[i]);
	free(c->prefixes);
	c->prefixes = pre;
	c->nprefixes = n;
	c->subscribed = true;
	rpc_result_begin(k, &sb, &pk);
	msgpack_pack_map(&pk, 0);
	rpc_result_end(k, &sb);
	return 0;
}

int
rpc_sys_shutdown(struct client *c, struct call *k, const msgpack_object *params,
    struct session *s, struct proto_error *e)
{
	msgpack_sbuffer	sb;
	msgpack_packer	pk;

	rpc_result_begin(k, &sb, &pk);
	msgpack_pack_map(&pk, 0);
	rpc_result_end(k, &sb);
	server_shutdown("sys.shutdown");
	return 0;
}
