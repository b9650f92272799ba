/*
 * test_proto.c: the MessagePack-RPC codec (proto/), table-driven.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

#define NELEM(a)	(sizeof(a) / sizeof((a)[0]))
#define B(s)		s, sizeof(s) - 1	/* bytes of a literal, no NUL */
#define MIB		(1024 * 1024)
#define TL		PROTO_READ_TOO_LARGE
#define TD		PROTO_READ_TOO_DEEP
#define SX		PROTO_READ_SYNTAX

/* ---- helpers ----------------------------------------------------------- */

/* A field of /proc/self/status in KiB. */
static long
status_kib(const char *field)
{
	char	 line[256];
	size_t	 n = strlen(field);
	long	 v = -1;
	FILE	*f;

	ck_assert_ptr_nonnull(f = fopen("/proc/self/status", "r"));
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, field, n) == 0 && line[n] == ':') {
			v = strtol(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	ck_assert_int_ge(v, 0);
	return v;
}

/* Feed n bytes in pieces of step (0 = whole); the first result not MORE. */
static enum proto_read
read_first(struct proto_reader *r, const char *b, size_t n, size_t step,
    msgpack_object *o, const char **raw, size_t *rawlen)
{
	enum proto_read	 st = PROTO_READ_MORE;
	size_t		 off = 0, k;

	if (step == 0)
		step = n > 0 ? n : 1;
	do {
		k = n - off < step ? n - off : step;
		ck_assert_int_eq(proto_reader_feed(r, b + off, k), 0);
		off += k;
		if ((st = proto_reader_next(r, o, raw, rawlen)) != PROTO_READ_MORE)
			break;
	} while (off < n);
	return st;
}

/* Decode a literal for the message and accessor tests. */
static msgpack_unpacked	 unpacked;

static const msgpack_object *
decode(const char *b, size_t n)
{
	size_t	 off = 0;

	msgpack_unpacked_destroy(&unpacked);
	msgpack_unpacked_init(&unpacked);
	ck_assert_int_eq(msgpack_unpack_next(&unpacked, b, n, &off),
	    MSGPACK_UNPACK_SUCCESS);
	return &unpacked.data;
}

/* ---- the scanner and the reader over one table ------------------------- */

static const struct scan_case {
	const char	*name;
	const char	*b;
	size_t		 n;
	size_t		 max;
	unsigned	 depth;
	long		 want;	/* length, 0 for more, or enum proto_read */
} scan_cases[] = {
	{ "fixint 00", B("\x00"), MIB, 32, 1 },
	{ "fixint 7f", B("\x7f"), MIB, 32, 1 },
	{ "negative fixint e0", B("\xe0"), MIB, 32, 1 },
	{ "negative fixint ff", B("\xff"), MIB, 32, 1 },
	{ "nil", B("\xc0"), MIB, 32, 1 },
	{ "false", B("\xc2"), MIB, 32, 1 },
	{ "true", B("\xc3"), MIB, 32, 1 },
	{ "bin8", B("\xc4\x03" "abc"), MIB, 32, 5 },
	{ "bin8 empty", B("\xc4\x00"), MIB, 32, 2 },
	{ "bin16", B("\xc5\x00\x02" "ab"), MIB, 32, 5 },
	{ "bin32", B("\xc6\x00\x00\x00\x01" "a"), MIB, 32, 6 },
	{ "ext8", B("\xc7\x02\x05" "ab"), MIB, 32, 5 },
	{ "ext8 empty", B("\xc7\x00\x05"), MIB, 32, 3 },
	{ "ext16", B("\xc8\x00\x01\x05" "a"), MIB, 32, 5 },
	{ "ext32", B("\xc9\x00\x00\x00\x01\x05" "a"), MIB, 32, 7 },
	{ "fixext1", B("\xd4\x05" "a"), MIB, 32, 3 },
	{ "fixext2", B("\xd5\x05" "ab"), MIB, 32, 4 },
	{ "fixext4", B("\xd6\xff" "abcd"), MIB, 32, 6 },
	{ "fixext8", B("\xd7\x01" "abcdefgh"), MIB, 32, 10 },
	{ "fixext16", B("\xd8\x01" "abcdefghijklmnop"), MIB, 32, 18 },
	{ "float32", B("\xca\x3f\xc0\x00\x00"), MIB, 32, 5 },
	{ "float64", B("\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"), MIB, 32, 9 },
	{ "uint8", B("\xcc\xff"), MIB, 32, 2 },
	{ "uint16", B("\xcd\xff\xff"), MIB, 32, 3 },
	{ "uint32", B("\xce\xff\xff\xff\xff"), MIB, 32, 5 },
	{ "uint64", B("\xcf\xff\xff\xff\xff\xff\xff\xff\xff"), MIB, 32, 9 },
	{ "int8", B("\xd0\x80"), MIB, 32, 2 },
	{ "int16", B("\xd1\x80\x00"), MIB, 32, 3 },
	{ "int32", B("\xd2\x80\x00\x00\x00"), MIB, 32, 5 },
	{ "int64", B("\xd3\x80\x00\x00\x00\x00\x00\x00\x00"), MIB, 32, 9 },
	{ "fixstr", B("\xa3" "abc"), MIB, 32, 4 },
	{ "fixstr empty", B("\xa0"), MIB, 32, 1 },
	{ "str8", B("\xd9\x03" "abc"), MIB, 32, 5 },
	{ "str16", B("\xda\x00\x03" "abc"), MIB, 32, 6 },
	{ "str32", B("\xdb\x00\x00\x00\x03" "abc"), MIB, 32, 8 },
	{ "fixarray", B("\x93\x01\x02\x03"), MIB, 32, 4 },
	{ "fixarray empty", B("\x90"), MIB, 32, 1 },
	{ "array16", B("\xdc\x00\x02\x01\x02"), MIB, 32, 5 },
	{ "array16 empty", B("\xdc\x00\x00"), MIB, 32, 3 },
	{ "array32", B("\xdd\x00\x00\x00\x02\x01\x02"), MIB, 32, 7 },
	{ "array32 empty", B("\xdd\x00\x00\x00\x00"), MIB, 32, 5 },
	{ "fixmap", B("\x81\xa1" "a" "\x01"), MIB, 32, 4 },
	{ "fixmap empty", B("\x80"), MIB, 32, 1 },
	{ "map16", B("\xde\x00\x01\xa1" "a" "\x01"), MIB, 32, 6 },
	{ "map16 empty", B("\xde\x00\x00"), MIB, 32, 3 },
	{ "map32", B("\xdf\x00\x00\x00\x01\xa1" "a" "\x01"), MIB, 32, 8 },
	{ "map32 empty", B("\xdf\x00\x00\x00\x00"), MIB, 32, 5 },
	{ "nested", B("\x92\x91\x90\x81\xc0\x80"), MIB, 32, 6 },
	{ "container keys", B("\x81\x91\x01\x92\x02\x03"), MIB, 32, 6 },
	{ "trailing bytes", B("\x01\x02"), MIB, 32, 1 },
	{ "two arrays", B("\x91\x01\x91\x02"), MIB, 32, 2 },
	{ "nothing", B(""), MIB, 32, 0 },
	{ "fixarray short", B("\x92\x01"), MIB, 32, 0 },
	{ "str body short", B("\xa3" "ab"), MIB, 32, 0 },
	{ "str32 header short", B("\xdb\x00\x00"), MIB, 32, 0 },
	{ "map value missing", B("\x81\x01"), MIB, 32, 0 },
	{ "uint64 short", B("\xcf\x00"), MIB, 32, 0 },
	{ "array32 268M", B("\xdd\x0f\xff\xff\xf0"), MIB, 32, TL },
	{ "array32 4G", B("\xdd\xff\x00\x00\x00"), MIB, 32, TL },
	{ "array32 at limit", B("\xdd\x00\x0f\xff\xfb"), MIB, 32, 0 },
	{ "array32 over limit", B("\xdd\x00\x0f\xff\xfc"), MIB, 32, TL },
	{ "map32 max", B("\xdf\xff\xff\xff\xff"), MIB, 32, TL },
	{ "map32 at limit", B("\xdf\x00\x07\xff\xfd"), MIB, 32, 0 },
	{ "map32 over limit", B("\xdf\x00\x07\xff\xfe"), MIB, 32, TL },
	{ "str32 max", B("\xdb\xff\xff\xff\xff"), MIB, 32, TL },
	{ "str32 at limit", B("\xdb\x00\x0f\xff\xfb"), MIB, 32, 0 },
	{ "str32 over limit", B("\xdb\x00\x0f\xff\xfc"), MIB, 32, TL },
	{ "bin32 max", B("\xc6\xff\xff\xff\xff"), MIB, 32, TL },
	{ "bin32 at limit", B("\xc6\x00\x0f\xff\xfb"), MIB, 32, 0 },
	{ "bin32 over limit", B("\xc6\x00\x0f\xff\xfc"), MIB, 32, TL },
	{ "ext32 max", B("\xc9\xff\xff\xff\xff"), MIB, 32, TL },
	{ "ext32 at limit", B("\xc9\x00\x0f\xff\xfa\x01"), MIB, 32, 0 },
	{ "ext32 over limit", B("\xc9\x00\x0f\xff\xfb\x01"), MIB, 32, TL },
	{ "array16 at 100", B("\xdc\x00\x61"), 100, 32, 0 },
	{ "array16 over 100", B("\xdc\x00\x62"), 100, 32, TL },
	{ "map16 at 100", B("\xde\x00\x30"), 100, 32, 0 },
	{ "map16 over 100", B("\xde\x00\x31"), 100, 32, TL },
	{ "str16 at 100", B("\xda\x00\x61"), 100, 32, 0 },
	{ "str16 over 100", B("\xda\x00\x62"), 100, 32, TL },
	{ "bin16 over 100", B("\xc5\x00\x62"), 100, 32, TL },
	{ "ext16 over 100", B("\xc8\x00\x61\x01"), 100, 32, TL },
	{ "fixarray at 4", B("\x93"), 4, 32, 0 },
	{ "fixarray over 4", B("\x94"), 4, 32, TL },
	{ "fixmap at 5", B("\x82"), 5, 32, 0 },
	{ "fixmap over 5", B("\x82"), 4, 32, TL },
	{ "nested at 16", B("\x92\x9d\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0\xc0"
	    "\xc0\xc0\xc0\xc0"), 16, 32, 16 },
	{ "nested over 16", B("\x92\x9e"), 16, 32, TL },
	{ "outer elements due", B("\x93\x9d"), 16, 32, TL },
	{ "map in array at 16", B("\x92\x86"), 16, 32, 0 },
	{ "map in array over 16", B("\x92\x87"), 16, 32, TL },
	{ "bodies over 5", B("\x93\xa1" "a" "\xa1" "a" "\xa1" "a"), 5, 32, TL },
	{ "bodies at 7", B("\x93\xa1" "a" "\xa1" "a" "\xa1" "a"), 7, 32, 7 },
	{ "float64 over 8", B("\x91\xcb"), 8, 32, TL },
	{ "float64 at 9", B("\xcb\x00\x00\x00\x00\x00\x00\x00\x00"), 9, 32, 9 },
	{ "max 0", B("\xc0"), 0, 32, TL },
	{ "c1", B("\xc1"), MIB, 32, SX },
	{ "c1 in array", B("\x92\x01\xc1"), MIB, 32, SX },
	{ "c1 as key", B("\x81\xc1\x01"), MIB, 32, SX },
	{ "c1 after str", B("\x92\xa1" "a" "\xc1"), MIB, 32, SX },
	{ "depth 1 flat", B("\x92\x01\x02"), MIB, 1, 3 },
	{ "depth 1 nested", B("\x91\x91\x01"), MIB, 1, TD },
	{ "depth 1 nested empty", B("\x91\x90"), MIB, 1, TD },
	{ "depth 2 nested empty", B("\x91\x90"), MIB, 2, 2 },
	{ "depth 0 is 1", B("\x91\x90"), MIB, 0, TD },
	{ "depth 0 scalar", B("\x01"), MIB, 0, 1 },
};

/* proto_scan, then the reader fed whole and byte by byte, agree on want. */
static void
check_scan(const char *name, const char *b, size_t n, size_t max,
    unsigned depth, long want)
{
	struct proto_reader	*r;
	msgpack_object		 o;
	size_t			 rawlen = 0, step;
	long			 got;

	got = proto_scan(b, n, max, depth);
	ck_assert_msg(got == want, "%s: proto_scan got %ld, want %ld", name,
	    got, want);
	for (step = 0; step <= 1; step++) {
		ck_assert_ptr_nonnull(r = proto_reader_create(max, depth));
		got = read_first(r, b, n, step, &o, NULL, &rawlen);
		if (got == PROTO_READ_OBJECT)
			got = (long)rawlen;
		ck_assert_msg(got == want, "%s (step %zu): reader got %ld, "
		    "want %ld", name, step, got, want);
		proto_reader_destroy(r);
	}
}

START_TEST(scan_table)
{
	const struct scan_case	*c = &scan_cases[_i];

	check_scan(c->name, c->b, c->n, c->max, c->depth, c->want);
}
END_TEST

static const struct deep_case {
	size_t		 levels;	/* of 0x91 */
	const char	*tail;
	unsigned	 depth;
	long		 want;
} deep_cases[] = {
	{ 32, "\x01", 32, 33 },
	{ 31, "\x90", 32, 32 },
	{ 32, "\x90", 32, TD },
	{ 33, "\x01", 32, TD },
	{ 33, "", 32, TD },
	{ 100, "\x01", 32, TD },
	{ 100000, "\x01", 32, TD },
	{ 100000, "", 32, TD },
	{ 33, "\x01", 100, TD },	/* clamped to PROTO_MAX_DEPTH */
	{ 3, "\x01", 3, 4 },
	{ 3, "\x01", 2, TD },
};

START_TEST(deep_table)
{
	const struct deep_case	*c = &deep_cases[_i];
	char			 name[64];
	size_t			 n;
	char			*b;

	n = c->levels + strlen(c->tail);
	ck_assert_ptr_nonnull(b = malloc(n));
	memset(b, 0x91, c->levels);
	memcpy(b + c->levels, c->tail, strlen(c->tail));
	snprintf(name, sizeof name, "%zu levels, depth %u", c->levels,
	    c->depth);
	check_scan(name, b, n, MIB, c->depth, c->want);
	free(b);
}
END_TEST

/* ---- hostile headers cost no memory ------------------------------------ */

static const struct { const char *b; size_t n; } hostile[] = {
	{ B("\xdd\x0f\xff\xff\xf0") },	/* array32 of 268M elements */
	{ B("\xdd\xff\x00\x00\x00") },
	{ B("\xdf\xff\xff\xff\xff") },
	{ B("\xdb\xff\xff\xff\xff") },
	{ B("\xc6\xff\xff\xff\xff") },
	{ B("\xc9\xff\xff\xff\xff\x01") },
	{ B("\x94\x00\x07\xdd\x0f\xff\xff\xf0") },
};

/*
 * VmPeak is reset to VmSize in a forked child (Check forks each test), so
 * it also catches an allocation made and freed inside the call.  ASan's
 * shadow is reserved at start-up, before both readings.
 */
START_TEST(hostile_vm)
{
	struct proto_reader	*r;
	msgpack_object		 o;
	long			 size0, peak0, size1, peak1;
	enum proto_read		 st;
	unsigned		 i;

	size0 = status_kib("VmSize");
	peak0 = status_kib("VmPeak");
	for (i = 0; i < NELEM(hostile); i++) {
		ck_assert_ptr_nonnull(r = proto_reader_create(MIB, 32));
		st = read_first(r, hostile[i].b, hostile[i].n, 0, &o, NULL, NULL);
		ck_assert_msg(st == TL, "hostile %u: got %d, want %d", i, st, TL);
		proto_reader_destroy(r);
	}
	size1 = status_kib("VmSize");
	peak1 = status_kib("VmPeak");
	ck_assert_msg(size1 - size0 <= 64 * 1024, "VmSize grew by %ld KiB, "
	    "want <= 65536", size1 - size0);
	ck_assert_msg(peak1 - peak0 <= 64 * 1024, "VmPeak grew by %ld KiB, "
	    "want <= 65536", peak1 - peak0);
}
END_TEST

/* The probe above would see msgpack-c's up-front allocation (96 MiB). */
START_TEST(hostile_vm_probe)
{
	msgpack_unpacked	 u;
	const char		*ckfork = getenv("CK_FORK");
	size_t			 off = 0;
	long			 peak0;

	if (ckfork != NULL && strcmp(ckfork, "no") == 0)
		return;		/* VmPeak is only reset by a fork */
	peak0 = status_kib("VmPeak");
	msgpack_unpacked_init(&u);
	msgpack_unpack_next(&u, "\xdd\x00\x40\x00\x00", 5, &off);
	msgpack_unpacked_destroy(&u);
	ck_assert_msg(status_kib("VmPeak") - peak0 >= 64 * 1024,
	    "VmPeak grew by %ld KiB, want >= 65536",
	    status_kib("VmPeak") - peak0);
}
END_TEST

/* ---- whole messages ---------------------------------------------------- */

#define NCORPUS	6

/* Well-formed messages of every kind, packed back to back. */
static void
corpus(msgpack_sbuffer *sb, size_t end[NCORPUS])
{
	static char		 big[70000];
	msgpack_packer		 pk;
	struct proto_error	 e;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	proto_pack_request_begin(&pk, 7, "flow.apply", 3);
	proto_pack_str(&pk, "f1");
	msgpack_pack_array(&pk, 1);
	msgpack_pack_map(&pk, 2);
	proto_pack_key(&pk, "op");
	proto_pack_str(&pk, "add_node");
	proto_pack_key(&pk, "node");
	msgpack_pack_map(&pk, 3);
	proto_pack_key(&pk, "id");
	proto_pack_str(&pk, "n1");
	proto_pack_key(&pk, "x");
	msgpack_pack_double(&pk, 1.5);
	proto_pack_key(&pk, "y");
	msgpack_pack_int64(&pk, -2);
	msgpack_pack_uint64(&pk, 3);
	end[0] = sb->size;
	proto_pack_result_begin(&pk, 9);
	msgpack_pack_map(&pk, 1);
	proto_pack_key(&pk, "version");
	msgpack_pack_uint64(&pk, 4);
	end[1] = sb->size;
	proto_error_set(&e, PC_CONFLICT, "base_version %d is not %d", 3, 5);
	proto_error_extra(&e, "version", 5);
	proto_pack_error(&pk, 11, &e);
	end[2] = sb->size;
	proto_pack_notify_begin(&pk, "flow.update", 2);
	proto_pack_str(&pk, "f1");
	msgpack_pack_map(&pk, 2);
	proto_pack_key(&pk, "ops");
	msgpack_pack_array(&pk, 0);
	proto_pack_key(&pk, "origin");
	msgpack_pack_nil(&pk);
	end[3] = sb->size;
	proto_pack_request_begin(&pk, UINT32_MAX, "sys.ping", 9);
	msgpack_pack_float(&pk, 0.25f);
	msgpack_pack_bin(&pk, 3);
	msgpack_pack_bin_body(&pk, "\x00\x01\x02", 3);
	msgpack_pack_ext(&pk, 2, 42);
	msgpack_pack_ext_body(&pk, "xy", 2);
	msgpack_pack_int64(&pk, INT64_MIN);
	msgpack_pack_uint64(&pk, UINT64_MAX);
	msgpack_pack_true(&pk);
	msgpack_pack_false(&pk);
	proto_pack_strn(&pk, "a\0b", 3);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_map(&pk, 0);
	msgpack_pack_array(&pk, 0);
	end[4] = sb->size;
	memset(big, 'z', sizeof big);	/* str32: past the kept buffer size */
	msgpack_pack_str(&pk, sizeof big);
	msgpack_pack_str_body(&pk, big, sizeof big);
	end[5] = sb->size;
}

/*
 * Message i fed whole and byte by byte: every shorter prefix gives MORE,
 * and both give the same object and bytes.
 */
START_TEST(bytewise_same)
{
	msgpack_sbuffer		 sb;
	size_t			 end[NCORPUS], start, n, k, len1 = 0, len2 = 0;
	struct proto_reader	*whole, *bytes;
	msgpack_object		 o1, o2;
	const char		*raw1, *raw2;
	enum proto_read		 st;

	corpus(&sb, end);
	start = _i == 0 ? 0 : end[_i - 1];
	n = end[_i] - start;
	whole = proto_reader_create(MIB, 32);
	bytes = proto_reader_create(MIB, 32);
	ck_assert_int_eq(read_first(whole, sb.data + start, n, 0, &o1, &raw1,
	    &len1), PROTO_READ_OBJECT);
	for (k = 0; k < n; k++) {
		proto_reader_feed(bytes, sb.data + start + k, 1);
		st = proto_reader_next(bytes, &o2, &raw2, &len2);
		ck_assert_msg(st == (k + 1 == n ? PROTO_READ_OBJECT :
		    PROTO_READ_MORE), "message %d, byte %zu of %zu: got %d",
		    _i, k, n, st);
	}
	ck_assert_msg(len1 == n && len2 == n, "rawlen got %zu and %zu, want %zu",
	    len1, len2, n);
	ck_assert(memcmp(raw1, sb.data + start, n) == 0);
	ck_assert(memcmp(raw2, sb.data + start, n) == 0);
	ck_assert(msgpack_object_equal(o1, o2));
	ck_assert_int_eq(proto_reader_pending(bytes), 0);
	proto_reader_destroy(whole);
	proto_reader_destroy(bytes);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* Everything in one feed, then the last message cut in two. */
START_TEST(pipelined)
{
	msgpack_sbuffer		 sb;
	size_t			 end[NCORPUS], start = 0, rawlen, half;
	struct proto_reader	*r;
	msgpack_object		 o;
	const char		*raw;
	int			 i;

	corpus(&sb, end);
	half = end[NCORPUS - 2] + 100;
	r = proto_reader_create(MIB, 32);
	proto_reader_feed(r, sb.data, half);
	for (i = 0; i < NCORPUS; i++) {
		if (i == NCORPUS - 1) {
			ck_assert_int_eq(proto_reader_next(r, &o, &raw, &rawlen),
			    PROTO_READ_MORE);
			ck_assert_int_eq(proto_reader_pending(r), 100);
			proto_reader_feed(r, sb.data + half, sb.size - half);
		}
		ck_assert_int_eq(proto_reader_next(r, &o, &raw, &rawlen),
		    PROTO_READ_OBJECT);
		ck_assert_msg(rawlen == end[i] - start, "message %d: rawlen got "
		    "%zu, want %zu", i, rawlen, end[i] - start);
		ck_assert(memcmp(raw, sb.data + start, rawlen) == 0);
		start = end[i];
	}
	ck_assert_int_eq(proto_reader_next(r, &o, &raw, &rawlen),
	    PROTO_READ_MORE);
	ck_assert_int_eq(proto_reader_pending(r), 0);
	proto_reader_destroy(r);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* An object stays valid while more bytes are fed (the buffer moves). */
START_TEST(object_outlives_feed)
{
	struct proto_reader	*r = proto_reader_create(MIB, 32);
	msgpack_object		 o;
	static char		 junk[200000];
	size_t			 i;

	proto_reader_feed(r, B("\x91\xa5" "hello"));
	ck_assert_int_eq(proto_reader_next(r, &o, NULL, NULL),
	    PROTO_READ_OBJECT);
	for (i = 0; i < 8; i++)
		proto_reader_feed(r, junk, sizeof junk);	/* 0x00s */
	ck_assert(proto_str_is(&o.via.array.ptr[0], "hello"));
	proto_reader_destroy(r);
}
END_TEST

static const struct sticky_case {
	const char	*b;
	size_t		 n;
	enum proto_read	 want;
} sticky_cases[] = {
	{ B("\x01\xc1"), SX },
	{ B("\x01\xdd\xff\xff\xff\xff"), TL },
	{ B("\x01\x91\x91\x91"), TD },
};

START_TEST(sticky)
{
	const struct sticky_case *c = &sticky_cases[_i];
	struct proto_reader	*r = proto_reader_create(MIB, 2);
	msgpack_object		 o;
	int			 k;

	proto_reader_feed(r, c->b, c->n);
	ck_assert_int_eq(proto_reader_next(r, &o, NULL, NULL),
	    PROTO_READ_OBJECT);
	for (k = 0; k < 3; k++) {
		ck_assert_int_eq(proto_reader_next(r, &o, NULL, NULL), c->want);
		proto_reader_feed(r, B("\x01"));
	}
	proto_reader_destroy(r);
}
END_TEST

/*
 * Fed a byte at a time: rescanning from the object's start at each byte
 * would take hours over a million elements, and time out.
 */
START_TEST(bytewise_linear)
{
	struct proto_reader	*r = proto_reader_create(4 * MIB, 32);
	msgpack_object		 o;
	size_t			 n = 5 + 1000000 + 5 + 2 * MIB, i, rawlen;
	char			*b;
	enum proto_read		 st = PROTO_READ_MORE;

	ck_assert_ptr_nonnull(b = calloc(1, n));
	memcpy(b, "\xdd\x00\x0f\x42\x40", 5);	/* 1000000 zeros */
	memcpy(b + 5 + 1000000, "\xdb\x00\x20\x00\x00", 5);
	for (i = 0; i < n; i++) {
		proto_reader_feed(r, b + i, 1);
		st = proto_reader_next(r, &o, NULL, &rawlen);
		if (i + 1 == 5 + 1000000)
			ck_assert_int_eq(st, PROTO_READ_OBJECT);
		else if (i + 1 != n)
			ck_assert_int_eq(st, PROTO_READ_MORE);
	}
	ck_assert_int_eq(st, PROTO_READ_OBJECT);
	ck_assert_int_eq(rawlen, 5 + 2 * MIB);
	ck_assert_int_eq(o.via.str.size, 2 * MIB);
	proto_reader_destroy(r);
	free(b);
}
END_TEST

#include "test_proto_msg.h"

int
main(void)
{
	Suite	*s = suite_create("proto");
	SRunner	*sr;
	TCase	*tc;
	int	 failed;

	tc = tcase_create("reader");
	tcase_set_timeout(tc, 120);
	tcase_add_loop_test(tc, scan_table, 0, NELEM(scan_cases));
	tcase_add_loop_test(tc, deep_table, 0, NELEM(deep_cases));
	tcase_add_test(tc, hostile_vm);
	tcase_add_test(tc, hostile_vm_probe);
	tcase_add_loop_test(tc, bytewise_same, 0, NCORPUS);
	tcase_add_test(tc, pipelined);
	tcase_add_test(tc, object_outlives_feed);
	tcase_add_loop_test(tc, sticky, 0, NELEM(sticky_cases));
	tcase_add_test(tc, bytewise_linear);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, test_proto_msg_tcase());

	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed != 0 ? 1 : 0;
}
