/*
 * harness.h: run the real helixd (and, through it, helix-worker) for the
 * integration tests, and talk to it.
 *
 * The programs come from the environment: HELIXD and HELIX_WORKER, absolute
 * paths (tests/integration/meson.build sets them).  Every daemon runs in a
 * fresh directory under one base directory (h_base_init, from main, before
 * Check forks): DIR/s.sock, DIR/state, and its stdout+stderr in
 * DIR/helixd.log.
 *
 * Processes.  Check forks each test; the test process makes itself a child
 * subreaper (PR_SET_CHILD_SUBREAPER), so the workers of a daemon it SIGKILLs
 * are re-parented to it and reaped here, never left as zombies.  Each
 * daemon runs in its own process group and with PR_SET_PDEATHSIG(SIGKILL):
 * when the test process ends, however it ends (a failed assertion _exits,
 * a Check timeout kills the test's process group), its daemons die, and
 * their workers with them (PDEATHSIG/EOF on their channel).  Every child
 * is reaped through h_reap, which remembers the status of the daemons.
 *
 * Waiting.  Nothing sleeps as synchronisation: every wait polls a
 * condition until a deadline (H_POLL, h_poll), and the failure message
 * says what was waited for.
 *
 * Failures.  Helpers that cannot go on abort the test with ck_abort_msg;
 * messages read "got X, want Y".
 */
#ifndef HELIX_IT_HARNESS_H
#define HELIX_IT_HARNESS_H

#include <sys/types.h>

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "client/helix-client.h"

/* Generous deadlines for what must happen (ASan makes everything slower). */
#define H_START_MS	20000	/* the socket accepts */
#define H_STOP_MS	20000	/* exit after SIGTERM */
#define H_CALL_MS	20000	/* one answer */
#define H_EVENT_MS	10000	/* a notification, a restart, a death */
/* What must not happen is watched for a short while only. */
#define H_QUIET_MS	200

/* sun_path holds 107 bytes: the directory of a daemon stays short. */
#define H_DIR_MAX	96
struct hd {
	char	 dir[H_DIR_MAX];
	char	 sock[H_DIR_MAX + 12];	/* DIR/s.sock: fits sun_path */
	char	 state[H_DIR_MAX + 16];
	char	 log[H_DIR_MAX + 32];
	pid_t	 pid;		/* 0 once reaped */
	bool	 exited;
	int	 status;	/* wait status, once exited */
};

/* ---- daemons ---- */

/* main(), before srunner_run_all: the base directory.  h_base_done
 * removes it (keeps it, and says where, when keep is true). */
void	 h_base_init(void);
void	 h_base_done(bool keep);

/*
 * A daemon in a fresh directory (dir NULL) or in dir (a restart on the
 * same state), with extra options (NULL-terminated, may be NULL).  Waits
 * until the socket accepts; aborts the test if the daemon exits first,
 * with the end of its log.
 */
struct hd *h_start(const char *const *extra);
struct hd *h_start_in(const char *dir, const char *const *extra);
/* Fork+exec without waiting for the socket (the refused second daemon). */
struct hd *h_spawn(const char *dir, const char *sock, const char *log,
	    const char *const *extra);
/* Wait for the daemon's exit: true, and its wait status in d->status. */
bool	 h_wait_exit(struct hd *, int timeout_ms);
/* SIGTERM and wait: the wait status; aborts if it does not exit. */
int	 h_stop(struct hd *);
/* SIGKILL and reap. */
void	 h_kill9(struct hd *);
/* The log (stdout+stderr), malloc'd, "" if none. */
char	*h_log(const struct hd *);
/* Its last few KB, for a failure message (static buffer). */
const char *h_log_tail(const struct hd *);
/* "exit status 3", "killed by signal 9" (static buffer). */
const char *h_status_text(int wait_status);
/* Reap every child that has exited (daemons' statuses are recorded). */
void	 h_reap(void);

/* ---- processes ---- */

/* /proc/PID/stat exists and the state is not Z (or X). */
bool	 h_pid_alive(pid_t);
/* ppid and comm of a process; -1 if it is gone. */
int	 h_proc_stat(pid_t, pid_t *ppid, char *state, char *comm,
	    size_t commlen);
/*
 * Live helix-worker processes whose parent is ppid (0: any parent), up to
 * max of them into pids; the number found.
 */
int	 h_workers_of(pid_t ppid, pid_t *pids, int max);

/* ---- time and polling ---- */

int64_t	 h_now_ms(void);
void	 h_nap(void);		/* a few ms, between polls */
bool	 h_poll(bool (*cond)(void *), void *arg, int timeout_ms);
/* ok = whether cond became true within ms. */
#define H_POLL(ok, cond, ms) do {					\
	int64_t h_dl_ = h_now_ms() + (ms);				\
	for (;;) {							\
		if (((ok) = (cond)))					\
			break;						\
		if (h_now_ms() >= h_dl_)				\
			break;						\
		h_nap();						\
	}								\
} while (0)

/* ---- clients ---- */

struct hc_client *h_connect(const struct hd *);

/*
 * A plain connection (raw protocol tests): bytes out, whole MessagePack
 * objects in, in arrival order, as JSON.
 */
struct h_raw {
	int			 fd;
	msgpack_unpacker	 up;
	msgpack_unpacked	 msg;
};
void	 h_raw_open(const struct hd *, struct h_raw *);
void	 h_raw_close(struct h_raw *);
/* Write all of it; false when the server has closed. */
bool	 h_raw_send(struct h_raw *, const void *, size_t);
/* The JSON text of a value (printf format), packed as MessagePack. */
void	 h_pack(msgpack_sbuffer *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* 1 and *out (caller decrefs), 0 on timeout, -1 on EOF or a read error. */
int	 h_raw_next(struct h_raw *, int timeout_ms, json_t **out);

/* JSON text from a printf format; aborts on invalid JSON. */
json_t	*h_json(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Compact text of a value, malloc'd ("NULL" for NULL). */
char	*h_dump(const json_t *);
/*
 * Equality for protocol values: numbers compare by value (1 equals 1.0),
 * objects by keys regardless of order, everything else as json_equal.
 */
bool	 h_equal(const json_t *, const json_t *);
/* Abort unless got equals the JSON text want ("what: got X, want Y"). */
void	 h_expect(const char *what, const json_t *got, const char *want);

/*
 * A call that must succeed: the result (caller decrefs).  params is JSON
 * text (printf format), NULL for [].
 */
json_t	*h_ok(struct hc_client *, const char *method, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* A call that must fail with code: the error map (caller decrefs). */
json_t	*h_err(struct hc_client *, const char *code, const char *method,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Any outcome: HC_* status, the result or error map in *out (may be NULL). */
int	 h_call(struct hc_client *, json_t **out, char *code, size_t codelen,
	    const char *method, const char *fmt, ...)
	    __attribute__((format(printf, 6, 7)));

/* Typed fields; they abort when the field is missing or of another type. */
json_int_t h_int(const json_t *obj, const char *key);
double	 h_num(const json_t *obj, const char *key);
const char *h_str(const json_t *obj, const char *key);
bool	 h_bool(const json_t *obj, const char *key);

/*
 * The next notification named method (others before it are dropped): its
 * params, or NULL when none came in time (or the connection is lost).
 */
json_t	*h_next(struct hc_client *, const char *method, int timeout_ms);
/* The next notification of any name: 0 and *method/params, or HC_*. */
int	 h_next_any(struct hc_client *, int timeout_ms, char **method,
	    json_t **params);
/*
 * Whether a notification named method is queued or arrives within ms
 * (consumes it); used to check that something did NOT come.
 */
bool	 h_got(struct hc_client *, const char *method, int timeout_ms);

/* ---- flows ---- */

/* session.inspect's pid: 0 for nil. */
pid_t	 h_worker_pid(struct hc_client *, const char *flow);
/* Poll session.inspect until the pid is live and differs from old. */
pid_t	 h_wait_new_pid(struct hc_client *, const char *flow, pid_t old,
	    int timeout_ms);
/* flow.get's version. */
json_int_t h_version(struct hc_client *, const char *flow);

/* ---- additions for the fault tests (test_faults.c) ---- */

/* A fresh empty directory under the base (for files a daemon needs before
 * it starts, e.g. a --worker script); then h_start_in(dir, ...). */
void	 h_fresh_dir(char *out, size_t len);
/* Write text to path with the given mode (e.g. 0755 for a script). */
void	 h_write_file(const char *path, const char *text, mode_t mode);
/* Wall-clock time, unix seconds (telemetry's "time"). */
double	 h_unix_now(void);

/*
 * The worker processes of one daemon, found by command line: every live
 * process (state not Z/X) whose argv holds "--state-dir DIR" (the daemon's
 * d->state), whatever its program (a --worker script included).  No
 * reaping and no Check calls: safe from any thread.  Up to max into out
 * (may be NULL); the number found.
 */
struct h_worker {
	pid_t	 pid;
	pid_t	 ppid;
	char	 state;
	char	 flow[132];	/* its "--flow" argument, "" if none */
};
int	 h_scan_workers(const char *state_dir, struct h_worker *out, int max);
/*
 * Two or more live workers for one flow at the same moment: a scan, then
 * a second look at the flows that showed more than one (a worker that died
 * between the reads of one scan is not a second worker).  Returns the
 * number of such flows; the first is described in why (may be NULL).
 */
int	 h_flow_duplicates(const char *state_dir, char *why, size_t whylen);

#endif /* HELIX_IT_HARNESS_H */
