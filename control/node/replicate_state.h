/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * An auction as a peer entry, and a peer entry merged into the table
 * (replicate_state.c). Threads: the control thread; repl_entry_of inside
 * control_online() .. control_offline(), repl_merge_entry outside (it goes
 * online only while it reads the leading record).
 */
#ifndef BIDPLANE_REPLICATE_STATE_H
#define BIDPLANE_REPLICATE_STATE_H

#include <stdbool.h>

#include "peer_proto.h"
#include "replicate.h"

struct control;
struct auction;

/* The auction as an entry: its definition, leading bid and counters; the
 * counters with this node's slot only, or with every slot when `full` (a
 * SYNC page). */
void repl_entry_of(const struct control *c, struct auction *a, bool full, struct peer_entry *e);

/* Whether `entries` merges can each replace a leading record now (room in
 * the retirement queue and records in the pool). A message that cannot is
 * refused unacknowledged, and comes again. */
bool repl_merge_room(struct control *c, unsigned int entries);

/* Every stamp of the entry is at most msg_hlc. */
bool repl_entry_stamps_valid(const struct peer_entry *e, uint64_t msg_hlc);

/* Merges one entry from peer p (an auction unknown here is created when
 * the entry defines it). */
void repl_merge_entry(struct control *c, struct repl_peer *p, const struct peer_entry *e);

#endif
