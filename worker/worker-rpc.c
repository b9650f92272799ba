/*
 * worker-rpc.c: the methods helixd calls on helix-worker (the table in
 * docs/architecture.md, "Master <-> worker messages").
 *
 * One table of methods with their arity; the arity and unknown_method
 * checks live once, in worker_dispatch.  A handler either packs its whole
 * answer (envelope included) into w->pk and returns 0, or returns -1 with
 * e filled and the dispatcher packs the error.  Every answer goes to
 * w->pending; worker.c decides when pending reaches the master (after the
 * batch's fsync in sync mode full).
 */
#include <sys/types.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <msgpack.h>

#include "common/log.h"
#include "proto/proto.h"
#include "worker/flow.h"
#include "worker/store.h"
#include "worker/worker.h"

struct rpc_method {
	const char	*name;
	uint32_t	 min_params;
	uint32_t	 max_params;
	int		(*handler)(struct worker *, uint32_t msgid,
			    const msgpack_object *params,
			    struct proto_error *e);
};

static double
now_unix(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Optional uint parameter: absent and nil read as "none". */
static int
param_opt_uint(const msgpack_object *params, uint32_t i, bool *present,
    uint64_t *v, const char *name, struct proto_error *e)
{
	const msgpack_object *o = proto_param(params, i);

	*present = false;
	*v = 0;
	if (o == NULL || proto_is_nil(o))
		return 0;
	if (proto_get_uint(o, v) != 0)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "%s must be a non-negative integer or nil", name);
	*present = true;
	return 0;
}

static int
storage_error(struct worker *w, int rc, const char *what,
    struct proto_error *e)
{
	log_event(HLOG_ERROR, w->flow_id, "store.error",
	    " op=%s status=%d error=%s", what, rc,
	    log_q(store_errmsg(w->store)));
	return proto_error_set(e, rc == STORE_FULL ? PC_STORAGE_FULL :
	    PC_STORAGE_ERROR, "%s: %s", what, store_errmsg(w->store));
}

/* {"updates": [...], "complete": bool} (plus what the caller adds first) */
static void
pack_updates(struct worker *w, const struct store_updates *u)
{
	proto_pack_key(&w->pk, "updates");
	msgpack_pack_array(&w->pk, u->count);
	if (u->len > 0 && evbuffer_add(w->pending, u->buf, u->len) != 0)
		w->pk_failed = true;
	proto_pack_key(&w->pk, "complete");
	if (u->complete)
		msgpack_pack_true(&w->pk);
	else
		msgpack_pack_false(&w->pk);
}

/* msgpack_sbuffer_write, but a short buffer is never stored. */
static int
update_write(void *data, const char *buf, size_t len)
{
	if (msgpack_sbuffer_write(data, buf, len) != 0)
		fatalx("out of memory encoding an update");
	return 0;
}

/* ---- flow.* --------------------------------------------------------- */

static int
rpc_flow_get(struct worker *w, uint32_t msgid, const msgpack_object *params,
    struct proto_error *e)
{
	proto_pack_result_begin(&w->pk, msgid);
	flow_pack(w->flow, &w->pk);
	return 0;
}

static int
rpc_flow_apply(struct worker *w, uint32_t msgid, const msgpack_object *params,
    struct proto_error *e)
{
	const msgpack_object *ops = proto_param(params, 0);
	const msgpack_object *origin = proto_param(params, 2);
	const char *org = NULL;
	size_t orglen = 0;
	uint64_t base, cur, version;
	bool has_base;
	int rc;

	if (ops == NULL || ops->type != MSGPACK_OBJECT_ARRAY)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "ops must be an array");
	if (param_opt_uint(params, 1, &has_base, &base, "base_version",
	    e) != 0)
		return -1;
	if (origin != NULL && !proto_is_nil(origin) &&
	    (proto_get_str(origin, &org, &orglen) != 0 ||
	    !proto_valid_client_id(org, orglen)))
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "origin must be a client id or nil");
	cur = flow_version(w->flow);
	if (has_base && base != cur) {
		proto_error_set(e, PC_CONFLICT,
		    "base_version %" PRIu64 " is not the current version %"
		    PRIu64, base, cur);
		proto_error_extra(e, "version", (int64_t)cur);
		return -1;
	}
	if (flow_apply(w->flow, ops, &w->limits, e) != 0)
		return -1;
	version = flow_version(w->flow);

	/* Encoded once: stored in history and sent as w.update. */
	{
		msgpack_packer up;

		msgpack_sbuffer_clear(&w->update);
		msgpack_packer_init(&up, &w->update, update_write);
		store_pack_update(&up, version, ops, org, orglen);
	}
	rc = store_commit_apply(w->store, w->flow, w->update.data,
	    w->update.size, now_unix());
	if (rc != STORE_OK) {
		/* Memory must equal disk again: nothing was applied. */
		storage_error(w, rc, "commit", e);
		if (worker_load(w) != STORE_OK)
			worker_fatal_store(w, "reload after a failed commit");
		return -1;
	}
	w->batch_commits++;
	w->unsynced++;
	w->dirty = true;
	log_event(HLOG_DEBUG, w->flow_id, "flow.apply",
	    " version=%" PRIu64 " ops=%" PRIu32 " bytes=%zu", version,
	    ops->via.array.size, w->update.size);

	proto_pack_notify_begin(&w->pk, "w.update", 1);
	if (evbuffer_add(w->pending, w->update.data, w->update.size) != 0)
		w->pk_failed = true;
	proto_pack_result_begin(&w->pk, msgid);
	msgpack_pack_map(&w->pk, 1);
	proto_pack_key(&w->pk, "version");
	msgpack_pack_uint64(&w->pk, version);
	if (w->update.alloc > 4 * 1024 * 1024) {
		msgpack_sbuffer_destroy(&w->update);
		msgpack_sbuffer_init(&w->update);
	}
	return 0;
}

static int
rpc_flow_history(struct worker *w, uint32_t msgid,
    const msgpack_object *params, struct proto_error *e)
{
	struct store_updates u;
	uint64_t since;
	int rc;

	if (proto_get_uint(proto_param(params, 0), &since) != 0)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "since_version must be a non-negative integer");
	rc = store_history(w->store, w->flow_id, since, w->max_reply_bytes,
	    &u);
	if (rc != STORE_OK)
		return storage_error(w, rc, "history", e);
	proto_pack_result_begin(&w->pk, msgid);
	msgpack_pack_map(&w->pk, 2);
	pack_updates(w, &u);
	store_updates_free(&u);
	return 0;
}

/* ---- w.* ------------------------------------------------------------ */

static int
rpc_w_sync(struct worker *w, uint32_t msgid, const msgpack_object *params,
    struct proto_error *e)
{
	struct store_updates u;
	uint64_t since;
	bool has_since;
	int rc;

	if (param_opt_uint(params, 0, &has_since, &since, "since_version",
	    e) != 0)
		return -1;
	memset(&u, 0, sizeof(u));
	u.complete = true;	/* nothing was asked for */
	if (has_since && (rc = store_history(w->store, w->flow_id, since,
	    w->max_reply_bytes, &u)) != STORE_OK)
		return storage_error(w, rc, "history", e);
	proto_pack_result_begin(&w->pk, msgid);
	msgpack_pack_map(&w->pk, 3);
	proto_pack_key(&w->pk, "version");
	msgpack_pack_uint64(&w->pk, flow_version(w->flow));
	pack_updates(w, &u);
	store_updates_free(&u);
	return 0;
}

/* Resident set size from /proc/self/statm; 0 when unknown. */
static uint64_t
rss_bytes(void)
{
	unsigned long size, resident;
	long page = sysconf(_SC_PAGESIZE);
	FILE *fp;
	int n;

	if ((fp = fopen("/proc/self/statm", "re")) == NULL)
		return 0;
	n = fscanf(fp, "%lu %lu", &size, &resident);
	fclose(fp);
	if (n != 2 || page <= 0)
		return 0;
	return (uint64_t)resident * (uint64_t)page;
}

static int
rpc_w_status(struct worker *w, uint32_t msgid, const msgpack_object *params,
    struct proto_error *e)
{
	proto_pack_result_begin(&w->pk, msgid);
	msgpack_pack_map(&w->pk, 3);
	proto_pack_key(&w->pk, "version");
	msgpack_pack_uint64(&w->pk, flow_version(w->flow));
	proto_pack_key(&w->pk, "pid");
	msgpack_pack_int64(&w->pk, (int64_t)getpid());
	proto_pack_key(&w->pk, "rss_bytes");
	msgpack_pack_uint64(&w->pk, rss_bytes());
	return 0;
}

static int
rpc_w_ping(struct worker *w, uint32_t msgid, const msgpack_object *params,
    struct proto_error *e)
{
	proto_pack_result_begin(&w->pk, msgid);
	proto_pack_str(&w->pk, "pong");
	return 0;
}

static int
rpc_w_stop(struct worker *w, uint32_t msgid, const msgpack_object *params,
    struct proto_error *e)
{
	proto_pack_result_begin(&w->pk, msgid);
	msgpack_pack_map(&w->pk, 0);
	w->stop = true;
	w->exit_status = WORKER_EXIT_OK;
	log_event(HLOG_INFO, w->flow_id, "worker.stop", " reason=stop");
	return 0;
}

static int
rpc_w_delete(struct worker *w, uint32_t msgid, const msgpack_object *params,
    struct proto_error *e)
{
	bool existed;
	int rc;

	if ((rc = store_delete(w->store, w->flow_id, &existed)) != STORE_OK)
		return storage_error(w, rc, "delete", e);
	w->batch_commits++;
	w->unsynced++;
	w->dirty = true;
	proto_pack_result_begin(&w->pk, msgid);
	msgpack_pack_map(&w->pk, 1);
	proto_pack_key(&w->pk, "deleted");
	if (existed)
		msgpack_pack_true(&w->pk);
	else
		msgpack_pack_false(&w->pk);
	w->stop = true;
	w->exit_status = WORKER_EXIT_OK;
	log_event(HLOG_INFO, w->flow_id, "worker.stop",
	    " reason=delete existed=%s", existed ? "true" : "false");
	return 0;
}

static const struct rpc_method rpc_methods[] = {
	{ "flow.get",		0, 0, rpc_flow_get },
	{ "flow.apply",		1, 3, rpc_flow_apply },
	{ "flow.history",	1, 1, rpc_flow_history },
	{ "w.sync",		0, 1, rpc_w_sync },
	{ "w.status",		0, 0, rpc_w_status },
	{ "w.ping",		0, 0, rpc_w_ping },
	{ "w.stop",		0, 0, rpc_w_stop },
	{ "w.delete",		0, 0, rpc_w_delete },
};

/* The msgid of an array message [type, msgid, ...], when it has one. */
static bool
raw_msgid(const msgpack_object *o, uint32_t *msgid)
{
	uint64_t v;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size < 2 ||
	    proto_get_uint(&o->via.array.ptr[1], &v) != 0 || v > UINT32_MAX)
		return false;
	*msgid = (uint32_t)v;
	return true;
}

int
worker_dispatch(struct worker *w, const msgpack_object *o)
{
	const struct rpc_method *rm = NULL;
	struct proto_error e;
	struct proto_msg m;
	bool has_msgid;
	uint32_t msgid;

	memset(&e, 0, sizeof(e));
	if (proto_msg_parse(o, &m, &e, &has_msgid) != 0) {
		/* Answer what can be answered, like helixd does for clients. */
		if (!has_msgid || !raw_msgid(o, &msgid))
			goto bad;
		log_event(HLOG_WARN, w->flow_id, "master.invalid",
		    " msgid=%" PRIu32 " error=%s", msgid, log_q(e.message));
		proto_pack_error(&w->pk, msgid, &e);
		return 0;
	}
	if (m.type != PROTO_REQUEST) {
		proto_error_set(&e, PC_INVALID_REQUEST,
		    "the master sends only requests");
		goto bad;
	}
	for (size_t i = 0; i < sizeof(rpc_methods) / sizeof(rpc_methods[0]);
	    i++) {
		if (proto_method_is(&m, rpc_methods[i].name)) {
			rm = &rpc_methods[i];
			break;
		}
	}
	if (rm == NULL) {
		int len = m.method_len > 64 ? 64 : (int)m.method_len;

		proto_error_set(&e, PC_UNKNOWN_METHOD, "unknown method %.*s",
		    len, m.method);
	} else if (proto_params_arity(m.params, rm->min_params,
	    rm->max_params, &e) == 0 &&
	    rm->handler(w, m.msgid, m.params, &e) == 0)
		return 0;
	proto_pack_error(&w->pk, m.msgid, &e);
	return 0;
bad:
	log_event(HLOG_ERROR, w->flow_id, "master.protocol_error",
	    " error=%s", log_q(e.message));
	return -1;
}
