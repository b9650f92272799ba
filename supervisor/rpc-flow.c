/*
 * rpc-flow.c: flow.* methods.  get/apply/history go to the flow's worker;
 * join/leave/status/list/close/delete are the master's, with help from the
 * worker where state lives there.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "supervisor/helixd.h"

/* params[i] as an optional uint: absent or nil leaves *has false. */
static int
opt_uint(const msgpack_object *params, uint32_t i, bool *has, uint64_t *v,
    const char *what, struct proto_error *e)
{
	const msgpack_object *o = proto_param(params, i);

	*has = false;
	if (o == NULL || proto_is_nil(o))
		return 0;
	if (proto_get_uint(o, v) == -1)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "%s must be a non-negative integer", what);
	*has = true;
	return 0;
}

/* Reply from a worker callback: the call is already off the queue. */
static void
done_reply(struct call *k, msgpack_sbuffer *sb)
{
	rpc_finish(k, sb);
	msgpack_sbuffer_destroy(sb);
}

static void
join_done(struct call *k, const msgpack_object *err,
    const msgpack_object *result)
{
	struct session		*s = k->s;
	struct client		*c = k->c;
	const msgpack_object	*ups;
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	uint64_t		 version = 0;
	bool			 complete = true, resync = false;
	uint32_t		 i;

	if (err != NULL) {
		rpc_relay(k, err, NULL);
		return;
	}
	if (c == NULL) {	/* the connection went away meanwhile */
		call_free(k);
		return;
	}
	proto_get_uint(proto_map_get(result, "version"), &version);
	proto_get_bool(proto_map_get(result, "complete"), &complete);
	ups = proto_map_get(result, "updates");
	/* Replay first: the reply to flow.join comes after its updates. */
	if (k->has_since && ups != NULL && ups->type == MSGPACK_OBJECT_ARRAY) {
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		for (i = 0; i < ups->via.array.size; i++) {
			sb.size = 0;
			proto_pack_notify_begin(&pk, "flow.update", 2);
			proto_pack_str(&pk, s->id);
			msgpack_pack_object(&pk, ups->via.array.ptr[i]);
			client_send_buf(c, sb.data, sb.size);
		}
		msgpack_sbuffer_destroy(&sb);
	}
	if (k->has_since && (!complete || k->since > version))
		resync = true;
	if (session_member_find(s, c) == NULL) {
		if (s->nmembers >= srv->cfg.max_clients_per_flow) {
			struct proto_error e;

			proto_error_set(&e, PC_MAX_CLIENTS_REACHED,
			    "flow %s already has %u clients "
			    "(max_clients_per_flow)", s->id, s->nmembers);
			k->s = NULL;	/* off the queue already: reply now */
			rpc_reply_error(k, &e);
			return;
		}
		session_member_add(s, c, k->client_id);
	}
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	proto_pack_result_begin(&pk, k->msgid);
	msgpack_pack_map(&pk, resync ? 4 : 3);
	proto_pack_key(&pk, "client_id");
	proto_pack_str(&pk, k->client_id);
	proto_pack_key(&pk, "client_count");
	msgpack_pack_uint32(&pk, s->nmembers);
	proto_pack_key(&pk, "version");
	msgpack_pack_uint64(&pk, version);
	if (resync) {
		proto_pack_key(&pk, "resync");
		msgpack_pack_true(&pk);
	}
	done_reply(k, &sb);
}

int
rpc_flow_join(struct client *c, struct call *k, const msgpack_object *params,
    struct session *s, struct proto_error *e)
{
	const msgpack_object	*cid = proto_param(params, 1);
	struct member		*m;
	msgpack_sbuffer		 sb;
	msgpack_packer		*pk;
	const char		*str;
	size_t			 len;

	if (cid == NULL || proto_is_nil(cid)) {
		snprintf(k->client_id, sizeof(k->client_id), "%s", c->anon_id);
	} else if (proto_get_str(cid, &str, &len) == -1) {
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "flow.join: client_id must be a string or nil");
	} else if (!proto_valid_client_id(str, len)) {
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "flow.join: client_id must be 1 to %d bytes of printable "
		    "ASCII without spaces", PROTO_CLIENT_ID_MAX);
	} else {
		memcpy(k->client_id, str, len);
		k->client_id[len] = '\0';
	}
	if (opt_uint(params, 2, &k->has_since, &k->since,
	    "flow.join: since_version", e) == -1)
		return -1;
	m = session_member_find(s, c);
	if (m == NULL && s->nmembers >= srv->cfg.max_clients_per_flow)
		return proto_error_set(e, PC_MAX_CLIENTS_REACHED,
		    "flow %s already has %u clients (max_clients_per_flow)",
		    s->id, s->nmembers);
	if (m != NULL)	/* joining again keeps the first client id */
		snprintf(k->client_id, sizeof(k->client_id), "%s",
		    m->client_id);
	k->done = join_done;
	pk = session_call_packer(k, "w.sync", 1, &sb);
	if (k->has_since)
		msgpack_pack_uint64(pk, k->since);
	else
		msgpack_pack_nil(pk);
	return session_submit(s, k, &sb, e);
}

int
rpc_flow_leave(struct client *c, struct call *k, const msgpack_object *params,
    struct session *s, struct proto_error *e)
{
	struct member	*m;
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;

	if (s == NULL || (m = session_member_find(s, c)) == NULL)
		return proto_error_set(e, PC_NOT_JOINED,
		    "this connection has not joined flow %.*s",
		    (int)proto_param(params, 0)->via.str.size,
		    proto_param(params, 0)->via.str.ptr);
	session_member_remove(m, true);
	rpc_result_begin(k, &sb, &pk);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "client_count");
	msgpack_pack_uint32(&pk, s->nmembers);
	rpc_result_end(k, &sb);
	registry_gc(s);
	return 0;
}

/* get, apply, history: straight to the worker; the answer is relayed. */
int
rpc_flow_get(struct client *c, struct call *k, const msgpack_object *params,
    struct session *s, struct proto_error *e)
{
	msgpack_sbuffer sb;

	session_call_packer(k, "flow.get", 0, &sb);
	return session_submit(s, k, &sb, e);
}

int
rpc_flow_apply(struct client *c, struct call *k, const msgpack_object *params,
    struct session *s, struct proto_error *e)
{
	const msgpack_object	*ops = proto_param(params, 1);
	struct member		*m;
	msgpack_sbuffer		 sb;
	msgpack_packer		*pk;
	uint64_t		 base;
	bool			 has_base;

	if (ops->type != MSGPACK_OBJECT_ARRAY)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "flow.apply: ops must be an array");
	if (opt_uint(params, 2, &has_base, &base,
	    "flow.apply: base_version", e) == -1)
		return -1;
	pk = session_call_packer(k, "flow.apply", 3, &sb);
	msgpack_pack_object(pk, *ops);
	if (has_base)
		msgpack_pack_uint64(pk, base);
	else
		msgpack_pack_nil(pk);
	/* origin: the id under which this connection joined, or nil */
	if ((m = session_member_find(s, c)) != NULL)
		proto_pack_str(pk, m->client_id);
	else
		msgpack_pack_nil(pk);
	return session_submit(s, k, &sb, e);
}

int
rpc_flow_history(struct client *c, struct call *k, const msgpack_object *params,
    struct session *s, struct proto_error *e)
{
	msgpack_sbuffer	sb;
	msgpack_packer	*pk;
	uint64_t	since;
	bool		has;

	if (opt_uint(params, 1, &has, &since, "flow.history: since_version",
	    e) == -1)
		return -1;
	if (!has)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "flow.history: since_version is required");
	pk = session_call_packer(k, "flow.history", 1, &sb);
	msgpack_pack_uint64(pk, since);
	return session_submit(s, k, &sb, e);
}

/* Status of a flow with no session in memory: from the store. */
static void
pack_stored_status(msgpack_packer *pk, const char *id, uint64_t version,
    double updated_at)
{
	msgpack_pack_map(pk, 7);
	proto_pack_key(pk, "flow_id");
	proto_pack_str(pk, id);
	proto_pack_key(pk, "active");
	msgpack_pack_false(pk);
	proto_pack_key(pk, "state");
	proto_pack_str(pk, "hibernated");
	proto_pack_key(pk, "client_count");
	msgpack_pack_uint32(pk, 0);
	proto_pack_key(pk, "version");
	msgpack_pack_uint64(pk, version);
	proto_pack_key(pk, "last_activity");
	msgpack_pack_double(pk, updated_at);
	proto_pack_key(pk, "restarts");
	msgpack_pack_uint32(pk, 0);
}

int
rpc_flow_status(struct client *c, struct call *k, const msgpack_object *params,
    struct session *s, struct proto_error *e)
{
	const msgpack_object	*p0 = proto_param(params, 0);
	char			 id[PROTO_FLOW_ID_MAX + 1];
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	uint64_t		 version = 0;
	double			 at = 0;
	bool			 found = false;

	rpc_result_begin(k, &sb, &pk);
	if (s != NULL) {
		session_pack_status(s, &pk);
	} else {
		memcpy(id, p0->via.str.ptr, p0->via.str.size);
		id[p0->via.str.size] = '\0';
		if (master_store_meta(id, &found, &version, &at) != 0) {
			msgpack_sbuffer_destroy(&sb);
			return proto_error_set(e, PC_STORAGE_ERROR,
			    "cannot read the state of flow %s", id);
		}
		pack_stored_status(&pk, id, version, at);
	}
	rpc_result_end(k, &sb);
	return 0;
}

struct list_ctx {
	msgpack_packer	*pk;
	uint32_t	 n;
};

static int
list_stored(void *arg, const char *id, uint64_t version, double at)
{
	struct list_ctx *lc = arg;

	struct session *s = registry_find(id);

	if (s != NULL && s->state != S_NONE && s->state != S_HIBERNATED)
		return 0;	/* listed with the live ones */
	pack_stored_status(lc->pk, id, version, at);
	lc->n++;
	return 0;
}

int
rpc_flow_list(struct client *c, struct call *k, const msgpack_object *params,
    struct session *s, struct proto_error *e)
{
	const msgpack_object	*opt = proto_param(params, 0);
	struct session		*t, *tt;
	struct list_ctx		 lc = { 0 };
	msgpack_sbuffer		 sb, stored;
	msgpack_packer		 pk, spk;
	bool			 all = false;
	uint32_t		 n = 0;

	if (opt != NULL && !proto_is_nil(opt)) {
		const msgpack_object *a = proto_map_get(opt, "all");

		if (opt->type != MSGPACK_OBJECT_MAP ||
		    (a != NULL && proto_get_bool(a, &all) == -1))
			return proto_error_set(e, PC_INVALID_PARAMS,
			    "flow.list: the option must be {\"all\": bool}");
	}
	HASH_ITER(hh, srv->sessions, t, tt) {
		if (t->state != S_NONE && t->state != S_HIBERNATED)
			n++;
	}
	/*
	 * One walk of the store, packed aside while counting: workers in
	 * other processes commit between two walks, and the array header
	 * must match what follows it.
	 */
	msgpack_sbuffer_init(&stored);
	msgpack_packer_init(&spk, &stored, msgpack_sbuffer_write);
	if (all) {
		lc.pk = &spk;
		if (master_store_list(list_stored, &lc) != 0) {
			msgpack_sbuffer_destroy(&stored);
			return proto_error_set(e, PC_STORAGE_ERROR,
			    "cannot list stored flows");
		}
	}
	rpc_result_begin(k, &sb, &pk);
	msgpack_pack_array(&pk, n + lc.n);
	HASH_ITER(hh, srv->sessions, t, tt) {
		if (t->state != S_NONE && t->state != S_HIBERNATED)
			session_pack_status(t, &pk);
	}
	msgpack_sbuffer_write(&sb, stored.data, stored.size);
	msgpack_sbuffer_destroy(&stored);
	rpc_result_end(k, &sb);
	return 0;
}

int
rpc_flow_close(struct client *c, struct call *k, const msgpack_object *params,
    struct session *s, struct proto_error *e)
{
	msgpack_sbuffer	sb;
	msgpack_packer	pk;
	uint32_t	n = 0;

	if (s != NULL) {
		n = session_closed_notify(s, "closed");
		session_stop(s, NULL);
	}
	rpc_result_begin(k, &sb, &pk);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "client_count");
	msgpack_pack_uint32(&pk, n);
	rpc_result_end(k, &sb);
	if (s != NULL)
		registry_gc(s);
	return 0;
}

static void
delete_done(struct call *k, const msgpack_object *err,
    const msgpack_object *result)
{
	struct session	*s = k->s;
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	bool		 deleted = false;

	if (err != NULL) {
		/* Nothing was erased and the worker lives on. */
		session_resume(s);
		rpc_relay(k, err, NULL);
		return;
	}
	proto_get_bool(proto_map_get(result, "deleted"), &deleted);
	/* The worker exits after a delete: expected, not a crash. */
	session_expect_exit(s, "deleted");
	s->deleting = true;
	s->version = 0;
	s->fanned = 0;
	session_closed_notify(s, "deleted");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	proto_pack_result_begin(&pk, k->msgid);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "deleted");
	if (deleted)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	done_reply(k, &sb);
}

int
rpc_flow_delete(struct client *c, struct call *k, const msgpack_object *params,
    struct session *s, struct proto_error *e)
{
	const msgpack_object	*p0 = proto_param(params, 0);
	char			 id[PROTO_FLOW_ID_MAX + 1];
	msgpack_sbuffer		 sb;

	/* Works in every state: a failed flow is started just to erase it. */
	if (s == NULL) {
		memcpy(id, p0->via.str.ptr, p0->via.str.size);
		id[p0->via.str.size] = '\0';
		if ((s = registry_get(id)) == NULL)
			return proto_error_set(e, PC_OVERLOADED,
			    "out of memory");
		k->s = s;
	}
	if (s->state == S_FAILED) {
		s->failed_until = 0;
		s->rs.n = 0;
	}
	k->done = delete_done;
	k->last = true;		/* the worker exits after a delete */
	/* Started just for this: it must not need to read the flow. */
	if ((!session_live(s) || s->state == S_RESTARTING) && s->ncalls == 0)
		s->no_restore = true;
	session_call_packer(k, "w.delete", 0, &sb);
	if (session_submit(s, k, &sb, e) == -1) {
		s->no_restore = false;
		registry_gc(s);
		return -1;
	}
	return 0;
}
