/*
 * fuzz_ops.c: libFuzzer target for the op decoder, flow_apply and
 * flow_unpack.
 *
 * The input is one msgpack object, admitted by proto_scan exactly as the
 * daemon's reader would admit it.  An array is decoded op by op, then
 * applied twice to a small prepared flow; a map is also tried as a
 * checkpoint document.  Whatever happens, the invariants the rest of helix
 * relies on must hold, or the target aborts: flow_encoded_size is the
 * packed length, a refused apply changes nothing, and pack -> unpack ->
 * pack gives the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "worker/flow.h"
#include "worker/op.h"

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_MAX_MESSAGE	(64 * 1024)
#define FUZZ_MAX_DEPTH		32

/* Small limits, so that the fuzzer reaches every one of them. */
static const struct flow_limits fuzz_limits = {
	.max_nodes = 6,
	.max_edges = 6,
	.max_data_bytes = 256,
	.max_ops = 16,
	.max_flow_bytes = 2048,
};

static void
fuzz_key(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str_with_body(pk, s, strlen(s));
}

static void
fuzz_node(msgpack_packer *pk, const char *id, int extra)
{
	msgpack_pack_map(pk, 2);
	fuzz_key(pk, "op");
	fuzz_key(pk, "add_node");
	fuzz_key(pk, "node");
	msgpack_pack_map(pk, extra ? 6 : 4);
	fuzz_key(pk, "id");
	fuzz_key(pk, id);
	fuzz_key(pk, "type");
	fuzz_key(pk, "t");
	fuzz_key(pk, "x");
	msgpack_pack_int(pk, 1);
	fuzz_key(pk, "y");
	msgpack_pack_double(pk, 2.5);
	if (extra) {
		fuzz_key(pk, "width");
		msgpack_pack_int(pk, 10);
		fuzz_key(pk, "data");
		msgpack_pack_map(pk, 1);
		fuzz_key(pk, "k");
		msgpack_pack_array(pk, 2);
		msgpack_pack_nil(pk);
		fuzz_key(pk, "v");
	}
}

static void
fuzz_edge(msgpack_packer *pk, const char *id, const char *source,
    const char *target, int extra)
{
	msgpack_pack_map(pk, 2);
	fuzz_key(pk, "op");
	fuzz_key(pk, "add_edge");
	fuzz_key(pk, "edge");
	msgpack_pack_map(pk, extra ? 4 : 3);
	fuzz_key(pk, "id");
	fuzz_key(pk, id);
	fuzz_key(pk, "source");
	fuzz_key(pk, source);
	fuzz_key(pk, "target");
	fuzz_key(pk, target);
	if (extra) {
		fuzz_key(pk, "source_handle");
		fuzz_key(pk, "out");
	}
}

/* The ops that prepare each run's flow; built once, kept for good. */
static const msgpack_object *
fuzz_prepare_ops(void)
{
	static msgpack_sbuffer	 sb;
	static msgpack_unpacked	 u;
	static int		 done;
	msgpack_packer		 pk;
	size_t			 off = 0;

	if (done)
		return &u.data;
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, 7);
	fuzz_node(&pk, "a", 0);
	fuzz_node(&pk, "b", 0);
	fuzz_node(&pk, "c", 1);
	fuzz_edge(&pk, "e1", "a", "b", 0);
	fuzz_edge(&pk, "e2", "b", "c", 1);
	fuzz_edge(&pk, "e3", "c", "c", 0);
	msgpack_pack_map(&pk, 2);
	fuzz_key(&pk, "op");
	fuzz_key(&pk, "set_meta");
	fuzz_key(&pk, "title");
	fuzz_key(&pk, "prepared");
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, sb.data, sb.size, &off) !=
	    MSGPACK_UNPACK_SUCCESS)
		abort();
	done = 1;
	return &u.data;
}

static void
fuzz_pack(const struct flow *f, msgpack_sbuffer *sb)
{
	msgpack_packer	 pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	flow_pack(f, &pk);
	if (sb->size != flow_encoded_size(f))
		abort();
}

/* Error messages go back to clients as str: they must be UTF-8. */
static void
fuzz_message(const struct proto_error *e)
{
	if (e->message[0] == '\0' ||
	    !op_utf8_valid(e->message, strlen(e->message)))
		abort();
}

static int
fuzz_same(const msgpack_sbuffer *a, const msgpack_sbuffer *b)
{
	return a->size == b->size && memcmp(a->data, b->data, a->size) == 0;
}

/* pack -> unpack -> pack must be the identity. */
static void
fuzz_roundtrip(const struct flow *f)
{
	msgpack_sbuffer		 a, b;
	msgpack_unpacked	 u;
	struct flow		*g = NULL;
	struct proto_error	 e;
	size_t			 off = 0;

	fuzz_pack(f, &a);
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, a.data, a.size, &off) !=
	    MSGPACK_UNPACK_SUCCESS || off != a.size)
		abort();
	if (flow_unpack(&u.data, &fuzz_limits, &g, &e) == -1)
		abort();
	fuzz_pack(g, &b);
	if (!fuzz_same(&a, &b) || flow_version(g) != flow_version(f))
		abort();
	flow_destroy(g);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&a);
	msgpack_sbuffer_destroy(&b);
}

static void
fuzz_apply(struct flow *f, const msgpack_object *ops)
{
	msgpack_sbuffer		 before, after;
	struct proto_error	 e;
	uint64_t		 version = flow_version(f);
	uint32_t		 n = ops->via.array.size;

	fuzz_pack(f, &before);
	memset(&e, 0, sizeof e);
	if (flow_apply(f, ops, &fuzz_limits, &e) == 0) {
		if (flow_version(f) != version + 1)
			abort();
	} else {
		/* refused: an index within the batch, nothing changed */
		if (e.code != PC_INVALID_OP || e.extra_key == NULL ||
		    e.extra_value < 0 || (e.extra_value >= n &&
		    e.extra_value != fuzz_limits.max_ops))
			abort();
		fuzz_message(&e);
		fuzz_pack(f, &after);
		if (!fuzz_same(&before, &after) || flow_version(f) != version)
			abort();
		msgpack_sbuffer_destroy(&after);
	}
	if (flow_node_count(f) > fuzz_limits.max_nodes ||
	    flow_edge_count(f) > fuzz_limits.max_edges)
		abort();
	fuzz_roundtrip(f);
	msgpack_sbuffer_destroy(&before);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	msgpack_unpacked	 u;
	struct flow_op		 op;
	struct proto_error	 e;
	struct flow		*f, *g = NULL;
	size_t			 off = 0;
	uint32_t		 i;
	long			 len;

	len = proto_scan(data, size, FUZZ_MAX_MESSAGE, FUZZ_MAX_DEPTH);
	if (len <= 0)
		return 0;
	msgpack_unpacked_init(&u);
	if (msgpack_unpack_next(&u, (const char *)data, (size_t)len, &off) !=
	    MSGPACK_UNPACK_SUCCESS) {
		msgpack_unpacked_destroy(&u);
		return 0;
	}

	if (u.data.type == MSGPACK_OBJECT_ARRAY) {
		for (i = 0; i < u.data.via.array.size; i++) {
			if (op_decode(&u.data.via.array.ptr[i], &fuzz_limits,
			    &op, &e) == 0)
				op_clear(&op);
			else if (e.code != PC_INVALID_OP)
				abort();
			else
				fuzz_message(&e);
		}
		f = flow_create("fuzz", 4);
		if (flow_apply(f, fuzz_prepare_ops(), &fuzz_limits, &e) == -1)
			abort();
		/* twice: the second run meets what the first one added */
		fuzz_apply(f, &u.data);
		fuzz_apply(f, &u.data);
		flow_destroy(f);
	} else if (flow_unpack(&u.data, &fuzz_limits, &g, &e) == 0) {
		fuzz_roundtrip(g);
		flow_destroy(g);
	} else if (e.code != PC_INVALID_PARAMS)
		abort();
	else
		fuzz_message(&e);
	msgpack_unpacked_destroy(&u);
	return 0;
}
