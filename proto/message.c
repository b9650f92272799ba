/*
 * message.c: MessagePack-RPC envelopes, the error map and its codes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proto/proto.h"

/* Indexed by enum proto_code; the names are the wire contract. */
static const char *const message_codes[PC__COUNT] = {
	[PC_OK] = NULL,
	[PC_INVALID_REQUEST] = "invalid_request",
	[PC_UNKNOWN_METHOD] = "unknown_method",
	[PC_INVALID_PARAMS] = "invalid_params",
	[PC_INVALID_FLOW_ID] = "invalid_flow_id",
	[PC_INVALID_OP] = "invalid_op",
	[PC_CONFLICT] = "conflict",
	[PC_NOT_JOINED] = "not_joined",
	[PC_MAX_CLIENTS_REACHED] = "max_clients_reached",
	[PC_MAX_SESSIONS_REACHED] = "max_sessions_reached",
	[PC_OVERLOADED] = "overloaded",
	[PC_TIMEOUT] = "timeout",
	[PC_SESSION_CRASHED] = "session_crashed",
	[PC_SESSION_FAILED] = "session_failed",
	[PC_STORAGE_ERROR] = "storage_error",
	[PC_STORAGE_FULL] = "storage_full",
	[PC_NOT_RUNNING] = "not_running",
	[PC_PERMISSION_DENIED] = "permission_denied",
	[PC_SHUTTING_DOWN] = "shutting_down",
	[PC_MESSAGE_TOO_LARGE] = "message_too_large",
	[PC_PROTOCOL_ERROR] = "protocol_error",
};

const char *
proto_code_name(enum proto_code code)
{
	if ((unsigned)code >= PC__COUNT)
		return NULL;
	return message_codes[code];
}

enum proto_code
proto_code_from_name(const char *name, size_t len)
{
	unsigned	 i;

	for (i = 0; i < PC__COUNT; i++) {
		if (message_codes[i] != NULL &&
		    strlen(message_codes[i]) == len &&
		    memcmp(message_codes[i], name, len) == 0)
			return i;
	}
	return PC__COUNT;
}

int
proto_error_set(struct proto_error *e, enum proto_code code,
    const char *fmt, ...)
{
	va_list	 ap;

	if (e == NULL)
		return -1;
	e->code = code;
	e->extra_key = NULL;
	e->extra_value = 0;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof e->message, fmt, ap);
	va_end(ap);
	return -1;
}

void
proto_error_extra(struct proto_error *e, const char *key, int64_t value)
{
	e->extra_key = key;
	e->extra_value = value;
}

/* Element i of an array as a uint32, for the msgid. */
static int
message_uint32(const msgpack_object *o, uint32_t i, uint32_t *v)
{
	const msgpack_object	*x;

	if (o->via.array.size <= i)
		return -1;
	x = &o->via.array.ptr[i];
	if (x->type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    x->via.u64 > UINT32_MAX)
		return -1;
	*v = (uint32_t)x->via.u64;
	return 0;
}

static int
message_method(const msgpack_object *method, const msgpack_object *params,
    struct proto_msg *m, struct proto_error *e)
{
	/*
	 * bin is accepted like str: older msgpack-rpc clients (pynvim's
	 * nvim_set_client_info, for one) send method names as raw bytes.
	 */
	if (method->type != MSGPACK_OBJECT_STR &&
	    method->type != MSGPACK_OBJECT_BIN)
		return proto_error_set(e, PC_INVALID_REQUEST,
		    "method must be a str");
	if (params->type != MSGPACK_OBJECT_ARRAY)
		return proto_error_set(e, PC_INVALID_REQUEST,
		    "params must be an array");
	/* msgpack-c leaves ptr NULL for an empty str. */
	if (method->type == MSGPACK_OBJECT_BIN) {
		m->method = method->via.bin.ptr != NULL ? method->via.bin.ptr : "";
		m->method_len = method->via.bin.size;
	} else {
		m->method = method->via.str.ptr != NULL ? method->via.str.ptr : "";
		m->method_len = method->via.str.size;
	}
	m->params = params;
	return 0;
}

int
proto_msg_parse(const msgpack_object *o, struct proto_msg *m,
    struct proto_error *e, bool *has_msgid)
{
	const msgpack_object	*a;
	uint32_t		 n;
	bool			 dummy;

	if (has_msgid == NULL)
		has_msgid = &dummy;
	*has_msgid = false;
	memset(m, 0, sizeof *m);

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size == 0)
		return proto_error_set(e, PC_INVALID_REQUEST,
		    "a message is an array");
	a = o->via.array.ptr;
	n = o->via.array.size;
	if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[0].via.u64 > 2) {
		/* [7, 12, ...]: well-formed, not a request, msgid readable */
		if (message_uint32(o, 1, &m->msgid) == 0)
			*has_msgid = true;
		return proto_error_set(e, PC_INVALID_REQUEST,
		    "message type must be 0, 1 or 2");
	}
	m->type = (enum proto_type)a[0].via.u64;

	/* A readable msgid earns an answer even when the rest is wrong. */
	if (m->type != PROTO_NOTIFY && message_uint32(o, 1, &m->msgid) == 0)
		*has_msgid = true;

	switch (m->type) {
	case PROTO_REQUEST:
		if (n != 4)
			return proto_error_set(e, PC_INVALID_REQUEST,
			    "a request is [0, msgid, method, params]");
		if (!*has_msgid)
			return proto_error_set(e, PC_INVALID_REQUEST,
			    "msgid must be a uint32");
		return message_method(&a[2], &a[3], m, e);
	case PROTO_RESPONSE:
		if (n != 4)
			return proto_error_set(e, PC_INVALID_REQUEST,
			    "a response is [1, msgid, error, result]");
		if (!*has_msgid)
			return proto_error_set(e, PC_INVALID_REQUEST,
			    "msgid must be a uint32");
		/* [1, id, nil, nil] is a nil result, as Neovim sends it. */
		if (a[2].type != MSGPACK_OBJECT_NIL &&
		    a[3].type != MSGPACK_OBJECT_NIL)
			return proto_error_set(e, PC_INVALID_REQUEST,
			    "a response has an error or a result, not both");
		m->error = &a[2];
		m->result = &a[3];
		return 0;
	case PROTO_NOTIFY:
		if (n != 3)
			return proto_error_set(e, PC_INVALID_REQUEST,
			    "a notification is [2, method, params]");
		return message_method(&a[1], &a[2], m, e);
	}
	return proto_error_set(e, PC_INVALID_REQUEST, "bad message type");
}

bool
proto_method_is(const struct proto_msg *m, const char *name)
{
	size_t	 len = strlen(name);

	return m->method != NULL && m->method_len == len &&
	    (len == 0 || memcmp(m->method, name, len) == 0);
}

void
proto_pack_str(msgpack_packer *pk, const char *s)
{
	proto_pack_strn(pk, s, strlen(s));
}

void
proto_pack_strn(msgpack_packer *pk, const char *s, size_t len)
{
	msgpack_pack_str(pk, len);
	msgpack_pack_str_body(pk, s, len);
}

void
proto_pack_key(msgpack_packer *pk, const char *key)
{
	proto_pack_str(pk, key);
}

void
proto_pack_request_begin(msgpack_packer *pk, uint32_t msgid,
    const char *method, uint32_t nparams)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, PROTO_REQUEST);
	msgpack_pack_uint32(pk, msgid);
	proto_pack_str(pk, method);
	msgpack_pack_array(pk, nparams);
}

void
proto_pack_notify_begin(msgpack_packer *pk, const char *method,
    uint32_t nparams)
{
	msgpack_pack_array(pk, 3);
	msgpack_pack_uint8(pk, PROTO_NOTIFY);
	proto_pack_str(pk, method);
	msgpack_pack_array(pk, nparams);
}

void
proto_pack_result_begin(msgpack_packer *pk, uint32_t msgid)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, PROTO_RESPONSE);
	msgpack_pack_uint32(pk, msgid);
	msgpack_pack_nil(pk);
}

void
proto_pack_error_map(msgpack_packer *pk, const struct proto_error *e)
{
	const char	*code;

	/* PC_OK or garbage here is our bug; still send a code clients know. */
	if ((code = proto_code_name(e->code)) == NULL)
		code = proto_code_name(PC_INVALID_REQUEST);
	msgpack_pack_map(pk, e->extra_key != NULL ? 3 : 2);
	proto_pack_key(pk, "code");
	proto_pack_str(pk, code);
	proto_pack_key(pk, "message");
	proto_pack_strn(pk, e->message, strnlen(e->message,
	    sizeof e->message));
	if (e->extra_key != NULL) {
		proto_pack_key(pk, e->extra_key);
		msgpack_pack_int64(pk, e->extra_value);
	}
}

void
proto_pack_error(msgpack_packer *pk, uint32_t msgid,
    const struct proto_error *e)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, PROTO_RESPONSE);
	msgpack_pack_uint32(pk, msgid);
	proto_pack_error_map(pk, e);
	msgpack_pack_nil(pk);
}
