/*
 * worker.h: helix-worker's state, shared by worker.c (start-up, options,
 * the channel to the master) and worker-rpc.c (the methods).  Private to
 * helix-worker.  The contract with helixd is docs/architecture.md, "Master
 * <-> worker messages".
 */
#ifndef HELIX_WORKER_H
#define HELIX_WORKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "proto/proto.h"
#include "worker/flow.h"

/* Exit statuses (documented in docs/architecture.md). */
#define WORKER_EXIT_OK		0	/* w.stop, w.delete, EOF on fd 3 */
#define WORKER_EXIT_FAIL	1	/* storage failure, fsync failure */
#define WORKER_EXIT_USAGE	2	/* bad options, no channel on fd 3 */
#define WORKER_EXIT_CORRUPT	3	/* the stored flow does not decode */
#define WORKER_EXIT_PROTOCOL	4	/* hostile bytes from the master */

#define WORKER_FD		3
#define WORKER_SLACK		(64 * 1024)	/* envelope above a limit */

enum worker_sync {
	WSYNC_FULL,		/* fsync before any answer (group commit) */
	WSYNC_BATCH,		/* answer at commit, fsync every interval */
	WSYNC_NONE		/* never fsync explicitly */
};

struct worker {
	char			 flow_id[PROTO_FLOW_ID_MAX + 1];
	struct store		*store;
	struct flow		*flow;
	struct flow_limits	 limits;	/* for applies */
	struct flow_limits	 load_limits;	/* for stored snapshots */
	enum worker_sync	 sync;
	unsigned int		 sync_interval_ms;
	size_t			 max_message_bytes;
	size_t			 max_reply_bytes; /* bound on history replies */

	msgpack_packer		 pk;		/* writes to pending */
	struct evbuffer		*pending;	/* answers of this batch */
	bool			 pk_failed;	/* out of memory in pending */
	msgpack_sbuffer		 update;	/* the update being committed */

	unsigned int		 batch_commits;	/* commits in this batch */
	bool			 dirty;		/* committed, not yet synced */
	unsigned int		 unsynced;	/* commits since the last sync */
	bool			 stop;		/* w.stop / w.delete answered */
	int			 exit_status;
};

/*
 * Handle one complete message from the master: the answer (and a w.update
 * before it) goes to pending.  -1 when the message is a protocol violation
 * (the caller exits with WORKER_EXIT_PROTOCOL).
 */
int	worker_dispatch(struct worker *, const msgpack_object *);

/* Load the stored flow into w->flow (replacing it); 0 or a store_status. */
int	worker_load(struct worker *);

/* Fatal storage trouble: log and leave with WORKER_EXIT_FAIL. */
void	worker_fatal_store(struct worker *, const char *what)
	    __attribute__((noreturn));

#endif /* HELIX_WORKER_H */
