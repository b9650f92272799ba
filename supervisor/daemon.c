/*
 * daemon.c: for init systems other than systemd.  --daemonize forks into
 * the background; the parent exits 0 only once the child listens (a pipe
 * carries the word), so whatever started helixd knows when it is ready.
 * --pidfile writes the daemon's pid after the socket listens and removes
 * it at exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "supervisor/helixd.h"

static int	ready_fd = -1;
static bool	pidfile_written;

int
daemon_detach(char *err, size_t errlen)
{
	int	p[2], fd;
	char	c;
	ssize_t	n;
	pid_t	pid;

	if (pipe2(p, O_CLOEXEC) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (pid != 0) {
		/* The parent waits for the word, then leaves. */
		close(p[1]);
		do
			n = read(p[0], &c, 1);
		while (n == -1 && errno == EINTR);
		_exit(n == 1 && c == 'R' ? 0 : 1);
	}
	close(p[0]);
	ready_fd = p[1];
	if (setsid() == -1) {
		snprintf(err, errlen, "setsid: %s", strerror(errno));
		return -1;
	}
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	return 0;
}

void
daemon_ready(void)
{
	if (ready_fd == -1)
		return;
	if (write(ready_fd, "R", 1) != 1)
		log_warn("readiness pipe");
	close(ready_fd);
	ready_fd = -1;
}

int
daemon_pidfile(char *err, size_t errlen)
{
	char	buf[32];
	int	fd, n;

	if (srv->cfg.pidfile[0] == '\0')
		return 0;
	fd = open(srv->cfg.pidfile, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
	    0644);
	if (fd == -1) {
		snprintf(err, errlen, "pidfile %s: %s", srv->cfg.pidfile,
		    strerror(errno));
		return -1;
	}
	n = snprintf(buf, sizeof(buf), "%d\n", (int)getpid());
	if (write(fd, buf, n) != n) {
		snprintf(err, errlen, "pidfile %s: %s", srv->cfg.pidfile,
		    strerror(errno));
		close(fd);
		unlink(srv->cfg.pidfile);
		return -1;
	}
	close(fd);
	pidfile_written = true;
	return 0;
}

void
daemon_cleanup(void)
{
	if (pidfile_written)
		unlink(srv->cfg.pidfile);
	pidfile_written = false;
}
