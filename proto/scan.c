/*
 * scan.c: find the end of the first msgpack object without decoding it.
 *
 * msgpack-c 4.0 allocates for a container's declared count as soon as it
 * reads the header, and has no size limit of its own.  This scanner walks
 * the headers first and refuses every count or length that the bytes still
 * allowed by max_message could not hold, so msgpack-c only ever sees an
 * object that is complete and whose counts are paid for by real bytes.
 */
#include <limits.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/scan.h"

enum scan_kind {
	SCAN_SCALAR,		/* hdr is the whole element */
	SCAN_BLOB,		/* str, bin, ext: hdr then len bytes */
	SCAN_ARRAY,
	SCAN_MAP,
	SCAN_BAD,
};

/* What the first byte of an element says about it. */
struct scan_head {
	enum scan_kind	 kind;
	size_t		 hdr;	/* header bytes, length field included */
	unsigned	 width;	/* bytes of the length field, 0 if none */
	uint64_t	 n;	/* length or count when width is 0 */
};

static void
scan_head(unsigned char b, struct scan_head *h)
{
	h->width = 0;
	h->n = 0;
	h->hdr = 1;
	if (b <= 0x7f || b >= 0xe0) {
		h->kind = SCAN_SCALAR;
		return;
	}
	if (b <= 0x8f) {
		h->kind = SCAN_MAP;
		h->n = b & 0x0f;
		return;
	}
	if (b <= 0x9f) {
		h->kind = SCAN_ARRAY;
		h->n = b & 0x0f;
		return;
	}
	if (b <= 0xbf) {
		h->kind = SCAN_BLOB;
		h->n = b & 0x1f;
		return;
	}
	h->kind = SCAN_SCALAR;
	switch (b) {
	case 0xc0:		/* nil, false, true */
	case 0xc2:
	case 0xc3:
		break;
	case 0xc4:		/* bin 8, 16, 32 */
	case 0xc5:
	case 0xc6:
		h->kind = SCAN_BLOB;
		h->width = 1U << (b - 0xc4);
		break;
	case 0xc7:		/* ext 8, 16, 32: the type byte is header */
	case 0xc8:
	case 0xc9:
		h->kind = SCAN_BLOB;
		h->width = 1U << (b - 0xc7);
		h->hdr = 1 + 1;
		break;
	case 0xca:		/* float 32, 64 */
		h->hdr = 5;
		break;
	case 0xcb:
		h->hdr = 9;
		break;
	case 0xcc:		/* uint 8..64 */
	case 0xcd:
	case 0xce:
	case 0xcf:
		h->hdr = 1 + (1U << (b - 0xcc));
		break;
	case 0xd0:		/* int 8..64 */
	case 0xd1:
	case 0xd2:
	case 0xd3:
		h->hdr = 1 + (1U << (b - 0xd0));
		break;
	case 0xd4:		/* fixext 1..16: type byte and data */
	case 0xd5:
	case 0xd6:
	case 0xd7:
	case 0xd8:
		h->hdr = 2 + (1U << (b - 0xd4));
		break;
	case 0xd9:		/* str 8, 16, 32 */
	case 0xda:
	case 0xdb:
		h->kind = SCAN_BLOB;
		h->width = 1U << (b - 0xd9);
		break;
	case 0xdc:		/* array 16, 32 */
	case 0xdd:
		h->kind = SCAN_ARRAY;
		h->width = 2U << (b - 0xdc);
		break;
	case 0xde:		/* map 16, 32 */
	case 0xdf:
		h->kind = SCAN_MAP;
		h->width = 2U << (b - 0xde);
		break;
	default:		/* 0xc1, never used */
		h->kind = SCAN_BAD;
		break;
	}
	h->hdr += h->width;
}

void
proto_scan_init(struct proto_scanner *s, size_t max_message,
    unsigned max_depth)
{
	/* Lengths are returned as long; msgpack-c nests at most 32 deep. */
	if (max_message > LONG_MAX)
		max_message = LONG_MAX;
	if (max_depth < 1)
		max_depth = 1;
	if (max_depth > PROTO_MAX_DEPTH)
		max_depth = PROTO_MAX_DEPTH;
	s->max_message = max_message;
	s->max_depth = max_depth;
	proto_scan_reset(s);
}

void
proto_scan_reset(struct proto_scanner *s)
{
	s->pos = 0;
	s->need = 1;		/* the object itself */
	s->depth = 0;
}

/*
 * Account for one element; the invariant pos + need <= max_message holds
 * before and after, so nothing below can overflow.
 */
static long
scan_element(struct proto_scanner *s, const unsigned char *p, size_t avail)
{
	struct scan_head	 h;
	uint64_t		 room, n, elems = 0, body = 0;
	unsigned		 i;

	scan_head(p[0], &h);
	if (h.kind == SCAN_BAD)
		return PROTO_READ_SYNTAX;
	if ((h.kind == SCAN_ARRAY || h.kind == SCAN_MAP) &&
	    s->depth + 1 > s->max_depth)
		return PROTO_READ_TOO_DEEP;

	/* What is left once every other element due gets its one byte. */
	room = (uint64_t)(s->max_message - s->pos) - (s->need - 1);
	if (h.hdr > room)
		return PROTO_READ_TOO_LARGE;
	if (1 + h.width > avail)
		return PROTO_READ_MORE;

	n = h.n;
	if (h.width != 0) {
		n = 0;
		for (i = 0; i < h.width; i++)
			n = (n << 8) | p[1 + i];
	}
	switch (h.kind) {
	case SCAN_BLOB:
		body = n;
		break;
	case SCAN_ARRAY:
		elems = n;
		break;
	case SCAN_MAP:
		elems = 2 * n;	/* n <= UINT32_MAX: no overflow */
		break;
	default:
		break;
	}
	if (body > room - h.hdr || elems > room - h.hdr - body)
		return PROTO_READ_TOO_LARGE;
	/* Checked before the ext type byte or a scalar's value arrives. */
	if (h.hdr > avail)
		return PROTO_READ_MORE;

	s->need--;
	if (s->depth > 0)
		s->left[s->depth - 1]--;
	s->pos += h.hdr + body;
	if (elems > 0) {
		s->left[s->depth++] = elems;
		s->need += elems;
	}
	while (s->depth > 0 && s->left[s->depth - 1] == 0)
		s->depth--;
	return 1;
}

long
proto_scan_resume(struct proto_scanner *s, const unsigned char *buf,
    size_t len)
{
	long	r;

	while (s->need > 0) {
		if (s->pos >= len)
			return 0;
		r = scan_element(s, buf + s->pos, len - s->pos);
		if (r != 1)
			return r;
	}
	/* The last body may still be on its way. */
	if (s->pos > len)
		return 0;
	return (long)s->pos;
}

long
proto_scan(const void *buf, size_t len, size_t max_message,
    unsigned max_depth)
{
	struct proto_scanner	 s;

	proto_scan_init(&s, max_message, max_depth);
	return proto_scan_resume(&s, buf, len);
}
