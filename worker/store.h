/*
 * store.h: the LMDB store of helix (docs/architecture.md, "Storage").
 *
 * One environment, STATE_DIR/helix.lmdb/, shared by every worker and read by
 * helixd, with three named databases:
 *
 *   snapshots  flow id                         -> the flow document (flow_pack)
 *   history    flow id, NUL, be64 version      -> {"version","ops","origin"}
 *   meta       flow id                         -> {"version","updated_at",
 *                                                  "snapshot"}
 *
 * The snapshot is written every STORE_SNAPSHOT_EVERY versions, not at every
 * apply; the flow at meta's version is the snapshot (version "snapshot",
 * 0: none, an empty flow) with every history entry after it replayed.  So
 * history always keeps the entries after the snapshot, even beyond
 * history_length, which only bounds what store_history answers.
 *
 * The environment is opened with MDB_NOSYNC: a commit survives the death of
 * the process that made it, and durability against power loss is bought
 * explicitly with store_sync() (the worker's sync modes).
 *
 * Two ways to open it:
 *   - read-write (flags 0), what helix-worker does: creates STATE_DIR and
 *     helix.lmdb/ (mode 0700) and the three databases if missing;
 *   - STORE_RDONLY, what helixd does for mdb_reader_check and flow.list
 *     {"all": true}: the environment is first created read-write if it does
 *     not exist yet (so call it once at daemon start, before the event loop),
 *     then reopened with MDB_RDONLY; such a store only answers
 *     store_reader_check, store_list and store_meta.
 * Never use a store across fork(): open it in the process that uses it.
 * Every process must pass the same max_readers (LMDB fixes it at the first
 * open of the lock file).
 *
 * The map grows on MDB_MAP_FULL: the write transaction is aborted, the map
 * size doubled and the transaction retried, up to map_size_max (default:
 * 64 GiB or 16 x map_size, whichever is larger); past that the commit fails
 * with STORE_FULL.  MDB_MAP_RESIZED (another process grew the map) is
 * handled inside, as is EAGAIN from mdb_env_open.
 *
 * Pure C: no libevent, no logging.  Return convention of this layer: 0
 * (STORE_OK) on success, a negative enum store_status on failure, with a
 * message for people from store_errmsg().  Not thread-safe.
 */
#ifndef HELIX_STORE_H
#define HELIX_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

struct flow;
struct flow_limits;

#define STORE_DIRNAME		"helix.lmdb"
#define STORE_MAP_SIZE_DEFAULT	((size_t)1 << 30)	/* 1 GiB */
#define STORE_MAP_SIZE_CAP	((uint64_t)64 << 30)	/* 64 GiB */
#define STORE_MAX_READERS_DEFAULT 1126
#define STORE_HISTORY_DEFAULT	1000
/* A full snapshot at most every this many versions (store_commit_apply). */
#define STORE_SNAPSHOT_EVERY	64

enum store_status {
	STORE_OK = 0,
	STORE_ERROR = -1,	/* I/O or LMDB failure: storage_error */
	STORE_FULL = -2,	/* the map cannot grow further: storage_full */
	STORE_CORRUPT = -3,	/* a stored value does not decode */
};

struct store_opts {
	size_t		 map_size;	/* initial; 0: STORE_MAP_SIZE_DEFAULT */
	size_t		 map_size_max;	/* growth cap; 0: see above */
	unsigned int	 max_readers;	/* 0: STORE_MAX_READERS_DEFAULT */
	unsigned int	 history_length; /* updates kept per flow; 0 keeps none */
	int		 flags;
#define STORE_RDONLY	0x01		/* helixd: see above */
};

/* Defaults for every field (history_length STORE_HISTORY_DEFAULT). */
void	store_opts_default(struct store_opts *);

struct store;

/*
 * Open STATE_DIR/helix.lmdb.  On failure *out is NULL and err holds why
 * (the return is STORE_ERROR).  Runs mdb_reader_check once.
 */
int	store_open(struct store **out, const char *state_dir,
	    const struct store_opts *, char *err, size_t errlen);
void	store_close(struct store *);

/* The last failure, for a log line; never NULL. */
const char *store_errmsg(const struct store *);

/* Current map size in bytes (it grows on MDB_MAP_FULL). */
size_t	store_map_size(const struct store *);

/*
 * The stored flow, or a new empty one (version 0) when nothing is stored.
 * The snapshot (or an empty flow when meta names none) is decoded with
 * limits and checked against the flow id and the snapshot version in meta,
 * then the history entries after it are replayed in order with flow_apply
 * under the same limits (the worker passes limits that a stored document
 * always fits, so a lowered configuration cannot make it unreadable); the
 * result must be at meta's version.  STORE_CORRUPT when the snapshot or an
 * entry does not decode, an entry is missing (a gap) or does not apply, or
 * the versions disagree.
 */
int	store_load(struct store *, const char *flow_id,
	    const struct flow_limits *, struct flow **out);

/*
 * The history value of one update, {"version", "ops", "origin"}: what
 * store_commit_apply stores and what the worker sends as w.update.  ops is
 * re-encoded as received; origin NULL packs nil.
 */
void	store_pack_update(msgpack_packer *, uint64_t version,
	    const msgpack_object *ops, const char *origin, size_t originlen);

/*
 * One write transaction for an applied change: the update (bytes from
 * store_pack_update, for flow_version(f)) added to history; the snapshot
 * (flow_pack of f) only when version is STORE_SNAPSHOT_EVERY past the
 * stored one, or when the stored flow is not at version - 1 (then every
 * history entry after version is dropped); history of this flow with
 * version <= min(version - history_length, snapshot version) trimmed;
 * meta {"version", "updated_at": updated_at, "snapshot"}.  The cost does
 * not depend on the size of f except at a snapshot.  Not synced.
 * STORE_FULL when the map could not grow enough, STORE_ERROR otherwise;
 * nothing is written on failure.
 */
int	store_commit_apply(struct store *, const struct flow *f,
	    const void *update, size_t updatelen, double updated_at);

/* mdb_env_sync(env, 1): everything committed so far reaches the disk. */
int	store_sync(struct store *);

/*
 * Retained updates of a flow with version > since and within the last
 * history_length versions (older stored entries are kept only for
 * restore and never answered), oldest first, as raw
 * msgpack objects one after another in buf (count of them), read in one
 * read transaction.  version is the stored version (0 when none).
 * complete is false when retention does not reach back to since + 1, when
 * since > version (the caller should resynchronise from a snapshot), or when
 * the updates would exceed max_bytes: then only the newest ones that fit
 * are returned.
 */
struct store_updates {
	char		*buf;
	size_t		 len;
	uint32_t	 count;
	uint64_t	 version;
	bool		 complete;
};
int	store_history(struct store *, const char *flow_id, uint64_t since,
	    size_t max_bytes, struct store_updates *out);
void	store_updates_free(struct store_updates *);

/* Erase snapshot, meta and history of a flow in one write transaction;
 * *existed tells whether anything was there. */
int	store_delete(struct store *, const char *flow_id, bool *existed);

/* mdb_reader_check: *dead is how many stale reader slots were cleared. */
int	store_reader_check(struct store *, int *dead);

/*
 * The stored meta of one flow; *found false (and 0, 0) when there is none.
 */
int	store_meta(struct store *, const char *flow_id, bool *found,
	    uint64_t *version, double *updated_at);

/*
 * Call cb for every stored flow (meta entries, in key order) inside one read
 * transaction; flow_id is NUL-terminated and valid during the call only.  A
 * non-zero return from cb stops the walk and is returned.
 */
typedef int (*store_list_cb)(void *arg, const char *flow_id,
	    uint64_t version, double updated_at);
int	store_list(struct store *, store_list_cb cb, void *arg);

#endif /* HELIX_STORE_H */
