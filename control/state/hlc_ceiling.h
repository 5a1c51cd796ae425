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
 *    it; the node does not serve (reason `clock`) until its wall clock has
 *    passed P, so that its stamps are not ahead of real time;
 *  - the service thread persists now + L whenever less than L/2 is left;
 *    the ceiling is published only once it is on disk;
 *  - the control thread stops bids (reason `hlc_ceiling`) while now + max
 *    drift is not below the published ceiling, so no stamp, local or
 *    observed within the drift bound, can pass it between two checks.
 *
 * Threads: load at start (main thread); renew on the service thread (it
 * blocks: fsync); the published value is read by any thread. Plain C.
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
	uint64_t lease_ms;
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

/* Persists a new ceiling when less than half the lease is left above
 * now_hlc (the node's HLC). Returns 0 (nothing to do, or renewed) or the
 * negative errno of the failed write. */
int hlc_ceiling_renew(struct hlc_ceiling *c, uint64_t now_hlc);

/* Whether stamps up to now_hlc plus the drift bound stay below the
 * published ceiling. */
bool hlc_ceiling_covers(const struct hlc_ceiling *c, uint64_t now_hlc, uint64_t max_drift_ms);

#endif
