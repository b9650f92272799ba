/*
 * flow.h: the flow document of ../shared/PROTOCOL.md ("The flow document",
 * "Ops") and the atomic application of a batch of ops.  Pure: no I/O, no
 * clock, no global state.
 *
 * Decisions where PROTOCOL.md is silent:
 *   - An empty ops array is a valid apply: nothing changes but the version,
 *     which goes up by 1 like after every successful flow.apply.
 *   - Unknown op names and unknown fields are refused (invalid_op), as are
 *     duplicate keys; see op.h for the exact shape and for nil handling.
 *   - Coordinates, sizes and zoom are stored as doubles and always packed
 *     as float64, so a document's size does not depend on how a client
 *     spelt a number.
 *   - max_flow_bytes: an op fails when it makes the document (counted with
 *     the version it will have) larger than it was before the op and larger
 *     than the limit.  Ops that do not grow it never fail on size, so a
 *     flow at its limit can always shrink; the only overshoot possible is
 *     the version's own width growing (at most 8 bytes), so flow_unpack
 *     allows that much.
 *
 * Return convention: 0 on success, -1 with e filled on failure.  Out of
 * memory aborts (the worker is restarted by its supervisor).
 */
#ifndef HELIX_FLOW_H
#define HELIX_FLOW_H

#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "proto/proto.h"

struct flow_limits {
	uint32_t	max_nodes;
	uint32_t	max_edges;
	uint32_t	max_data_bytes;	/* one node's or edge's data */
	uint32_t	max_ops;	/* per apply */
	uint64_t	max_flow_bytes;	/* flow_encoded_size */
};

/* 10000 nodes, 50000 edges, 64 KiB data, 1000 ops, 16 MiB. */
void	flow_limits_default(struct flow_limits *);

struct flow;

/* Version 0, empty title and description, viewport {0, 0, 1}. */
struct flow *flow_create(const char *id, size_t idlen);
void	flow_destroy(struct flow *);

const char *flow_id(const struct flow *);	/* NUL-terminated */
uint64_t flow_version(const struct flow *);
uint32_t flow_node_count(const struct flow *);
uint32_t flow_edge_count(const struct flow *);

/* The exact length of flow_pack's output; O(1). */
uint64_t flow_encoded_size(const struct flow *);

/*
 * Apply an array of ops atomically.  Each op is checked against the state
 * left by the ops before it.  On success the version goes up by 1.  On
 * failure the document is exactly as before (contents, insertion order,
 * version) and e is PC_INVALID_OP with extra "index" (the first failing
 * op; max_ops when there are more ops than that), or PC_INVALID_PARAMS when
 * ops is not an array.  Cost is linear in the ops and what they touch
 * (a removed node's edges), never in the size of the flow.
 */
int	flow_apply(struct flow *, const msgpack_object *ops,
	    const struct flow_limits *, struct proto_error *e);

/*
 * The flow.get document: {"id", "version", "title", "description",
 * "viewport": {"x", "y", "zoom"}, "nodes": [...], "edges": [...]}, nodes
 * and edges in insertion order, optional fields only when set.
 */
void	flow_pack(const struct flow *, msgpack_packer *);

/*
 * Rebuild a flow from a flow_pack document (checkpoint restore).  The
 * input is treated as hostile: every field, reference and limit is checked
 * (keys may come in any order; none may be missing, unknown or repeated;
 * the id must be 1..128 bytes, the caller checks it names the right flow).
 * On failure -1 with e PC_INVALID_PARAMS and *out untouched.
 */
int	flow_unpack(const msgpack_object *doc, const struct flow_limits *,
	    struct flow **out, struct proto_error *e);

#endif /* HELIX_FLOW_H */
