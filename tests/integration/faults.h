/*
 * faults.h: what the two files of the fault suite share (test_faults.c:
 * the helpers, the tests on workers, main; faults_daemon.c: the tests on
 * the daemon as a whole and under load).
 */
#ifndef HELIX_IT_FAULTS_H
#define HELIX_IT_FAULTS_H

#include <check.h>

#include "tests/integration/harness.h"

#define NELEMS(a)	(sizeof(a) / sizeof((a)[0]))

/* "EXPR: got X, want Y" */
#define EXPECT_EQ(got, want) do {					\
	long long g_ = (long long)(got), w_ = (long long)(want);	\
	ck_assert_msg(g_ == w_, "%s: got %lld, want %lld", #got, g_, w_); \
} while (0)

/* Nothing from a sanitizer in the log of a daemon (and its workers). */
void	 expect_clean_log(const struct hd *);
/* Stop with SIGTERM: exit status 0, no worker left, a clean log. */
void	 finish(struct hd *);
/* flow.apply that must succeed (ops as JSON text): the version. */
json_int_t apply(struct hc_client *, const char *flow, const char *ops);
json_int_t applyf(struct hc_client *, const char *flow, const char *fmt, ...)
	    __attribute__((format(printf, 3, 4)));
/* One add_node op as JSON text (static buffer, rotating). */
const char *node_op(const char *id);
/* The id of the node that the first op of an update adds ("" if none). */
const char *update_node_id(const json_t *update);
bool	 doc_has_node(const json_t *doc, const char *id);
/* flow.history since 0: complete, versions 1..V in order; V into *vp. */
json_t	*full_history(struct hc_client *, const char *flow, json_int_t *vp);
/* An error answer's code ("" if none). */
const char *err_code(const json_t *err);
/* h_poll condition: *(pid_t *)arg is not alive. */
bool	 pid_dead(void *arg);
/* Poll until no worker of d is alive, or abort. */
void	 expect_no_workers(const struct hd *, const char *when);
/* A sys.stats field. */
json_int_t stat_of(struct hc_client *, const char *key);

/* Raw connections: pack (JSON text, printf format) and send one message. */
void	 raw_send(struct h_raw *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* What a connection joined to one flow has learnt, in arrival order. */
struct seq {
	const char	*who;
	json_int_t	 last;		/* last version learnt */
	json_int_t	 missed;	/* the first version skipped, 0 if none */
	char		 bad[512];	/* the first violation, "" if none */
};
/* A version learnt (from a reply or a flow.update): must be last + 1. */
void	 seq_learn(struct seq *, json_int_t v, const char *how);

/* faults_daemon.c: its test cases, added to the suite. */
void	 faults_daemon_tcases(Suite *);

#endif /* HELIX_IT_FAULTS_H */
