/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * When a closed auction may be settled with --etcd (docs/LEADERSHIP.md,
 * "When to settle"; docs/MODEL.md's DECIDE and PEER_DONE). Plain C, no
 * state: the control thread gathers the facts, this says what the auction
 * waits for. The order of the checks is the order of the reasons shown:
 * a peer missing is said before etcd down, since the settlement needs both.
 *
 * Threads: any (a pure function).
 */
#ifndef BIDPLANE_SETTLE_RULE_H
#define BIDPLANE_SETTLE_RULE_H

#include <stdbool.h>
#include <stdint.h>

struct settle_facts {
	bool settled;	      /* a settlement is recorded here (ours, etcd's, or a peer's) */
	bool final_here;      /* closed here and past the RCU grace period */
	uint32_t peers_all;   /* bit i: configured peer i */
	uint32_t peers_final; /* bit i: peer i's final leading bid is merged here */
	bool leader;	      /* by leader_read, now */
	bool etcd_reachable;  /* the leader thread's last request got an answer */
	bool in_flight;	      /* a txn for it is with the leader thread */
};

enum settle_wait {
	SETTLE_DONE,	    /* settled: nothing to do */
	SETTLE_WAIT_HERE,   /* our own grace period after the close */
	SETTLE_WAIT_PEER,   /* a peer has not reported its final leading bid */
	SETTLE_WAIT_ETCD,   /* etcd does not answer */
	SETTLE_WAIT_LEADER, /* ready, but another node (the leader) settles */
	SETTLE_WAIT_TXN,    /* our txn is in flight */
	SETTLE_READY,	    /* leader, every peer final: send the txn */
};

static inline enum settle_wait settle_rule(const struct settle_facts *f)
{
	if (f->settled)
		return SETTLE_DONE;
	if (!f->final_here)
		return SETTLE_WAIT_HERE;
	if ((f->peers_final & f->peers_all) != f->peers_all)
		return SETTLE_WAIT_PEER;
	if (f->in_flight)
		return SETTLE_WAIT_TXN;
	if (!f->etcd_reachable)
		return SETTLE_WAIT_ETCD;
	if (!f->leader)
		return SETTLE_WAIT_LEADER;
	return SETTLE_READY;
}

/* A peer's FINAL and SETTLEMENT parts (docs/LEADERSHIP.md "Mixed
 * clusters"): honoured only when both ends run with --etcd (the sender's
 * PEER_FLAG_FENCED says it does), so a record that is not etcd's never
 * settles a fenced node's auction, and a node without --etcd keeps
 * settling on its own, as a lone node does. Symmetric: a part that crosses
 * the modes, either way, is refused and counted (settlement_unfenced);
 * between two nodes without --etcd there are no such parts. */
enum settle_peer_part {
	SETTLE_PART_HONOUR, /* both fenced: merge it */
	SETTLE_PART_IGNORE, /* both local: nothing to do (none are sent) */
	SETTLE_PART_REFUSE, /* modes differ: drop and count settlement_unfenced */
};

static inline enum settle_peer_part settle_peer_rule(bool fenced_here, bool fenced_sender)
{
	if (fenced_here != fenced_sender)
		return SETTLE_PART_REFUSE;
	return fenced_here ? SETTLE_PART_HONOUR : SETTLE_PART_IGNORE;
}

#endif
