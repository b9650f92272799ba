/*
 * listen.c: the client socket.  A stale socket file from a dead daemon is
 * replaced; a live one is refused.  accept() running out of descriptors
 * backs off on a timer instead of spinning the loop.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "supervisor/helixd.h"

#define ACCEPT_BATCH	64	/* connections taken per callback */
#define ACCEPT_BACKOFF_MS 100

static int
sun_fill(struct sockaddr_un *sun, const char *path, char *err, size_t errlen)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return -1;
	}
	strcpy(sun->sun_path, path);
	return 0;
}

/* Create the socket's directory (0700) when it is missing. */
static int
socket_dir(const char *path, char *err, size_t errlen)
{
	char	 dir[PATH_MAX];
	char	*slash, *p;

	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (p = dir + 1; ; p++) {
		if (*p == '/' || *p == '\0') {
			char c = *p;

			*p = '\0';
			if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
				snprintf(err, errlen, "socket directory %s: %s",
				    dir, strerror(errno));
				return -1;
			}
			*p = c;
			if (c == '\0')
				break;
		}
	}
	return 0;
}

/* 1 if a daemon answers on path, 0 if the file is stale or absent. */
static int
socket_live(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un	sun;
	struct stat		sb;
	int			fd, rc;

	if (lstat(path, &sb) == -1)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(sb.st_mode)) {
		snprintf(err, errlen, "%s exists and is not a socket", path);
		return -1;
	}
	if (sun_fill(&sun, path, err, errlen) == -1)
		return -1;
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
	close(fd);
	if (rc == 0) {
		snprintf(err, errlen, "another helixd is already listening "
		    "on %s", path);
		return 1;
	}
	return 0;
}

static void
on_accept_retry(evutil_socket_t fd, short ev, void *arg)
{
	if (!srv->shutting_down && srv->listen_fd != -1)
		event_add(srv->ev_accept, NULL);
}

static void
on_accept(evutil_socket_t lfd, short ev, void *arg)
{
	struct timeval	tv = { 0, ACCEPT_BACKOFF_MS * 1000 };
	int		fd, i;

	for (i = 0; i < ACCEPT_BATCH; i++) {
		fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd == -1) {
			if (errno == EAGAIN || errno == EINTR ||
			    errno == ECONNABORTED)
				return;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/*
				 * The pending connection keeps the socket
				 * readable: stop listening for a moment.
				 */
				log_event(HLOG_WARN, NULL, "server.accept",
				    " error=%s action=backoff",
				    log_q(strerror(errno)));
				event_del(srv->ev_accept);
				evtimer_add(srv->ev_accept_retry, &tv);
				return;
			}
			log_warn("accept");
			return;
		}
		if (srv->nclients >= srv->cfg.max_connections) {
			log_event(HLOG_WARN, NULL, "client.refused",
			    " reason=max_connections limit=%u",
			    srv->cfg.max_connections);
			close(fd);
			continue;
		}
		client_accept(fd);
	}
}

int
listen_open(char *err, size_t errlen)
{
	struct sockaddr_un	 sun;
	const char		*path = srv->cfg.socket;
	struct group		*gr;
	int			 fd, live;
	mode_t			 old;

	if (socket_dir(path, err, errlen) == -1)
		return -1;
	live = socket_live(path, err, errlen);
	if (live != 0) {
		if (live == -1 && err[0] == '\0')
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		snprintf(err, errlen, "remove stale %s: %s", path,
		    strerror(errno));
		return -1;
	}
	if (sun_fill(&sun, path, err, errlen) == -1)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return -1;
	}
	/* Never let the socket exist with wider permissions than asked. */
	old = umask(0777 & ~srv->cfg.socket_mode);
	if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		umask(old);
		snprintf(err, errlen, "bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, srv->cfg.socket_mode) == -1) {
		snprintf(err, errlen, "chmod %s: %s", path, strerror(errno));
		goto fail;
	}
	if (srv->cfg.socket_group[0] != '\0') {
		if ((gr = getgrnam(srv->cfg.socket_group)) == NULL) {
			snprintf(err, errlen, "socket_group %s: no such group",
			    srv->cfg.socket_group);
			goto fail;
		}
		if (chown(path, (uid_t)-1, gr->gr_gid) == -1) {
			snprintf(err, errlen, "chown %s: %s", path,
			    strerror(errno));
			goto fail;
		}
	}
	if (listen(fd, 512) == -1) {
		snprintf(err, errlen, "listen %s: %s", path, strerror(errno));
		goto fail;
	}
	srv->listen_fd = fd;
	srv->ev_accept = event_new(srv->base, fd, EV_READ | EV_PERSIST,
	    on_accept, NULL);
	srv->ev_accept_retry = evtimer_new(srv->base, on_accept_retry, NULL);
	event_add(srv->ev_accept, NULL);
	return 0;
fail:
	close(fd);
	unlink(path);
	return -1;
}

void
listen_close(void)
{
	if (srv->listen_fd == -1)
		return;
	event_free(srv->ev_accept);
	event_free(srv->ev_accept_retry);
	srv->ev_accept = srv->ev_accept_retry = NULL;
	close(srv->listen_fd);
	srv->listen_fd = -1;
	unlink(srv->cfg.socket);
}
