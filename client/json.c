/*
 * json.c: the bridge between jansson values and MessagePack.
 *
 * helixctl and the tests speak JSON; helixd speaks MessagePack.  The two
 * models differ at the edges: MessagePack has uint64, bin, ext and
 * non-string map keys, JSON strings must be UTF-8 (jansson checks).  What
 * JSON cannot hold is refused with the place it was found, never guessed.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "client/helix-client.h"

/* Where in the value we are, for error messages: "$[1].node.data". */
struct json_walk {
	char	 path[160];
	size_t	 pathlen;
	char	*err;
	size_t	 errlen;
};

static int	 json_fail(struct json_walk *, const char *, ...)
		    __attribute__((format(printf, 2, 3)));
static size_t	 json_push_index(struct json_walk *, size_t);
static size_t	 json_push_key(struct json_walk *, const char *, size_t);
static void	 json_pop(struct json_walk *, size_t);
static int	 json_mp_encode(msgpack_packer *, const json_t *, unsigned,
		    struct json_walk *);
static json_t	*json_mp_decode(const msgpack_object *, unsigned,
		    struct json_walk *);

static void
json_walk_init(struct json_walk *w, char *err, size_t errlen)
{
	strcpy(w->path, "$");
	w->pathlen = 1;
	w->err = err;
	w->errlen = errlen;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
}

static int
json_fail(struct json_walk *w, const char *fmt, ...)
{
	va_list	ap;
	char	msg[192];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (w->err != NULL && w->errlen > 0)
		snprintf(w->err, w->errlen, "%s: %s", w->path, msg);
	return (-1);
}

/* Append to the path; returns the length to restore with json_pop. */
static size_t
json_push_index(struct json_walk *w, size_t i)
{
	size_t	old = w->pathlen;
	int	n;

	n = snprintf(w->path + old, sizeof w->path - old, "[%zu]", i);
	if (n > 0)
		w->pathlen += (size_t)n < sizeof w->path - old ?
		    (size_t)n : sizeof w->path - old - 1;
	return (old);
}

static size_t
json_push_key(struct json_walk *w, const char *key, size_t len)
{
	size_t	old = w->pathlen, i;
	char	*p = w->path + old, *end = w->path + sizeof w->path - 1;

	if (p < end)
		*p++ = '.';
	/* Keys come from the peer: show them, but never raw bytes. */
	for (i = 0; i < len && i < 40 && p < end; i++) {
		unsigned char ch = (unsigned char)key[i];
		*p++ = (ch >= 0x20 && ch < 0x7f) ? (char)ch : '?';
	}
	if (i < len && p + 3 <= end) {
		memcpy(p, "...", 3);
		p += 3;
	}
	*p = '\0';
	w->pathlen = (size_t)(p - w->path);
	return (old);
}

static void
json_pop(struct json_walk *w, size_t old)
{
	w->pathlen = old;
	w->path[old] = '\0';
}

int
hc_json_pack(msgpack_packer *pk, const json_t *j, char *err, size_t errlen)
{
	struct json_walk	w;

	json_walk_init(&w, err, errlen);
	if (j == NULL)
		return (json_fail(&w, "no value"));
	return (json_mp_encode(pk, j, 0, &w));
}

/* depth: how many containers enclose j. */
static int
json_mp_encode(msgpack_packer *pk, const json_t *j, unsigned depth,
    struct json_walk *w)
{
	json_t		*jj = (json_t *)j;	/* jansson's iterators are not const */
	void		*it;
	const char	*key;
	size_t		 i, klen, old;
	int		 rv = 0;

	switch (json_typeof(j)) {
	case JSON_OBJECT:
		if (depth >= HC_MAX_DEPTH)
			return (json_fail(w, "nested deeper than %d", HC_MAX_DEPTH));
		if (json_object_size(j) > UINT32_MAX)
			return (json_fail(w, "object too large"));
		rv = msgpack_pack_map(pk, json_object_size(j));
		for (it = json_object_iter(jj); rv == 0 && it != NULL;
		    it = json_object_iter_next(jj, it)) {
			key = json_object_iter_key(it);
#if JANSSON_VERSION_HEX >= 0x020e00
			klen = json_object_iter_key_len(it);
#else
			klen = strlen(key);
#endif
			rv = msgpack_pack_str(pk, klen);
			if (rv == 0)
				rv = msgpack_pack_str_body(pk, key, klen);
			if (rv != 0)
				break;
			old = json_push_key(w, key, klen);
			if (json_mp_encode(pk, json_object_iter_value(it),
			    depth + 1, w) == -1)
				return (-1);
			json_pop(w, old);
		}
		break;
	case JSON_ARRAY:
		if (depth >= HC_MAX_DEPTH)
			return (json_fail(w, "nested deeper than %d", HC_MAX_DEPTH));
		if (json_array_size(j) > UINT32_MAX)
			return (json_fail(w, "array too large"));
		rv = msgpack_pack_array(pk, json_array_size(j));
		for (i = 0; rv == 0 && i < json_array_size(j); i++) {
			old = json_push_index(w, i);
			if (json_mp_encode(pk, json_array_get(j, i), depth + 1,
			    w) == -1)
				return (-1);
			json_pop(w, old);
		}
		break;
	case JSON_STRING:
		if (json_string_length(j) > UINT32_MAX)
			return (json_fail(w, "string too long"));
		rv = msgpack_pack_str(pk, json_string_length(j));
		if (rv == 0)
			rv = msgpack_pack_str_body(pk, json_string_value(j),
			    json_string_length(j));
		break;
	case JSON_INTEGER:
		rv = msgpack_pack_int64(pk, json_integer_value(j));
		break;
	case JSON_REAL:
		rv = msgpack_pack_double(pk, json_real_value(j));
		break;
	case JSON_TRUE:
		rv = msgpack_pack_true(pk);
		break;
	case JSON_FALSE:
		rv = msgpack_pack_false(pk);
		break;
	case JSON_NULL:
		rv = msgpack_pack_nil(pk);
		break;
	default:
		return (json_fail(w, "unknown JSON type %d", (int)json_typeof(j)));
	}
	if (rv != 0)
		return (json_fail(w, "out of memory"));
	return (0);
}

json_t *
hc_msgpack_to_json(const msgpack_object *o, char *err, size_t errlen)
{
	struct json_walk	w;

	json_walk_init(&w, err, errlen);
	if (o == NULL) {
		json_fail(&w, "no value");
		return (NULL);
	}
	return (json_mp_decode(o, 0, &w));
}

static json_t *
json_mp_decode(const msgpack_object *o, unsigned depth, struct json_walk *w)
{
	const msgpack_object_kv	*kv;
	json_t			*j, *v;
	size_t			 i, old;

	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		j = json_null();
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		j = json_boolean(o->via.boolean);
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		/* JSON integers are int64 here: above that, a real it is. */
		if (o->via.u64 > INT64_MAX)
			j = json_real((double)o->via.u64);
		else
			j = json_integer((json_int_t)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		j = json_integer((json_int_t)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		if (!isfinite(o->via.f64)) {
			json_fail(w, "float is NaN or infinite");
			return (NULL);
		}
		j = json_real(o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		if (o->via.str.size == 0)
			j = json_string("");
		else if ((j = json_stringn(o->via.str.ptr,
		    o->via.str.size)) == NULL) {
			json_fail(w, "string is not valid UTF-8");
			return (NULL);
		}
		break;
	case MSGPACK_OBJECT_BIN:
		json_fail(w, "bin (%u bytes) has no JSON form",
		    (unsigned)o->via.bin.size);
		return (NULL);
	case MSGPACK_OBJECT_EXT:
		json_fail(w, "ext (type %d) has no JSON form",
		    (int)o->via.ext.type);
		return (NULL);
	case MSGPACK_OBJECT_ARRAY:
		if (depth >= HC_MAX_DEPTH) {
			json_fail(w, "nested deeper than %d", HC_MAX_DEPTH);
			return (NULL);
		}
		if ((j = json_array()) == NULL)
			break;
		for (i = 0; i < o->via.array.size; i++) {
			old = json_push_index(w, i);
			v = json_mp_decode(&o->via.array.ptr[i], depth + 1, w);
			if (v == NULL) {
				json_decref(j);
				return (NULL);
			}
			json_pop(w, old);
			if (json_array_append_new(j, v) == -1) {
				json_decref(j);
				j = NULL;
				break;
			}
		}
		break;
	case MSGPACK_OBJECT_MAP:
		if (depth >= HC_MAX_DEPTH) {
			json_fail(w, "nested deeper than %d", HC_MAX_DEPTH);
			return (NULL);
		}
		if ((j = json_object()) == NULL)
			break;
		for (i = 0; i < o->via.map.size; i++) {
			kv = &o->via.map.ptr[i];
			if (kv->key.type != MSGPACK_OBJECT_STR) {
				json_fail(w, "map key %zu is not a str", i);
				json_decref(j);
				return (NULL);
			}
			old = json_push_key(w, kv->key.via.str.ptr,
			    kv->key.via.str.size);
			v = json_mp_decode(&kv->val, depth + 1, w);
			if (v == NULL) {
				json_decref(j);
				return (NULL);
			}
			/* setn_new checks the key's UTF-8 and eats v on error. */
			if (json_object_setn_new(j, kv->key.via.str.size == 0 ?
			    "" : kv->key.via.str.ptr, kv->key.via.str.size,
			    v) == -1) {
				json_fail(w, "map key is not valid UTF-8");
				json_decref(j);
				return (NULL);
			}
			json_pop(w, old);
		}
		break;
	default:
		json_fail(w, "unknown MessagePack type %d", (int)o->type);
		return (NULL);
	}
	if (j == NULL)
		json_fail(w, "out of memory");
	return (j);
}
