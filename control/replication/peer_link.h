/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One peer's link state for replication (docs/PEER_PROTOCOL.md): the
 * reliable messages sent to it and not yet acknowledged (retransmitted
 * under new sequence numbers on an RFC 6298 timer), whether it is
 * reachable, its clock offset (NTP heartbeats and clock filter), and the
 * full sync this node is pulling from it.
 *
 * Pure bookkeeping: no I/O, no clock reads, no allocation. Every time is a
 * parameter: `now_ms` is the node's monotonic clock in ms (node_mono_ms:
 * a step of the wall clock must not move timers or reachability), `*_ns`
 * wall-clock ns since the Unix epoch (as the HEARTBEAT fields). Should a
 * clock step back, elapsed times are taken as the size of the step (|now - then|),
 * so a step back makes messages due and a peer unreachable until it is heard
 * again (a heartbeat later), instead of freezing retransmissions or showing
 * a silent peer as reachable for the length of the step.
 *
 * Flow control: the caller sends a DELTA or KEYS only while the window is
 * open (peer_link_window_open: fewer than `window` messages kept); with a
 * full window it remembers what it would have sent (peer_pending.h, the
 * node's key log) and sends it once ACKs open the window again. The kept
 * messages have PEER_LINK_HEADROOM slots beyond the largest window for the
 * pushed first page of a full sync, which goes whatever the window.
 *
 * Memory: sizeof(struct peer_link) is about 1.6 MiB (PEER_LINK_OUTSTANDING
 * full-size bodies): allocate it once at start (never on a stack).
 *
 * Threads: a struct peer_link belongs to the one thread that sends and
 * receives peer messages (the control thread); no function takes a lock.
 * peer_clock_quarantined reads links of that same thread.
 */
#ifndef BIDPLANE_PEER_LINK_H
#define BIDPLANE_PEER_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peer_proto.h"

/* The window: unacknowledged DELTA and KEYS messages in flight per peer,
 * by default and at most (docs/PEER_PROTOCOL.md "Flow control" says why
 * the value). */
#define PEER_LINK_WINDOW   1024
#define PEER_LINK_HEADROOM 64 /* kept beyond the window: pushed SYNC pages */
#define PEER_LINK_OUTSTANDING                                                                      \
	(PEER_LINK_WINDOW + PEER_LINK_HEADROOM) /* reliable messages kept per peer */
#define PEER_HEARTBEAT_MS   200			/* heartbeat period */
#define PEER_UNREACHABLE_MS 1000		/* nothing heard this long: not reachable */
#define PEER_RTO_MIN_MS	    20
#define PEER_RTO_MAX_MS	    1000
#define PEER_RTO_INITIAL_MS 1000 /* RFC 6298 2.1: before the first RTT sample */
#define PEER_CLOCK_SAMPLES  8	 /* NTP clock filter depth */
/* Heartbeat transmit times remembered to match the peer's echo (origin_ns):
 * the peer echoes the latest one it got, sent at most a few periods ago. */
#define PEER_HEARTBEAT_ORIGINS 8
/* A SYNC page not received within this many RTOs is requested again. */
#define PEER_SYNC_TIMEOUT_RTOS 4

struct peer_link_msg { /* one sent DELTA (or SYNC page) awaiting its ACK */
	uint64_t seq;  /* the sequence number of its latest transmission */
	uint64_t first_sent_ms, sent_ms;
	uint32_t tries; /* transmissions so far */
	uint8_t type;	/* enum peer_type */
	uint16_t body_len;
	uint8_t body[PEER_BODY_MAX];
};

/* Per-peer counters the node shows (it copies them into its stats segment). */
struct peer_link_stats {
	uint64_t tracked;		  /* reliable messages kept (peer_link_track) */
	uint64_t acked;			  /* of them, freed by an ACK */
	uint64_t retransmissions;	  /* peer_link_resent */
	uint64_t acks_received;		  /* peer_link_on_ack */
	uint64_t outstanding_overflows;	  /* peer_link_track refused: -ENOSPC */
	uint64_t window_full;		  /* peer_link_window_open said no */
	uint64_t heartbeats_unmatched;	  /* non-zero origin_ns this link did not send (or used) */
	uint64_t heartbeats_inconsistent; /* matched, but a negative round trip */
	uint64_t full_syncs;		  /* syncs from the peer completed */
	uint64_t sync_pages_ignored;	  /* pages not the one awaited */
	uint64_t sync_rerequests;	  /* overdue pages asked for again */
};

struct peer_clock_sample {
	int64_t offset_ns; /* peer minus us */
	uint64_t rtt_ns;
};

struct peer_link {
	uint16_t node;
	uint64_t next_seq; /* the next peer_link_take_seq */

	/* Kept messages: slots, and their indexes oldest first (by first send). */
	struct peer_link_msg msg[PEER_LINK_OUTSTANDING];
	uint16_t order[PEER_LINK_OUTSTANDING];
	uint16_t free_slot[PEER_LINK_OUTSTANDING];
	uint16_t kept;
	uint16_t window;    /* 1..PEER_LINK_WINDOW */
	uint64_t acked_top; /* the highest seq an ACK named */

	/* RFC 6298, in microseconds (samples are whole ms, LAN RTTs are small). */
	bool have_rtt;
	uint64_t srtt_us, rttvar_us, rto_ms;

	bool heard;
	uint64_t last_heard_ms;
	uint64_t incarnation;

	/* Heartbeats: the peer's last one to us (t3, and our t4 of it, echoed as
	 * t1, t2), our last transmit times, the clock filter's samples. */
	uint64_t peer_transmit_ns, peer_received_ns;
	uint64_t sent_origin[PEER_HEARTBEAT_ORIGINS];
	unsigned int sent_next;
	struct peer_clock_sample sample[PEER_CLOCK_SAMPLES];
	unsigned int samples, sample_next;

	/* The full sync pulled from the peer. */
	bool syncing;
	uint64_t sync_id, sync_after, sync_requested_ms;
	uint64_t sync_done_id; /* the last completed, so its late pages restart nothing */

	struct peer_link_stats stats;
};

void peer_link_init(struct peer_link *l, uint16_t node);
/* 1, 2, 3, ... never reused: the seq of the next message to this peer. */
uint64_t peer_link_take_seq(struct peer_link *l);

/*
 * Keeps a sent reliable message (its body bytes, as encoded after the
 * 40-byte header, tag excluded) until an ACK covers its seq. Returns 0;
 * -ENOSPC when PEER_LINK_OUTSTANDING are kept already (the caller then falls
 * back to a full sync: peer_link_forget_outstanding); -EINVAL for a type
 * other than DELTA, SYNC or KEYS, seq 0 or body_len above PEER_BODY_MAX.
 */
int peer_link_track(struct peer_link *l, uint64_t seq, uint8_t type, const uint8_t *body,
		    size_t body_len, uint64_t now_ms);
void peer_link_forget_outstanding(struct peer_link *l);
/* Sets the window (clamped to 1..PEER_LINK_WINDOW; PEER_LINK_WINDOW after
 * peer_link_init). */
void peer_link_set_window(struct peer_link *l, unsigned int window);
/* Whether a DELTA or KEYS may be sent now: fewer than `window` messages are
 * kept. A no is counted (stats.window_full): something was held back. */
bool peer_link_window_open(struct peer_link *l);
size_t peer_link_outstanding(const struct peer_link *l);
/* The i-th oldest kept message (i < peer_link_outstanding), or NULL. */
const struct peer_link_msg *peer_link_outstanding_at(const struct peer_link *l, size_t i);

/*
 * An ACK from this peer (of our current incarnation: the caller checks
 * that). Frees every kept message whose seq it covers; updates the RTT
 * estimate (RFC 6298 srtt/rttvar, RTO clamped to [MIN, MAX]) with one sample
 * per freed message transmitted once only (Karn: a retransmitted one's ACK
 * may answer any of its transmissions). Every freed message is a sample, as
 * with TCP timestamps: one sample per ACK would be the newest message's,
 * the one that got through fastest, and under jitter the RTO came out too
 * short (a third of the messages retransmitted for nothing in the lossless
 * simulation of tests/unit/control/replication/test_peer_link.c; about 3 %
 * with every sample). Returns how many were freed.
 */
unsigned int peer_link_on_ack(struct peer_link *l, const struct peer_ack *ack, uint64_t now_ms);
/*
 * The oldest kept message whose retransmission time has come (sent_ms +
 * rto, the rto doubling per try up to MAX) and that is lost as far as the
 * ACKs tell (an ACK named a later seq, and not its own), or the oldest kept
 * one whose time has come (a probe), or NULL. So a peer that acknowledges
 * late (CPU-starved: its queue holds the window) gets one probe per
 * timeout, not the whole window again; a loss shows as a hole below the
 * newest acknowledged seq and is sent again at its time. The caller re-sends its
 * body under peer_link_take_seq() and then calls peer_link_resent (m stays
 * valid until the next peer_link_on_ack, track or forget).
 */
struct peer_link_msg *peer_link_next_due(struct peer_link *l, uint64_t now_ms);
void peer_link_resent(struct peer_link *l, struct peer_link_msg *m, uint64_t new_seq,
		      uint64_t now_ms);
uint64_t peer_link_rto_ms(const struct peer_link *l);
/* Replication lag towards this peer: age of the oldest kept message, 0 when none. */
uint64_t peer_link_lag_ms(const struct peer_link *l, uint64_t now_ms);

/* Any authenticated, accepted message from the peer. */
void peer_link_heard(struct peer_link *l, uint64_t now_ms);
/* Heard less than PEER_UNREACHABLE_MS ago. */
bool peer_link_reachable(const struct peer_link *l, uint64_t now_ms);
uint64_t peer_link_last_heard_ms_ago(const struct peer_link *l,
				     uint64_t now_ms); /* UINT64_MAX: never */
/*
 * The peer restarted (a higher incarnation was accepted): forgets what was
 * kept for its previous life (the caller sends it a full sync instead) and
 * the heartbeat it last sent, keeps the clock estimate and a sync in
 * progress (pages are full states: any life's are good to merge). An
 * incarnation not above the current one changes nothing. The first
 * incarnation seen counts as a restart too: what was sent before the peer
 * was first heard may have reached a previous life of it.
 */
void peer_link_new_incarnation(struct peer_link *l, uint64_t incarnation);
uint64_t peer_link_incarnation(const struct peer_link *l); /* 0: none seen */

/*
 * Heartbeats, NTP style (docs/PEER_PROTOCOL.md "HEARTBEAT"). fill: the
 * heartbeat to send now (t1, t2 from the peer's last heartbeat to us, t3 =
 * now_ns, non-zero), remembering t3 among the last PEER_HEARTBEAT_ORIGINS
 * sent. received: a heartbeat from the peer received at t4_ns; it yields a
 * clock sample only when origin_ns equals a t3 this link sent and has not
 * used yet (a replayed or forged-old heartbeat yields none) and the four
 * times are consistent (t1 <= t4, t2 <= t3, round trip >= 0). Either way it
 * becomes the heartbeat the next fill echoes.
 */
void peer_link_heartbeat_fill(struct peer_link *l, uint64_t now_ns, struct peer_heartbeat *hb);
void peer_link_heartbeat_received(struct peer_link *l, const struct peer_heartbeat *hb,
				  uint64_t t4_ns);
/*
 * The peer's clock offset (peer minus us) estimate, rounded to ms: NTP's
 * clock filter, the sample with the smallest round trip among the last
 * PEER_CLOCK_SAMPLES (its offset error is at most half its round trip).
 * false when there is none.
 */
bool peer_link_clock_offset(const struct peer_link *l, int64_t *offset_ms, uint64_t *rtt_us);

/*
 * This node's wall clock stepped (NTP, a fault injected): every sample and
 * every heartbeat in flight was timed on the clock before the step and no
 * longer tells the offset, so they are dropped (peer_link_clock_offset is
 * false until the next round trip, a heartbeat period later). Without this
 * the filter keeps its best old sample for up to PEER_CLOCK_SAMPLES
 * heartbeats: a jump forward is quarantined that late, and after a jump
 * back the node looks off for as long.
 */
void peer_link_clock_reset(struct peer_link *l);

/*
 * Whether this node's clock must be quarantined (CLUSTER.md promise 4):
 * among the peers that are reachable and have an offset estimate (m of
 * them), k are off by more than bound_ms (|offset| > bound). Quarantined
 * when m > 0 and 2k >= m + 1, that is k >= (m + 1) / 2: this node is off
 * from at least half of the m + 1 nodes it hears, itself counted (it agrees
 * with itself). So in a 3-node cluster one bad clock quarantines only itself
 * (each good node disagrees with 1 of 3, the bad one with 2 of 3), while in a
 * 2-node cluster a disagreement quarantines both: nobody can tell which
 * clock is right, and serving on either could stamp bids out of order.
 * With no estimate at all (m = 0) nothing is known against the clock: false.
 */
bool peer_clock_quarantined(const struct peer_link *links, unsigned int n, uint64_t now_ms,
			    uint64_t bound_ms);

/*
 * The full sync this node pulls from the peer (docs/PEER_PROTOCOL.md
 * SYNC_REQUEST / SYNC: pages one at a time).
 *
 * begin: starts (or restarts) the pull: fills the SYNC_REQUEST to send.
 * sync_id must be non-zero and should not repeat across this node's
 * restarts (e.g. incarnation << 32 | a counter), so that a page answering a
 * previous life's request is never taken for the awaited one.
 */
void peer_link_sync_begin(struct peer_link *l, uint64_t sync_id, uint64_t now_ms,
			  struct peer_sync_request *req);
/*
 * A SYNC page from the peer. Returns 1 and fills *next (the request for the
 * next page), 0 when this was the last page (the sync is done), -1 when the
 * page is not the one awaited (another sync_id, or another `after`: ignore
 * it, do not merge it).
 *
 * A first page (after == 0) of another sync_id starts that sync, replacing
 * any in progress, unless it is the sync completed last (a late duplicate):
 * the peer pushes a sync when it dropped deltas we never acknowledged, and
 * a pull already past those auctions would miss them.
 */
int peer_link_sync_page(struct peer_link *l, const struct peer_sync *page, uint64_t now_ms,
			struct peer_sync_request *next);
/* The request to re-send when the awaited page is overdue (PEER_SYNC_TIMEOUT_RTOS
 * x rto since the last request), else false. After re-sending it, call
 * peer_link_sync_resent. */
bool peer_link_sync_due(const struct peer_link *l, uint64_t now_ms, struct peer_sync_request *req);
void peer_link_sync_resent(struct peer_link *l, uint64_t now_ms);
bool peer_link_syncing(const struct peer_link *l);
uint64_t peer_link_full_syncs(const struct peer_link *l); /* completed */

#endif
