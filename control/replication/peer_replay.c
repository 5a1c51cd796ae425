/* SPDX-License-Identifier: BSD-3-Clause */
/* Sender checks and the anti-replay window (peer_replay.h). */
#include "peer_replay.h"

#include <errno.h>
#include <string.h>

_Static_assert(PEER_REPLAY_WINDOW % 64 == 0, "window is whole words");

void peer_replay_init(struct peer_replay *t, uint16_t self)
{
	memset(t, 0, sizeof(*t));
	t->self = self;
}

static struct peer_replay_peer *find(struct peer_replay *t, uint16_t node)
{
	for (unsigned int i = 0; i < t->count; i++)
		if (t->peer[i].node == node)
			return &t->peer[i];
	return NULL;
}

const struct peer_replay_peer *peer_replay_find(const struct peer_replay *t, uint16_t node)
{
	return find((struct peer_replay *)t, node);
}

int peer_replay_add(struct peer_replay *t, uint16_t node, uint32_t ip, uint16_t port)
{
	if (node == 0 || node == t->self)
		return -EINVAL;
	if (find(t, node))
		return -EEXIST;
	if (t->count >= PEER_MAX_NODES)
		return -ENOSPC;
	struct peer_replay_peer *p = &t->peer[t->count++];
	memset(p, 0, sizeof(*p));
	p->node = node;
	p->ip = ip;
	p->port = port;
	return 0;
}

static int seen(const struct peer_replay_peer *p, uint64_t seq)
{
	uint64_t bit = seq % PEER_REPLAY_WINDOW;
	return (p->seen[bit / 64] >> (bit % 64)) & 1;
}

static void mark(struct peer_replay_peer *p, uint64_t seq)
{
	uint64_t bit = seq % PEER_REPLAY_WINDOW;
	p->seen[bit / 64] |= UINT64_C(1) << (bit % 64);
}

static void unmark(struct peer_replay_peer *p, uint64_t seq)
{
	uint64_t bit = seq % PEER_REPLAY_WINDOW;
	p->seen[bit / 64] &= ~(UINT64_C(1) << (bit % 64));
}

enum peer_drop peer_replay_check(const struct peer_replay *t, const struct peer_header *h,
				 uint32_t src_ip, uint16_t src_port)
{
	const struct peer_replay_peer *p = peer_replay_find(t, h->sender);
	if (!p)
		return PEER_DROP_UNKNOWN_NODE;
	if (p->ip != src_ip || p->port != src_port)
		return PEER_DROP_WRONG_ADDRESS;
	if (h->receiver != t->self)
		return PEER_DROP_WRONG_RECEIVER;
	if (h->incarnation < p->incarnation)
		return PEER_DROP_STALE_INCARNATION;
	if (h->incarnation > p->incarnation || h->seq > p->top)
		return PEER_DROP_NONE;
	if (p->top - h->seq >= PEER_REPLAY_WINDOW)
		return PEER_DROP_TOO_OLD;
	return seen(p, h->seq) ? PEER_DROP_REPLAY : PEER_DROP_NONE;
}

/* The seq leaving the window as slot `s % WINDOW` is reused for s (s > top):
 * extends the run below the window when it was accepted, else ends it. */
static void slide_out(struct peer_replay_peer *p, uint64_t s)
{
	if (s <= PEER_REPLAY_WINDOW)
		return; /* nothing below 1 leaves */
	uint64_t gone = s - PEER_REPLAY_WINDOW;
	if (gone <= p->top && seen(p, gone)) {
		if (p->run_first == 0)
			p->run_first = gone;
	} else {
		p->run_first = 0;
	}
}

/* Moves the window's top to new_top (> top). */
static void advance(struct peer_replay_peer *p, uint64_t new_top)
{
	uint64_t jump = new_top - p->top;
	uint64_t steps = jump < PEER_REPLAY_WINDOW ? jump : PEER_REPLAY_WINDOW;
	for (uint64_t s = p->top + 1; s <= p->top + steps; s++) {
		slide_out(p, s);
		unmark(p, s);
	}
	/* Beyond a whole window, the seqs that leave were never accepted. */
	if (jump > PEER_REPLAY_WINDOW)
		p->run_first = 0;
	p->top = new_top;
}

void peer_replay_commit(struct peer_replay *t, const struct peer_header *h)
{
	struct peer_replay_peer *p = find(t, h->sender);
	if (!p)
		return;
	if (h->incarnation > p->incarnation) {
		p->incarnation = h->incarnation;
		p->top = 0;
		p->run_first = 0;
		memset(p->seen, 0, sizeof(p->seen));
	}
	if (h->seq > p->top)
		advance(p, h->seq);
	mark(p, h->seq);
}

enum peer_drop peer_replay_accept(struct peer_replay *t, const struct peer_header *h,
				  uint32_t src_ip, uint16_t src_port)
{
	enum peer_drop d = peer_replay_check(t, h, src_ip, src_port);
	if (d == PEER_DROP_NONE)
		peer_replay_commit(t, h);
	return d;
}

/* Adds [first, last] below the ranges collected so far (newest first). */
static int prepend(struct peer_ack *out, uint64_t first, uint64_t last)
{
	if (out->count >= PEER_ACK_MAX_RANGES)
		return -1;
	out->range[out->count++] = (struct peer_range){.first = first, .last = last};
	return 0;
}

int peer_replay_ack(const struct peer_replay *t, uint16_t node, struct peer_ack *out)
{
	const struct peer_replay_peer *p = peer_replay_find(t, node);
	if (!p)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	if (p->top == 0)
		return 0;
	out->incarnation = p->incarnation;
	uint64_t low = p->top > PEER_REPLAY_WINDOW ? p->top - PEER_REPLAY_WINDOW + 1 : 1;
	/* Walks down from the top, so that the newest ranges are the ones kept;
	 * reversed into increasing order at the end. */
	uint64_t last = 0; /* 0: not inside a range */
	int full = 0;
	for (uint64_t s = p->top;; s--) {
		if (seen(p, s)) {
			if (last == 0)
				last = s;
		} else if (last != 0) {
			full = prepend(out, s + 1, last) < 0;
			last = 0;
		}
		if (full || s == low)
			break;
	}
	if (!full) {
		if (last != 0) /* the lowest range reaches the window's edge */
			prepend(out, p->run_first ? p->run_first : low, last);
		else if (p->run_first)
			prepend(out, p->run_first, low - 1);
	}
	for (unsigned int i = 0; i < out->count / 2u; i++) {
		struct peer_range r = out->range[i];
		out->range[i] = out->range[out->count - 1 - i];
		out->range[out->count - 1 - i] = r;
	}
	return 0;
}
