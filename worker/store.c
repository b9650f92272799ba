/*
 * store.c: the LMDB store (store.h; docs/architecture.md, "Storage").
 *
 * Every write goes through store_write(), which owns the LMDB retry rules:
 * MDB_MAP_RESIZED at mdb_txn_begin (another process grew the map) adopts the
 * new size; MDB_MAP_FULL anywhere in the transaction aborts it, doubles the
 * map and runs the whole transaction again.  The values are encoded before
 * the transaction starts (a due snapshot too, when the snapshot version of
 * the flow is known from its last load or commit), so a retry costs only
 * the puts.
 */
#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <lmdb.h>
#include <msgpack.h>

#include "proto/proto.h"
#include "worker/flow.h"
#include "worker/store.h"

#define STORE_OPEN_TRIES	20	/* mdb_env_open EAGAIN retries */
#define STORE_RESIZED_TRIES	100	/* MDB_MAP_RESIZED in a row */
#define STORE_KEY_MAX		(PROTO_FLOW_ID_MAX + 1 + 8)
#define STORE_SBUF_KEEP		((size_t)4 << 20) /* keep a smaller buffer */
#define STORE_META_DEPTH	4
#define STORE_META_MAX		128	/* bytes of an encoded meta value */

/*
 * A snapshot is written by the apply that reaches STORE_SNAPSHOT_EVERY
 * (store.h) versions past the stored snapshot (none: version 0); the
 * applies in between store only their history entry, the delta.
 * store_load replays the entries after the snapshot, fewer than
 * STORE_SNAPSHOT_EVERY.
 */

struct store {
	MDB_env		*env;
	MDB_dbi		 snapshots;
	MDB_dbi		 history;
	MDB_dbi		 meta;
	int		 flags;
	size_t		 map_max;
	unsigned int	 history_length;
	msgpack_sbuffer	 snap;		/* the snapshot being committed */
	/*
	 * The snapshot version last seen for one flow (store_load, commits),
	 * so store_commit_apply can encode a due snapshot before its write
	 * transaction.  Only a hint: the transaction decides from meta.
	 */
	bool		 hint_ok;
	uint64_t	 hint_snap;
	char		 hint_id[PROTO_FLOW_ID_MAX + 1];
	char		 err[512];
};

/* A msgpack_sbuffer writer that remembers an allocation failure. */
struct sbuf_writer {
	msgpack_sbuffer	*sbuf;
	bool		 failed;
};

static int
sbuf_write(void *data, const char *buf, size_t len)
{
	struct sbuf_writer *w = data;

	if (w->failed)
		return -1;
	if (msgpack_sbuffer_write(w->sbuf, buf, len) != 0) {
		w->failed = true;
		return -1;
	}
	return 0;
}

/* A writer into a small fixed buffer. */
struct fixbuf {
	char	 buf[STORE_META_MAX];
	size_t	 len;
	bool	 failed;
};

static int
fixbuf_write(void *data, const char *buf, size_t len)
{
	struct fixbuf *b = data;

	if (b->failed || len > sizeof(b->buf) - b->len) {
		b->failed = true;
		return -1;
	}
	memcpy(b->buf + b->len, buf, len);
	b->len += len;
	return 0;
}

static int __attribute__((format(printf, 3, 4)))
store_fail(struct store *s, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	return status;
}

const char *
store_errmsg(const struct store *s)
{
	return s->err[0] != '\0' ? s->err : "no error";
}

void
store_opts_default(struct store_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->map_size = STORE_MAP_SIZE_DEFAULT;
	o->max_readers = STORE_MAX_READERS_DEFAULT;
	o->history_length = STORE_HISTORY_DEFAULT;
}

/* ---- keys and values ------------------------------------------------ */

static bool
key_valid(const char *flow_id)
{
	size_t len = strlen(flow_id);

	return len > 0 && len <= PROTO_FLOW_ID_MAX;
}

static void
be64_put(unsigned char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static uint64_t
be64_get(const unsigned char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | p[i];
	return v;
}

/* history key: flow id, NUL, big-endian version */
static MDB_val
hkey(unsigned char *buf, const char *flow_id, uint64_t version)
{
	size_t len = strlen(flow_id);
	MDB_val k;

	memcpy(buf, flow_id, len);
	buf[len] = '\0';
	be64_put(buf + len + 1, version);
	k.mv_data = buf;
	k.mv_size = len + 1 + 8;
	return k;
}

/* Is k a history key of this flow?  Then *version is its version. */
static bool
hkey_match(const MDB_val *k, const char *flow_id, uint64_t *version)
{
	size_t len = strlen(flow_id);
	const unsigned char *p = k->mv_data;

	if (k->mv_size != len + 1 + 8 || memcmp(p, flow_id, len) != 0 ||
	    p[len] != '\0')
		return false;
	*version = be64_get(p + len + 1);
	return true;
}

static MDB_val
skey(const char *flow_id)
{
	MDB_val k;

	k.mv_data = (void *)(uintptr_t)flow_id;
	k.mv_size = strlen(flow_id);
	return k;
}

/* Decode one stored msgpack value of exactly v->mv_size bytes. */
static int
value_unpack(const MDB_val *v, unsigned depth, msgpack_unpacked *res)
{
	size_t off = 0;

	if (v->mv_size == 0 ||
	    proto_scan(v->mv_data, v->mv_size, v->mv_size, depth) !=
	    (long)v->mv_size)
		return -1;
	msgpack_unpacked_init(res);
	if (msgpack_unpack_next(res, v->mv_data, v->mv_size, &off) !=
	    MSGPACK_UNPACK_SUCCESS || off != v->mv_size) {
		msgpack_unpacked_destroy(res);
		return -1;
	}
	return 0;
}

/*
 * meta: {"version", "updated_at", "snapshot"}; "snapshot" is the version of
 * the stored snapshot (0: none, the flow starts empty).  A meta without it
 * (written before snapshots became periodic) has its snapshot at "version".
 */
static int
meta_decode(const MDB_val *v, uint64_t *version, double *updated_at,
    uint64_t *snapshot)
{
	msgpack_unpacked res;
	const msgpack_object *o;
	int rc = 0;

	if (value_unpack(v, STORE_META_DEPTH, &res) != 0)
		return -1;
	if (proto_get_uint(proto_map_get(&res.data, "version"), version) != 0 ||
	    proto_get_double(proto_map_get(&res.data, "updated_at"),
	    updated_at) != 0)
		rc = -1;
	else if (snapshot != NULL) {
		o = proto_map_get(&res.data, "snapshot");
		if (o == NULL)
			*snapshot = *version;
		else if (proto_get_uint(o, snapshot) != 0 ||
		    *snapshot > *version)
			rc = -1;
	}
	msgpack_unpacked_destroy(&res);
	return rc;
}

static void
hint_set(struct store *s, const char *flow_id, uint64_t snapshot)
{
	snprintf(s->hint_id, sizeof(s->hint_id), "%s", flow_id);
	s->hint_snap = snapshot;
	s->hint_ok = true;
}

void
store_pack_update(msgpack_packer *pk, uint64_t version,
    const msgpack_object *ops, const char *origin, size_t originlen)
{
	msgpack_pack_map(pk, 3);
	proto_pack_key(pk, "version");
	msgpack_pack_uint64(pk, version);
	proto_pack_key(pk, "ops");
	msgpack_pack_object(pk, *ops);
	proto_pack_key(pk, "origin");
	if (origin != NULL)
		proto_pack_strn(pk, origin, originlen);
	else
		msgpack_pack_nil(pk);
}

/* ---- environment ---------------------------------------------------- */

static int
mkdir_if_missing(const char *path, char *err, size_t errlen)
{
	if (mkdir(path, 0700) == 0 || errno == EEXIST)
		return 0;
	snprintf(err, errlen, "mkdir %s: %s", path, strerror(errno));
	return -1;
}

/* The map size that MDB_MAP_FULL may grow to. */
static size_t
map_cap(const struct store_opts *o, size_t map_size)
{
	uint64_t cap = STORE_MAP_SIZE_CAP;

	if (o->map_size_max != 0)
		return o->map_size_max > map_size ? o->map_size_max : map_size;
	if (map_size > SIZE_MAX / 16)
		return SIZE_MAX;
	if ((uint64_t)map_size * 16 > cap)
		cap = (uint64_t)map_size * 16;
	return cap > SIZE_MAX ? SIZE_MAX : (size_t)cap;
}

static int
env_open(struct store *s, const char *path, unsigned int flags,
    size_t map_size, unsigned int max_readers, char *err, size_t errlen)
{
	MDB_envinfo info;
	int rc;

	for (int attempt = 0;; attempt++) {
		if ((rc = mdb_env_create(&s->env)) != 0) {
			snprintf(err, errlen, "mdb_env_create: %s",
			    mdb_strerror(rc));
			s->env = NULL;
			return -1;
		}
		mdb_env_set_maxdbs(s->env, 4);
		mdb_env_set_maxreaders(s->env, max_readers);
		mdb_env_set_mapsize(s->env, map_size);
		rc = mdb_env_open(s->env, path, flags | MDB_NOSYNC, 0600);
		if (rc == 0)
			break;
		mdb_env_close(s->env);
		s->env = NULL;
		if (rc == EAGAIN && attempt < STORE_OPEN_TRIES) {
			/* another process opens or closes at this instant */
			struct timespec ts = { 0, 5000000L * (attempt + 1) };

			nanosleep(&ts, NULL);
			continue;
		}
		snprintf(err, errlen, "mdb_env_open %s: %s", path,
		    mdb_strerror(rc));
		return rc == ENOENT ? -2 : -1;
	}
	/*
	 * Take the larger of our size and the one recorded by the last
	 * committer, so every worker does not rediscover MDB_MAP_FULL.
	 */
	if (mdb_env_set_mapsize(s->env, 0) == 0 &&
	    mdb_env_info(s->env, &info) == 0 && info.me_mapsize < map_size)
		mdb_env_set_mapsize(s->env, map_size);
	return 0;
}

static int
dbs_open(struct store *s, bool create, char *err, size_t errlen)
{
	static const char *const names[] = { "snapshots", "history", "meta" };
	MDB_dbi *dbis[] = { &s->snapshots, &s->history, &s->meta };
	MDB_txn *txn;
	int rc;

	for (int tries = 0;; tries++) {
		rc = mdb_txn_begin(s->env, NULL, create ? 0 : MDB_RDONLY, &txn);
		if (rc == MDB_MAP_RESIZED && tries < STORE_RESIZED_TRIES &&
		    mdb_env_set_mapsize(s->env, 0) == 0)
			continue;
		if (rc != 0) {
			snprintf(err, errlen, "mdb_txn_begin: %s",
			    mdb_strerror(rc));
			return -1;
		}
		break;
	}
	for (size_t i = 0; i < 3; i++) {
		rc = mdb_dbi_open(txn, names[i], create ? MDB_CREATE : 0,
		    dbis[i]);
		if (rc != 0) {
			mdb_txn_abort(txn);
			snprintf(err, errlen, "mdb_dbi_open %s: %s", names[i],
			    mdb_strerror(rc));
			return rc == MDB_NOTFOUND ? -2 : -1;
		}
	}
	/* A read-only commit keeps the handles too. */
	if ((rc = mdb_txn_commit(txn)) != 0) {
		snprintf(err, errlen, "mdb_txn_commit: %s", mdb_strerror(rc));
		return -1;
	}
	return 0;
}

static int
store_open1(struct store *s, const char *path, bool rdonly, size_t map_size,
    unsigned int max_readers, char *err, size_t errlen)
{
	int rc;

	rc = env_open(s, path, rdonly ? MDB_RDONLY : 0, map_size, max_readers,
	    err, errlen);
	if (rc != 0)
		return rc;
	if ((rc = dbs_open(s, !rdonly, err, errlen)) != 0) {
		mdb_env_close(s->env);
		s->env = NULL;
	}
	return rc;
}

int
store_open(struct store **out, const char *state_dir,
    const struct store_opts *opts, char *err, size_t errlen)
{
	struct store_opts def;
	struct store *s;
	char path[PATH_MAX];
	size_t map_size;
	unsigned int max_readers;
	int dead, rc;

	*out = NULL;
	if (opts == NULL) {
		store_opts_default(&def);
		opts = &def;
	}
	map_size = opts->map_size != 0 ? opts->map_size :
	    STORE_MAP_SIZE_DEFAULT;
	max_readers = opts->max_readers != 0 ? opts->max_readers :
	    STORE_MAX_READERS_DEFAULT;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", state_dir,
	    STORE_DIRNAME) >= sizeof(path)) {
		snprintf(err, errlen, "state directory path too long");
		return STORE_ERROR;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return STORE_ERROR;
	}
	s->flags = opts->flags;
	s->map_max = map_cap(opts, map_size);
	s->history_length = opts->history_length;
	msgpack_sbuffer_init(&s->snap);

	if (opts->flags & STORE_RDONLY) {
		rc = store_open1(s, path, true, map_size, max_readers, err,
		    errlen);
		if (rc == -2) {
			/* Not created yet: create it once, then reopen. */
			if (mkdir_if_missing(state_dir, err, errlen) != 0 ||
			    mkdir_if_missing(path, err, errlen) != 0)
				goto fail;
			if (store_open1(s, path, false, map_size, max_readers,
			    err, errlen) != 0)
				goto fail;
			mdb_env_close(s->env);
			s->env = NULL;
			rc = store_open1(s, path, true, map_size, max_readers,
			    err, errlen);
		}
		if (rc != 0)
			goto fail;
	} else {
		if (mkdir_if_missing(state_dir, err, errlen) != 0 ||
		    mkdir_if_missing(path, err, errlen) != 0)
			goto fail;
		if (store_open1(s, path, false, map_size, max_readers, err,
		    errlen) != 0)
			goto fail;
	}
	/* Slots left by processes that died since the last check. */
	mdb_reader_check(s->env, &dead);
	*out = s;
	return STORE_OK;
fail:
	msgpack_sbuffer_destroy(&s->snap);
	free(s);
	return STORE_ERROR;
}

void
store_close(struct store *s)
{
	if (s == NULL)
		return;
	if (s->env != NULL)
		mdb_env_close(s->env);
	msgpack_sbuffer_destroy(&s->snap);
	free(s);
}

size_t
store_map_size(const struct store *s)
{
	MDB_envinfo info;

	if (mdb_env_info(s->env, &info) != 0)
		return 0;
	return info.me_mapsize;
}

/* ---- transactions --------------------------------------------------- */

static int
read_begin(struct store *s, MDB_txn **txn)
{
	int rc;

	for (int tries = 0;; tries++) {
		rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
		if (rc == MDB_MAP_RESIZED && tries < STORE_RESIZED_TRIES &&
		    mdb_env_set_mapsize(s->env, 0) == 0)
			continue;
		if (rc != 0)
			return store_fail(s, STORE_ERROR,
			    "mdb_txn_begin (read): %s", mdb_strerror(rc));
		return STORE_OK;
	}
}

/* Double the map (up to map_max); STORE_FULL when it is at the cap. */
static int
store_grow(struct store *s)
{
	MDB_envinfo info;
	size_t cur, next;
	int rc;

	if ((rc = mdb_env_info(s->env, &info)) != 0)
		return store_fail(s, STORE_ERROR, "mdb_env_info: %s",
		    mdb_strerror(rc));
	cur = info.me_mapsize;
	if (cur >= s->map_max)
		return store_fail(s, STORE_FULL,
		    "map full at %zu bytes (the cap)", cur);
	next = cur > s->map_max / 2 ? s->map_max : cur * 2;
	if ((rc = mdb_env_set_mapsize(s->env, next)) != 0)
		return store_fail(s, STORE_ERROR, "mdb_env_set_mapsize %zu: %s",
		    next, mdb_strerror(rc));
	return STORE_OK;
}

/* Run fn in a write transaction and commit; fn returns 0 or an LMDB code. */
typedef int (*store_txn_fn)(struct store *, MDB_txn *, void *);

static int
store_write(struct store *s, const char *what, store_txn_fn fn, void *arg)
{
	MDB_txn *txn;
	int rc, resized = 0;

	if (s->flags & STORE_RDONLY)
		return store_fail(s, STORE_ERROR, "%s: store is read-only",
		    what);
	for (;;) {
		rc = mdb_txn_begin(s->env, NULL, 0, &txn);
		if (rc == MDB_MAP_RESIZED && resized++ < STORE_RESIZED_TRIES) {
			if ((rc = mdb_env_set_mapsize(s->env, 0)) == 0)
				continue;
		}
		if (rc != 0)
			return store_fail(s, STORE_ERROR, "%s: begin: %s",
			    what, mdb_strerror(rc));
		if ((rc = fn(s, txn, arg)) == 0)
			rc = mdb_txn_commit(txn);	/* frees txn */
		else
			mdb_txn_abort(txn);
		if (rc == 0)
			return STORE_OK;
		if (rc == MDB_MAP_FULL) {
			int g = store_grow(s);

			if (g != STORE_OK)
				return g;
			continue;
		}
		return store_fail(s, STORE_ERROR, "%s: %s", what,
		    mdb_strerror(rc));
	}
}

/* Delete this flow's history entries with version <= upto. */
static int
history_trim(struct store *s, MDB_txn *txn, const char *flow_id,
    uint64_t upto, bool *any)
{
	unsigned char kb[STORE_KEY_MAX];
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t ver;
	int rc;

	if ((rc = mdb_cursor_open(txn, s->history, &c)) != 0)
		return rc;
	for (;;) {
		/* Seek afresh after each delete: simple and obviously right. */
		k = hkey(kb, flow_id, 0);
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc != 0)
			break;
		if (!hkey_match(&k, flow_id, &ver) || ver > upto)
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
		if (any != NULL)
			*any = true;
	}
	mdb_cursor_close(c);
	return rc;
}

/* ---- applies -------------------------------------------------------- */

/* Delete this flow's history entries with version > after. */
static int
history_trim_above(struct store *s, MDB_txn *txn, const char *flow_id,
    uint64_t after)
{
	unsigned char kb[STORE_KEY_MAX];
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t ver;
	int rc;

	if (after == UINT64_MAX)
		return 0;
	if ((rc = mdb_cursor_open(txn, s->history, &c)) != 0)
		return rc;
	for (;;) {
		k = hkey(kb, flow_id, after + 1);
		rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
		if (rc == MDB_NOTFOUND) {
			rc = 0;
			break;
		}
		if (rc != 0 || !hkey_match(&k, flow_id, &ver))
			break;
		if ((rc = mdb_cursor_del(c, 0)) != 0)
			break;
	}
	mdb_cursor_close(c);
	return rc;
}

/* flow_pack(f) into s->snap, sized once (flow_encoded_size is exact). */
static int
snap_encode(struct store *s, const struct flow *f)
{
	struct sbuf_writer w = { &s->snap, false };
	msgpack_packer pk;

	s->snap.size = 0;
	if (s->snap.alloc < flow_encoded_size(f) &&
	    flow_encoded_size(f) < SIZE_MAX) {
		size_t need = (size_t)flow_encoded_size(f);
		char *p = realloc(s->snap.data, need);

		if (p == NULL)
			return -1;
		s->snap.data = p;
		s->snap.alloc = need;
	}
	msgpack_packer_init(&pk, &w, sbuf_write);
	flow_pack(f, &pk);
	return w.failed ? -1 : 0;
}

struct apply_arg {
	const struct flow *f;
	const char	*flow_id;
	uint64_t	 version;
	const void	*update;
	size_t		 updatelen;
	double		 updated_at;
	bool		 encoded;	/* s->snap holds flow_pack(f) */
	uint64_t	 snapshot;	/* out: the stored snapshot's version */
};

static int
apply_txn(struct store *s, MDB_txn *txn, void *arg)
{
	struct apply_arg *a = arg;
	unsigned char kb[STORE_KEY_MAX];
	struct fixbuf mb = { .len = 0, .failed = false };
	msgpack_packer pk;
	MDB_val k, v;
	uint64_t prev = 0, snap = 0, upto;
	double at;
	bool has_meta, fresh, write_snap;
	int rc;

	/*
	 * The stored state this commit extends.  When it is not version - 1
	 * (no meta but version > 1, a meta that does not decode, memory and
	 * disk apart), history cannot carry it: write a full snapshot and
	 * drop any entry from after it, so restore never replays a stale
	 * entry.
	 */
	k = skey(a->flow_id);
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc != 0 && rc != MDB_NOTFOUND)
		return rc;
	has_meta = rc == 0;
	if (!has_meta)
		fresh = a->version != 1;
	else if (meta_decode(&v, &prev, &at, &snap) != 0)
		fresh = true;
	else
		fresh = prev + 1 != a->version;
	write_snap = fresh || a->version - snap >= STORE_SNAPSHOT_EVERY;

	k = skey(a->flow_id);
	if (write_snap) {
		if (!a->encoded) {
			/* the hint missed: encode under the writer lock */
			if (snap_encode(s, a->f) != 0)
				return ENOMEM;
			a->encoded = true;
		}
		v.mv_data = s->snap.data;
		v.mv_size = s->snap.size;
		if ((rc = mdb_put(txn, s->snapshots, &k, &v, 0)) != 0)
			return rc;
		snap = a->version;
	} else if (!has_meta) {
		/* a first commit: the flow starts empty, nothing before it */
		rc = mdb_del(txn, s->snapshots, &k, NULL);
		if (rc != 0 && rc != MDB_NOTFOUND)
			return rc;
		snap = 0;
	}
	if ((fresh || !has_meta) &&
	    (rc = history_trim_above(s, txn, a->flow_id, a->version)) != 0)
		return rc;

	/* The delta; history_length 0 needs it only until a snapshot. */
	if (s->history_length > 0 || snap != a->version) {
		k = hkey(kb, a->flow_id, a->version);
		v.mv_data = (void *)(uintptr_t)a->update;
		v.mv_size = a->updatelen;
		if ((rc = mdb_put(txn, s->history, &k, &v, 0)) != 0)
			return rc;
	}
	/*
	 * Trim what history_length no longer asks for, but never an entry
	 * after the snapshot: restore replays those.
	 */
	upto = a->version > s->history_length ?
	    a->version - s->history_length : 0;
	if (upto > snap)
		upto = snap;
	if (upto > 0 &&
	    (rc = history_trim(s, txn, a->flow_id, upto, NULL)) != 0)
		return rc;

	msgpack_packer_init(&pk, &mb, fixbuf_write);
	msgpack_pack_map(&pk, 3);
	proto_pack_key(&pk, "version");
	msgpack_pack_uint64(&pk, a->version);
	proto_pack_key(&pk, "updated_at");
	msgpack_pack_double(&pk, a->updated_at);
	proto_pack_key(&pk, "snapshot");
	msgpack_pack_uint64(&pk, snap);
	if (mb.failed)
		return EOVERFLOW;
	k = skey(a->flow_id);
	v.mv_data = mb.buf;
	v.mv_size = mb.len;
	if ((rc = mdb_put(txn, s->meta, &k, &v, 0)) != 0)
		return rc;
	a->snapshot = snap;
	return 0;
}

int
store_commit_apply(struct store *s, const struct flow *f, const void *update,
    size_t updatelen, double updated_at)
{
	struct apply_arg a;
	int rc;

	memset(&a, 0, sizeof(a));
	a.f = f;
	a.flow_id = flow_id(f);
	a.version = flow_version(f);
	a.update = update;
	a.updatelen = updatelen;
	a.updated_at = updated_at;
	if (!key_valid(a.flow_id))
		return store_fail(s, STORE_ERROR, "invalid flow id");

	/*
	 * A snapshot that is due is encoded outside the transaction, which
	 * holds the writer lock of every process.
	 */
	if (s->hint_ok && strcmp(s->hint_id, a.flow_id) == 0 &&
	    a.version > s->hint_snap &&
	    a.version - s->hint_snap >= STORE_SNAPSHOT_EVERY) {
		if (snap_encode(s, f) != 0)
			return store_fail(s, STORE_ERROR,
			    "out of memory encoding a %ju-byte snapshot",
			    (uintmax_t)flow_encoded_size(f));
		a.encoded = true;
	}

	rc = store_write(s, "commit", apply_txn, &a);
	if (rc == STORE_OK)
		hint_set(s, a.flow_id, a.snapshot);
	else
		s->hint_ok = false;
	if (s->snap.alloc > STORE_SBUF_KEEP) {
		msgpack_sbuffer_destroy(&s->snap);
		msgpack_sbuffer_init(&s->snap);
	}
	return rc;
}

int
store_sync(struct store *s)
{
	int rc;

	if ((rc = mdb_env_sync(s->env, 1)) != 0)
		return store_fail(s, STORE_ERROR, "mdb_env_sync: %s",
		    mdb_strerror(rc));
	return STORE_OK;
}

/* ---- reads ---------------------------------------------------------- */

/*
 * Replay the history entries after f's version onto f, in order, each of
 * them exactly the next version; what restore does after the snapshot.
 */
static int
history_replay(struct store *s, MDB_txn *txn, const char *id,
    const struct flow_limits *limits, struct flow *f)
{
	unsigned char kb[STORE_KEY_MAX];
	struct proto_error e;
	msgpack_unpacked res;
	const msgpack_object *ops;
	MDB_cursor *c;
	MDB_val k, v;
	uint64_t ver, uver;
	int rc;

	if (flow_version(f) == UINT64_MAX)
		return STORE_OK;
	if ((rc = mdb_cursor_open(txn, s->history, &c)) != 0)
		return store_fail(s, STORE_ERROR, "load %s: %s", id,
		    mdb_strerror(rc));
	k = hkey(kb, id, flow_version(f) + 1);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (!hkey_match(&k, id, &ver))
			break;
		if (ver != flow_version(f) + 1) {
			rc = store_fail(s, STORE_CORRUPT,
			    "history of %s: version %ju follows %ju", id,
			    (uintmax_t)ver, (uintmax_t)flow_version(f));
			goto out;
		}
		if (value_unpack(&v, PROTO_MAX_DEPTH, &res) != 0) {
			rc = store_fail(s, STORE_CORRUPT,
			    "history of %s at version %ju does not decode", id,
			    (uintmax_t)ver);
			goto out;
		}
		memset(&e, 0, sizeof(e));
		ops = proto_map_get(&res.data, "ops");
		if (proto_get_uint(proto_map_get(&res.data, "version"),
		    &uver) != 0 || uver != ver || ops == NULL)
			rc = store_fail(s, STORE_CORRUPT,
			    "history of %s at version %ju is not an update",
			    id, (uintmax_t)ver);
		else if (flow_apply(f, ops, limits, &e) != 0)
			rc = store_fail(s, STORE_CORRUPT,
			    "history of %s at version %ju does not apply: %s",
			    id, (uintmax_t)ver, e.message);
		else
			rc = STORE_OK;
		msgpack_unpacked_destroy(&res);
		if (rc != STORE_OK)
			goto out;
	}
	if (rc != 0 && rc != MDB_NOTFOUND) {
		rc = store_fail(s, STORE_ERROR, "load %s: %s", id,
		    mdb_strerror(rc));
		goto out;
	}
	rc = STORE_OK;
out:
	mdb_cursor_close(c);
	return rc;
}

int
store_load(struct store *s, const char *id, const struct flow_limits *limits,
    struct flow **out)
{
	struct proto_error e;
	msgpack_unpacked res;
	MDB_txn *txn;
	MDB_val k, v, mv;
	struct flow *f = NULL;
	uint64_t mver = 0, msnap = 0;
	double mat;
	bool has_meta;
	int rc;

	*out = NULL;
	if (!key_valid(id))
		return store_fail(s, STORE_ERROR, "invalid flow id");
	if ((rc = read_begin(s, &txn)) != STORE_OK)
		return rc;
	k = skey(id);
	rc = mdb_get(txn, s->meta, &k, &mv);
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto lmdb_fail;
	has_meta = rc == 0;
	if (has_meta && meta_decode(&mv, &mver, &mat, &msnap) != 0) {
		rc = store_fail(s, STORE_CORRUPT, "meta of %s does not decode",
		    id);
		goto out;
	}
	rc = mdb_get(txn, s->snapshots, &k, &v);
	if (rc == MDB_NOTFOUND) {
		if (has_meta && msnap != 0) {
			rc = store_fail(s, STORE_CORRUPT,
			    "meta of %s names a snapshot at version %ju but "
			    "there is none", id, (uintmax_t)msnap);
			goto out;
		}
		/* no snapshot: the empty flow at version 0 */
		if ((f = flow_create(id, strlen(id))) == NULL) {
			rc = store_fail(s, STORE_ERROR, "out of memory");
			goto out;
		}
		if (!has_meta) {
			/* nothing committed (history is not looked at) */
			mdb_txn_abort(txn);
			hint_set(s, id, 0);
			*out = f;
			return STORE_OK;
		}
	} else if (rc != 0)
		goto lmdb_fail;
	else {
		if (value_unpack(&v, PROTO_MAX_DEPTH, &res) != 0) {
			rc = store_fail(s, STORE_CORRUPT,
			    "snapshot of %s (%zu bytes) is not one msgpack "
			    "object", id, v.mv_size);
			goto out;
		}
		memset(&e, 0, sizeof(e));
		rc = flow_unpack(&res.data, limits, &f, &e);
		msgpack_unpacked_destroy(&res);
		if (rc != 0) {
			f = NULL;
			rc = store_fail(s, STORE_CORRUPT, "snapshot of %s: %s",
			    id, e.message);
			goto out;
		}
		if (strcmp(flow_id(f), id) != 0) {
			rc = store_fail(s, STORE_CORRUPT,
			    "snapshot of %s carries the id %s", id,
			    flow_id(f));
			goto out;
		}
		if (!has_meta) {
			/* a snapshot alone: taken as it is */
			mdb_txn_abort(txn);
			hint_set(s, id, flow_version(f));
			*out = f;
			return STORE_OK;
		}
		if (flow_version(f) != msnap) {
			rc = store_fail(s, STORE_CORRUPT,
			    "snapshot of %s at version %ju, meta names %ju",
			    id, (uintmax_t)flow_version(f), (uintmax_t)msnap);
			goto out;
		}
	}
	/* the updates after the snapshot, up to meta's version */
	if ((rc = history_replay(s, txn, id, limits, f)) != STORE_OK)
		goto out;
	if (flow_version(f) != mver) {
		rc = store_fail(s, STORE_CORRUPT,
		    "%s restored to version %ju (snapshot %ju), meta at %ju",
		    id, (uintmax_t)flow_version(f), (uintmax_t)msnap,
		    (uintmax_t)mver);
		goto out;
	}
	mdb_txn_abort(txn);
	hint_set(s, id, msnap);
	*out = f;
	return STORE_OK;
lmdb_fail:
	rc = store_fail(s, STORE_ERROR, "load %s: %s", id, mdb_strerror(rc));
out:
	if (f != NULL)
		flow_destroy(f);
	mdb_txn_abort(txn);
	return rc;
}

int
store_meta(struct store *s, const char *id, bool *found, uint64_t *version,
    double *updated_at)
{
	MDB_txn *txn;
	MDB_val k, v;
	int rc;

	*found = false;
	*version = 0;
	*updated_at = 0;
	if (!key_valid(id))
		return store_fail(s, STORE_ERROR, "invalid flow id");
	if ((rc = read_begin(s, &txn)) != STORE_OK)
		return rc;
	k = skey(id);
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == 0) {
		if (meta_decode(&v, version, updated_at, NULL) != 0)
			rc = store_fail(s, STORE_CORRUPT,
			    "meta of %s does not decode", id);
		else
			*found = true;
	} else if (rc == MDB_NOTFOUND)
		rc = STORE_OK;
	else
		rc = store_fail(s, STORE_ERROR, "meta %s: %s", id,
		    mdb_strerror(rc));
	mdb_txn_abort(txn);
	return rc;
}

void
store_updates_free(struct store_updates *u)
{
	free(u->buf);
	memset(u, 0, sizeof(*u));
}

int
store_history(struct store *s, const char *id, uint64_t since,
    size_t max_bytes, struct store_updates *out)
{
	unsigned char kb[STORE_KEY_MAX];
	MDB_val *vals = NULL, k, v;
	MDB_cursor *c = NULL;
	MDB_txn *txn;
	size_t n = 0, cap = 0, first, total;
	uint64_t ver, oldest, floor;
	double at;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!key_valid(id))
		return store_fail(s, STORE_ERROR, "invalid flow id");
	if ((rc = read_begin(s, &txn)) != STORE_OK)
		return rc;
	k = skey(id);
	rc = mdb_get(txn, s->meta, &k, &v);
	if (rc == 0) {
		if (meta_decode(&v, &out->version, &at, NULL) != 0) {
			rc = store_fail(s, STORE_CORRUPT,
			    "meta of %s does not decode", id);
			goto out;
		}
	} else if (rc != MDB_NOTFOUND)
		goto lmdb_fail;
	if (since >= out->version) {
		/* nothing newer; beyond the current version: resync */
		out->complete = since == out->version;
		rc = STORE_OK;
		goto out;
	}
	if ((rc = mdb_cursor_open(txn, s->history, &c)) != 0)
		goto lmdb_fail;

	/*
	 * Only the last history_length versions are answered: the store may
	 * keep older entries that restore still needs (since the snapshot).
	 * The oldest answerable version decides whether since is reachable.
	 */
	floor = out->version > s->history_length ?
	    out->version - s->history_length : 0;
	k = hkey(kb, id, floor + 1);
	rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE);
	if (rc == 0 && hkey_match(&k, id, &ver))
		oldest = ver;
	else if (rc == 0 || rc == MDB_NOTFOUND)
		oldest = out->version + 1;
	else
		goto lmdb_fail;
	out->complete = since + 1 >= oldest;

	k = hkey(kb, id, since + 1 > oldest ? since + 1 : oldest);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		if (!hkey_match(&k, id, &ver))
			break;
		if (v.mv_size == 0 || proto_scan(v.mv_data, v.mv_size,
		    v.mv_size, PROTO_MAX_DEPTH) != (long)v.mv_size) {
			rc = store_fail(s, STORE_CORRUPT,
			    "history of %s at version %ju does not decode", id,
			    (uintmax_t)ver);
			goto out;
		}
		if (n == cap) {
			size_t ncap = cap != 0 ? cap * 2 : 64;
			MDB_val *nv = realloc(vals, ncap * sizeof(*vals));

			if (nv == NULL) {
				rc = store_fail(s, STORE_ERROR,
				    "out of memory");
				goto out;
			}
			vals = nv;
			cap = ncap;
		}
		vals[n++] = v;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		goto lmdb_fail;

	/* Keep the newest updates that fit in max_bytes. */
	total = 0;
	for (first = n; first > 0; first--) {
		if (vals[first - 1].mv_size > max_bytes - total)
			break;
		total += vals[first - 1].mv_size;
	}
	if (first > 0)
		out->complete = false;
	if (total > 0 && (out->buf = malloc(total)) == NULL) {
		rc = store_fail(s, STORE_ERROR, "out of memory");
		goto out;
	}
	for (size_t i = first; i < n; i++) {
		memcpy(out->buf + out->len, vals[i].mv_data, vals[i].mv_size);
		out->len += vals[i].mv_size;
		out->count++;
	}
	rc = STORE_OK;
	goto out;
lmdb_fail:
	rc = store_fail(s, STORE_ERROR, "history %s: %s", id,
	    mdb_strerror(rc));
out:
	if (c != NULL)
		mdb_cursor_close(c);
	mdb_txn_abort(txn);
	free(vals);
	if (rc != STORE_OK)
		store_updates_free(out);
	return rc;
}

/* ---- delete, list, readers ------------------------------------------ */

struct delete_arg {
	const char	*flow_id;
	bool		 existed;
};

static int
delete_txn(struct store *s, MDB_txn *txn, void *arg)
{
	struct delete_arg *a = arg;
	MDB_val k;
	int rc;

	a->existed = false;
	k = skey(a->flow_id);
	rc = mdb_del(txn, s->snapshots, &k, NULL);
	if (rc == 0)
		a->existed = true;
	else if (rc != MDB_NOTFOUND)
		return rc;
	rc = mdb_del(txn, s->meta, &k, NULL);
	if (rc == 0)
		a->existed = true;
	else if (rc != MDB_NOTFOUND)
		return rc;
	return history_trim(s, txn, a->flow_id, UINT64_MAX, &a->existed);
}

int
store_delete(struct store *s, const char *id, bool *existed)
{
	struct delete_arg a = { id, false };
	int rc;

	*existed = false;
	if (!key_valid(id))
		return store_fail(s, STORE_ERROR, "invalid flow id");
	s->hint_ok = false;
	rc = store_write(s, "delete", delete_txn, &a);
	if (rc == STORE_OK)
		*existed = a.existed;
	return rc;
}

int
store_reader_check(struct store *s, int *dead)
{
	int rc;

	*dead = 0;
	if ((rc = mdb_reader_check(s->env, dead)) != 0)
		return store_fail(s, STORE_ERROR, "mdb_reader_check: %s",
		    mdb_strerror(rc));
	return STORE_OK;
}

int
store_list(struct store *s, store_list_cb cb, void *arg)
{
	char id[PROTO_FLOW_ID_MAX + 1];
	MDB_cursor *c;
	MDB_txn *txn;
	MDB_val k, v;
	uint64_t version;
	double at;
	int rc, ret = STORE_OK;

	if ((rc = read_begin(s, &txn)) != STORE_OK)
		return rc;
	if ((rc = mdb_cursor_open(txn, s->meta, &c)) != 0) {
		mdb_txn_abort(txn);
		return store_fail(s, STORE_ERROR, "list: %s",
		    mdb_strerror(rc));
	}
	for (rc = mdb_cursor_get(c, &k, &v, MDB_FIRST); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		/* skip what is not a flow id rather than fail the listing */
		if (k.mv_size == 0 || k.mv_size > PROTO_FLOW_ID_MAX ||
		    !proto_valid_flow_id(k.mv_data, k.mv_size) ||
		    meta_decode(&v, &version, &at, NULL) != 0)
			continue;
		memcpy(id, k.mv_data, k.mv_size);
		id[k.mv_size] = '\0';
		if ((ret = cb(arg, id, version, at)) != 0)
			break;
	}
	if (rc != 0 && rc != MDB_NOTFOUND)
		ret = store_fail(s, STORE_ERROR, "list: %s", mdb_strerror(rc));
	mdb_cursor_close(c);
	mdb_txn_abort(txn);
	return ret;
}
