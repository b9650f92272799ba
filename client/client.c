/*
 * client.c: one connection to helixd (see helix-client.h).
 *
 * The socket is non-blocking; every wait is one loop, client_run, that
 * polls, writes queued output, reads, and dispatches one message at a time
 * until a condition holds.  Reading and writing happen in the same loop on
 * purpose: helixd stops reading a connection whose replies pile up, so a
 * client that only wrote while its requests were pipelined would deadlock
 * against it.  Dispatching one message at a time lets hc_wait stop right
 * after its answer, so the notification queue then holds exactly what
 * arrived before that answer (the protocol orders flow.update against
 * replies; we keep that order visible).
 */
#include <sys/types.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uthash.h>

#include "client/helix-client.h"
#include "proto/proto.h"

#define CLIENT_CONNECT_TIMEOUT	10	/* seconds on a full listen backlog */
#define CLIENT_READ_SIZE	65536

/* An answer that arrived and nobody has taken yet (or one to drop). */
struct client_answer {
	uint32_t	 msgid;
	int		 flags;
#define CLIENT_ANSWER_DISCARD	0x1	/* drop it when it comes */
	bool		 is_error;
	json_t		*value;
	char		 code[64];
	char		 message[256];
	size_t		 cost;
	UT_hash_handle	 hh;
};

struct client_notify {
	char			*method;
	json_t			*params;
	size_t			 cost;
	TAILQ_ENTRY(client_notify) entry;
};
TAILQ_HEAD(client_notifies, client_notify);

struct hc_client {
	int			 fd;		/* -1 once the connection is lost */
	struct proto_reader	*reader;
	bool			 broken;	/* reader failed: parse no more */
	uint32_t		 next_msgid;

	msgpack_sbuffer		 out;
	size_t			 outoff;	/* bytes of out already written */

	struct client_answer	*answers;	/* uthash by msgid */
	struct client_notifies	 notifies;
	size_t			 nnotifies;
	size_t			 stored;	/* cost of both, vs store_max */
	size_t			 store_max;

	hc_notify_cb		 cb;
	void			*cbarg;
	int			 in_callback;
	uint64_t		 progress;	/* messages dispatched + delivered */

	char			 syserror[128];	/* last sys.error, for EOF */
	char			 error[256];
};

#define CLIENT_DELIVER	0x1	/* client_run: hand notifications to the cb */

typedef bool (*client_done_fn)(struct hc_client *, const void *);

static void	 client_seterr(struct hc_client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 client_lost(struct hc_client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static void	 client_violation(struct hc_client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static int	 client_usage(struct hc_client *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));

static int64_t
client_now(void)
{
	struct timespec	ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Deadlines are absolute monotonic milliseconds; -1 is never. */
static int64_t
client_deadline(int timeout_ms)
{
	if (timeout_ms < 0)
		return (-1);
	return (client_now() + timeout_ms);
}

static int
client_remaining(int64_t deadline)
{
	int64_t	left;

	if (deadline < 0)
		return (-1);
	left = deadline - client_now();
	if (left < 0)
		return (0);
	return (left > INT_MAX ? INT_MAX : (int)left);
}

static void
client_seterr(struct hc_client *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof c->error, fmt, ap);
	va_end(ap);
}

static int
client_usage(struct hc_client *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof c->error, fmt, ap);
	va_end(ap);
	return (HC_EUSAGE);
}

/* The connection is gone; what was received stays available. */
static void
client_lost(struct hc_client *c, const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	vsnprintf(c->error, sizeof c->error, fmt, ap);
	va_end(ap);
	if (c->fd != -1)
		close(c->fd);
	c->fd = -1;
	c->out.size = 0;
	c->outoff = 0;
}

/* The server broke the protocol: the stream cannot be trusted further. */
static void
client_violation(struct hc_client *c, const char *fmt, ...)
{
	va_list	ap;
	char	msg[192];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	c->broken = true;
	client_lost(c, "protocol error from server: %s; connection closed", msg);
}

static void
client_closed(struct hc_client *c, int error)
{
	const char	*what;

	if (error == 0 || error == ECONNRESET)
		what = error == 0 ? "closed" : "reset";
	else {
		client_lost(c, "read: %s", strerror(error));
		return;
	}
	if (c->syserror[0] != '\0')
		client_lost(c, "connection %s by server (after sys.error %s)",
		    what, c->syserror);
	else
		client_lost(c, "connection %s by server", what);
}

int
hc_default_socket(char *buf, size_t len)
{
	char		 cand[3][PATH_MAX];
	const char	*s;
	struct stat	 sb;
	int		 n = 0, i, w;

	if ((s = getenv("HELIX_SOCKET")) != NULL && *s != '\0')
		goto copy;
	if ((s = getenv("XDG_RUNTIME_DIR")) != NULL && *s != '\0') {
		w = snprintf(cand[n], sizeof cand[n], "%s/helix/helixd.sock", s);
		if (w > 0 && (size_t)w < sizeof cand[n])
			n++;
	}
	snprintf(cand[n++], sizeof cand[0], "/tmp/helix-%lu/helixd.sock",
	    (unsigned long)getuid());
	snprintf(cand[n++], sizeof cand[0], "/run/helix/helixd.sock");
	s = cand[0];
	for (i = 0; i < n; i++) {
		if (stat(cand[i], &sb) == 0) {
			s = cand[i];
			break;
		}
	}
copy:
	if (strlen(s) >= len) {
		errno = ENAMETOOLONG;
		return (-1);
	}
	memcpy(buf, s, strlen(s) + 1);
	return (0);
}

struct hc_client *
hc_connect(const char *path, char *err, size_t errlen)
{
	struct hc_client	*c;
	struct sockaddr_un	 sun;
	struct timeval		 tv;
	char			 def[PATH_MAX], none[1];
	int			 fd, flags;

	if (err == NULL || errlen == 0) {
		err = none;
		errlen = sizeof none;
	}
	err[0] = '\0';
	if (path == NULL) {
		if (hc_default_socket(def, sizeof def) == -1) {
			snprintf(err, errlen, "default socket path too long");
			return (NULL);
		}
		path = def;
	}
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path) {
		snprintf(err, errlen, "socket path too long: %s", path);
		return (NULL);
	}
	strcpy(sun.sun_path, path);

	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "socket: %s", strerror(errno));
		return (NULL);
	}
	/* A Unix connect waits on a full backlog for the send timeout. */
	tv.tv_sec = CLIENT_CONNECT_TIMEOUT;
	tv.tv_usec = 0;
	(void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	while (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		if (errno == EINTR)
			continue;
		if (errno == EISCONN)
			break;
		snprintf(err, errlen, "cannot connect to %s: %s", path,
		    errno == EAGAIN ? "server not accepting connections" :
		    strerror(errno));
		close(fd);
		return (NULL);
	}
	if ((flags = fcntl(fd, F_GETFL)) == -1 ||
	    fcntl(fd, F_SETFL, flags | O_NONBLOCK) == -1) {
		snprintf(err, errlen, "fcntl: %s", strerror(errno));
		close(fd);
		return (NULL);
	}

	if ((c = calloc(1, sizeof *c)) == NULL) {
		snprintf(err, errlen, "out of memory");
		close(fd);
		return (NULL);
	}
	c->fd = fd;
	c->next_msgid = 1;
	c->store_max = HC_STORE_MAX;
	msgpack_sbuffer_init(&c->out);
	TAILQ_INIT(&c->notifies);
	c->reader = proto_reader_create(HC_MAX_MESSAGE, HC_MAX_DEPTH);
	if (c->reader == NULL) {
		snprintf(err, errlen, "out of memory");
		hc_close(c);
		return (NULL);
	}
	return (c);
}

static void
client_notify_free(struct client_notify *n)
{
	free(n->method);
	json_decref(n->params);
	free(n);
}

static void
client_notify_unlink(struct hc_client *c, struct client_notify *n)
{
	TAILQ_REMOVE(&c->notifies, n, entry);
	c->nnotifies--;
	c->stored -= n->cost;
}

static void
client_answer_free(struct hc_client *c, struct client_answer *a)
{
	HASH_DEL(c->answers, a);
	c->stored -= a->cost;
	json_decref(a->value);
	free(a);
}

void
hc_close(struct hc_client *c)
{
	struct client_answer	*a, *tmp;
	struct client_notify	*n;

	if (c == NULL)
		return;
	HASH_ITER(hh, c->answers, a, tmp)
		client_answer_free(c, a);
	while ((n = TAILQ_FIRST(&c->notifies)) != NULL) {
		client_notify_unlink(c, n);
		client_notify_free(n);
	}
	if (c->reader != NULL)
		proto_reader_destroy(c->reader);
	msgpack_sbuffer_destroy(&c->out);
	if (c->fd != -1)
		close(c->fd);
	free(c);
}

int
hc_fd(const struct hc_client *c)
{
	return (c->fd);
}

const char *
hc_last_error(const struct hc_client *c)
{
	return (c == NULL ? "" : c->error);
}

void
hc_set_notify(struct hc_client *c, hc_notify_cb cb, void *arg)
{
	c->cb = cb;
	c->cbarg = arg;
}

void
hc_set_store_max(struct hc_client *c, size_t bytes)
{
	c->store_max = bytes;
}

size_t
hc_pending_notifies(const struct hc_client *c)
{
	return (c->nnotifies);
}

void
hc_result_clear(struct hc_result *r)
{
	if (r == NULL)
		return;
	json_decref(r->value);
	memset(r, 0, sizeof *r);
}

/* Unread data is bounded, else a server could grow us without end. */
static int
client_budget(struct hc_client *c, size_t cost)
{
	if (cost <= c->store_max && c->stored <= c->store_max - cost)
		return (0);
	c->broken = true;
	client_lost(c, "more than %zu bytes of unread answers and"
	    " notifications; connection closed", c->store_max);
	return (-1);
}

/* Fill code and message from an error value the server sent. */
static void
client_answer_error(struct client_answer *a)
{
	const json_t	*v = a->value;
	char		*s;

	if (json_is_object(v)) {
		if (json_is_string(json_object_get(v, "code")))
			snprintf(a->code, sizeof a->code, "%s",
			    json_string_value(json_object_get(v, "code")));
		if (json_is_string(json_object_get(v, "message")))
			snprintf(a->message, sizeof a->message, "%s",
			    json_string_value(json_object_get(v, "message")));
		return;
	}
	/* Not helix's map (a Neovim-style pair, say): show it whole. */
	if (json_is_string(v))
		snprintf(a->message, sizeof a->message, "%s",
		    json_string_value(v));
	else if ((s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT)) != NULL) {
		snprintf(a->message, sizeof a->message, "%s", s);
		free(s);
	}
}

static void
client_answer_invalid(struct client_answer *a, const char *what,
    const char *why)
{
	a->is_error = true;
	snprintf(a->code, sizeof a->code, "invalid_response");
	snprintf(a->message, sizeof a->message, "%s is not JSON: %s", what,
	    why);
	a->value = json_pack("{s:s, s:s}", "code", a->code, "message",
	    a->message);
}

static void
client_dispatch_answer(struct hc_client *c, const struct proto_msg *m,
    size_t cost)
{
	struct client_answer	*a;
	char			 err[192];

	HASH_FIND(hh, c->answers, &m->msgid, sizeof m->msgid, a);
	if (a != NULL) {
		if (a->flags & CLIENT_ANSWER_DISCARD)
			client_answer_free(c, a);
		/* Else a second answer to one request: the first stands. */
		return;
	}
	if (client_budget(c, cost) == -1)
		return;
	if ((a = calloc(1, sizeof *a)) == NULL) {
		client_lost(c, "out of memory");
		return;
	}
	a->msgid = m->msgid;
	a->cost = cost;
	if (m->error != NULL && !proto_is_nil(m->error)) {
		a->is_error = true;
		if ((a->value = hc_msgpack_to_json(m->error, err,
		    sizeof err)) == NULL)
			client_answer_invalid(a, "error", err);
		else
			client_answer_error(a);
	} else if ((a->value = hc_msgpack_to_json(m->result, err,
	    sizeof err)) == NULL)
		client_answer_invalid(a, "result", err);
	c->stored += cost;
	HASH_ADD(hh, c->answers, msgid, sizeof a->msgid, a);
}

static void
client_dispatch_notify(struct hc_client *c, const struct proto_msg *m,
    size_t cost)
{
	struct client_notify	*n;
	const json_t		*e;
	char			 err[192];

	if (client_budget(c, cost) == -1)
		return;
	if ((n = calloc(1, sizeof *n)) == NULL ||
	    (n->method = malloc(m->method_len + 1)) == NULL) {
		free(n);
		client_lost(c, "out of memory");
		return;
	}
	if (m->method_len > 0)
		memcpy(n->method, m->method, m->method_len);
	n->method[m->method_len] = '\0';
	n->cost = cost;
	if ((n->params = hc_msgpack_to_json(m->params, err,
	    sizeof err)) == NULL) {
		client_seterr(c, "notification %s: params %s", n->method, err);
		n->params = json_null();
	}
	/* Remembered so that the close that follows can say why. */
	if (strcmp(n->method, "sys.error") == 0 &&
	    json_is_object(e = json_array_get(n->params, 0)))
		snprintf(c->syserror, sizeof c->syserror, "%s: %s",
		    json_string_value(json_object_get(e, "code")) ?: "?",
		    json_string_value(json_object_get(e, "message")) ?: "");
	TAILQ_INSERT_TAIL(&c->notifies, n, entry);
	c->nnotifies++;
	c->stored += cost;
}

/* Take one whole message off the reader: 1 if one was, 0 if none. */
static int
client_dispatch(struct hc_client *c)
{
	msgpack_object		 o;
	struct proto_msg	 m;
	struct proto_error	 e;
	const char		*raw;
	size_t			 rawlen;
	bool			 has_msgid;

	if (c->broken)
		return (0);
	switch (proto_reader_next(c->reader, &o, &raw, &rawlen)) {
	case PROTO_READ_MORE:
		return (0);
	case PROTO_READ_OBJECT:
		break;
	case PROTO_READ_SYNTAX:
		client_violation(c, "not MessagePack");
		return (0);
	case PROTO_READ_TOO_LARGE:
		client_violation(c, "message larger than %u bytes",
		    HC_MAX_MESSAGE);
		return (0);
	case PROTO_READ_TOO_DEEP:
		client_violation(c, "message nested deeper than %d",
		    HC_MAX_DEPTH);
		return (0);
	default:
		client_violation(c, "unreadable message");
		return (0);
	}
	c->progress++;
	memset(&e, 0, sizeof e);
	if (proto_msg_parse(&o, &m, &e, &has_msgid) == -1) {
		client_violation(c, "invalid message: %s", e.message);
		return (0);
	}
	switch (m.type) {
	case PROTO_RESPONSE:
		client_dispatch_answer(c, &m, rawlen);
		break;
	case PROTO_NOTIFY:
		client_dispatch_notify(c, &m, rawlen);
		break;
	case PROTO_REQUEST:
		/* helixd sends none; like helixd with a response, ignore it. */
		break;
	}
	return (1);
}

/* One read into the reader: 1 bytes came, 0 none yet, -1 lost. */
static int
client_read(struct hc_client *c)
{
	char	buf[CLIENT_READ_SIZE];
	ssize_t	n;

	if (c->fd == -1)
		return (-1);
	for (;;) {
		if ((n = recv(c->fd, buf, sizeof buf, 0)) > 0)
			break;
		if (n == 0) {
			client_closed(c, 0);
			return (-1);
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return (0);
		client_closed(c, errno);
		return (-1);
	}
	if (proto_reader_feed(c->reader, buf, (size_t)n) == -1) {
		c->broken = true;
		client_lost(c, "out of memory");
		return (-1);
	}
	return (1);
}

/* Write what the socket takes now: 0, or -1 when the connection is lost. */
static int
client_write(struct hc_client *c)
{
	ssize_t	n;
	int	error;

	while (c->outoff < c->out.size) {
		n = send(c->fd, c->out.data + c->outoff,
		    c->out.size - c->outoff, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0) {
			c->outoff += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return (0);
		/*
		 * The server may have answered before closing (it answers
		 * message_too_large from the first bytes, then hangs up):
		 * keep what it sent.
		 */
		error = errno;
		while (client_read(c) == 1)
			while (client_dispatch(c) == 1)
				;
		if (c->fd != -1)
			client_lost(c, "write: %s", strerror(error));
		return (-1);
	}
	c->out.size = 0;
	c->outoff = 0;
	return (0);
}

/* Hand queued notifications to the callback; never from inside it. */
static void
client_deliver(struct hc_client *c)
{
	struct client_notify	*n;

	if (c->cb == NULL || c->in_callback)
		return;
	c->in_callback = 1;
	while (c->cb != NULL && (n = TAILQ_FIRST(&c->notifies)) != NULL) {
		client_notify_unlink(c, n);
		c->progress++;
		c->cb(c->cbarg, n->method, n->params);
		client_notify_free(n);
	}
	c->in_callback = 0;
}

/*
 * The one loop: dispatch what is buffered, write, poll, read, until done()
 * holds (HC_OK), the deadline passes (HC_ETIMEDOUT) or the connection is
 * lost and nothing buffered is left (HC_ECONN).
 */
static int
client_run(struct hc_client *c, int64_t deadline, int flags,
    client_done_fn done, const void *arg)
{
	struct pollfd	pfd;
	int		rv;

	for (;;) {
		for (;;) {
			if (flags & CLIENT_DELIVER)
				client_deliver(c);
			if (done(c, arg))
				return (HC_OK);
			if (client_dispatch(c) == 0)
				break;
		}
		if (c->fd == -1)
			return (HC_ECONN);
		if (c->out.size > 0) {
			/* Lost, or all written: the top decides what next. */
			if (client_write(c) == -1 || c->out.size == 0)
				continue;
		}

		pfd.fd = c->fd;
		pfd.events = POLLIN;
		if (c->out.size > 0)
			pfd.events |= POLLOUT;
		pfd.revents = 0;
		rv = poll(&pfd, 1, client_remaining(deadline));
		if (rv == -1) {
			if (errno != EINTR)
				client_lost(c, "poll: %s", strerror(errno));
			continue;
		}
		if (rv == 0) {
			if (deadline >= 0 && client_now() >= deadline)
				return (HC_ETIMEDOUT);
			continue;
		}
		if (pfd.revents & POLLNVAL) {
			client_lost(c, "poll: socket not open");
			continue;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			client_read(c);
	}
}

static bool
client_done_flushed(struct hc_client *c, const void *arg)
{
	return (c->fd != -1 && c->out.size == 0);
}

static bool
client_done_answer(struct hc_client *c, const void *arg)
{
	struct client_answer	*a;

	HASH_FIND(hh, c->answers, arg, sizeof(uint32_t), a);
	return (a != NULL && (a->flags & CLIENT_ANSWER_DISCARD) == 0);
}

static bool
client_done_notify(struct hc_client *c, const void *arg)
{
	return (c->nnotifies > 0);
}

static bool
client_done_dispatched(struct hc_client *c, const void *arg)
{
	return (c->progress != *(const uint64_t *)arg);
}

static bool
client_done_never(struct hc_client *c, const void *arg)
{
	return (false);
}

/*
 * Write out the queue; bytes from start on are this call's.  On a timeout
 * with none of them written they are taken back and the connection stays;
 * once some are out the stream cannot be resumed, so the connection goes.
 */
static int
client_flush(struct hc_client *c, size_t start, int64_t deadline)
{
	int	rv;

	rv = client_run(c, deadline, 0, client_done_flushed, NULL);
	if (rv != HC_ETIMEDOUT)
		return (rv);
	if (c->outoff <= start) {
		c->out.size = start;
		client_seterr(c, "timed out: the server is not reading");
	} else
		client_lost(c, "timed out writing to the server (it is not"
		    " reading); connection closed");
	return (HC_ETIMEDOUT);
}

/* Raw params: exactly one array; its count and header length. */
static int
client_raw_array(const unsigned char *p, size_t len, uint32_t *n,
    size_t *hdr)
{
	if (len == 0 || len > LONG_MAX ||
	    proto_scan(p, len, len, HC_MAX_DEPTH) != (long)len)
		return (-1);
	if ((p[0] & 0xf0) == 0x90) {
		*n = p[0] & 0x0f;
		*hdr = 1;
	} else if (p[0] == 0xdc) {
		*n = (uint32_t)p[1] << 8 | p[2];
		*hdr = 3;
	} else if (p[0] == 0xdd) {
		*n = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 |
		    (uint32_t)p[3] << 8 | p[4];
		*hdr = 5;
	} else
		return (-1);
	return (0);
}

static int
client_send(struct hc_client *c, const char *method, const json_t *params,
    const void *raw, size_t rawlen, int64_t deadline, uint32_t *msgidp)
{
	msgpack_packer	 pk;
	uint32_t	 id, n = 0;
	size_t		 start, hdr = 0, i;
	char		 err[192];
	int		 rv;

	*msgidp = 0;
	if (method == NULL)
		return (client_usage(c, "no method"));
	if (raw != NULL) {
		if (client_raw_array(raw, rawlen, &n, &hdr) == -1)
			return (client_usage(c, "%s: params are not one"
			    " MessagePack array", method));
	} else if (params != NULL) {
		if (!json_is_array(params))
			return (client_usage(c, "%s: params are not a JSON"
			    " array", method));
		if (json_array_size(params) > UINT32_MAX)
			return (client_usage(c, "%s: too many params", method));
		n = (uint32_t)json_array_size(params);
	}
	if (c->fd == -1)
		return (HC_ECONN);

	id = c->next_msgid++;
	if (c->next_msgid == 0)
		c->next_msgid = 1;
	start = c->out.size;
	msgpack_packer_init(&pk, &c->out, msgpack_sbuffer_write);
	proto_pack_request_begin(&pk, id, method, n);
	if (raw != NULL) {
		/* The header is proto's to write, the elements are as given. */
		if (msgpack_sbuffer_write(&c->out, (const char *)raw + hdr,
		    rawlen - hdr) != 0) {
			c->out.size = start;
			return (client_usage(c, "out of memory"));
		}
	}
	for (i = 0; raw == NULL && i < n; i++) {
		if (hc_json_pack(&pk, json_array_get(params, i), err,
		    sizeof err) == -1) {
			c->out.size = start;
			return (client_usage(c, "%s: params[%zu]%s", method, i,
			    err[0] == '$' ? err + 1 : err));
		}
	}

	rv = client_flush(c, start, deadline);
	if (rv == HC_OK || rv == HC_ECONN)
		*msgidp = id;
	return (rv);
}

int
hc_send(struct hc_client *c, const char *method, const json_t *params,
    uint32_t *msgid)
{
	uint32_t	id;
	int		rv;

	rv = client_send(c, method, params, NULL, 0,
	    client_deadline(HC_SEND_TIMEOUT_MS), &id);
	if (msgid != NULL)
		*msgid = id;
	return (rv);
}

int
hc_send_raw_params(struct hc_client *c, const char *method,
    const void *params, size_t len, uint32_t *msgid)
{
	uint32_t	id;
	int		rv;

	if (params == NULL)
		rv = client_usage(c, "no params");
	else
		rv = client_send(c, method, NULL, params, len,
		    client_deadline(HC_SEND_TIMEOUT_MS), &id);
	if (msgid != NULL)
		*msgid = rv == HC_EUSAGE ? 0 : id;
	return (rv);
}

int
hc_write_raw(struct hc_client *c, const void *buf, size_t len)
{
	size_t	start = c->out.size;

	if (c->fd == -1)
		return (HC_ECONN);
	if (len == 0)
		return (HC_OK);
	if (msgpack_sbuffer_write(&c->out, buf, len) != 0)
		return (client_usage(c, "out of memory"));
	return (client_flush(c, start, client_deadline(HC_SEND_TIMEOUT_MS)));
}

static int
client_wait(struct hc_client *c, uint32_t msgid, int64_t deadline,
    struct hc_result *r, const char *what, int timeout_ms)
{
	struct client_answer	*a;
	int			 rv;

	memset(r, 0, sizeof *r);
	HASH_FIND(hh, c->answers, &msgid, sizeof msgid, a);
	if (a != NULL && (a->flags & CLIENT_ANSWER_DISCARD))
		client_answer_free(c, a);	/* wanted after all */

	rv = client_run(c, deadline, CLIENT_DELIVER, client_done_answer,
	    &msgid);
	if (rv == HC_ETIMEDOUT)
		client_seterr(c, "no answer to %s within %d ms", what,
		    timeout_ms);
	if (rv != HC_OK) {
		snprintf(r->message, sizeof r->message, "%s", c->error);
		return (rv);
	}
	HASH_FIND(hh, c->answers, &msgid, sizeof msgid, a);
	r->is_error = a->is_error;
	r->value = a->value;
	a->value = NULL;
	memcpy(r->code, a->code, sizeof r->code);
	memcpy(r->message, a->message, sizeof r->message);
	client_answer_free(c, a);
	return (r->is_error ? HC_ERROR : HC_OK);
}

int
hc_wait(struct hc_client *c, uint32_t msgid, int timeout_ms,
    struct hc_result *r)
{
	struct hc_result	tmp;
	char			what[32];
	int			rv;

	snprintf(what, sizeof what, "request %u", msgid);
	rv = client_wait(c, msgid, client_deadline(timeout_ms),
	    r != NULL ? r : &tmp, what, timeout_ms);
	if (r == NULL)
		hc_result_clear(&tmp);
	return (rv);
}

void
hc_discard(struct hc_client *c, uint32_t msgid)
{
	struct client_answer	*a;

	HASH_FIND(hh, c->answers, &msgid, sizeof msgid, a);
	if (a != NULL) {
		if ((a->flags & CLIENT_ANSWER_DISCARD) == 0)
			client_answer_free(c, a);
		return;
	}
	/* Not here yet: leave a marker for client_dispatch_answer. */
	if ((a = calloc(1, sizeof *a)) == NULL)
		return;
	a->msgid = msgid;
	a->flags = CLIENT_ANSWER_DISCARD;
	HASH_ADD(hh, c->answers, msgid, sizeof a->msgid, a);
}

int
hc_call(struct hc_client *c, const char *method, const json_t *params,
    int timeout_ms, struct hc_result *r)
{
	struct hc_result	 tmp, *rr = r != NULL ? r : &tmp;
	int64_t			 deadline = client_deadline(timeout_ms);
	uint32_t		 id;
	int			 rv;

	memset(rr, 0, sizeof *rr);
	rv = client_send(c, method, params, NULL, 0, deadline, &id);
	/* A connection lost while sending may still have answered. */
	if (rv == HC_OK || (rv == HC_ECONN && id != 0)) {
		rv = client_wait(c, id, deadline, rr, method, timeout_ms);
		if (rv == HC_ETIMEDOUT)
			hc_discard(c, id);
	} else
		snprintf(rr->message, sizeof rr->message, "%s", c->error);
	if (r == NULL)
		hc_result_clear(&tmp);
	return (rv);
}

int
hc_call_text(struct hc_client *c, const char *method,
    const char *params_json, int timeout_ms, struct hc_result *r)
{
	json_t		*params;
	json_error_t	 jerr;
	int		 rv;

	if (r != NULL)
		memset(r, 0, sizeof *r);
	params = json_loads(params_json != NULL ? params_json : "[]", 0,
	    &jerr);
	if (params == NULL)
		rv = client_usage(c, "params: %s (line %d, column %d)",
		    jerr.text, jerr.line, jerr.column);
	else if (!json_is_array(params))
		rv = client_usage(c, "params: not a JSON array");
	else
		rv = hc_call(c, method, params, timeout_ms, r);
	if (rv == HC_EUSAGE && r != NULL)
		snprintf(r->message, sizeof r->message, "%s", c->error);
	json_decref(params);
	return (rv);
}

int
hc_next_notify(struct hc_client *c, int timeout_ms, char **method,
    json_t **params)
{
	struct client_notify	*n;
	int			 rv;

	if (method != NULL)
		*method = NULL;
	if (params != NULL)
		*params = NULL;
	rv = client_run(c, client_deadline(timeout_ms), 0, client_done_notify,
	    NULL);
	if (rv != HC_OK)
		return (rv);
	n = TAILQ_FIRST(&c->notifies);
	client_notify_unlink(c, n);
	if (method != NULL)
		*method = n->method;
	else
		free(n->method);
	if (params != NULL)
		*params = n->params;
	else
		json_decref(n->params);
	free(n);
	return (HC_OK);
}

int
hc_poll(struct hc_client *c, int timeout_ms)
{
	uint64_t	before = c->progress;
	int		rv;

	rv = client_run(c, client_deadline(timeout_ms), CLIENT_DELIVER,
	    client_done_dispatched, &before);
	if (rv != HC_OK)
		return (rv);
	/* Then whatever else is already here, without waiting. */
	(void)client_run(c, client_deadline(0), CLIENT_DELIVER,
	    client_done_never, NULL);
	return (HC_OK);
}
