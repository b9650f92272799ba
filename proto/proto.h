/*
 * proto.h: the MessagePack-RPC codec of helix (../shared/PROTOCOL.md).
 *
 * Used by helixd, helix-worker, the client library and the tests.  Three
 * parts:
 *   - a reader that turns a byte stream arriving in arbitrary pieces into
 *     whole msgpack objects, refusing hostile sizes before msgpack-c sees
 *     them (msgpack-c 4.0 allocates for a container's declared count at once);
 *   - the message layer: request / response / notification, the error map
 *     and its codes;
 *   - typed accessors that turn a wrong type into an error, never a crash.
 *
 * Return convention of this layer: 0 on success, -1 on failure.
 */
#ifndef HELIX_PROTO_H
#define HELIX_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <msgpack.h>

#define PROTO_VERSION		1	/* the client protocol version */
#define PROTO_MAX_DEPTH		32	/* msgpack-c's own nesting limit */
#define PROTO_FLOW_ID_MAX	128
#define PROTO_CLIENT_ID_MAX	128

/* ---- reader ---------------------------------------------------------- */

enum proto_read {
	PROTO_READ_MORE = 0,	/* no whole object buffered yet */
	PROTO_READ_OBJECT = 1,	/* *out holds one object */
	PROTO_READ_SYNTAX = -1,	/* not MessagePack (e.g. byte 0xc1) */
	PROTO_READ_TOO_LARGE = -2, /* object would exceed max_message */
	PROTO_READ_TOO_DEEP = -3, /* nesting deeper than max_depth */
};

struct proto_reader;

/*
 * max_message bounds one whole object (bytes); max_depth bounds nesting
 * (1 = a scalar or a flat container; at most PROTO_MAX_DEPTH).
 * A max_depth of 0 counts as 1, one above PROTO_MAX_DEPTH as PROTO_MAX_DEPTH.
 */
struct proto_reader *proto_reader_create(size_t max_message, unsigned max_depth);
void	proto_reader_destroy(struct proto_reader *);

/* Append bytes; -1 only on out-of-memory. */
int	proto_reader_feed(struct proto_reader *, const void *, size_t);

/*
 * Yield the next whole object.  On PROTO_READ_OBJECT, *out is valid until
 * the next call to proto_reader_next or proto_reader_destroy (copy out what
 * must live longer); raw/rawlen, when not NULL, receive the object's exact
 * encoded bytes (valid as long as *out).  Any negative result is sticky:
 * the stream cannot be resynchronised and the connection should be closed.
 * Every declared count or length is checked against the bytes that the
 * size limit still allows before msgpack-c sees the object, so a hostile
 * header costs nothing.
 */
enum proto_read proto_reader_next(struct proto_reader *, msgpack_object *out,
	    const char **raw, size_t *rawlen);

/* Bytes buffered and not yet returned as objects. */
size_t	proto_reader_pending(const struct proto_reader *);

/*
 * After PROTO_READ_TOO_LARGE: the msgid of the offending message if its
 * first bytes are [0, uint32, ...]; -1 when it cannot be read.
 */
int	proto_reader_peek_msgid(const struct proto_reader *, uint32_t *msgid);

/*
 * One-shot scan of a complete buffer: the length of the first object in
 * buf (> 0), 0 if more bytes are needed, or a negative enum proto_read.
 */
long	proto_scan(const void *buf, size_t len, size_t max_message,
	    unsigned max_depth);

/* ---- error codes ----------------------------------------------------- */

enum proto_code {
	PC_OK = 0,
	PC_INVALID_REQUEST,
	PC_UNKNOWN_METHOD,
	PC_INVALID_PARAMS,
	PC_INVALID_FLOW_ID,
	PC_INVALID_OP,
	PC_CONFLICT,
	PC_NOT_JOINED,
	PC_MAX_CLIENTS_REACHED,
	PC_MAX_SESSIONS_REACHED,
	PC_OVERLOADED,
	PC_TIMEOUT,
	PC_SESSION_CRASHED,
	PC_SESSION_FAILED,
	PC_STORAGE_ERROR,
	PC_STORAGE_FULL,
	PC_NOT_RUNNING,
	PC_PERMISSION_DENIED,
	PC_SHUTTING_DOWN,
	PC_MESSAGE_TOO_LARGE,
	PC_PROTOCOL_ERROR,	/* only in sys.error notifications */
	PC__COUNT
};

/* "invalid_params" etc.; never NULL for a valid code. */
const char *proto_code_name(enum proto_code);
/* Inverse; PC__COUNT when unknown. */
enum proto_code proto_code_from_name(const char *, size_t);

/*
 * An error being built: code, message, and at most one integer extra
 * (index for invalid_op, version for conflict, retry_after for
 * session_failed).
 */
struct proto_error {
	enum proto_code	 code;
	char		 message[256];
	const char	*extra_key;	/* NULL when none */
	int64_t		 extra_value;
};

/* Fill e (printf-style message); returns -1 so callers can `return`. */
int	proto_error_set(struct proto_error *e, enum proto_code,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void	proto_error_extra(struct proto_error *e, const char *key, int64_t);

/* ---- messages -------------------------------------------------------- */

enum proto_type {
	PROTO_REQUEST = 0,
	PROTO_RESPONSE = 1,
	PROTO_NOTIFY = 2,
};

/* A parsed message; pointers borrow from the object it was parsed from. */
struct proto_msg {
	enum proto_type		 type;
	uint32_t		 msgid;		/* request, response */
	const char		*method;	/* request, notify; not NUL-ended */
	size_t			 method_len;
	const msgpack_object	*params;	/* request, notify: an array */
	const msgpack_object	*error;		/* response: nil or the error */
	const msgpack_object	*result;	/* response */
};

/*
 * Classify o.  On failure e is PC_INVALID_REQUEST and *has_msgid tells
 * whether a uint32 msgid could still be read (then the caller answers
 * invalid_request for that msgid; otherwise it is a protocol error).
 */
int	proto_msg_parse(const msgpack_object *o, struct proto_msg *m,
	    struct proto_error *e, bool *has_msgid);

/* method == name (NUL-terminated) */
bool	proto_method_is(const struct proto_msg *, const char *name);

/*
 * Encoders write into any msgpack_packer (usually on an msgpack_sbuffer).
 * The _begin forms write the envelope and leave the caller to pack exactly
 * the announced value(s):
 *   proto_pack_request_begin:  then pack nparams params;
 *   proto_pack_notify_begin:   then pack nparams params;
 *   proto_pack_result_begin:   then pack exactly one result object.
 */
void	proto_pack_request_begin(msgpack_packer *, uint32_t msgid,
	    const char *method, uint32_t nparams);
void	proto_pack_notify_begin(msgpack_packer *, const char *method,
	    uint32_t nparams);
void	proto_pack_result_begin(msgpack_packer *, uint32_t msgid);
/* [1, msgid, {"code","message"[,extra]}, nil] */
void	proto_pack_error(msgpack_packer *, uint32_t msgid,
	    const struct proto_error *);
/* The bare error map (for sys.error and for relaying). */
void	proto_pack_error_map(msgpack_packer *, const struct proto_error *);

/* Small packing helpers. */
void	proto_pack_str(msgpack_packer *, const char *);
void	proto_pack_strn(msgpack_packer *, const char *, size_t);
/* key as str, then the caller packs the value */
void	proto_pack_key(msgpack_packer *, const char *);

/* ---- typed accessors ------------------------------------------------- */
/* Each returns 0, or -1 when o is NULL or of the wrong type/range. */

int	proto_get_str(const msgpack_object *o, const char **s, size_t *len);
/* Copies into buf (NUL-terminated); -1 if it does not fit (len >= size). */
int	proto_get_strbuf(const msgpack_object *o, char *buf, size_t size);
int	proto_get_uint(const msgpack_object *o, uint64_t *);
int	proto_get_int(const msgpack_object *o, int64_t *);
/* integer or float; NaN and infinities refused */
int	proto_get_double(const msgpack_object *o, double *);
int	proto_get_bool(const msgpack_object *o, bool *);
/* true for nil and for NULL (absent) */
bool	proto_is_nil(const msgpack_object *o);
/* Value for a str key in a map; NULL if absent or o is not a map. */
const msgpack_object *proto_map_get(const msgpack_object *map, const char *key);
/* o is a str equal to s */
bool	proto_str_is(const msgpack_object *o, const char *s);

/*
 * Positional parameters: checks that params is an array of between min and
 * max elements, else PC_INVALID_PARAMS in e.  proto_param(params, i)
 * returns element i or NULL when absent (so optional params read as NULL;
 * treat nil like absent with proto_is_nil).
 */
int	proto_params_arity(const msgpack_object *params, uint32_t min,
	    uint32_t max, struct proto_error *e);
const msgpack_object *proto_param(const msgpack_object *params, uint32_t i);

/* ---- identifiers ----------------------------------------------------- */

/* 1..128 bytes of A-Z a-z 0-9 _ . : -, not starting with '.' */
bool	proto_valid_flow_id(const char *, size_t);
/* 1..128 bytes of printable ASCII without spaces */
bool	proto_valid_client_id(const char *, size_t);

#endif /* HELIX_PROTO_H */
