/*
 * spawn.c: socketpair, fork, exec helix-worker.  The worker's contract is
 * fixed: its channel is fd 3, every other descriptor closed, signals reset,
 * identity and settings on argv, no systemd variables in its environment.
 * Signals are blocked across fork so libevent's handler never runs in the
 * child.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "supervisor/helixd.h"

#define WORKER_FD	3

/* Close every descriptor above fd 3 (close_range when the kernel has it). */
static void
close_from(int lowfd)
{
	DIR		*d;
	struct dirent	*de;
	int		 fd;

#ifdef SYS_close_range
	if (syscall(SYS_close_range, lowfd, ~0U, 0) == 0)
		return;
#endif
	if ((d = opendir("/proc/self/fd")) != NULL) {
		while ((de = readdir(d)) != NULL) {
			fd = atoi(de->d_name);
			if (fd >= lowfd && fd != dirfd(d))
				close(fd);
		}
		closedir(d);
		return;
	}
	for (fd = lowfd; fd < 65536; fd++)
		close(fd);
}

static void
child(struct session *s, int fd, char **argv)
{
	sigset_t	none;
	int		sig;

	/* Reset every disposition, then unblock. */
	for (sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	setpgid(0, 0) ;
	if (fd != WORKER_FD) {
		if (dup2(fd, WORKER_FD) == -1)
			_exit(126);
	} else if (fcntl(fd, F_SETFD, 0) == -1)
		_exit(126);
	close_from(WORKER_FD + 1);
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_PID");
	execv(srv->worker_path, argv);
	_exit(127);
}

pid_t
spawn_worker(struct session *s, int *fdp, struct proto_error *e)
{
	const struct helix_config *c = &srv->cfg;
	char		 a[20][32];
	char		*argv[40];
	int		 sv[2], n = 0, i = 0;
	sigset_t	 all, old;
	pid_t		 pid;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return proto_error_set(e, PC_OVERLOADED,
		    "cannot start a session: socketpair: %s", strerror(errno));

#define ARG(s)	(argv[n++] = (char *)(s))
#define NUM(opt, v) do {						\
	snprintf(a[i], sizeof(a[i]), "%llu", (unsigned long long)(v));	\
	ARG(opt); ARG(a[i]); i++;					\
} while (0)
	ARG("helix-worker");
	ARG("--flow"); ARG(s->id);
	ARG("--state-dir"); ARG(c->state_dir);
	ARG("--sync");
	ARG(c->sync == SYNC_FULL ? "full" : c->sync == SYNC_BATCH ? "batch" : "none");
	NUM("--sync-interval-ms", c->sync_interval_ms);
	NUM("--history-length", c->history_length);
	NUM("--map-size", c->map_size);
	NUM("--max-readers", c->max_sessions + 64);
	NUM("--max-nodes", c->max_nodes);
	NUM("--max-edges", c->max_edges);
	NUM("--max-data-bytes", c->max_data_bytes);
	NUM("--max-ops", c->max_ops);
	NUM("--max-flow-bytes", c->max_flow_bytes);
	NUM("--max-message-bytes", c->max_message_bytes);
	NUM("--master-pid", getpid());
	if (s->no_restore)
		ARG("--no-restore");
	ARG("--log-level"); ARG(log_level_name(c->log_level));
	argv[n] = NULL;
#undef NUM
#undef ARG

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		child(s, sv[1], argv);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sv[1]);
	if (pid == -1) {
		close(sv[0]);
		log_event(HLOG_WARN, s->id, "session.spawn", " error=%s",
		    log_q(strerror(errno)));
		return proto_error_set(e, PC_OVERLOADED,
		    "cannot start a session: fork: %s", strerror(errno));
	}
	if (fcntl(sv[0], F_SETFL, O_NONBLOCK) == -1)
		log_warn("fcntl O_NONBLOCK");
	*fdp = sv[0];
	return pid;
}
