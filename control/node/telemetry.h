/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bidplane's commands on DPDK's telemetry socket (dpdk-telemetry.py):
 *   /bidplane/stats           every node-wide value, totals over workers
 *   /bidplane/workers         per-worker values, one dict per worker
 *   /bidplane/hlc             the clock: now, drift limit, per-worker counters
 *   /bidplane/auction,<id>    one auction: phase, terms, leading bid, counts
 * The first three read the node's stats segment through the same
 * snapshot code as bidstat, so both tools give the same numbers.
 *
 * Threads: register/unregister on the control thread; the callbacks run on
 * DPDK's telemetry threads, one request at a time (a mutex), as RCU reader
 * node_telemetry_reader() while they look an auction up.
 */
#ifndef BIDPLANE_TELEMETRY_H
#define BIDPLANE_TELEMETRY_H

struct control;

/* Registers the commands (once per process) and serves them from c. */
void telemetry_register(struct control *c);

/* From now on the commands answer that the node is stopping. */
void telemetry_unregister(struct control *c);

#endif
