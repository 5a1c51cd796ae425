/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The HLC ceiling: an upper bound on every stamp the node issues, kept
 * durable in <state-dir>/hlc_ceiling ahead of use (CockroachDB's persisted
 * upper bound). After a restart the node's HLC starts above the ceiling of
 * its previous life, so stamps after a restart are greater than every
 * stamp before it, even when the wall clock stepped back or the HLC had run
 * ahead of it.
 *
 * The rules, with L = the lease (max drift + HLC_CEILING_MARGIN_MS):
 *  - at start, the previous ceiling P is loaded and the HLC floor raised to
 *    it. P is up to L ahead of the last stamp of that life: a wall clock
 *    behind P by more than L has stepped back, and the node takes no bids
 *    (reason `clock`) until it has passed P, so that its stamps are not
 *    ahead of real time;
 *  - the node's durable thread persists now + L whenever less than max drift +
 *    MARGIN/2 is left (also while it waits for the control thread), and
 *    publishes a ceiling only once it is on disk; that is the HLC domain's
 *    limit, which every worker checks before it issues a stamp (HLC G8), so
 *    no stamp reaches the durable ceiling whatever any thread is doing;
 *  - the control thread reports `hlc_ceiling` while now + max drift is not
 *    below the published ceiling (bids then meet the limit).
 *
 * Threads: load at start (main thread); renew on the durable thread, or on
 * the main thread before it starts (it blocks: fsync); the published value
 * is read by any thread. Plain C.
 */
#ifndef BIDPLANE_HLC_CEILING_H
#define BIDPLANE_HLC_CEILING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HLC_CEILING_FILE      "hlc_ceiling"
#define HLC_CEILING_MARGIN_MS 1000

struct hlc_ceiling {
	char dir[256];
	uint64_t max_drift_ms;
	uint64_t lease_ms;	    /* max drift + HLC_CEILING_MARGIN_MS */
	_Atomic uint64_t published; /* an HLC stamp, durable; 0: none yet */
	_Atomic uint64_t renewals;
	_Atomic uint64_t failures;
	int last_error; /* negative errno of the last failed renewal, or 0 */
};

/*
 * Reads the previous life's ceiling into *previous (0 when there is none).
 * 0, or a negative errno with a message naming the file and the fix (a file
 * that holds no number is never silently reset).
 */
int hlc_ceiling_load(struct hlc_ceiling *c, const char *state_dir, uint64_t max_drift_ms,
		     uint64_t *previous, char *err, size_t errlen);

/* Persists a new ceiling (now + lease) when less than max drift +
 * MARGIN/2 is left above now_hlc (the node's HLC). Returns 0 (nothing to do, or renewed) or the
 * negative errno of the failed write. */
int hlc_ceiling_renew(struct hlc_ceiling *c, uint64_t now_hlc);

/* Whether stamps up to now_hlc plus the drift bound stay below the
 * published ceiling. */
bool hlc_ceiling_covers(const struct hlc_ceiling *c, uint64_t now_hlc, uint64_t max_drift_ms);

#endif
