/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Shared limits of the CRDT library. Plain C11, no DPDK.
 *
 * A replica is one node of the cluster, named by a small index
 * (0..CRDT_MAX_REPLICAS-1) that the cluster configuration assigns. Inside a
 * node, counters are incremented per worker (struct gcounter_workers), so no
 * increment needs an atomic; the node's own replica slot is the sum of them.
 *
 * Every type is a join-semilattice: merge is commutative, associative and
 * idempotent. A delta is a state of the same type holding only what a
 * mutation changed; merging a delta is the same join as merging a state.
 *
 * Threads: the library holds no global state. A value is owned by whoever
 * holds it; functions that read one value while another thread writes it are
 * marked as such in their header.
 */
#ifndef BIDPLANE_CRDT_COMMON_H
#define BIDPLANE_CRDT_COMMON_H

#define CRDT_MAX_REPLICAS 16
#define CRDT_MAX_WORKERS  16

#endif
