/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Outstanding requests and the checks on their replies. A request's id
 * carries its sequence number; the slot (seq mod capacity) remembers what
 * was sent and what the reply must say. Fixed memory, O(1) per packet.
 * Single-threaded.
 *
 * Checks: the reply type matches the request, ids and client_ts are echoed,
 * the status is the expected one for malformed variants, duplicates and
 * conflicts; only an ACCEPTED bid carries a stamp (docs/PROTOCOL.md); accepted
 * bids are kept (auction, hlc, amount) so that at the end, per auction,
 * amounts ordered by HLC must strictly increase.
 */
#ifndef BIDGEN_TRACKER_H
#define BIDGEN_TRACKER_H

#include <stdbool.h>
#include <stdint.h>

#include "histogram.h"
#include "proto.h"
#include "workload.h"

enum mismatch {
	MISMATCH_UNTRACKED = 0, /* reply to no request we remember */
	MISMATCH_WRONG_TYPE,	/* BID_REPLY for a query, ... */
	MISMATCH_ECHO,		/* auction_id or client_ts not echoed */
	MISMATCH_STATUS,	/* status not the expected one */
	MISMATCH_REPLAY,	/* REPLAYED reply differs from the original */
	MISMATCH_UNEXPECTED,	/* a reply to a request that must get none */
	MISMATCH_DUPLICATE,	/* more replies than requests */
	MISMATCH_ORDER,		/* accepted amounts not increasing by HLC */
	MISMATCH_STAMP,		/* ACCEPTED without a stamp, or another status with one */
	MISMATCH_COUNT
};

struct sent {
	uint64_t seq; /* 0: free */
	uint64_t tsc;
	uint64_t auction;
	uint64_t amount;
	uint64_t bidder;
	uint64_t hlc;	    /* from the first reply */
	uint8_t kind;	    /* enum req_kind */
	uint8_t status;	    /* from the first reply */
	uint8_t answered;   /* replies to the original request */
	uint8_t extra_sent; /* duplicates + conflicts sent on this key */
	uint8_t extra_seen;
};

struct accepted_bid {
	uint64_t auction;
	uint64_t hlc;
	uint64_t amount;
};

struct tracker {
	struct sent *slots;
	uint64_t mask;
	struct accepted_bid *accepted;
	uint64_t accepted_cap;
	uint64_t accepted_n;
	uint64_t accepted_dropped; /* beyond accepted_cap: not order-checked */
	struct histogram latency;  /* TSC cycles */
	/* First replies to BIDs that say ACCEPTED (not REPLAYED): the reply
	 * --durability sync holds until its record is durable. */
	struct histogram accepted_latency;
	uint64_t replies[2][BP_STATUS_COUNT]; /* [0] BID_REPLY, [1] AUCTION_STATE */
	uint64_t replayed;
	uint64_t mismatches[MISMATCH_COUNT];
	uint64_t sent_by_kind[KIND_COUNT];
	uint64_t expected_replies; /* by the requests sent */
	uint64_t received;
	uint64_t overwritten; /* slots reused before their reply came */
};

/* capacity: power of two. 0 or -ENOMEM. */
int tracker_init(struct tracker *t, uint64_t capacity, uint64_t accepted_cap);
void tracker_fini(struct tracker *t);

/* Registers a new request; returns its slot (the request id is seq). */
struct sent *tracker_new(struct tracker *t, uint64_t seq, enum req_kind kind, uint64_t tsc);
/* An answered bid among recent requests (below seq_hint) to retransmit or
 * conflict with, or NULL; rnd picks which. */
struct sent *tracker_pick_answered(struct tracker *t, uint64_t seq_hint, uint64_t rnd);
/* Takes back the replies that n requests built but never sent expected
 * (expects[i]: how many request i added to expected_replies). */
void tracker_unsend(struct tracker *t, const uint64_t *expects, unsigned int n);
/* Whether a request of this kind expects a reply. */
bool kind_expects_reply(enum req_kind kind);

/* Checks one reply payload. now: TSC at receive. */
void tracker_on_reply(struct tracker *t, const uint8_t *payload, uint16_t len, uint64_t now);

/* Sorts the accepted bids and counts order violations. */
void tracker_check_order(struct tracker *t);

const char *mismatch_name(unsigned int m);
uint64_t tracker_mismatches(const struct tracker *t);

#endif
