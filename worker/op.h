/*
 * op.h: decoding and static validation of flow ops (../shared/PROTOCOL.md,
 * "Ops").  Independent of any document: whether a node exists, whether an
 * id is new and whether a limit on counts or sizes is passed is flow.c's
 * business.
 *
 * Wire shape, one map per op, every listed key at most once, any other key
 * refused (a misspelt field is a client bug, not something to ignore):
 *
 *   {"op": "add_node", "node": {id, type, x, y, width?, height?, data?}}
 *   {"op": "update_node", "id", type?, x?, y?, width?, height?, data?}
 *   {"op": "remove_node", "id"}
 *   {"op": "add_edge", "edge": {id, source, target, source_handle?,
 *                               target_handle?, data?}}
 *   {"op": "remove_edge", "id"}
 *   {"op": "set_viewport", "x", "y", "zoom"}
 *   {"op": "set_meta", title?, description?}
 *
 * Values: ids, source and target 1..255 bytes; type 1..100; handles and
 * title 0..255; description 0..5000 (UTF-8 bytes, valid UTF-8 required);
 * x, y integer or float, finite; width, height, zoom finite and > 0; data a
 * map of JSON-representable values (str keys; nil, bool, int64-range
 * integers, finite floats, str, arrays, maps), at most 16 levels deep
 * counting the data map itself, encoded size <= max_data_bytes.
 *
 * nil: an optional field given as nil is treated as absent, except in
 * update_node where width, height or data set to nil remove that field.
 * update_node and set_meta must carry at least one field besides "op"/"id".
 */
#ifndef HELIX_OP_H
#define HELIX_OP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#include "proto/proto.h"

#define OP_ID_MAX		255
#define OP_TYPE_MAX		100
#define OP_HANDLE_MAX		255
#define OP_TITLE_MAX		255
#define OP_DESCRIPTION_MAX	5000
#define OP_DATA_DEPTH		16

struct flow_limits;

enum op_type {
	OP_ADD_NODE,
	OP_UPDATE_NODE,
	OP_REMOVE_NODE,
	OP_ADD_EDGE,
	OP_REMOVE_EDGE,
	OP_SET_VIEWPORT,
	OP_SET_META,
};

/* An owned string; s is NUL-terminated, or NULL when len is 0. */
struct op_str {
	char	*s;
	size_t	 len;
};

struct flow_op {
	enum op_type	 type;
	unsigned	 set;		/* fields present with a value */
	unsigned	 unset;		/* update_node: given as nil */
#define OPF_OP			0x00001
#define OPF_NODE		0x00002
#define OPF_EDGE		0x00004
#define OPF_ID			0x00008
#define OPF_TYPE		0x00010
#define OPF_X			0x00020
#define OPF_Y			0x00040
#define OPF_WIDTH		0x00080
#define OPF_HEIGHT		0x00100
#define OPF_DATA		0x00200
#define OPF_SOURCE		0x00400
#define OPF_TARGET		0x00800
#define OPF_SOURCE_HANDLE	0x01000
#define OPF_TARGET_HANDLE	0x02000
#define OPF_ZOOM		0x04000
#define OPF_TITLE		0x08000
#define OPF_DESCRIPTION		0x10000
	struct op_str	 id;		/* node id, edge id */
	struct op_str	 node_type;
	struct op_str	 source;
	struct op_str	 target;
	struct op_str	 source_handle;
	struct op_str	 target_handle;
	struct op_str	 title;
	struct op_str	 description;
	struct op_str	 data;	/* encoded map, not NUL-ended */
	double		 x, y, width, height, zoom;
};

/* "add_node" etc. */
const char *op_name(enum op_type);

/*
 * Decode one op.  On success the op owns copies of everything it needs
 * (the msgpack object may go away); release with op_clear.  On failure the
 * op is cleared and e is PC_INVALID_OP with a message and no extra.
 */
int	op_decode(const msgpack_object *, const struct flow_limits *,
	    struct flow_op *, struct proto_error *e);
void	op_clear(struct flow_op *);

/*
 * The pieces of a flow document (flow_unpack): a node map (as OP_ADD_NODE),
 * an edge map (as OP_ADD_EDGE), a viewport map {x, y, zoom} (as
 * OP_SET_VIEWPORT).  Same rules and ownership as op_decode.
 */
int	op_decode_node(const msgpack_object *, const struct flow_limits *,
	    struct flow_op *, struct proto_error *e);
int	op_decode_edge(const msgpack_object *, const struct flow_limits *,
	    struct flow_op *, struct proto_error *e);
int	op_decode_viewport(const msgpack_object *, struct flow_op *,
	    struct proto_error *e);

/* Strict UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
bool	op_utf8_valid(const char *, size_t);

/* Longest prefix of s, at most max bytes, that ends on a UTF-8 boundary. */
int	op_utf8_prefix(const char *s, size_t len, size_t max);

/* Prepend printf-style text to e's message (code and extra are kept). */
void	op_error_prefix(struct proto_error *e, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

#endif /* HELIX_OP_H */
