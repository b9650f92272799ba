/*
 * test_store.c: the LMDB store (worker/store.c) and, end to end,
 * helix-worker (worker/worker.c, worker/worker-rpc.c).
 *
 * The store half opens a store in a temporary state directory and checks
 * what survives a reopen, a crash of the committing process, map growth,
 * history trimming and deletion.  The worker half execs the built
 * helix-worker (HELIX_WORKER, else ../worker/helix-worker next to this
 * binary) on one end of a socketpair at fd 3, plays the master on the other
 * end, and checks every method of the master <-> worker table.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <lmdb.h>
#include <msgpack.h>

#include "proto/proto.h"
#include "worker/flow.h"
#include "worker/store.h"

/* ---- temporary state directories ------------------------------------ */

static char tmpdir[PATH_MAX];

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path);
}

static void
tmp_setup(void)
{
	const char *t = getenv("TMPDIR");

	snprintf(tmpdir, sizeof(tmpdir), "%s/helix-store-XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	ck_assert_msg(mkdtemp(tmpdir) != NULL, "mkdtemp: %s",
	    strerror(errno));
}

static void
tmp_teardown(void)
{
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	tmpdir[0] = '\0';
}

/* ---- msgpack helpers ------------------------------------------------- */

/* An owned msgpack object: the bytes and their decoding. */
struct obj {
	msgpack_sbuffer		 sb;
	msgpack_unpacked	 u;
	msgpack_object		*o;
};

static void
obj_from_bytes(struct obj *ob, const void *buf, size_t len)
{
	size_t off = 0;

	msgpack_sbuffer_init(&ob->sb);
	msgpack_sbuffer_write(&ob->sb, buf, len);
	msgpack_unpacked_init(&ob->u);
	ck_assert_int_eq(msgpack_unpack_next(&ob->u, ob->sb.data, ob->sb.size,
	    &off), MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, len);
	ob->o = &ob->u.data;
}

static void
obj_free(struct obj *ob)
{
	msgpack_unpacked_destroy(&ob->u);
	msgpack_sbuffer_destroy(&ob->sb);
}

static void
pack_blob(msgpack_packer *pk, size_t n)
{
	char *s = malloc(n + 1);

	memset(s, 'a', n);
	msgpack_pack_str_with_body(pk, s, n);
	free(s);
}

/* {"op": "add_node", "node": {id, type, x, y[, data: {blob: 'aaa..'}]}} */
static void
pack_add_node(msgpack_packer *pk, const char *id, size_t datalen)
{
	msgpack_pack_map(pk, 2);
	proto_pack_key(pk, "op");
	proto_pack_str(pk, "add_node");
	proto_pack_key(pk, "node");
	msgpack_pack_map(pk, datalen > 0 ? 5 : 4);
	proto_pack_key(pk, "id");
	proto_pack_str(pk, id);
	proto_pack_key(pk, "type");
	proto_pack_str(pk, "box");
	proto_pack_key(pk, "x");
	msgpack_pack_double(pk, 1.5);
	proto_pack_key(pk, "y");
	msgpack_pack_double(pk, -2);
	if (datalen > 0) {
		proto_pack_key(pk, "data");
		msgpack_pack_map(pk, 1);
		proto_pack_key(pk, "blob");
		pack_blob(pk, datalen);
	}
}

static void
pack_set_title(msgpack_packer *pk, const char *title)
{
	msgpack_pack_map(pk, 2);
	proto_pack_key(pk, "op");
	proto_pack_str(pk, "set_meta");
	proto_pack_key(pk, "title");
	proto_pack_str(pk, title);
}

/* ops = [add_node id] */
static void
ops_add_node(struct obj *ob, const char *id, size_t datalen)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 1);
	pack_add_node(&pk, id, datalen);
	obj_from_bytes(ob, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void
ops_set_title(struct obj *ob, const char *title)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 1);
	pack_set_title(&pk, title);
	obj_from_bytes(ob, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

/* flow_pack bytes, for comparing documents */
static void
flow_bytes(const struct flow *f, msgpack_sbuffer *sb)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	flow_pack(f, &pk);
}

static void
assert_same_flow(const struct flow *a, const struct flow *b)
{
	msgpack_sbuffer x, y;

	flow_bytes(a, &x);
	flow_bytes(b, &y);
	ck_assert_msg(x.size == y.size && memcmp(x.data, y.data, x.size) == 0,
	    "documents differ: %zu bytes vs %zu bytes", x.size, y.size);
	msgpack_sbuffer_destroy(&x);
	msgpack_sbuffer_destroy(&y);
}

/* ---- store helpers --------------------------------------------------- */

static struct flow_limits limits;

static struct store *
open_store(size_t map_size, size_t map_max, unsigned history, int flags)
{
	struct store_opts o;
	struct store *s;
	char err[512];

	store_opts_default(&o);
	if (map_size != 0)
		o.map_size = map_size;
	o.map_size_max = map_max;
	o.history_length = history;
	o.flags = flags;
	ck_assert_msg(store_open(&s, tmpdir, &o, err, sizeof(err)) ==
	    STORE_OK, "store_open: %s", err);
	return s;
}

static struct flow *
load(struct store *s, const char *id)
{
	struct flow *f;
	int rc;

	rc = store_load(s, id, &limits, &f);
	ck_assert_msg(rc == STORE_OK, "store_load %s: got %d (%s), want 0", id,
	    rc, store_errmsg(s));
	return f;
}

/* Apply ops to f and commit them; returns the store status. */
static int
commit(struct store *s, struct flow *f, const msgpack_object *ops,
    const char *origin)
{
	struct proto_error e;
	msgpack_sbuffer sb;
	msgpack_packer pk;
	int rc;

	memset(&e, 0, sizeof(e));
	ck_assert_msg(flow_apply(f, ops, &limits, &e) == 0, "flow_apply: %s",
	    e.message);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	store_pack_update(&pk, flow_version(f), ops, origin,
	    origin != NULL ? strlen(origin) : 0);
	rc = store_commit_apply(s, f, sb.data, sb.size, 1700000000.5);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

static void
commit_title(struct store *s, struct flow *f, const char *title)
{
	struct obj ops;
	int rc;

	ops_set_title(&ops, title);
	rc = commit(s, f, ops.o, "alice");
	ck_assert_msg(rc == STORE_OK, "commit: got %d (%s)", rc,
	    store_errmsg(s));
	obj_free(&ops);
}

/* Check the history answer: count, versions since+1.. in order. */
static void
check_history(struct store *s, const char *id, uint64_t since,
    uint32_t want_count, uint64_t want_first, bool want_complete)
{
	struct store_updates u;
	size_t off = 0;
	int rc;

	rc = store_history(s, id, since, SIZE_MAX, &u);
	ck_assert_msg(rc == STORE_OK, "store_history: %d (%s)", rc,
	    store_errmsg(s));
	ck_assert_msg(u.count == want_count,
	    "history since %" PRIu64 ": got %" PRIu32 " updates, want %"
	    PRIu32, since, u.count, want_count);
	ck_assert_msg(u.complete == want_complete,
	    "history since %" PRIu64 ": got complete %d, want %d", since,
	    u.complete, want_complete);
	for (uint32_t i = 0; i < u.count; i++) {
		msgpack_unpacked r;
		uint64_t v;

		msgpack_unpacked_init(&r);
		ck_assert_int_eq(msgpack_unpack_next(&r, u.buf, u.len, &off),
		    MSGPACK_UNPACK_SUCCESS);
		ck_assert_int_eq(proto_get_uint(proto_map_get(&r.data,
		    "version"), &v), 0);
		ck_assert_msg(v == want_first + i, "update %u: version %"
		    PRIu64 ", want %" PRIu64, i, v, want_first + i);
		ck_assert_ptr_nonnull(proto_map_get(&r.data, "ops"));
		ck_assert(proto_str_is(proto_map_get(&r.data, "origin"),
		    "alice"));
		msgpack_unpacked_destroy(&r);
	}
	ck_assert_uint_eq(off, u.len);
	store_updates_free(&u);
}

/* ---- store tests ----------------------------------------------------- */

START_TEST(test_reopen)
{
	struct store *s = open_store(0, 0, 100, 0);
	struct flow *f = load(s, "alpha"), *g;
	struct obj ops;
	bool found;
	uint64_t ver;
	double at;

	ck_assert_uint_eq(flow_version(f), 0);
	ops_add_node(&ops, "n1", 10);
	ck_assert_int_eq(commit(s, f, ops.o, "alice"), STORE_OK);
	obj_free(&ops);
	commit_title(s, f, "hello");
	ops_add_node(&ops, "n2", 0);
	ck_assert_int_eq(commit(s, f, ops.o, NULL), STORE_OK);
	obj_free(&ops);
	ck_assert_uint_eq(flow_version(f), 3);
	store_close(s);

	/* a restart */
	s = open_store(0, 0, 100, 0);
	g = load(s, "alpha");
	ck_assert_uint_eq(flow_version(g), 3);
	assert_same_flow(f, g);
	ck_assert_int_eq(store_meta(s, "alpha", &found, &ver, &at), STORE_OK);
	ck_assert(found);
	ck_assert_uint_eq(ver, 3);
	ck_assert(at == 1700000000.5);
	ck_assert_int_eq(store_meta(s, "beta", &found, &ver, &at), STORE_OK);
	ck_assert(!found);
	flow_destroy(g);

	/* another flow in the same environment is independent */
	g = load(s, "beta");
	ck_assert_uint_eq(flow_version(g), 0);
	commit_title(s, g, "b");
	flow_destroy(g);
	g = load(s, "alpha");
	assert_same_flow(f, g);
	flow_destroy(g);
	flow_destroy(f);
	store_close(s);
}
END_TEST

START_TEST(test_history)
{
	struct store *s = open_store(0, 0, 5, 0);
	struct flow *f = load(s, "h"), *other = load(s, "h2");
	struct store_updates u;

	/* nothing stored yet */
	check_history(s, "h", 0, 0, 1, true);
	check_history(s, "h", 1, 0, 1, false);
	for (int i = 0; i < 10; i++)
		commit_title(s, f, "t");
	/* a neighbour whose keys sort right after ours */
	for (int i = 0; i < 3; i++)
		commit_title(s, other, "o");
	/* versions 6..10 retained */
	check_history(s, "h", 5, 5, 6, true);
	check_history(s, "h", 4, 5, 6, false);
	check_history(s, "h", 0, 5, 6, false);
	check_history(s, "h", 7, 3, 8, true);
	check_history(s, "h", 9, 1, 10, true);
	check_history(s, "h", 10, 0, 11, true);
	check_history(s, "h", 11, 0, 12, false);	/* beyond: resync */
	check_history(s, "h", UINT64_MAX, 0, 0, false);
	check_history(s, "h2", 0, 3, 1, true);

	/* the reply bound keeps the newest updates that fit */
	ck_assert_int_eq(store_history(s, "h", 5, 1, &u), STORE_OK);
	ck_assert_uint_eq(u.count, 0);
	ck_assert(!u.complete);
	store_updates_free(&u);
	ck_assert_int_eq(store_history(s, "h", 5, SIZE_MAX, &u), STORE_OK);
	{
		size_t all = u.len, one = all / 5;
		struct store_updates v;

		ck_assert_int_eq(store_history(s, "h", 5, one * 2, &v),
		    STORE_OK);
		ck_assert_uint_eq(v.count, 2);
		ck_assert(!v.complete);
		ck_assert(memcmp(v.buf, u.buf + all - v.len, v.len) == 0);
		ck_assert_uint_eq(v.version, 10);
		store_updates_free(&v);
	}
	store_updates_free(&u);
	flow_destroy(f);
	flow_destroy(other);
	store_close(s);

	/* a lowered history_length trims everything older at the next commit */
	s = open_store(0, 0, 2, 0);
	f = load(s, "h");
	commit_title(s, f, "t");
	check_history(s, "h", 9, 2, 10, true);
	check_history(s, "h", 8, 2, 10, false);
	flow_destroy(f);
	store_close(s);

	/* history_length 0 keeps none */
	s = open_store(0, 0, 0, 0);
	f = load(s, "h");
	commit_title(s, f, "t");
	ck_assert_uint_eq(flow_version(f), 12);
	check_history(s, "h", 12, 0, 13, true);
	check_history(s, "h", 11, 0, 12, false);
	flow_destroy(f);
	store_close(s);
}
END_TEST

START_TEST(test_delete)
{
	struct store *s = open_store(0, 0, 10, 0);
	struct flow *f = load(s, "gone"), *keep = load(s, "gone2");
	bool existed, found;
	uint64_t ver;
	double at;

	for (int i = 0; i < 4; i++)
		commit_title(s, f, "x");
	commit_title(s, keep, "y");
	ck_assert_int_eq(store_delete(s, "gone", &existed), STORE_OK);
	ck_assert(existed);
	flow_destroy(f);
	f = load(s, "gone");
	ck_assert_uint_eq(flow_version(f), 0);
	check_history(s, "gone", 0, 0, 1, true);
	ck_assert_int_eq(store_meta(s, "gone", &found, &ver, &at), STORE_OK);
	ck_assert(!found);
	/* a deleted flow starts again at version 1 */
	commit_title(s, f, "again");
	check_history(s, "gone", 0, 1, 1, true);
	flow_destroy(f);
	/* the neighbour is untouched */
	f = load(s, "gone2");
	ck_assert_uint_eq(flow_version(f), 1);
	check_history(s, "gone2", 0, 1, 1, true);
	flow_destroy(f);
	flow_destroy(keep);

	ck_assert_int_eq(store_delete(s, "never", &existed), STORE_OK);
	ck_assert(!existed);
	ck_assert_int_eq(store_delete(s, "gone", &existed), STORE_OK);
	ck_assert(existed);
	ck_assert_int_eq(store_delete(s, "gone", &existed), STORE_OK);
	ck_assert(!existed);
	store_close(s);
}
END_TEST

START_TEST(test_map_growth)
{
	/* 64 KiB to start: a few 8 KiB snapshots must grow it */
	struct store *s = open_store(64 * 1024, 0, 50, 0);
	struct flow *f = load(s, "big"), *g;
	size_t start = store_map_size(s);
	char id[32];

	for (int i = 0; i < 60; i++) {
		struct obj ops;
		int rc;

		snprintf(id, sizeof(id), "n%d", i);
		ops_add_node(&ops, id, 2000);
		rc = commit(s, f, ops.o, "alice");
		ck_assert_msg(rc == STORE_OK, "commit %d: got %d (%s)", i, rc,
		    store_errmsg(s));
		obj_free(&ops);
	}
	ck_assert_msg(store_map_size(s) > start, "map did not grow: %zu",
	    store_map_size(s));
	store_close(s);

	/* reopened with the small size, it keeps the grown one */
	s = open_store(64 * 1024, 0, 50, 0);
	ck_assert_uint_ge(store_map_size(s), 128 * 1024);
	g = load(s, "big");
	ck_assert_uint_eq(flow_version(g), 60);
	assert_same_flow(f, g);
	flow_destroy(g);
	flow_destroy(f);
	store_close(s);
}
END_TEST

START_TEST(test_map_full)
{
	/* capped at 256 KiB: commits fail with STORE_FULL, nothing written */
	struct store *s = open_store(64 * 1024, 256 * 1024, 1000, 0);
	struct flow *f = load(s, "full"), *g;
	uint64_t last = 0;
	char id[32];
	int rc = STORE_OK;

	for (int i = 0; i < 1000 && rc == STORE_OK; i++) {
		struct obj ops;

		snprintf(id, sizeof(id), "n%d", i);
		ops_add_node(&ops, id, 4000);
		last = flow_version(f);
		rc = commit(s, f, ops.o, "alice");
		obj_free(&ops);
	}
	ck_assert_msg(rc == STORE_FULL, "got %d (%s), want STORE_FULL", rc,
	    store_errmsg(s));
	ck_assert_uint_eq(store_map_size(s), 256 * 1024);
	ck_assert_uint_gt(last, 0);
	/* the store holds the last committed version */
	g = load(s, "full");
	ck_assert_uint_eq(flow_version(g), last);
	check_history(s, "full", last - 1, 1, last, true);
	flow_destroy(g);
	/* deleting still works and makes room again */
	{
		bool existed;

		ck_assert_int_eq(store_delete(s, "full", &existed), STORE_OK);
		ck_assert(existed);
	}
	flow_destroy(f);
	f = load(s, "full");
	commit_title(s, f, "room");
	flow_destroy(f);
	store_close(s);
}
END_TEST

START_TEST(test_crash)
{
	enum { N = 2 * STORE_SNAPSHOT_EVERY + 25 };
	struct store *s;
	struct flow *f;
	pid_t pid;
	int st, dead;

	/* create it first, then let a child write and die without closing */
	s = open_store(0, 0, 100, 0);
	store_close(s);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store_opts o;
		char err[256];

		store_opts_default(&o);
		if (store_open(&s, tmpdir, &o, err, sizeof(err)) != STORE_OK)
			_exit(10);
		if (store_load(s, "crashy", &limits, &f) != STORE_OK)
			_exit(11);
		for (int i = 0; i < N; i++) {
			struct obj ops;
			char id[16];

			snprintf(id, sizeof(id), "n%d", i);
			ops_add_node(&ops, id, 100);
			if (commit(s, f, ops.o, "alice") != STORE_OK)
				_exit(12);
			obj_free(&ops);
		}
		/* a read transaction left open: a stale reader slot */
		{
			struct store_updates u;

			store_history(s, "crashy", 0, SIZE_MAX, &u);
		}
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0,
	    "child status %d", st);

	s = open_store(0, 0, 1000, 0);
	ck_assert_int_eq(store_reader_check(s, &dead), STORE_OK);
	f = load(s, "crashy");
	ck_assert_uint_eq(flow_version(f), N);
	check_history(s, "crashy", 0, N, 1, true);
	flow_destroy(f);
	store_close(s);
}
END_TEST

struct list_seen {
	int		 n;
	char		 ids[4][16];
	uint64_t	 versions[4];
};

static int
list_cb(void *arg, const char *id, uint64_t version, double at)
{
	struct list_seen *ls = arg;

	if (ls->n < 4) {
		snprintf(ls->ids[ls->n], sizeof(ls->ids[0]), "%s", id);
		ls->versions[ls->n] = version;
	}
	ls->n++;
	return 0;
}

static int
list_stop(void *arg, const char *id, uint64_t version, double at)
{
	(*(int *)arg)++;
	return 7;
}

START_TEST(test_list_rdonly)
{
	struct store *ro, *rw;
	struct list_seen ls;
	struct flow *f;
	int dead, calls = 0, st;
	pid_t pid;

	/* the master's read-only open creates what does not exist yet */
	ro = open_store(0, 0, 100, STORE_RDONLY);
	memset(&ls, 0, sizeof(ls));
	ck_assert_int_eq(store_list(ro, list_cb, &ls), STORE_OK);
	ck_assert_int_eq(ls.n, 0);

	/* a worker writes: another process, as in helixd */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		rw = open_store(0, 0, 100, 0);
		f = load(rw, "b-flow");
		commit_title(rw, f, "x");
		commit_title(rw, f, "y");
		flow_destroy(f);
		f = load(rw, "a-flow");
		commit_title(rw, f, "x");
		flow_destroy(f);
		store_close(rw);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(st, 0);

	memset(&ls, 0, sizeof(ls));
	ck_assert_int_eq(store_list(ro, list_cb, &ls), STORE_OK);
	ck_assert_int_eq(ls.n, 2);
	ck_assert_str_eq(ls.ids[0], "a-flow");
	ck_assert_uint_eq(ls.versions[0], 1);
	ck_assert_str_eq(ls.ids[1], "b-flow");
	ck_assert_uint_eq(ls.versions[1], 2);
	ck_assert_int_eq(store_list(ro, list_stop, &calls), 7);
	ck_assert_int_eq(calls, 1);
	ck_assert_int_eq(store_reader_check(ro, &dead), STORE_OK);

	/* a read-only store refuses writes */
	f = load(ro, "a-flow");
	ck_assert_uint_eq(flow_version(f), 1);
	{
		struct obj ops;

		ops_set_title(&ops, "no");
		ck_assert_int_eq(commit(ro, f, ops.o, NULL), STORE_ERROR);
		obj_free(&ops);
	}
	flow_destroy(f);
	store_close(ro);
}
END_TEST

/* Overwrite a snapshot with bytes that are not a flow, bypassing store.c. */
static void
poke_snapshot(const char *id, const void *val, size_t len)
{
	char path[PATH_MAX];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { strlen(id), (void *)(uintptr_t)id };
	MDB_val v = { len, (void *)(uintptr_t)val };

	ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", tmpdir,
	    STORE_DIRNAME), (int)sizeof(path));
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 4);
	mdb_env_set_maxreaders(env, STORE_MAX_READERS_DEFAULT);
	mdb_env_set_mapsize(env, STORE_MAP_SIZE_DEFAULT);
	ck_assert_int_eq(mdb_env_open(env, path, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "snapshots", 0, &dbi), 0);
	ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

START_TEST(test_corrupt)
{
	static const unsigned char hostile[] = { 0xdd, 0x0f, 0xff, 0xff, 0xf0 };
	struct store *s = open_store(0, 0, 10, 0);
	struct flow *f = load(s, "bad");

	commit_title(s, f, "x");
	flow_destroy(f);
	store_close(s);

	poke_snapshot("bad", "\xc1", 1);
	s = open_store(0, 0, 10, 0);
	ck_assert_int_eq(store_load(s, "bad", &limits, &f), STORE_CORRUPT);
	ck_assert_ptr_null(f);
	store_close(s);

	poke_snapshot("bad", hostile, sizeof(hostile));
	s = open_store(0, 0, 10, 0);
	ck_assert_int_eq(store_load(s, "bad", &limits, &f), STORE_CORRUPT);
	store_close(s);

	poke_snapshot("bad", "\x81\xa1x\x01", 4);	/* {"x": 1} */
	s = open_store(0, 0, 10, 0);
	ck_assert_int_eq(store_load(s, "bad", &limits, &f), STORE_CORRUPT);
	store_close(s);
}
END_TEST

/* ---- helix-worker end to end ----------------------------------------- */

static char worker_path[PATH_MAX];

static void
find_worker(void)
{
	const char *env = getenv("HELIX_WORKER");
	char self[PATH_MAX];
	ssize_t n;
	char *slash;

	if (env != NULL && *env != '\0') {
		snprintf(worker_path, sizeof(worker_path), "%s", env);
		return;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	ck_assert_int_gt(n, 0);
	self[n] = '\0';
	slash = strrchr(self, '/');
	ck_assert_ptr_nonnull(slash);
	*slash = '\0';
	ck_assert_int_lt(snprintf(worker_path, sizeof(worker_path),
	    "%s/../worker/helix-worker", self), (int)sizeof(worker_path));
}

/* When set, the next wp_start sends the worker's stderr to this file. */
static const char *wp_stderr;

struct wp {
	pid_t			 pid;
	int			 fd;
	struct proto_reader	*rd;
	uint32_t		 seq;
	uint64_t		 hello_version;
};

static void
wp_start(struct wp *w, const char *flow, const char *const *extra)
{
	const char *argv[64];
	int sv[2], n = 0;

	find_worker();
	ck_assert_msg(access(worker_path, X_OK) == 0, "%s: %s", worker_path,
	    strerror(errno));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0,
	    sv), 0);
	argv[n++] = worker_path;
	argv[n++] = "--flow";
	argv[n++] = flow;
	argv[n++] = "--state-dir";
	argv[n++] = tmpdir;
	for (; extra != NULL && *extra != NULL && n < 62; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;

	memset(w, 0, sizeof(*w));
	w->pid = fork();
	ck_assert_int_ge(w->pid, 0);
	if (w->pid == 0) {
		if (dup2(sv[1], 3) != 3)
			_exit(126);
		if (wp_stderr != NULL) {
			int fd = open(wp_stderr, O_WRONLY | O_CREAT | O_APPEND,
			    0600);

			if (fd < 0 || dup2(fd, 2) != 2)
				_exit(126);
		}
		close_range(4, ~0U, 0);
		signal(SIGPIPE, SIG_DFL);
		execv(worker_path, (char *const *)argv);
		_exit(127);
	}
	close(sv[1]);
	w->fd = sv[0];
	w->rd = proto_reader_create((size_t)64 << 20, PROTO_MAX_DEPTH);
	ck_assert_ptr_nonnull(w->rd);
}

/* Next message from the worker within 10 s, decoded into ob. */
static bool
wp_recv_timeout(struct wp *w, struct obj *ob, int ms)
{
	msgpack_object o;
	const char *raw;
	size_t rawlen;
	char buf[65536];
	struct pollfd pfd;

	for (;;) {
		enum proto_read r = proto_reader_next(w->rd, &o, &raw, &rawlen);
		ssize_t n;

		if (r == PROTO_READ_OBJECT) {
			obj_from_bytes(ob, raw, rawlen);
			return true;
		}
		ck_assert_int_eq(r, PROTO_READ_MORE);
		pfd.fd = w->fd;
		pfd.events = POLLIN;
		if (poll(&pfd, 1, ms) != 1)
			return false;
		n = read(w->fd, buf, sizeof(buf));
		if (n <= 0)
			return false;
		ck_assert_int_eq(proto_reader_feed(w->rd, buf, (size_t)n), 0);
	}
}

static void
wp_recv(struct wp *w, struct obj *ob)
{
	ck_assert_msg(wp_recv_timeout(w, ob, 10000),
	    "no message from the worker");
}

static void
wp_send_raw(struct wp *w, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = write(w->fd, p, len);

		ck_assert_msg(n > 0, "write: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* Start a request; the caller packs nparams params into *sb's packer. */
static uint32_t
req_begin(struct wp *w, msgpack_sbuffer *sb, msgpack_packer *pk,
    const char *method, uint32_t nparams)
{
	msgpack_sbuffer_init(sb);
	msgpack_packer_init(pk, sb, msgpack_sbuffer_write);
	proto_pack_request_begin(pk, ++w->seq, method, nparams);
	return w->seq;
}

static uint32_t
req_send(struct wp *w, msgpack_sbuffer *sb)
{
	wp_send_raw(w, sb->data, sb->size);
	msgpack_sbuffer_destroy(sb);
	return w->seq;
}

/* A request with no params. */
static uint32_t
req0(struct wp *w, const char *method)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	req_begin(w, &sb, &pk, method, 0);
	return req_send(w, &sb);
}

/* A request with one uint param (or nil when since < 0). */
static uint32_t
req_since(struct wp *w, const char *method, int64_t since)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	req_begin(w, &sb, &pk, method, 1);
	if (since < 0)
		msgpack_pack_nil(&pk);
	else
		msgpack_pack_uint64(&pk, (uint64_t)since);
	return req_send(w, &sb);
}

/* flow.apply [[add_node id], base|nil, origin|nil] */
static uint32_t
req_apply(struct wp *w, const char *node, int64_t base, const char *origin)
{
	msgpack_sbuffer sb;
	msgpack_packer pk;

	req_begin(w, &sb, &pk, "flow.apply", 3);
	msgpack_pack_array(&pk, 1);
	pack_add_node(&pk, node, 0);
	if (base < 0)
		msgpack_pack_nil(&pk);
	else
		msgpack_pack_uint64(&pk, (uint64_t)base);
	if (origin == NULL)
		msgpack_pack_nil(&pk);
	else
		proto_pack_str(&pk, origin);
	return req_send(w, &sb);
}

/* Expect [1, msgid, nil, result]; result stays in ob. */
static const msgpack_object *
expect_result(struct wp *w, struct obj *ob, uint32_t msgid)
{
	struct proto_msg m;
	struct proto_error e;
	bool has;

	wp_recv(w, ob);
	ck_assert_int_eq(proto_msg_parse(ob->o, &m, &e, &has), 0);
	ck_assert_int_eq(m.type, PROTO_RESPONSE);
	ck_assert_uint_eq(m.msgid, msgid);
	if (!proto_is_nil(m.error)) {
		const char *s = "?";
		size_t len = 1;

		proto_get_str(proto_map_get(m.error, "message"), &s, &len);
		ck_abort_msg("msgid %u: error %.*s", msgid, (int)len, s);
	}
	return m.result;
}

/* Expect an error response with this code; returns the error map. */
static const msgpack_object *
expect_error(struct wp *w, struct obj *ob, uint32_t msgid, const char *code)
{
	struct proto_msg m;
	struct proto_error e;
	bool has;
	const char *got = "";
	size_t len = 0;

	wp_recv(w, ob);
	ck_assert_int_eq(proto_msg_parse(ob->o, &m, &e, &has), 0);
	ck_assert_int_eq(m.type, PROTO_RESPONSE);
	ck_assert_uint_eq(m.msgid, msgid);
	ck_assert_msg(!proto_is_nil(m.error), "msgid %u: want error %s",
	    msgid, code);
	proto_get_str(proto_map_get(m.error, "code"), &got, &len);
	ck_assert_msg(len == strlen(code) && memcmp(got, code, len) == 0,
	    "got error %.*s, want %s", (int)len, got, code);
	return m.error;
}

static uint64_t
get_uint(const msgpack_object *map, const char *key)
{
	uint64_t v;

	ck_assert_msg(proto_get_uint(proto_map_get(map, key), &v) == 0,
	    "no uint %s", key);
	return v;
}

/* Expect w.update for version v, then the response {"version": v}. */
static void
expect_applied(struct wp *w, uint32_t msgid, uint64_t v)
{
	struct proto_msg m;
	struct proto_error e;
	struct obj ob;
	bool has;

	wp_recv(w, &ob);
	ck_assert_int_eq(proto_msg_parse(ob.o, &m, &e, &has), 0);
	ck_assert_msg(m.type == PROTO_NOTIFY && proto_method_is(&m,
	    "w.update"), "want w.update before the response to %u", msgid);
	ck_assert_uint_eq(m.params->via.array.size, 1);
	ck_assert_uint_eq(get_uint(&m.params->via.array.ptr[0], "version"), v);
	ck_assert_ptr_nonnull(proto_map_get(&m.params->via.array.ptr[0],
	    "ops"));
	obj_free(&ob);
	ck_assert_uint_eq(get_uint(expect_result(w, &ob, msgid), "version"),
	    v);
	obj_free(&ob);
}

static void
wp_hello(struct wp *w, const char *flow)
{
	struct proto_msg m;
	struct proto_error e;
	const msgpack_object *h;
	struct obj ob;
	bool has;
	uint64_t v;

	wp_recv(w, &ob);
	ck_assert_int_eq(proto_msg_parse(ob.o, &m, &e, &has), 0);
	ck_assert_int_eq(m.type, PROTO_NOTIFY);
	ck_assert(proto_method_is(&m, "w.hello"));
	ck_assert_uint_eq(m.params->via.array.size, 1);
	h = &m.params->via.array.ptr[0];
	ck_assert_uint_eq(get_uint(h, "protocol"), PROTO_VERSION);
	ck_assert(proto_str_is(proto_map_get(h, "version"), HELIX_VERSION));
	ck_assert(proto_str_is(proto_map_get(h, "flow_id"), flow));
	ck_assert_uint_eq(get_uint(h, "pid"), (uint64_t)w->pid);
	v = get_uint(h, "flow_version");
	w->hello_version = v;
	obj_free(&ob);
}

/* Wait for the worker to exit; its exit status, or 128 + signal. */
static int
wp_wait(struct wp *w)
{
	int st = 0;

	for (int i = 0; i < 1000; i++) {
		pid_t r = waitpid(w->pid, &st, WNOHANG);

		ck_assert_int_ge(r, 0);
		if (r == w->pid) {
			close(w->fd);
			proto_reader_destroy(w->rd);
			w->rd = NULL;
			w->pid = -1;
			return WIFEXITED(st) ? WEXITSTATUS(st) :
			    128 + WTERMSIG(st);
		}
		usleep(10000);
	}
	ck_abort_msg("worker %d did not exit", w->pid);
	return -1;
}

static void
wp_kill(struct wp *w)
{
	kill(w->pid, SIGKILL);
	ck_assert_int_eq(wp_wait(w), 128 + SIGKILL);
}

static const char *const sync_full[] = { "--sync", "full", NULL };
static const char *const sync_batch[] = { "--sync", "batch",
    "--sync-interval-ms", "20", NULL };
static const char *const sync_none[] = { "--sync", "none", NULL };

START_TEST(test_worker_methods)
{
	struct wp w;
	struct obj ob;
	const msgpack_object *r, *err;
	uint32_t id;

	wp_start(&w, "flow-1", sync_full);
	wp_hello(&w, "flow-1");
	ck_assert_uint_eq(w.hello_version, 0);

	expect_applied(&w, req_apply(&w, "a", -1, "alice"), 1);
	expect_applied(&w, req_apply(&w, "b", 1, NULL), 2);

	/* conflict carries the current version; nothing applied */
	id = req_apply(&w, "c", 1, "alice");
	err = expect_error(&w, &ob, id, "conflict");
	ck_assert_uint_eq(get_uint(err, "version"), 2);
	obj_free(&ob);
	/* an invalid op: the same node again */
	id = req_apply(&w, "a", -1, NULL);
	err = expect_error(&w, &ob, id, "invalid_op");
	ck_assert_uint_eq(get_uint(err, "index"), 0);
	obj_free(&ob);

	/* flow.get */
	r = expect_result(&w, &ob, req0(&w, "flow.get"));
	ck_assert_uint_eq(get_uint(r, "version"), 2);
	ck_assert(proto_str_is(proto_map_get(r, "id"), "flow-1"));
	ck_assert_uint_eq(proto_map_get(r, "nodes")->via.array.size, 2);
	obj_free(&ob);

	/* flow.history */
	r = expect_result(&w, &ob, req_since(&w, "flow.history", 0));
	ck_assert_uint_eq(proto_map_get(r, "updates")->via.array.size, 2);
	ck_assert_uint_eq(get_uint(&proto_map_get(r, "updates")->via.array.ptr[0],
	    "version"), 1);
	ck_assert(proto_str_is(proto_map_get(
	    &proto_map_get(r, "updates")->via.array.ptr[0], "origin"),
	    "alice"));
	ck_assert(proto_is_nil(proto_map_get(
	    &proto_map_get(r, "updates")->via.array.ptr[1], "origin")));
	ck_assert(proto_map_get(r, "complete")->via.boolean);
	obj_free(&ob);
	r = expect_result(&w, &ob, req_since(&w, "flow.history", 5));
	ck_assert_uint_eq(proto_map_get(r, "updates")->via.array.size, 0);
	ck_assert(!proto_map_get(r, "complete")->via.boolean);
	obj_free(&ob);

	/* w.sync with and without since */
	r = expect_result(&w, &ob, req_since(&w, "w.sync", 1));
	ck_assert_uint_eq(get_uint(r, "version"), 2);
	ck_assert_uint_eq(proto_map_get(r, "updates")->via.array.size, 1);
	ck_assert(proto_map_get(r, "complete")->via.boolean);
	obj_free(&ob);
	r = expect_result(&w, &ob, req_since(&w, "w.sync", -1));
	ck_assert_uint_eq(get_uint(r, "version"), 2);
	ck_assert_uint_eq(proto_map_get(r, "updates")->via.array.size, 0);
	obj_free(&ob);
	r = expect_result(&w, &ob, req0(&w, "w.sync"));
	ck_assert_uint_eq(get_uint(r, "version"), 2);
	obj_free(&ob);

	/* w.status, w.ping */
	r = expect_result(&w, &ob, req0(&w, "w.status"));
	ck_assert_uint_eq(get_uint(r, "version"), 2);
	ck_assert_uint_eq(get_uint(r, "pid"), (uint64_t)w.pid);
	ck_assert_uint_gt(get_uint(r, "rss_bytes"), 0);
	obj_free(&ob);
	r = expect_result(&w, &ob, req0(&w, "w.ping"));
	ck_assert(proto_str_is(r, "pong"));
	obj_free(&ob);

	/* errors that keep the worker alive */
	expect_error(&w, &ob, req0(&w, "flow.nope"), "unknown_method");
	obj_free(&ob);
	expect_error(&w, &ob, req_since(&w, "w.ping", 1), "invalid_params");
	obj_free(&ob);
	expect_error(&w, &ob, req0(&w, "flow.history"), "invalid_params");
	obj_free(&ob);
	{
		msgpack_sbuffer sb;
		msgpack_packer pk;

		req_begin(&w, &sb, &pk, "flow.apply", 1);
		proto_pack_str(&pk, "not ops");
		expect_error(&w, &ob, req_send(&w, &sb), "invalid_params");
		obj_free(&ob);
		req_begin(&w, &sb, &pk, "flow.apply", 3);
		msgpack_pack_array(&pk, 0);
		msgpack_pack_nil(&pk);
		proto_pack_str(&pk, "has space");
		expect_error(&w, &ob, req_send(&w, &sb), "invalid_params");
		obj_free(&ob);
		/* [0, 99, "w.ping"] has a msgid: invalid_request */
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_array(&pk, 3);
		msgpack_pack_uint32(&pk, 0);
		msgpack_pack_uint32(&pk, 99);
		proto_pack_str(&pk, "w.ping");
		wp_send_raw(&w, sb.data, sb.size);
		msgpack_sbuffer_destroy(&sb);
		expect_error(&w, &ob, 99, "invalid_request");
		obj_free(&ob);
	}

	/* w.stop: {} and exit 0 */
	r = expect_result(&w, &ob, req0(&w, "w.stop"));
	ck_assert_int_eq(r->type, MSGPACK_OBJECT_MAP);
	ck_assert_uint_eq(r->via.map.size, 0);
	obj_free(&ob);
	ck_assert_int_eq(wp_wait(&w), 0);

	/* a restart sees version 2 */
	wp_start(&w, "flow-1", sync_none);
	wp_hello(&w, "flow-1");
	ck_assert_uint_eq(w.hello_version, 2);
	req0(&w, "w.stop");
	expect_result(&w, &ob, w.seq);
	obj_free(&ob);
	ck_assert_int_eq(wp_wait(&w), 0);
}
END_TEST

/* Acknowledged means committed: kill -9 right after and find it. */
static void
kill_after_ack(const char *const *mode)
{
	struct wp w;
	struct obj ob;
	const msgpack_object *r;

	wp_start(&w, "durable", mode);
	wp_hello(&w, "durable");
	ck_assert_uint_eq(w.hello_version, 0);
	expect_applied(&w, req_apply(&w, "k1", 0, "alice"), 1);
	wp_kill(&w);

	wp_start(&w, "durable", mode);
	wp_hello(&w, "durable");
	ck_assert_uint_eq(w.hello_version, 1);
	r = expect_result(&w, &ob, req0(&w, "flow.get"));
	ck_assert_uint_eq(get_uint(r, "version"), 1);
	ck_assert(proto_str_is(proto_map_get(
	    &proto_map_get(r, "nodes")->via.array.ptr[0], "id"), "k1"));
	obj_free(&ob);
	/* history survived too */
	r = expect_result(&w, &ob, req_since(&w, "w.sync", 0));
	ck_assert_uint_eq(proto_map_get(r, "updates")->via.array.size, 1);
	obj_free(&ob);
	wp_kill(&w);
}

START_TEST(test_worker_kill_full)
{
	kill_after_ack(sync_full);
}
END_TEST

START_TEST(test_worker_kill_batch)
{
	kill_after_ack(sync_batch);
}
END_TEST

START_TEST(test_worker_kill_none)
{
	kill_after_ack(sync_none);
}
END_TEST

/* Many applies in one write: answered in order, each after its update. */
/* How many lines of the file contain needle. */
static int
count_lines(const char *path, const char *needle)
{
	char line[4096];
	FILE *fp = fopen(path, "r");
	int n = 0;

	ck_assert_ptr_nonnull(fp);
	while (fgets(line, sizeof(line), fp) != NULL)
		if (strstr(line, needle) != NULL)
			n++;
	fclose(fp);
	return n;
}

static void
pipelined(const char *const *mode)
{
	enum { N = 200 };
	const char *argv[16];
	char log[PATH_MAX];
	msgpack_sbuffer all, sb;
	msgpack_packer pk;
	struct wp w;
	struct obj ob;
	uint32_t first;
	char id[16];
	int n = 0, syncs;

	for (; mode[n] != NULL; n++)
		argv[n] = mode[n];
	argv[n++] = "--log-level";
	argv[n++] = "debug";
	argv[n] = NULL;
	ck_assert_int_lt(snprintf(log, sizeof(log), "%s/worker.log", tmpdir),
	    (int)sizeof(log));
	wp_stderr = log;
	wp_start(&w, "pipe", argv);
	wp_stderr = NULL;
	wp_hello(&w, "pipe");
	msgpack_sbuffer_init(&all);
	first = w.seq + 1;
	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "p%d", i);
		req_begin(&w, &sb, &pk, "flow.apply", 1);
		msgpack_pack_array(&pk, 1);
		pack_add_node(&pk, id, 0);
		msgpack_sbuffer_write(&all, sb.data, sb.size);
		msgpack_sbuffer_destroy(&sb);
		if (i == N / 2) {	/* a read in the middle of the batch */
			req_begin(&w, &sb, &pk, "flow.get", 0);
			msgpack_sbuffer_write(&all, sb.data, sb.size);
			msgpack_sbuffer_destroy(&sb);
		}
	}
	wp_send_raw(&w, all.data, all.size);
	msgpack_sbuffer_destroy(&all);
	for (uint32_t i = 0, msgid = first; i < N; i++, msgid++) {
		expect_applied(&w, msgid, i + 1);
		if (i == N / 2) {
			msgid++;
			ck_assert_uint_eq(get_uint(expect_result(&w, &ob,
			    msgid), "version"), i + 1);
			obj_free(&ob);
		}
	}
	expect_result(&w, &ob, req0(&w, "w.stop"));
	obj_free(&ob);
	ck_assert_int_eq(wp_wait(&w), 0);

	/* group commit: far fewer fsyncs than applies (none without sync) */
	syncs = count_lines(log, "event=store.sync");
	ck_assert_int_eq(count_lines(log, "event=flow.apply"), N);
	if (mode == sync_none)
		ck_assert_int_eq(syncs, 0);
	else
		ck_assert_msg(syncs >= 1 && syncs < N / 4,
		    "%d fsyncs for %d applies", syncs, N);
}

START_TEST(test_worker_pipeline_full)
{
	pipelined(sync_full);
}
END_TEST

START_TEST(test_worker_pipeline_batch)
{
	pipelined(sync_batch);
}
END_TEST

START_TEST(test_worker_pipeline_none)
{
	pipelined(sync_none);
}
END_TEST

START_TEST(test_worker_big)
{
	/* a 12 MiB document goes out without blocking the worker for good */
	static const char *const opts[] = { "--max-message-bytes", "4m", NULL };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const msgpack_object *r;
	struct obj ob;
	struct wp w;
	char id[16];

	wp_start(&w, "big", opts);
	wp_hello(&w, "big");
	for (int i = 0; i < 4; i++) {
		snprintf(id, sizeof(id), "b%d", i);
		req_begin(&w, &sb, &pk, "flow.apply", 1);
		msgpack_pack_array(&pk, 50);
		for (int j = 0; j < 50; j++) {
			char nid[32];

			snprintf(nid, sizeof(nid), "%s-%d", id, j);
			pack_add_node(&pk, nid, 60000);
		}
		expect_applied(&w, req_send(&w, &sb), (uint64_t)i + 1);
	}
	/* several big answers queued at once, read slowly */
	for (int i = 0; i < 3; i++)
		req0(&w, "flow.get");
	usleep(200000);
	for (int i = 0; i < 3; i++) {
		r = expect_result(&w, &ob, w.seq - 2 + (uint32_t)i);
		ck_assert_uint_eq(proto_map_get(r, "nodes")->via.array.size,
		    200);
		ck_assert_uint_gt(ob.sb.size, 12000000);
		obj_free(&ob);
	}
	r = expect_result(&w, &ob, req0(&w, "w.ping"));
	obj_free(&ob);
	expect_result(&w, &ob, req0(&w, "w.stop"));
	obj_free(&ob);
	ck_assert_int_eq(wp_wait(&w), 0);
}
END_TEST

START_TEST(test_worker_delete)
{
	struct wp w;
	struct obj ob;
	const msgpack_object *r;

	wp_start(&w, "del", sync_full);
	wp_hello(&w, "del");
	expect_applied(&w, req_apply(&w, "d1", -1, NULL), 1);
	r = expect_result(&w, &ob, req0(&w, "w.delete"));
	ck_assert(proto_map_get(r, "deleted")->via.boolean);
	obj_free(&ob);
	ck_assert_int_eq(wp_wait(&w), 0);

	wp_start(&w, "del", sync_batch);
	wp_hello(&w, "del");
	ck_assert_uint_eq(w.hello_version, 0);
	r = expect_result(&w, &ob, req0(&w, "flow.get"));
	ck_assert_uint_eq(proto_map_get(r, "nodes")->via.array.size, 0);
	obj_free(&ob);
	r = expect_result(&w, &ob, req0(&w, "w.delete"));
	ck_assert(!proto_map_get(r, "deleted")->via.boolean);
	obj_free(&ob);
	ck_assert_int_eq(wp_wait(&w), 0);
}
END_TEST

START_TEST(test_worker_exits)
{
	static const unsigned char hostile[] = { 0xdd, 0x0f, 0xff, 0xff, 0xf0 };
	struct wp w;
	struct obj ob;

	/* EOF on fd 3: exit 0 */
	wp_start(&w, "ex", sync_batch);
	wp_hello(&w, "ex");
	expect_applied(&w, req_apply(&w, "e1", -1, NULL), 1);
	shutdown(w.fd, SHUT_WR);
	ck_assert_int_eq(wp_wait(&w), 0);

	/* bytes that are not MessagePack: exit 4 */
	wp_start(&w, "ex", NULL);
	wp_hello(&w, "ex");
	ck_assert_uint_eq(w.hello_version, 1);
	wp_send_raw(&w, "\xc1", 1);
	ck_assert_int_eq(wp_wait(&w), 4);

	/* a hostile header: exit 4, having answered what came before */
	wp_start(&w, "ex", NULL);
	wp_hello(&w, "ex");
	{
		msgpack_sbuffer sb;
		msgpack_packer pk;

		req_begin(&w, &sb, &pk, "w.ping", 0);
		msgpack_sbuffer_write(&sb, (const char *)hostile,
		    sizeof(hostile));
		req_send(&w, &sb);
	}
	expect_result(&w, &ob, w.seq);
	obj_free(&ob);
	ck_assert_int_eq(wp_wait(&w), 4);

	/* a notification from the master is a protocol violation */
	wp_start(&w, "ex", NULL);
	wp_hello(&w, "ex");
	{
		msgpack_sbuffer sb;
		msgpack_packer pk;

		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		proto_pack_notify_begin(&pk, "w.ping", 0);
		wp_send_raw(&w, sb.data, sb.size);
		msgpack_sbuffer_destroy(&sb);
	}
	ck_assert_int_eq(wp_wait(&w), 4);

	/* a corrupt snapshot: exit 3 before the hello */
	poke_snapshot("ex", "\x81\xa1x\x01", 4);
	wp_start(&w, "ex", NULL);
	ck_assert(!wp_recv_timeout(&w, &ob, 5000));
	ck_assert_int_eq(wp_wait(&w), 3);

	/* bad usage: exit 2 */
	{
		static const char *const bad[] = { "--sync", "sometimes",
		    NULL };

		wp_start(&w, "ex", bad);
		ck_assert_int_eq(wp_wait(&w), 2);
		wp_start(&w, "..bad", NULL);
		ck_assert_int_eq(wp_wait(&w), 2);
	}
}
END_TEST

START_TEST(test_worker_storage_full)
{
	/* a map that cannot grow: storage_full, and memory == disk after */
	static const char *const opts[] = { "--map-size", "64k",
	    "--map-size-max", "256k", NULL };
	msgpack_sbuffer sb;
	msgpack_packer pk;
	const msgpack_object *r;
	struct obj ob;
	struct wp w;
	uint64_t acked = 0;
	bool full = false;
	char id[16];

	wp_start(&w, "tiny", opts);
	wp_hello(&w, "tiny");
	for (int i = 0; i < 200 && !full; i++) {
		struct proto_msg m;
		struct proto_error e;
		bool has;
		uint32_t msgid;

		snprintf(id, sizeof(id), "t%d", i);
		req_begin(&w, &sb, &pk, "flow.apply", 1);
		msgpack_pack_array(&pk, 1);
		pack_add_node(&pk, id, 4000);
		msgid = req_send(&w, &sb);
		wp_recv(&w, &ob);
		ck_assert_int_eq(proto_msg_parse(ob.o, &m, &e, &has), 0);
		if (m.type == PROTO_NOTIFY) {
			obj_free(&ob);
			ck_assert_uint_eq(get_uint(expect_result(&w, &ob,
			    msgid), "version"), ++acked);
		} else {
			ck_assert_uint_eq(m.msgid, msgid);
			ck_assert(proto_str_is(proto_map_get(m.error, "code"),
			    "storage_full"));
			full = true;
		}
		obj_free(&ob);
	}
	ck_assert_msg(full, "the map never filled");
	ck_assert_uint_gt(acked, 0);
	/* the failed apply left nothing behind, in memory or on disk */
	r = expect_result(&w, &ob, req0(&w, "flow.get"));
	ck_assert_uint_eq(get_uint(r, "version"), acked);
	ck_assert_uint_eq(proto_map_get(r, "nodes")->via.array.size, acked);
	obj_free(&ob);
	r = expect_result(&w, &ob, req0(&w, "w.status"));
	ck_assert_uint_eq(get_uint(r, "version"), acked);
	obj_free(&ob);
	wp_kill(&w);
	wp_start(&w, "tiny", opts);
	wp_hello(&w, "tiny");
	ck_assert_uint_eq(w.hello_version, acked);
	wp_kill(&w);
}
END_TEST

/*
 * Start helix-worker through a middle process that plays the master and
 * dies: at once (race), or when the test closes *go (after the hello).  The
 * test keeps the master's end of the channel open, as a leaked descriptor
 * would, so only PDEATHSIG and the getppid() check can end the worker.
 * Returns the worker's pid; the test is its subreaper.
 */
static pid_t
orphan_start(bool pass_master_pid, int *chan, int *go, pid_t *middle)
{
	int sv[2], pp[2], gp[2];
	pid_t mid, worker = -1;

	find_worker();
	ck_assert_int_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(pipe(pp), 0);
	ck_assert_int_eq(pipe(gp), 0);
	mid = fork();
	ck_assert_int_ge(mid, 0);
	if (mid == 0) {
		char me[32];
		const char *argv[] = { worker_path, "--flow", "orphan",
		    "--state-dir", tmpdir, "--master-pid", me, NULL };
		pid_t p;
		char c;

		snprintf(me, sizeof(me), "%ld", (long)getpid());
		if (!pass_master_pid)
			argv[5] = NULL;
		if ((p = fork()) == 0) {
			if (dup2(sv[1], 3) != 3)
				_exit(126);
			close_range(4, ~0U, 0);
			execv(worker_path, (char *const *)argv);
			_exit(127);
		}
		if (write(pp[1], &p, sizeof(p)) != sizeof(p))
			_exit(1);
		if (go != NULL) {
			close(gp[1]);
			while (read(gp[0], &c, 1) > 0)
				;
		}
		_exit(0);
	}
	close(sv[1]);
	close(pp[1]);
	close(gp[0]);
	ck_assert_int_eq(read(pp[0], &worker, sizeof(worker)),
	    sizeof(worker));
	close(pp[0]);
	ck_assert_int_gt(worker, 0);
	*chan = sv[0];
	*middle = mid;
	if (go != NULL)
		*go = gp[1];
	else {
		close(gp[1]);
		ck_assert_int_eq(waitpid(mid, NULL, 0), mid);
	}
	return worker;
}

/* The worker must be gone within 5 s; its wait status. */
static int
orphan_wait(pid_t worker)
{
	int st;

	for (int i = 0; i < 500; i++) {
		if (waitpid(worker, &st, WNOHANG) == worker)
			return st;
		usleep(10000);
	}
	kill(worker, SIGKILL);
	ck_abort_msg("the worker outlived its master");
	return -1;
}

START_TEST(test_worker_parent_death)
{
	struct wp w;
	int go, st;
	pid_t mid;

	memset(&w, 0, sizeof(w));
	w.pid = orphan_start(false, &w.fd, &go, &mid);
	w.rd = proto_reader_create(1 << 20, PROTO_MAX_DEPTH);
	wp_hello(&w, "orphan");		/* past the start-up checks */
	close(go);			/* the master dies */
	ck_assert_int_eq(waitpid(mid, &st, 0), mid);
	st = orphan_wait(w.pid);
	ck_assert_msg(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
	    "want SIGKILL from PDEATHSIG, got status %d", st);
	proto_reader_destroy(w.rd);
	close(w.fd);
}
END_TEST

START_TEST(test_worker_orphan_race)
{
	/* the master dies before the worker looks: --master-pid catches it */
	int chan, st;
	pid_t mid, worker = orphan_start(true, &chan, NULL, &mid);

	st = orphan_wait(worker);
	ck_assert_msg((WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) ||
	    (WIFEXITED(st) && WEXITSTATUS(st) == 0), "status %d", st);
	close(chan);
}
END_TEST

START_TEST(test_resized)
{
	/* another process grows the map under an open store */
	struct store *s = open_store(64 * 1024, 0, 100, 0);
	struct flow *f = load(s, "mine"), *g;
	pid_t pid;
	int st;

	commit_title(s, f, "before");
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store_opts o;
		struct store *c;
		struct flow *cf;
		char err[256];

		store_opts_default(&o);
		o.map_size = 64 * 1024;
		if (store_open(&c, tmpdir, &o, err, sizeof(err)) != STORE_OK ||
		    store_load(c, "theirs", &limits, &cf) != STORE_OK)
			_exit(10);
		for (int i = 0; i < 100; i++) {
			struct obj ops;
			char id[16];

			snprintf(id, sizeof(id), "n%d", i);
			ops_add_node(&ops, id, 4000);
			if (commit(c, cf, ops.o, NULL) != STORE_OK)
				_exit(11);
			obj_free(&ops);
		}
		if (store_map_size(c) < 1024 * 1024)
			_exit(12);
		_exit(0);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "child %d", st);
	/* reads and writes here still work and see the other's data */
	g = load(s, "theirs");
	ck_assert_uint_eq(flow_version(g), 100);
	flow_destroy(g);
	commit_title(s, f, "after");
	check_history(s, "mine", 0, 2, 1, true);
	g = load(s, "mine");
	assert_same_flow(f, g);
	flow_destroy(g);
	flow_destroy(f);
	store_close(s);
}
END_TEST

START_TEST(test_worker_concurrent)
{
	/* four workers on one environment, growing a small map together */
	enum { W = 4, N = 50 };
	static const char *const opts[] = { "--map-size", "256k",
	    "--sync", "batch", "--sync-interval-ms", "5", NULL };
	struct wp w[W];
	struct obj ob;
	const msgpack_object *r;
	char flow[W][16], id[32];
	uint32_t first[W];

	for (int k = 0; k < W; k++) {
		snprintf(flow[k], sizeof(flow[k]), "conc-%d", k);
		wp_start(&w[k], flow[k], opts);
	}
	for (int k = 0; k < W; k++)
		wp_hello(&w[k], flow[k]);
	for (int k = 0; k < W; k++) {
		msgpack_sbuffer all, sb;
		msgpack_packer pk;

		msgpack_sbuffer_init(&all);
		first[k] = w[k].seq + 1;
		for (int i = 0; i < N; i++) {
			snprintf(id, sizeof(id), "c%d-%d", k, i);
			req_begin(&w[k], &sb, &pk, "flow.apply", 1);
			msgpack_pack_array(&pk, 1);
			pack_add_node(&pk, id, 3000);
			msgpack_sbuffer_write(&all, sb.data, sb.size);
			msgpack_sbuffer_destroy(&sb);
		}
		wp_send_raw(&w[k], all.data, all.size);
		msgpack_sbuffer_destroy(&all);
	}
	for (int k = 0; k < W; k++) {
		for (int i = 0; i < N; i++)
			expect_applied(&w[k], first[k] + (uint32_t)i,
			    (uint64_t)i + 1);
		expect_result(&w[k], &ob, req0(&w[k], "w.stop"));
		obj_free(&ob);
		ck_assert_int_eq(wp_wait(&w[k]), 0);
	}
	for (int k = 0; k < W; k++) {
		wp_start(&w[k], flow[k], NULL);
		wp_hello(&w[k], flow[k]);
		ck_assert_uint_eq(w[k].hello_version, N);
		r = expect_result(&w[k], &ob, req0(&w[k], "flow.get"));
		ck_assert_uint_eq(proto_map_get(r, "nodes")->via.array.size, N);
		obj_free(&ob);
		r = expect_result(&w[k], &ob, req_since(&w[k], "w.sync", 0));
		ck_assert_uint_eq(proto_map_get(r, "updates")->via.array.size,
		    N);
		obj_free(&ob);
		wp_kill(&w[k]);
	}
}
END_TEST

/* ---- periodic snapshots and the history delta ------------------------ */

/* Put (val != NULL) or delete a raw value, bypassing store.c. */
static void
poke(const char *db, const void *key, size_t keylen, const void *val,
    size_t len)
{
	char path[PATH_MAX];
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi dbi;
	MDB_val k = { keylen, (void *)(uintptr_t)key };
	MDB_val v = { len, (void *)(uintptr_t)val };

	ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", tmpdir,
	    STORE_DIRNAME), (int)sizeof(path));
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 4);
	mdb_env_set_maxreaders(env, STORE_MAX_READERS_DEFAULT);
	mdb_env_set_mapsize(env, STORE_MAP_SIZE_DEFAULT);
	ck_assert_int_eq(mdb_env_open(env, path, 0, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, 0, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, db, 0, &dbi), 0);
	if (val != NULL)
		ck_assert_int_eq(mdb_put(txn, dbi, &k, &v, 0), 0);
	else
		ck_assert_int_eq(mdb_del(txn, dbi, &k, NULL), 0);
	ck_assert_int_eq(mdb_txn_commit(txn), 0);
	mdb_env_close(env);
}

static size_t
history_key(unsigned char *kb, const char *id, uint64_t version)
{
	size_t len = strlen(id);

	memcpy(kb, id, len);
	kb[len] = '\0';
	for (int i = 7; i >= 0; i--) {
		kb[len + 1 + (size_t)i] = (unsigned char)(version & 0xff);
		version >>= 8;
	}
	return len + 1 + 8;
}

static void
poke_history(const char *id, uint64_t version, const void *val, size_t len)
{
	unsigned char kb[PROTO_FLOW_ID_MAX + 9];

	poke("history", kb, history_key(kb, id, version), val, len);
}

/*
 * What the raw databases hold for a flow: the history entries (consecutive
 * from first) and the snapshot's version.  Read in a child process: LMDB
 * forbids a second open of an environment the test may hold open.
 */
static void raw_state1(const char *, uint64_t *, uint64_t *, bool *,
    uint64_t *);

static void
raw_state(const char *id, uint64_t *first, uint64_t *count, bool *has_snap,
    uint64_t *snap_version)
{
	struct { uint64_t first, count, sv; bool has; } r;
	pid_t pid;
	int p[2], st;

	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(p[0]);
		memset(&r, 0, sizeof(r));
		raw_state1(id, &r.first, &r.count, &r.has, &r.sv);
		_exit(write(p[1], &r, sizeof(r)) == sizeof(r) ? 0 : 1);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &r, sizeof(r)), sizeof(r));
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert_int_eq(st, 0);
	*first = r.first;
	*count = r.count;
	*has_snap = r.has;
	*snap_version = r.sv;
}

static void
raw_state1(const char *id, uint64_t *first, uint64_t *count, bool *has_snap,
    uint64_t *snap_version)
{
	char path[PATH_MAX];
	unsigned char kb[PROTO_FLOW_ID_MAX + 9];
	size_t len = strlen(id);
	MDB_env *env;
	MDB_txn *txn;
	MDB_dbi h, sn;
	MDB_cursor *c;
	MDB_val k, v;
	int rc;

	ck_assert_int_lt(snprintf(path, sizeof(path), "%s/%s", tmpdir,
	    STORE_DIRNAME), (int)sizeof(path));
	ck_assert_int_eq(mdb_env_create(&env), 0);
	mdb_env_set_maxdbs(env, 4);
	mdb_env_set_maxreaders(env, STORE_MAX_READERS_DEFAULT);
	ck_assert_int_eq(mdb_env_open(env, path, MDB_RDONLY, 0600), 0);
	ck_assert_int_eq(mdb_txn_begin(env, NULL, MDB_RDONLY, &txn), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "history", 0, &h), 0);
	ck_assert_int_eq(mdb_dbi_open(txn, "snapshots", 0, &sn), 0);
	*first = 0;
	*count = 0;
	ck_assert_int_eq(mdb_cursor_open(txn, h, &c), 0);
	k.mv_data = kb;
	k.mv_size = history_key(kb, id, 0);
	for (rc = mdb_cursor_get(c, &k, &v, MDB_SET_RANGE); rc == 0;
	    rc = mdb_cursor_get(c, &k, &v, MDB_NEXT)) {
		const unsigned char *p = k.mv_data;
		uint64_t ver = 0;

		if (k.mv_size != len + 9 || memcmp(p, id, len + 1) != 0)
			break;
		for (int i = 0; i < 8; i++)
			ver = (ver << 8) | p[len + 1 + (size_t)i];
		if (*count == 0)
			*first = ver;
		ck_assert_uint_eq(ver, *first + *count);
		(*count)++;
	}
	mdb_cursor_close(c);
	k.mv_data = (void *)(uintptr_t)id;
	k.mv_size = len;
	rc = mdb_get(txn, sn, &k, &v);
	*has_snap = rc == 0;
	*snap_version = 0;
	if (rc == 0) {
		struct obj ob;

		obj_from_bytes(&ob, v.mv_data, v.mv_size);
		*snap_version = get_uint(ob.o, "version");
		obj_free(&ob);
	}
	mdb_txn_abort(txn);
	mdb_env_close(env);
}

/* The i-th change of a test flow: mostly nodes, a title now and then. */
static void
nth_ops(struct obj *ops, int i)
{
	char id[32];

	if (i % 7 == 3) {
		snprintf(id, sizeof(id), "title %d", i);
		ops_set_title(ops, id);
	} else {
		snprintf(id, sizeof(id), "n%d", i);
		ops_add_node(ops, id, (size_t)(i % 5) * 10);
	}
}

static int
commit_nth(struct store *s, struct flow *f, int i)
{
	struct obj ops;
	int rc;

	nth_ops(&ops, i);
	rc = commit(s, f, ops.o, "alice");
	obj_free(&ops);
	return rc;
}

/* The same change in memory only. */
static void
apply_nth(struct flow *f, int i)
{
	struct proto_error e;
	struct obj ops;

	nth_ops(&ops, i);
	memset(&e, 0, sizeof(e));
	ck_assert_int_eq(flow_apply(f, ops.o, &limits, &e), 0);
	obj_free(&ops);
}

START_TEST(test_snapshot_interval)
{
	static const int counts[] = { 1, STORE_SNAPSHOT_EVERY - 1,
	    STORE_SNAPSHOT_EVERY, STORE_SNAPSHOT_EVERY + 1,
	    3 * STORE_SNAPSHOT_EVERY + 5 };
	struct store *s;
	struct flow *f[5], *g;
	uint64_t first, count, sv;
	bool has;
	char id[5][16];

	s = open_store(0, 0, 1000, 0);
	for (int c = 0; c < 5; c++) {
		snprintf(id[c], sizeof(id[c]), "snap-%d", counts[c]);
		f[c] = load(s, id[c]);
		for (int i = 0; i < counts[c]; i++)
			ck_assert_int_eq(commit_nth(s, f[c], i), STORE_OK);
		/* reloaded in the same process too */
		g = load(s, id[c]);
		assert_same_flow(f[c], g);
		flow_destroy(g);
	}
	store_close(s);

	s = open_store(0, 0, 1000, 0);
	for (int c = 0; c < 5; c++) {
		uint64_t n = (uint64_t)counts[c];

		g = load(s, id[c]);
		ck_assert_uint_eq(flow_version(g), n);
		assert_same_flow(f[c], g);
		flow_destroy(g);
		/* a snapshot every STORE_SNAPSHOT_EVERY versions only */
		raw_state(id[c], &first, &count, &has, &sv);
		ck_assert_uint_eq(first, 1);
		ck_assert_uint_eq(count, n);
		ck_assert(has == (n >= STORE_SNAPSHOT_EVERY));
		ck_assert_uint_eq(sv, n - n % STORE_SNAPSHOT_EVERY);
		check_history(s, id[c], 0, (uint32_t)n, 1, true);
		/* and commits go on from a restored flow */
		g = load(s, id[c]);
		ck_assert_int_eq(commit_nth(s, g, counts[c]), STORE_OK);
		apply_nth(f[c], counts[c]);
		assert_same_flow(f[c], g);
		flow_destroy(g);
		g = load(s, id[c]);
		assert_same_flow(f[c], g);
		flow_destroy(g);
		flow_destroy(f[c]);
	}
	store_close(s);
}
END_TEST

START_TEST(test_snapshot_trim)
{
	/* short history: trimming keeps every entry restore needs */
	enum { N = 3 * STORE_SNAPSHOT_EVERY + 5 };
	static const unsigned hls[] = { 0, 3, 10 };
	struct store *s;
	struct flow *f, *g;
	uint64_t first, count, sv, v, upto;
	bool has;

	for (int h = 0; h < 3; h++) {
		unsigned hl = hls[h];
		uint32_t want;

		s = open_store(0, 0, hl, 0);
		f = load(s, "trim");
		for (int i = 0; i < N; i++) {
			ck_assert_int_eq(commit_nth(s, f, i), STORE_OK);
			raw_state("trim", &first, &count, &has, &sv);
			v = (uint64_t)i + 1;
			ck_assert(has == (v >= STORE_SNAPSHOT_EVERY));
			ck_assert_uint_eq(sv, v - v % STORE_SNAPSHOT_EVERY);
			/* entries after the snapshot, at least hl of them */
			upto = v > hl ? v - hl : 0;
			if (upto > sv)
				upto = sv;
			ck_assert_uint_eq(count, v - upto);
			if (count > 0)
				ck_assert_uint_eq(first, upto + 1);
			if (i % 17 == 0 || i == N - 1) {
				store_close(s);
				s = open_store(0, 0, hl, 0);
				g = load(s, "trim");
				assert_same_flow(f, g);
				flow_destroy(g);
			}
		}
		/* flow.history answers history_length, no more */
		want = hl;
		check_history(s, "trim", 0, want, N - want + 1, want == N);
		check_history(s, "trim", N - 1, hl > 0 ? 1 : 0,
		    N, hl > 0);
		flow_destroy(f);
		ck_assert_int_eq(store_delete(s, "trim", &has), STORE_OK);
		ck_assert(has);
		raw_state("trim", &first, &count, &has, &sv);
		ck_assert_uint_eq(count, 0);
		ck_assert(!has);
		store_close(s);
	}
}
END_TEST

/* A flow at 3N + 5 with snapshot 3N, reopened after a poke: corrupt. */
static void
expect_corrupt_after(void (*damage)(void), const char *what)
{
	enum { N = 3 * STORE_SNAPSHOT_EVERY + 5 };
	struct store *s = open_store(0, 0, 1000, 0);
	struct flow *f = load(s, "dmg");
	bool existed;
	int rc;

	for (int i = 0; i < N; i++)
		ck_assert_int_eq(commit_nth(s, f, i), STORE_OK);
	flow_destroy(f);
	store_close(s);
	damage();
	s = open_store(0, 0, 1000, 0);
	rc = store_load(s, "dmg", &limits, &f);
	ck_assert_msg(rc == STORE_CORRUPT, "%s: got %d (%s)", what, rc,
	    store_errmsg(s));
	ck_assert_ptr_null(f);
	ck_assert_int_eq(store_delete(s, "dmg", &existed), STORE_OK);
	store_close(s);
}

static void
dmg_gap(void)
{
	poke_history("dmg", 3 * STORE_SNAPSHOT_EVERY + 2, NULL, 0);
}

static void
dmg_last(void)
{
	/* meta is ahead of history */
	poke_history("dmg", 3 * STORE_SNAPSHOT_EVERY + 5, NULL, 0);
}

static void
dmg_garbage(void)
{
	poke_history("dmg", 3 * STORE_SNAPSHOT_EVERY + 1, "\xc1", 1);
}

static void
dmg_not_update(void)
{
	poke_history("dmg", 3 * STORE_SNAPSHOT_EVERY + 1, "\x81\xa1x\x01", 4);
}

static void
dmg_wrong_version(void)
{
	struct obj ops;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	ops_set_title(&ops, "v");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	store_pack_update(&pk, 7, ops.o, NULL, 0);
	poke_history("dmg", 3 * STORE_SNAPSHOT_EVERY + 1, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	obj_free(&ops);
}

static void
dmg_fails(void)
{
	/* adds a node that the snapshot already has */
	struct obj ops;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	ops_add_node(&ops, "n0", 0);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	store_pack_update(&pk, 3 * STORE_SNAPSHOT_EVERY + 1, ops.o, NULL, 0);
	poke_history("dmg", 3 * STORE_SNAPSHOT_EVERY + 1, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	obj_free(&ops);
}

static void
dmg_beyond(void)
{
	/* an entry after meta's version */
	struct obj ops;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	ops_set_title(&ops, "late");
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	store_pack_update(&pk, 3 * STORE_SNAPSHOT_EVERY + 6, ops.o, NULL, 0);
	poke_history("dmg", 3 * STORE_SNAPSHOT_EVERY + 6, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	obj_free(&ops);
}

static void
dmg_no_snapshot(void)
{
	poke("snapshots", "dmg", 3, NULL, 0);
}

START_TEST(test_history_corrupt)
{
	struct store *s;
	struct flow *f;

	expect_corrupt_after(dmg_gap, "a gap");
	expect_corrupt_after(dmg_last, "the last entry missing");
	expect_corrupt_after(dmg_garbage, "an entry that is not msgpack");
	expect_corrupt_after(dmg_not_update, "an entry that is no update");
	expect_corrupt_after(dmg_wrong_version, "an entry's own version");
	expect_corrupt_after(dmg_fails, "an entry that does not apply");
	expect_corrupt_after(dmg_beyond, "an entry after meta");
	expect_corrupt_after(dmg_no_snapshot, "the snapshot missing");

	/* before the first snapshot: the first entry missing */
	s = open_store(0, 0, 1000, 0);
	f = load(s, "early");
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(commit_nth(s, f, i), STORE_OK);
	flow_destroy(f);
	store_close(s);
	poke_history("early", 1, NULL, 0);
	s = open_store(0, 0, 1000, 0);
	ck_assert_int_eq(store_load(s, "early", &limits, &f), STORE_CORRUPT);
	store_close(s);
}
END_TEST

START_TEST(test_snapshot_compat)
{
	/* a meta without "snapshot" (every apply used to write one) */
	struct store *s = open_store(0, 0, 1000, 0);
	struct flow *f = load(s, "old"), *g;
	msgpack_sbuffer sb;
	msgpack_packer pk;

	for (int i = 0; i < STORE_SNAPSHOT_EVERY; i++)
		ck_assert_int_eq(commit_nth(s, f, i), STORE_OK);
	store_close(s);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&pk, 2);
	proto_pack_key(&pk, "version");
	msgpack_pack_uint64(&pk, STORE_SNAPSHOT_EVERY);
	proto_pack_key(&pk, "updated_at");
	msgpack_pack_double(&pk, 1.5);
	poke("meta", "old", 3, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);

	s = open_store(0, 0, 1000, 0);
	g = load(s, "old");
	assert_same_flow(f, g);
	flow_destroy(g);
	for (int i = STORE_SNAPSHOT_EVERY; i < STORE_SNAPSHOT_EVERY + 10; i++)
		ck_assert_int_eq(commit_nth(s, f, i), STORE_OK);
	store_close(s);
	s = open_store(0, 0, 1000, 0);
	g = load(s, "old");
	assert_same_flow(f, g);
	flow_destroy(g);
	flow_destroy(f);
	store_close(s);
}
END_TEST

START_TEST(test_snapshot_diverged)
{
	/*
	 * A commit that does not follow the stored version (memory and disk
	 * apart) writes a full snapshot and drops the entries after it.
	 */
	struct store *s = open_store(0, 0, 1000, 0);
	struct flow *f = load(s, "div"), *stale, *g;
	uint64_t first, count, sv;
	bool has;

	for (int i = 0; i < STORE_SNAPSHOT_EVERY + 6; i++)
		ck_assert_int_eq(commit_nth(s, f, i), STORE_OK);
	stale = load(s, "div");
	for (int i = STORE_SNAPSHOT_EVERY + 6; i < STORE_SNAPSHOT_EVERY + 11;
	    i++)
		ck_assert_int_eq(commit_nth(s, f, i), STORE_OK);
	commit_title(s, stale, "stale");
	raw_state("div", &first, &count, &has, &sv);
	ck_assert(has);
	ck_assert_uint_eq(sv, STORE_SNAPSHOT_EVERY + 7);
	ck_assert_uint_eq(first + count - 1, STORE_SNAPSHOT_EVERY + 7);
	g = load(s, "div");
	assert_same_flow(stale, g);
	flow_destroy(g);
	/* and deltas again after that */
	commit_title(s, stale, "on");
	store_close(s);
	s = open_store(0, 0, 1000, 0);
	g = load(s, "div");
	assert_same_flow(stale, g);
	flow_destroy(g);
	flow_destroy(stale);
	flow_destroy(f);
	store_close(s);
}
END_TEST

START_TEST(test_crash_kill)
{
	/*
	 * A child commits and reports each acknowledged version on a pipe;
	 * SIGKILL lands at some point between commits or inside one.  The
	 * reopened flow holds at least every acknowledged change and is the
	 * same document as the same changes applied in memory.
	 */
	struct store *s;
	struct flow *f, *want;
	uint64_t acked = 0, v;
	pid_t pid;
	int p[2], st;

	s = open_store(0, 0, 10, 0);
	store_close(s);
	ck_assert_int_eq(pipe(p), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		struct store_opts o;
		char err[256];

		close(p[0]);
		store_opts_default(&o);
		o.history_length = 10;
		if (store_open(&s, tmpdir, &o, err, sizeof(err)) != STORE_OK ||
		    store_load(s, "killed", &limits, &f) != STORE_OK)
			_exit(10);
		for (int i = 0;; i++) {
			if (commit_nth(s, f, i) != STORE_OK)
				_exit(12);
			v = flow_version(f);
			if (write(p[1], &v, sizeof(v)) != sizeof(v))
				_exit(13);
		}
	}
	close(p[1]);
	while (acked < 2 * STORE_SNAPSHOT_EVERY + 37 &&
	    read(p[0], &v, sizeof(v)) == sizeof(v))
		acked = v;
	kill(pid, SIGKILL);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	ck_assert(WIFSIGNALED(st));
	close(p[0]);

	s = open_store(0, 0, 10, 0);
	f = load(s, "killed");
	ck_assert_uint_ge(flow_version(f), acked);
	want = flow_create("killed", 6);
	for (int i = 0; flow_version(want) < flow_version(f); i++)
		apply_nth(want, i);
	assert_same_flow(want, f);
	flow_destroy(want);
	flow_destroy(f);
	store_close(s);
}
END_TEST

static void
unit_setup(void)
{
	flow_limits_default(&limits);
	tmp_setup();
}

static Suite *
store_suite(void)
{
	Suite *s = suite_create("store");
	TCase *tc = tcase_create("store");
	TCase *tw = tcase_create("worker");

	tcase_add_checked_fixture(tc, unit_setup, tmp_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_reopen);
	tcase_add_test(tc, test_history);
	tcase_add_test(tc, test_delete);
	tcase_add_test(tc, test_map_growth);
	tcase_add_test(tc, test_map_full);
	tcase_add_test(tc, test_crash);
	tcase_add_test(tc, test_list_rdonly);
	tcase_add_test(tc, test_corrupt);
	tcase_add_test(tc, test_resized);
	tcase_add_test(tc, test_snapshot_interval);
	tcase_add_test(tc, test_snapshot_trim);
	tcase_add_test(tc, test_history_corrupt);
	tcase_add_test(tc, test_snapshot_compat);
	tcase_add_test(tc, test_snapshot_diverged);
	tcase_add_test(tc, test_crash_kill);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(tw, unit_setup, tmp_teardown);
	tcase_set_timeout(tw, 120);
	tcase_add_test(tw, test_worker_methods);
	tcase_add_test(tw, test_worker_kill_full);
	tcase_add_test(tw, test_worker_kill_batch);
	tcase_add_test(tw, test_worker_kill_none);
	tcase_add_test(tw, test_worker_pipeline_full);
	tcase_add_test(tw, test_worker_pipeline_batch);
	tcase_add_test(tw, test_worker_pipeline_none);
	tcase_add_test(tw, test_worker_big);
	tcase_add_test(tw, test_worker_delete);
	tcase_add_test(tw, test_worker_exits);
	tcase_add_test(tw, test_worker_storage_full);
	tcase_add_test(tw, test_worker_parent_death);
	tcase_add_test(tw, test_worker_orphan_race);
	tcase_add_test(tw, test_worker_concurrent);
	suite_add_tcase(s, tw);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(store_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
