/*
 * fuzz_reader.c: libFuzzer target for the codec's reader, scanner, message
 * parser and accessors.  The input is the byte stream; it is fed in pieces
 * whose sizes come from its own bytes, and every answer is checked against
 * proto_scan, against msgpack-c, and against the same stream fed whole.
 * Any disagreement aborts.
 */
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#define FUZZ_MAX	65536
#define FUZZ_DEPTH	32
#define FUZZ_OBJECTS	4096	/* at most one per input byte */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define fuzz_assert(x) do {						\
	if (!(x)) {							\
		fprintf(stderr, "fuzz_reader: %s:%d: %s\n", __FILE__,	\
		    __LINE__, #x);					\
		abort();						\
	}								\
} while (0)

/* What one pass of the reader over the input gave. */
struct fuzz_run {
	size_t		 nobj;
	size_t		 consumed;
	long		 status;	/* the last result of proto_reader_next */
	size_t		 ends[FUZZ_OBJECTS];
};

/* Nesting as the reader counts it: a scalar or a flat container is 1. */
static unsigned
fuzz_depth(const msgpack_object *o)
{
	unsigned	 d, max = 0;
	uint32_t	 i;

	switch (o->type) {
	case MSGPACK_OBJECT_ARRAY:
		for (i = 0; i < o->via.array.size; i++)
			if ((d = fuzz_depth(&o->via.array.ptr[i])) > max)
				max = d;
		break;
	case MSGPACK_OBJECT_MAP:
		for (i = 0; i < o->via.map.size; i++) {
			if ((d = fuzz_depth(&o->via.map.ptr[i].key)) > max)
				max = d;
			if ((d = fuzz_depth(&o->via.map.ptr[i].val)) > max)
				max = d;
		}
		break;
	default:
		return 0;
	}
	return max + 1;
}

static unsigned
fuzz_object_depth(const msgpack_object *o)
{
	unsigned	 d = fuzz_depth(o);

	return d == 0 ? 1 : d;
}

/* Every accessor on every node; the answers must agree with the type. */
static void
fuzz_access(const msgpack_object *o)
{
	struct proto_error	 e;
	const msgpack_object	*v;
	const char		*s;
	char			 buf[16];
	size_t			 len;
	uint64_t		 u;
	int64_t			 i;
	double			 d;
	bool			 b;
	uint32_t		 k, n;

	fuzz_assert((proto_get_str(o, &s, &len) == 0) ==
	    (o->type == MSGPACK_OBJECT_STR));
	fuzz_assert((proto_get_uint(o, &u) == 0) ==
	    (o->type == MSGPACK_OBJECT_POSITIVE_INTEGER));
	if (proto_get_int(o, &i) == 0)
		fuzz_assert(o->type == MSGPACK_OBJECT_NEGATIVE_INTEGER ?
		    i < 0 : (uint64_t)i == o->via.u64);
	else
		fuzz_assert(o->type != MSGPACK_OBJECT_NEGATIVE_INTEGER &&
		    (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
		    o->via.u64 > INT64_MAX));
	if (proto_get_double(o, &d) == 0)
		fuzz_assert(isfinite(d));
	fuzz_assert((proto_get_bool(o, &b) == 0) ==
	    (o->type == MSGPACK_OBJECT_BOOLEAN));
	fuzz_assert(proto_is_nil(o) == (o->type == MSGPACK_OBJECT_NIL));

	if (proto_get_str(o, &s, &len) == 0) {
		fuzz_assert(s != NULL && len == o->via.str.size);
		if (proto_get_strbuf(o, buf, sizeof buf) == 0)
			fuzz_assert(strlen(buf) == len && memcmp(buf, s, len) == 0);
		else
			fuzz_assert(len >= sizeof buf ||
			    memchr(s, '\0', len) != NULL);
		if (proto_valid_flow_id(s, len))
			fuzz_assert(len >= 1 && len <= PROTO_FLOW_ID_MAX &&
			    s[0] != '.');
		if (proto_valid_client_id(s, len))
			fuzz_assert(len >= 1 && memchr(s, ' ', len) == NULL);
		if (proto_code_from_name(s, len) != PC__COUNT)
			fuzz_assert(proto_str_is(o, proto_code_name(
			    proto_code_from_name(s, len))));
	}

	n = o->type == MSGPACK_OBJECT_ARRAY ? o->via.array.size : 0;
	fuzz_assert((proto_params_arity(o, 1, 3, &e) == 0) ==
	    (o->type == MSGPACK_OBJECT_ARRAY && n >= 1 && n <= 3));
	fuzz_assert(proto_param(o, n) == NULL);
	for (k = 0; k < n; k++) {
		fuzz_assert(proto_param(o, k) == &o->via.array.ptr[k]);
		fuzz_access(&o->via.array.ptr[k]);
	}
	if (o->type != MSGPACK_OBJECT_MAP) {
		fuzz_assert(proto_map_get(o, "code") == NULL);
		return;
	}
	/* The first "code" key wins. */
	v = NULL;
	for (k = 0; k < o->via.map.size && v == NULL; k++) {
		if (proto_str_is(&o->via.map.ptr[k].key, "code"))
			v = &o->via.map.ptr[k].val;
	}
	fuzz_assert(proto_map_get(o, "code") == v);
	for (k = 0; k < o->via.map.size; k++) {
		fuzz_access(&o->via.map.ptr[k].key);
		fuzz_access(&o->via.map.ptr[k].val);
	}
}

/* An error answer for msgid must read back as that response. */
static void
fuzz_answer(uint32_t msgid, const struct proto_error *e)
{
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	struct proto_reader	*r;
	struct proto_msg	 m;
	struct proto_error	 e2;
	msgpack_object		 o;
	bool			 has;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	proto_pack_error(&pk, msgid, e);
	fuzz_assert((r = proto_reader_create(FUZZ_MAX, FUZZ_DEPTH)) != NULL);
	fuzz_assert(proto_reader_feed(r, sb.data, sb.size) == 0);
	fuzz_assert(proto_reader_next(r, &o, NULL, NULL) == PROTO_READ_OBJECT);
	fuzz_assert(proto_msg_parse(&o, &m, &e2, &has) == 0 && has);
	fuzz_assert(m.type == PROTO_RESPONSE && m.msgid == msgid);
	fuzz_assert(proto_str_is(proto_map_get(m.error, "code"),
	    proto_code_name(e->code)));
	fuzz_assert(proto_reader_pending(r) == 0);
	proto_reader_destroy(r);
	msgpack_sbuffer_destroy(&sb);
}

/* proto_msg_parse, has_msgid and peek_msgid must tell the same story. */
static void
fuzz_message(const msgpack_object *o, const char *raw, size_t rawlen)
{
	struct proto_reader	*peek;
	struct proto_error	 e;
	struct proto_msg	 m;
	const msgpack_object	*a = NULL;
	uint32_t		 n = 0, msgid;
	bool			 has, want_has, want_peek;
	int			 rc;

	if (o->type == MSGPACK_OBJECT_ARRAY) {
		a = o->via.array.ptr;
		n = o->via.array.size;
	}
	/* Every array but a notification [2, ...] may carry a msgid. */
	want_has = n >= 2 && a[1].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    a[1].via.u64 <= UINT32_MAX &&
	    !(a[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER && a[0].via.u64 == 2);
	want_peek = want_has && a[0].type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
	    a[0].via.u64 == 0;

	rc = proto_msg_parse(o, &m, &e, &has);
	fuzz_assert(has == want_has);
	if (has)
		fuzz_assert(m.msgid == a[1].via.u64);
	if (rc == 0) {
		fuzz_assert(n >= 3 && a[0].via.u64 == m.type);
		if (m.type == PROTO_RESPONSE)
			fuzz_assert(m.error == &a[2] && m.result == &a[3] &&
			    (proto_is_nil(m.error) || proto_is_nil(m.result)));
		else {
			fuzz_assert(m.params->type == MSGPACK_OBJECT_ARRAY);
			fuzz_assert(m.method != NULL);
			fuzz_assert(proto_method_is(&m, "flow.apply") ==
			    (m.method_len == 10 &&
			    memcmp(m.method, "flow.apply", 10) == 0));
		}
	} else {
		fuzz_assert(rc == -1 && e.code == PC_INVALID_REQUEST);
		if (has)
			fuzz_answer(m.msgid, &e);
	}

	fuzz_assert((peek = proto_reader_create(FUZZ_MAX, FUZZ_DEPTH)) != NULL);
	fuzz_assert(proto_reader_feed(peek, raw, rawlen) == 0);
	rc = proto_reader_peek_msgid(peek, &msgid);
	fuzz_assert((rc == 0) == want_peek);
	if (rc == 0)
		fuzz_assert(msgid == a[1].via.u64);
	proto_reader_destroy(peek);
}

/*
 * proto_scan against msgpack-c and against itself with other limits.
 * msgpack-c only sees input the scanner did not call too large: it would
 * allocate for hostile counts.
 */
static void
fuzz_scan(const uint8_t *data, size_t size)
{
	msgpack_unpacked	 u;
	msgpack_unpack_return	 ret;
	size_t			 off = 0;
	unsigned		 depth;
	long			 n, big;

	n = proto_scan(data, size, FUZZ_MAX, FUZZ_DEPTH);
	big = proto_scan(data, size, LONG_MAX, FUZZ_DEPTH);
	if (n == PROTO_READ_TOO_LARGE)
		fuzz_assert(big <= 0 || big > FUZZ_MAX);
	else
		fuzz_assert(big == n);
	if (n > 0)
		fuzz_assert((size_t)n <= size && n <= FUZZ_MAX);
	if (n == PROTO_READ_TOO_LARGE || n == PROTO_READ_TOO_DEEP)
		return;

	msgpack_unpacked_init(&u);
	ret = msgpack_unpack_next(&u, (const char *)data, size, &off);
	if (n > 0) {
		fuzz_assert(ret == MSGPACK_UNPACK_SUCCESS && off == (size_t)n);
		depth = fuzz_object_depth(&u.data);
		fuzz_assert(depth <= FUZZ_DEPTH);
		fuzz_assert(proto_scan(data, size, FUZZ_MAX, depth) == n);
		if (depth > 1)
			fuzz_assert(proto_scan(data, size, FUZZ_MAX, depth - 1) ==
			    PROTO_READ_TOO_DEEP);
		fuzz_assert(proto_scan(data, size, (size_t)n, depth) == n);
		fuzz_assert(proto_scan(data, size, (size_t)n - 1, depth) ==
		    PROTO_READ_TOO_LARGE);
	} else if (n == 0)
		fuzz_assert(ret == MSGPACK_UNPACK_CONTINUE);
	else
		fuzz_assert(n == PROTO_READ_SYNTAX &&
		    ret == MSGPACK_UNPACK_PARSE_ERROR);
	msgpack_unpacked_destroy(&u);
}

/* Feed the input in pieces of 1 + data[pos] % 61 bytes, or whole. */
static void
fuzz_read(const uint8_t *data, size_t size, bool whole, struct fuzz_run *run)
{
	struct proto_reader	*r;
	msgpack_object		 o;
	const char		*raw;
	size_t			 fed = 0, rawlen, step;
	uint32_t		 msgid;
	long			 st, rest;

	memset(run, 0, sizeof *run);
	fuzz_assert((r = proto_reader_create(FUZZ_MAX, FUZZ_DEPTH)) != NULL);
	st = PROTO_READ_MORE;
	while (fed < size && st >= 0) {
		step = whole ? size : 1 + data[fed] % 61;
		if (step > size - fed)
			step = size - fed;
		fuzz_assert(proto_reader_feed(r, data + fed, step) == 0);
		fed += step;
		while ((st = proto_reader_next(r, &o, &raw, &rawlen)) ==
		    PROTO_READ_OBJECT) {
			fuzz_assert(run->nobj < FUZZ_OBJECTS);
			fuzz_assert(rawlen > 0 && rawlen <= FUZZ_MAX);
			fuzz_assert(run->consumed + rawlen <= fed);
			fuzz_assert(memcmp(raw, data + run->consumed,
			    rawlen) == 0);
			fuzz_assert(proto_scan(data + run->consumed,
			    size - run->consumed, FUZZ_MAX, FUZZ_DEPTH) ==
			    (long)rawlen);
			run->consumed += rawlen;
			run->ends[run->nobj++] = run->consumed;
			/* The object must survive more bytes arriving. */
			if (fed < size && !whole) {
				step = 1 + data[fed] % 61;
				if (step > size - fed)
					step = size - fed;
				fuzz_assert(proto_reader_feed(r, data + fed,
				    step) == 0);
				fed += step;
			}
			fuzz_assert(fuzz_object_depth(&o) <= FUZZ_DEPTH);
			fuzz_access(&o);
			fuzz_message(&o, raw, rawlen);
		}
		fuzz_assert(proto_reader_pending(r) == fed - run->consumed);
	}

	/* What is left starts with an object that errs or is cut short. */
	rest = proto_scan(data + run->consumed, size - run->consumed, FUZZ_MAX,
	    FUZZ_DEPTH);
	fuzz_assert(rest == st);
	if (st < 0) {
		fuzz_assert(proto_reader_next(r, &o, NULL, NULL) == st);
		if (proto_reader_peek_msgid(r, &msgid) == 0)
			fuzz_assert(data[run->consumed] == 0xdc ||
			    data[run->consumed] == 0xdd ||
			    (data[run->consumed] & 0xf0) == 0x90);
	}
	run->status = st;
	proto_reader_destroy(r);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fuzz_run	 pieces, whole;

	if (size > FUZZ_OBJECTS)
		return 0;
	fuzz_scan(data, size);
	fuzz_read(data, size, false, &pieces);
	fuzz_read(data, size, true, &whole);
	fuzz_assert(pieces.status == whole.status);
	fuzz_assert(pieces.nobj == whole.nobj);
	fuzz_assert(memcmp(pieces.ends, whole.ends,
	    pieces.nobj * sizeof pieces.ends[0]) == 0);
	return 0;
}
