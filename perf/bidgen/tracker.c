/* SPDX-License-Identifier: BSD-3-Clause */
#include "tracker.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int tracker_init(struct tracker *t, uint64_t capacity, uint64_t accepted_cap)
{
	memset(t, 0, sizeof(*t));
	if (capacity == 0 || (capacity & (capacity - 1)))
		return -EINVAL;
	t->slots = calloc(capacity, sizeof(struct sent));
	t->accepted = calloc(accepted_cap ? accepted_cap : 1, sizeof(struct accepted_bid));
	if (!t->slots || !t->accepted) {
		tracker_fini(t);
		return -ENOMEM;
	}
	t->mask = capacity - 1;
	t->accepted_cap = accepted_cap;
	hist_init(&t->latency);
	hist_init(&t->accepted_latency);
	return 0;
}

void tracker_fini(struct tracker *t)
{
	free(t->slots);
	free(t->accepted);
	t->slots = NULL;
	t->accepted = NULL;
}

bool kind_expects_reply(enum req_kind kind)
{
	return kind != KIND_BAD_MAGIC && kind != KIND_BAD_RANDOM;
}

struct sent *tracker_new(struct tracker *t, uint64_t seq, enum req_kind kind, uint64_t tsc)
{
	struct sent *s = &t->slots[seq & t->mask];
	if (s->seq && kind_expects_reply(s->kind) && s->answered == 0)
		t->overwritten++;
	memset(s, 0, sizeof(*s));
	s->seq = seq;
	s->kind = (uint8_t)kind;
	s->tsc = tsc;
	t->sent_by_kind[kind]++;
	if (kind_expects_reply(kind))
		t->expected_replies++;
	return s;
}

void tracker_unsend(struct tracker *t, const uint64_t *expects, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		t->expected_replies -= expects[i];
}

struct sent *tracker_pick_answered(struct tracker *t, uint64_t seq_hint, uint64_t rnd)
{
	/* Probe a few random earlier requests (within the last 4096, so the
	 * node still remembers them) for one whose reply came. */
	uint64_t span = seq_hint > 1 ? seq_hint - 1 : 0;
	if (span > 4096)
		span = 4096;
	for (int probe = 0; probe < 16 && span; probe++, rnd = rnd * 6364136223846793005u + 1) {
		uint64_t seq = seq_hint - 1 - (rnd >> 33) % span;
		struct sent *s = &t->slots[seq & t->mask];
		if (s->seq == seq && s->kind == KIND_BID && s->answered && s->extra_sent < 8)
			return s;
	}
	return NULL;
}

static void mismatch(struct tracker *t, enum mismatch m)
{
	t->mismatches[m]++;
}

static uint8_t expected_status(const struct sent *s)
{
	switch (s->kind) {
	case KIND_BAD_LENGTH:
	case KIND_BAD_ZERO:
		return BP_MALFORMED;
	case KIND_BAD_VERSION:
		return BP_UNSUPPORTED_VERSION;
	default:
		return BP_ACCEPTED; /* QUERY, WATCH on a known auction */
	}
}

static void on_bid_reply(struct tracker *t, struct sent *s, const struct bp_bid_reply *r)
{
	if (s->kind == KIND_QUERY || s->kind == KIND_WATCH)
		return mismatch(t, MISMATCH_WRONG_TYPE);
	if (s->kind != KIND_BID) {
		if (r->status != expected_status(s))
			mismatch(t, MISMATCH_STATUS);
		s->answered++;
		return;
	}
	if (r->auction_id != s->auction && r->status != BP_CONFLICT)
		return mismatch(t, MISMATCH_ECHO);
	if (r->status == BP_CONFLICT || (r->flags & BP_FLAG_REPLAYED)) {
		/* A reply to a duplicate or conflict sent on this key. */
		if (s->extra_seen >= s->extra_sent)
			return mismatch(t, MISMATCH_DUPLICATE);
		s->extra_seen++;
		if (r->flags & BP_FLAG_REPLAYED) {
			t->replayed++;
			if (r->status != s->status || r->hlc != s->hlc)
				mismatch(t, MISMATCH_REPLAY);
		}
		return;
	}
	if (r->status == BP_OVERLOADED) /* a duplicate racing its original */
		return;
	if (s->answered) {
		/* The original is answered once; later plain replies answer
		 * duplicates that the node had not seen as such. */
		return mismatch(t, MISMATCH_DUPLICATE);
	}
	if (r->client_ts != s->tsc)
		mismatch(t, MISMATCH_ECHO);
	if ((r->status == BP_ACCEPTED) != (r->hlc != 0))
		mismatch(t, MISMATCH_STAMP);
	s->answered = 1;
	s->status = r->status;
	s->hlc = r->hlc;
	if (r->status == BP_ACCEPTED) {
		if (r->leading_amount != s->amount || r->leading_bidder != s->bidder)
			mismatch(t, MISMATCH_ECHO);
		if (t->accepted_n < t->accepted_cap)
			t->accepted[t->accepted_n++] =
			    (struct accepted_bid){s->auction, r->hlc, s->amount};
		else
			t->accepted_dropped++;
	} else if (r->status != BP_TOO_LOW && r->status != BP_CLOSED &&
		   r->status != BP_UNKNOWN_AUCTION && r->status != BP_NOT_SERVING) {
		mismatch(t, MISMATCH_STATUS);
	}
}

static void on_state_reply(struct tracker *t, struct sent *s, const struct bp_auction_state *r)
{
	if (s->kind == KIND_BID)
		return mismatch(t, MISMATCH_WRONG_TYPE);
	if (s->answered)
		return mismatch(t, MISMATCH_DUPLICATE);
	s->answered = 1;
	if (r->status == BP_OVERLOADED)
		return;
	if (s->kind == KIND_QUERY || s->kind == KIND_WATCH) {
		if (r->auction_id != s->auction)
			mismatch(t, MISMATCH_ECHO);
		if (r->status != BP_ACCEPTED && r->status != BP_UNKNOWN_AUCTION)
			mismatch(t, MISMATCH_STATUS);
	} else if (r->status != expected_status(s)) {
		mismatch(t, MISMATCH_STATUS);
	}
}

void tracker_on_reply(struct tracker *t, const uint8_t *payload, uint16_t len, uint64_t now)
{
	struct bp_bid_reply br;
	struct bp_auction_state st;
	uint64_t rid;
	int is_bid = bp_parse_bid_reply(payload, len, &br) == 0;
	int is_state = !is_bid && bp_parse_auction_state(payload, len, &st) == 0;
	if (!is_bid && !is_state)
		return mismatch(t, MISMATCH_UNTRACKED);
	rid = is_bid ? br.request_id : st.request_id;
	uint8_t status = is_bid ? br.status : st.status;
	t->replies[is_bid ? 0 : 1][status < BP_STATUS_COUNT ? status : 0]++;
	t->received++;
	struct sent *s = &t->slots[rid & t->mask];
	if (rid == 0 || s->seq != rid)
		return mismatch(t, MISMATCH_UNTRACKED);
	if (!kind_expects_reply(s->kind))
		return mismatch(t, MISMATCH_UNEXPECTED);
	if (!s->answered) {
		hist_record(&t->latency, now - s->tsc);
		if (is_bid && s->kind == KIND_BID && br.status == BP_ACCEPTED &&
		    !(br.flags & BP_FLAG_REPLAYED))
			hist_record(&t->accepted_latency, now - s->tsc);
	}
	if (is_bid)
		on_bid_reply(t, s, &br);
	else
		on_state_reply(t, s, &st);
}

static int cmp_accepted(const void *a, const void *b)
{
	const struct accepted_bid *x = a, *y = b;
	if (x->auction != y->auction)
		return x->auction < y->auction ? -1 : 1;
	return (x->hlc > y->hlc) - (x->hlc < y->hlc);
}

void tracker_check_order(struct tracker *t)
{
	qsort(t->accepted, t->accepted_n, sizeof(t->accepted[0]), cmp_accepted);
	for (uint64_t i = 1; i < t->accepted_n; i++) {
		const struct accepted_bid *a = &t->accepted[i - 1], *b = &t->accepted[i];
		if (a->auction == b->auction && (b->amount <= a->amount || b->hlc == a->hlc))
			mismatch(t, MISMATCH_ORDER);
	}
}

const char *mismatch_name(unsigned int m)
{
	static const char *const names[MISMATCH_COUNT] = {
	    "untracked",  "wrong_type", "echo",	 "status", "replay",
	    "unexpected", "duplicate",	"order", "stamp",
	};
	return m < MISMATCH_COUNT ? names[m] : "invalid";
}

uint64_t tracker_mismatches(const struct tracker *t)
{
	uint64_t n = 0;
	for (int i = 0; i < MISMATCH_COUNT; i++)
		n += t->mismatches[i];
	return n;
}
