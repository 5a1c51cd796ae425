/* SPDX-License-Identifier: BSD-3-Clause */
#include "replicate_sync.h"

#include <stdlib.h>
#include <string.h>

#include "control.h"
#include "replicate_state.h"

struct id_list {
	uint64_t *ids;
	size_t count, cap;
};

static int collect_id(struct auction *a, void *arg)
{
	struct id_list *l = arg;
	if (l->count < l->cap)
		l->ids[l->count++] = a->id;
	return 0;
}

static int by_id(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return (x > y) - (x < y);
}

/* The ids of every auction now, sorted: what this sync walks. */
static void snapshot_ids(struct control *c, struct repl_peer *p, uint64_t sync_id)
{
	const struct auction_table *t = &c->node->auctions;
	struct id_list l = {.cap = (size_t)t->open + t->closed};
	free(p->serving_ids);
	p->serving_ids = NULL;
	p->serving_count = 0;
	p->serving_sync_id = sync_id;
	l.ids = malloc((l.cap ? l.cap : 1) * sizeof(*l.ids));
	if (!l.ids)
		return; /* an empty page: the peer asks again later */
	auction_iterate(t, collect_id, &l);
	qsort(l.ids, l.count, sizeof(*l.ids), by_id);
	p->serving_ids = l.ids;
	p->serving_count = l.count;
}

/* The first id above `after`. */
static size_t first_above(const uint64_t *ids, size_t n, uint64_t after)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ids[mid] <= after)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Fills entries with the auctions after `after` that fit one page; returns
 * how many, and the page's next_after (0: the last page). */
static size_t fill_page(struct control *c, struct repl_peer *p, uint64_t after,
			struct peer_entry *page, uint64_t *next_after)
{
	const size_t fixed = 8 + 8 + 8 + 2; /* sync_id, after, next_after, count */
	size_t used = fixed, k = 0;
	size_t i = first_above(p->serving_ids, p->serving_count, after);
	control_online(c);
	while (i < p->serving_count && k < PEER_MAX_ENTRIES) {
		struct auction *a = auction_lookup(&c->node->auctions, p->serving_ids[i]);
		if (!a) { /* removed since the sync began */
			i++;
			continue;
		}
		repl_entry_of(c, a, true, &page[k]);
		size_t len = peer_entry_len(&page[k]);
		if (used + len > PEER_BODY_MAX)
			break;
		used += len;
		k++;
		i++;
	}
	control_offline(c);
	*next_after = i < p->serving_count ? page[k - 1].auction_id : 0;
	return k;
}

static void send_page(struct control *c, struct repl_peer *p, uint64_t sync_id, uint64_t after,
		      bool kept, uint64_t now_ms)
{
	static struct peer_entry page[PEER_MAX_ENTRIES]; /* control thread only */
	uint8_t msg[PEER_LEN_MAX];
	if (after == 0 || p->serving_sync_id != sync_id || !p->serving_ids)
		snapshot_ids(c, p, sync_id);
	struct peer_sync pg = {.sync_id = sync_id, .after = after};
	size_t n = fill_page(c, p, after, page, &pg.next_after);
	struct peer_header h = repl_placeholder_header(&c->repl, PEER_SYNC);
	int len = peer_encode_sync(&h, &pg, page, n, &c->repl.key, msg, sizeof(msg));
	if (len < 0)
		return;
	p->stats.sync_pages_served++;
	/* A page asked for goes once (a lost one is asked for again); a
	 * pushed first page is kept until acknowledged. Either way under a
	 * real header: peer_reseal writes it over the placeholder. */
	if (kept)
		repl_send_reliable(c, p, PEER_SYNC, msg + PEER_HEADER_LEN,
				   (size_t)len - PEER_LEN_MIN, now_ms);
	else
		repl_send_once(c, p, PEER_SYNC, msg + PEER_HEADER_LEN, (size_t)len - PEER_LEN_MIN);
}

void repl_sync_serve(struct control *c, struct repl_peer *p, const struct peer_sync_request *req,
		     uint64_t now_ms)
{
	send_page(c, p, req->sync_id, req->after, false, now_ms);
}

void repl_sync_push(struct control *c, struct repl_peer *p, uint64_t now_ms)
{
	send_page(c, p, p->next_sync_id++, 0, true, now_ms);
}
