/*
 * helixctl-stream.c: watch and events, the commands that print
 * notifications until told to stop.
 *
 * Each notification is one JSON line, {"method": ..., "params": [...]},
 * flushed at once.  SIGINT and SIGTERM end the stream with status 0.  The
 * client library retries poll on EINTR, so a signal alone would not get us
 * out of a wait: the handler writes to a pipe, and we sleep on the pipe and
 * the socket together, asking the library only for what is already there.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/helixctl.h"

static volatile sig_atomic_t	stream_stopped;
static int			stream_pipe[2] = { -1, -1 };

static void
stream_signal(int sig)
{
	int	saved = errno;

	stream_stopped = 1;
	(void)!write(stream_pipe[1], "x", 1);
	errno = saved;
}

/* Before the first output: line buffering only takes then. */
static void
stream_begin(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
}

static int
stream_catch_signals(void)
{
	struct sigaction	sa;

	if (pipe2(stream_pipe, O_NONBLOCK | O_CLOEXEC) == -1) {
		helixctl_warn("pipe: %s", strerror(errno));
		return (-1);
	}
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = stream_signal;
	sigemptyset(&sa.sa_mask);
	/* Even when started in the background, which ignores SIGINT. */
	if (sigaction(SIGINT, &sa, NULL) == -1 ||
	    sigaction(SIGTERM, &sa, NULL) == -1) {
		helixctl_warn("sigaction: %s", strerror(errno));
		return (-1);
	}
	return (0);
}

/*
 * Print notifications until a signal, the end of the connection or, when
 * flow is not NULL, its flow.closed (printed last).
 */
static int
stream_run(struct helixctl *h, const char *flow)
{
	struct pollfd	 pfd[2];
	json_t		*params, *line;
	char		*method;
	bool		 closed;
	int		 rv;

	for (;;) {
		if (stream_stopped)
			return (HC_OK);
		rv = hc_next_notify(h->client, 0, &method, &params);
		if (rv == HC_ECONN) {
			helixctl_warn("%s", hc_last_error(h->client));
			return (HC_ECONN);
		}
		if (rv == HC_OK) {
			closed = flow != NULL &&
			    strcmp(method, "flow.closed") == 0 &&
			    json_is_string(json_array_get(params, 0)) &&
			    strcmp(json_string_value(json_array_get(params,
			    0)), flow) == 0;
			line = json_pack("{s:s, s:o}", "method", method,
			    "params", params);
			free(method);
			if (line == NULL) {
				helixctl_warn("out of memory");
				return (HC_ERROR);
			}
			rv = print_json_line(line);
			json_decref(line);
			/* Cannot write: helixctl_output says why. */
			if (rv == -1 || closed)
				return (HC_OK);
			continue;
		}
		/* Nothing is buffered: sleep until bytes or a signal come. */
		pfd[0].fd = hc_fd(h->client);
		pfd[0].events = POLLIN;
		pfd[1].fd = stream_pipe[0];
		pfd[1].events = POLLIN;
		if (poll(pfd, 2, -1) == -1 && errno != EINTR) {
			helixctl_warn("poll: %s", strerror(errno));
			return (HC_ECONN);
		}
	}
}

/* params: the params of flow.join, consumed. */
int
stream_watch(struct helixctl *h, const char *flow, json_t *params)
{
	json_t	*result;
	int	 rv;

	stream_begin();
	if ((rv = helixctl_call(h, "flow.join", params, &result)) != HC_OK)
		return (rv);
	if (json_is_true(json_object_get(result, "resync")))
		helixctl_warn("%s: history does not reach back to the version"
		    " asked for; some updates are not shown (use get)", flow);
	json_decref(result);
	if (stream_catch_signals() == -1)
		return (HC_ERROR);
	return (stream_run(h, flow));
}

/* params: the params of sys.subscribe, consumed. */
int
stream_events(struct helixctl *h, json_t *params)
{
	json_t	*result;
	int	 rv;

	stream_begin();
	if ((rv = helixctl_call(h, "sys.subscribe", params, &result)) != HC_OK)
		return (rv);
	json_decref(result);
	if (stream_catch_signals() == -1)
		return (HC_ERROR);
	return (stream_run(h, NULL));
}
