/*
 * registry.c: flow id -> session.  Keys are validated flow ids (at most
 * 128 bytes), and an entry lives only while something refers to it: a
 * worker, a member, a parked call, or a failed state that must be
 * remembered for its cool-down.
 */
#include <stdlib.h>
#include <string.h>

#include "supervisor/helixd.h"

struct session *
registry_find(const char *id)
{
	struct session *s;

	HASH_FIND_STR(srv->sessions, id, s);
	return s;
}

struct session *
registry_get(const char *id)
{
	struct session *s;

	if ((s = registry_find(id)) != NULL)
		return s;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	strncpy(s->id, id, sizeof(s->id) - 1);
	s->state = S_NONE;
	s->fd = -1;
	s->last_activity = now_s();
	TAILQ_INIT(&s->calls);
	LIST_INIT(&s->members);
	HASH_ADD_STR(srv->sessions, id, s);
	return s;
}

void
registry_remove(struct session *s)
{
	HASH_DEL(srv->sessions, s);
	if (s->ev_timer != NULL)
		event_free(s->ev_timer);
	free(s);
}

/* Free s when nothing refers to it any more. */
void
registry_gc(struct session *s)
{
	if (s == NULL || session_live(s) || s->nmembers != 0 ||
	    !TAILQ_EMPTY(&s->calls) || s->state == S_RESTARTING ||
	    s->state == S_STARTING || s->state == S_STOPPING)
		return;
	/* Remembered for the cool-down, and for the intensity window. */
	if (s->state == S_FAILED && now_s() < s->failed_until)
		return;
	if (s->rs.n > 0 &&
	    now_s() - s->rs.t[s->rs.n - 1] < (double)srv->cfg.max_seconds)
		return;
	registry_remove(s);
}

uint32_t
registry_count(void)
{
	return HASH_COUNT(srv->sessions);
}

/* The least recently used running session with no clients and no calls. */
struct session *
registry_lru_idle(void)
{
	struct session *s, *ts, *best = NULL;

	HASH_ITER(hh, srv->sessions, s, ts) {
		if (s->state != S_RUNNING || s->nmembers != 0)
			continue;
		if (s->ncalls > (s->ping_seq != 0 ? 1u : 0u))
			continue;
		if (best == NULL || s->last_activity < best->last_activity)
			best = s;
	}
	return best;
}
