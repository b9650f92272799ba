/*
 * flow-doc.c: the flow document's encoding: flow_pack, its exact size
 * without packing, and flow_unpack for restoring a checkpoint.
 *
 * The size functions mirror flow_pack field by field; the tests and the
 * fuzz target check that flow_encoded_size equals the packed length.
 */
#include <string.h>

#include "worker/flow-private.h"

/* Slack flow_unpack allows over max_flow_bytes; see flow.h. */
#define FLOW_VERSION_SLACK	8

/* ---- encoded sizes --------------------------------------------------- */

/*
 * msgpack-c always writes the shortest header for a length or count and
 * the shortest form of an unsigned integer; these mirror pack_template.h.
 */

static uint64_t
mp_str(uint64_t len)
{
	if (len < 32)
		return 1 + len;
	if (len < 256)
		return 2 + len;
	if (len < 65536)
		return 3 + len;
	return 5 + len;
}

static uint64_t
mp_container(uint64_t n)
{
	return n < 16 ? 1 : n < 65536 ? 3 : 5;
}

static uint64_t
mp_uint(uint64_t v)
{
	if (v < 128)
		return 1;
	if (v < 256)
		return 2;
	if (v < 65536)
		return 3;
	if (v <= UINT32_MAX)
		return 5;
	return 9;
}

/* a key shorter than 32 bytes is a fixstr: 1 + strlen */
#define MP_KEY(lit)	((uint64_t)sizeof (lit))
#define MP_DOUBLE	9

uint64_t
flow_doc_node_size(const struct node *n)
{
	uint64_t	size;
	unsigned	fields = 4;

	size = MP_KEY("id") + mp_str(n->id.len) +
	    MP_KEY("type") + mp_str(n->a.type.len) +
	    MP_KEY("x") + MP_DOUBLE + MP_KEY("y") + MP_DOUBLE;
	if (n->a.has & OPF_WIDTH) {
		size += MP_KEY("width") + MP_DOUBLE;
		fields++;
	}
	if (n->a.has & OPF_HEIGHT) {
		size += MP_KEY("height") + MP_DOUBLE;
		fields++;
	}
	if (n->a.has & OPF_DATA) {
		size += MP_KEY("data") + n->a.data.len;
		fields++;
	}
	return mp_container(fields) + size;
}

uint64_t
flow_doc_edge_size(const struct edge *e)
{
	uint64_t	size;
	unsigned	fields = 3;

	size = MP_KEY("id") + mp_str(e->id.len) +
	    MP_KEY("source") + mp_str(e->source->id.len) +
	    MP_KEY("target") + mp_str(e->target->id.len);
	if (e->has & OPF_SOURCE_HANDLE) {
		size += MP_KEY("source_handle") + mp_str(e->source_handle.len);
		fields++;
	}
	if (e->has & OPF_TARGET_HANDLE) {
		size += MP_KEY("target_handle") + mp_str(e->target_handle.len);
		fields++;
	}
	if (e->has & OPF_DATA) {
		size += MP_KEY("data") + e->data.len;
		fields++;
	}
	return mp_container(fields) + size;
}

/* The document's size if its version were version. */
uint64_t
flow_doc_size(const struct flow *f, uint64_t version)
{
	return 1 + MP_KEY("id") + mp_str(f->idlen) +
	    MP_KEY("version") + mp_uint(version) +
	    MP_KEY("title") + mp_str(f->title.len) +
	    MP_KEY("description") + mp_str(f->description.len) +
	    MP_KEY("viewport") + 1 + MP_KEY("x") + MP_KEY("y") +
	    MP_KEY("zoom") + 3 * MP_DOUBLE +
	    MP_KEY("nodes") + mp_container(f->nnodes) + f->node_bytes +
	    MP_KEY("edges") + mp_container(f->nedges) + f->edge_bytes;
}

uint64_t
flow_encoded_size(const struct flow *f)
{
	return flow_doc_size(f, f->version);
}

static void
flow_pack_str(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	if (len > 0)
		msgpack_pack_str_body(pk, s, len);
}

static void
flow_pack_key(msgpack_packer *pk, const char *key)
{
	flow_pack_str(pk, key, strlen(key));
}

/* Data maps were canonically encoded by op_decode: copy them verbatim. */
static void
flow_pack_raw(msgpack_packer *pk, const struct op_str *raw)
{
	if (raw->len > 0)
		pk->callback(pk->data, raw->s, raw->len);
}

static void
flow_pack_node(const struct node *n, msgpack_packer *pk)
{
	msgpack_pack_map(pk, 4 + __builtin_popcount(n->a.has));
	flow_pack_key(pk, "id");
	flow_pack_str(pk, n->id.s, n->id.len);
	flow_pack_key(pk, "type");
	flow_pack_str(pk, n->a.type.s, n->a.type.len);
	flow_pack_key(pk, "x");
	msgpack_pack_double(pk, n->a.x);
	flow_pack_key(pk, "y");
	msgpack_pack_double(pk, n->a.y);
	if (n->a.has & OPF_WIDTH) {
		flow_pack_key(pk, "width");
		msgpack_pack_double(pk, n->a.width);
	}
	if (n->a.has & OPF_HEIGHT) {
		flow_pack_key(pk, "height");
		msgpack_pack_double(pk, n->a.height);
	}
	if (n->a.has & OPF_DATA) {
		flow_pack_key(pk, "data");
		flow_pack_raw(pk, &n->a.data);
	}
}

static void
flow_pack_edge(const struct edge *e, msgpack_packer *pk)
{
	msgpack_pack_map(pk, 3 + __builtin_popcount(e->has));
	flow_pack_key(pk, "id");
	flow_pack_str(pk, e->id.s, e->id.len);
	flow_pack_key(pk, "source");
	flow_pack_str(pk, e->source->id.s, e->source->id.len);
	flow_pack_key(pk, "target");
	flow_pack_str(pk, e->target->id.s, e->target->id.len);
	if (e->has & OPF_SOURCE_HANDLE) {
		flow_pack_key(pk, "source_handle");
		flow_pack_str(pk, e->source_handle.s, e->source_handle.len);
	}
	if (e->has & OPF_TARGET_HANDLE) {
		flow_pack_key(pk, "target_handle");
		flow_pack_str(pk, e->target_handle.s, e->target_handle.len);
	}
	if (e->has & OPF_DATA) {
		flow_pack_key(pk, "data");
		flow_pack_raw(pk, &e->data);
	}
}

void
flow_pack(const struct flow *f, msgpack_packer *pk)
{
	const struct node	*n;
	const struct edge	*e;

	msgpack_pack_map(pk, 7);
	flow_pack_key(pk, "id");
	flow_pack_str(pk, f->id, f->idlen);
	flow_pack_key(pk, "version");
	msgpack_pack_uint64(pk, f->version);
	flow_pack_key(pk, "title");
	flow_pack_str(pk, f->title.s, f->title.len);
	flow_pack_key(pk, "description");
	flow_pack_str(pk, f->description.s, f->description.len);
	flow_pack_key(pk, "viewport");
	msgpack_pack_map(pk, 3);
	flow_pack_key(pk, "x");
	msgpack_pack_double(pk, f->vx);
	flow_pack_key(pk, "y");
	msgpack_pack_double(pk, f->vy);
	flow_pack_key(pk, "zoom");
	msgpack_pack_double(pk, f->vzoom);
	flow_pack_key(pk, "nodes");
	msgpack_pack_array(pk, f->nnodes);
	TAILQ_FOREACH(n, &f->nodes, entry)
		flow_pack_node(n, pk);
	flow_pack_key(pk, "edges");
	msgpack_pack_array(pk, f->nedges);
	TAILQ_FOREACH(e, &f->edges, entry)
		flow_pack_edge(e, pk);
}

/* ---- restore --------------------------------------------------------- */

static int
flow_unpack_str(const msgpack_object *o, size_t min, size_t max,
    struct op_str *dst, struct proto_error *e)
{
	const char	*s;
	size_t		 len;

	if (proto_get_str(o, &s, &len) == -1)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "must be a string");
	if (len < min || len > max)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "length %zu not in %zu..%zu bytes", len, min, max);
	if (!op_utf8_valid(s, len))
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "not valid UTF-8");
	dst->len = len;
	dst->s = NULL;
	if (len > 0) {
		dst->s = flow_calloc(1, len + 1);
		memcpy(dst->s, s, len);
	}
	return 0;
}

/* Add the nodes or edges of a document, as add_node/add_edge would. */
static int
flow_unpack_items(struct flow *f, const msgpack_object *o, const char *what,
    const struct flow_limits *lim, struct proto_error *e)
{
	const msgpack_object	*item;
	struct flow_op		 op;
	uint32_t		 i, max;
	int			 nodes = strcmp(what, "nodes") == 0, rc;

	if (o->type != MSGPACK_OBJECT_ARRAY)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "%s: must be an array", what);
	max = nodes ? lim->max_nodes : lim->max_edges;
	if (o->via.array.size > max)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "%s: %u is more than the limit of %u", what,
		    o->via.array.size, max);
	for (i = 0; i < o->via.array.size; i++) {
		item = &o->via.array.ptr[i];
		if (nodes)
			rc = op_decode_node(item, lim, &op, e);
		else
			rc = op_decode_edge(item, lim, &op, e);
		if (rc == 0) {
			if (nodes)
				rc = flow_add_node(f, &op, lim, e);
			else
				rc = flow_add_edge(f, &op, lim, e);
			op_clear(&op);
		}
		if (rc == -1) {
			op_error_prefix(e, "%s[%u]: ", what, i);
			return -1;
		}
		/* Only additions are logged here: committing frees nothing. */
		flow_commit(f);
	}
	return 0;
}

int
flow_unpack(const msgpack_object *doc, const struct flow_limits *lim,
    struct flow **out, struct proto_error *e)
{
	static const char *const keys[] = { "id", "version", "title",
	    "description", "viewport", "nodes", "edges" };
	const msgpack_object	*v[7] = { NULL };
	const msgpack_object_kv	*kv;
	struct flow		*f = NULL;
	struct op_str		 id = { NULL, 0 };
	struct flow_op		 op;
	uint64_t		 version;
	uint32_t		 i;
	size_t			 j;

	if (doc == NULL || doc->type != MSGPACK_OBJECT_MAP)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "document: must be a map");
	for (i = 0; i < doc->via.map.size; i++) {
		kv = &doc->via.map.ptr[i];
		for (j = 0; j < 7; j++) {
			if (proto_str_is(&kv->key, keys[j]))
				break;
		}
		if (j == 7)
			return proto_error_set(e, PC_INVALID_PARAMS,
			    "document: unknown or non-string key");
		if (v[j] != NULL)
			return proto_error_set(e, PC_INVALID_PARAMS,
			    "document: duplicate key \"%s\"", keys[j]);
		v[j] = &kv->val;
	}
	for (j = 0; j < 7; j++) {
		if (v[j] == NULL)
			return proto_error_set(e, PC_INVALID_PARAMS,
			    "document: missing key \"%s\"", keys[j]);
	}
	if (flow_unpack_str(v[0], 1, PROTO_FLOW_ID_MAX, &id, e) == -1) {
		op_error_prefix(e, "document: id: ");
		return -1;
	}
	f = flow_create(id.s, id.len);
	free(id.s);
	if (proto_get_uint(v[1], &version) == -1) {
		proto_error_set(e, PC_INVALID_PARAMS,
		    "document: version: must be an unsigned integer");
		goto fail;
	}
	f->version = version;
	if (flow_unpack_str(v[2], 0, OP_TITLE_MAX, &f->title, e) == -1) {
		op_error_prefix(e, "document: title: ");
		goto fail;
	}
	if (flow_unpack_str(v[3], 0, OP_DESCRIPTION_MAX, &f->description,
	    e) == -1) {
		op_error_prefix(e, "document: description: ");
		goto fail;
	}
	if (op_decode_viewport(v[4], &op, e) == -1) {
		op_error_prefix(e, "document: viewport: ");
		goto fail;
	}
	f->vx = op.x;
	f->vy = op.y;
	f->vzoom = op.zoom;
	op_clear(&op);
	if (flow_unpack_items(f, v[5], "nodes", lim, e) == -1 ||
	    flow_unpack_items(f, v[6], "edges", lim, e) == -1) {
		op_error_prefix(e, "document: ");
		goto fail;
	}
	if (flow_encoded_size(f) > lim->max_flow_bytes + FLOW_VERSION_SLACK) {
		proto_error_set(e, PC_INVALID_PARAMS, "document: %llu bytes, "
		    "more than the limit of %llu",
		    (unsigned long long)flow_encoded_size(f),
		    (unsigned long long)lim->max_flow_bytes);
		goto fail;
	}
	*out = f;
	return 0;

fail:
	/* Errors from the op layer say invalid_op; this is not an apply. */
	e->code = PC_INVALID_PARAMS;
	e->extra_key = NULL;
	flow_destroy(f);
	return -1;
}

