/*
 * worker.c: helix-worker, one process per live flow session.
 *
 * helixd execs it with its end of a socketpair on fd 3 and the flow on argv
 * (docs/architecture.md, "Master <-> worker messages").  It opens the shared
 * LMDB environment, restores the flow, says w.hello, and then answers the
 * master's requests strictly in order on one libevent loop.
 *
 * Group commit: every read callback hands all the bytes it got to the
 * proto_reader and then handles every complete message buffered, as one
 * batch.  Answers of a batch collect in w->pending; in sync mode full, one
 * mdb_env_sync covers all the commits of the batch before pending is moved
 * to the output, so nothing is acknowledged before its fsync.
 *
 * Back-pressure: the output is not allowed to grow past WORKER_OUT_HIGH.
 * When it does, reading stops (messages already buffered wait in the
 * reader) until the write callback sees it below WORKER_OUT_LOW.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <msgpack.h>

#include "common/log.h"
#include "proto/proto.h"
#include "worker/flow.h"
#include "worker/store.h"
#include "worker/worker.h"

#define WORKER_OUT_HIGH		((size_t)4 << 20)
#define WORKER_OUT_LOW		((size_t)1 << 20)
#define WORKER_READ_MAX		((size_t)1 << 20) /* per read callback */

static struct worker	 worker;
static struct event_base *base;
static struct bufferevent *bev;
static struct event	*sync_timer;
static struct proto_reader *reader;
static bool		 paused;	/* reading stopped for back-pressure */
static bool		 leaving;	/* flushing the output, then exit */

static void worker_process(struct worker *);

/* ---- options -------------------------------------------------------- */

static void __attribute__((noreturn, format(printf, 1, 2)))
usage(const char *fmt, ...)
{
	va_list ap;

	if (fmt != NULL) {
		fprintf(stderr, "helix-worker: ");
		va_start(ap, fmt);
		vfprintf(stderr, fmt, ap);
		va_end(ap);
		fprintf(stderr, "\n");
	}
	fprintf(stderr,
	    "usage: helix-worker --flow ID --state-dir DIR"
	    " [--sync full|batch|none]\n"
	    "           [--sync-interval-ms N] [--history-length N]\n"
	    "           [--map-size BYTES] [--map-size-max BYTES]"
	    " [--max-readers N]\n"
	    "           [--max-nodes N] [--max-edges N]"
	    " [--max-data-bytes N] [--max-ops N]\n"
	    "           [--max-flow-bytes N] [--max-message-bytes N]"
	    " [--log-level L]\n"
	    "           [--master-pid PID] [--no-restore]\n"
	    "The channel to helixd is fd 3; helix-worker is started by helixd"
	    " only.\n");
	exit(fmt != NULL ? WORKER_EXIT_USAGE : WORKER_EXIT_OK);
}

/* A decimal number, optionally with a k/m/g (binary) suffix when sized. */
static uint64_t
parse_num(const char *opt, const char *s, uint64_t min, uint64_t max,
    bool sized)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		usage("--%s: '%s' is not a number", opt, s);
	v = strtoull(s, &end, 10);
	if (sized && *end != '\0' && end[1] == '\0') {
		switch (*end) {
		case 'k': case 'K': mult = 1ULL << 10; end++; break;
		case 'm': case 'M': mult = 1ULL << 20; end++; break;
		case 'g': case 'G': mult = 1ULL << 30; end++; break;
		default: break;
		}
	}
	if (errno != 0 || *end != '\0' || v > UINT64_MAX / mult)
		usage("--%s: '%s' is not a number", opt, s);
	v *= mult;
	if (v < min || v > max)
		usage("--%s: %s is out of range %ju..%ju", opt, s,
		    (uintmax_t)min, (uintmax_t)max);
	return v;
}

enum {
	OPT_FLOW = 256, OPT_STATE_DIR, OPT_SYNC, OPT_SYNC_INTERVAL,
	OPT_HISTORY, OPT_MAP_SIZE, OPT_MAP_SIZE_MAX, OPT_MAX_READERS, OPT_MAX_NODES,
	OPT_MAX_EDGES, OPT_MAX_DATA, OPT_MAX_OPS, OPT_MAX_FLOW,
	OPT_MAX_MESSAGE, OPT_LOG_LEVEL, OPT_MASTER_PID, OPT_NO_RESTORE
};

static const struct option long_options[] = {
	{ "flow",		required_argument, NULL, OPT_FLOW },
	{ "state-dir",		required_argument, NULL, OPT_STATE_DIR },
	{ "sync",		required_argument, NULL, OPT_SYNC },
	{ "sync-interval-ms",	required_argument, NULL, OPT_SYNC_INTERVAL },
	{ "history-length",	required_argument, NULL, OPT_HISTORY },
	{ "map-size",		required_argument, NULL, OPT_MAP_SIZE },
	{ "map-size-max",	required_argument, NULL, OPT_MAP_SIZE_MAX },
	{ "max-readers",	required_argument, NULL, OPT_MAX_READERS },
	{ "max-nodes",		required_argument, NULL, OPT_MAX_NODES },
	{ "max-edges",		required_argument, NULL, OPT_MAX_EDGES },
	{ "max-data-bytes",	required_argument, NULL, OPT_MAX_DATA },
	{ "max-ops",		required_argument, NULL, OPT_MAX_OPS },
	{ "max-flow-bytes",	required_argument, NULL, OPT_MAX_FLOW },
	{ "max-message-bytes",	required_argument, NULL, OPT_MAX_MESSAGE },
	{ "log-level",		required_argument, NULL, OPT_LOG_LEVEL },
	{ "master-pid",		required_argument, NULL, OPT_MASTER_PID },
	{ "no-restore",		no_argument,	   NULL, OPT_NO_RESTORE },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

struct args {
	const char		*state_dir;
	pid_t			 master_pid;	/* 0: whoever the parent is */
	bool			 no_restore;	/* started only to delete */
	struct store_opts	 store;
	enum log_level		 log_level;
};

static void
parse_args(struct worker *w, struct args *a, int argc, char **argv)
{
	const char *flow = NULL;
	int ch;

	memset(a, 0, sizeof(*a));
	store_opts_default(&a->store);
	a->log_level = HLOG_INFO;
	flow_limits_default(&w->limits);
	w->sync = WSYNC_FULL;
	w->sync_interval_ms = 100;
	w->max_message_bytes = 1 << 20;

	while ((ch = getopt_long(argc, argv, "hV", long_options, NULL)) != -1) {
		const char *opt = NULL;

		for (const struct option *o = long_options; o->name; o++)
			if (o->val == ch)
				opt = o->name;
		switch (ch) {
		case OPT_FLOW:
			flow = optarg;
			break;
		case OPT_STATE_DIR:
			a->state_dir = optarg;
			break;
		case OPT_SYNC:
			if (strcmp(optarg, "full") == 0)
				w->sync = WSYNC_FULL;
			else if (strcmp(optarg, "batch") == 0)
				w->sync = WSYNC_BATCH;
			else if (strcmp(optarg, "none") == 0)
				w->sync = WSYNC_NONE;
			else
				usage("--sync: '%s' is not full, batch or none",
				    optarg);
			break;
		case OPT_SYNC_INTERVAL:
			w->sync_interval_ms = (unsigned int)parse_num(opt,
			    optarg, 1, 3600 * 1000, false);
			break;
		case OPT_HISTORY:
			a->store.history_length = (unsigned int)parse_num(opt,
			    optarg, 0, UINT32_MAX, false);
			break;
		case OPT_MAP_SIZE:
			a->store.map_size = (size_t)parse_num(opt, optarg,
			    64 * 1024, SIZE_MAX, true);
			break;
		case OPT_MAP_SIZE_MAX:
			a->store.map_size_max = (size_t)parse_num(opt, optarg,
			    64 * 1024, SIZE_MAX, true);
			break;
		case OPT_MAX_READERS:
			a->store.max_readers = (unsigned int)parse_num(opt,
			    optarg, 1, 1 << 20, false);
			break;
		case OPT_MAX_NODES:
			w->limits.max_nodes = (uint32_t)parse_num(opt, optarg,
			    0, UINT32_MAX, false);
			break;
		case OPT_MAX_EDGES:
			w->limits.max_edges = (uint32_t)parse_num(opt, optarg,
			    0, UINT32_MAX, false);
			break;
		case OPT_MAX_DATA:
			w->limits.max_data_bytes = (uint32_t)parse_num(opt,
			    optarg, 0, UINT32_MAX, true);
			break;
		case OPT_MAX_OPS:
			w->limits.max_ops = (uint32_t)parse_num(opt, optarg,
			    1, UINT32_MAX, false);
			break;
		case OPT_MAX_FLOW:
			w->limits.max_flow_bytes = parse_num(opt, optarg,
			    1024, (uint64_t)1 << 40, true);
			break;
		case OPT_MAX_MESSAGE:
			w->max_message_bytes = (size_t)parse_num(opt, optarg,
			    1024, (uint64_t)1 << 32, true);
			break;
		case OPT_MASTER_PID:
			a->master_pid = (pid_t)parse_num(opt, optarg, 1,
			    INT32_MAX, false);
			break;
		case OPT_NO_RESTORE:
			a->no_restore = true;
			break;
		case OPT_LOG_LEVEL:
			if (log_level_parse(optarg, &a->log_level) != 0)
				usage("--log-level: '%s' is not error, warn,"
				    " info or debug", optarg);
			break;
		case 'h':
			usage(NULL);
		case 'V':
			printf("helix-worker %s\n", HELIX_VERSION);
			exit(WORKER_EXIT_OK);
		default:
			usage("bad option");
		}
	}
	if (optind != argc)
		usage("unexpected argument '%s'", argv[optind]);
	if (flow == NULL || a->state_dir == NULL)
		usage("--flow and --state-dir are required");
	if (!proto_valid_flow_id(flow, strlen(flow)))
		usage("--flow: '%s' is not a valid flow id", flow);
	memcpy(w->flow_id, flow, strlen(flow) + 1);

	/* A stored document always loads, whatever the limits are now. */
	w->load_limits.max_nodes = UINT32_MAX;
	w->load_limits.max_edges = UINT32_MAX;
	w->load_limits.max_data_bytes = UINT32_MAX;
	w->load_limits.max_ops = UINT32_MAX;
	w->load_limits.max_flow_bytes = UINT64_MAX / 2;	/* flow.c adds slack */

	/* Every message to the master stays within max_reply_bytes + slack. */
	w->max_reply_bytes = w->limits.max_flow_bytes > w->max_message_bytes ?
	    (size_t)w->limits.max_flow_bytes : w->max_message_bytes;
}

/* ---- storage -------------------------------------------------------- */

void
worker_fatal_store(struct worker *w, const char *what)
{
	log_event(HLOG_ERROR, w->flow_id, "worker.fatal", " op=%s error=%s",
	    log_q(what), log_q(store_errmsg(w->store)));
	exit(WORKER_EXIT_FAIL);
}

int
worker_load(struct worker *w)
{
	struct flow *f;
	int rc;

	if ((rc = store_load(w->store, w->flow_id, &w->load_limits, &f)) !=
	    STORE_OK)
		return rc;
	if (w->flow != NULL)
		flow_destroy(w->flow);
	w->flow = f;
	return STORE_OK;
}

static void
worker_sync(struct worker *w)
{
	if (!w->dirty)
		return;
	if (store_sync(w->store) != STORE_OK)
		/* Committed but maybe not durable: acknowledge nothing. */
		worker_fatal_store(w, "sync");
	log_event(HLOG_DEBUG, w->flow_id, "store.sync", " commits=%u",
	    w->unsynced);
	w->dirty = false;
	w->unsynced = 0;
}

static void
on_sync_timer(evutil_socket_t fd, short events, void *arg)
{
	worker_sync(arg);
}

/* ---- the channel to the master -------------------------------------- */

static int
pending_write(void *data, const char *buf, size_t len)
{
	struct worker *w = data;

	if (evbuffer_add(w->pending, buf, len) != 0) {
		w->pk_failed = true;
		return -1;
	}
	return 0;
}

static void
worker_leave(int status)
{
	worker.exit_status = status;
	event_base_loopbreak(base);
}

/* Start leaving: flush what is queued, then stop the loop. */
static void
worker_drain_and_leave(struct worker *w)
{
	if (w->sync == WSYNC_BATCH)
		worker_sync(w);
	leaving = true;
	bufferevent_disable(bev, EV_READ);
	bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
	if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		worker_leave(w->exit_status);
}

/* End of a batch: the fsync it needs, then its answers go out. */
static void
worker_flush(struct worker *w)
{
	if (w->pk_failed)
		fatalx("out of memory queueing answers");
	if (w->batch_commits > 0 && w->sync == WSYNC_FULL)
		worker_sync(w);
	w->batch_commits = 0;
	/* batch: an fsync at most sync_interval_ms after the first commit */
	if (w->sync == WSYNC_BATCH && w->dirty &&
	    !evtimer_pending(sync_timer, NULL)) {
		struct timeval tv = {
			.tv_sec = w->sync_interval_ms / 1000,
			.tv_usec = (w->sync_interval_ms % 1000) * 1000,
		};

		evtimer_add(sync_timer, &tv);
	}
	if (evbuffer_get_length(w->pending) > 0 &&
	    evbuffer_add_buffer(bufferevent_get_output(bev), w->pending) != 0)
		fatalx("out of memory queueing answers");
}

static void
worker_process(struct worker *w)
{
	struct evbuffer *out = bufferevent_get_output(bev);
	msgpack_object o;
	enum proto_read r;

	while (!w->stop) {
		if (evbuffer_get_length(out) +
		    evbuffer_get_length(w->pending) >= WORKER_OUT_HIGH)
			break;
		r = proto_reader_next(reader, &o, NULL, NULL);
		if (r == PROTO_READ_MORE)
			break;
		if (r != PROTO_READ_OBJECT) {
			log_event(HLOG_ERROR, w->flow_id,
			    "master.protocol_error", " error=%s",
			    r == PROTO_READ_TOO_LARGE ? "too_large" :
			    r == PROTO_READ_TOO_DEEP ? "too_deep" : "syntax");
			r = PROTO_READ_SYNTAX;
		} else if (worker_dispatch(w, &o) != 0)
			r = PROTO_READ_SYNTAX;
		if (r != PROTO_READ_OBJECT) {
			/* The stream cannot be trusted further: answer what
			 * was handled, then leave. */
			w->exit_status = WORKER_EXIT_PROTOCOL;
			w->stop = true;
		}
	}
	worker_flush(w);
	if (w->stop) {
		worker_drain_and_leave(w);
		return;
	}
	if (!paused && evbuffer_get_length(out) >= WORKER_OUT_HIGH) {
		paused = true;
		bufferevent_disable(bev, EV_READ);
	}
}

static void
on_read(struct bufferevent *b, void *arg)
{
	struct evbuffer *in = bufferevent_get_input(b);
	struct evbuffer_iovec v[16];
	size_t fed;
	int n;

	while (evbuffer_get_length(in) > 0) {
		n = evbuffer_peek(in, -1, NULL, v, 16);
		if (n > 16)
			n = 16;
		fed = 0;
		for (int i = 0; i < n; i++) {
			if (proto_reader_feed(reader, v[i].iov_base,
			    v[i].iov_len) != 0)
				fatalx("out of memory reading from the master");
			fed += v[i].iov_len;
		}
		evbuffer_drain(in, fed);
	}
	worker_process(arg);
}

static void
on_write(struct bufferevent *b, void *arg)
{
	struct worker *w = arg;
	size_t len = evbuffer_get_length(bufferevent_get_output(b));

	if (leaving) {
		if (len == 0)
			worker_leave(w->exit_status);
		return;
	}
	if (paused && len <= WORKER_OUT_LOW) {
		paused = false;
		bufferevent_enable(b, EV_READ);
		worker_process(w);	/* what the reader already holds */
	}
}

static void
on_event(struct bufferevent *b, short events, void *arg)
{
	struct worker *w = arg;

	if (events & BEV_EVENT_EOF) {
		/* The master closed its end: answer what was asked, leave. */
		log_event(HLOG_INFO, w->flow_id, "worker.stop", " reason=eof");
		w->exit_status = WORKER_EXIT_OK;
		worker_drain_and_leave(w);
	} else if (events & BEV_EVENT_ERROR) {
		/* Nobody to answer; what is committed stays committed. */
		log_event(HLOG_WARN, w->flow_id, "worker.stop",
		    " reason=error error=%s", log_q(
		    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR())));
		if (w->sync == WSYNC_BATCH)
			worker_sync(w);
		worker_leave(leaving ? w->exit_status : WORKER_EXIT_OK);
	}
}

static void
send_hello(struct worker *w)
{
	proto_pack_notify_begin(&w->pk, "w.hello", 1);
	msgpack_pack_map(&w->pk, 5);
	proto_pack_key(&w->pk, "protocol");
	msgpack_pack_uint32(&w->pk, PROTO_VERSION);
	proto_pack_key(&w->pk, "version");
	proto_pack_str(&w->pk, HELIX_VERSION);
	proto_pack_key(&w->pk, "flow_id");
	proto_pack_str(&w->pk, w->flow_id);
	proto_pack_key(&w->pk, "pid");
	msgpack_pack_int64(&w->pk, (int64_t)getpid());
	proto_pack_key(&w->pk, "flow_version");
	msgpack_pack_uint64(&w->pk, flow_version(w->flow));
	worker_flush(w);
}

/* ---- start-up ------------------------------------------------------- */

/*
 * Die with the master: PDEATHSIG, then close its race with a check.  With
 * --master-pid the check is exact; without it, a master that died before
 * the first getppid() goes unnoticed here (EOF on fd 3 still ends us).
 */
static void
watch_parent(pid_t master)
{
	pid_t parent = master != 0 ? master : getppid();

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0)
		fatal("prctl PR_SET_PDEATHSIG");
	if (getppid() != parent) {
		log_event(HLOG_ERROR, NULL, "worker.orphan", " master=%ld",
		    (long)parent);
		exit(WORKER_EXIT_OK);
	}
}

static void
check_channel(void)
{
	struct stat st;

	if (fstat(WORKER_FD, &st) != 0 || !S_ISSOCK(st.st_mode)) {
		fprintf(stderr, "helix-worker: fd %d is not the channel to"
		    " helixd (helix-worker is started by helixd only)\n",
		    WORKER_FD);
		exit(WORKER_EXIT_USAGE);
	}
	if (evutil_make_socket_nonblocking(WORKER_FD) != 0 ||
	    evutil_make_socket_closeonexec(WORKER_FD) != 0)
		fatal("fd %d", WORKER_FD);
}

int
main(int argc, char **argv)
{
	struct worker *w = &worker;
	struct args a;
	char err[512];
	int rc;

	parse_args(w, &a, argc, argv);
	log_init("helix-worker", a.log_level);
	watch_parent(a.master_pid);
	check_channel();
	signal(SIGPIPE, SIG_IGN);

	if (store_open(&w->store, a.state_dir, &a.store, err, sizeof(err)) !=
	    STORE_OK) {
		log_event(HLOG_ERROR, w->flow_id, "worker.fatal",
		    " op=open error=%s", log_q(err));
		return WORKER_EXIT_FAIL;
	}
	/*
	 * A worker started only to erase its flow does not read it: a
	 * snapshot that no longer decodes can still be deleted.
	 */
	if (a.no_restore) {
		if ((w->flow = flow_create(w->flow_id, strlen(w->flow_id))) ==
		    NULL)
			fatalx("out of memory");
	} else if ((rc = worker_load(w)) != STORE_OK) {
		log_event(HLOG_ERROR, w->flow_id, "worker.fatal",
		    " op=load error=%s", log_q(store_errmsg(w->store)));
		store_close(w->store);
		return rc == STORE_CORRUPT ? WORKER_EXIT_CORRUPT :
		    WORKER_EXIT_FAIL;
	}

	if ((base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if ((bev = bufferevent_socket_new(base, WORKER_FD,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		fatalx("bufferevent_socket_new");
	bufferevent_set_max_single_read(bev, WORKER_READ_MAX);
	bufferevent_setwatermark(bev, EV_WRITE, WORKER_OUT_LOW, 0);
	bufferevent_setcb(bev, on_read, on_write, on_event, w);
	if ((reader = proto_reader_create(w->max_message_bytes + WORKER_SLACK,
	    PROTO_MAX_DEPTH)) == NULL ||
	    (w->pending = evbuffer_new()) == NULL)
		fatalx("out of memory");
	msgpack_packer_init(&w->pk, w, pending_write);
	msgpack_sbuffer_init(&w->update);

	if (w->sync == WSYNC_BATCH &&
	    (sync_timer = evtimer_new(base, on_sync_timer, w)) == NULL)
		fatalx("out of memory");

	send_hello(w);
	log_event(HLOG_INFO, w->flow_id, "worker.start",
	    " pid=%ld version=%" PRIu64 " sync=%s history_length=%u"
	    " map_size=%zu", (long)getpid(), flow_version(w->flow),
	    w->sync == WSYNC_FULL ? "full" : w->sync == WSYNC_BATCH ?
	    "batch" : "none", a.store.history_length,
	    store_map_size(w->store));
	bufferevent_enable(bev, EV_READ);

	event_base_dispatch(base);

	/* Leaving: whatever the reason, what is committed is on disk. */
	if (w->sync == WSYNC_BATCH && w->exit_status == WORKER_EXIT_OK)
		worker_sync(w);
	if (sync_timer != NULL)
		event_free(sync_timer);
	bufferevent_free(bev);
	event_base_free(base);
	proto_reader_destroy(reader);
	evbuffer_free(w->pending);
	msgpack_sbuffer_destroy(&w->update);
	flow_destroy(w->flow);
	store_close(w->store);
	return w->exit_status;
}
