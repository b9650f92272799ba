/*
 * op.c: decode one flow op into an owned struct flow_op, checking all that
 * can be checked without the document (see op.h for the rules).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "worker/flow.h"
#include "worker/op.h"

enum op_kind {
	K_STR,		/* str of min..max bytes, valid UTF-8 */
	K_NUM,		/* finite number */
	K_POS,		/* finite number > 0 */
	K_DATA,		/* JSON-like map, stored encoded */
	K_SKIP,		/* the caller's: "op", "node", "edge" */
};

struct op_field {
	const char	*name;
	unsigned	 flag;
	enum op_kind	 kind;
	size_t		 min, max;
	size_t		 off;	/* of the struct op_str or double */
};

#define F(name, flag, kind, min, max, member) \
	{ name, flag, kind, min, max, offsetof(struct flow_op, member) }
static const struct op_field op_fields[] = {
	F("op", OPF_OP, K_SKIP, 0, 0, type),
	F("node", OPF_NODE, K_SKIP, 0, 0, type),
	F("edge", OPF_EDGE, K_SKIP, 0, 0, type),
	F("id", OPF_ID, K_STR, 1, OP_ID_MAX, id),
	F("type", OPF_TYPE, K_STR, 1, OP_TYPE_MAX, node_type),
	F("x", OPF_X, K_NUM, 0, 0, x),
	F("y", OPF_Y, K_NUM, 0, 0, y),
	F("width", OPF_WIDTH, K_POS, 0, 0, width),
	F("height", OPF_HEIGHT, K_POS, 0, 0, height),
	F("data", OPF_DATA, K_DATA, 0, 0, data),
	F("source", OPF_SOURCE, K_STR, 1, OP_ID_MAX, source),
	F("target", OPF_TARGET, K_STR, 1, OP_ID_MAX, target),
	F("source_handle", OPF_SOURCE_HANDLE, K_STR, 0, OP_HANDLE_MAX,
	    source_handle),
	F("target_handle", OPF_TARGET_HANDLE, K_STR, 0, OP_HANDLE_MAX,
	    target_handle),
	F("zoom", OPF_ZOOM, K_POS, 0, 0, zoom),
	F("title", OPF_TITLE, K_STR, 0, OP_TITLE_MAX, title),
	F("description", OPF_DESCRIPTION, K_STR, 0, OP_DESCRIPTION_MAX,
	    description),
};
#undef F
#define OP_NFIELDS (sizeof op_fields / sizeof op_fields[0])

#define NODE_FIELDS (OPF_ID|OPF_TYPE|OPF_X|OPF_Y|OPF_WIDTH|OPF_HEIGHT|OPF_DATA)
#define EDGE_FIELDS (OPF_ID|OPF_SOURCE|OPF_TARGET|OPF_SOURCE_HANDLE| \
	OPF_TARGET_HANDLE|OPF_DATA)
#define VIEWPORT_FIELDS (OPF_X|OPF_Y|OPF_ZOOM)
#define NODE_ATTRS (OPF_TYPE|OPF_X|OPF_Y|OPF_WIDTH|OPF_HEIGHT|OPF_DATA)
#define META_FIELDS (OPF_TITLE|OPF_DESCRIPTION)

static const char *op_names[] = {
	[OP_ADD_NODE] = "add_node",
	[OP_UPDATE_NODE] = "update_node",
	[OP_REMOVE_NODE] = "remove_node",
	[OP_ADD_EDGE] = "add_edge",
	[OP_REMOVE_EDGE] = "remove_edge",
	[OP_SET_VIEWPORT] = "set_viewport",
	[OP_SET_META] = "set_meta",
};
#define OP_NTYPES (sizeof op_names / sizeof op_names[0])

const char *
op_name(enum op_type type)
{
	if ((size_t)type >= OP_NTYPES)
		return "?";
	return op_names[type];
}

bool
op_utf8_valid(const char *s, size_t len)
{
	const unsigned char	*p = (const unsigned char *)s;
	size_t			 i = 0, n, k;
	uint32_t		 c, min;

	while (i < len) {
		c = p[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0) {
			n = 1; c &= 0x1f; min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2; c &= 0x0f; min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3; c &= 0x07; min = 0x10000;
		} else
			return false;
		if (len - i - 1 < n)
			return false;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (p[i + k] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		i += n + 1;
	}
	return true;
}

int
op_utf8_prefix(const char *s, size_t len, size_t max)
{
	if (len <= max)
		return (int)len;
	/* Back off continuation bytes so a message never ends mid-sequence. */
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	return (int)max;
}

/*
 * How much of a client's str to quote in a message: messages go back as
 * str, and a client that decodes them as UTF-8 must not choke on one.
 */
static int
op_quotable(const msgpack_object *o)
{
	if (!op_utf8_valid(o->via.str.ptr, o->via.str.size))
		return 0;
	return op_utf8_prefix(o->via.str.ptr, o->via.str.size, 64);
}

void
op_error_prefix(struct proto_error *e, const char *fmt, ...)
{
	char	 old[sizeof e->message];
	va_list	 ap;
	int	 n;

	memcpy(old, e->message, sizeof old);
	va_start(ap, fmt);
	n = vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if ((size_t)n < sizeof e->message)
		snprintf(e->message + n, sizeof e->message - n, "%s", old);
}

static void
op_str_free(struct op_str *s)
{
	free(s->s);
	s->s = NULL;
	s->len = 0;
}

void
op_clear(struct flow_op *op)
{
	op_str_free(&op->id);
	op_str_free(&op->node_type);
	op_str_free(&op->source);
	op_str_free(&op->target);
	op_str_free(&op->source_handle);
	op_str_free(&op->target_handle);
	op_str_free(&op->title);
	op_str_free(&op->description);
	op_str_free(&op->data);
	memset(op, 0, sizeof *op);
}

static void
op_str_copy(struct op_str *dst, const char *s, size_t len)
{
	dst->len = len;
	dst->s = NULL;
	if (len == 0)
		return;
	if ((dst->s = malloc(len + 1)) == NULL)
		abort();	/* a worker out of memory is restarted */
	memcpy(dst->s, s, len);
	dst->s[len] = '\0';
}

/*
 * Is o JSON-representable?  depth is o's own level, the data map being 1.
 * The walk is bounded by OP_DATA_DEPTH, so recursion is safe.
 */
static int
op_data_check(const msgpack_object *o, unsigned depth, struct proto_error *e)
{
	const msgpack_object_kv	*kv;
	uint32_t		 i;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
	case MSGPACK_OBJECT_BOOLEAN:
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		return 0;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			return proto_error_set(e, PC_INVALID_OP,
			    "integer beyond int64");
		return 0;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(o->via.f64))
			return proto_error_set(e, PC_INVALID_OP,
			    "NaN or infinite float");
		return 0;
	case MSGPACK_OBJECT_STR:
		if (!op_utf8_valid(o->via.str.ptr, o->via.str.size))
			return proto_error_set(e, PC_INVALID_OP,
			    "string is not valid UTF-8");
		return 0;
	case MSGPACK_OBJECT_ARRAY:
	case MSGPACK_OBJECT_MAP:
		if (depth > OP_DATA_DEPTH)
			return proto_error_set(e, PC_INVALID_OP,
			    "nested deeper than %d levels", OP_DATA_DEPTH);
		break;
	default:
		return proto_error_set(e, PC_INVALID_OP,
		    "bin, ext and other non-JSON values are not allowed");
	}
	if (o->type == MSGPACK_OBJECT_ARRAY) {
		for (i = 0; i < o->via.array.size; i++) {
			if (op_data_check(&o->via.array.ptr[i], depth + 1,
			    e) == -1)
				return -1;
		}
		return 0;
	}
	for (i = 0; i < o->via.map.size; i++) {
		kv = &o->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR)
			return proto_error_set(e, PC_INVALID_OP,
			    "map keys must be strings");
		if (op_data_check(&kv->key, depth + 1, e) == -1 ||
		    op_data_check(&kv->val, depth + 1, e) == -1)
			return -1;
	}
	return 0;
}

static int
op_data_decode(const msgpack_object *o, const struct flow_limits *lim,
    struct op_str *dst, struct proto_error *e)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;

	if (o->type != MSGPACK_OBJECT_MAP)
		return proto_error_set(e, PC_INVALID_OP, "must be a map");
	if (op_data_check(o, 1, e) == -1)
		return -1;
	/*
	 * Re-encoding gives one canonical form (shortest integers and
	 * headers), so flow_pack can emit the bytes as they are and the
	 * encoded size is the same whatever width the client chose.
	 */
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (msgpack_pack_object(&pk, *o) != 0)
		abort();
	if (sb.size > lim->max_data_bytes) {
		msgpack_sbuffer_destroy(&sb);
		return proto_error_set(e, PC_INVALID_OP,
		    "encoded size %zu exceeds %u bytes", sb.size,
		    lim->max_data_bytes);
	}
	dst->len = sb.size;
	dst->s = msgpack_sbuffer_release(&sb);
	return 0;
}

static int
op_field_decode(const struct op_field *f, const msgpack_object *v,
    const struct flow_limits *lim, struct flow_op *op, struct proto_error *e)
{
	struct op_str	*dst = (struct op_str *)((char *)op + f->off);
	double		*num = (double *)((char *)op + f->off);
	const char	*s;
	size_t		 len;

	switch (f->kind) {
	case K_STR:
		if (proto_get_str(v, &s, &len) == -1)
			return proto_error_set(e, PC_INVALID_OP,
			    "must be a string");
		if (len < f->min || len > f->max)
			return proto_error_set(e, PC_INVALID_OP,
			    "length %zu not in %zu..%zu bytes", len, f->min,
			    f->max);
		if (!op_utf8_valid(s, len))
			return proto_error_set(e, PC_INVALID_OP,
			    "not valid UTF-8");
		op_str_copy(dst, s, len);
		return 0;
	case K_NUM:
	case K_POS:
		if (proto_get_double(v, num) == -1)
			return proto_error_set(e, PC_INVALID_OP,
			    "must be a finite number");
		if (f->kind == K_POS && !(*num > 0))
			return proto_error_set(e, PC_INVALID_OP,
			    "must be > 0");
		return 0;
	case K_DATA:
		return op_data_decode(v, lim, dst, e);
	case K_SKIP:
		break;
	}
	return 0;
}

/*
 * Decode the keys of map into op: every key must be one of allowed and
 * appear at most once, every key of required must appear.  A nil value of
 * an optional field is ignored, or recorded in op->unset if in clears.
 * prefix ("", "node.") names the map in messages.
 */
static int
op_fields_decode(const msgpack_object *map, unsigned allowed,
    unsigned required, unsigned clears, const char *prefix,
    const struct flow_limits *lim, struct flow_op *op, struct proto_error *e)
{
	const msgpack_object_kv	*kv;
	const struct op_field	*f;
	unsigned		 seen = 0;
	uint32_t		 i;
	size_t			 j;

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP) {
		/* "node." names the map "node" */
		return proto_error_set(e, PC_INVALID_OP, "%.*s%smust be a map",
		    (int)strcspn(prefix, "."), prefix,
		    *prefix != '\0' ? ": " : "");
	}
	for (i = 0; i < map->via.map.size; i++) {
		kv = &map->via.map.ptr[i];
		if (kv->key.type != MSGPACK_OBJECT_STR)
			return proto_error_set(e, PC_INVALID_OP,
			    "%skeys must be strings", prefix);
		f = NULL;
		for (j = 0; j < OP_NFIELDS; j++) {
			if ((op_fields[j].flag & allowed) &&
			    proto_str_is(&kv->key, op_fields[j].name)) {
				f = &op_fields[j];
				break;
			}
		}
		if (f == NULL)
			return proto_error_set(e, PC_INVALID_OP,
			    "unknown field \"%s%.*s\"", prefix,
			    op_quotable(&kv->key), kv->key.via.str.ptr);
		if (seen & f->flag)
			return proto_error_set(e, PC_INVALID_OP,
			    "duplicate field \"%s%s\"", prefix, f->name);
		seen |= f->flag;
		if (kv->val.type == MSGPACK_OBJECT_NIL &&
		    !(f->flag & required)) {
			op->unset |= f->flag & clears;
			continue;
		}
		if (op_field_decode(f, &kv->val, lim, op, e) == -1) {
			op_error_prefix(e, "%s%s: ", prefix, f->name);
			return -1;
		}
		if (f->kind != K_SKIP)
			op->set |= f->flag;
	}
	if ((required & ~seen) != 0) {
		for (j = 0; j < OP_NFIELDS; j++) {
			if (op_fields[j].flag & required & ~seen)
				break;
		}
		return proto_error_set(e, PC_INVALID_OP,
		    "missing field \"%s%s\"", prefix, op_fields[j].name);
	}
	return 0;
}

static int
op_decode_sub(const msgpack_object *o, const char *key, unsigned flag,
    unsigned allowed, unsigned required, const struct flow_limits *lim,
    struct flow_op *op, struct proto_error *e)
{
	char	 prefix[16];

	if (op_fields_decode(o, OPF_OP|flag, OPF_OP|flag, 0, "", lim, op,
	    e) == -1)
		return -1;
	snprintf(prefix, sizeof prefix, "%s.", key);
	return op_fields_decode(proto_map_get(o, key), allowed, required, 0,
	    prefix, lim, op, e);
}

int
op_decode(const msgpack_object *o, const struct flow_limits *lim,
    struct flow_op *op, struct proto_error *e)
{
	const msgpack_object	*name;
	size_t			 i;
	int			 rc;

	memset(op, 0, sizeof *op);
	if (o->type != MSGPACK_OBJECT_MAP)
		return proto_error_set(e, PC_INVALID_OP,
		    "an op must be a map");
	if ((name = proto_map_get(o, "op")) == NULL)
		return proto_error_set(e, PC_INVALID_OP,
		    "missing field \"op\"");
	if (name->type != MSGPACK_OBJECT_STR)
		return proto_error_set(e, PC_INVALID_OP,
		    "op: must be a string");
	for (i = 0; i < OP_NTYPES; i++) {
		if (proto_str_is(name, op_names[i]))
			break;
	}
	if (i == OP_NTYPES)
		return proto_error_set(e, PC_INVALID_OP,
		    "unknown op \"%.*s\"", op_quotable(name),
		    name->via.str.ptr);
	op->type = (enum op_type)i;

	switch (op->type) {
	case OP_ADD_NODE:
		rc = op_decode_sub(o, "node", OPF_NODE, NODE_FIELDS,
		    OPF_ID|OPF_TYPE|OPF_X|OPF_Y, lim, op, e);
		break;
	case OP_ADD_EDGE:
		rc = op_decode_sub(o, "edge", OPF_EDGE, EDGE_FIELDS,
		    OPF_ID|OPF_SOURCE|OPF_TARGET, lim, op, e);
		break;
	case OP_UPDATE_NODE:
		rc = op_fields_decode(o, OPF_OP|OPF_ID|NODE_ATTRS,
		    OPF_OP|OPF_ID, OPF_WIDTH|OPF_HEIGHT|OPF_DATA, "", lim, op,
		    e);
		if (rc == 0 && ((op->set | op->unset) & NODE_ATTRS) == 0)
			rc = proto_error_set(e, PC_INVALID_OP, "nothing to "
			    "update: give type, x, y, width, height or data");
		break;
	case OP_REMOVE_NODE:
	case OP_REMOVE_EDGE:
		rc = op_fields_decode(o, OPF_OP|OPF_ID, OPF_OP|OPF_ID, 0, "",
		    lim, op, e);
		break;
	case OP_SET_VIEWPORT:
		rc = op_fields_decode(o, OPF_OP|VIEWPORT_FIELDS,
		    OPF_OP|VIEWPORT_FIELDS, 0, "", lim, op, e);
		break;
	case OP_SET_META:
		rc = op_fields_decode(o, OPF_OP|META_FIELDS, OPF_OP, 0, "", lim,
		    op, e);
		if (rc == 0 && (op->set & META_FIELDS) == 0)
			rc = proto_error_set(e, PC_INVALID_OP,
			    "nothing to set: give title or description");
		break;
	default:
		rc = -1;
		break;
	}
	if (rc == -1) {
		op_clear(op);
		op_error_prefix(e, "%s: ", op_names[i]);
	}
	return rc;
}

static int
op_decode_part(const msgpack_object *o, enum op_type type, unsigned allowed,
    unsigned required, const struct flow_limits *lim, struct flow_op *op,
    struct proto_error *e)
{
	memset(op, 0, sizeof *op);
	op->type = type;
	if (op_fields_decode(o, allowed, required, 0, "", lim, op, e) == -1) {
		op_clear(op);
		return -1;
	}
	return 0;
}

int
op_decode_node(const msgpack_object *o, const struct flow_limits *lim,
    struct flow_op *op, struct proto_error *e)
{
	return op_decode_part(o, OP_ADD_NODE, NODE_FIELDS,
	    OPF_ID|OPF_TYPE|OPF_X|OPF_Y, lim, op, e);
}

int
op_decode_edge(const msgpack_object *o, const struct flow_limits *lim,
    struct flow_op *op, struct proto_error *e)
{
	return op_decode_part(o, OP_ADD_EDGE, EDGE_FIELDS,
	    OPF_ID|OPF_SOURCE|OPF_TARGET, lim, op, e);
}

int
op_decode_viewport(const msgpack_object *o, struct flow_op *op,
    struct proto_error *e)
{
	/* No data in a viewport, so no limits are consulted. */
	return op_decode_part(o, OP_SET_VIEWPORT, VIEWPORT_FIELDS,
	    VIEWPORT_FIELDS, NULL, op, e);
}
