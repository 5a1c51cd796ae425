/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * This node's full state for a peer, in SYNC pages (docs/PEER_PROTOCOL.md,
 * SYNC_REQUEST and SYNC): the auction ids are taken and sorted when a sync
 * begins, and each page walks them from the request's `after`, reading
 * every auction as it is then. Threads: the control thread.
 */
#ifndef BIDPLANE_REPLICATE_SYNC_H
#define BIDPLANE_REPLICATE_SYNC_H

#include <stdint.h>

#include "peer_proto.h"
#include "replicate.h"

struct control;

/* Answers a peer's SYNC_REQUEST with the page it asks for. */
void repl_sync_serve(struct control *c, struct repl_peer *p, const struct peer_sync_request *req,
		     uint64_t now_ms);

/* Starts a sync the peer did not ask for (it fell behind the kept deltas):
 * the first page, kept until acknowledged; the peer asks for the rest. */
void repl_sync_push(struct control *c, struct repl_peer *p, uint64_t now_ms);

#endif
