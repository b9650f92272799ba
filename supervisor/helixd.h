/*
 * helixd.h: the master's structures.  One struct per long-lived thing:
 * server (the daemon), client (a connection), session (a flow and its
 * worker incarnations), call (a request parked on a session), member (a
 * connection joined to a flow).
 */
#ifndef HELIXD_H
#define HELIXD_H

/* helixd's exit statuses */
#define EXIT_HELIX_OK		0
#define EXIT_HELIX_START	1	/* could not start: socket, state, worker */
#define EXIT_HELIX_USAGE	2	/* bad command line or configuration */
#define EXIT_HELIX_ESCALATE	3	/* escalate = exit: too many restarts */

#include <sys/queue.h>
#include <sys/types.h>

#include <limits.h>

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <msgpack.h>
#include <uthash.h>

#include "common/config.h"
#include "proto/proto.h"

#ifndef TAILQ_FOREACH_SAFE	/* glibc's sys/queue.h lacks the _SAFE forms */
#define TAILQ_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = TAILQ_FIRST(head);					\
	    (var) != NULL && ((tvar) = TAILQ_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif
#ifndef LIST_FOREACH_SAFE
#define LIST_FOREACH_SAFE(var, head, field, tvar)			\
	for ((var) = LIST_FIRST(head);					\
	    (var) != NULL && ((tvar) = LIST_NEXT(var, field), 1);	\
	    (var) = (tvar))
#endif

struct client;
struct session;
struct call;
struct rpc_method;

/* ---- members: a connection joined to a flow ---- */
struct member {
	LIST_ENTRY(member)	 in_client;
	LIST_ENTRY(member)	 in_session;
	struct client		*c;
	struct session		*s;
	char			 client_id[PROTO_CLIENT_ID_MAX + 1];
};
LIST_HEAD(member_list, member);

/* ---- calls: a client request parked on a session ---- */
enum call_state {
	CALL_QUEUED,		/* waiting for the worker to be ready */
	CALL_SENT,		/* sent to the worker, answer pending */
	CALL_LOCAL,		/* answered by the master, held for ordering */
	CALL_ABANDONED,		/* sent, client answered (timeout); drop the reply */
};

typedef void (*call_done_fn)(struct call *, const msgpack_object *err,
    const msgpack_object *result);

struct call {
	TAILQ_ENTRY(call)	 entry;		/* in session->calls */
	LIST_ENTRY(call)	 by_client;	/* in client->calls */
	struct session		*s;
	struct client		*c;		/* NULL once the client left */
	enum call_state		 state;
	const struct rpc_method	*m;
	uint32_t		 msgid;		/* the client's */
	bool			 want_reply;	/* false for client notifications */
	uint32_t		 seq;		/* ours, on the worker channel */
	bool			 last;		/* the worker exits after it */
	uint64_t		 committed;	/* apply: its w.update was seen */
	uint64_t		 sent_us;
	uint64_t		 started_us;
	struct event		*ev_deadline;
	struct evbuffer		*out;		/* to worker (QUEUED) or reply (LOCAL) */
	call_done_fn		 done;		/* worker answered */
	void			(*on_timeout)(struct call *); /* replies instead of timeout */
	/* per-method state */
	char			 client_id[PROTO_CLIENT_ID_MAX + 1];
	bool			 has_since;
	uint64_t		 since;
};
TAILQ_HEAD(call_list, call);
LIST_HEAD(call_blist, call);

/* ---- clients ---- */
struct client {
	TAILQ_ENTRY(client)	 entry;
	uint64_t		 id;
	int			 fd;
	struct bufferevent	*bev;
	struct proto_reader	*rd;
	uid_t			 uid;
	pid_t			 pid;
	bool			 closing;	/* close once output drained */
	bool			 dropped;	/* over the hard cap: send nothing */
	bool			 eof;		/* half-closed: answer, then go */
	bool			 drained;	/* no whole message is buffered */
	bool			 paused;	/* not reading: output too big */
	uint64_t		 paused_since_us;
	struct member_list	 members;
	struct call_blist	 calls;
	bool			 subscribed;
	char			**prefixes;	/* sys.subscribe filter, NULL = all */
	size_t			 nprefixes;
	char			 anon_id[PROTO_CLIENT_ID_MAX + 1];
	uint64_t		 flush_gen;	/* session_flush's mark */
};
TAILQ_HEAD(client_list, client);

/* ---- sessions ---- */
enum session_state {
	S_NONE,			/* known, no worker, nothing stored in memory */
	S_STARTING,
	S_RUNNING,
	S_RESTARTING,
	S_FAILED,
	S_STOPPING,
	S_HIBERNATED,
};

#define RESTART_RING	256	/* max_restarts is capped below this */

/* Restart policy state: a ring of restart times (s6, OTP intensity). */
struct restart_state {
	double		 t[RESTART_RING];
	uint32_t	 n;
	uint32_t	 next_ms;	/* back-off for the next unserved death */
};

struct session {
	UT_hash_handle		 hh;
	char			 id[PROTO_FLOW_ID_MAX + 1];
	enum session_state	 state;
	uint64_t		 state_since_us;
	pid_t			 pid;		/* 0 when no worker */
	uint32_t		 gen;		/* worker incarnation */
	int			 fd;
	struct bufferevent	*bev;
	struct proto_reader	*rd;
	uint32_t		 next_seq;
	struct call_list	 calls;		/* in request order */
	uint32_t		 ncalls;
	struct member_list	 members;
	uint32_t		 nmembers;
	uint64_t		 version;	/* last version the master knows */
	uint64_t		 fanned;	/* highest version fanned out */
	bool			 resync_pending; /* fetch missed updates */
	double			 last_activity;
	double			 started_at;
	uint32_t		 restarts;	/* total for this session */
	uint32_t		 served;	/* answers from this incarnation */
	struct restart_state	 rs;
	bool			 violation;	/* killed for misbehaving */
	const char		*kill_reason;	/* why, a static string */
	double			 failed_until;
	struct event		*ev_timer;	/* restart back-off, stop kill */
	struct event		*ev_heartbeat;
	uint32_t		 ping_seq;	/* outstanding heartbeat, 0 = none */
	uint64_t		 ping_sent_us;
	uint64_t		 last_heard_us;	/* the worker's last message */
	bool			 deleting;	/* w.delete sent */
	const char		*close_reason;	/* flow.closed reason after stop */
	bool			 stop_wanted;	/* exit expected: do not restart */
	bool			 last_sent;	/* a call it exits on was sent */
	bool			 no_restore;	/* next worker only deletes */
};

/* The daemon-wide restart count (restart.c). */
struct restart_global {
	double		*t;		/* ring of restart times */
	uint32_t	 head, n, cap;
	uint32_t	 backoff_ms;	/* current global back-off, 0 = none */
};

/* ---- telemetry/stats ---- */
#define LAT_BUCKETS	64
struct method_stats {
	const char	*name;
	uint64_t	 count;
	uint64_t	 max_us;
	uint64_t	 buckets[LAT_BUCKETS];	/* log2 histogram of microseconds */
};

struct stats {
	uint64_t	 sessions_started_total;
	uint64_t	 session_restarts_total;
	uint64_t	 session_crashes_total;
	uint64_t	 requests_total;
	uint64_t	 errors_total;
	uint64_t	 connections_total;
	uint64_t	 slow_client_disconnects;
	uint64_t	 protocol_errors;
	uint64_t	 restarts_throttled;
	uint64_t	 events[16];
};

/* ---- the daemon ---- */
struct server {
	struct event_base	*base;
	struct helix_config	 cfg;
	char			 worker_path[PATH_MAX];
	int			 listen_fd;
	struct event		*ev_accept;
	struct event		*ev_accept_retry;
	struct event		*ev_tick;	/* 1 s housekeeping */
	struct event		*ev_sigchld, *ev_sigterm, *ev_sigint,
				*ev_sighup;
	struct client_list	 clients;
	uint32_t		 nclients;
	uint64_t		 next_client_id;
	struct session		*sessions;	/* uthash by id */
	uint32_t		 nlive;		/* sessions with a worker */
	struct store		*store;		/* read-only use */
	bool			 shutting_down;
	int			 exit_status;
	double			 started_at;
	struct stats		 st;
	struct restart_global	 grs;
	uid_t			 uid;
};

extern struct server *srv;

/* helixd.c */
double	 now_s(void);
uint64_t now_us(void);
void	 server_shutdown(const char *why);

/* listen.c */
int	 listen_open(char *err, size_t errlen);
void	 listen_close(void);

/* client.c */
int	 reader_feed_evbuffer(struct proto_reader *, struct evbuffer *);
void	 client_accept(int fd);
void	 client_destroy(struct client *, const char *why);
void	 client_send(struct client *, struct evbuffer *);
void	 client_send_buf(struct client *, const void *, size_t);
void	 client_reply_error(struct client *, uint32_t msgid,
	    const struct proto_error *);
void	 client_reply_packed(struct client *, const msgpack_sbuffer *);
void	 client_tick(void);

/* rpc.c */
#define RPC_ADMIN	0x1	/* peer must be our uid or root */
#define RPC_FLOW	0x2	/* params[0] is a flow id */
#define RPC_STARTS	0x4	/* starts a session that is not running */
typedef int (*rpc_fn)(struct client *, struct call *, const msgpack_object *params,
    struct session *, struct proto_error *);
struct rpc_method {
	const char	*name;
	uint32_t	 min_params, max_params;
	int		 flags;
	rpc_fn		 fn;
	struct method_stats *stats;
};
void	 rpc_dispatch(struct client *, const struct proto_msg *);
const struct rpc_method *rpc_find(const char *, size_t);
void	 rpc_stats_record(const struct rpc_method *, uint64_t us);
size_t	 rpc_methods(const struct rpc_method **);
uint64_t rpc_stats_percentile(const struct method_stats *, double);
void	 rpc_reply(struct call *, msgpack_sbuffer *);
void	 rpc_finish(struct call *, const msgpack_sbuffer *);
void	 rpc_relay(struct call *, const msgpack_object *err,
	    const msgpack_object *result);
void	 rpc_reply_error(struct call *, const struct proto_error *);
void	 rpc_result_begin(struct call *, msgpack_sbuffer *, msgpack_packer *);
void	 rpc_result_end(struct call *, msgpack_sbuffer *);

/* rpc-sys.c, rpc-flow.c, rpc-session.c: handlers */
int	 rpc_sys_ping(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_sys_version(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_sys_stats(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_sys_subscribe(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_sys_shutdown(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_flow_join(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_flow_leave(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_flow_get(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_flow_apply(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_flow_history(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_flow_status(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_flow_list(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_flow_close(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_flow_delete(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_session_inspect(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);
int	 rpc_session_kill(struct client *, struct call *, const msgpack_object *, struct session *, struct proto_error *);

/* registry.c */
struct session *registry_find(const char *id);
struct session *registry_get(const char *id);	/* find or create (S_NONE) */
void	 registry_remove(struct session *);
void	 registry_gc(struct session *);		/* free if nothing refers to it */
uint32_t registry_count(void);
struct session *registry_lru_idle(void);	/* hibernation candidate */

/* session.c */
const char *session_state_name(enum session_state);
bool	 session_live(const struct session *);
int	 session_start(struct session *, struct proto_error *);
struct call *call_new(struct client *, const struct rpc_method *, uint32_t msgid,
	    bool want_reply);
void	 call_free(struct call *);
/* Park a call on the session; the worker request is packed with params. */
int	 session_submit(struct session *, struct call *, msgpack_sbuffer *,
	    struct proto_error *);
int	 session_failed_error(struct session *, struct proto_error *);
void	 session_internal_first(struct session *, const char *method,
	    msgpack_object arg);
/* Queue a locally produced reply behind the session's pending calls. */
void	 session_local_reply(struct session *, struct call *, msgpack_sbuffer *);
msgpack_packer *session_call_packer(struct call *, const char *method,
	    uint32_t nparams, msgpack_sbuffer *);
void	 session_stop(struct session *, const char *reason);
void	 session_expect_exit(struct session *, const char *why);
bool	 session_must_hold(struct session *, struct client *);
void	 session_resume(struct session *);
void	 session_kill_all(int sig);
void	 session_member_add(struct session *, struct client *, const char *cid);
void	 session_member_remove(struct member *, bool notify);
struct member *session_member_find(struct session *, struct client *);
void	 session_presence(struct session *, const char *key, const char *cid,
	    struct client *except);
uint32_t session_closed_notify(struct session *, const char *reason);
void	 session_pack_status(struct session *, msgpack_packer *);
void	 session_reap(pid_t, int status);
void	 session_tick(double now);

/* spawn.c */
pid_t	 spawn_worker(struct session *, int *fd, struct proto_error *);

/* restart.c: pure policy, the clock passed in */
enum restart_verdict { RESTART_NOW, RESTART_LATER, RESTART_GIVE_UP };
enum restart_verdict restart_decide(struct restart_state *, double now,
	    uint32_t max_restarts, uint32_t max_seconds, bool served,
	    uint32_t *delay_ms);
bool	 restart_global_note(struct restart_global *, double now,
	    uint32_t max_total, uint32_t seconds);
uint32_t restart_global_backoff(struct restart_global *, bool over);

/* mstore.c: the master's read-only use of the store */
int	 master_store_open(char *err, size_t errlen);
void	 master_store_close(void);
void	 master_store_reader_check(void);
int	 master_store_meta(const char *id, bool *found, uint64_t *version,
	    double *updated_at);
int	 master_store_list(int (*)(void *, const char *, uint64_t, double),
	    void *);

/* notify.c: systemd's notification protocol */
void	 notify_init(void);
void	 notify_send(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 notify_ready(void);
void	 notify_status(void);
void	 notify_stopping(void);
void	 notify_close(void);

/* daemon.c: --daemonize and --pidfile */
int	 daemon_detach(char *err, size_t errlen);
void	 daemon_ready(void);
int	 daemon_pidfile(char *err, size_t errlen);
void	 daemon_cleanup(void);

/* telemetry.c */
size_t	 telemetry_names(const char ***);
void	 telemetry_send(const char *name, const char *flow, pid_t,
	    const char *reason, const char *client, int sig, int exit_status);

#endif /* HELIXD_H */
