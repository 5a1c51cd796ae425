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

void peer_replay_commit(struct peer_replay *t, const struct peer_header *h)
{
	struct peer_replay_peer *p = find(t, h->sender);
	if (!p)
		return;
	if (h->incarnation > p->incarnation) {
		p->incarnation = h->incarnation;
		p->top = 0;
		memset(p->seen, 0, sizeof(p->seen));
	}
	if (h->seq > p->top) {
		/* Slots of the sequences the window slides past are reused. */
		if (h->seq - p->top >= PEER_REPLAY_WINDOW)
			memset(p->seen, 0, sizeof(p->seen));
		else
			for (uint64_t s = p->top + 1; s <= h->seq; s++)
				unmark(p, s);
		p->top = h->seq;
	}
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
