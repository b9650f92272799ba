/*
 * helixctl-print.c: results in a form for people.
 *
 * Maps become "key: value" lines (nested maps flattened to "a.b: value"),
 * lists of status maps and latencies become tables with a header line.
 * Strings come from the server and may hold anything UTF-8 allows: control
 * characters are escaped so that one value stays on one line.  None of
 * this is meant to be parsed; --json is (print_json_line).
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client/helixctl.h"

/* A table: cells row by row, the first row the header. */
struct print_table {
	size_t	 ncols;
	size_t	 ncells;
	size_t	 cap;
	char	**cells;
};

/* Growing strings; out of memory ends helixctl (there is no way on). */
struct print_buf {
	char	*s;
	size_t	 len;
	size_t	 cap;
};

static void
print_nomem(void)
{
	helixctl_warn("out of memory");
	exit(HC_ERROR);
}

static void
print_buf_add(struct print_buf *b, const char *s, size_t len)
{
	size_t	cap;

	if (b->len + len + 1 > b->cap) {
		cap = b->cap == 0 ? 64 : b->cap;
		while (cap < b->len + len + 1)
			cap *= 2;
		if ((b->s = realloc(b->s, cap)) == NULL)
			print_nomem();
		b->cap = cap;
	}
	memcpy(b->s + b->len, s, len);
	b->len += len;
	b->s[b->len] = '\0';
}

static void
print_buf_printf(struct print_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
print_buf_printf(struct print_buf *b, const char *fmt, ...)
{
	va_list	ap;
	char	tmp[512];
	int	n;

	va_start(ap, fmt);
	n = vsnprintf(tmp, sizeof tmp, fmt, ap);
	va_end(ap);
	if (n > 0)
		print_buf_add(b, tmp, (size_t)n < sizeof tmp ? (size_t)n :
		    sizeof tmp - 1);
}

static char *
print_buf_done(struct print_buf *b)
{
	if (b->s == NULL)
		print_buf_add(b, "", 0);
	return (b->s);
}

/*
 * The shortest decimal that reads back as the same double, without an
 * exponent from 1e-4 to 1e16 (100, not %g's 1e+02), as Python's repr.
 */
static void
print_real_text(double d, char *buf, size_t len)
{
	char	*e;
	int	 prec, exp;

	for (prec = 1; prec <= 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			break;
	}
	if ((e = strchr(buf, 'e')) == NULL)
		return;
	exp = atoi(e + 1);
	if (exp >= prec && exp < 16)
		snprintf(buf, len, "%.0f", d);
}

/*
 * Compact JSON, by hand rather than json_dumpf: jansson writes a double
 * with 17 digits (0.1 as 0.10000000000000001); we write the shortest that
 * reads back the same, keeping ".0" on integral reals so that a real stays
 * a real.  Strings are valid UTF-8 (jansson checked them on the way in):
 * only '"', '\\' and control characters need escaping.
 */
static void
print_json_string(FILE *f, const char *s, size_t len)
{
	size_t		i, start = 0;
	unsigned char	ch;

	putc('"', f);
	for (i = 0; i < len; i++) {
		ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch != '"' && ch != '\\')
			continue;
		fwrite(s + start, 1, i - start, f);
		switch (ch) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		default:
			fprintf(f, "\\u%04x", ch);
			break;
		}
		start = i + 1;
	}
	fwrite(s + start, 1, len - start, f);
	putc('"', f);
}

static void
print_json_value(FILE *f, const json_t *v)
{
	json_t		*jv = (json_t *)v;	/* iterators are not const */
	json_t		*item;
	void		*it;
	const char	*key;
	size_t		 i, klen;
	char		 tmp[64];

	switch (json_typeof(v)) {
	case JSON_OBJECT:
		putc('{', f);
		for (it = json_object_iter(jv); it != NULL;
		    it = json_object_iter_next(jv, it)) {
			if (it != json_object_iter(jv))
				putc(',', f);
			key = json_object_iter_key(it);
#if JANSSON_VERSION_HEX >= 0x020e00
			klen = json_object_iter_key_len(it);
#else
			klen = strlen(key);
#endif
			print_json_string(f, key, klen);
			putc(':', f);
			print_json_value(f, json_object_iter_value(it));
		}
		putc('}', f);
		break;
	case JSON_ARRAY:
		putc('[', f);
		json_array_foreach(v, i, item) {
			if (i > 0)
				putc(',', f);
			print_json_value(f, item);
		}
		putc(']', f);
		break;
	case JSON_STRING:
		print_json_string(f, json_string_value(v),
		    json_string_length(v));
		break;
	case JSON_INTEGER:
		fprintf(f, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		break;
	case JSON_REAL:
		print_real_text(json_real_value(v), tmp, sizeof tmp);
		fputs(tmp, f);
		if (strpbrk(tmp, ".e") == NULL)
			fputs(".0", f);
		break;
	case JSON_TRUE:
		fputs("true", f);
		break;
	case JSON_FALSE:
		fputs("false", f);
		break;
	default:
		fputs("null", f);
		break;
	}
}

/* The JSON of anything, on one line. */
int
print_json_line(const json_t *v)
{
	print_json_value(stdout, v);
	return (putchar('\n') == EOF || ferror(stdout) ? -1 : 0);
}

/* Control characters escaped; the rest, valid UTF-8, as it is. */
static void
print_buf_str(struct print_buf *b, const char *s, size_t len)
{
	size_t		i, start = 0;
	unsigned char	ch;

	for (i = 0; i < len; i++) {
		ch = (unsigned char)s[i];
		if (ch >= 0x20 && ch != 0x7f)
			continue;
		print_buf_add(b, s + start, i - start);
		if (ch == '\n')
			print_buf_add(b, "\\n", 2);
		else if (ch == '\t')
			print_buf_add(b, "\\t", 2);
		else
			print_buf_printf(b, "\\x%02x", ch);
		start = i + 1;
	}
	print_buf_add(b, s + start, len - start);
}

static void
print_buf_real(struct print_buf *b, double d)
{
	char	tmp[64];

	print_real_text(d, tmp, sizeof tmp);
	print_buf_add(b, tmp, strlen(tmp));
}

static bool
print_is_scalar(const json_t *v)
{
	return (!json_is_object(v) && !json_is_array(v));
}

static void
print_buf_value(struct print_buf *b, const json_t *v)
{
	char	*s;
	size_t	 i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		print_buf_str(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		print_buf_printf(b, "%" JSON_INTEGER_FORMAT,
		    json_integer_value(v));
		break;
	case JSON_REAL:
		print_buf_real(b, json_real_value(v));
		break;
	case JSON_TRUE:
		print_buf_add(b, "true", 4);
		break;
	case JSON_FALSE:
		print_buf_add(b, "false", 5);
		break;
	case JSON_NULL:
		print_buf_add(b, "-", 1);
		break;
	case JSON_ARRAY:
		/* A list of client ids reads best as just that. */
		for (i = 0; i < json_array_size(v); i++) {
			if (!print_is_scalar(json_array_get(v, i)))
				break;
		}
		if (json_array_size(v) == 0) {
			print_buf_add(b, "-", 1);
			break;
		}
		if (i == json_array_size(v)) {
			for (i = 0; i < json_array_size(v); i++) {
				if (i > 0)
					print_buf_add(b, " ", 1);
				print_buf_value(b, json_array_get(v, i));
			}
			break;
		}
		/* FALLTHROUGH */
	default:
		if ((s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL)
			print_nomem();
		print_buf_add(b, s, strlen(s));
		free(s);
		break;
	}
}

/* Unix seconds as local time; 0 or nil: never. */
static void
print_buf_time(struct print_buf *b, const json_t *v)
{
	struct tm	tm;
	time_t		t;
	char		tmp[64];

	if (json_is_null(v) ||
	    (json_is_number(v) && json_number_value(v) <= 0)) {
		print_buf_add(b, "never", 5);
		return;
	}
	if (!json_is_number(v)) {
		print_buf_value(b, v);
		return;
	}
	t = (time_t)json_number_value(v);
	if (localtime_r(&t, &tm) == NULL ||
	    strftime(tmp, sizeof tmp, "%Y-%m-%d %H:%M:%S %z", &tm) == 0) {
		print_buf_value(b, v);
		return;
	}
	print_buf_add(b, tmp, strlen(tmp));
}

static bool
print_is_time(const char *key)
{
	return (strcmp(key, "last_activity") == 0 ||
	    strcmp(key, "started_at") == 0);
}

static char *
print_format(const char *key, const json_t *v)
{
	struct print_buf	b = { NULL, 0, 0 };

	if (key != NULL && print_is_time(key))
		print_buf_time(&b, v);
	else
		print_buf_value(&b, v);
	return (print_buf_done(&b));
}

void
print_scalar(const json_t *v)
{
	char	*s = print_format(NULL, v);

	printf("%s\n", s);
	free(s);
}

/* "name: value", without a trailing blank for an empty value. */
static void
print_field(const char *name, const char *key, const json_t *v)
{
	char	*s = print_format(key, v);

	printf("%s:%s%s\n", name, s[0] != '\0' ? " " : "", s);
	free(s);
}

static void
print_map_prefix(const char *prefix, const json_t *map)
{
	const char	*key;
	json_t		*v;
	char		*name;
	size_t		 len;

	json_object_foreach((json_t *)map, key, v) {
		len = strlen(prefix) + strlen(key) + 2;
		if ((name = malloc(len)) == NULL)
			print_nomem();
		snprintf(name, len, "%s%s%s", prefix, prefix[0] != '\0' ?
		    "." : "", key);
		if (json_is_object(v) && json_object_size(v) > 0)
			print_map_prefix(name, v);
		else
			print_field(name, key, v);
		free(name);
	}
}

void
print_map(const json_t *map)
{
	if (!json_is_object(map)) {
		print_scalar(map);
		return;
	}
	print_map_prefix("", map);
}

/* ---- tables ---------------------------------------------------------- */

static void
print_table_init(struct print_table *t, size_t ncols)
{
	memset(t, 0, sizeof *t);
	t->ncols = ncols;
}

/* One cell, owned by the table from now on. */
static void
print_table_cell(struct print_table *t, char *s)
{
	size_t	cap;

	if (t->ncells == t->cap) {
		cap = t->cap == 0 ? 32 : t->cap * 2;
		if ((t->cells = realloc(t->cells, cap * sizeof *t->cells)) ==
		    NULL)
			print_nomem();
		t->cap = cap;
	}
	t->cells[t->ncells++] = s;
}

static void
print_table_text(struct print_table *t, const char *s)
{
	char	*dup;

	if ((dup = strdup(s)) == NULL)
		print_nomem();
	print_table_cell(t, dup);
}

static void
print_table_value(struct print_table *t, const char *key, const json_t *v)
{
	print_table_cell(t, print_format(key, v));
}

/* Characters, not bytes: UTF-8 continuation bytes take no column. */
static size_t
print_width(const char *s)
{
	size_t	n = 0;

	for (; *s != '\0'; s++) {
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	}
	return (n);
}

/* Print with columns aligned, two spaces apart, then free. */
static void
print_table_flush(struct print_table *t)
{
	size_t	*width, i, c, w;

	if ((width = calloc(t->ncols, sizeof *width)) == NULL)
		print_nomem();
	for (i = 0; i < t->ncells; i++) {
		w = print_width(t->cells[i]);
		if (w > width[i % t->ncols])
			width[i % t->ncols] = w;
	}
	for (i = 0; i < t->ncells; i++) {
		c = i % t->ncols;
		fputs(t->cells[i], stdout);
		if (c == t->ncols - 1)
			putchar('\n');
		else
			printf("%*s", (int)(width[c] -
			    print_width(t->cells[i]) + 2), "");
		free(t->cells[i]);
	}
	free(width);
	free(t->cells);
	memset(t, 0, sizeof *t);
}

static void
print_table_header(struct print_table *t, const char *const *names)
{
	for (; *names != NULL; names++)
		print_table_text(t, *names);
}

/* flow.list: one status map a row. */
void
print_list(const json_t *list)
{
	static const char *const	 header[] = { "FLOW", "STATE",
					    "ACTIVE", "CLIENTS", "VERSION",
					    "RESTARTS", NULL };
	struct print_table		 t;
	const json_t			*s;
	size_t				 i;

	if (!json_is_array(list)) {
		print_map(list);
		return;
	}
	print_table_init(&t, 6);
	print_table_header(&t, header);
	json_array_foreach(list, i, s) {
		print_table_value(&t, NULL, json_object_get(s, "flow_id"));
		print_table_value(&t, NULL, json_object_get(s, "state"));
		print_table_text(&t, json_is_true(json_object_get(s,
		    "active")) ? "yes" : "no");
		print_table_value(&t, NULL, json_object_get(s,
		    "client_count"));
		print_table_value(&t, NULL, json_object_get(s, "version"));
		print_table_value(&t, NULL, json_object_get(s, "restarts"));
	}
	print_table_flush(&t);
}

/* sys.stats: the counters, then a latency table of the methods. */
void
print_stats(const json_t *stats)
{
	static const char *const	 header[] = { "METHOD", "COUNT",
					    "P50_US", "P99_US", "MAX_US",
					    NULL };
	static const char *const	 cols[] = { "count", "p50_us",
					    "p99_us", "max_us", NULL };
	struct print_table		 t;
	const char			*key;
	json_t				*v, *m;
	size_t				 i;

	if (!json_is_object(stats)) {
		print_map(stats);
		return;
	}
	json_object_foreach((json_t *)stats, key, v) {
		if (strcmp(key, "methods") == 0 && json_is_object(v))
			continue;
		if (json_is_object(v) && json_object_size(v) > 0)
			print_map_prefix(key, v);
		else
			print_field(key, key, v);
	}
	if (!json_is_object(v = json_object_get(stats, "methods")))
		return;
	putchar('\n');
	print_table_init(&t, 5);
	print_table_header(&t, header);
	json_object_foreach(v, key, m) {
		print_table_text(&t, key);
		for (i = 0; cols[i] != NULL; i++)
			print_table_value(&t, NULL, json_object_get(m,
			    cols[i]));
	}
	print_table_flush(&t);
}

/* A node or edge field for a table: absent is "-". */
static void
print_table_field(struct print_table *t, const json_t *obj, const char *key)
{
	const json_t	*v = json_object_get(obj, key);

	print_table_value(t, NULL, v != NULL ? v : json_null());
}

/* flow.get: the document's fields, then its nodes and edges as tables. */
void
print_flow(const json_t *doc)
{
	static const char *const	 nhead[] = { "NODE", "TYPE", "X", "Y",
					    "WIDTH", "HEIGHT", "DATA", NULL };
	static const char *const	 nkeys[] = { "id", "type", "x", "y",
					    "width", "height", "data", NULL };
	static const char *const	 ehead[] = { "EDGE", "SOURCE",
					    "TARGET", "SOURCE_HANDLE",
					    "TARGET_HANDLE", "DATA", NULL };
	static const char *const	 ekeys[] = { "id", "source", "target",
					    "source_handle", "target_handle",
					    "data", NULL };
	struct print_table		 t;
	const char			*key;
	const json_t			*v, *nodes, *edges, *item;
	size_t				 i, k;

	if (!json_is_object(doc)) {
		print_map(doc);
		return;
	}
	nodes = json_object_get(doc, "nodes");
	edges = json_object_get(doc, "edges");
	json_object_foreach((json_t *)doc, key, v) {
		if ((v == nodes || v == edges) && json_is_array(v)) {
			printf("%s: %zu\n", key, json_array_size(v));
			continue;
		}
		if (json_is_object(v) && json_object_size(v) > 0)
			print_map_prefix(key, v);
		else
			print_field(key, key, v);
	}
	if (json_array_size(nodes) > 0) {
		putchar('\n');
		print_table_init(&t, 7);
		print_table_header(&t, nhead);
		json_array_foreach(nodes, i, item) {
			for (k = 0; nkeys[k] != NULL; k++)
				print_table_field(&t, item, nkeys[k]);
		}
		print_table_flush(&t);
	}
	if (json_array_size(edges) > 0) {
		putchar('\n');
		print_table_init(&t, 6);
		print_table_header(&t, ehead);
		json_array_foreach(edges, i, item) {
			for (k = 0; ekeys[k] != NULL; k++)
				print_table_field(&t, item, ekeys[k]);
		}
		print_table_flush(&t);
	}
}

/* "add_node a, remove_edge e1": an update's ops, in short. */
static char *
print_ops_summary(const json_t *ops)
{
	struct print_buf	 b = { NULL, 0, 0 };
	const json_t		*op, *id, *name;
	size_t			 i;

	json_array_foreach(ops, i, op) {
		if (i > 0)
			print_buf_add(&b, ", ", 2);
		name = json_object_get(op, "op");
		print_buf_value(&b, json_is_string(name) ? name : op);
		id = json_object_get(op, "id");
		if (id == NULL)
			id = json_object_get(json_object_get(op, "node"), "id");
		if (id == NULL)
			id = json_object_get(json_object_get(op, "edge"), "id");
		if (json_is_string(id)) {
			print_buf_add(&b, " ", 1);
			print_buf_value(&b, id);
		}
	}
	if (b.len == 0)
		print_buf_add(&b, "-", 1);
	return (print_buf_done(&b));
}

/* flow.history: one update a row; a note when history is incomplete. */
void
print_history(const json_t *result)
{
	static const char *const	 header[] = { "VERSION", "ORIGIN",
					    "OPS", NULL };
	struct print_table		 t;
	const json_t			*updates, *u;
	size_t				 i;

	updates = json_object_get(result, "updates");
	if (!json_is_array(updates)) {
		print_map(result);
		return;
	}
	print_table_init(&t, 3);
	print_table_header(&t, header);
	json_array_foreach(updates, i, u) {
		print_table_field(&t, u, "version");
		print_table_field(&t, u, "origin");
		print_table_cell(&t, print_ops_summary(json_object_get(u,
		    "ops")));
	}
	print_table_flush(&t);
	if (!json_is_true(json_object_get(result, "complete")))
		printf("(incomplete: the oldest updates asked for are no"
		    " longer retained)\n");
}
