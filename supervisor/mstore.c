/*
 * mstore.c: the master's only use of LMDB: mdb_reader_check after a worker
 * dies, and short read-only transactions for flow.list {"all": true} and
 * the status of a flow with no live worker.  Everything that writes is a
 * worker's.
 */
#include <stdio.h>

#include "common/log.h"
#include "supervisor/helixd.h"
#include "worker/store.h"

static struct store_opts
master_store_opts(void)
{
	struct store_opts o;

	store_opts_default(&o);
	o.map_size = srv->cfg.map_size;
	o.max_readers = srv->cfg.max_sessions + 64;
	o.history_length = srv->cfg.history_length;
	return o;
}

/* At daemon start, before the loop: may create the environment. */
int
master_store_open(char *err, size_t errlen)
{
	struct store_opts	o = master_store_opts();
	int			dead = 0;

	o.flags = STORE_RDONLY;
	if (store_open(&srv->store, srv->cfg.state_dir, &o, err, errlen) != 0)
		return -1;
	if (store_reader_check(srv->store, &dead) == 0 && dead > 0)
		log_event(HLOG_INFO, NULL, "store.reader_check", " cleared=%d",
		    dead);
	return 0;
}

void
master_store_close(void)
{
	if (srv->store != NULL)
		store_close(srv->store);
	srv->store = NULL;
}

/* A dead worker may have left a reader slot behind. */
void
master_store_reader_check(void)
{
	int dead = 0;

	if (srv->store != NULL && store_reader_check(srv->store, &dead) == 0 &&
	    dead > 0)
		log_event(HLOG_DEBUG, NULL, "store.reader_check", " cleared=%d",
		    dead);
}

int
master_store_meta(const char *id, bool *found, uint64_t *version,
    double *updated_at)
{
	if (srv->store == NULL)
		return -1;
	return store_meta(srv->store, id, found, version, updated_at);
}

int
master_store_list(int (*cb)(void *, const char *, uint64_t, double), void *arg)
{
	if (srv->store == NULL)
		return -1;
	return store_list(srv->store, cb, arg);
}
