/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Snapshots in the node (docs/WAL.md "Snapshots in the node"): a thread of
 * its own, bp-snap, writes a snapshot of the node's whole state every
 * --snapshot-interval-s and whenever the log written since the last one
 * passes --snapshot-log-mb, then deletes the segments and the snapshot it
 * makes useless (wal_snapshot_write), so that the disk holds one snapshot
 * (two while the next is written) plus the log since it and the current
 * segment.
 *
 * The snapshot of LSN L is folded from the files (control/wal/wal_fold.h):
 * the newest snapshot plus the log after it up to L, a durable LSN read
 * before the fold starts. Records up to a durable LSN are whole and never
 * rewritten, so reading them while the writer appends after them is safe;
 * the scan stops at L and never looks at the bytes the writer is writing.
 * bp-snap touches no auction or idempotency memory: it is never an RCU
 * reader, and the workers, the control and the service threads never wait
 * for it (a snapshot of a large state takes seconds).
 *
 * A failed snapshot (ENOSPC, EIO...) is counted and logged, leaves the last
 * snapshot and the log as they were (nothing is deleted unless the new
 * snapshot is durable), and is tried again an interval later (10 s when the
 * interval is 0). It does not stop the node serving: the log still holds
 * everything.
 *
 * Threads: snapshot_node_start and snapshot_node_stop on the main thread
 * (start after the log writer started, stop before it stops);
 * snapshot_node_request, snapshot_node_stats and snapshot_node_status from
 * any thread.
 */
#ifndef BIDPLANE_SNAPSHOT_NODE_H
#define BIDPLANE_SNAPSHOT_NODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct control;
struct ctl_status;
struct snapshot_node;

struct snapshot_node_stats {
	uint64_t snapshots;	   /* written */
	uint64_t failures;	   /* attempts that failed */
	uint64_t lsn;		   /* of the newest snapshot (0: none) */
	uint64_t bytes, records;   /* of the newest snapshot */
	uint64_t duration_us;	   /* how long the last one took */
	uint64_t at_ms;		   /* wall clock when it was written (0: none this run) */
	uint64_t removed_segments; /* deleted since start */
};

/* Starts bp-snap (nothing with --durability off, or when both triggers
 * are 0). 0 or a negative errno with err. */
int snapshot_node_start(struct control *c, char *err, size_t errlen);

/* Stops and joins bp-snap (a snapshot being written finishes first). */
void snapshot_node_stop(struct control *c);

/* Asks for a snapshot now; false when bp-snap does not run. */
bool snapshot_node_request(struct control *c);

/* Zeroes when bp-snap does not run; lsn is then the recovered snapshot's. */
void snapshot_node_stats(const struct control *c, struct snapshot_node_stats *s);

/* The snapshot fields of `bidctl status` (ctl.h). */
void snapshot_node_status(const struct control *c, struct ctl_status *out);

#endif
