/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The walk of settlement.c's list of auctions awaiting settlement, at most
 * `max` per control loop (SETTLE_STEP), from a cursor, in place of the
 * whole list every loop: the list holds up to the table's capacity, and a
 * loop that walks a million auctions delays every other control-thread
 * duty (as replicate_rescan.h's walk does for the rescan).
 *
 * visit(item, arg) says whether the item stays; one that does not is
 * replaced by the list's last item, which is visited next (it was beyond
 * the cursor: not yet visited in this pass). Items appended during a pass
 * are visited in it. So each pass visits every item once, none twice, and
 * drops none it was not told to. A pass ends when the cursor reaches the
 * end; the next step starts a new one at 0.
 *
 * Plain C, no state but the cursor. Threads: the one that owns the list.
 */
#ifndef BIDPLANE_SETTLE_WALK_H
#define BIDPLANE_SETTLE_WALK_H

#include <stdbool.h>
#include <stdint.h>

struct settle_walk {
	uint32_t next;	 /* the cursor */
	uint64_t passes; /* passes ended */
};

/* Items are auction ids: looked up at each visit, never pointers kept
 * across loops (an auction settled meanwhile may be removed and its
 * memory reused before the walk comes back to it). */
typedef bool (*settle_walk_visit_fn)(uint64_t item, void *arg);

/* Visits up to max items of list[0..*count) from the cursor. Returns true
 * when this step ended a pass (the cursor is back at 0). */
static inline bool settle_walk_step(struct settle_walk *w, uint64_t *list, uint32_t *count,
				    unsigned int max, settle_walk_visit_fn visit, void *arg)
{
	for (unsigned int n = 0; n < max && w->next < *count; n++) {
		if (visit(list[w->next], arg))
			w->next++;
		else
			list[w->next] = list[--*count];
	}
	if (w->next < *count)
		return false;
	w->next = 0;
	w->passes++;
	return true;
}

#endif
