/* SPDX-License-Identifier: BSD-3-Clause */
/* One peer's link state for replication (peer_link.h). */
#include "peer_link.h"

#include <errno.h>
#include <string.h>

_Static_assert(PEER_LINK_OUTSTANDING <= UINT16_MAX, "slot indexes are u16");
_Static_assert(PEER_BODY_MAX <= UINT16_MAX, "body_len is u16");

/* RFC 6298's clock granularity G: samples are whole milliseconds. */
#define RTT_GRANULARITY_US 1000

static uint64_t abs_diff(uint64_t a, uint64_t b)
{
	return a >= b ? a - b : b - a;
}

/* Time between two readings of the wall clock; a step back counts as its size. */
static uint64_t elapsed(uint64_t now, uint64_t then)
{
	return abs_diff(now, then);
}

void peer_link_init(struct peer_link *l, uint16_t node)
{
	memset(l, 0, sizeof(*l));
	l->node = node;
	l->next_seq = 1;
	l->rto_ms = PEER_RTO_INITIAL_MS;
	l->window = PEER_LINK_WINDOW;
	for (unsigned int i = 0; i < PEER_LINK_OUTSTANDING; i++)
		l->free_slot[i] = (uint16_t)(PEER_LINK_OUTSTANDING - 1 - i);
}

uint64_t peer_link_take_seq(struct peer_link *l)
{
	return l->next_seq++;
}

/* ---- kept messages ---- */

int peer_link_track(struct peer_link *l, uint64_t seq, uint8_t type, const uint8_t *body,
		    size_t body_len, uint64_t now_ms)
{
	if ((type != PEER_DELTA && type != PEER_SYNC && type != PEER_KEYS) || seq == 0 ||
	    body_len > PEER_BODY_MAX || (body_len > 0 && !body))
		return -EINVAL;
	if (l->kept >= PEER_LINK_OUTSTANDING) {
		l->stats.outstanding_overflows++;
		return -ENOSPC;
	}
	uint16_t slot = l->free_slot[PEER_LINK_OUTSTANDING - 1 - l->kept];
	struct peer_link_msg *m = &l->msg[slot];
	m->seq = seq;
	m->first_sent_ms = now_ms;
	m->sent_ms = now_ms;
	m->tries = 1;
	m->type = type;
	m->body_len = (uint16_t)body_len;
	if (body_len > 0)
		memcpy(m->body, body, body_len);
	l->order[l->kept++] = slot;
	l->stats.tracked++;
	return 0;
}

/* Rebuilds the free list from the order: every slot not kept is free. */
static void rebuild_free(struct peer_link *l)
{
	bool used[PEER_LINK_OUTSTANDING] = {false};
	for (unsigned int i = 0; i < l->kept; i++)
		used[l->order[i]] = true;
	/* Free slots fill free_slot from the top down, the next to use last. */
	unsigned int n = PEER_LINK_OUTSTANDING - 1 - l->kept;
	for (unsigned int s = 0; s < PEER_LINK_OUTSTANDING; s++)
		if (!used[s])
			l->free_slot[n--] = (uint16_t)s;
}

void peer_link_forget_outstanding(struct peer_link *l)
{
	l->kept = 0;
	rebuild_free(l);
}

void peer_link_set_window(struct peer_link *l, unsigned int window)
{
	l->window = (uint16_t)(window < 1		   ? 1
			       : window > PEER_LINK_WINDOW ? PEER_LINK_WINDOW
							   : window);
}

bool peer_link_window_open(struct peer_link *l)
{
	if (l->kept < l->window)
		return true;
	l->stats.window_full++;
	return false;
}

size_t peer_link_outstanding(const struct peer_link *l)
{
	return l->kept;
}

const struct peer_link_msg *peer_link_outstanding_at(const struct peer_link *l, size_t i)
{
	return i < l->kept ? &l->msg[l->order[i]] : NULL;
}

static bool ack_covers(const struct peer_ack *ack, uint64_t seq)
{
	unsigned int n = ack->count < PEER_ACK_MAX_RANGES ? ack->count : PEER_ACK_MAX_RANGES;
	for (unsigned int i = 0; i < n; i++)
		if (ack->range[i].first <= seq && seq <= ack->range[i].last)
			return true;
	return false;
}

static uint64_t clamp_rto(uint64_t ms)
{
	return ms < PEER_RTO_MIN_MS ? PEER_RTO_MIN_MS : ms > PEER_RTO_MAX_MS ? PEER_RTO_MAX_MS : ms;
}

/* RFC 6298 section 2, in microseconds. */
static void rtt_sample(struct peer_link *l, uint64_t rtt_ms)
{
	uint64_t r = rtt_ms * 1000;
	if (!l->have_rtt) {
		l->srtt_us = r;
		l->rttvar_us = r / 2;
		l->have_rtt = true;
	} else {
		uint64_t dev = abs_diff(l->srtt_us, r);
		l->rttvar_us = (3 * l->rttvar_us + dev) / 4;
		l->srtt_us = (7 * l->srtt_us + r) / 8;
	}
	uint64_t var = 4 * l->rttvar_us;
	uint64_t rto_us = l->srtt_us + (var > RTT_GRANULARITY_US ? var : RTT_GRANULARITY_US);
	l->rto_ms = clamp_rto((rto_us + 999) / 1000);
}

/* The highest seq the ACK names (0: none). */
static uint64_t ack_top(const struct peer_ack *ack)
{
	unsigned int n = ack->count < PEER_ACK_MAX_RANGES ? ack->count : PEER_ACK_MAX_RANGES;
	uint64_t top = 0;
	for (unsigned int i = 0; i < n; i++)
		if (ack->range[i].last > top)
			top = ack->range[i].last;
	return top;
}

unsigned int peer_link_on_ack(struct peer_link *l, const struct peer_ack *ack, uint64_t now_ms)
{
	l->stats.acks_received++;
	uint64_t top = ack_top(ack);
	if (top > l->acked_top)
		l->acked_top = top;
	unsigned int freed = 0, keep = 0;
	for (unsigned int i = 0; i < l->kept; i++) {
		struct peer_link_msg *m = &l->msg[l->order[i]];
		if (!ack_covers(ack, m->seq)) {
			l->order[keep++] = l->order[i];
			continue;
		}
		freed++;
		/* Karn; and a clock stepped back gives no sample. */
		if (m->tries == 1 && now_ms >= m->sent_ms)
			rtt_sample(l, now_ms - m->sent_ms);
	}
	if (freed == 0)
		return 0;
	l->kept = (uint16_t)keep;
	rebuild_free(l);
	l->stats.acked += freed;
	return freed;
}

/* The wait before retransmission number `tries`: rto doubled per try, capped. */
static uint64_t backoff_ms(uint64_t rto, uint32_t tries)
{
	uint64_t t = rto;
	for (uint32_t i = 1; i < tries && t < PEER_RTO_MAX_MS; i++)
		t *= 2;
	return t < PEER_RTO_MAX_MS ? t : PEER_RTO_MAX_MS;
}

/* Whether kept message i (in order) may be sent again, its time come. */
static bool may_resend(const struct peer_link *l, unsigned int i, const struct peer_link_msg *m)
{
	/* Lost, as far as the ACKs tell: the peer acknowledged a later
	 * transmission (of ours, heartbeats too) but not this one. Else it may
	 * be waiting in a slow peer's queue: only the oldest goes, as a probe
	 * (TCP's RTO retransmits the first unacknowledged segment only). */
	return i == 0 || m->seq < l->acked_top;
}

struct peer_link_msg *peer_link_next_due(struct peer_link *l, uint64_t now_ms)
{
	for (unsigned int i = 0; i < l->kept; i++) {
		struct peer_link_msg *m = &l->msg[l->order[i]];
		if (elapsed(now_ms, m->sent_ms) >= backoff_ms(l->rto_ms, m->tries) &&
		    may_resend(l, i, m))
			return m;
	}
	return NULL;
}

void peer_link_resent(struct peer_link *l, struct peer_link_msg *m, uint64_t new_seq,
		      uint64_t now_ms)
{
	/* Only a message of this link (a pointer from elsewhere is ignored);
	 * compared as integers, since < between unrelated pointers is undefined. */
	uintptr_t at = (uintptr_t)m, first = (uintptr_t)l->msg;
	if (at < first || at >= (uintptr_t)(l->msg + PEER_LINK_OUTSTANDING) ||
	    (at - first) % sizeof(*m) != 0)
		return;
	m->seq = new_seq;
	m->sent_ms = now_ms;
	if (m->tries < UINT32_MAX)
		m->tries++;
	l->stats.retransmissions++;
}

uint64_t peer_link_rto_ms(const struct peer_link *l)
{
	return l->rto_ms;
}

uint64_t peer_link_lag_ms(const struct peer_link *l, uint64_t now_ms)
{
	if (l->kept == 0)
		return 0;
	return elapsed(now_ms, l->msg[l->order[0]].first_sent_ms);
}

/* ---- reachability, incarnation ---- */

void peer_link_heard(struct peer_link *l, uint64_t now_ms)
{
	l->heard = true;
	l->last_heard_ms = now_ms;
}

uint64_t peer_link_last_heard_ms_ago(const struct peer_link *l, uint64_t now_ms)
{
	return l->heard ? elapsed(now_ms, l->last_heard_ms) : UINT64_MAX;
}

bool peer_link_reachable(const struct peer_link *l, uint64_t now_ms)
{
	return peer_link_last_heard_ms_ago(l, now_ms) < PEER_UNREACHABLE_MS;
}

void peer_link_new_incarnation(struct peer_link *l, uint64_t incarnation)
{
	if (incarnation <= l->incarnation)
		return;
	l->incarnation = incarnation;
	peer_link_forget_outstanding(l);
	/* Its new life never sent that heartbeat: echoing it would match nothing. */
	l->peer_transmit_ns = 0;
	l->peer_received_ns = 0;
}

uint64_t peer_link_incarnation(const struct peer_link *l)
{
	return l->incarnation;
}

/* ---- heartbeats and the clock filter ---- */

void peer_link_heartbeat_fill(struct peer_link *l, uint64_t now_ns, struct peer_heartbeat *hb)
{
	hb->origin_ns = l->peer_transmit_ns;
	hb->receive_ns = l->peer_received_ns;
	hb->transmit_ns = now_ns;
	if (now_ns == 0)
		return; /* not a time the peer may echo (0 is "none yet") */
	l->sent_origin[l->sent_next] = now_ns;
	l->sent_next = (l->sent_next + 1) % PEER_HEARTBEAT_ORIGINS;
}

/* Whether t was sent and not used yet; uses it up (so a replay matches nothing). */
static bool take_origin(struct peer_link *l, uint64_t t)
{
	for (unsigned int i = 0; i < PEER_HEARTBEAT_ORIGINS; i++)
		if (l->sent_origin[i] == t) {
			l->sent_origin[i] = 0;
			return true;
		}
	return false;
}

/* a - b as a signed value, saturated. */
static int64_t signed_diff(uint64_t a, uint64_t b)
{
	if (a >= b)
		return a - b > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)(a - b);
	return b - a > (uint64_t)INT64_MAX ? -INT64_MAX : -(int64_t)(b - a);
}

/* The sample of heartbeat (t1, t2, t3) received at t4, or false if inconsistent. */
static bool clock_sample(const struct peer_heartbeat *hb, uint64_t t4, struct peer_clock_sample *s)
{
	uint64_t t1 = hb->origin_ns, t2 = hb->receive_ns, t3 = hb->transmit_ns;
	if (t4 < t1 || t3 < t2 || t4 - t1 < t3 - t2)
		return false;
	s->rtt_ns = (t4 - t1) - (t3 - t2);
	/* ((t2 - t1) + (t3 - t4)) / 2 == (t2 - t1) - rtt / 2, without overflow. */
	int64_t there = signed_diff(t2, t1), half = (int64_t)(s->rtt_ns / 2);
	s->offset_ns = there < INT64_MIN + half ? INT64_MIN + 1 : there - half;
	return true;
}

void peer_link_heartbeat_received(struct peer_link *l, const struct peer_heartbeat *hb,
				  uint64_t t4_ns)
{
	l->peer_transmit_ns = hb->transmit_ns;
	l->peer_received_ns = t4_ns;
	if (hb->origin_ns == 0)
		return; /* the peer has not heard us yet */
	if (!take_origin(l, hb->origin_ns)) {
		l->stats.heartbeats_unmatched++;
		return;
	}
	struct peer_clock_sample s;
	if (!clock_sample(hb, t4_ns, &s)) {
		l->stats.heartbeats_inconsistent++;
		return;
	}
	l->sample[l->sample_next] = s;
	l->sample_next = (l->sample_next + 1) % PEER_CLOCK_SAMPLES;
	if (l->samples < PEER_CLOCK_SAMPLES)
		l->samples++;
	/* A round trip is a round trip (RFC 6298 takes any): until messages
	 * give samples, the heartbeats' sets the timeouts, rather than the
	 * one-second initial RTO a start would otherwise wait out. */
	if (!l->have_rtt)
		rtt_sample(l, (s.rtt_ns + 999999) / 1000000);
}

void peer_link_clock_reset(struct peer_link *l)
{
	memset(l->sent_origin, 0, sizeof(l->sent_origin));
	l->samples = 0;
	l->sample_next = 0;
	/* Echoing the peer's last heartbeat would hand it our receive time
	 * from before the step: the next fill echoes none (origin 0). */
	l->peer_transmit_ns = 0;
	l->peer_received_ns = 0;
}

/* ns to ms, rounded to the nearest (halves away from zero). */
static int64_t round_ms(int64_t ns)
{
	uint64_t magnitude = ns >= 0 ? (uint64_t)ns : (uint64_t)(-(ns + 1)) + 1;
	int64_t ms = (int64_t)((magnitude / 500000 + 1) / 2);
	return ns >= 0 ? ms : -ms;
}

bool peer_link_clock_offset(const struct peer_link *l, int64_t *offset_ms, uint64_t *rtt_us)
{
	if (l->samples == 0)
		return false;
	/* Oldest to newest, so that of equal round trips the newest wins. */
	unsigned int oldest = l->samples < PEER_CLOCK_SAMPLES ? 0 : l->sample_next;
	const struct peer_clock_sample *best = NULL;
	for (unsigned int i = 0; i < l->samples; i++) {
		const struct peer_clock_sample *s = &l->sample[(oldest + i) % PEER_CLOCK_SAMPLES];
		if (!best || s->rtt_ns <= best->rtt_ns)
			best = s;
	}
	if (offset_ms)
		*offset_ms = round_ms(best->offset_ns);
	if (rtt_us)
		*rtt_us = best->rtt_ns / 1000;
	return true;
}

static bool off_by_more(int64_t offset_ms, uint64_t bound_ms)
{
	uint64_t magnitude =
	    offset_ms >= 0 ? (uint64_t)offset_ms : (uint64_t)(-(offset_ms + 1)) + 1;
	return magnitude > bound_ms;
}

bool peer_clock_quarantined(const struct peer_link *links, unsigned int n, uint64_t now_ms,
			    uint64_t bound_ms)
{
	unsigned int m = 0, k = 0;
	for (unsigned int i = 0; i < n; i++) {
		int64_t offset;
		if (!peer_link_reachable(&links[i], now_ms) ||
		    !peer_link_clock_offset(&links[i], &offset, NULL))
			continue;
		m++;
		if (off_by_more(offset, bound_ms))
			k++;
	}
	return m > 0 && 2 * k >= m + 1;
}

/* ---- the full sync pulled from the peer ---- */

static void sync_request(const struct peer_link *l, struct peer_sync_request *req)
{
	req->sync_id = l->sync_id;
	req->after = l->sync_after;
}

void peer_link_sync_begin(struct peer_link *l, uint64_t sync_id, uint64_t now_ms,
			  struct peer_sync_request *req)
{
	l->syncing = true;
	l->sync_id = sync_id;
	l->sync_after = 0;
	l->sync_requested_ms = now_ms;
	sync_request(l, req);
}

/* A first page that starts a sync this node did not ask for (or no longer
 * awaits): a push from the peer. */
static bool starts_pushed_sync(const struct peer_link *l, const struct peer_sync *page)
{
	return page->sync_id != 0 && page->after == 0 && page->sync_id != l->sync_done_id &&
	       !(l->syncing && page->sync_id == l->sync_id);
}

int peer_link_sync_page(struct peer_link *l, const struct peer_sync *page, uint64_t now_ms,
			struct peer_sync_request *next)
{
	if (starts_pushed_sync(l, page)) {
		l->syncing = true;
		l->sync_id = page->sync_id;
		l->sync_after = 0;
		l->sync_requested_ms = now_ms;
	}
	if (!l->syncing || page->sync_id != l->sync_id || page->after != l->sync_after ||
	    (page->next_after != 0 && page->next_after <= page->after)) {
		l->stats.sync_pages_ignored++;
		return -1;
	}
	if (page->next_after == 0) {
		l->syncing = false;
		l->sync_done_id = l->sync_id;
		l->stats.full_syncs++;
		return 0;
	}
	l->sync_after = page->next_after;
	l->sync_requested_ms = now_ms;
	sync_request(l, next);
	return 1;
}

bool peer_link_sync_due(const struct peer_link *l, uint64_t now_ms, struct peer_sync_request *req)
{
	if (!l->syncing ||
	    elapsed(now_ms, l->sync_requested_ms) < PEER_SYNC_TIMEOUT_RTOS * l->rto_ms)
		return false;
	sync_request(l, req);
	return true;
}

void peer_link_sync_resent(struct peer_link *l, uint64_t now_ms)
{
	if (!l->syncing)
		return;
	l->sync_requested_ms = now_ms;
	l->stats.sync_rerequests++;
}

bool peer_link_syncing(const struct peer_link *l)
{
	return l->syncing;
}

uint64_t peer_link_full_syncs(const struct peer_link *l)
{
	return l->stats.full_syncs;
}
