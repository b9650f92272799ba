/*
 * helixd: the master.  Parses the configuration, opens the socket, runs one
 * libevent loop, and stops in order on SIGTERM/SIGINT.
 */
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "supervisor/helixd.h"
#include "worker/store.h"

#define DRAIN_US	(2 * 1000000ULL)	/* for clients' last bytes at exit */

struct server *srv;
static struct server server_storage;
static struct event *ev_stop_kill;

double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* mkdir -p with mode for the components we create. */
static int
mkdirs(const char *path, mode_t mode)
{
	char	 buf[PATH_MAX];
	char	*p;

	if (strlen(path) >= sizeof(buf)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	strcpy(buf, path);
	for (p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) == -1 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	if (mkdir(buf, mode) == -1 && errno != EEXIST)
		return -1;
	return 0;
}

/* The worker binary: --worker, beside helixd, the build tree, libexec. */
static int
find_worker(char *out, size_t len)
{
	char		 self[PATH_MAX - 64], cand[PATH_MAX];
	ssize_t		 n;
	char		*slash;
	const char	*rel[] = { "helix-worker", "../worker/helix-worker",
			    "../libexec/helix-worker" };
	size_t		 i;

	if (srv->cfg.worker[0] != '\0') {
		if (access(srv->cfg.worker, X_OK) == -1)
			return -1;
		snprintf(out, len, "%s", srv->cfg.worker);
		return 0;
	}
	n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		if ((slash = strrchr(self, '/')) != NULL)
			*slash = '\0';
		for (i = 0; i < sizeof(rel) / sizeof(rel[0]); i++) {
			snprintf(cand, sizeof(cand), "%s/%s", self, rel[i]);
			if (access(cand, X_OK) == 0) {
				snprintf(out, len, "%s", cand);
				return 0;
			}
		}
	}
	snprintf(cand, sizeof(cand), "%s/helix-worker", HELIX_LIBEXECDIR);
	if (access(cand, X_OK) == 0) {
		snprintf(out, len, "%s", cand);
		return 0;
	}
	return -1;
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) == -1)
			log_warn("setrlimit NOFILE");
	}
}

static void
on_sigchld(evutil_socket_t sig, short ev, void *arg)
{
	pid_t	pid;
	int	status;

	/* SIGCHLD coalesces: reap everything that is ready. */
	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		session_reap(pid, status);
}

static void
on_sigterm(evutil_socket_t sig, short ev, void *arg)
{
	server_shutdown(sig == SIGINT ? "SIGINT" : "SIGTERM");
}

static int	 saved_argc;
static char	**saved_argv;

/* Re-read the file in use; apply what may change at run time. */
static void
on_sighup(evutil_socket_t sig, short ev, void *arg)
{
	struct helix_config	fresh;
	char			err[CONFIG_ERR_MAX];
	int			n;

	if (config_reload(&fresh, &srv->cfg, saved_argc, saved_argv, err,
	    sizeof(err)) != 0) {
		log_event(HLOG_WARN, NULL, "config.reload",
		    " result=rejected error=%s", log_q(err));
		return;
	}
	n = config_apply_reloadable(&srv->cfg, &fresh);
	log_set_level(srv->cfg.log_level);
	log_event(HLOG_INFO, NULL, "config.reload", " result=ok file=%s changed=%d",
	    log_q(srv->cfg.config_file[0] ? srv->cfg.config_file : "-"), n);
}

/* Housekeeping once a second: slow clients, idle sessions, timers. */
static void
on_tick(evutil_socket_t fd, short ev, void *arg)
{
	client_tick();
	session_tick(now_s());
	notify_status();
	if (srv->shutting_down && srv->nlive == 0)
		event_base_loopexit(srv->base, NULL);
}

static void
on_stop_kill(evutil_socket_t fd, short ev, void *arg)
{
	log_event(HLOG_WARN, NULL, "server.shutdown",
	    " action=kill remaining=%u", srv->nlive);
	session_kill_all(SIGKILL);
}

void
server_shutdown(const char *why)
{
	struct session	*s, *ts;
	struct timeval	 tv;

	if (srv->shutting_down)
		return;
	srv->shutting_down = true;
	log_event(HLOG_INFO, NULL, "server.shutdown", " reason=%s live=%u",
	    log_q(why), srv->nlive);
	notify_stopping();
	listen_close();
	HASH_ITER(hh, srv->sessions, s, ts)
		session_stop(s, "shutdown");
	tv.tv_sec = srv->cfg.shutdown_timeout_ms / 1000;
	tv.tv_usec = (srv->cfg.shutdown_timeout_ms % 1000) * 1000;
	ev_stop_kill = evtimer_new(srv->base, on_stop_kill, NULL);
	evtimer_add(ev_stop_kill, &tv);
	if (srv->nlive == 0)
		event_base_loopexit(srv->base, NULL);
}

static void
on_drain(evutil_socket_t fd, short ev, void *arg)
{
	struct client	*c;
	uint64_t	*deadline = arg;

	TAILQ_FOREACH(c, &srv->clients, entry) {
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) != 0 &&
		    now_us() < *deadline)
			return;
	}
	event_base_loopexit(srv->base, NULL);
}

/* Let clients read their last replies and flow.closed, for a moment. */
static void
drain_clients(void)
{
	struct timeval	 tv = { 0, 20 * 1000 };
	uint64_t	 deadline = now_us() + DRAIN_US;
	struct event	*ev;

	ev = event_new(srv->base, -1, EV_PERSIST, on_drain, &deadline);
	evtimer_add(ev, &tv);
	event_base_dispatch(srv->base);
	event_free(ev);
}

int
main(int argc, char **argv)
{
	char		 err[CONFIG_ERR_MAX];
	struct timeval	 one = { 1, 0 };
	struct client	*c;
	int		 rc;

	srv = &server_storage;
	memset(srv, 0, sizeof(*srv));
	srv->listen_fd = -1;
	TAILQ_INIT(&srv->clients);
	log_init("helixd", HLOG_INFO);

	saved_argc = argc;
	saved_argv = argv;
	rc = config_from_args(&srv->cfg, argc, argv, err, sizeof(err));
	if (rc == CONFIG_HELP) {
		config_usage(stdout, "helixd");
		return 0;
	}
	if (rc == CONFIG_VERSION) {
		printf("helixd %s (protocol %d)\n", HELIX_VERSION,
		    PROTO_VERSION);
		return 0;
	}
	if (rc != CONFIG_OK) {
		fprintf(stderr, "helixd: %s\n", err);
		return EXIT_HELIX_USAGE;
	}
	log_set_level(srv->cfg.log_level);
	notify_init();
	srv->uid = geteuid();
	srv->started_at = now_s();
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);

	if (find_worker(srv->worker_path, sizeof(srv->worker_path)) == -1) {
		fprintf(stderr, "helixd: cannot find helix-worker%s%s "
		    "(use --worker PATH)\n",
		    srv->cfg.worker[0] ? " at " : "", srv->cfg.worker);
		return EXIT_HELIX_START;
	}
	if (mkdirs(srv->cfg.state_dir, 0700) == -1) {
		fprintf(stderr, "helixd: state directory %s: %s\n",
		    srv->cfg.state_dir, strerror(errno));
		return EXIT_HELIX_START;
	}
	if (srv->cfg.daemonize && daemon_detach(err, sizeof(err)) == -1) {
		fprintf(stderr, "helixd: %s\n", err);
		return EXIT_HELIX_START;
	}
	/* After the fork of --daemonize: an LMDB environment must not cross it. */
	if (master_store_open(err, sizeof(err)) == -1) {
		fprintf(stderr, "helixd: %s\n", err);
		return EXIT_HELIX_START;
	}
	srv->base = event_base_new();
	if (srv->base == NULL)
		fatalx("event_base_new failed");
	if (listen_open(err, sizeof(err)) == -1) {
		fprintf(stderr, "helixd: %s\n", err);
		return EXIT_HELIX_START;
	}
	if (daemon_pidfile(err, sizeof(err)) == -1) {
		fprintf(stderr, "helixd: %s\n", err);
		listen_close();
		return EXIT_HELIX_START;
	}

	srv->ev_sigchld = evsignal_new(srv->base, SIGCHLD, on_sigchld, NULL);
	srv->ev_sigterm = evsignal_new(srv->base, SIGTERM, on_sigterm, NULL);
	srv->ev_sigint = evsignal_new(srv->base, SIGINT, on_sigterm, NULL);
	srv->ev_sighup = evsignal_new(srv->base, SIGHUP, on_sighup, NULL);
	evsignal_add(srv->ev_sigchld, NULL);
	evsignal_add(srv->ev_sigterm, NULL);
	evsignal_add(srv->ev_sigint, NULL);
	evsignal_add(srv->ev_sighup, NULL);
	srv->ev_tick = event_new(srv->base, -1, EV_PERSIST, on_tick, NULL);
	evtimer_add(srv->ev_tick, &one);

	log_event(HLOG_INFO, NULL, "server.start",
	    " version=%s socket=%s state_dir=%s worker=%s sync=%s",
	    HELIX_VERSION, log_q(srv->cfg.socket), log_q(srv->cfg.state_dir),
	    log_q(srv->worker_path), srv->cfg.sync == SYNC_FULL ? "full" :
	    srv->cfg.sync == SYNC_BATCH ? "batch" : "none");

	notify_ready();
	daemon_ready();
	event_base_dispatch(srv->base);

	drain_clients();
	while ((c = TAILQ_FIRST(&srv->clients)) != NULL)
		client_destroy(c, "shutdown");
	listen_close();
	master_store_close();
	daemon_cleanup();
	notify_close();
	log_event(HLOG_INFO, NULL, "server.stop", " status=%d",
	    srv->exit_status);
	return srv->exit_status;
}
