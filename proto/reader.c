/*
 * reader.c: turn a byte stream arriving in any pieces into whole objects.
 *
 * Bytes are buffered; the resumable scanner (scan.c) finds where the first
 * object ends, so each byte is scanned once however the stream is cut.
 * Only a complete object that passed the scanner is handed to msgpack-c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/scan.h"

/* Buffers larger than this are freed when idle, not kept per connection. */
#define READER_KEEP	65536
#define READER_MIN	4096

struct proto_reader {
	struct proto_scanner	 scan;
	unsigned char		*buf;
	size_t			 size;	/* allocated */
	size_t			 off;	/* first pending byte */
	size_t			 len;	/* end of the buffered bytes */

	/*
	 * The object last returned, copied out of buf: msgpack-c's strings
	 * point into it, and feeding may move buf while it is in use.
	 */
	char			*obj;
	size_t			 objsize;
	msgpack_unpacked	 result;

	enum proto_read		 error;	/* sticky; PROTO_READ_MORE if none */
};

struct proto_reader *
proto_reader_create(size_t max_message, unsigned max_depth)
{
	struct proto_reader	*r;

	if ((r = calloc(1, sizeof *r)) == NULL)
		return NULL;
	proto_scan_init(&r->scan, max_message, max_depth);
	msgpack_unpacked_init(&r->result);
	r->error = PROTO_READ_MORE;
	return r;
}

void
proto_reader_destroy(struct proto_reader *r)
{
	if (r == NULL)
		return;
	msgpack_unpacked_destroy(&r->result);
	free(r->obj);
	free(r->buf);
	free(r);
}

/* Make room for n more bytes: slide down when cheap, else grow. */
static int
reader_reserve(struct proto_reader *r, size_t n)
{
	unsigned char	*nbuf;
	size_t		 pending = r->len - r->off, nsize;

	if (r->size - r->len >= n)
		return 0;
	/* Moving costs no more than the bytes consumed since the last move. */
	if (r->off >= pending && r->size - pending >= n) {
		memmove(r->buf, r->buf + r->off, pending);
		r->off = 0;
		r->len = pending;
		return 0;
	}
	if (n > SIZE_MAX - pending) {
		errno = ENOMEM;
		return -1;
	}
	nsize = r->size < READER_MIN ? READER_MIN : r->size;
	while (nsize < pending + n) {
		if (nsize > SIZE_MAX / 2) {
			nsize = pending + n;
			break;
		}
		nsize *= 2;
	}
	if ((nbuf = malloc(nsize)) == NULL)
		return -1;
	if (pending > 0)
		memcpy(nbuf, r->buf + r->off, pending);
	free(r->buf);
	r->buf = nbuf;
	r->size = nsize;
	r->off = 0;
	r->len = pending;
	return 0;
}

int
proto_reader_feed(struct proto_reader *r, const void *data, size_t n)
{
	/* After an error the stream is dead: nothing more is kept. */
	if (r->error != PROTO_READ_MORE || n == 0)
		return 0;
	if (reader_reserve(r, n) == -1)
		return -1;
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	return 0;
}

/* Copy the object's bytes to where they stay put until the next call. */
static int
reader_keep(struct proto_reader *r, size_t n)
{
	char	*nobj;

	if (r->objsize < n) {
		if ((nobj = malloc(n)) == NULL)
			return -1;
		free(r->obj);
		r->obj = nobj;
		r->objsize = n;
	}
	memcpy(r->obj, r->buf + r->off, n);
	return 0;
}

/* Let go of what the previous object held. */
static void
reader_release(struct proto_reader *r)
{
	msgpack_unpacked_destroy(&r->result);
	if (r->objsize > READER_KEEP) {
		free(r->obj);
		r->obj = NULL;
		r->objsize = 0;
	}
	if (r->off == r->len) {
		r->off = r->len = 0;
		if (r->size > READER_KEEP) {
			free(r->buf);
			r->buf = NULL;
			r->size = 0;
		}
	}
}

enum proto_read
proto_reader_next(struct proto_reader *r, msgpack_object *out,
    const char **raw, size_t *rawlen)
{
	msgpack_unpack_return	 ret;
	size_t			 used = 0;
	long			 n;

	reader_release(r);
	if (r->error != PROTO_READ_MORE)
		return r->error;
	if (r->len == r->off)
		return PROTO_READ_MORE;

	n = proto_scan_resume(&r->scan, r->buf + r->off, r->len - r->off);
	if (n < 0)
		return r->error = (enum proto_read)n;
	if (n == 0)
		return PROTO_READ_MORE;

	/*
	 * Out of memory for a size the scanner allowed is reported as too
	 * large: the caller answers, then closes, as for an oversized one.
	 */
	if (reader_keep(r, (size_t)n) == -1)
		return r->error = PROTO_READ_TOO_LARGE;
	ret = msgpack_unpack_next(&r->result, r->obj, (size_t)n, &used);
	if (ret != MSGPACK_UNPACK_SUCCESS || used != (size_t)n) {
		msgpack_unpacked_destroy(&r->result);
		if (ret == MSGPACK_UNPACK_NOMEM_ERROR)
			return r->error = PROTO_READ_TOO_LARGE;
		return r->error = PROTO_READ_SYNTAX;
	}

	r->off += (size_t)n;
	proto_scan_reset(&r->scan);
	*out = r->result.data;
	if (raw != NULL)
		*raw = r->obj;
	if (rawlen != NULL)
		*rawlen = (size_t)n;
	return PROTO_READ_OBJECT;
}

size_t
proto_reader_pending(const struct proto_reader *r)
{
	return r->len - r->off;
}

/*
 * An integer of any width at p: its value as a magnitude and a sign.
 * msgpack-c turns a non-negative intN into a positive integer, so this
 * accepts what proto_msg_parse would.
 */
static int
reader_peek_int(const unsigned char *p, size_t avail, size_t *used,
    uint64_t *v, int *neg)
{
	size_t		 w, i;
	uint64_t	 u = 0;

	if (avail < 1)
		return -1;
	*neg = 0;
	if (p[0] <= 0x7f || p[0] >= 0xe0) {
		*used = 1;
		if (p[0] >= 0xe0) {
			*neg = 1;
			*v = 0x100 - p[0];
		} else
			*v = p[0];
		return 0;
	}
	if (p[0] >= 0xcc && p[0] <= 0xcf)
		w = (size_t)1 << (p[0] - 0xcc);
	else if (p[0] >= 0xd0 && p[0] <= 0xd3)
		w = (size_t)1 << (p[0] - 0xd0);
	else
		return -1;
	if (avail < 1 + w)
		return -1;
	for (i = 0; i < w; i++)
		u = (u << 8) | p[1 + i];
	*used = 1 + w;
	/* intN: sign-extend and keep the magnitude. */
	if (p[0] >= 0xd0 && (p[1] & 0x80)) {
		*neg = 1;
		if (w < 8)
			u |= ~(uint64_t)0 << (8 * w);
		u = ~u + 1;
	}
	*v = u;
	return 0;
}

int
proto_reader_peek_msgid(const struct proto_reader *r, uint32_t *msgid)
{
	const unsigned char	*p;
	size_t			 avail = r->len - r->off, used;
	uint64_t		 count, v;
	int			 neg;

	if (avail < 1)
		return -1;
	p = r->buf + r->off;
	if (p[0] >= 0x90 && p[0] <= 0x9f) {
		count = p[0] & 0x0f;
		used = 1;
	} else if (p[0] == 0xdc && avail >= 3) {
		count = (uint64_t)p[1] << 8 | p[2];
		used = 3;
	} else if (p[0] == 0xdd && avail >= 5) {
		count = (uint64_t)p[1] << 24 | (uint64_t)p[2] << 16 |
		    (uint64_t)p[3] << 8 | p[4];
		used = 5;
	} else
		return -1;
	if (count < 2)
		return -1;
	p += used;
	avail -= used;

	if (reader_peek_int(p, avail, &used, &v, &neg) == -1 || v != 0)
		return -1;
	p += used;
	avail -= used;

	if (reader_peek_int(p, avail, &used, &v, &neg) == -1 || neg ||
	    v > UINT32_MAX)
		return -1;
	*msgid = (uint32_t)v;
	return 0;
}
