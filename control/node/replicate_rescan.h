/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The rescan after a lost change (replicate.c): a worker's `changed` ring
 * was full, so some auction is marked dirty with its id on no ring, and
 * only a walk of the table finds it. The walk is a cursor over the table's
 * slots, at most `max` auctions per control loop (REPL_RESCAN_STEP), in
 * place of the whole table in one loop: with 1M auctions, one full walk
 * took a cache miss per auction in a single loop.
 *
 * It ends after one full circle from where it (re)started. A new loss
 * restarts the circle from the cursor, and so does an auction inserted
 * since the circle began, or an index rebuild (either may move an entry
 * from a slot the cursor has not reached to one it has passed). Any auction
 * marked and lost before a circle began is found in that circle, or in a
 * later one if an insert restarts it. Each circle visits every slot once.
 *
 * The table is reached through `iterate` (auction_table_next's contract):
 * the entry at the first occupied position >= *next, *next set just past
 * it, a negative value past the end. The slots skipped between two entries
 * are not auctions visited: they are reads of empty index slots, at
 * most the table's slot count per circle.
 *
 * Plain C, no DPDK. Threads: the control thread (replicate.c), inside
 * control_online() for its visits.
 */
#ifndef BIDPLANE_REPLICATE_RESCAN_H
#define BIDPLANE_REPLICATE_RESCAN_H

#include <stdbool.h>
#include <stdint.h>

typedef int (*repl_rescan_iterate_fn)(void *table, uint32_t *next, void **item);
typedef void (*repl_rescan_visit_fn)(void *item, void *arg);

struct repl_rescan {
	bool active, wrapped;
	uint32_t next, stop; /* the cursor; where the circle ends */
	uint64_t inserts;    /* the table's insert count when the circle began */
	uint64_t circles;    /* circles begun (a loss or an insert restarting one) */
	uint64_t visited;    /* auctions visited, all circles */
};

/* A change was lost: (re)starts a circle at the cursor. inserts: the
 * table's count of inserts so far. */
void repl_rescan_start(struct repl_rescan *s, uint64_t inserts);

/* Visits up to max entries (visit(item, arg) each); returns how many. A
 * change of `inserts` since the circle began restarts it first. */
unsigned int repl_rescan_step(struct repl_rescan *s, uint64_t inserts, unsigned int max,
			      repl_rescan_iterate_fn iterate, void *table,
			      repl_rescan_visit_fn visit, void *arg);

static inline bool repl_rescan_active(const struct repl_rescan *s)
{
	return s->active;
}

#endif
