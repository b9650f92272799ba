/*
 * flow-private.h: the flow's insides, shared by flow.c (the model and
 * flow_apply) and flow-doc.c (its encoding: flow_pack, the encoded size,
 * flow_unpack).  Nothing outside worker/flow*.c includes this.
 */
#ifndef HELIX_FLOW_PRIVATE_H
#define HELIX_FLOW_PRIVATE_H

#include <sys/queue.h>

#include <stdlib.h>

#define uthash_fatal(msg) abort()	/* out of memory: restarted */
#include <uthash.h>

#include "worker/flow.h"
#include "worker/op.h"

/* The part of a node that update_node may replace. */
struct node_attr {
	struct op_str		 type;
	struct op_str		 data;
	double			 x, y, width, height;
	unsigned		 has;	/* OPF_WIDTH OPF_HEIGHT OPF_DATA */
};

struct edge;

struct node {
	struct op_str		 id;
	struct node_attr	 a;
	uint64_t		 size;	/* encoded bytes */
	LIST_HEAD(, edge)	 out;	/* edges whose source this is */
	LIST_HEAD(, edge)	 in;	/* edges whose target this is */
	TAILQ_ENTRY(node)	 entry;
	UT_hash_handle		 hh;
};
TAILQ_HEAD(node_list, node);

struct edge {
	struct op_str		 id;
	struct node		*source;
	struct node		*target;
	struct op_str		 source_handle;
	struct op_str		 target_handle;
	struct op_str		 data;
	unsigned		 has;	/* OPF_*_HANDLE OPF_DATA */
	uint64_t		 size;
	LIST_ENTRY(edge)	 out_entry;
	LIST_ENTRY(edge)	 in_entry;
	TAILQ_ENTRY(edge)	 entry;
	UT_hash_handle		 hh;
};
TAILQ_HEAD(edge_list, edge);

struct undo;

struct flow {
	char			*id;
	size_t			 idlen;
	uint64_t		 version;
	struct op_str		 title;
	struct op_str		 description;
	double			 vx, vy, vzoom;

	struct node		*node_ids;	/* uthash heads */
	struct edge		*edge_ids;
	struct node_list	 nodes;
	struct edge_list	 edges;
	uint32_t		 nnodes;
	uint32_t		 nedges;
	uint64_t		 node_bytes;	/* sum of node sizes */
	uint64_t		 edge_bytes;

	struct undo		*undo;
	size_t			 nundo;
	size_t			 undo_alloc;
};

/* flow.c */
void	*flow_calloc(size_t, size_t);
void	 flow_commit(struct flow *);
int	 flow_add_node(struct flow *, struct flow_op *,
	    const struct flow_limits *, struct proto_error *);
int	 flow_add_edge(struct flow *, struct flow_op *,
	    const struct flow_limits *, struct proto_error *);

/* flow-doc.c: encoded sizes, exactly as flow_pack writes them */
uint64_t flow_doc_node_size(const struct node *);
uint64_t flow_doc_edge_size(const struct edge *);
uint64_t flow_doc_size(const struct flow *, uint64_t version);

#endif /* HELIX_FLOW_PRIVATE_H */
