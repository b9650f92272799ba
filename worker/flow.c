/*
 * flow.c: the flow model and the atomic application of ops.
 *
 * Nodes and edges are found by id through uthash and kept in insertion
 * order on a TAILQ.  uthash's own application order would do for adding
 * and deleting, but rolling back a remove must put the item back where it
 * was, which needs an insert-after, so the order lives on a list we own.
 *
 * flow_apply changes the document in place and logs how to undo each
 * change.  A failing op rolls the log back in reverse, so every pointer
 * the log holds (an item's predecessor, say) is valid again by the time
 * its entry is undone; a successful apply frees what the log kept alive
 * (removed items, replaced strings).  Neither walks the document.
 *
 * Each item caches its encoded size and the flow keeps their sums, so
 * every op can be checked against max_flow_bytes in O(1) (flow-doc.c).
 */
#include <string.h>

#include "worker/flow-private.h"

enum undo_kind {
	UNDO_ADD_NODE,
	UNDO_DEL_NODE,
	UNDO_SET_NODE,
	UNDO_ADD_EDGE,
	UNDO_DEL_EDGE,
	UNDO_VIEWPORT,
	UNDO_META,
};

struct undo {
	enum undo_kind	 kind;
	unsigned	 mask;	/* SET_NODE, META: strings replaced */
	void		*item;	/* the node or edge */
	void		*prev;	/* DEL_*: the item before, in order */
	union {
		struct node_attr attr;
		double		 viewport[3];
		struct op_str	 meta[2];	/* title, description */
	} old;
};

/* An id in a message: quoted, at most 64 bytes. */
#define ID_FMT		"\"%.*s\""
#define ID_ARG(str)	op_utf8_prefix((str).s, (str).len, 64), (str).s

/* ---- items ----------------------------------------------------------- */

void *
flow_calloc(size_t n, size_t size)
{
	void	*p;

	if ((p = calloc(n, size)) == NULL)
		abort();	/* out of memory: the supervisor restarts us */
	return p;
}

/* Move a string out of an op, leaving the op without it. */
static struct op_str
flow_take(struct op_str *s)
{
	struct op_str	 t = *s;

	s->s = NULL;
	s->len = 0;
	return t;
}

static void
node_free(struct node *n)
{
	free(n->id.s);
	free(n->a.type.s);
	free(n->a.data.s);
	free(n);
}

static void
edge_free(struct edge *e)
{
	free(e->id.s);
	free(e->source_handle.s);
	free(e->target_handle.s);
	free(e->data.s);
	free(e);
}

static struct node *
node_find(const struct flow *f, const struct op_str *id)
{
	struct node	*n;

	HASH_FIND(hh, f->node_ids, id->s, id->len, n);
	return n;
}

static struct edge *
edge_find(const struct flow *f, const struct op_str *id)
{
	struct edge	*e;

	HASH_FIND(hh, f->edge_ids, id->s, id->len, e);
	return e;
}

/* Insert n after prev (NULL: first). */
static void
node_link(struct flow *f, struct node *n, struct node *prev)
{
	HASH_ADD_KEYPTR(hh, f->node_ids, n->id.s, n->id.len, n);
	if (prev == NULL)
		TAILQ_INSERT_HEAD(&f->nodes, n, entry);
	else
		TAILQ_INSERT_AFTER(&f->nodes, prev, n, entry);
	f->nnodes++;
	f->node_bytes += n->size;
}

/* Take n out; returns its predecessor, for node_link on rollback. */
static struct node *
node_unlink(struct flow *f, struct node *n)
{
	struct node	*prev = TAILQ_PREV(n, node_list, entry);

	HASH_DEL(f->node_ids, n);
	TAILQ_REMOVE(&f->nodes, n, entry);
	f->nnodes--;
	f->node_bytes -= n->size;
	return prev;
}

static void
edge_link(struct flow *f, struct edge *e, struct edge *prev)
{
	HASH_ADD_KEYPTR(hh, f->edge_ids, e->id.s, e->id.len, e);
	if (prev == NULL)
		TAILQ_INSERT_HEAD(&f->edges, e, entry);
	else
		TAILQ_INSERT_AFTER(&f->edges, prev, e, entry);
	LIST_INSERT_HEAD(&e->source->out, e, out_entry);
	LIST_INSERT_HEAD(&e->target->in, e, in_entry);
	f->nedges++;
	f->edge_bytes += e->size;
}

static struct edge *
edge_unlink(struct flow *f, struct edge *e)
{
	struct edge	*prev = TAILQ_PREV(e, edge_list, entry);

	HASH_DEL(f->edge_ids, e);
	TAILQ_REMOVE(&f->edges, e, entry);
	LIST_REMOVE(e, out_entry);
	LIST_REMOVE(e, in_entry);
	f->nedges--;
	f->edge_bytes -= e->size;
	return prev;
}

/* ---- undo log -------------------------------------------------------- */

static struct undo *
flow_undo_push(struct flow *f, enum undo_kind kind, void *item)
{
	struct undo	*u;
	size_t		 n;

	if (f->nundo == f->undo_alloc) {
		n = f->undo_alloc == 0 ? 16 : f->undo_alloc * 2;
		if ((u = reallocarray(f->undo, n, sizeof *u)) == NULL)
			abort();
		f->undo = u;
		f->undo_alloc = n;
	}
	u = &f->undo[f->nundo++];
	memset(u, 0, sizeof *u);
	u->kind = kind;
	u->item = item;
	return u;
}

/* Make the changes logged so far permanent. */
void
flow_commit(struct flow *f)
{
	struct undo	*u;
	size_t		 i;

	for (i = 0; i < f->nundo; i++) {
		u = &f->undo[i];
		switch (u->kind) {
		case UNDO_DEL_NODE:
			node_free(u->item);
			break;
		case UNDO_DEL_EDGE:
			edge_free(u->item);
			break;
		case UNDO_SET_NODE:
			if (u->mask & OPF_TYPE)
				free(u->old.attr.type.s);
			if (u->mask & OPF_DATA)
				free(u->old.attr.data.s);
			break;
		case UNDO_META:
			if (u->mask & OPF_TITLE)
				free(u->old.meta[0].s);
			if (u->mask & OPF_DESCRIPTION)
				free(u->old.meta[1].s);
			break;
		default:
			break;
		}
	}
	f->nundo = 0;
	/* One huge remove should not pin its log for the flow's lifetime. */
	if (f->undo_alloc > 4096) {
		free(f->undo);
		f->undo = NULL;
		f->undo_alloc = 0;
	}
}

/* Undo every logged change, newest first. */
static void
flow_rollback(struct flow *f)
{
	struct undo	*u;
	struct node	*n;
	struct edge	*e;

	while (f->nundo > 0) {
		u = &f->undo[--f->nundo];
		n = u->item;
		e = u->item;
		switch (u->kind) {
		case UNDO_ADD_NODE:
			node_unlink(f, n);
			node_free(n);
			break;
		case UNDO_DEL_NODE:
			node_link(f, n, u->prev);
			break;
		case UNDO_SET_NODE:
			if (u->mask & OPF_TYPE)
				free(n->a.type.s);
			if (u->mask & OPF_DATA)
				free(n->a.data.s);
			f->node_bytes -= n->size;
			n->a = u->old.attr;
			n->size = flow_doc_node_size(n);
			f->node_bytes += n->size;
			break;
		case UNDO_ADD_EDGE:
			edge_unlink(f, e);
			edge_free(e);
			break;
		case UNDO_DEL_EDGE:
			edge_link(f, e, u->prev);
			break;
		case UNDO_VIEWPORT:
			f->vx = u->old.viewport[0];
			f->vy = u->old.viewport[1];
			f->vzoom = u->old.viewport[2];
			break;
		case UNDO_META:
			if (u->mask & OPF_TITLE) {
				free(f->title.s);
				f->title = u->old.meta[0];
			}
			if (u->mask & OPF_DESCRIPTION) {
				free(f->description.s);
				f->description = u->old.meta[1];
			}
			break;
		}
	}
}

/* ---- ops ------------------------------------------------------------- */

int
flow_add_node(struct flow *f, struct flow_op *op,
    const struct flow_limits *lim, struct proto_error *e)
{
	struct node	*n;

	if (node_find(f, &op->id) != NULL)
		return proto_error_set(e, PC_INVALID_OP,
		    "node " ID_FMT " already exists", ID_ARG(op->id));
	if (f->nnodes >= lim->max_nodes)
		return proto_error_set(e, PC_INVALID_OP,
		    "the flow already has the maximum of %u nodes",
		    lim->max_nodes);
	n = flow_calloc(1, sizeof *n);
	n->id = flow_take(&op->id);
	n->a.type = flow_take(&op->node_type);
	n->a.data = flow_take(&op->data);
	n->a.x = op->x;
	n->a.y = op->y;
	n->a.width = op->width;
	n->a.height = op->height;
	n->a.has = op->set & (OPF_WIDTH|OPF_HEIGHT|OPF_DATA);
	LIST_INIT(&n->out);
	LIST_INIT(&n->in);
	n->size = flow_doc_node_size(n);
	node_link(f, n, TAILQ_LAST(&f->nodes, node_list));
	flow_undo_push(f, UNDO_ADD_NODE, n);
	return 0;
}

static int
flow_update_node(struct flow *f, struct flow_op *op, struct proto_error *e)
{
	struct node	*n;
	struct undo	*u;

	if ((n = node_find(f, &op->id)) == NULL)
		return proto_error_set(e, PC_INVALID_OP,
		    "no node " ID_FMT, ID_ARG(op->id));
	/*
	 * The saved copy shares every string this op leaves alone with the
	 * node; mask records which old strings the log now owns, so commit
	 * and rollback each free a string exactly once.
	 */
	u = flow_undo_push(f, UNDO_SET_NODE, n);
	u->old.attr = n->a;
	f->node_bytes -= n->size;
	if (op->set & OPF_TYPE) {
		u->mask |= OPF_TYPE;
		n->a.type = flow_take(&op->node_type);
	}
	if (op->set & OPF_X)
		n->a.x = op->x;
	if (op->set & OPF_Y)
		n->a.y = op->y;
	if (op->set & OPF_WIDTH)
		n->a.width = op->width;
	if (op->set & OPF_HEIGHT)
		n->a.height = op->height;
	if ((op->set | op->unset) & OPF_DATA) {
		u->mask |= OPF_DATA;
		n->a.data = flow_take(&op->data);
	}
	n->a.has |= op->set & (OPF_WIDTH|OPF_HEIGHT|OPF_DATA);
	n->a.has &= ~op->unset;
	n->size = flow_doc_node_size(n);
	f->node_bytes += n->size;
	return 0;
}

static void
flow_del_edge(struct flow *f, struct edge *e)
{
	struct undo	*u;

	u = flow_undo_push(f, UNDO_DEL_EDGE, e);
	u->prev = edge_unlink(f, e);
}

static int
flow_remove_node(struct flow *f, struct flow_op *op, struct proto_error *e)
{
	struct node	*n;
	struct edge	*edge;
	struct undo	*u;

	if ((n = node_find(f, &op->id)) == NULL)
		return proto_error_set(e, PC_INVALID_OP,
		    "no node " ID_FMT, ID_ARG(op->id));
	/* Edges go first: rolled back in reverse, the node returns first. */
	while ((edge = LIST_FIRST(&n->out)) != NULL)
		flow_del_edge(f, edge);
	while ((edge = LIST_FIRST(&n->in)) != NULL)
		flow_del_edge(f, edge);
	u = flow_undo_push(f, UNDO_DEL_NODE, n);
	u->prev = node_unlink(f, n);
	return 0;
}

int
flow_add_edge(struct flow *f, struct flow_op *op,
    const struct flow_limits *lim, struct proto_error *e)
{
	struct node	*source, *target;
	struct edge	*edge;

	if (edge_find(f, &op->id) != NULL)
		return proto_error_set(e, PC_INVALID_OP,
		    "edge " ID_FMT " already exists", ID_ARG(op->id));
	if (f->nedges >= lim->max_edges)
		return proto_error_set(e, PC_INVALID_OP,
		    "the flow already has the maximum of %u edges",
		    lim->max_edges);
	if ((source = node_find(f, &op->source)) == NULL)
		return proto_error_set(e, PC_INVALID_OP,
		    "no source node " ID_FMT, ID_ARG(op->source));
	if ((target = node_find(f, &op->target)) == NULL)
		return proto_error_set(e, PC_INVALID_OP,
		    "no target node " ID_FMT, ID_ARG(op->target));
	edge = flow_calloc(1, sizeof *edge);
	edge->id = flow_take(&op->id);
	edge->source = source;
	edge->target = target;
	edge->source_handle = flow_take(&op->source_handle);
	edge->target_handle = flow_take(&op->target_handle);
	edge->data = flow_take(&op->data);
	edge->has = op->set &
	    (OPF_SOURCE_HANDLE|OPF_TARGET_HANDLE|OPF_DATA);
	edge->size = flow_doc_edge_size(edge);
	edge_link(f, edge, TAILQ_LAST(&f->edges, edge_list));
	flow_undo_push(f, UNDO_ADD_EDGE, edge);
	return 0;
}

static int
flow_remove_edge(struct flow *f, struct flow_op *op, struct proto_error *e)
{
	struct edge	*edge;

	if ((edge = edge_find(f, &op->id)) == NULL)
		return proto_error_set(e, PC_INVALID_OP,
		    "no edge " ID_FMT, ID_ARG(op->id));
	flow_del_edge(f, edge);
	return 0;
}

static void
flow_set_viewport(struct flow *f, struct flow_op *op)
{
	struct undo	*u;

	u = flow_undo_push(f, UNDO_VIEWPORT, NULL);
	u->old.viewport[0] = f->vx;
	u->old.viewport[1] = f->vy;
	u->old.viewport[2] = f->vzoom;
	f->vx = op->x;
	f->vy = op->y;
	f->vzoom = op->zoom;
}

static void
flow_set_meta(struct flow *f, struct flow_op *op)
{
	struct undo	*u;

	u = flow_undo_push(f, UNDO_META, NULL);
	if (op->set & OPF_TITLE) {
		u->mask |= OPF_TITLE;
		u->old.meta[0] = f->title;
		f->title = flow_take(&op->title);
	}
	if (op->set & OPF_DESCRIPTION) {
		u->mask |= OPF_DESCRIPTION;
		u->old.meta[1] = f->description;
		f->description = flow_take(&op->description);
	}
}

static int
flow_do(struct flow *f, struct flow_op *op, const struct flow_limits *lim,
    struct proto_error *e)
{
	switch (op->type) {
	case OP_ADD_NODE:
		return flow_add_node(f, op, lim, e);
	case OP_UPDATE_NODE:
		return flow_update_node(f, op, e);
	case OP_REMOVE_NODE:
		return flow_remove_node(f, op, e);
	case OP_ADD_EDGE:
		return flow_add_edge(f, op, lim, e);
	case OP_REMOVE_EDGE:
		return flow_remove_edge(f, op, e);
	case OP_SET_VIEWPORT:
		flow_set_viewport(f, op);
		return 0;
	case OP_SET_META:
		flow_set_meta(f, op);
		return 0;
	}
	return proto_error_set(e, PC_INVALID_OP, "unknown op");
}

/* ---- the document ---------------------------------------------------- */

void
flow_limits_default(struct flow_limits *lim)
{
	lim->max_nodes = 10000;
	lim->max_edges = 50000;
	lim->max_data_bytes = 64 * 1024;
	lim->max_ops = 1000;
	lim->max_flow_bytes = 16 * 1024 * 1024;
}

struct flow *
flow_create(const char *id, size_t idlen)
{
	struct flow	*f;

	f = flow_calloc(1, sizeof *f);
	f->id = flow_calloc(1, idlen + 1);
	memcpy(f->id, id, idlen);
	f->idlen = idlen;
	f->vzoom = 1;
	TAILQ_INIT(&f->nodes);
	TAILQ_INIT(&f->edges);
	return f;
}

void
flow_destroy(struct flow *f)
{
	struct node	*n;
	struct edge	*e;

	if (f == NULL)
		return;
	flow_commit(f);
	HASH_CLEAR(hh, f->edge_ids);
	HASH_CLEAR(hh, f->node_ids);
	while ((e = TAILQ_FIRST(&f->edges)) != NULL) {
		TAILQ_REMOVE(&f->edges, e, entry);
		edge_free(e);
	}
	while ((n = TAILQ_FIRST(&f->nodes)) != NULL) {
		TAILQ_REMOVE(&f->nodes, n, entry);
		node_free(n);
	}
	free(f->undo);
	free(f->title.s);
	free(f->description.s);
	free(f->id);
	free(f);
}

const char *
flow_id(const struct flow *f)
{
	return f->id;
}

uint64_t
flow_version(const struct flow *f)
{
	return f->version;
}

uint32_t
flow_node_count(const struct flow *f)
{
	return f->nnodes;
}

uint32_t
flow_edge_count(const struct flow *f)
{
	return f->nedges;
}

int
flow_apply(struct flow *f, const msgpack_object *ops,
    const struct flow_limits *lim, struct proto_error *e)
{
	struct flow_op	 op;
	uint64_t	 version, before, after;
	uint32_t	 i = 0, n;

	if (ops == NULL || ops->type != MSGPACK_OBJECT_ARRAY)
		return proto_error_set(e, PC_INVALID_PARAMS,
		    "ops must be an array");
	n = ops->via.array.size;
	if (n > lim->max_ops) {
		i = lim->max_ops;
		proto_error_set(e, PC_INVALID_OP,
		    "op %u: more than %u ops in one apply", i, lim->max_ops);
		goto fail;
	}
	if (f->version == UINT64_MAX) {
		proto_error_set(e, PC_INVALID_OP, "op 0: version exhausted");
		goto fail;
	}
	/* Sizes are counted with the version the flow will have. */
	version = f->version + 1;
	for (i = 0; i < n; i++) {
		if (op_decode(&ops->via.array.ptr[i], lim, &op, e) == -1) {
			op_error_prefix(e, "op %u: ", i);
			goto fail;
		}
		before = flow_doc_size(f, version);
		if (flow_do(f, &op, lim, e) == -1) {
			op_error_prefix(e, "op %u: %s: ", i, op_name(op.type));
			op_clear(&op);
			goto fail;
		}
		after = flow_doc_size(f, version);
		if (after > before && after > lim->max_flow_bytes) {
			proto_error_set(e, PC_INVALID_OP, "op %u: %s: the flow "
			    "would take %llu bytes, more than the limit of "
			    "%llu",
			    i, op_name(op.type), (unsigned long long)after,
			    (unsigned long long)lim->max_flow_bytes);
			op_clear(&op);
			goto fail;
		}
		op_clear(&op);
	}
	flow_commit(f);
	f->version = version;
	return 0;

fail:
	proto_error_extra(e, "index", i);
	flow_rollback(f);
	return -1;
}

