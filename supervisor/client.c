/*
 * client.c: one buffered connection per client.  Bytes go through the
 * codec's reader (hostile sizes refused before anything is allocated);
 * whole messages go to rpc_dispatch.  Output is bounded: past
 * client_output_limit the master stops reading the connection, and a
 * connection that has not drained for slow_client_timeout is dropped.
 */
#include <sys/random.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "supervisor/helixd.h"

#define MSGS_PER_CALLBACK	256	/* bounded work per read callback */
#define CLOSING_GRACE_US	(5 * 1000000ULL)

static void	client_read_cb(struct bufferevent *, void *);
static void	client_write_cb(struct bufferevent *, void *);
static void	client_event_cb(struct bufferevent *, short, void *);
static int	client_process(struct client *);
static void	client_check_done(struct client *);

static void
anon_id(char *out, size_t len)
{
	static const char	 b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char		 rnd[16];
	size_t			 i, n;

	if (getrandom(rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd)) {
		uint64_t x = now_us() ^ ((uint64_t)getpid() << 32);

		for (i = 0; i < sizeof(rnd); i++, x = x * 6364136223846793005ULL + 1)
			rnd[i] = (unsigned char)(x >> 56);
	}
	n = snprintf(out, len, "anon:");
	for (i = 0; i < sizeof(rnd) && n + 1 < len; i++)
		out[n++] = b32[rnd[i] & 31];
	out[n] = '\0';
}

/* Move everything buffered in `in` into the codec's reader. */
int
reader_feed_evbuffer(struct proto_reader *rd, struct evbuffer *in)
{
	struct evbuffer_iovec	v[8];
	size_t			total;
	int			i, n;

	/* An empty buffer may still peek as one empty extent. */
	while (evbuffer_get_length(in) > 0 &&
	    (n = evbuffer_peek(in, -1, NULL, v, 8)) > 0) {
		if (n > 8)
			n = 8;
		for (i = 0, total = 0; i < n; i++) {
			if (proto_reader_feed(rd, v[i].iov_base,
			    v[i].iov_len) == -1)
				return -1;
			total += v[i].iov_len;
		}
		if (total == 0)
			break;
		evbuffer_drain(in, total);
	}
	return 0;
}

void
client_accept(int fd)
{
	struct client	*c;
	struct ucred	 cred;
	socklen_t	 len = sizeof(cred);

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		log_warn("calloc client");
		close(fd);
		return;
	}
	c->id = ++srv->next_client_id;
	c->fd = fd;
	c->uid = (uid_t)-1;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->uid = cred.uid;
		c->pid = cred.pid;
	}
	LIST_INIT(&c->members);
	LIST_INIT(&c->calls);
	anon_id(c->anon_id, sizeof(c->anon_id));
	c->rd = proto_reader_create(srv->cfg.max_message_bytes, PROTO_MAX_DEPTH);
	c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
	if (c->rd == NULL || c->bev == NULL) {
		log_warnx("cannot set up client %llu",
		    (unsigned long long)c->id);
		if (c->rd != NULL)
			proto_reader_destroy(c->rd);
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		else
			close(fd);
		free(c);
		return;
	}
	bufferevent_setcb(c->bev, client_read_cb, client_write_cb,
	    client_event_cb, c);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	TAILQ_INSERT_TAIL(&srv->clients, c, entry);
	srv->nclients++;
	srv->st.connections_total++;
	log_event(HLOG_DEBUG, NULL, "client.connect", " client=%llu uid=%d pid=%d",
	    (unsigned long long)c->id, (int)c->uid, (int)c->pid);
}

void
client_destroy(struct client *c, const char *why)
{
	struct member	*m;
	struct call	*k;
	size_t		 i;

	log_event(HLOG_DEBUG, NULL, "client.disconnect", " client=%llu reason=%s",
	    (unsigned long long)c->id, log_q(why));
	/* A closed connection leaves every flow it joined. */
	while ((m = LIST_FIRST(&c->members)) != NULL) {
		struct session *s = m->s;

		session_member_remove(m, true);
		registry_gc(s);
	}
	/* Calls still parked on sessions lose their reply address. */
	while ((k = LIST_FIRST(&c->calls)) != NULL) {
		LIST_REMOVE(k, by_client);
		k->c = NULL;
	}
	for (i = 0; i < c->nprefixes; i++)
		free(c->prefixes[i]);
	free(c->prefixes);
	TAILQ_REMOVE(&srv->clients, c, entry);
	srv->nclients--;
	bufferevent_free(c->bev);
	proto_reader_destroy(c->rd);
	free(c);
}

/*
 * Stop reading when the output is over its bound; resume when drained.
 * Replies already owed and fan-out still arrive while a connection is
 * paused, so past a hard cap (four bounds plus two whole documents) it is
 * dropped at once rather than let it grow the master's memory.
 */
static void
client_check_output(struct client *c)
{
	size_t len = evbuffer_get_length(bufferevent_get_output(c->bev));
	size_t hard = 4 * srv->cfg.client_output_limit +
	    2 * srv->cfg.max_flow_bytes;

	if (len > hard && !c->closing) {
		srv->st.slow_client_disconnects++;
		log_event(HLOG_WARN, NULL, "client.slow",
		    " client=%llu unsent=%zu action=disconnect reason=hard_cap",
		    (unsigned long long)c->id, len);
		/* Destroying here would pull c from under the caller: close soon. */
		c->closing = true;
		c->dropped = true;
		c->paused = true;
		c->paused_since_us = 0;
		bufferevent_disable(c->bev, EV_READ);
		return;
	}
	if (!c->paused && len > srv->cfg.client_output_limit) {
		c->paused = true;
		c->paused_since_us = now_us();
		bufferevent_disable(c->bev, EV_READ);
		bufferevent_setwatermark(c->bev, EV_WRITE,
		    srv->cfg.client_output_limit / 2, 0);
	}
}

void
client_send(struct client *c, struct evbuffer *buf)
{
	if (c == NULL || c->dropped)
		return;
	bufferevent_write_buffer(c->bev, buf);
	client_check_output(c);
}

void
client_send_buf(struct client *c, const void *data, size_t len)
{
	if (c == NULL || c->dropped)
		return;
	bufferevent_write(c->bev, data, len);
	client_check_output(c);
}

void
client_reply_packed(struct client *c, const msgpack_sbuffer *sb)
{
	client_send_buf(c, sb->data, sb->size);
}

void
client_reply_error(struct client *c, uint32_t msgid,
    const struct proto_error *e)
{
	msgpack_sbuffer	sb;
	msgpack_packer	pk;

	if (c == NULL)
		return;
	srv->st.errors_total++;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	proto_pack_error(&pk, msgid, e);
	client_reply_packed(c, &sb);
	msgpack_sbuffer_destroy(&sb);
}

/* The one exit for a peer that broke the protocol: tell it, then close. */
static void
client_bad(struct client *c, enum proto_code code, const char *what)
{
	struct proto_error	e;
	msgpack_sbuffer		sb;
	msgpack_packer		pk;

	srv->st.protocol_errors++;
	log_event(HLOG_INFO, NULL, "client.protocol_error", " client=%llu error=%s",
	    (unsigned long long)c->id, log_q(what));
	proto_error_set(&e, code, "%s", what);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	proto_pack_notify_begin(&pk, "sys.error", 1);
	proto_pack_error_map(&pk, &e);
	client_reply_packed(c, &sb);
	msgpack_sbuffer_destroy(&sb);
	c->closing = true;
}

static void
client_read_error(struct client *c, enum proto_read r)
{
	struct proto_error	e;
	uint32_t		msgid;

	if (r == PROTO_READ_TOO_LARGE &&
	    proto_reader_peek_msgid(c->rd, &msgid) == 0) {
		proto_error_set(&e, PC_MESSAGE_TOO_LARGE,
		    "message exceeds max_message_bytes (%zu)",
		    (size_t)srv->cfg.max_message_bytes);
		client_reply_error(c, msgid, &e);
		c->closing = true;
		srv->st.protocol_errors++;
		return;
	}
	if (r == PROTO_READ_TOO_LARGE)
		client_bad(c, PC_PROTOCOL_ERROR,
		    "message exceeds max_message_bytes");
	else if (r == PROTO_READ_TOO_DEEP)
		client_bad(c, PC_PROTOCOL_ERROR, "message nested too deeply");
	else
		client_bad(c, PC_PROTOCOL_ERROR, "not MessagePack");
}

static void
client_message(struct client *c, const msgpack_object *o)
{
	struct proto_msg	m;
	struct proto_error	e;
	bool			has_msgid;

	if (proto_msg_parse(o, &m, &e, &has_msgid) == -1) {
		/* A client's response, even a malformed one, is ignored. */
		if (o->type == MSGPACK_OBJECT_ARRAY && o->via.array.size > 0 &&
		    o->via.array.ptr[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
		    o->via.array.ptr[0].via.u64 == PROTO_RESPONSE)
			return;
		if (has_msgid) {
			client_reply_error(c, m.msgid, &e);
			return;
		}
		client_bad(c, PC_PROTOCOL_ERROR, e.message);
		return;
	}
	switch (m.type) {
	case PROTO_REQUEST:
	case PROTO_NOTIFY:
		rpc_dispatch(c, &m);
		break;
	case PROTO_RESPONSE:
		/* Clients' responses are ignored, as the contract says. */
		break;
	}
}

/* Handle buffered messages, a bounded number per call; -1: c is gone. */
static int
client_process(struct client *c)
{
	struct evbuffer		*in = bufferevent_get_input(c->bev);
	msgpack_object		 o;
	enum proto_read		 r;
	int			 i;

	if (reader_feed_evbuffer(c->rd, in) == -1) {
		client_destroy(c, "out of memory");
		return -1;
	}
	c->drained = false;
	for (i = 0; i < MSGS_PER_CALLBACK; i++) {
		if (c->closing || c->paused)
			break;
		r = proto_reader_next(c->rd, &o, NULL, NULL);
		if (r == PROTO_READ_MORE) {
			c->drained = true;	/* no whole message left */
			break;
		}
		if (r != PROTO_READ_OBJECT) {
			client_read_error(c, r);
			break;
		}
		client_message(c, &o);
	}
	if (c->closing) {
		bufferevent_disable(c->bev, EV_READ);
		if (c->paused_since_us != 0 || !c->dropped)
			c->paused_since_us = now_us();
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
			client_destroy(c, "closed by server");
			return -1;
		}
		return 0;
	}
	/* More whole messages may be buffered: come back on the next turn. */
	if (i == MSGS_PER_CALLBACK && !c->paused)
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_IGNORE_WATERMARKS |
		    BEV_TRIG_DEFER_CALLBACKS);
	return 0;
}

static void
client_read_cb(struct bufferevent *bev, void *arg)
{
	struct client *c = arg;

	if (client_process(c) == 0 && c->eof)
		client_check_done(c);
}

/* A half-closed client goes once it has been answered and has read it. */
static void
client_check_done(struct client *c)
{
	struct member *m;

	if (!c->eof || c->closing)
		return;
	while ((m = LIST_FIRST(&c->members)) != NULL) {
		struct session *s = m->s;

		session_member_remove(m, true);
		registry_gc(s);
	}
	/* A partial message left at EOF can never complete: ignore it. */
	if (LIST_EMPTY(&c->calls) && c->drained) {
		c->closing = true;
		c->paused_since_us = now_us();
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			client_destroy(c, "eof");
	}
}

static void
client_write_cb(struct bufferevent *bev, void *arg)
{
	struct client	*c = arg;
	size_t		 len = evbuffer_get_length(bufferevent_get_output(bev));

	if (c->closing) {
		if (len == 0)
			client_destroy(c, "closed by server");
		return;
	}
	if (c->paused && len <= srv->cfg.client_output_limit / 2) {
		c->paused = false;
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		if (!c->eof)
			bufferevent_enable(c->bev, EV_READ);
		if (client_process(c) == -1)
			return;
	}
	if (c->eof)
		client_check_done(c);
}

static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct client *c = arg;

	if (what & BEV_EVENT_EOF) {
		/*
		 * The client shut down its writing side (printf ... | nc -U):
		 * answer what it asked, then close.  It leaves its flows now.
		 */
		c->eof = true;
		bufferevent_disable(c->bev, EV_READ);
		if (client_process(c) == 0)
			client_check_done(c);
		return;
	}
	if (what & (BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		client_destroy(c, what & BEV_EVENT_ERROR ?
		    strerror(EVUTIL_SOCKET_ERROR()) : "timeout");
}

/* Once a second: drop connections that have not drained in time. */
void
client_tick(void)
{
	struct client	*c, *tc;
	uint64_t	 now = now_us();
	uint64_t	 limit = (uint64_t)srv->cfg.slow_client_timeout * 1000000;

	TAILQ_FOREACH_SAFE(c, &srv->clients, entry, tc) {
		client_check_done(c);
	}
	TAILQ_FOREACH_SAFE(c, &srv->clients, entry, tc) {
		if (c->closing && (c->paused_since_us == 0 ||
		    now - c->paused_since_us > CLOSING_GRACE_US)) {
			client_destroy(c, "close timed out");
			continue;
		}
		if (c->paused && now - c->paused_since_us > limit) {
			srv->st.slow_client_disconnects++;
			log_event(HLOG_WARN, NULL, "client.slow",
			    " client=%llu unsent=%zu action=disconnect",
			    (unsigned long long)c->id, evbuffer_get_length(
			    bufferevent_get_output(c->bev)));
			client_destroy(c, "slow client");
		}
	}
}
