/*
 * notify.c: the systemd notification protocol, written directly (one
 * AF_UNIX datagram of KEY=VALUE lines to $NOTIFY_SOCKET; a leading '@' is
 * the abstract namespace).  READY=1 once the socket listens, STOPPING=1 at
 * shutdown, STATUS= with the live session count, WATCHDOG=1 every half of
 * $WATCHDOG_USEC from the master's loop.  The variables are removed from
 * the environment at start so workers never inherit them.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "supervisor/helixd.h"

static struct sockaddr_un	 notify_addr;
static socklen_t		 notify_len;
static int			 notify_fd = -1;
static uint64_t			 watchdog_usec;
static struct event		*ev_watchdog;
static uint32_t			 last_live = UINT32_MAX;

void
notify_init(void)
{
	const char	*path = getenv("NOTIFY_SOCKET");
	const char	*usec = getenv("WATCHDOG_USEC");
	const char	*wpid = getenv("WATCHDOG_PID");
	size_t		 len;

	if (usec != NULL && (wpid == NULL || atol(wpid) == (long)getpid()))
		watchdog_usec = strtoull(usec, NULL, 10);
	if (path != NULL && (path[0] == '/' || path[0] == '@') &&
	    (len = strlen(path)) < sizeof(notify_addr.sun_path)) {
		memset(&notify_addr, 0, sizeof(notify_addr));
		notify_addr.sun_family = AF_UNIX;
		memcpy(notify_addr.sun_path, path, len);
		if (path[0] == '@')
			notify_addr.sun_path[0] = '\0';
		notify_len = offsetof(struct sockaddr_un, sun_path) + len;
		notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC |
		    SOCK_NONBLOCK, 0);
	}
	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
}

/* Best effort: systemd not listening must never stop the daemon. */
void
notify_send(const char *fmt, ...)
{
	char	buf[512];
	va_list	ap;
	int	n;

	if (notify_fd == -1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	if (sendto(notify_fd, buf, n, MSG_NOSIGNAL,
	    (struct sockaddr *)&notify_addr, notify_len) == -1)
		log_event(HLOG_DEBUG, NULL, "notify.error", " error=%s",
		    log_q(strerror(errno)));
}

static void
on_watchdog(evutil_socket_t fd, short ev, void *arg)
{
	notify_send("WATCHDOG=1");
}

/* After the socket listens: READY, and the watchdog pings if asked for. */
void
notify_ready(void)
{
	struct timeval tv;

	notify_send("READY=1\nMAINPID=%d\nSTATUS=0 sessions live", (int)getpid());
	last_live = 0;
	if (watchdog_usec == 0 || notify_fd == -1)
		return;
	tv.tv_sec = watchdog_usec / 2 / 1000000;
	tv.tv_usec = watchdog_usec / 2 % 1000000;
	ev_watchdog = event_new(srv->base, -1, EV_PERSIST, on_watchdog, NULL);
	event_add(ev_watchdog, &tv);
}

/* From the 1 s tick: STATUS= when the live count changed. */
void
notify_status(void)
{
	if (notify_fd == -1 || srv->nlive == last_live || srv->shutting_down)
		return;
	last_live = srv->nlive;
	notify_send("STATUS=%u sessions live, %u connections", srv->nlive,
	    srv->nclients);
}

void
notify_stopping(void)
{
	notify_send("STOPPING=1\nSTATUS=stopping");
}

void
notify_close(void)
{
	if (ev_watchdog != NULL)
		event_free(ev_watchdog);
	ev_watchdog = NULL;
	if (notify_fd != -1)
		close(notify_fd);
	notify_fd = -1;
}
