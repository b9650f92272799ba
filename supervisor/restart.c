/*
 * restart.c: the restart policy as one pure function, the clock passed in
 * (s6's ring of death times; OTP's intensity rule).  A restart is allowed
 * while the restarts in the last max_seconds, this one included, number at
 * most max_restarts.  A worker that dies before it served anything is
 * restarted after a back-off that doubles (100 ms to 5 s), so a crash loop
 * never spins a core; the first such death is restarted at once.
 */
#include <stdlib.h>

#include "supervisor/helixd.h"

#define BACKOFF_FIRST_MS	100
#define BACKOFF_MAX_MS		5000

enum restart_verdict
restart_decide(struct restart_state *rs, double now, uint32_t max_restarts,
    uint32_t max_seconds, bool served, uint32_t *delay_ms)
{
	uint32_t i, kept = 0;

	/* Forget restarts that left the window. */
	for (i = 0; i < rs->n; i++) {
		if (now - rs->t[i] < (double)max_seconds)
			rs->t[kept++] = rs->t[i];
	}
	rs->n = kept;
	*delay_ms = 0;
	if (rs->n + 1 > max_restarts || rs->n + 1 > RESTART_RING - 1)
		return RESTART_GIVE_UP;
	rs->t[rs->n++] = now;
	if (served) {
		rs->next_ms = 0;
		return RESTART_NOW;
	}
	if (rs->next_ms == 0) {
		rs->next_ms = BACKOFF_FIRST_MS;
		return RESTART_NOW;
	}
	*delay_ms = rs->next_ms;
	rs->next_ms = rs->next_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    rs->next_ms * 2;
	return RESTART_LATER;
}

#define GLOBAL_BACKOFF_FIRST_MS	1000
#define GLOBAL_BACKOFF_MAX_MS	30000

/*
 * The daemon-wide count: note one restart at now and tell whether the
 * restarts in the last `seconds`, this one included, number more than
 * max_total (0: no daemon-wide limit).  A ring of max_total + 1 times.
 */
bool
restart_global_note(struct restart_global *g, double now, uint32_t max_total,
    uint32_t seconds)
{
	if (max_total == 0)
		return false;
	if (g->cap != max_total + 1) {
		/* First use, or max_restarts_total changed by a reload. */
		free(g->t);
		g->cap = max_total + 1;
		g->head = g->n = 0;
		if ((g->t = calloc(g->cap, sizeof(*g->t))) == NULL) {
			g->cap = 0;
			return false;
		}
	}
	while (g->n > 0 && now - g->t[g->head] >= (double)seconds) {
		g->head = (g->head + 1) % g->cap;
		g->n--;
	}
	if (g->n == g->cap) {		/* full: forget the oldest */
		g->head = (g->head + 1) % g->cap;
		g->n--;
	}
	g->t[(g->head + g->n) % g->cap] = now;
	g->n++;
	return g->n > max_total;
}

/* The global back-off while over the limit: 1 s doubling to 30 s. */
uint32_t
restart_global_backoff(struct restart_global *g, bool over)
{
	if (!over) {
		g->backoff_ms = 0;
		return 0;
	}
	g->backoff_ms = g->backoff_ms == 0 ? GLOBAL_BACKOFF_FIRST_MS :
	    (g->backoff_ms * 2 > GLOBAL_BACKOFF_MAX_MS ? GLOBAL_BACKOFF_MAX_MS :
	    g->backoff_ms * 2);
	return g->backoff_ms;
}
