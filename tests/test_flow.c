/*
 * test_flow.c: the flow model (worker/flow.c, worker/op.c).
 *
 * Ops and documents are written in a small text notation (see tx_value)
 * so that a table row reads like the wire message.  The property test at
 * the end checks the flow against a deliberately naive model.
 */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "worker/flow.h"
#include "worker/op.h"

/* ---- text notation --------------------------------------------------- */

/*
 * 'str', 12, -3, 1.5, nil, true, false, [a, b], {k: v}; ',' and ':' are
 * mere separators.  Specials: S<n> a string of n 'a's, f<num> a float32,
 * NaN, Inf, U64MAX, BIN (bin), BADUTF (str "\xff").
 */
static void
tx_value(const char **pp, msgpack_packer *pk)
{
	const char	*p = *pp, *q;
	char		 tok[64], close, *s;
	msgpack_sbuffer	 sb;
	msgpack_packer	 sub;
	size_t		 n = 0, len;

	while (*p == ' ' || *p == ',' || *p == ':')
		p++;
	if (*p == '[' || *p == '{') {
		close = *p == '[' ? ']' : '}';
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&sub, &sb, msgpack_sbuffer_write);
		for (p++;; n++) {
			while (*p == ' ' || *p == ',' || *p == ':')
				p++;
			if (*p == close)
				break;
			ck_assert_msg(*p != '\0', "unterminated container");
			tx_value(&p, &sub);
		}
		p++;
		if (close == ']')
			msgpack_pack_array(pk, n);
		else
			msgpack_pack_map(pk, n / 2);
		if (sb.size > 0)
			pk->callback(pk->data, sb.data, sb.size);
		msgpack_sbuffer_destroy(&sb);
	} else if (*p == '\'') {
		q = strchr(p + 1, '\'');
		ck_assert_msg(q != NULL, "unterminated string");
		msgpack_pack_str_with_body(pk, p + 1, q - p - 1);
		p = q + 1;
	} else {
		for (len = 0; len < 63 && strchr(" ,:]}", p[len]) == NULL;
		    len++)
			tok[len] = p[len];
		tok[len] = '\0';
		p += len;
		if (strcmp(tok, "nil") == 0)
			msgpack_pack_nil(pk);
		else if (strcmp(tok, "true") == 0)
			msgpack_pack_true(pk);
		else if (strcmp(tok, "false") == 0)
			msgpack_pack_false(pk);
		else if (strcmp(tok, "NaN") == 0)
			msgpack_pack_double(pk, NAN);
		else if (strcmp(tok, "Inf") == 0)
			msgpack_pack_double(pk, INFINITY);
		else if (strcmp(tok, "U64MAX") == 0)
			msgpack_pack_uint64(pk, UINT64_MAX);
		else if (strcmp(tok, "BIN") == 0)
			msgpack_pack_bin_with_body(pk, "x", 1);
		else if (strcmp(tok, "BADUTF") == 0)
			msgpack_pack_str_with_body(pk, "\xff", 1);
		else if (tok[0] == 'S') {
			n = strtoul(tok + 1, NULL, 10);
			s = malloc(n + 1);
			memset(s, 'a', n);
			msgpack_pack_str_with_body(pk, s, n);
			free(s);
		} else if (tok[0] == 'f')
			msgpack_pack_float(pk, strtof(tok + 1, NULL));
		else if (strpbrk(tok, ".e") != NULL)
			msgpack_pack_double(pk, strtod(tok, NULL));
		else {
			ck_assert_msg(len > 0, "bad token at \"%.10s\"", p);
			msgpack_pack_int64(pk, strtoll(tok, NULL, 10));
		}
	}
	*pp = p;
}

/* Parsed objects live until tx_reset (the fixture's teardown). */
#define TX_POOL 64
static struct tx {
	msgpack_sbuffer		sb;
	msgpack_unpacked	u;
} tx_pool[TX_POOL];
static int tx_used;

static const msgpack_object *
tx_bytes(const char *buf, size_t len)
{
	struct tx	*t;
	size_t		 off = 0;

	ck_assert_int_lt(tx_used, TX_POOL);
	t = &tx_pool[tx_used++];
	msgpack_sbuffer_init(&t->sb);
	msgpack_sbuffer_write(&t->sb, buf, len);
	msgpack_unpacked_init(&t->u);
	ck_assert_int_eq(msgpack_unpack_next(&t->u, t->sb.data, t->sb.size,
	    &off), MSGPACK_UNPACK_SUCCESS);
	return &t->u.data;
}

static const msgpack_object *
tx(const char *text)
{
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	const msgpack_object	*o;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	tx_value(&text, &pk);
	o = tx_bytes(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return o;
}

static void
tx_reset(void)
{
	while (tx_used > 0) {
		tx_used--;
		msgpack_unpacked_destroy(&tx_pool[tx_used].u);
		msgpack_sbuffer_destroy(&tx_pool[tx_used].sb);
	}
}

/* Print o back in the notation (floats with %g) into b. */
static void
tx_print(const msgpack_object *o, char *b, size_t size)
{
	size_t		 i, n = strlen(b);
	const char	*sep = "";

	if (n + 40 >= size)
		return;
	switch (o->type) {
	case MSGPACK_OBJECT_NIL:
		snprintf(b + n, size - n, "nil");
		break;
	case MSGPACK_OBJECT_BOOLEAN:
		snprintf(b + n, size - n, o->via.boolean ? "true" : "false");
		break;
	case MSGPACK_OBJECT_POSITIVE_INTEGER:
		snprintf(b + n, size - n, "%llu",
		    (unsigned long long)o->via.u64);
		break;
	case MSGPACK_OBJECT_NEGATIVE_INTEGER:
		snprintf(b + n, size - n, "%lld", (long long)o->via.i64);
		break;
	case MSGPACK_OBJECT_FLOAT32:
	case MSGPACK_OBJECT_FLOAT64:
		snprintf(b + n, size - n, "%g", o->via.f64);
		break;
	case MSGPACK_OBJECT_STR:
		snprintf(b + n, size - n, "'%.*s'", (int)o->via.str.size,
		    o->via.str.ptr);
		break;
	case MSGPACK_OBJECT_ARRAY:
		strcat(b, "[");
		for (i = 0; i < o->via.array.size; i++, sep = ",") {
			strcat(b, sep);
			tx_print(&o->via.array.ptr[i], b, size);
		}
		strcat(b, "]");
		break;
	case MSGPACK_OBJECT_MAP:
		strcat(b, "{");
		for (i = 0; i < o->via.map.size; i++, sep = ",") {
			strcat(b, sep);
			tx_print(&o->via.map.ptr[i].key, b, size);
			strcat(b, ":");
			tx_print(&o->via.map.ptr[i].val, b, size);
		}
		strcat(b, "}");
		break;
	default:
		snprintf(b + n, size - n, "?");
		break;
	}
}

/* ---- helpers --------------------------------------------------------- */

static struct flow_limits	 lim_small;

static void
setup(void)
{
	lim_small.max_nodes = 10;
	lim_small.max_edges = 10;
	lim_small.max_data_bytes = 64;
	lim_small.max_ops = 8;
	lim_small.max_flow_bytes = 4096;
}

static void
teardown(void)
{
	tx_reset();
}

static void
pack(const struct flow *f, msgpack_sbuffer *sb)
{
	msgpack_packer	 pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	flow_pack(f, &pk);
	ck_assert_uint_eq(sb->size, flow_encoded_size(f));
}

static void
apply_ok(struct flow *f, const char *ops, const struct flow_limits *lim)
{
	struct proto_error	 e;

	memset(&e, 0, sizeof e);
	ck_assert_msg(flow_apply(f, tx(ops), lim, &e) == 0,
	    "apply %s: got error %s", ops, e.message);
}

/* Nodes a b c, edges e1 a->b, e2 b->c. */
static struct flow *
base_flow(void)
{
	struct flow	*f = flow_create("t", 1);

	apply_ok(f, "["
	    "{'op':'add_node','node':{'id':'a','type':'t','x':0,'y':0}}"
	    "{'op':'add_node','node':{'id':'b','type':'t','x':1,'y':1}}"
	    "{'op':'add_node','node':{'id':'c','type':'t','x':2,'y':2}}"
	    "{'op':'add_edge','edge':{'id':'e1','source':'a','target':'b'}}"
	    "{'op':'add_edge','edge':{'id':'e2','source':'b','target':'c'}}]",
	    &lim_small);
	return f;
}

/*
 * What a table row looks at: "node:ID", "edge:ID" (the item or none),
 * "nodes", "edges" (ids in order), "viewport", "meta".
 */
static void
probe(const struct flow *f, const char *what, char *out, size_t size)
{
	msgpack_sbuffer		 sb;
	const msgpack_object	*doc, *list, *id;
	const char		*key = NULL;
	uint32_t		 i;

	pack(f, &sb);
	doc = tx_bytes(sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	out[0] = '\0';
	if (strcmp(what, "viewport") == 0) {
		tx_print(proto_map_get(doc, "viewport"), out, size);
		return;
	}
	if (strcmp(what, "meta") == 0) {
		tx_print(proto_map_get(doc, "title"), out, size);
		strcat(out, "/");
		tx_print(proto_map_get(doc, "description"), out, size);
		return;
	}
	list = proto_map_get(doc, strncmp(what, "node", 4) == 0 ? "nodes" :
	    "edges");
	if ((key = strchr(what, ':')) == NULL) {
		strcat(out, "[");
		for (i = 0; i < list->via.array.size; i++) {
			strcat(out, i ? "," : "");
			tx_print(proto_map_get(&list->via.array.ptr[i], "id"),
			    out, size);
		}
		strcat(out, "]");
		return;
	}
	for (i = 0; i < list->via.array.size; i++) {
		id = proto_map_get(&list->via.array.ptr[i], "id");
		if (proto_str_is(id, key + 1)) {
			tx_print(&list->via.array.ptr[i], out, size);
			return;
		}
	}
	strcat(out, "none");
}

/* ---- per-op table ---------------------------------------------------- */

static const struct op_case {
	const char	*ops;
	int		 index;		/* -1: must succeed */
	const char	*what, *want;	/* probe after success */
} op_cases[] = {
#define OK(ops, what, want)	{ ops, -1, what, want }
#define BAD(ops, index)		{ ops, index, NULL, NULL }
	/* add_node */
	OK("[{'op':'add_node','node':{'id':'d','type':'box','x':1.5,'y':-2}}]",
	    "node:d", "{'id':'d','type':'box','x':1.5,'y':-2}"),
	OK("[{'op':'add_node','node':{'y':3,'x':f0.5,'type':'t','id':'d',"
	    "'width':10,'height':2.5,'data':{'k':[1,nil,true,'s',{'z':-1}]}}}]",
	    "node:d", "{'id':'d','type':'t','x':0.5,'y':3,'width':10,"
	    "'height':2.5,'data':{'k':[1,nil,true,'s',{'z':-1}]}}"),
	OK("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0,"
	    "'width':nil,'data':nil}}]",
	    "node:d", "{'id':'d','type':'t','x':0,'y':0}"),
	OK("[{'op':'add_node','node':{'id':S255,'type':S100,'x':0,'y':0}}]",
	    "nodes", NULL),
	BAD("[{'op':'add_node','node':{'id':'a','type':'t','x':0,'y':0}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'','type':'t','x':0,'y':0}}]", 0),
	BAD("[{'op':'add_node','node':{'id':S256,'type':'t','x':0,'y':0}}]", 0),
	BAD("[{'op':'add_node','node':{'id':BADUTF,'type':'t','x':0,"
	    "'y':0}}]", 0),
	BAD("[{'op':'add_node','node':{'id':7,'type':'t','x':0,'y':0}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'','x':0,'y':0}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':S101,'x':0,'y':0}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':NaN,"
	    "'y':0}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':0,"
	    "'y':Inf}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':'1',"
	    "'y':0}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':0}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0,"
	    "'width':0}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0,"
	    "'height':-1}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0,"
	    "'colour':'red'}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0,"
	    "'x':1}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0},"
	    "'id':'d'}]", 0),
	BAD("[{'op':'add_node','node':['d']}]", 0),
	BAD("[{'op':'add_node'}]", 0),
	/* data */
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0,"
	    "'data':[1]}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0,"
	    "'data':{'b':BIN}}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0,"
	    "'data':{1:2}}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0,"
	    "'data':{'u':U64MAX}}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0,"
	    "'data':{'n':[NaN]}}}]", 0),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0,"
	    "'data':{'s':BADUTF}}}]", 0),
	OK("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0,"
	    "'data':{'k':S58}}}]",
	    "nodes", "['a','b','c','d']"),
	BAD("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0,"
	    "'data':{'k':S60}}}]", 0),
	/* update_node */
	OK("[{'op':'update_node','id':'a','x':5,'width':3,'data':{'q':1}}]",
	    "node:a",
	    "{'id':'a','type':'t','x':5,'y':0,'width':3,'data':{'q':1}}"),
	OK("[{'op':'update_node','id':'a','width':3,'height':4,'data':{}},"
	    "{'op':'update_node','id':'a','width':nil,'data':nil,'type':'u'}]",
	    "node:a", "{'id':'a','type':'u','x':0,'y':0,'height':4}"),
	BAD("[{'op':'update_node','id':'zz','x':1}]", 0),
	BAD("[{'op':'update_node','id':'a'}]", 0),
	BAD("[{'op':'update_node','id':'a','type':nil}]", 0),
	BAD("[{'op':'update_node','id':'a','source':'b'}]", 0),
	BAD("[{'op':'update_node','id':'a','zoom':2}]", 0),
	/* remove_node */
	OK("[{'op':'remove_node','id':'b'}]",
	    "edges", "[]"),
	OK("[{'op':'remove_node','id':'a'}]",
	    "edges", "['e2']"),
	BAD("[{'op':'remove_node','id':'a'},{'op':'remove_node','id':'a'}]", 1),
	BAD("[{'op':'remove_node','id':'a','x':1}]", 0),
	BAD("[{'op':'remove_node'}]", 0),
	/* add_edge */
	OK("[{'op':'add_edge','edge':{'id':'e3','source':'c','target':'c',"
	    "'source_handle':'','target_handle':'in','data':{'w':2.5}}}]",
	    "edge:e3", "{'id':'e3','source':'c','target':'c',"
	    "'source_handle':'','target_handle':'in','data':{'w':2.5}}"),
	OK("[{'op':'add_edge','edge':{'id':'e3','source':'a','target':'c',"
	    "'source_handle':nil}}]",
	    "edge:e3", "{'id':'e3','source':'a','target':'c'}"),
	BAD("[{'op':'add_edge','edge':{'id':'e1','source':'a',"
	    "'target':'c'}}]", 0),
	BAD("[{'op':'add_edge','edge':{'id':'e3','source':'x',"
	    "'target':'c'}}]", 0),
	BAD("[{'op':'add_edge','edge':{'id':'e3','source':'a',"
	    "'target':'x'}}]", 0),
	BAD("[{'op':'add_edge','edge':{'id':'e3','source':'a'}}]", 0),
	BAD("[{'op':'add_edge','edge':{'id':'e3','source':'a','target':'b',"
	    "'source_handle':S256}}]", 0),
	BAD("[{'op':'add_edge','edge':{'id':'e3','source':'a','target':'b',"
	    "'type':'t'}}]", 0),
	OK("[{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0}},"
	    "{'op':'add_edge','edge':{'id':'e3','source':'d','target':'a'}}]",
	    "edges", "['e1','e2','e3']"),
	BAD("[{'op':'remove_node','id':'a'},"
	    "{'op':'add_edge','edge':{'id':'e3','source':'a','target':'b'}}]",
	    1),
	/* remove_edge */
	OK("[{'op':'remove_edge','id':'e1'}]",
	    "edges", "['e2']"),
	BAD("[{'op':'remove_edge','id':'a'}]", 0),
	BAD("[{'op':'remove_edge','id':'e1'},{'op':'remove_edge',"
	    "'id':'e1'}]", 1),
	/* set_viewport */
	OK("[{'op':'set_viewport','x':-10,'y':2.5,'zoom':0.25}]",
	    "viewport", "{'x':-10,'y':2.5,'zoom':0.25}"),
	BAD("[{'op':'set_viewport','x':0,'y':0,'zoom':0}]", 0),
	BAD("[{'op':'set_viewport','x':0,'y':0,'zoom':-1}]", 0),
	BAD("[{'op':'set_viewport','x':0,'y':0}]", 0),
	BAD("[{'op':'set_viewport','x':0,'y':NaN,'zoom':1}]", 0),
	/* set_meta */
	OK("[{'op':'set_meta','title':'T'}]",
	    "meta", "'T'/''"),
	OK("[{'op':'set_meta','title':'T','description':'D'},"
	    "{'op':'set_meta','title':''}]",
	    "meta", "''/'D'"),
	OK("[{'op':'set_meta','title':S255,'description':S3000}]",
	    "nodes", NULL),
	BAD("[{'op':'set_meta','title':S256}]", 0),
	BAD("[{'op':'set_meta','description':S5001}]", 0),
	BAD("[{'op':'set_meta'}]", 0),
	BAD("[{'op':'set_meta','title':nil}]", 0),
	BAD("[{'op':'set_meta','title':5}]", 0),
	/* the op envelope */
	OK("[]",
	    "nodes", "['a','b','c']"),
	BAD("[5]", 0),
	BAD("[{'id':'a'}]", 0),
	BAD("[{'op':7,'id':'a'}]", 0),
	BAD("[{'op':'remove_nodes','id':'a'}]", 0),
	BAD("[{'op':'remove_node','op':'remove_node','id':'a'}]", 0),
	BAD("[{'op':'remove_node','id':'a',3:4}]", 0),
	BAD("[{'op':'set_meta','title':'x'},{'op':'set_meta','title':'y'},"
	    "{'op':'bogus'}]", 2),
};

START_TEST(test_op_table)
{
	const struct op_case	*c = &op_cases[_i];
	struct flow		*f = base_flow();
	struct proto_error	 e;
	msgpack_sbuffer		 before, after;
	char			 got[8192];
	int			 rc;

	pack(f, &before);
	memset(&e, 0, sizeof e);
	rc = flow_apply(f, tx(c->ops), &lim_small, &e);
	pack(f, &after);
	if (c->index >= 0) {
		ck_assert_msg(rc == -1, "case %d %s: got success, want error "
		    "at %d", _i, c->ops, c->index);
		ck_assert_msg(e.code == PC_INVALID_OP && e.extra_key != NULL &&
		    strcmp(e.extra_key, "index") == 0 &&
		    e.extra_value == c->index, "case %d %s: got code %d index "
		    "%lld (%s), want invalid_op index %d", _i, c->ops, e.code,
		    (long long)e.extra_value, e.message, c->index);
		ck_assert_msg(before.size == after.size &&
		    memcmp(before.data, after.data, before.size) == 0,
		    "case %d: failed apply changed the document", _i);
		ck_assert_uint_eq(flow_version(f), 1);
	} else {
		ck_assert_msg(rc == 0, "case %d %s: got error %s, want success",
		    _i, c->ops, e.message);
		ck_assert_uint_eq(flow_version(f), 2);
		if (c->want != NULL) {
			probe(f, c->what, got, sizeof got);
			ck_assert_msg(strcmp(got, c->want) == 0,
			    "case %d %s: %s: got %s, want %s", _i, c->ops,
			    c->what, got, c->want);
		}
	}
	msgpack_sbuffer_destroy(&before);
	msgpack_sbuffer_destroy(&after);
	flow_destroy(f);
}
END_TEST

START_TEST(test_errors)
{
	struct flow		*f = base_flow();
	struct proto_error	 e;

	ck_assert_int_eq(flow_apply(f, tx("{'op':'x'}"), &lim_small, &e), -1);
	ck_assert_int_eq(e.code, PC_INVALID_PARAMS);
	ck_assert_int_eq(flow_apply(f, tx("[{'op':'set_meta','title':'x'},"
	    "{'op':'add_edge','edge':{'id':'e9','source':'a','target':'q'}}]"),
	    &lim_small, &e), -1);
	ck_assert_str_eq(e.message, "op 1: add_edge: no target node \"q\"");
	ck_assert_int_eq(flow_apply(f, tx("[{'op':'add_node','node':{'id':'d',"
	    "'type':'t','x':0,'y':0,'width':-2}}]"), &lim_small, &e), -1);
	ck_assert_str_eq(e.message, "op 0: add_node: node.width: must be > 0");
	ck_assert_int_eq(flow_apply(f, tx("[{'op':'update_node','id':'a',"
	    "'colour':1}]"), &lim_small, &e), -1);
	ck_assert_str_eq(e.message,
	    "op 0: update_node: unknown field \"colour\"");
	ck_assert_int_eq(flow_version(f), 1);
	flow_destroy(f);
}
END_TEST

START_TEST(test_op_decode)
{
	/* {"d": {"a": uint64 1, "b": float32 0.5}} with wide encodings */
	static const char	 wide[] = "\x81\xa1" "d" "\x82\xa1" "a"
	    "\xcf\0\0\0\0\0\0\0\x01\xa1" "b" "\xca\x3f\0\0\0";
	static const char	 canon[] = "\x82\xa1" "a" "\x01\xa1" "b"
	    "\xca\x3f\0\0\0";
	struct flow_op		 op;
	struct proto_error	 e;
	const msgpack_object	*data, *o;

	data = tx_bytes(wide, sizeof wide - 1);
	o = tx("{'op':'update_node','id':'n','x':3,'height':nil,'data':{}}");
	/* splice the wide data map in place of {} */
	((msgpack_object *)o)->via.map.ptr[4].val = data->via.map.ptr[0].val;
	ck_assert_int_eq(op_decode(o, &lim_small, &op, &e), 0);
	ck_assert_int_eq(op.type, OP_UPDATE_NODE);
	ck_assert_uint_eq(op.set, OPF_ID | OPF_X | OPF_DATA);
	ck_assert_uint_eq(op.unset, OPF_HEIGHT);
	ck_assert_str_eq(op.id.s, "n");
	ck_assert(op.x == 3.0);
	ck_assert_uint_eq(op.data.len, sizeof canon - 1);
	ck_assert(memcmp(op.data.s, canon, op.data.len) == 0);
	op_clear(&op);
	ck_assert_int_eq(op_decode(tx("{'op':'set_meta','title':BADUTF}"),
	    &lim_small, &op, &e), -1);
	ck_assert_int_eq(e.code, PC_INVALID_OP);
	ck_assert_ptr_null(op.title.s);
	ck_assert(op_utf8_valid("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 9));
	ck_assert(!op_utf8_valid("\xc0\x80", 2));	/* overlong NUL */
	ck_assert(!op_utf8_valid("\xed\xa0\x80", 3));	/* surrogate */
	ck_assert(!op_utf8_valid("\xf4\x90\x80\x80", 4));	/* >U+10FFFF */
	ck_assert(!op_utf8_valid("\xe2\x82", 2));	/* truncated */
	ck_assert_int_eq(op_utf8_prefix("ab\xc3\xa9", 4, 3), 2);
}
END_TEST

/* Data nested exactly `depth` levels, the data map being level 1. */
static const char *
deep_op(int depth)
{
	static char	 buf[512];
	int		 i;

	strcpy(buf, "[{'op':'update_node','id':'a','data':");
	for (i = 1; i < depth; i++)
		strcat(buf, i % 2 ? "{'k':" : "[");
	strcat(buf, "{}");
	for (i = depth - 1; i >= 1; i--)
		strcat(buf, i % 2 ? "}" : "]");
	strcat(buf, "}]");
	return buf;
}

START_TEST(test_data_depth)
{
	struct flow		*f = base_flow();
	struct proto_error	 e;

	lim_small.max_data_bytes = 1024;
	ck_assert_int_eq(flow_apply(f, tx(deep_op(16)), &lim_small, &e), 0);
	ck_assert_int_eq(flow_apply(f, tx(deep_op(17)), &lim_small, &e), -1);
	ck_assert_msg(strstr(e.message, "deeper") != NULL, "got %s",
	    e.message);
	flow_destroy(f);
}
END_TEST

/* ---- atomicity, order, limits ---------------------------------------- */

START_TEST(test_atomic)
{
	struct flow		*f = base_flow();
	struct proto_error	 e;
	msgpack_sbuffer		 before, after;

	apply_ok(f, "[{'op':'set_meta','title':'t0','description':'d0'},"
	    "{'op':'add_node','node':{'id':'d','type':'t','x':0,'y':0,"
	    "'data':{'v':1}}}]", &lim_small);
	pack(f, &before);
	ck_assert_int_eq(flow_apply(f, tx("["
	    "{'op':'remove_node','id':'b'},"
	    "{'op':'update_node','id':'d','type':'u','data':nil,'width':4},"
	    "{'op':'set_meta','title':'t1'},"
	    "{'op':'add_edge','edge':{'id':'e3','source':'b','target':'c'}},"
	    "{'op':'set_viewport','x':1,'y':1,'zoom':2}]"), &lim_small, &e),
	    -1);
	ck_assert_int_eq(e.extra_value, 3);
	pack(f, &after);
	ck_assert_uint_eq(before.size, after.size);
	ck_assert(memcmp(before.data, after.data, before.size) == 0);
	ck_assert_uint_eq(flow_version(f), 2);
	ck_assert_uint_eq(flow_node_count(f), 4);
	ck_assert_uint_eq(flow_edge_count(f), 2);
	/* the restored node still carries its edges: removing works again */
	apply_ok(f, "[{'op':'remove_node','id':'b'}]", &lim_small);
	ck_assert_uint_eq(flow_edge_count(f), 0);
	msgpack_sbuffer_destroy(&before);
	msgpack_sbuffer_destroy(&after);
	flow_destroy(f);
}
END_TEST

START_TEST(test_order)
{
	struct flow		*f = base_flow();
	struct proto_error	 e;
	char			 got[256];

	apply_ok(f, "[{'op':'remove_node','id':'a'},"
	    "{'op':'add_node','node':{'id':'a','type':'t','x':0,'y':0}},"
	    "{'op':'add_edge','edge':{'id':'e1','source':'a','target':'c'}},"
	    "{'op':'remove_edge','id':'e2'},"
	    "{'op':'add_edge','edge':{'id':'e2','source':'c','target':'a'}}]",
	    &lim_small);
	probe(f, "nodes", got, sizeof got);
	ck_assert_str_eq(got, "['b','c','a']");
	probe(f, "edges", got, sizeof got);
	ck_assert_str_eq(got, "['e1','e2']");
	/* rolled-back removes return to their places, not to the end */
	ck_assert_int_eq(flow_apply(f, tx("[{'op':'remove_node','id':'c'},"
	    "{'op':'remove_node','id':'b'},{'op':'remove_node','id':'q'}]"),
	    &lim_small, &e), -1);
	probe(f, "nodes", got, sizeof got);
	ck_assert_str_eq(got, "['b','c','a']");
	probe(f, "edges", got, sizeof got);
	ck_assert_str_eq(got, "['e1','e2']");
	probe(f, "edge:e1", got, sizeof got);
	ck_assert_str_eq(got, "{'id':'e1','source':'a','target':'c'}");
	flow_destroy(f);
}
END_TEST

START_TEST(test_limits)
{
	struct flow_limits	 lim = { 3, 2, 16, 4, 1 << 20 };
	struct flow		*f = flow_create("lim", 3);
	struct proto_error	 e;
	uint64_t		 size;

	apply_ok(f, "["
	    "{'op':'add_node','node':{'id':'a','type':'t','x':0,'y':0}}"
	    "{'op':'add_node','node':{'id':'b','type':'t','x':0,'y':0}}]",
	    &lim);
	ck_assert_int_eq(flow_apply(f, tx("[{'op':'add_node','node':{'id':'c',"
	    "'type':'t','x':0,'y':0}},{'op':'add_node','node':{'id':'d',"
	    "'type':'t','x':0,'y':0}}]"), &lim, &e), -1);
	ck_assert_int_eq(e.extra_value, 1);
	ck_assert_msg(strstr(e.message, "maximum of 3 nodes") != NULL,
	    "got %s", e.message);
	apply_ok(f, "[{'op':'remove_node','id':'a'},{'op':'add_node','node':"
	    "{'id':'c','type':'t','x':0,'y':0}},{'op':'add_node','node':"
	    "{'id':'d','type':'t','x':0,'y':0}}]", &lim);
	ck_assert_uint_eq(flow_node_count(f), 3);
	ck_assert_int_eq(flow_apply(f, tx("[{'op':'add_edge','edge':{'id':'1',"
	    "'source':'b','target':'c'}},{'op':'add_edge','edge':{'id':'2',"
	    "'source':'b','target':'c'}},{'op':'add_edge','edge':{'id':'3',"
	    "'source':'b','target':'c'}}]"), &lim, &e), -1);
	ck_assert_int_eq(e.extra_value, 2);
	/* max_ops: the op past the limit is the one reported */
	ck_assert_int_eq(flow_apply(f, tx("[{'op':'set_meta','title':'1'},"
	    "{'op':'set_meta','title':'2'},{'op':'set_meta','title':'3'},"
	    "{'op':'set_meta','title':'4'},{'op':'set_meta','title':'5'}]"),
	    &lim, &e), -1);
	ck_assert_int_eq(e.extra_value, 4);
	ck_assert_int_eq(flow_apply(f, tx("[{'op':'update_node','id':'b',"
	    "'data':{'k':S13}}]"), &lim, &e), -1);
	ck_assert_uint_eq(flow_version(f), 2);

	/* max_flow_bytes: exactly at the limit is fine, one byte more not */
	size = flow_encoded_size(f);
	lim.max_flow_bytes = size + 10;	/* room for a 10-byte title */
	ck_assert_int_eq(flow_apply(f, tx("[{'op':'set_meta','title':'T'},"
	    "{'op':'set_meta','title':S11}]"), &lim, &e), -1);
	ck_assert_int_eq(e.extra_value, 1);
	ck_assert_msg(strstr(e.message, "limit") != NULL, "got %s", e.message);
	apply_ok(f, "[{'op':'set_meta','title':S10}]", &lim);
	ck_assert_uint_eq(flow_encoded_size(f), lim.max_flow_bytes);
	/* a flow at its limit can still shrink and be edited in place */
	lim.max_flow_bytes = 10;
	apply_ok(f, "[{'op':'set_meta','title':S3},"
	    "{'op':'update_node','id':'b','x':5}]", &lim);
	ck_assert_int_eq(flow_apply(f, tx("[{'op':'set_meta','title':S4}]"),
	    &lim, &e), -1);
	apply_ok(f, "[{'op':'remove_node','id':'b'}]", &lim);
	flow_destroy(f);
}
END_TEST

static void roundtrip(const struct flow *, const struct flow_limits *);

/* Only the version's own width may pass max_flow_bytes (see flow.h). */
START_TEST(test_version_width)
{
	struct flow		*f = base_flow();
	struct flow_limits	 lim = lim_small;

	while (flow_version(f) < 127) {
		apply_ok(f, "[]", &lim);
		tx_reset();
	}
	lim.max_flow_bytes = flow_encoded_size(f);
	apply_ok(f, "[{'op':'set_viewport','x':1,'y':1,'zoom':1}]", &lim);
	ck_assert_uint_eq(flow_version(f), 128);
	ck_assert_uint_eq(flow_encoded_size(f), lim.max_flow_bytes + 1);
	roundtrip(f, &lim);
	flow_destroy(f);
}
END_TEST

/* ---- pack / unpack --------------------------------------------------- */

static void
roundtrip(const struct flow *f, const struct flow_limits *lim)
{
	msgpack_sbuffer		 a, b;
	struct flow		*g = NULL;
	struct proto_error	 e;

	pack(f, &a);
	ck_assert_msg(flow_unpack(tx_bytes(a.data, a.size), lim, &g, &e) == 0,
	    "unpack: %s", e.message);
	pack(g, &b);
	ck_assert_uint_eq(a.size, b.size);
	ck_assert(memcmp(a.data, b.data, a.size) == 0);
	ck_assert_str_eq(flow_id(g), flow_id(f));
	ck_assert_uint_eq(flow_version(g), flow_version(f));
	msgpack_sbuffer_destroy(&a);
	msgpack_sbuffer_destroy(&b);
	flow_destroy(g);
	tx_used--;	/* drop the parsed copy of a (freed just above) */
	msgpack_unpacked_destroy(&tx_pool[tx_used].u);
	msgpack_sbuffer_destroy(&tx_pool[tx_used].sb);
}

START_TEST(test_roundtrip)
{
	struct flow_limits	 lim;
	struct flow		*f = base_flow();
	char			 ops[1024];
	int			 i;

	flow_limits_default(&lim);
	roundtrip(f, &lim);
	apply_ok(f, "[{'op':'set_meta','title':S40,'description':S5000},"
	    "{'op':'set_viewport','x':-3.25,'y':1e300,'zoom':f0.1},"
	    "{'op':'update_node','id':'a','width':1,'height':2,"
	    "'data':{'a':[1,-1,-200,70000,-5000000000,1.5,f2.5,'s',S40,nil,"
	    "false,{},[]]}},"
	    "{'op':'add_edge','edge':{'id':S200,'source':'c','target':'a',"
	    "'source_handle':S33,'target_handle':'','data':{'x':{}}}}]", &lim);
	roundtrip(f, &lim);
	/* past 15 and 255 items the array headers change width */
	for (i = 0; i < 300; i++) {
		snprintf(ops, sizeof ops, "[{'op':'add_node','node':"
		    "{'id':'n%d','type':'t','x':%d,'y':0}},{'op':'add_edge',"
		    "'edge':{'id':'x%d','source':'n%d','target':'a'}}]", i, i,
		    i, i);
		apply_ok(f, ops, &lim);
		tx_reset();
	}
	ck_assert_uint_eq(flow_version(f), 302);
	roundtrip(f, &lim);
	flow_destroy(f);
}
END_TEST

#define DOC_HEAD "{'id':'f','version':3,'title':'','description':'',"
#define DOC_VP "'viewport':{'x':0,'y':0,'zoom':1},"
static const struct unpack_case {
	const char	*doc;
	int		 ok;
} unpack_cases[] = {
	{ DOC_HEAD DOC_VP "'nodes':[],'edges':[]}", 1 },
	{ "{'edges':[],'nodes':[],'viewport':{'zoom':1,'y':0,'x':0},"
	    "'description':'','title':'','version':0,'id':'f'}", 1 },
	{ DOC_HEAD DOC_VP "'nodes':[{'id':'a','type':'t','x':0,'y':0}],"
	    "'edges':[{'id':'e','source':'a','target':'a'}]}", 1 },
	{ "[]", 0 },
	{ "nil", 0 },
	{ DOC_HEAD DOC_VP "'nodes':[]}", 0 },
	{ DOC_HEAD DOC_VP "'nodes':[],'edges':[],'extra':1}", 0 },
	{ DOC_HEAD DOC_VP "'nodes':[],'edges':[],'edges':[]}", 0 },
	{ DOC_HEAD DOC_VP "'nodes':[],'edges':[],5:1}", 0 },
	{ "{'id':'','version':3,'title':'','description':'',"
	    DOC_VP "'nodes':[],'edges':[]}", 0 },
	{ "{'id':S129,'version':3,'title':'','description':'',"
	    DOC_VP "'nodes':[],'edges':[]}", 0 },
	{ "{'id':'f','version':-1,'title':'','description':'',"
	    DOC_VP "'nodes':[],'edges':[]}", 0 },
	{ "{'id':'f','version':1.0,'title':'','description':'',"
	    DOC_VP "'nodes':[],'edges':[]}", 0 },
	{ "{'id':'f','version':1,'title':S256,'description':'',"
	    DOC_VP "'nodes':[],'edges':[]}", 0 },
	{ "{'id':'f','version':1,'title':'','description':BADUTF,"
	    DOC_VP "'nodes':[],'edges':[]}", 0 },
	{ DOC_HEAD "'viewport':{'x':0,'y':0,'zoom':0},'nodes':[],'edges':[]}",
	    0 },
	{ DOC_HEAD "'viewport':{'x':0,'y':0},'nodes':[],'edges':[]}", 0 },
	{ DOC_HEAD "'viewport':{'x':0,'y':0,'zoom':1,'w':1},'nodes':[],"
	    "'edges':[]}", 0 },
	{ DOC_HEAD "'viewport':[0,0,1],'nodes':[],'edges':[]}", 0 },
	{ DOC_HEAD DOC_VP "'nodes':{},'edges':[]}", 0 },
	{ DOC_HEAD DOC_VP "'nodes':[{'id':'a','type':'t','x':NaN,'y':0}],"
	    "'edges':[]}", 0 },
	{ DOC_HEAD DOC_VP "'nodes':[{'id':'a','type':'t','x':0,'y':0},"
	    "{'id':'a','type':'t','x':0,'y':0}],'edges':[]}", 0 },
	{ DOC_HEAD DOC_VP "'nodes':[{'id':'a','type':'t','x':0,'y':0,"
	    "'data':{'b':BIN}}],'edges':[]}", 0 },
	{ DOC_HEAD DOC_VP "'nodes':[{'id':'a','type':'t','x':0,'y':0,"
	    "'op':'add_node'}],'edges':[]}", 0 },
	{ DOC_HEAD DOC_VP "'nodes':[1,2,3,4],'edges':[]}", 0 },
	{ DOC_HEAD DOC_VP "'nodes':[{'id':'a','type':'t','x':0,'y':0}],"
	    "'edges':[{'id':'e','source':'a','target':'b'}]}", 0 },
	{ DOC_HEAD DOC_VP "'nodes':[{'id':'a','type':'t','x':0,'y':0}],"
	    "'edges':[{'id':'e','source':'a','target':'a'},"
	    "{'id':'e','source':'a','target':'a'}]}", 0 },
	{ DOC_HEAD DOC_VP "'nodes':[],'edges':[{'id':'e','source':'a',"
	    "'target':'a'}]}", 0 },
	{ DOC_HEAD DOC_VP "'nodes':[{'id':'a','type':'t','x':0,'y':0}],"
	    "'edges':[{'id':'e','source':'a','target':'a','w':1}]}", 0 },
};

START_TEST(test_unpack_hostile)
{
	const struct unpack_case *c = &unpack_cases[_i];
	struct flow		*g = NULL;
	struct proto_error	 e;
	int			 rc;

	lim_small.max_nodes = 3;
	memset(&e, 0, sizeof e);
	rc = flow_unpack(tx(c->doc), &lim_small, &g, &e);
	ck_assert_msg(rc == (c->ok ? 0 : -1), "case %d %s: got %d (%s), "
	    "want %d", _i, c->doc, rc, e.message, c->ok ? 0 : -1);
	if (c->ok)
		roundtrip(g, &lim_small);
	else {
		ck_assert_int_eq(e.code, PC_INVALID_PARAMS);
		ck_assert_ptr_null(g);
	}
	flow_destroy(g);
}
END_TEST

START_TEST(test_unpack_limits)
{
	struct flow		*f = base_flow(), *g = NULL;
	struct flow_limits	 lim = lim_small;
	struct proto_error	 e;
	msgpack_sbuffer		 sb;
	const msgpack_object	*doc;

	pack(f, &sb);
	doc = tx_bytes(sb.data, sb.size);
	lim.max_flow_bytes = sb.size - 9;	/* past the allowed slack */
	ck_assert_int_eq(flow_unpack(doc, &lim, &g, &e), -1);
	lim.max_flow_bytes = sb.size - 8;
	ck_assert_int_eq(flow_unpack(doc, &lim, &g, &e), 0);
	flow_destroy(g);
	lim = lim_small;
	lim.max_edges = 1;
	ck_assert_int_eq(flow_unpack(doc, &lim, &g, &e), -1);
	lim = lim_small;
	lim.max_nodes = 2;
	ck_assert_int_eq(flow_unpack(doc, &lim, &g, &e), -1);
	msgpack_sbuffer_destroy(&sb);
	flow_destroy(f);
}
END_TEST

/* ---- cost ------------------------------------------------------------ */

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * 10,000 nodes, then single-op applies and failing applies: each must
 * cost the op, not the flow.  Timing is printed, not asserted.
 */
START_TEST(test_cost)
{
	struct flow_limits	 lim;
	struct flow		*f = flow_create("big", 3);
	struct proto_error	 e;
	msgpack_sbuffer		 sb;
	msgpack_packer		 pk;
	const char		*p;
	char			 ops[256];
	double			 t0;
	int			 i, j;

	flow_limits_default(&lim);
	for (i = 0; i < 10; i++) {
		msgpack_sbuffer_init(&sb);
		msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
		msgpack_pack_array(&pk, 1000);
		for (j = 0; j < 1000; j++) {
			snprintf(ops, sizeof ops, "{'op':'add_node','node':"
			    "{'id':'n%d','type':'t','x':%d,'y':0}}",
			    i * 1000 + j, j);
			p = ops;
			tx_value(&p, &pk);
		}
		ck_assert_int_eq(flow_apply(f, tx_bytes(sb.data, sb.size),
		    &lim, &e), 0);
		msgpack_sbuffer_destroy(&sb);
		tx_reset();
	}
	ck_assert_uint_eq(flow_node_count(f), 10000);
	apply_ok(f, "[{'op':'add_edge','edge':{'id':'h','source':'n0',"
	    "'target':'n9999'}}]", &lim);
	t0 = now();
	for (i = 0; i < 1000; i++) {
		snprintf(ops, sizeof ops, "[{'op':'update_node','id':'n%d',"
		    "'x':%d}]", i * 7, i);
		apply_ok(f, ops, &lim);
		tx_reset();
		snprintf(ops, sizeof ops, "[{'op':'remove_node','id':'n%d'},"
		    "{'op':'remove_node','id':'n0'},{'op':'bogus'}]", 9999 - i);
		ck_assert_int_eq(flow_apply(f, tx(ops), &lim, &e), -1);
		ck_assert_int_eq(e.extra_value, 2);
		tx_reset();
	}
	fprintf(stderr, "test_flow: 2000 applies on 10000 nodes: %.1f ms\n",
	    (now() - t0) * 1000);
	ck_assert_uint_eq(flow_version(f), 1011);
	ck_assert_uint_eq(flow_node_count(f), 10000);
	ck_assert_uint_eq(flow_edge_count(f), 1);
	flow_destroy(f);
}
END_TEST

/* ---- property test against a reference model ------------------------- */

/*
 * Random batches of valid and invalid ops go to three places: flow A as
 * one apply, flow B op by op (only batches that A accepted), and a naive
 * model (arrays, linear search) written from PROTOCOL.md.  After every
 * batch A must equal the model byte for byte, B must equal it apart from
 * the version, and a refused batch must have left A untouched.
 */
#define P_SEQS		1500
#define P_BATCHES	30
#define P_NODE_IDS	10	/* ids n0..n9: collisions are frequent */
#define P_EDGE_IDS	12
#define M_NODES		8
#define M_EDGES		10

static uint64_t	 rng;

static uint32_t
rn(uint32_t n)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return (uint32_t)((rng * 0x2545f4914f6cdd1dULL) >> 32) % n;
}

struct m_node {
	char		 id[8], type[24];
	double		 x, y, w, h;
	unsigned	 has;
	char		 data[64];
	size_t		 dlen;
};

struct m_edge {
	char		 id[8], src[8], tgt[8], sh[24], th[24];
	unsigned	 has;
	char		 data[64];
	size_t		 dlen;
};

struct model {
	uint64_t	 version;
	char		 title[40], desc[40];
	double		 vx, vy, vz;
	struct m_node	 n[M_NODES];
	struct m_edge	 e[M_EDGES];
	int		 nn, ne;
};

struct m_op {
	enum op_type	 type;
	int		 bad;	/* statically invalid */
	unsigned	 set, unset;
	char		 id[8], type_s[24], src[8], tgt[8], sh[24], th[24];
	char		 title[40], desc[40];
	double		 x, y, w, h, zoom;
	char		 data[512];
	size_t		 dlen;
};

static const char *p_bad_ops[] = {
	"{'op':'add_nodes','node':{'id':'n1','type':'t','x':0,'y':0}}",
	"{'op':'add_node','node':{'id':'n1','type':'t','x':0,'y':0,'z':1}}",
	"{'op':'add_node','node':{'id':'n1','type':'t','x':NaN,'y':0}}",
	"{'op':'add_node','node':{'id':'n1','type':'t','y':0}}",
	"{'op':'add_node','node':{'id':S256,'type':'t','x':0,'y':0}}",
	"{'op':'add_node','node':{'id':'n1','type':'t','x':0,'y':0,'width':0}}",
	"{'op':'add_node','node':{'id':'n1','type':'t','x':0,'y':0,"
	    "'data':{'a':BIN}}}",
	"{'op':'update_node','id':'n1'}",
	"{'op':'update_node','id':'n1','type':''}",
	"{'op':'update_node','id':'n1','data':{1:1}}",
	"{'op':'remove_node','id':7}",
	"{'op':'remove_edge'}",
	"{'op':'add_edge','edge':{'id':'e1','source':'n1'}}",
	"{'op':'add_edge','edge':{'id':'e1','source':'n1','target':'n2',"
	    "'target_handle':S256}}",
	"{'op':'set_viewport','x':0,'y':0,'zoom':0}",
	"{'op':'set_meta','title':S256}",
	"{'op':'set_meta'}",
	"{'op':'set_meta','title':'x','title':'y'}",
	"[1,2]",
	"nil",
};
#define P_NBAD (sizeof p_bad_ops / sizeof p_bad_ops[0])
static msgpack_sbuffer	 p_bad[P_NBAD];

static void
p_key(msgpack_packer *pk, const char *k)
{
	msgpack_pack_str_with_body(pk, k, strlen(k));
}

static void
p_text(msgpack_packer *pk, char *buf, size_t min, size_t max)
{
	size_t	 i, len = min + rn(max - min + 1);

	for (i = 0; i < len; i++)
		buf[i] = 'a' + rn(26);
	buf[len] = '\0';
	msgpack_pack_str_with_body(pk, buf, len);
}

/*
 * Mostly an id the model has, so that fewer ops fail for want of one;
 * with m NULL (ids of new items) any id of the pool.
 */
static void
p_id(msgpack_packer *pk, char *buf, char c, const struct model *m)
{
	int	 have = m == NULL ? 0 : c == 'n' ? m->nn : m->ne;

	if (have > 0 && rn(4) != 0)
		strcpy(buf, c == 'n' ? m->n[rn(have)].id : m->e[rn(have)].id);
	else
		snprintf(buf, 8, "%c%u", c, rn(c == 'n' ? P_NODE_IDS :
		    P_EDGE_IDS));
	p_key(pk, buf);
}

/* Integer, float32 or float64: all must come back as the same double. */
static void
p_num(msgpack_packer *pk, double *v, int positive)
{
	float	 fl;

	switch (rn(3)) {
	case 0:
		*v = (double)rn(2001) - (positive ? -1 : 1000);
		msgpack_pack_int64(pk, (int64_t)*v);
		break;
	case 1:
		fl = (float)(rn(4000) / 8.0 - (positive ? -0.125 : 250));
		*v = fl;
		msgpack_pack_float(pk, fl);
		break;
	default:
		*v = rn(1000000) / 37.0 + (positive ? 0.5 : -13000);
		msgpack_pack_double(pk, *v);
		break;
	}
}

static void
p_value(msgpack_packer *pk, int depth)
{
	uint32_t	 i, n;
	int64_t		 v;
	char		 s[16];

	switch (rn(depth < 3 ? 8 : 6)) {
	case 0:
		msgpack_pack_nil(pk);
		break;
	case 1:
		rn(2) ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
		break;
	case 2:
		/* one call per statement: the same seed, the same ops */
		v = (int64_t)rn(1u << 31) << 32;
		v |= rn(1u << 31);
		v >>= rn(62);
		msgpack_pack_int64(pk, rn(2) ? v : -v);
		break;
	case 3:
		msgpack_pack_double(pk, rn(100000) / 7.0 - 5000);
		break;
	case 4:
		p_text(pk, s, 0, 8);
		break;
	case 5:
		msgpack_pack_float(pk, (float)rn(100) / 4);
		break;
	case 6:
		msgpack_pack_array(pk, n = rn(3));
		for (i = 0; i < n; i++)
			p_value(pk, depth + 1);
		break;
	default:
		msgpack_pack_map(pk, n = rn(3));
		for (i = 0; i < n; i++) {
			p_text(pk, s, 1, 2);
			p_value(pk, depth + 1);
		}
		break;
	}
}

/* A data map, kept in op->data; too large for the limit makes op bad. */
static void
p_data(msgpack_packer *pk, struct m_op *op, const struct flow_limits *lim)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 sub;
	uint32_t	 i, n = rn(4);
	char		 k[4];

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&sub, &sb, msgpack_sbuffer_write);
	msgpack_pack_map(&sub, n);
	for (i = 0; i < n; i++) {
		p_text(&sub, k, 1, 1);
		p_value(&sub, 2);
	}
	ck_assert_uint_lt(sb.size, sizeof op->data);
	memcpy(op->data, sb.data, sb.size);
	op->dlen = sb.size;
	if (sb.size > lim->max_data_bytes)
		op->bad = 1;
	pk->callback(pk->data, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
}

static void
p_op(msgpack_packer *pk, struct m_op *op, const struct model *m,
    const struct flow_limits *lim)
{
	uint32_t	 r, w, h, d, i;

	memset(op, 0, sizeof *op);
	if (rn(100) < 4) {
		r = rn(P_NBAD);
		op->bad = 1;
		pk->callback(pk->data, p_bad[r].data, p_bad[r].size);
		return;
	}
	r = rn(100);
	w = rn(3) == 0;
	h = rn(3) == 0;
	d = rn(3) == 0;
	if (r < 35) {
		op->type = OP_ADD_NODE;
		op->set = (w ? OPF_WIDTH : 0) | (h ? OPF_HEIGHT : 0) |
		    (d ? OPF_DATA : 0);
		msgpack_pack_map(pk, 2);
		p_key(pk, "op");
		p_key(pk, "add_node");
		p_key(pk, "node");
		msgpack_pack_map(pk, 4 + w + h + d);
		p_key(pk, "id");
		p_id(pk, op->id, 'n', NULL);
		p_key(pk, "type");
		p_text(pk, op->type_s, 1, 20);
		p_key(pk, "x");
		p_num(pk, &op->x, 0);
		p_key(pk, "y");
		p_num(pk, &op->y, 0);
	} else if (r < 50) {
		op->type = OP_UPDATE_NODE;
		while ((op->set = rn(64) << 4 & (OPF_TYPE|OPF_X|OPF_Y|
		    OPF_WIDTH|OPF_HEIGHT|OPF_DATA)) == 0)
			;
		/* width, height, data: a quarter of them nil (removal) */
		for (i = OPF_WIDTH; i <= OPF_DATA; i <<= 1) {
			if ((op->set & i) && rn(4) == 0) {
				op->set &= ~i;
				op->unset |= i;
			}
		}
		msgpack_pack_map(pk, 2 + __builtin_popcount(op->set |
		    op->unset));
		p_key(pk, "op");
		p_key(pk, "update_node");
		p_key(pk, "id");
		p_id(pk, op->id, 'n', m);
		if (op->set & OPF_TYPE) {
			p_key(pk, "type");
			p_text(pk, op->type_s, 1, 20);
		}
		if (op->set & OPF_X) {
			p_key(pk, "x");
			p_num(pk, &op->x, 0);
		}
		if (op->set & OPF_Y) {
			p_key(pk, "y");
			p_num(pk, &op->y, 0);
		}
		w = h = d = 0;
		for (i = OPF_WIDTH; i <= OPF_DATA; i <<= 1) {
			if (op->unset & i) {
				p_key(pk, i == OPF_WIDTH ? "width" :
				    i == OPF_HEIGHT ? "height" : "data");
				msgpack_pack_nil(pk);
			}
		}
		w = (op->set & OPF_WIDTH) != 0;
		h = (op->set & OPF_HEIGHT) != 0;
		d = (op->set & OPF_DATA) != 0;
	} else if (r < 57 || (r >= 82 && r < 90)) {
		op->type = r < 57 ? OP_REMOVE_NODE : OP_REMOVE_EDGE;
		msgpack_pack_map(pk, 2);
		p_key(pk, "op");
		p_key(pk, r < 57 ? "remove_node" : "remove_edge");
		p_key(pk, "id");
		p_id(pk, op->id, r < 57 ? 'n' : 'e', m);
		return;
	} else if (r < 82) {
		op->type = OP_ADD_EDGE;
		w = rn(4) == 0;
		h = rn(4) == 0;
		d = rn(5) == 0;
		op->set = (w ? OPF_SOURCE_HANDLE : 0) |
		    (h ? OPF_TARGET_HANDLE : 0) | (d ? OPF_DATA : 0);
		msgpack_pack_map(pk, 2);
		p_key(pk, "op");
		p_key(pk, "add_edge");
		p_key(pk, "edge");
		msgpack_pack_map(pk, 3 + w + h + d);
		p_key(pk, "id");
		p_id(pk, op->id, 'e', NULL);
		p_key(pk, "source");
		p_id(pk, op->src, 'n', m);
		p_key(pk, "target");
		p_id(pk, op->tgt, 'n', m);
		if (w) {
			p_key(pk, "source_handle");
			p_text(pk, op->sh, 0, 20);
		}
		if (h) {
			p_key(pk, "target_handle");
			p_text(pk, op->th, 0, 20);
		}
		w = h = 0;
	} else if (r < 95) {
		op->type = OP_SET_VIEWPORT;
		msgpack_pack_map(pk, 4);
		p_key(pk, "op");
		p_key(pk, "set_viewport");
		p_key(pk, "x");
		p_num(pk, &op->x, 0);
		p_key(pk, "y");
		p_num(pk, &op->y, 0);
		p_key(pk, "zoom");
		p_num(pk, &op->zoom, 1);
		return;
	} else {
		op->type = OP_SET_META;
		op->set = (1 + rn(3)) * OPF_TITLE;
		msgpack_pack_map(pk, 1 + __builtin_popcount(op->set));
		p_key(pk, "op");
		p_key(pk, "set_meta");
		if (op->set & OPF_TITLE) {
			p_key(pk, "title");
			p_text(pk, op->title, 0, 30);
		}
		if (op->set & OPF_DESCRIPTION) {
			p_key(pk, "description");
			p_text(pk, op->desc, 0, 30);
		}
		return;
	}
	if (w) {
		p_key(pk, "width");
		p_num(pk, &op->w, 1);
	}
	if (h) {
		p_key(pk, "height");
		p_num(pk, &op->h, 1);
	}
	if (d) {
		p_key(pk, "data");
		p_data(pk, op, lim);
	}
}

static int
m_find(const struct model *m, int edges, const char *id)
{
	int	 i;

	for (i = 0; i < (edges ? m->ne : m->nn); i++) {
		if (strcmp(edges ? m->e[i].id : m->n[i].id, id) == 0)
			return i;
	}
	return -1;
}

static void
m_pack(const struct model *m, uint64_t version, msgpack_packer *pk)
{
	const struct m_node	*n;
	const struct m_edge	*e;
	int			 i;

	msgpack_pack_map(pk, 7);
	p_key(pk, "id");
	p_key(pk, "p");
	p_key(pk, "version");
	msgpack_pack_uint64(pk, version);
	p_key(pk, "title");
	p_key(pk, m->title);
	p_key(pk, "description");
	p_key(pk, m->desc);
	p_key(pk, "viewport");
	msgpack_pack_map(pk, 3);
	p_key(pk, "x");
	msgpack_pack_double(pk, m->vx);
	p_key(pk, "y");
	msgpack_pack_double(pk, m->vy);
	p_key(pk, "zoom");
	msgpack_pack_double(pk, m->vz);
	p_key(pk, "nodes");
	msgpack_pack_array(pk, m->nn);
	for (i = 0, n = m->n; i < m->nn; i++, n++) {
		msgpack_pack_map(pk, 4 + __builtin_popcount(n->has));
		p_key(pk, "id");
		p_key(pk, n->id);
		p_key(pk, "type");
		p_key(pk, n->type);
		p_key(pk, "x");
		msgpack_pack_double(pk, n->x);
		p_key(pk, "y");
		msgpack_pack_double(pk, n->y);
		if (n->has & OPF_WIDTH) {
			p_key(pk, "width");
			msgpack_pack_double(pk, n->w);
		}
		if (n->has & OPF_HEIGHT) {
			p_key(pk, "height");
			msgpack_pack_double(pk, n->h);
		}
		if (n->has & OPF_DATA) {
			p_key(pk, "data");
			pk->callback(pk->data, n->data, n->dlen);
		}
	}
	p_key(pk, "edges");
	msgpack_pack_array(pk, m->ne);
	for (i = 0, e = m->e; i < m->ne; i++, e++) {
		msgpack_pack_map(pk, 3 + __builtin_popcount(e->has));
		p_key(pk, "id");
		p_key(pk, e->id);
		p_key(pk, "source");
		p_key(pk, e->src);
		p_key(pk, "target");
		p_key(pk, e->tgt);
		if (e->has & OPF_SOURCE_HANDLE) {
			p_key(pk, "source_handle");
			p_key(pk, e->sh);
		}
		if (e->has & OPF_TARGET_HANDLE) {
			p_key(pk, "target_handle");
			p_key(pk, e->th);
		}
		if (e->has & OPF_DATA) {
			p_key(pk, "data");
			pk->callback(pk->data, e->data, e->dlen);
		}
	}
}

static size_t
m_size(const struct model *m)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	size_t		 size;

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	m_pack(m, m->version, &pk);
	size = sb.size;
	msgpack_sbuffer_destroy(&sb);
	return size;
}

static int
m_do(struct model *m, const struct m_op *op, const struct flow_limits *lim)
{
	struct m_node	*n;
	struct m_edge	*e;
	int		 i, j;

	if (op->bad)
		return -1;
	switch (op->type) {
	case OP_ADD_NODE:
		if (m_find(m, 0, op->id) != -1 || m->nn >= (int)lim->max_nodes)
			return -1;
		n = &m->n[m->nn++];
		memset(n, 0, sizeof *n);
		strcpy(n->id, op->id);
		/* FALLTHROUGH */
	case OP_UPDATE_NODE:
		if (op->type == OP_UPDATE_NODE &&
		    (i = m_find(m, 0, op->id)) == -1)
			return -1;
		if (op->type == OP_UPDATE_NODE)
			n = &m->n[i];
		if (op->type == OP_ADD_NODE || (op->set & OPF_TYPE))
			strcpy(n->type, op->type_s);
		if (op->type == OP_ADD_NODE || (op->set & OPF_X))
			n->x = op->x;
		if (op->type == OP_ADD_NODE || (op->set & OPF_Y))
			n->y = op->y;
		if (op->set & OPF_WIDTH)
			n->w = op->w;
		if (op->set & OPF_HEIGHT)
			n->h = op->h;
		if (op->set & OPF_DATA) {
			memcpy(n->data, op->data, op->dlen);
			n->dlen = op->dlen;
		}
		n->has = (n->has | (op->set & (OPF_WIDTH|OPF_HEIGHT|OPF_DATA)))
		    & ~op->unset;
		return 0;
	case OP_REMOVE_NODE:
		if ((i = m_find(m, 0, op->id)) == -1)
			return -1;
		for (j = 0; j < m->ne;) {
			if (strcmp(m->e[j].src, op->id) == 0 ||
			    strcmp(m->e[j].tgt, op->id) == 0) {
				memmove(&m->e[j], &m->e[j + 1],
				    (m->ne - j - 1) * sizeof m->e[0]);
				m->ne--;
			} else
				j++;
		}
		memmove(&m->n[i], &m->n[i + 1], (m->nn - i - 1) *
		    sizeof m->n[0]);
		m->nn--;
		return 0;
	case OP_ADD_EDGE:
		if (m_find(m, 1, op->id) != -1 ||
		    m->ne >= (int)lim->max_edges ||
		    m_find(m, 0, op->src) == -1 || m_find(m, 0, op->tgt) == -1)
			return -1;
		e = &m->e[m->ne++];
		memset(e, 0, sizeof *e);
		strcpy(e->id, op->id);
		strcpy(e->src, op->src);
		strcpy(e->tgt, op->tgt);
		strcpy(e->sh, op->sh);
		strcpy(e->th, op->th);
		memcpy(e->data, op->data, op->dlen);
		e->dlen = op->dlen;
		e->has = op->set;
		return 0;
	case OP_REMOVE_EDGE:
		if ((i = m_find(m, 1, op->id)) == -1)
			return -1;
		memmove(&m->e[i], &m->e[i + 1], (m->ne - i - 1) *
		    sizeof m->e[0]);
		m->ne--;
		return 0;
	case OP_SET_VIEWPORT:
		m->vx = op->x;
		m->vy = op->y;
		m->vz = op->zoom;
		return 0;
	case OP_SET_META:
		if (op->set & OPF_TITLE)
			strcpy(m->title, op->title);
		if (op->set & OPF_DESCRIPTION)
			strcpy(m->desc, op->desc);
		return 0;
	}
	return -1;
}

/* The model's apply: -1 and the failing index, or 0 and m updated. */
static int
m_apply(struct model *m, const struct m_op *ops, uint32_t n,
    const struct flow_limits *lim, uint32_t *index)
{
	struct model	 t = *m;
	size_t		 before, after;
	uint32_t	 i;

	if (n > lim->max_ops) {
		*index = lim->max_ops;
		return -1;
	}
	t.version++;
	for (i = 0; i < n; i++) {
		before = m_size(&t);
		if (m_do(&t, &ops[i], lim) == -1)
			break;
		after = m_size(&t);
		if (after > before && after > lim->max_flow_bytes)
			break;
	}
	if (i < n) {
		*index = i;
		return -1;
	}
	*m = t;
	return 0;
}

static void
p_expect_same(const msgpack_sbuffer *got, const struct model *m,
    uint64_t version, const char *what, const char *where, int step)
{
	msgpack_sbuffer	 sb;
	msgpack_packer	 pk;
	char		 g[8192] = "", w[8192] = "";

	msgpack_sbuffer_init(&sb);
	msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
	m_pack(m, version, &pk);
	if (got->size != sb.size || memcmp(got->data, sb.data, sb.size) != 0) {
		tx_print(tx_bytes(got->data, got->size), g, sizeof g);
		tx_print(tx_bytes(sb.data, sb.size), w, sizeof w);
		ck_abort_msg("%s step %d: %s: got %s, want %s", where, step,
		    what, g, w);
	}
	msgpack_sbuffer_destroy(&sb);
}

/* Apply each op of batch o to f as a batch of its own. */
static void
p_one_by_one(struct flow *f, const msgpack_object *o,
    const struct flow_limits *lim, const char *where, int step)
{
	struct proto_error	 e;
	msgpack_object		 one;
	uint32_t		 i;

	for (i = 0; i < o->via.array.size; i++) {
		one.type = MSGPACK_OBJECT_ARRAY;
		one.via.array.size = 1;
		one.via.array.ptr = &o->via.array.ptr[i];
		ck_assert_msg(flow_apply(f, &one, lim, &e) == 0,
		    "%s step %d: op %u alone: %s", where, step, i, e.message);
	}
}

START_TEST(test_property)
{
	struct flow_limits	 lim = { 6, 5, 40, 6, 700 };
	struct flow_limits	 lim_b;
	struct m_op		 ops[8];
	struct model		 m;
	struct flow		*a, *b;
	struct proto_error	 e;
	msgpack_sbuffer		 batch, before, after;
	msgpack_packer		 pk;
	const msgpack_object	*o;
	const char		*env, *p;
	char			 where[64];
	uint64_t		 seed = 0x68656c6978ULL;
	uint32_t		 n, i, index;
	int			 seq, step, rc, want, nok = 0, nfail = 0;

	if ((env = getenv("HELIX_SEED")) != NULL)
		seed = strtoull(env, NULL, 0);
	fprintf(stderr, "test_flow: property seed %llu (set HELIX_SEED to "
	    "change)\n", (unsigned long long)seed);
	for (i = 0; i < P_NBAD; i++) {
		msgpack_sbuffer_init(&p_bad[i]);
		msgpack_packer_init(&pk, &p_bad[i], msgpack_sbuffer_write);
		p = p_bad_ops[i];
		tx_value(&p, &pk);
	}
	/* B takes ops one by one, so its version is wider: give it room. */
	lim_b = lim;
	lim_b.max_flow_bytes += 16;
	for (seq = 0; seq < P_SEQS; seq++) {
		/* sequences of nearby seeds must not overlap */
		rng = (seed * 0x9e3779b97f4a7c15ULL ^
		    (uint64_t)seq * 0xbf58476d1ce4e5b9ULL) | 1;
		snprintf(where, sizeof where, "seed %llu seq %d",
		    (unsigned long long)seed, seq);
		a = flow_create("p", 1);
		b = flow_create("p", 1);
		memset(&m, 0, sizeof m);
		m.vz = 1;
		for (step = 0; step < P_BATCHES; step++) {
			/* mostly short batches, a few past max_ops */
			n = rn(100) < 3 ? lim.max_ops + 1 : rn(3) == 0 ?
			    rn(lim.max_ops + 1) : 1 + rn(2);
			msgpack_sbuffer_init(&batch);
			msgpack_packer_init(&pk, &batch, msgpack_sbuffer_write);
			msgpack_pack_array(&pk, n);
			for (i = 0; i < n; i++)
				p_op(&pk, &ops[i < 8 ? i : 7], &m, &lim);
			o = tx_bytes(batch.data, batch.size);
			want = m_apply(&m, ops, n, &lim, &index);
			pack(a, &before);
			memset(&e, 0, sizeof e);
			rc = flow_apply(a, o, &lim, &e);
			pack(a, &after);
			ck_assert_msg(rc == want, "%s step %d: got %d (%s), "
			    "want %d", where, step, rc, e.message, want);
			if (rc == -1) {
				nfail++;
				ck_assert_msg(e.extra_value == index, "%s step "
				    "%d: got index %lld (%s), want %u", where,
				    step, (long long)e.extra_value, e.message,
				    index);
				/* (b) a refused batch changes nothing */
				ck_assert_msg(before.size == after.size &&
				    memcmp(before.data, after.data,
				    after.size) == 0, "%s step %d: refused "
				    "batch changed the document", where, step);
			} else {
				nok++;
				/* (a) the same ops one at a time */
				p_one_by_one(b, o, &lim_b, where, step);
			}
			/* (c), (d): the model removes edges with nodes */
			p_expect_same(&after, &m, m.version, "A", where, step);
			msgpack_sbuffer_destroy(&before);
			pack(b, &before);
			p_expect_same(&before, &m, flow_version(b), "B", where,
			    step);
			if (step % 10 == 9)
				roundtrip(a, &lim_b);
			msgpack_sbuffer_destroy(&before);
			msgpack_sbuffer_destroy(&after);
			msgpack_sbuffer_destroy(&batch);
			tx_reset();
		}
		flow_destroy(a);
		flow_destroy(b);
	}
	for (i = 0; i < P_NBAD; i++)
		msgpack_sbuffer_destroy(&p_bad[i]);
	fprintf(stderr, "test_flow: property: %d batches applied, %d refused\n",
	    nok, nfail);
	ck_assert_int_gt(nok, P_SEQS * P_BATCHES / 5);
	ck_assert_int_gt(nfail, P_SEQS * P_BATCHES / 5);
}
END_TEST

#define NITEMS(a) ((int)(sizeof (a) / sizeof (a)[0]))

static Suite *
flow_suite(void)
{
	Suite	*s = suite_create("flow");
	TCase	*tc;

	tc = tcase_create("ops");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_loop_test(tc, test_op_table, 0, NITEMS(op_cases));
	tcase_add_test(tc, test_errors);
	tcase_add_test(tc, test_op_decode);
	tcase_add_test(tc, test_data_depth);
	tcase_add_test(tc, test_atomic);
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_version_width);
	suite_add_tcase(s, tc);

	tc = tcase_create("document");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_roundtrip);
	tcase_add_loop_test(tc, test_unpack_hostile, 0, NITEMS(unpack_cases));
	tcase_add_test(tc, test_unpack_limits);
	suite_add_tcase(s, tc);

	/* These take seconds under ASan; CK_DEFAULT_TIMEOUT may raise it. */
	tc = tcase_create("scale");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_cost);
	tcase_add_test(tc, test_property);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr = srunner_create(flow_suite());
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? 0 : 1;
}
