/*
 * test_client.c: libhelix-client without a daemon.
 *
 * Two parts: JSON <-> MessagePack conversions (table-driven), and the
 * client against a fake server.  The fake is a forked child on a private
 * Unix socket that answers from a script keyed by method name; it decodes
 * with plain msgpack-c rather than proto, so client and fake share no code
 * that could hide a bug on both sides.  The fake never asserts: a broken
 * request makes it exit non-zero, which fake_stop reports.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "client/helix-client.h"

/* ---- helpers --------------------------------------------------------- */

static json_t *
load(const char *text)
{
	json_error_t	 e;
	json_t		*j;

	j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
	ck_assert_msg(j != NULL, "bad test JSON %s: %s", text, e.text);
	return j;
}

static void
check_json(const json_t *got, const char *want_text)
{
	json_t	*want = load(want_text);
	char	*g;

	if (got == NULL || !json_equal((json_t *)got, want)) {
		g = got == NULL ? NULL : json_dumps(got, JSON_ENCODE_ANY);
		ck_abort_msg("got %s, want %s", g != NULL ? g : "NULL",
		    want_text);
	}
	json_decref(want);
}

/* Unpack a whole buffer into one object; zone kept in *u. */
static const msgpack_object *
unpack(msgpack_unpacked *u, const char *buf, size_t len)
{
	size_t	off = 0;

	msgpack_unpacked_init(u);
	ck_assert_int_eq(msgpack_unpack_next(u, buf, len, &off),
	    MSGPACK_UNPACK_SUCCESS);
	ck_assert_uint_eq(off, len);
	return &u->data;
}

/* ---- JSON <-> MessagePack -------------------------------------------- */

static const char *roundtrip_cases[] = {
	"null", "true", "false", "0", "-1", "127", "128", "-32", "-33",
	"255", "65536", "4294967296", "9223372036854775807",
	"-9223372036854775808", "1.5", "-0.25", "1e300", "0.0",
	"\"\"", "\"h\\u00e9llo \\u2603\"", "\"a\\u0000b\"", "[]", "{}",
	"[1,[2,[3,[]]]]", "{\"a\":{\"b\":[1,2.5,\"x\",null,true,false]}}",
	"{\"\":1, \"key\": [{}]}",
	("[\"f1\", [{\"op\":\"add_node\",\"node\":{\"id\":\"n1\",\"type\":"
	    "\"t\",\"x\":1,\"y\":2.5,\"data\":{\"k\":[1,{\"z\":null}]}}}]]"),
};

START_TEST(test_json_roundtrip)
{
	const char		*text = roundtrip_cases[_i];
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	msgpack_unpacked	 u;
	json_t			*in, *out;
	char			 err[256];

	in = load(text);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ck_assert_msg(hc_json_pack(&pk, in, err, sizeof err) == 0,
	    "pack %s: %s", text, err);
	out = hc_msgpack_to_json(unpack(&u, sb.data, sb.size), err,
	    sizeof err);
	ck_assert_msg(out != NULL, "unpack %s: %s", text, err);
	check_json(out, text);
	/* Integers stay integers, reals stay reals. */
	ck_assert_int_eq(json_typeof(out), json_typeof(in));
	json_decref(in);
	json_decref(out);
	msgpack_unpacked_destroy(&u);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

static const struct {
	const char	*json;
	const char	*bytes;
	size_t		 len;
} encoding_cases[] = {
	{ "1", "\x01", 1 },
	{ "-1", "\xff", 1 },
	{ "300", "\xcd\x01\x2c", 3 },
	{ "-200", "\xd1\xff\x38", 3 },
	{ "1.5", "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", 9 },
	{ "\"a\"", "\xa1" "a", 2 },
	{ "null", "\xc0", 1 },
	{ "true", "\xc3", 1 },
	{ "[false]", "\x91\xc2", 2 },
	{ "{\"a\":null}", "\x81\xa1" "a\xc0", 4 },
	{ "{\"b\":1,\"a\":2}", "\x82\xa1" "b\x01\xa1" "a\x02", 7 },
};

START_TEST(test_json_encoding)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	json_t		*in = load(encoding_cases[_i].json);
	char		 err[256];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	ck_assert_int_eq(hc_json_pack(&pk, in, err, sizeof err), 0);
	ck_assert_msg(sb.size == encoding_cases[_i].len &&
	    memcmp(sb.data, encoding_cases[_i].bytes, sb.size) == 0,
	    "%s: got %zu bytes, want %zu", encoding_cases[_i].json, sb.size,
	    encoding_cases[_i].len);
	json_decref(in);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* MessagePack that JSON cannot hold, and what we make of it. */
static const struct {
	const char	*name;
	const char	*bytes;
	size_t		 len;
	const char	*want;		/* JSON, or NULL: refused */
	const char	*err;		/* substring of the error */
} decode_cases[] = {
	{ "uint64 max", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9,
	    "18446744073709551615.0", NULL },
	{ "int64 max as uint64", "\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", 9,
	    "9223372036854775807", NULL },
	{ "int8 positive", "\xd0\x05", 2, "5", NULL },
	{ "float32", "\xca\x3f\xc0\x00\x00", 5, "1.5", NULL },
	{ "str8", "\xd9\x02hi", 4, "\"hi\"", NULL },
	{ "repeated key", "\x82\xa1k\x01\xa1k\x02", 7, "{\"k\":2}", NULL },
	{ "nil result", "\x92\xc0\xc0", 3, "[null,null]", NULL },
	{ "bin", "\x92\x01\xc4\x01x", 5, NULL, "$[1]: bin" },
	{ "ext", "\xd4\x05\x00", 3, NULL, "ext (type 5)" },
	{ "int key", "\x81\x01\x02", 3, NULL, "not a str" },
	{ "bad UTF-8", "\x81\xa1k\x92\x01\xa2\xff\xfe", 8, NULL,
	    "$.k[1]: string is not valid UTF-8" },
	{ "bad UTF-8 key", "\x81\xa2\xc3\x28\x01", 5, NULL,
	    "map key is not valid UTF-8" },
	{ "NaN", "\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00", 9, NULL, "NaN" },
	{ "infinity", "\xca\x7f\x80\x00\x00", 5, NULL, "infinite" },
};

START_TEST(test_json_decode)
{
	msgpack_unpacked	 u;
	json_t			*j;
	char			 err[256] = "";

	j = hc_msgpack_to_json(unpack(&u, decode_cases[_i].bytes,
	    decode_cases[_i].len), err, sizeof err);
	if (decode_cases[_i].want != NULL) {
		ck_assert_msg(j != NULL, "%s: %s", decode_cases[_i].name, err);
		check_json(j, decode_cases[_i].want);
	} else {
		ck_assert_msg(j == NULL, "%s: accepted", decode_cases[_i].name);
		ck_assert_msg(strstr(err, decode_cases[_i].err) != NULL,
		    "%s: got error \"%s\", want \"%s\"", decode_cases[_i].name,
		    err, decode_cases[_i].err);
	}
	json_decref(j);
	msgpack_unpacked_destroy(&u);
}
END_TEST

START_TEST(test_json_depth)
{
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	msgpack_unpacked	 u;
	json_t			*j, *inner, *out;
	char			 err[256];
	int			 i, rv;

	/* HC_MAX_DEPTH containers pass both ways, one more is refused. */
	for (int depth = HC_MAX_DEPTH; depth <= HC_MAX_DEPTH + 1; depth++) {
		j = json_array();
		for (i = 1; i < depth; i++) {
			inner = json_array();
			json_array_append_new(inner, j);
			j = inner;
		}
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		rv = hc_json_pack(&pk, j, err, sizeof err);
		if (depth <= HC_MAX_DEPTH) {
			ck_assert_msg(rv == 0, "depth %d: %s", depth, err);
			out = hc_msgpack_to_json(unpack(&u, sb.data, sb.size),
			    err, sizeof err);
			ck_assert_msg(out != NULL, "depth %d: %s", depth, err);
			json_decref(out);
			msgpack_unpacked_destroy(&u);
		} else {
			ck_assert_int_eq(rv, -1);
			ck_assert_msg(strstr(err, "deeper") != NULL, "%s", err);
		}
		json_decref(j);
		msgpack_sbuffer_destroy(&sb);
	}

	/* And the decoder on its own, with an object built by hand. */
	{
		msgpack_object	o[HC_MAX_DEPTH + 2];

		for (i = 0; i < HC_MAX_DEPTH + 2; i++) {
			o[i].type = MSGPACK_OBJECT_ARRAY;
			o[i].via.array.size = i + 1 < HC_MAX_DEPTH + 2;
			o[i].via.array.ptr = i + 1 < HC_MAX_DEPTH + 2 ?
			    &o[i + 1] : NULL;
		}
		ck_assert_ptr_null(hc_msgpack_to_json(&o[0], err, sizeof err));
		ck_assert_msg(strstr(err, "deeper") != NULL, "%s", err);
		out = hc_msgpack_to_json(&o[2], err, sizeof err);
		ck_assert_msg(out != NULL, "%s", err);
		json_decref(out);
	}
}
END_TEST

/* ---- the fake server ------------------------------------------------- */

struct fake {
	pid_t	pid;
	char	dir[64];
	char	path[128];
};

/* A request held back by "reverse", to be answered later. */
static msgpack_sbuffer	 srv_held[4096];
static size_t		 srv_nheld, srv_want;
static uint64_t		 srv_reverse_id;

static void
srv_write(int fd, const void *buf, size_t len)
{
	const char	*p = buf;
	ssize_t		 n;

	while (len > 0) {
		if ((n = write(fd, p, len)) == -1) {
			if (errno == EINTR)
				continue;
			_exit(0);	/* the client went away */
		}
		p += n;
		len -= (size_t)n;
	}
}

static void
srv_flush(int fd, msgpack_sbuffer *sb)
{
	srv_write(fd, sb->data, sb->size);
	msgpack_sbuffer_clear(sb);
}

static void
srv_str(msgpack_packer *pk, const char *s)
{
	msgpack_pack_str(pk, strlen(s));
	msgpack_pack_str_body(pk, s, strlen(s));
}

static void
srv_result(msgpack_packer *pk, uint64_t id)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, 1);
	msgpack_pack_uint64(pk, id);
	msgpack_pack_nil(pk);
}

static void
srv_notify(msgpack_packer *pk, const char *method, uint32_t n)
{
	msgpack_pack_array(pk, 3);
	msgpack_pack_uint8(pk, 2);
	srv_str(pk, method);
	msgpack_pack_array(pk, n);
}

static void
srv_error(msgpack_packer *pk, uint64_t id, const char *code,
    const char *message)
{
	msgpack_pack_array(pk, 4);
	msgpack_pack_uint8(pk, 1);
	msgpack_pack_uint64(pk, id);
	msgpack_pack_map(pk, 3);
	srv_str(pk, "code");
	srv_str(pk, code);
	srv_str(pk, "message");
	srv_str(pk, message);
	srv_str(pk, "index");
	msgpack_pack_int(pk, 2);
	msgpack_pack_nil(pk);
}

static int64_t
srv_int(const msgpack_object *params, uint32_t i)
{
	if (params->via.array.size <= i ||
	    params->via.array.ptr[i].type != MSGPACK_OBJECT_POSITIVE_INTEGER)
		_exit(5);
	return (int64_t)params->via.array.ptr[i].via.u64;
}

static void
srv_one(int fd, const msgpack_object *o)
{
	const msgpack_object	*a, *params;
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	char			 m[64], hex[3], *bytes;
	const char		*s;
	uint64_t		 id;
	int64_t			 i, n;
	size_t			 len;

	if (o->type != MSGPACK_OBJECT_ARRAY || o->via.array.size != 4)
		_exit(4);
	a = o->via.array.ptr;
	if (a[0].type != MSGPACK_OBJECT_POSITIVE_INTEGER || a[0].via.u64 != 0 ||
	    a[1].type != MSGPACK_OBJECT_POSITIVE_INTEGER ||
	    a[1].via.u64 > UINT32_MAX || a[2].type != MSGPACK_OBJECT_STR ||
	    a[2].via.str.size >= sizeof m || a[3].type != MSGPACK_OBJECT_ARRAY)
		_exit(4);
	id = a[1].via.u64;
	memcpy(m, a[2].via.str.ptr, a[2].via.str.size);
	m[a[2].via.str.size] = '\0';
	params = &a[3];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	if (srv_want > 0 && strcmp(m, "echo") == 0) {
		msgpack_sbuffer_init(&srv_held[srv_nheld]);
		msgpack_packer_init(&pk, &srv_held[srv_nheld],
		    msgpack_sbuffer_write);
		srv_result(&pk, id);
		msgpack_pack_object(&pk, *params);
		srv_nheld++;
		if (--srv_want == 0) {
			while (srv_nheld > 0) {
				srv_nheld--;
				srv_flush(fd, &srv_held[srv_nheld]);
				msgpack_sbuffer_destroy(&srv_held[srv_nheld]);
			}
			msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
			srv_result(&pk, srv_reverse_id);
			srv_str(&pk, "reversed");
		}
	} else if (strcmp(m, "echo") == 0) {
		srv_result(&pk, id);
		msgpack_pack_object(&pk, *params);
	} else if (strcmp(m, "reverse") == 0) {
		/* Hold the next n echoes, then answer them last first. */
		srv_want = (size_t)srv_int(params, 0);
		if (srv_want > sizeof srv_held / sizeof srv_held[0])
			_exit(6);
		srv_reverse_id = id;
	} else if (strcmp(m, "error") == 0) {
		srv_error(&pk, id, "invalid_op", "op 2 is bad");
	} else if (strcmp(m, "notify") == 0 || strcmp(m, "notify_after") == 0) {
		n = srv_int(params, 0);
		if (strcmp(m, "notify_after") == 0) {
			srv_result(&pk, id);
			msgpack_pack_int64(&pk, n);
		}
		for (i = 0; i < n; i++) {
			srv_notify(&pk, "test.note", 1);
			msgpack_pack_int64(&pk, i);
		}
		if (strcmp(m, "notify") == 0) {
			srv_result(&pk, id);
			msgpack_pack_int64(&pk, n);
		}
	} else if (strcmp(m, "late") == 0) {
		usleep((useconds_t)srv_int(params, 0) * 1000);
		srv_result(&pk, id);
		srv_str(&pk, "late");
	} else if (strcmp(m, "silent") == 0) {
		;
	} else if (strcmp(m, "close") == 0) {
		close(fd);
		_exit(0);
	} else if (strcmp(m, "syserror") == 0) {
		srv_notify(&pk, "sys.error", 1);
		msgpack_pack_map(&pk, 2);
		srv_str(&pk, "code");
		srv_str(&pk, "protocol_error");
		srv_str(&pk, "message");
		srv_str(&pk, "not MessagePack");
		srv_flush(fd, &sb);
		close(fd);
		_exit(0);
	} else if (strcmp(m, "raw") == 0) {
		/* params[0]: hex of the bytes to send instead of an answer */
		if (params->via.array.size != 1 ||
		    params->via.array.ptr[0].type != MSGPACK_OBJECT_STR)
			_exit(5);
		s = params->via.array.ptr[0].via.str.ptr;
		len = params->via.array.ptr[0].via.str.size / 2;
		if ((bytes = malloc(len + 1)) == NULL)
			_exit(7);
		for (size_t k = 0; k < len; k++) {
			memcpy(hex, s + 2 * k, 2);
			hex[2] = '\0';
			bytes[k] = (char)strtoul(hex, NULL, 16);
		}
		srv_write(fd, bytes, len);
		free(bytes);
	} else if (strcmp(m, "badutf8") == 0) {
		srv_result(&pk, id);
		msgpack_pack_array(&pk, 2);
		srv_str(&pk, "ok");
		msgpack_pack_str(&pk, 2);
		msgpack_pack_str_body(&pk, "\xff\xfe", 2);
	} else if (strcmp(m, "bin") == 0) {
		srv_result(&pk, id);
		msgpack_pack_bin(&pk, 3);
		msgpack_pack_bin_body(&pk, "abc", 3);
	} else if (strcmp(m, "numbers") == 0) {
		srv_result(&pk, id);
		msgpack_pack_array(&pk, 3);
		msgpack_pack_uint64(&pk, UINT64_MAX);
		msgpack_pack_int64(&pk, INT64_MIN);
		msgpack_pack_float(&pk, 1.5f);
	} else if (strcmp(m, "badnotify") == 0) {
		srv_notify(&pk, "test.bad", 1);
		msgpack_pack_bin(&pk, 1);
		msgpack_pack_bin_body(&pk, "x", 1);
		srv_result(&pk, id);
		srv_str(&pk, "ok");
	} else if (strcmp(m, "request") == 0) {
		/* A request to the client: it must ignore it. */
		msgpack_pack_array(&pk, 4);
		msgpack_pack_uint8(&pk, 0);
		msgpack_pack_uint32(&pk, 9);
		srv_str(&pk, "client.method");
		msgpack_pack_array(&pk, 0);
		srv_result(&pk, id);
		srv_str(&pk, "ok");
	} else if (strcmp(m, "dupe") == 0) {
		srv_result(&pk, id);
		srv_str(&pk, "one");
		srv_result(&pk, id);
		srv_str(&pk, "two");
	} else if (strcmp(m, "stray") == 0) {
		srv_result(&pk, 999999);
		srv_str(&pk, "stray");
		srv_result(&pk, id);
		srv_str(&pk, "ok");
	} else if (strcmp(m, "flood") == 0) {
		/*
		 * Answer, then write n bytes of notifications without
		 * reading: a client that does not read while it writes
		 * deadlocks here.
		 */
		char	pad[1000];

		n = srv_int(params, 0);
		srv_result(&pk, id);
		msgpack_pack_true(&pk);
		srv_flush(fd, &sb);
		memset(pad, 'x', sizeof pad);
		for (i = 0; i * (int64_t)sizeof pad < n; i++) {
			srv_notify(&pk, "test.flood", 2);
			msgpack_pack_int64(&pk, i);
			msgpack_pack_str(&pk, sizeof pad);
			msgpack_pack_str_body(&pk, pad, sizeof pad);
			if (sb.size > 65536)
				srv_flush(fd, &sb);
		}
	} else {
		srv_error(&pk, id, "unknown_method", m);
	}
	srv_flush(fd, &sb);
	msgpack_sbuffer_destroy(&sb);
}

static void
serve_script(int fd)
{
	msgpack_unpacker	up;
	msgpack_unpacked	res;
	msgpack_unpack_return	ret;
	ssize_t			n;

	msgpack_unpacker_init(&up, 65536);
	msgpack_unpacked_init(&res);
	for (;;) {
		msgpack_unpacker_reserve_buffer(&up, 65536);
		n = read(fd, msgpack_unpacker_buffer(&up),
		    msgpack_unpacker_buffer_capacity(&up));
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0);
		msgpack_unpacker_buffer_consumed(&up, (size_t)n);
		while ((ret = msgpack_unpacker_next(&up, &res)) ==
		    MSGPACK_UNPACK_SUCCESS)
			srv_one(fd, &res.data);
		if (ret != MSGPACK_UNPACK_CONTINUE)
			_exit(3);
	}
}

/*
 * Like helixd with a request over max_message_bytes: answer
 * message_too_large from the first bytes, then hang up unread.
 */
static void
serve_too_large(int fd)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	unsigned char	 b[16];
	size_t		 got = 0;
	ssize_t		 n;

	while (got < sizeof b) {
		if ((n = read(fd, b + got, sizeof b - got)) <= 0)
			_exit(8);
		got += (size_t)n;
	}
	/* [0, msgid, ...]: 0x94 0x00, then a positive fixint msgid */
	if (b[0] != 0x94 || b[1] != 0x00 || b[2] > 0x7f)
		_exit(9);
	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	srv_error(&pk, b[2], "message_too_large", "request too large");
	srv_flush(fd, &sb);
	close(fd);
	_exit(0);
}

static void
fake_start(struct fake *f, void (*serve)(int))
{
	struct sockaddr_un	sun;
	int			lfd, cfd;

	snprintf(f->dir, sizeof f->dir, "/tmp/hc-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/helixd.sock", f->dir);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	strcpy(sun.sun_path, f->path);
	ck_assert_int_ne(lfd = socket(AF_UNIX, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sun, sizeof sun), 0);
	ck_assert_int_eq(listen(lfd, 4), 0);
	ck_assert_int_ne(f->pid = fork(), -1);
	if (f->pid == 0) {
		signal(SIGPIPE, SIG_IGN);
		if ((cfd = accept(lfd, NULL, NULL)) == -1)
			_exit(2);
		close(lfd);
		serve(cfd);
		_exit(0);
	}
	close(lfd);
}

/* Reap the fake (after the client closed); its exit status. */
static int
fake_stop(struct fake *f)
{
	int	st = 0, i;

	for (i = 0; i < 1000; i++) {
		if (waitpid(f->pid, &st, WNOHANG) == f->pid)
			break;
		usleep(10000);
	}
	if (i == 1000) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, &st, 0);
	}
	unlink(f->path);
	rmdir(f->dir);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static struct hc_client *
fake_connect(struct fake *f)
{
	struct hc_client	*c;
	char			 err[256];

	c = hc_connect(f->path, err, sizeof err);
	ck_assert_msg(c != NULL, "connect: %s", err);
	return c;
}

static void
finish(struct fake *f, struct hc_client *c)
{
	hc_close(c);
	ck_assert_int_eq(fake_stop(f), 0);
}

#define CALL(c, m, p, r) hc_call_text((c), (m), (p), 5000, (r))

/* ---- the client ------------------------------------------------------ */

START_TEST(test_default_socket)
{
	char		 buf[512], dir[64], want[512], tmpsock[128];
	struct stat	 sb;
	int		 fd;

	setenv("HELIX_SOCKET", "/nowhere/x.sock", 1);
	ck_assert_int_eq(hc_default_socket(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, "/nowhere/x.sock");
	ck_assert_int_eq(hc_default_socket(buf, 4), -1);

	/* Unset or empty: the chain, first that exists, else the first. */
	setenv("HELIX_SOCKET", "", 1);
	snprintf(dir, sizeof dir, "/tmp/hc-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
	setenv("XDG_RUNTIME_DIR", dir, 1);
	snprintf(tmpsock, sizeof tmpsock, "/tmp/helix-%lu/helixd.sock",
	    (unsigned long)getuid());
	if (stat(tmpsock, &sb) == 0)
		snprintf(want, sizeof want, "%s", tmpsock);
	else if (stat("/run/helix/helixd.sock", &sb) == 0)
		snprintf(want, sizeof want, "/run/helix/helixd.sock");
	else
		snprintf(want, sizeof want, "%s/helix/helixd.sock", dir);
	ck_assert_int_eq(hc_default_socket(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, want);

	snprintf(want, sizeof want, "%s/helix", dir);
	ck_assert_int_eq(mkdir(want, 0700), 0);
	snprintf(want, sizeof want, "%s/helix/helixd.sock", dir);
	ck_assert_int_ne(fd = open(want, O_CREAT | O_WRONLY, 0600), -1);
	close(fd);
	ck_assert_int_eq(hc_default_socket(buf, sizeof buf), 0);
	ck_assert_str_eq(buf, want);
	unlink(want);
	snprintf(want, sizeof want, "%s/helix", dir);
	rmdir(want);
	rmdir(dir);

	unsetenv("HELIX_SOCKET");
	unsetenv("XDG_RUNTIME_DIR");
	ck_assert_int_eq(hc_default_socket(buf, sizeof buf), 0);
	if (stat(tmpsock, &sb) != 0 &&
	    stat("/run/helix/helixd.sock", &sb) == 0)
		ck_assert_str_eq(buf, "/run/helix/helixd.sock");
	else
		ck_assert_str_eq(buf, tmpsock);
}
END_TEST

START_TEST(test_connect_fail)
{
	char	err[256], path[300];

	ck_assert_ptr_null(hc_connect("/nonexistent/helixd.sock", err,
	    sizeof err));
	ck_assert_msg(strstr(err, "/nonexistent/helixd.sock") != NULL &&
	    strstr(err, "No such file") != NULL, "got \"%s\"", err);

	memset(path, 'a', sizeof path - 1);
	path[0] = '/';
	path[sizeof path - 1] = '\0';
	ck_assert_ptr_null(hc_connect(path, err, sizeof err));
	ck_assert_msg(strstr(err, "too long") != NULL, "got \"%s\"", err);

	/* NULL path: the default, which the error names. */
	setenv("HELIX_SOCKET", "/nonexistent/env.sock", 1);
	ck_assert_ptr_null(hc_connect(NULL, err, sizeof err));
	ck_assert_msg(strstr(err, "/nonexistent/env.sock") != NULL,
	    "got \"%s\"", err);
	hc_close(NULL);
}
END_TEST

START_TEST(test_call)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	json_t			*p;

	fake_start(&f, serve_script);
	setenv("HELIX_SOCKET", f.path, 1);
	c = hc_connect(NULL, NULL, 0);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_ge(hc_fd(c), 0);

	ck_assert_int_eq(CALL(c, "echo",
	    "[1, \"two\", {\"three\": 3.5}, null, [true], -7]", &r), HC_OK);
	ck_assert(!r.is_error);
	ck_assert_str_eq(r.code, "");
	check_json(r.value, "[1, \"two\", {\"three\": 3.5}, null, [true], -7]");
	hc_result_clear(&r);
	ck_assert_ptr_null(r.value);

	/* NULL params are [] */
	ck_assert_int_eq(hc_call(c, "echo", NULL, 5000, &r), HC_OK);
	check_json(r.value, "[]");
	hc_result_clear(&r);
	ck_assert_int_eq(CALL(c, "echo", NULL, &r), HC_OK);
	check_json(r.value, "[]");
	hc_result_clear(&r);

	p = load("[\"f1\", [{\"op\": \"set_meta\", \"title\": \"t\"}]]");
	ck_assert_int_eq(hc_call(c, "echo", p, 5000, &r), HC_OK);
	ck_assert(json_equal(r.value, p));
	hc_result_clear(&r);
	json_decref(p);

	/* A NULL result struct is allowed. */
	ck_assert_int_eq(CALL(c, "echo", "[1]", NULL), HC_OK);
	ck_assert_int_eq(CALL(c, "error", "[]", NULL), HC_ERROR);
	ck_assert_str_eq(hc_last_error(c), "");
	finish(&f, c);
}
END_TEST

START_TEST(test_error_answer)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;

	fake_start(&f, serve_script);
	c = fake_connect(&f);
	ck_assert_int_eq(CALL(c, "error", "[]", &r), HC_ERROR);
	ck_assert(r.is_error);
	ck_assert_str_eq(r.code, "invalid_op");
	ck_assert_str_eq(r.message, "op 2 is bad");
	check_json(r.value, "{\"code\": \"invalid_op\", \"message\":"
	    " \"op 2 is bad\", \"index\": 2}");
	hc_result_clear(&r);

	/* The connection carries on after an error answer. */
	ck_assert_int_eq(CALL(c, "echo", "[2]", &r), HC_OK);
	hc_result_clear(&r);
	finish(&f, c);
}
END_TEST

#define NPIPE	2000

START_TEST(test_pipeline_reverse)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	uint32_t		 ids[NPIPE], rid;
	json_t			*p;
	int			 i;

	fake_start(&f, serve_script);
	c = fake_connect(&f);
	p = json_pack("[i]", NPIPE);
	ck_assert_int_eq(hc_send(c, "reverse", p, &rid), HC_OK);
	json_decref(p);
	for (i = 0; i < NPIPE; i++) {
		p = json_pack("[i, s]", i, "pipelined");
		ck_assert_int_eq(hc_send(c, "echo", p, &ids[i]), HC_OK);
		ck_assert_uint_ne(ids[i], 0);
		if (i > 0)
			ck_assert_uint_eq(ids[i], ids[i - 1] + 1);
		json_decref(p);
	}
	/* The server answers the last first: all but one wait in store. */
	for (i = 0; i < NPIPE; i++) {
		ck_assert_int_eq(hc_wait(c, ids[i], 10000, &r), HC_OK);
		ck_assert_int_eq(json_integer_value(json_array_get(r.value, 0)),
		    i);
		hc_result_clear(&r);
	}
	ck_assert_int_eq(hc_wait(c, rid, 10000, &r), HC_OK);
	check_json(r.value, "\"reversed\"");
	hc_result_clear(&r);
	finish(&f, c);
}
END_TEST

START_TEST(test_pipeline_wait_backwards)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	uint32_t		 ids[NPIPE];
	json_t			*p;
	int			 i;

	fake_start(&f, serve_script);
	c = fake_connect(&f);
	for (i = 0; i < NPIPE; i++) {
		p = json_pack("[i]", i);
		ck_assert_int_eq(hc_send(c, "echo", p, &ids[i]), HC_OK);
		json_decref(p);
	}
	for (i = NPIPE - 1; i >= 0; i--) {
		ck_assert_int_eq(hc_wait(c, ids[i], 10000, &r), HC_OK);
		ck_assert_int_eq(json_integer_value(json_array_get(r.value, 0)),
		    i);
		hc_result_clear(&r);
	}
	/* Each answer is handed out once. */
	ck_assert_int_eq(hc_wait(c, ids[0], 0, &r), HC_ETIMEDOUT);
	finish(&f, c);
}
END_TEST

START_TEST(test_notify_queue)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	char			*method;
	json_t			*params;
	int			 i;

	fake_start(&f, serve_script);
	c = fake_connect(&f);
	ck_assert_int_eq(CALL(c, "notify", "[3]", &r), HC_OK);
	hc_result_clear(&r);
	ck_assert_uint_eq(hc_pending_notifies(c), 3);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(hc_next_notify(c, 0, &method, &params), HC_OK);
		ck_assert_str_eq(method, "test.note");
		ck_assert_int_eq(json_integer_value(json_array_get(params, 0)),
		    i);
		free(method);
		json_decref(params);
	}
	ck_assert_int_eq(hc_next_notify(c, 50, &method, &params),
	    HC_ETIMEDOUT);
	ck_assert_ptr_null(method);
	ck_assert_ptr_null(params);

	/*
	 * hc_wait stops at its answer: what the server sent after it is
	 * not dispatched yet, so the queue holds what came before it.
	 */
	ck_assert_int_eq(CALL(c, "notify_after", "[4]", &r), HC_OK);
	hc_result_clear(&r);
	ck_assert_uint_eq(hc_pending_notifies(c), 0);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(hc_next_notify(c, 5000, &method, NULL), HC_OK);
		free(method);
	}
	ck_assert_uint_eq(hc_pending_notifies(c), 0);
	finish(&f, c);
}
END_TEST

struct seen {
	struct hc_client	*c;
	int			 n;
	int64_t			 v[16];
};

static void
note_cb(void *arg, const char *method, const json_t *params)
{
	struct seen		*s = arg;
	struct hc_result	 r;

	ck_assert_str_eq(method, "test.note");
	if (s->n < 16)
		s->v[s->n] = json_integer_value(json_array_get(params, 0));
	/* A callback may call: its notifications wait their turn. */
	if (s->n++ == 0) {
		ck_assert_int_eq(hc_call_text(s->c, "notify", "[2]", 5000, &r),
		    HC_OK);
		hc_result_clear(&r);
	}
}

START_TEST(test_notify_callback)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	struct seen		 s;
	uint32_t		 id;
	json_t			*p;

	fake_start(&f, serve_script);
	c = fake_connect(&f);
	memset(&s, 0, sizeof s);
	s.c = c;
	hc_set_notify(c, note_cb, &s);
	ck_assert_int_eq(CALL(c, "notify", "[3]", &r), HC_OK);
	hc_result_clear(&r);
	/* Wire order: the outer three, then the two of the nested call. */
	ck_assert_int_eq(s.n, 5);
	ck_assert(s.v[0] == 0 && s.v[1] == 1 && s.v[2] == 2 && s.v[3] == 0 &&
	    s.v[4] == 1);
	ck_assert_uint_eq(hc_pending_notifies(c), 0);

	/* hc_poll dispatches without a request of ours in flight. */
	p = json_pack("[i]", 2);
	ck_assert_int_eq(hc_send(c, "notify_after", p, &id), HC_OK);
	json_decref(p);
	while (s.n < 7)
		ck_assert_int_eq(hc_poll(c, 5000), HC_OK);
	ck_assert_int_eq(hc_wait(c, id, 0, &r), HC_OK);
	hc_result_clear(&r);
	ck_assert_int_eq(hc_poll(c, 50), HC_ETIMEDOUT);

	/* Back to queueing. */
	hc_set_notify(c, NULL, NULL);
	ck_assert_int_eq(CALL(c, "notify", "[1]", &r), HC_OK);
	hc_result_clear(&r);
	ck_assert_int_eq(s.n, 7);
	ck_assert_uint_eq(hc_pending_notifies(c), 1);
	finish(&f, c);
}
END_TEST

START_TEST(test_poll_queue)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	uint32_t		 id;
	json_t			*p;

	fake_start(&f, serve_script);
	c = fake_connect(&f);
	p = json_pack("[i]", 3);
	ck_assert_int_eq(hc_send(c, "notify", p, &id), HC_OK);
	json_decref(p);
	while (hc_pending_notifies(c) < 3)
		ck_assert_int_eq(hc_poll(c, 5000), HC_OK);
	ck_assert_int_eq(hc_wait(c, id, 5000, &r), HC_OK);
	check_json(r.value, "3");
	hc_result_clear(&r);
	finish(&f, c);
}
END_TEST

START_TEST(test_timeout)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	uint32_t		 id, id2;
	json_t			*p;

	fake_start(&f, serve_script);
	c = fake_connect(&f);

	/* A timed-out answer is still kept for a later wait. */
	p = json_pack("[i]", 300);
	ck_assert_int_eq(hc_send(c, "late", p, &id), HC_OK);
	ck_assert_int_eq(hc_wait(c, id, 50, &r), HC_ETIMEDOUT);
	ck_assert_msg(strstr(r.message, "no answer") != NULL, "%s", r.message);
	ck_assert_ptr_null(r.value);
	ck_assert_int_eq(hc_wait(c, id, 5000, &r), HC_OK);
	check_json(r.value, "\"late\"");
	hc_result_clear(&r);

	/* hc_call drops its late answer; the next call is not confused. */
	ck_assert_int_eq(hc_call(c, "late", p, 50, &r), HC_ETIMEDOUT);
	ck_assert_msg(strstr(r.message, "no answer to late") != NULL, "%s",
	    r.message);
	ck_assert_int_eq(CALL(c, "echo", "[\"after\"]", &r), HC_OK);
	check_json(r.value, "[\"after\"]");
	hc_result_clear(&r);

	/* hc_discard before the answer comes. */
	ck_assert_int_eq(hc_send(c, "late", p, &id2), HC_OK);
	hc_discard(c, id2);
	ck_assert_int_eq(CALL(c, "echo", "[1]", &r), HC_OK);
	hc_result_clear(&r);
	ck_assert_int_eq(hc_wait(c, id2, 0, &r), HC_ETIMEDOUT);
	json_decref(p);

	/* Nothing answers: timeout 0 is a poll. */
	ck_assert_int_eq(hc_send(c, "silent", NULL, &id), HC_OK);
	ck_assert_int_eq(hc_wait(c, id, 0, &r), HC_ETIMEDOUT);
	ck_assert_int_eq(hc_wait(c, id, 100, NULL), HC_ETIMEDOUT);
	finish(&f, c);
}
END_TEST

START_TEST(test_server_close)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	uint32_t		 id;

	fake_start(&f, serve_script);
	c = fake_connect(&f);
	ck_assert_int_eq(CALL(c, "close", "[]", &r), HC_ECONN);
	ck_assert_msg(strstr(hc_last_error(c), "closed by server") != NULL,
	    "got \"%s\"", hc_last_error(c));
	ck_assert_str_eq(r.message, hc_last_error(c));
	ck_assert_int_eq(hc_fd(c), -1);
	ck_assert_int_eq(CALL(c, "echo", "[]", &r), HC_ECONN);
	ck_assert_int_eq(hc_send(c, "echo", NULL, &id), HC_ECONN);
	ck_assert_uint_eq(id, 0);
	ck_assert_int_eq(hc_write_raw(c, "x", 1), HC_ECONN);
	ck_assert_int_eq(hc_poll(c, 10), HC_ECONN);
	ck_assert_int_eq(hc_next_notify(c, 10, NULL, NULL), HC_ECONN);
	finish(&f, c);
}
END_TEST

START_TEST(test_sys_error)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	char			*method;
	json_t			*params;

	fake_start(&f, serve_script);
	c = fake_connect(&f);
	ck_assert_int_eq(CALL(c, "syserror", "[]", &r), HC_ECONN);
	ck_assert_msg(strstr(hc_last_error(c), "closed by server") != NULL &&
	    strstr(hc_last_error(c), "protocol_error") != NULL,
	    "got \"%s\"", hc_last_error(c));
	/* What came before the close is still handed out. */
	ck_assert_int_eq(hc_next_notify(c, 0, &method, &params), HC_OK);
	ck_assert_str_eq(method, "sys.error");
	check_json(params, "[{\"code\": \"protocol_error\", \"message\":"
	    " \"not MessagePack\"}]");
	free(method);
	json_decref(params);
	ck_assert_int_eq(hc_next_notify(c, 0, &method, &params), HC_ECONN);
	finish(&f, c);
}
END_TEST

/* Hostile servers: each breaks the connection, none costs memory. */
static const struct {
	const char	*hex;
	const char	*err;
} hostile_cases[] = {
	{ "c1", "not MessagePack" },
	{ "ddffffffff", "larger than" },
	{ "dbfffffff0", "larger than" },
	{ "93020000", "invalid message" },
	{ "93070000", "invalid message" },
	{ "94010100ff", "invalid message" },
	{ "94", NULL },	/* incomplete, then the server is silent */
};

START_TEST(test_hostile)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	char			 params[128];
	int			 rv;

	fake_start(&f, serve_script);
	c = fake_connect(&f);
	snprintf(params, sizeof params, "[\"%s\"]", hostile_cases[_i].hex);
	rv = hc_call_text(c, "raw", params, 500, &r);
	if (hostile_cases[_i].err == NULL) {
		ck_assert_int_eq(rv, HC_ETIMEDOUT);
		ck_assert_int_ge(hc_fd(c), 0);
	} else {
		ck_assert_int_eq(rv, HC_ECONN);
		ck_assert_msg(strstr(hc_last_error(c), "protocol error") &&
		    strstr(hc_last_error(c), hostile_cases[_i].err),
		    "got \"%s\", want \"%s\"", hc_last_error(c),
		    hostile_cases[_i].err);
		ck_assert_int_eq(hc_fd(c), -1);
	}
	finish(&f, c);
}
END_TEST

START_TEST(test_hostile_deep)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	char			 params[256];
	int			 i;

	/* A notification nested 40 deep: refused before msgpack-c. */
	fake_start(&f, serve_script);
	c = fake_connect(&f);
	strcpy(params, "[\"9302a178");
	for (i = 0; i < 40; i++)
		strcat(params, "91");
	strcat(params, "01\"]");
	ck_assert_int_eq(hc_call_text(c, "raw", params, 5000, &r), HC_ECONN);
	ck_assert_msg(strstr(hc_last_error(c), "deeper than 32"), "got \"%s\"",
	    hc_last_error(c));
	finish(&f, c);
}
END_TEST

START_TEST(test_unconvertible)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	char			*method;
	json_t			*params;

	fake_start(&f, serve_script);
	c = fake_connect(&f);
	ck_assert_int_eq(CALL(c, "badutf8", "[]", &r), HC_ERROR);
	ck_assert_str_eq(r.code, "invalid_response");
	ck_assert_msg(strstr(r.message, "$[1]: string is not valid UTF-8"),
	    "got \"%s\"", r.message);
	ck_assert_str_eq(json_string_value(json_object_get(r.value, "code")),
	    "invalid_response");
	hc_result_clear(&r);

	ck_assert_int_eq(CALL(c, "bin", "[]", &r), HC_ERROR);
	ck_assert_str_eq(r.code, "invalid_response");
	ck_assert_msg(strstr(r.message, "bin"), "got \"%s\"", r.message);
	hc_result_clear(&r);

	ck_assert_int_eq(CALL(c, "numbers", "[]", &r), HC_OK);
	check_json(r.value, "[18446744073709551615.0, -9223372036854775808,"
	    " 1.5]");
	ck_assert(json_is_real(json_array_get(r.value, 0)));
	hc_result_clear(&r);

	/* A notification whose params are not JSON: null, and said so. */
	ck_assert_int_eq(CALL(c, "badnotify", "[]", &r), HC_OK);
	hc_result_clear(&r);
	ck_assert_int_eq(hc_next_notify(c, 0, &method, &params), HC_OK);
	ck_assert_str_eq(method, "test.bad");
	ck_assert(json_is_null(params));
	ck_assert_msg(strstr(hc_last_error(c), "test.bad") &&
	    strstr(hc_last_error(c), "bin"), "got \"%s\"", hc_last_error(c));
	free(method);
	json_decref(params);

	/* None of it cost the connection. */
	ck_assert_int_eq(CALL(c, "echo", "[1]", &r), HC_OK);
	hc_result_clear(&r);
	finish(&f, c);
}
END_TEST

START_TEST(test_odd_messages)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;

	fake_start(&f, serve_script);
	c = fake_connect(&f);
	/* A request from the server is ignored. */
	ck_assert_int_eq(CALL(c, "request", "[]", &r), HC_OK);
	check_json(r.value, "\"ok\"");
	hc_result_clear(&r);
	/* Two answers to one request: the first counts. */
	ck_assert_int_eq(CALL(c, "dupe", "[]", &r), HC_OK);
	check_json(r.value, "\"one\"");
	hc_result_clear(&r);
	ck_assert_int_eq(CALL(c, "echo", "[5]", &r), HC_OK);
	check_json(r.value, "[5]");
	hc_result_clear(&r);
	/* An answer to a msgid never sent is kept like any other. */
	ck_assert_int_eq(CALL(c, "stray", "[]", &r), HC_OK);
	hc_result_clear(&r);
	ck_assert_int_eq(hc_wait(c, 999999, 0, &r), HC_OK);
	check_json(r.value, "\"stray\"");
	hc_result_clear(&r);
	ck_assert_uint_eq(hc_pending_notifies(c), 0);
	finish(&f, c);
}
END_TEST

START_TEST(test_usage)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	uint32_t		 id;
	json_t			*p, *deep;
	int			 i;

	fake_start(&f, serve_script);
	c = fake_connect(&f);

	p = load("{\"not\": \"an array\"}");
	ck_assert_int_eq(hc_call(c, "echo", p, 5000, &r), HC_EUSAGE);
	ck_assert_msg(strstr(r.message, "not a JSON array"), "%s", r.message);
	ck_assert_int_eq(hc_send(c, "echo", p, &id), HC_EUSAGE);
	ck_assert_uint_eq(id, 0);
	json_decref(p);
	ck_assert_int_eq(hc_call(c, NULL, NULL, 5000, &r), HC_EUSAGE);

	ck_assert_int_eq(CALL(c, "echo", "[1,", &r), HC_EUSAGE);
	ck_assert_msg(strncmp(r.message, "params: ", 8) == 0, "%s", r.message);
	ck_assert_int_eq(CALL(c, "echo", "{}", &r), HC_EUSAGE);
	ck_assert_int_eq(CALL(c, "echo", "1", &r), HC_EUSAGE);

	/* Too deep to encode: nothing is sent, with where it failed. */
	deep = json_array();
	for (i = 0; i < HC_MAX_DEPTH + 2; i++) {
		p = json_array();
		json_array_append_new(p, deep);
		deep = p;
	}
	p = json_pack("[s, {s: o}]", "x", "data", deep);
	ck_assert_int_eq(hc_call(c, "echo", p, 5000, &r), HC_EUSAGE);
	ck_assert_msg(strstr(r.message, "echo: params[1].data[0]"),
	    "got \"%s\"", r.message);
	ck_assert_str_eq(hc_last_error(c), r.message);
	json_decref(p);

	/* Raw params: exactly one array. */
	ck_assert_int_eq(hc_send_raw_params(c, "echo", "\x01", 1, &id),
	    HC_EUSAGE);
	ck_assert_int_eq(hc_send_raw_params(c, "echo", "\x92\x01", 2, &id),
	    HC_EUSAGE);
	ck_assert_int_eq(hc_send_raw_params(c, "echo", "\x91\x01\x02", 3, &id),
	    HC_EUSAGE);
	ck_assert_int_eq(hc_send_raw_params(c, "echo", "\xc1", 1, &id),
	    HC_EUSAGE);
	ck_assert_int_eq(hc_send_raw_params(c, "echo", "", 0, &id), HC_EUSAGE);
	ck_assert_int_eq(hc_send_raw_params(c, "echo", NULL, 0, &id),
	    HC_EUSAGE);

	/* The stream is intact after all that. */
	ck_assert_int_eq(CALL(c, "echo", "[\"fine\"]", &r), HC_OK);
	check_json(r.value, "[\"fine\"]");
	hc_result_clear(&r);
	finish(&f, c);
}
END_TEST

START_TEST(test_raw)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	uint32_t		 id;
	/* [0, 77, "echo", [5]] by hand */
	static const char	 req[] = "\x94\x00\x4d\xa4" "echo" "\x91\x05";

	fake_start(&f, serve_script);
	c = fake_connect(&f);
	ck_assert_int_eq(hc_send_raw_params(c, "echo", "\x92\x01\xa1x", 4,
	    &id), HC_OK);
	ck_assert_int_eq(hc_wait(c, id, 5000, &r), HC_OK);
	check_json(r.value, "[1, \"x\"]");
	hc_result_clear(&r);
	/* array 16 and array 32 headers */
	ck_assert_int_eq(hc_send_raw_params(c, "echo",
	    "\xdc\x00\x03\x01\x02\x03", 6, &id), HC_OK);
	ck_assert_int_eq(hc_wait(c, id, 5000, &r), HC_OK);
	check_json(r.value, "[1, 2, 3]");
	hc_result_clear(&r);
	ck_assert_int_eq(hc_send_raw_params(c, "echo",
	    "\xdd\x00\x00\x00\x01\xc0", 6, &id), HC_OK);
	ck_assert_int_eq(hc_wait(c, id, 5000, &r), HC_OK);
	check_json(r.value, "[null]");
	hc_result_clear(&r);

	ck_assert_int_eq(hc_write_raw(c, req, sizeof req - 1), HC_OK);
	ck_assert_int_eq(hc_wait(c, 77, 5000, &r), HC_OK);
	check_json(r.value, "[5]");
	hc_result_clear(&r);
	ck_assert_int_eq(hc_write_raw(c, req, 0), HC_OK);
	finish(&f, c);
}
END_TEST

#define FLOOD	(8 << 20)
#define BIG	(4 << 20)

START_TEST(test_flood_no_deadlock)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	char			*big, *method;
	json_t			*p, *params;
	size_t			 n, i;

	/*
	 * The server writes 8 MiB without reading while we write 4 MiB:
	 * only a client that reads while it writes gets through.
	 */
	fake_start(&f, serve_script);
	c = fake_connect(&f);
	ck_assert_int_eq(CALL(c, "flood", "[8388608]", &r), HC_OK);
	hc_result_clear(&r);
	big = malloc(BIG + 1);
	memset(big, 'b', BIG);
	big[BIG] = '\0';
	p = json_pack("[s]", big);
	ck_assert_int_eq(hc_call(c, "echo", p, 30000, &r), HC_OK);
	ck_assert(json_equal(r.value, p));
	hc_result_clear(&r);
	json_decref(p);
	free(big);

	n = hc_pending_notifies(c);
	ck_assert_uint_eq(n, FLOOD / 1000 + (FLOOD % 1000 != 0));
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(hc_next_notify(c, 0, &method, &params), HC_OK);
		ck_assert_int_eq(json_integer_value(json_array_get(params, 0)),
		    (json_int_t)i);
		free(method);
		json_decref(params);
	}
	finish(&f, c);
}
END_TEST

START_TEST(test_too_large_answered)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	char			*big;
	json_t			*p;

	/* The server answers from the first bytes and hangs up mid-write. */
	fake_start(&f, serve_too_large);
	c = fake_connect(&f);
	big = malloc(BIG + 1);
	memset(big, 'b', BIG);
	big[BIG] = '\0';
	p = json_pack("[s]", big);
	ck_assert_int_eq(hc_call(c, "echo", p, 30000, &r), HC_ERROR);
	ck_assert_str_eq(r.code, "message_too_large");
	hc_result_clear(&r);
	ck_assert_int_eq(hc_fd(c), -1);
	ck_assert_msg(hc_last_error(c)[0] != '\0', "no error text");
	ck_assert_int_eq(hc_call(c, "echo", p, 1000, &r), HC_ECONN);
	json_decref(p);
	free(big);
	finish(&f, c);
}
END_TEST

START_TEST(test_store_bound)
{
	struct fake		 f;
	struct hc_client	*c;
	struct hc_result	 r;
	size_t			 n;

	/* Unread notifications past the bound cost the connection. */
	fake_start(&f, serve_script);
	c = fake_connect(&f);
	hc_set_store_max(c, 1 << 20);
	ck_assert_int_eq(CALL(c, "flood", "[2097152]", &r), HC_OK);
	hc_result_clear(&r);
	ck_assert_int_eq(hc_call_text(c, "echo", "[]", 30000, &r), HC_ECONN);
	ck_assert_msg(strstr(hc_last_error(c), "more than 1048576 bytes of"
	    " unread"), "got \"%s\"", hc_last_error(c));
	/* ~1 KiB each: what fitted is kept and still handed out. */
	n = hc_pending_notifies(c);
	ck_assert_msg(n > 1000 && n < 1048576 / 1000, "got %zu", n);
	for (; n > 0; n--)
		ck_assert_int_eq(hc_next_notify(c, 0, NULL, NULL), HC_OK);
	ck_assert_int_eq(hc_next_notify(c, 0, NULL, NULL), HC_ECONN);
	finish(&f, c);
}
END_TEST

static Suite *
client_suite(void)
{
	Suite	*s = suite_create("client");
	TCase	*tc;

	tc = tcase_create("json");
	tcase_add_loop_test(tc, test_json_roundtrip, 0,
	    sizeof roundtrip_cases / sizeof roundtrip_cases[0]);
	tcase_add_loop_test(tc, test_json_encoding, 0,
	    sizeof encoding_cases / sizeof encoding_cases[0]);
	tcase_add_loop_test(tc, test_json_decode, 0,
	    sizeof decode_cases / sizeof decode_cases[0]);
	tcase_add_test(tc, test_json_depth);
	suite_add_tcase(s, tc);

	tc = tcase_create("fake-server");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_default_socket);
	tcase_add_test(tc, test_connect_fail);
	tcase_add_test(tc, test_call);
	tcase_add_test(tc, test_error_answer);
	tcase_add_test(tc, test_pipeline_reverse);
	tcase_add_test(tc, test_pipeline_wait_backwards);
	tcase_add_test(tc, test_notify_queue);
	tcase_add_test(tc, test_notify_callback);
	tcase_add_test(tc, test_poll_queue);
	tcase_add_test(tc, test_timeout);
	tcase_add_test(tc, test_server_close);
	tcase_add_test(tc, test_sys_error);
	tcase_add_loop_test(tc, test_hostile, 0,
	    sizeof hostile_cases / sizeof hostile_cases[0]);
	tcase_add_test(tc, test_hostile_deep);
	tcase_add_test(tc, test_unconvertible);
	tcase_add_test(tc, test_odd_messages);
	tcase_add_test(tc, test_usage);
	tcase_add_test(tc, test_raw);
	tcase_add_test(tc, test_flood_no_deadlock);
	tcase_add_test(tc, test_too_large_answered);
	tcase_add_test(tc, test_store_bound);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	/* SIGPIPE stays fatal here: the client must use MSG_NOSIGNAL. */
	sr = srunner_create(client_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
