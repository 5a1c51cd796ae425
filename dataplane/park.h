/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * --durability sync (docs/WAL.md "The node", docs/DESIGN.md "What others
 * see before durability"): the reply of an ACCEPTED bid waits in its
 * worker, with the receipt of its record, until the log writer says the
 * record is durable (then it leaves as it is) or lost (then it leaves as
 * NOT_SERVING: the writer failed). The worker keeps polling meanwhile; a
 * worker with parked replies never sleeps.
 *
 * A retransmission of an ACCEPTED bid whose record is not durable yet is
 * answered like an in-flight duplicate (OVERLOADED, not remembered), not
 * REPLAYED: every worker publishes the stamp of its oldest ACCEPTED bid
 * not known durable, and a replay waits until its stamp is below all of
 * them (a worker's stamps increase, and its records become durable in
 * order).
 *
 * A remembered ACCEPTED answer whose record was lost (the writer failed)
 * is never replayed as ACCEPTED: it is answered NOT_SERVING, not
 * remembered (park_replay_lost).
 *
 * Threads: park_reply, park_release and park_drop on the owning worker;
 * park_replay_durable and park_replay_lost on any worker.
 */
#ifndef BIDPLANE_PARK_H
#define BIDPLANE_PARK_H

#include <stdbool.h>
#include <stdint.h>

struct worker;
struct worker_wal;
struct node;
struct rte_mbuf;

/* At the reply point: parks `reply` when the request submitted an ACCEPTED
 * bid under sync (true: the worker no longer owns it). A dropped reply
 * (NULL) is parked as nothing to send, so that its stamp still holds
 * replays until its record is durable. Always clears the request's mark. */
bool park_reply(struct worker *w, unsigned int port, struct rte_mbuf *reply);

/* Sends the parked replies whose records are now durable (or lost: as
 * NOT_SERVING), oldest first; returns how many are still parked. */
unsigned int park_release(struct worker *w);

/* At exit: frees what is still parked (never sent: the client retries). */
void park_drop(struct worker *w);

/* Whether a remembered ACCEPTED answer stamped `hlc` must be answered
 * NOT_SERVING instead of REPLAYED: the writer has failed (the record may
 * be among the lost, and the node is about to say NOT_SERVING anyway), or
 * the stamp is in some worker's lost range (its record was lost; memory
 * still holds the key). Call after park_replay_durable said true: a
 * worker's lost range is stored before its pending_hlc moves past it.
 * Conservative: a durable bid stamped inside another worker's range is
 * refused too (NOT_SERVING is not final; after a restart it is REPLAYED). */
bool park_replay_lost(const struct node *n, const struct worker_wal *own, uint64_t hlc);

/* Whether a remembered ACCEPTED answer stamped `hlc` may be replayed:
 * its record is durable (always true unless --durability sync). */
bool park_replay_durable(const struct node *n, uint64_t hlc);

#endif
