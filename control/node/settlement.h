/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Fenced settlement with --etcd (docs/LEADERSHIP.md "Fenced settlement",
 * CLUSTER.md promise 6). Without --etcd a node settles locally as before
 * (lifecycle.c); with it:
 *
 * 1. An auction closed here and past its RCU grace period is *final here*:
 *    its leading bid holds every bid this node accepted. Its entry then
 *    carries PEER_PART_FINAL to every peer (docs/PEER_PROTOCOL.md).
 * 2. A peer's final entry, merged (its leader part first), sets the peer's
 *    bit in the auction's final_peers.
 * 3. Once final here and final from every configured peer, the leader (by
 *    leader_read, now) hands the merged leading bid to the leader thread,
 *    which writes it to etcd with the fenced txn; the answer comes back
 *    here: only a SETTLED or ADOPTED answer records the settlement, which
 *    then ships to every peer (PEER_PART_SETTLEMENT). Non-leaders wait for
 *    it. settle_rule.h is the rule.
 *
 * A peer's FINAL and SETTLEMENT parts count only when it, too, runs with
 * --etcd (PEER_FLAG_FENCED in its messages); across modes they are
 * refused and counted, either way (settle_peer_rule in settle_rule.h).
 *
 * Threads: the control thread only (after settlement_init on the main
 * thread).
 */
#ifndef BIDPLANE_SETTLEMENT_H
#define BIDPLANE_SETTLEMENT_H

#include <stdbool.h>
#include <stdint.h>

struct control;
struct auction;
struct peer_entry;
struct repl_peer;

/* An auction that waits, and for what: peer, the node id of a peer whose
 * final report is missing; 0: etcd does not answer. */
struct settlement_wait {
	uint64_t auction;
	uint16_t peer;
};
/* The waiting auctions named (the counts say how many there are). */
#define SETTLEMENT_WAITS_SHOWN 16

/* What bidctl status shows as `settlements`: recounted over each pass of
 * the bounded walk (settle_walk.h), so as of the last whole pass; done is
 * read every tick. */
struct settlement_counts {
	uint64_t done;		   /* settled here (auctions_settled) */
	uint64_t pending;	   /* closed, not settled yet */
	uint64_t waiting_for_peer; /* of them: a peer's final bid is missing */
	uint64_t waiting_for_etcd; /* of them: etcd does not answer */
	uint32_t nwaits;	   /* the first of them, and what each waits for */
	struct settlement_wait waits[SETTLEMENT_WAITS_SHOWN];
};

int settlement_init(struct control *c);
void settlement_fini(struct control *c);
/* The auction is final here (closed, grace period passed). */
void settlement_final_here(struct control *c, struct auction *a);
/* A merged peer entry's FINAL and SETTLEMENT parts (after its leader), by
 * settle_peer_rule: with or without --etcd. */
void settlement_merge_peer(struct control *c, struct repl_peer *p, struct auction *a,
			   const struct peer_entry *e);
/* Takes the leader thread's answers, looks at up to SETTLE_STEP awaiting
 * auctions (handing over the ready ones), recounts at the end of a pass.
 * Every control-thread loop. */
void settlement_tick(struct control *c, uint64_t now_ms);

#endif
