/*
 * access.c: typed getters over decoded objects, and identifier checks.
 * A wrong type or range is an error for the caller to report, never a
 * crash: every object here came from a client.
 */
#include <math.h>
#include <string.h>

#include "proto/proto.h"

int
proto_get_str(const msgpack_object *o, const char **s, size_t *len)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_STR)
		return -1;
	/* msgpack-c leaves ptr NULL for an empty str. */
	*s = o->via.str.ptr != NULL ? o->via.str.ptr : "";
	*len = o->via.str.size;
	return 0;
}

int
proto_get_strbuf(const msgpack_object *o, char *buf, size_t size)
{
	const char	*s;
	size_t		 len;

	if (proto_get_str(o, &s, &len) == -1 || len >= size)
		return -1;
	/* A NUL inside would silently cut the C string short. */
	if (len > 0 && memchr(s, '\0', len) != NULL)
		return -1;
	if (len > 0)
		memcpy(buf, s, len);
	buf[len] = '\0';
	return 0;
}

int
proto_get_uint(const msgpack_object *o, uint64_t *v)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		return -1;
	*v = o->via.u64;
	return 0;
}

int
proto_get_int(const msgpack_object *o, int64_t *v)
{
	if (o == NULL)
		return -1;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		if (o->via.u64 > INT64_MAX)
			return -1;
		*v = (int64_t)o->via.u64;
		return 0;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		*v = o->via.i64;
		return 0;
	default:
		return -1;
	}
}

int
proto_get_double(const msgpack_object *o, double *v)
{
	double	 d;

	if (o == NULL)
		return -1;
	switch (o->type) {
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		d = (double)o->via.u64;
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		d = (double)o->via.i64;
		break;
	case MSGPACK_OBJECT_FLOAT32:	/* msgpack-c widens it into f64 */
	case MSGPACK_OBJECT_FLOAT64:
		d = o->via.f64;
		break;
	default:
		return -1;
	}
	if (!isfinite(d))
		return -1;
	*v = d;
	return 0;
}

int
proto_get_bool(const msgpack_object *o, bool *v)
{
	if (o == NULL || o->type != MSGPACK_OBJECT_BOOLEAN)
		return -1;
	*v = o->via.boolean;
	return 0;
}

bool
proto_is_nil(const msgpack_object *o)
{
	/* Absent counts as nil: optional params read either way. */
	return o == NULL || o->type == MSGPACK_OBJECT_NIL;
}

bool
proto_str_is(const msgpack_object *o, const char *s)
{
	size_t	 len = strlen(s);

	return o != NULL && o->type == MSGPACK_OBJECT_STR &&
	    o->via.str.size == len &&
	    (len == 0 || memcmp(o->via.str.ptr, s, len) == 0);
}

const msgpack_object *
proto_map_get(const msgpack_object *map, const char *key)
{
	uint32_t	 i;

	if (map == NULL || map->type != MSGPACK_OBJECT_MAP)
		return NULL;
	for (i = 0; i < map->via.map.size; i++) {
		if (proto_str_is(&map->via.map.ptr[i].key, key))
			return &map->via.map.ptr[i].val;
	}
	return NULL;
}

int
proto_params_arity(const msgpack_object *params, uint32_t min, uint32_t max,
    struct proto_error *e)
{
	uint32_t	 n;

	if (params == NULL || params->type != MSGPACK_OBJECT_ARRAY)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "params must be an array");
	n = params->via.array.size;
	if (n >= min && n <= max)
		return 0;
	if (min == max)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "expected %u param%s, got %u", min, min == 1 ? "" : "s",
		    n);
	return proto_error_set(e, PC_INVALID_PARAMS,
	    "expected %u to %u params, got %u", min, max, n);
}

const msgpack_object *
proto_param(const msgpack_object *params, uint32_t i)
{
	if (params == NULL || params->type != MSGPACK_OBJECT_ARRAY ||
	    i >= params->via.array.size)
		return NULL;
	return &params->via.array.ptr[i];
}

bool
proto_valid_flow_id(const char *s, size_t len)
{
	size_t	 i;
	char	 c;

	/* A leading dot would make hidden or relative names on disk. */
	if (len < 1 || len > PROTO_FLOW_ID_MAX || s[0] == '.')
		return false;
	for (i = 0; i < len; i++) {
		c = s[i];
		if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' ||
		    c == ':' || c == '-')
			continue;
		return false;
	}
	return true;
}

bool
proto_valid_client_id(const char *s, size_t len)
{
	size_t	 i;

	if (len < 1 || len > PROTO_CLIENT_ID_MAX)
		return false;
	for (i = 0; i < len; i++) {
		if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
			return false;
	}
	return true;
}
