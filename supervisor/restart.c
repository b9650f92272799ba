/*
 * restart.c: the restart policy as one pure function, the clock passed in
 * (s6's ring of death times; OTP's intensity rule).  A restart is allowed
 * while the restarts in the last max_seconds, this one included, number at
 * most max_restarts.  A worker that dies before it served anything is
 * restarted after a back-off that doubles (100 ms to 5 s), so a crash loop
 * never spins a core; the first such death is restarted at once.
 */
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
