/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node's state as its log defines it, folded from records
 * (docs/WAL.md "Snapshots in the node"): the next snapshot is the previous
 * snapshot plus the log after it up to a durable LSN, folded here and
 * written back with wal_snapshot_write. It is built from the files, not
 * copied from the node's memory, so that it is exactly the state after
 * LSN L: a copy of the live tables could not tell which of the bids
 * counted while it ran have their keys in it, and a bid counted but keyed
 * after the copy would be counted again by the replay (or one keyed but
 * not counted, lost). From the files, the snapshot of L holds the effects
 * of records 1..L and nothing else, and the replay after it applies each
 * later record once.
 *
 * What it keeps, by the node's replay rules (control/node/wal_node.c):
 *  - per auction: the definition (last writer wins by (def_hlc, def_node)),
 *    closed, the settlement, the leading bid (the bid order, crdt/bidmax.h),
 *    and this node's counts of accepted bids, watches and unwatches, and
 *    of the duplicates it counted (WAL_DUP);
 *  - every bid and view key with its record (the answer a retransmission
 *    gets REPLAYED), and every WAL_DUP record (the key table's "counted"),
 *    written out while it is still inside the window;
 *  - the fencing epoch (maximum) and the HLC high-water mark (the largest
 *    of every stamp and every logged high-water mark).
 * A key is counted once: a record whose key is already held is skipped,
 * unless the held answer's stamp is a whole window older than the new
 * one's (the node had forgotten it and answered anew).
 *
 * Records of a snapshot (wal_fold_snapshot_record) are not counted again:
 * their counts are in its WAL_AUCTION_STATE and WAL_AUCTION_DUPS records,
 * their bid, view and dup records give keys only.
 *
 * Threads: a fold belongs to the one thread that builds and writes it (the
 * node's bp-snap thread); no shared state. Pure: no I/O but what the
 * caller's wal_snapshot_out does.
 */
#ifndef BIDPLANE_WAL_FOLD_H
#define BIDPLANE_WAL_FOLD_H

#include <stdbool.h>
#include <stdint.h>

#include "wal_record.h"
#include "wal_snapshot.h"

struct wal_fold;

/* A fold for at most max_auctions auctions (the node's --max-auctions)
 * whose keys are kept window_ms (--dedup-seconds) as of now_ms (Unix ms,
 * the node's wall clock). NULL when out of memory. */
struct wal_fold *wal_fold_create(uint64_t max_auctions, uint64_t now_ms, uint64_t window_ms);
void wal_fold_destroy(struct wal_fold *f);

/* wal_record_fn callbacks (arg: the fold): a record of the previous
 * snapshot, a record of the log after it. Non-zero (stop) when the fold
 * is out of memory or holds more auctions than max_auctions; then
 * wal_fold_error says which. */
int wal_fold_snapshot_record(const struct wal_record *r, void *fold);
int wal_fold_log_record(const struct wal_record *r, void *fold);
const char *wal_fold_error(const struct wal_fold *f);

/* wal_snapshot_fill_fn (arg: the fold): writes the state: the fencing
 * epoch, the HLC high-water mark, every auction (open, state, close,
 * settlement), then every key still inside the window. */
int wal_fold_emit(struct wal_snapshot_out *s, void *fold);

/* What the fold holds (for the tests, the node's log line). */
struct wal_fold_auction {
	uint64_t id;
	bool defined, closed, settled;
	struct wal_auction_open def;
	uint64_t closed_at_ms;
	struct wal_settlement settlement;
	struct wal_auction_state state; /* counts and leading bid */
	uint64_t dups;			/* WAL_DUP records counted */
};
struct wal_fold_totals {
	uint64_t auctions, keys, keys_in_window, epoch, hlc_high;
};
void wal_fold_totals(const struct wal_fold *f, struct wal_fold_totals *t);
/* The auction `id`, or false when the fold holds none. */
bool wal_fold_auction(const struct wal_fold *f, uint64_t id, struct wal_fold_auction *out);

#endif
