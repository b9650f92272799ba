/*
 * test_proto_msg.h: the message layer, accessors and identifiers; part of
 * test_proto.c (tests/meson.build builds one source per module), included
 * once, after its helpers.
 */

/* ---- peek_msgid -------------------------------------------------------- */

static const struct peek_case {
	const char	*b;
	size_t		 n;
	int		 want;
	uint32_t	 msgid;
} peek_cases[] = {
	{ B("\x94\x00\x07"), 0, 7 },
	{ B("\x94\x00\xcc\xff"), 0, 255 },
	{ B("\x94\x00\xcd\x12\x34"), 0, 0x1234 },
	{ B("\x94\x00\xce\xff\xff\xff\xff"), 0, 0xffffffff },
	{ B("\x94\x00\xcf\x00\x00\x00\x00\xff\xff\xff\xff"), 0, 0xffffffff },
	{ B("\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00"), -1, 0 },
	{ B("\x94\x00\xd0\x05"), 0, 5 },
	{ B("\x94\x00\xd0\xfb"), -1, 0 },
	{ B("\x94\x00\xff"), -1, 0 },
	{ B("\x94\xcc\x00\x07"), 0, 7 },
	{ B("\xdc\x00\x04\x00\x07"), 0, 7 },
	{ B("\xdd\x00\x00\x00\x04\x00\x07"), 0, 7 },
	{ B("\x94\x01\x07"), -1, 0 },
	{ B("\x91\x00\x07"), -1, 0 },
	{ B("\x94\x00"), -1, 0 },
	{ B("\x94\x00\xce\x00"), -1, 0 },
	{ B("\xdd\x00\x00"), -1, 0 },
	{ B("\x84\x00\x07"), -1, 0 },
	{ B(""), -1, 0 },
};

START_TEST(peek_table)
{
	const struct peek_case	*c = &peek_cases[_i];
	struct proto_reader	*r = proto_reader_create(MIB, 32);
	uint32_t		 msgid = 0;
	int			 got;

	proto_reader_feed(r, c->b, c->n);
	got = proto_reader_peek_msgid(r, &msgid);
	ck_assert_msg(got == c->want && (got == -1 || msgid == c->msgid),
	    "peek %d: got %d/%u, want %d/%u", _i, got, msgid, c->want,
	    c->msgid);
	proto_reader_destroy(r);
}
END_TEST

/* [0, 7, "flow.apply", [<2 MiB str>]] against 1 MiB, fed in 64 KiB reads. */
START_TEST(peek_too_large)
{
	struct proto_reader	*r = proto_reader_create(MIB, 32);
	size_t			 n = 18 + 2 * MIB;
	msgpack_object		 o;
	uint32_t		 msgid = 0;
	char			*b;

	ck_assert_ptr_nonnull(b = calloc(1, n));
	memcpy(b, "\x94\x00\x07\xaa" "flow.apply" "\x91\xdb\x00\x20\x00\x00",
	    18);
	ck_assert_int_eq(read_first(r, b, n, 65536, &o, NULL, NULL), TL);
	ck_assert_int_le(proto_reader_pending(r), 65536);
	ck_assert_int_eq(proto_reader_peek_msgid(r, &msgid), 0);
	ck_assert_msg(msgid == 7, "msgid got %u, want 7", msgid);
	proto_reader_destroy(r);
	free(b);
}
END_TEST

/* ---- proto_msg_parse --------------------------------------------------- */

static const struct parse_case {
	const char	*b;
	size_t		 n;
	int		 want;
	bool		 has_msgid;
	int		 type;		/* when want is 0 */
	uint32_t	 msgid;		/* when has_msgid */
	const char	*method;	/* request, notify */
} parse_cases[] = {
	{ B("\x94\x00\x07\xa8" "sys.ping" "\x90"), 0, true, 0, 7, "sys.ping" },
	{ B("\x94\xd0\x00\x07\xa1" "x" "\x90"), 0, true, 0, 7, "x" },
	{ B("\x94\x00\xce\xff\xff\xff\xff\xa1" "x" "\x90"), 0, true, 0,
	    0xffffffff, "x" },
	{ B("\x94\x00\x07\xa0\x90"), 0, true, 0, 7, "" },
	{ B("\x94\x01\x07\xc0\xa4" "pong"), 0, true, 1, 7, NULL },
	{ B("\x94\x01\x07\x81\xa4" "code" "\xa7" "timeout" "\xc0"), 0, true,
	    1, 7, NULL },
	{ B("\x94\x01\x07\xc0\xc0"), 0, true, 1, 7, NULL },
	{ B("\x93\x02\xab" "flow.update" "\x90"), 0, false, 2, 0,
	    "flow.update" },
	{ B("\x93\x00\x07\xa1" "x"), -1, true, 0, 7, NULL },
	{ B("\x95\x00\x07\xa1" "x" "\x90\xc0"), -1, true, 0, 7, NULL },
	{ B("\x94\x00\x07\x05\x90"), -1, true, 0, 7, NULL },
	{ B("\x94\x00\x07\xa1" "x" "\x80"), -1, true, 0, 7, NULL },
	{ B("\x94\x00\x07\xa1" "x" "\xc0"), -1, true, 0, 7, NULL },
	{ B("\x92\x00\x07"), -1, true, 0, 7, NULL },
	{ B("\x94\x01\x07\xa1" "e" "\xa1" "r"), -1, true, 0, 7, NULL },
	{ B("\x94\x00\xcf\x00\x00\x00\x01\x00\x00\x00\x00\xa1" "x" "\x90"),
	    -1, false, 0, 0, NULL },
	{ B("\x94\x00\xff\xa1" "x" "\x90"), -1, false, 0, 0, NULL },
	{ B("\x94\x00\xa1" "7" "\xa1" "x" "\x90"), -1, false, 0, 0, NULL },
	{ B("\x94\x00\xc0\xa1" "x" "\x90"), -1, false, 0, 0, NULL },
	{ B("\x94\x03\x07\xa1" "x" "\x90"), -1, true, 0, 7, NULL },
	{ B("\x94\xff\x07\xa1" "x" "\x90"), -1, true, 0, 7, NULL },
	{ B("\x94\xa1" "0" "\x07\xa1" "x" "\x90"), -1, true, 0, 7, NULL },
	{ B("\x94\x02\x07\xa1" "x" "\x90"), -1, false, 0, 0, NULL },
	{ B("\x92\x02\xa1" "x"), -1, false, 0, 0, NULL },
	{ B("\x93\x02\xa1" "x" "\x80"), -1, false, 0, 0, NULL },
	{ B("\x93\x02\x01\x90"), -1, false, 0, 0, NULL },
	{ B("\x91\x00"), -1, false, 0, 0, NULL },
	{ B("\x90"), -1, false, 0, 0, NULL },
	{ B("\x80"), -1, false, 0, 0, NULL },
	{ B("\x07"), -1, false, 0, 0, NULL },
	{ B("\xa4" "ping"), -1, false, 0, 0, NULL },
	/* bin method names, as pynvim sends them */
	{ B("\x94\x00\x07\xc4\x08" "sys.ping" "\x90"), 0, true, 0, 7,
	    "sys.ping" },
	{ B("\x93\x02\xc4\x01" "x" "\x90"), 0, false, 2, 0, "x" },
};

START_TEST(parse_table)
{
	const struct parse_case	*c = &parse_cases[_i];
	struct proto_error	 e;
	struct proto_msg	 m;
	bool			 has = !c->has_msgid;
	int			 got;

	memset(&e, 0, sizeof e);
	got = proto_msg_parse(decode(c->b, c->n), &m, &e, &has);
	ck_assert_msg(got == c->want, "case %d: got %d, want %d (%s)", _i, got,
	    c->want, e.message);
	ck_assert_msg(has == c->has_msgid, "case %d: has_msgid got %d, want %d",
	    _i, has, c->has_msgid);
	if (has)
		ck_assert_msg(m.msgid == c->msgid, "case %d: msgid got %u, "
		    "want %u", _i, m.msgid, c->msgid);
	if (got == -1) {
		ck_assert_msg(e.code == PC_INVALID_REQUEST && e.message[0] != '\0',
		    "case %d: code got %d, want %d", _i, e.code,
		    PC_INVALID_REQUEST);
		return;
	}
	ck_assert_msg((int)m.type == c->type, "case %d: type got %d, want %d",
	    _i, m.type, c->type);
	if (c->method != NULL) {
		ck_assert(proto_method_is(&m, c->method));
		ck_assert(!proto_method_is(&m, "sys"));
		ck_assert_int_eq(m.params->type, MSGPACK_OBJECT_ARRAY);
	} else
		ck_assert(m.error != NULL && m.result != NULL);
	msgpack_unpacked_destroy(&unpacked);
}
END_TEST

/* ---- encoders, read back through the reader ---------------------------- */

START_TEST(encode_roundtrip)
{
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	struct proto_reader	*r = proto_reader_create(MIB, 32);
	struct proto_error	 e, e2;
	struct proto_msg	 m;
	msgpack_object		 o;
	const msgpack_object	*map;
	const char		*s;
	size_t			 len;
	int64_t			 v;
	bool			 has;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	proto_pack_request_begin(&pk, 42, "flow.get", 1);
	proto_pack_str(&pk, "f1");
	proto_pack_notify_begin(&pk, "sys.error", 1);
	proto_error_set(&e, PC_PROTOCOL_ERROR, "byte %d", 0xc1);
	proto_pack_error_map(&pk, &e);
	proto_pack_result_begin(&pk, 43);
	proto_pack_str(&pk, "pong");
	proto_error_set(&e, PC_INVALID_OP, "op %d is bad", 2);
	proto_error_extra(&e, "index", 2);
	proto_pack_error(&pk, 44, &e);
	proto_reader_feed(r, sb.data, sb.size);

	ck_assert_int_eq(proto_reader_next(r, &o, NULL, NULL), 1);
	ck_assert_int_eq(proto_msg_parse(&o, &m, &e2, &has), 0);
	ck_assert(m.type == PROTO_REQUEST && m.msgid == 42 && has);
	ck_assert(proto_method_is(&m, "flow.get"));
	ck_assert(proto_str_is(proto_param(m.params, 0), "f1"));

	ck_assert_int_eq(proto_reader_next(r, &o, NULL, NULL), 1);
	ck_assert_int_eq(proto_msg_parse(&o, &m, &e2, &has), 0);
	ck_assert(m.type == PROTO_NOTIFY && proto_method_is(&m, "sys.error"));
	map = proto_param(m.params, 0);
	ck_assert(proto_str_is(proto_map_get(map, "code"), "protocol_error"));
	ck_assert(proto_str_is(proto_map_get(map, "message"), "byte 193"));
	ck_assert_int_eq(map->via.map.size, 2);

	ck_assert_int_eq(proto_reader_next(r, &o, NULL, NULL), 1);
	ck_assert_int_eq(proto_msg_parse(&o, &m, &e2, &has), 0);
	ck_assert(m.type == PROTO_RESPONSE && m.msgid == 43);
	ck_assert(proto_is_nil(m.error) && proto_str_is(m.result, "pong"));

	ck_assert_int_eq(proto_reader_next(r, &o, NULL, NULL), 1);
	ck_assert_int_eq(proto_msg_parse(&o, &m, &e2, &has), 0);
	ck_assert(m.type == PROTO_RESPONSE && m.msgid == 44);
	ck_assert(proto_is_nil(m.result) && !proto_is_nil(m.error));
	ck_assert_int_eq(proto_get_str(proto_map_get(m.error, "code"), &s,
	    &len), 0);
	ck_assert_int_eq(proto_code_from_name(s, len), PC_INVALID_OP);
	ck_assert(proto_str_is(proto_map_get(m.error, "message"),
	    "op 2 is bad"));
	ck_assert_int_eq(proto_get_int(proto_map_get(m.error, "index"), &v), 0);
	ck_assert_int_eq(v, 2);

	ck_assert_int_eq(proto_reader_next(r, &o, NULL, NULL), 0);
	proto_reader_destroy(r);
	msgpack_sbuffer_destroy(&sb);
}
END_TEST

/* ---- typed accessors --------------------------------------------------- */

static const struct get_case {
	const char	*b;
	size_t		 n;
	int		 str, uint, sint, dbl, boolean;	/* 0 or -1 */
	bool		 nil;
	double		 d;
} get_cases[] = {
	{ B("\xc0"), -1, -1, -1, -1, -1, true, 0 },
	{ B("\xc3"), -1, -1, -1, -1, 0, false, 0 },
	{ B("\x05"), -1, 0, 0, 0, -1, false, 5 },
	{ B("\xfb"), -1, -1, 0, 0, -1, false, -5 },
	{ B("\xcf\xff\xff\xff\xff\xff\xff\xff\xff"), -1, 0, -1, 0, -1, false,
	    18446744073709551615.0 },
	{ B("\xcf\x7f\xff\xff\xff\xff\xff\xff\xff"), -1, 0, 0, 0, -1, false,
	    9223372036854775807.0 },
	{ B("\xd3\x80\x00\x00\x00\x00\x00\x00\x00"), -1, -1, 0, 0, -1, false,
	    -9223372036854775808.0 },
	{ B("\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"), -1, -1, -1, 0, -1, false,
	    1.5 },
	{ B("\xca\x3f\xc0\x00\x00"), -1, -1, -1, 0, -1, false, 1.5 },
	{ B("\xcb\x7f\xf8\x00\x00\x00\x00\x00\x00"), -1, -1, -1, -1, -1, false, 0 },
	{ B("\xcb\x7f\xf0\x00\x00\x00\x00\x00\x00"), -1, -1, -1, -1, -1, false, 0 },
	{ B("\xcb\xff\xf0\x00\x00\x00\x00\x00\x00"), -1, -1, -1, -1, -1, false, 0 },
	{ B("\xca\x7f\xc0\x00\x00"), -1, -1, -1, -1, -1, false, 0 },
	{ B("\xca\x7f\x80\x00\x00"), -1, -1, -1, -1, -1, false, 0 },
	{ B("\xa3" "abc"), 0, -1, -1, -1, -1, false, 0 },
	{ B("\xc4\x03" "abc"), -1, -1, -1, -1, -1, false, 0 },
	{ B("\x91\x01"), -1, -1, -1, -1, -1, false, 0 },
	{ B("\x81\x01\x01"), -1, -1, -1, -1, -1, false, 0 },
	{ B("\xd4\x01\x01"), -1, -1, -1, -1, -1, false, 0 },
};

START_TEST(get_table)
{
	const struct get_case	*c = &get_cases[_i];
	const msgpack_object	*o = decode(c->b, c->n);
	const char		*s;
	size_t			 len;
	uint64_t		 u = 0;
	int64_t			 i = 0;
	double			 d = 0;
	bool			 b;
	int			 got;

	ck_assert_msg((got = proto_get_str(o, &s, &len)) == c->str,
	    "case %d: get_str got %d, want %d", _i, got, c->str);
	ck_assert_msg((got = proto_get_uint(o, &u)) == c->uint,
	    "case %d: get_uint got %d, want %d", _i, got, c->uint);
	ck_assert_msg((got = proto_get_int(o, &i)) == c->sint,
	    "case %d: get_int got %d, want %d", _i, got, c->sint);
	ck_assert_msg((got = proto_get_double(o, &d)) == c->dbl,
	    "case %d: get_double got %d, want %d", _i, got, c->dbl);
	ck_assert_msg((got = proto_get_bool(o, &b)) == c->boolean,
	    "case %d: get_bool got %d, want %d", _i, got, c->boolean);
	ck_assert_msg(proto_is_nil(o) == c->nil, "case %d: is_nil got %d, "
	    "want %d", _i, proto_is_nil(o), c->nil);
	if (c->dbl == 0)
		ck_assert_msg(d == c->d, "case %d: double got %g, want %g", _i,
		    d, c->d);
	if (c->sint == 0)
		ck_assert_msg((double)i == c->d, "case %d: int got %lld, want "
		    "%g", _i, (long long)i, c->d);
	msgpack_unpacked_destroy(&unpacked);
}
END_TEST

START_TEST(get_misc)
{
	const msgpack_object	*o;
	const char		*s;
	char			 buf[4];
	size_t			 len;
	uint64_t		 u;
	int64_t			 i;
	double			 d;
	bool			 b;

	ck_assert(proto_get_str(NULL, &s, &len) == -1 &&
	    proto_get_uint(NULL, &u) == -1 && proto_get_int(NULL, &i) == -1 &&
	    proto_get_double(NULL, &d) == -1 && proto_get_bool(NULL, &b) == -1 &&
	    proto_get_strbuf(NULL, buf, sizeof buf) == -1);
	ck_assert(proto_is_nil(NULL) && proto_map_get(NULL, "a") == NULL);
	ck_assert(!proto_str_is(NULL, "") && proto_param(NULL, 0) == NULL);

	o = decode(B("\xa3" "abc"));
	ck_assert_int_eq(proto_get_strbuf(o, buf, 4), 0);
	ck_assert_str_eq(buf, "abc");
	ck_assert_int_eq(proto_get_strbuf(o, buf, 3), -1);
	ck_assert(proto_str_is(o, "abc") && !proto_str_is(o, "ab"));
	o = decode(B("\xa3" "a\0b"));
	ck_assert_int_eq(proto_get_strbuf(o, buf, 4), -1);
	o = decode(B("\xa0"));	/* msgpack-c gives ptr NULL here */
	ck_assert_int_eq(proto_get_str(o, &s, &len), 0);
	ck_assert(s != NULL && len == 0);
	ck_assert_int_eq(proto_get_strbuf(o, buf, 1), 0);
	ck_assert(proto_str_is(o, "") && buf[0] == '\0');

	/* {"a": 1, 2: 3, "b": [4], "a": 5}: the first "a" wins */
	o = decode(B("\x84\xa1" "a" "\x01\x02\x03\xa1" "b" "\x91\x04\xa1" "a"
	    "\x05"));
	ck_assert_int_eq(proto_get_uint(proto_map_get(o, "a"), &u), 0);
	ck_assert_int_eq(u, 1);
	ck_assert_int_eq(proto_map_get(o, "b")->type, MSGPACK_OBJECT_ARRAY);
	ck_assert_ptr_null(proto_map_get(o, "c"));
	ck_assert_ptr_null(proto_map_get(proto_map_get(o, "b"), "a"));
	ck_assert_ptr_nonnull(proto_param(proto_map_get(o, "b"), 0));
	ck_assert_ptr_null(proto_param(proto_map_get(o, "b"), 1));
	ck_assert_ptr_null(proto_param(o, 0));
	msgpack_unpacked_destroy(&unpacked);
}
END_TEST

static const struct arity_case {
	const char	*b;
	size_t		 n;
	uint32_t	 min, max;
	int		 want;
	const char	*message;
} arity_cases[] = {
	{ B("\x91\x01"), 2, 3, -1, "expected 2 to 3 params, got 1" },
	{ B("\x92\x01\x02"), 2, 3, 0, NULL },
	{ B("\x93\x01\x02\x03"), 2, 3, 0, NULL },
	{ B("\x94\x01\x02\x03\x04"), 2, 3, -1, "expected 2 to 3 params, got 4" },
	{ B("\x90"), 1, 1, -1, "expected 1 param, got 0" },
	{ B("\x90"), 0, 0, 0, NULL },
	{ B("\x92\x01\x02"), 0, 0, -1, "expected 0 params, got 2" },
	{ B("\x80"), 0, 1, -1, "params must be an array" },
	{ B("\xc0"), 0, 1, -1, "params must be an array" },
};

START_TEST(arity_table)
{
	const struct arity_case	*c = &arity_cases[_i];
	struct proto_error	 e;
	int			 got;

	memset(&e, 0, sizeof e);
	got = proto_params_arity(decode(c->b, c->n), c->min, c->max, &e);
	ck_assert_msg(got == c->want, "case %d: got %d, want %d", _i, got,
	    c->want);
	if (c->message != NULL) {
		ck_assert_int_eq(e.code, PC_INVALID_PARAMS);
		ck_assert_msg(strcmp(e.message, c->message) == 0,
		    "case %d: got \"%s\", want \"%s\"", _i, e.message,
		    c->message);
	}
	msgpack_unpacked_destroy(&unpacked);
}
END_TEST

/* ---- identifiers ------------------------------------------------------- */

#define X64	"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"

static const struct id_case {
	const char	*s;
	size_t		 n;
	bool		 flow, client;
} id_cases[] = {
	{ B("a"), true, true },
	{ B("Az09_.:-"), true, true },
	{ B("team:board-1.v2"), true, true },
	{ B("a..b"), true, true },
	{ B("-x"), true, true },
	{ B(X64 X64), true, true },		/* 128 */
	{ B(X64 X64 "x"), false, false },	/* 129 */
	{ B(""), false, false },
	{ B(".a"), false, true },
	{ B("."), false, true },
	{ B("a b"), false, false },
	{ B("a/b"), false, true },
	{ B("anon:ABC234"), true, true },
	{ B("!~"), false, true },
	{ B("user@host"), false, true },
	{ B("a\tb"), false, false },
	{ B("a\nb"), false, false },
	{ B("a\0b"), false, false },
	{ B("a\x7f"), false, false },
	{ B("\xc3\xa9"), false, false },	/* é */
};

START_TEST(id_table)
{
	const struct id_case	*c = &id_cases[_i];
	bool			 got;

	got = proto_valid_flow_id(c->s, c->n);
	ck_assert_msg(got == c->flow, "flow id %d (%zu bytes): got %d, want %d",
	    _i, c->n, got, c->flow);
	got = proto_valid_client_id(c->s, c->n);
	ck_assert_msg(got == c->client, "client id %d (%zu bytes): got %d, "
	    "want %d", _i, c->n, got, c->client);
}
END_TEST

/* ---- error codes ------------------------------------------------------- */

static const char *const code_names[PC__COUNT] = {
	NULL, "invalid_request", "unknown_method", "invalid_params",
	"invalid_flow_id", "invalid_op", "conflict", "not_joined",
	"max_clients_reached", "max_sessions_reached", "overloaded", "timeout",
	"session_crashed", "session_failed", "storage_error", "storage_full",
	"not_running", "permission_denied", "shutting_down",
	"message_too_large", "protocol_error",
};

START_TEST(code_table)
{
	const char	*name = proto_code_name(_i);

	ck_assert_msg(name != NULL && strcmp(name, code_names[_i]) == 0,
	    "code %d: got %s, want %s", _i, name ? name : "NULL",
	    code_names[_i]);
	ck_assert_msg(proto_code_from_name(name, strlen(name)) == (unsigned)_i,
	    "code %d: round trip got %d", _i,
	    proto_code_from_name(name, strlen(name)));
}
END_TEST

START_TEST(code_misc)
{
	struct proto_error	 e;
	char			 longer[600];

	ck_assert_int_eq(proto_code_from_name("nope", 4), PC__COUNT);
	ck_assert_int_eq(proto_code_from_name("invalid_request", 7),
	    PC__COUNT);
	ck_assert_int_eq(proto_code_from_name("timeouts", 8), PC__COUNT);
	ck_assert_int_eq(proto_code_from_name("timeouts", 7), PC_TIMEOUT);
	ck_assert_ptr_null(proto_code_name(PC__COUNT));

	proto_error_extra(&e, "stale", 1);
	memset(longer, 'm', sizeof longer - 1);
	longer[sizeof longer - 1] = '\0';
	ck_assert_int_eq(proto_error_set(&e, PC_TIMEOUT, "%s", longer), -1);
	ck_assert_int_eq(e.code, PC_TIMEOUT);
	ck_assert_ptr_null(e.extra_key);
	ck_assert_int_eq(strlen(e.message), sizeof e.message - 1);
	proto_error_set(&e, PC_SESSION_FAILED, "parked for %ds", 30);
	proto_error_extra(&e, "retry_after", 30);
	ck_assert_str_eq(e.message, "parked for 30s");
	ck_assert_str_eq(e.extra_key, "retry_after");
	ck_assert_int_eq(e.extra_value, 30);
}
END_TEST

static TCase *
test_proto_msg_tcase(void)
{
	TCase	*tc = tcase_create("message");

	tcase_add_loop_test(tc, peek_table, 0, NELEM(peek_cases));
	tcase_add_test(tc, peek_too_large);
	tcase_add_loop_test(tc, parse_table, 0, NELEM(parse_cases));
	tcase_add_test(tc, encode_roundtrip);
	tcase_add_loop_test(tc, get_table, 0, NELEM(get_cases));
	tcase_add_test(tc, get_misc);
	tcase_add_loop_test(tc, arity_table, 0, NELEM(arity_cases));
	tcase_add_loop_test(tc, id_table, 0, NELEM(id_cases));
	tcase_add_loop_test(tc, code_table, PC_INVALID_REQUEST, PC__COUNT);
	tcase_add_test(tc, code_misc);
	return tc;
}
