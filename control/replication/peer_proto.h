/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The peer wire format, version 1 (docs/PEER_PROTOCOL.md): node <-> node
 * messages in UDP, each authenticated with the cluster key.
 *
 *   off  size  field
 *   0    2     magic 0xB1D5 (as the client header: a peer message sent to
 *              the client port is dropped there as peer_type)
 *   2    1     version (PEER_VERSION)
 *   3    1     type (0x10-0x1F, enum peer_type)
 *   4    2     length: the whole message, tag included
 *   6    2     flags: PEER_FLAG_FENCED or 0 (no other bit)
 *   8    2     sender node id (1..65535)
 *   10   2     receiver node id (1..65535)
 *   12   4     reserved: 0
 *   16   8     sender's incarnation (non-zero, grows across its restarts)
 *   24   8     sequence number (non-zero, per sender and incarnation)
 *   32   8     sender's HLC when it sent (non-zero)
 *   40   ...   body (per type)
 *   end  16    tag: keyed BLAKE2b-128 of bytes [0, length - 16)
 *
 * Encoders check every field they write against the decoder's rules, so
 * whatever they produce decodes back to the same fields; they return the
 * message length, -ENOSPC when cap is too small (nothing useful is written
 * then), or -EINVAL for a field that breaks a rule. Every message has
 * exactly one encoding and peer_decode accepts only that one.
 *
 * peer_decode checks, in this order: framing (short, bad_magic,
 * bad_version, bad_length), the tag (bad_mac, in constant time), then the
 * header fields (bad_header, unknown_type), then the body (malformed_body).
 * Nothing past the framing is interpreted before the tag is verified. It
 * never reads beyond len. Sender, address and replay checks are
 * peer_replay.h's.
 *
 * Threads: no global state; any thread may call any function on buffers
 * and structs it owns. Call sodium_init() once before the first call (the
 * node does at start, for the dedup secret).
 */
#ifndef BIDPLANE_PEER_PROTO_H
#define BIDPLANE_PEER_PROTO_H

#include <stddef.h>
#include <stdint.h>

#include "bidmax.h"
#include "cluster_key.h"

#define PEER_MAGIC   0xB1D5
#define PEER_VERSION 1

#define PEER_HEADER_LEN 40
#define PEER_TAG_LEN	16
/* No IPv4 fragmentation (PROTOCOL.md): a message fits one 1500-byte IPv4
 * packet, minus the IPv4 (20) and UDP (8) headers. */
#define PEER_LEN_MAX  1472
#define PEER_LEN_MIN  (PEER_HEADER_LEN + PEER_TAG_LEN)
#define PEER_BODY_MAX (PEER_LEN_MAX - PEER_LEN_MIN)

/* Node ids are 1..65535 (CLUSTER.md); a cluster has at most 16 nodes, so a
 * counter has at most 16 slots. */
#define PEER_MAX_NODES 16
/* Ranges in one ACK. */
#define PEER_ACK_MAX_RANGES 32

enum peer_type {
	PEER_HEARTBEAT = 0x10,
	PEER_ACK = 0x11,
	PEER_DELTA = 0x12,
	PEER_SYNC_REQUEST = 0x13,
	PEER_SYNC = 0x14,
	PEER_KEYS = 0x15,
};

/*
 * Why a peer message changed nothing: one counter each. peer_decode gives
 * the first group, peer_replay_check (peer_replay.h) the second.
 */
#define PEER_FOREACH_DROP(X)                                                                       \
	X(NONE, none)                                                                              \
	X(SHORT, short)			  /* fewer than PEER_LEN_MIN bytes */                      \
	X(BAD_MAGIC, bad_magic)		  /* magic is not 0xB1D5 */                                \
	X(BAD_VERSION, bad_version)	  /* version is not PEER_VERSION */                        \
	X(BAD_LENGTH, bad_length)	  /* length field != datagram, or > PEER_LEN_MAX */        \
	X(BAD_MAC, bad_mac)		  /* tag does not verify under the cluster key */          \
	X(BAD_HEADER, bad_header)	  /* flags, reserved, or a zero id/incarnation/seq/hlc */  \
	X(UNKNOWN_TYPE, unknown_type)	  /* authentic, but a type this version lacks */           \
	X(MALFORMED_BODY, malformed_body) /* authentic, but the body breaks a rule */              \
	X(UNKNOWN_NODE, unknown_node)	  /* sender is not a configured peer */                    \
	X(WRONG_ADDRESS, wrong_address)	  /* source IP:port is not that peer's */                  \
	X(WRONG_RECEIVER, wrong_receiver) /* addressed to another node */                          \
	X(STALE_INCARNATION, stale_incarnation) /* older than the peer's latest incarnation */     \
	X(REPLAY, replay)			/* sequence already seen */                        \
	X(TOO_OLD, too_old)			/* sequence below the anti-replay window */

enum peer_drop {
#define PEER_DROP_ENUM(id, name) PEER_DROP_##id,
	PEER_FOREACH_DROP(PEER_DROP_ENUM)
#undef PEER_DROP_ENUM
	    PEER_DROP_COUNT
};

/* The counter name of a reason ("bad_mac"), or "invalid". */
const char *peer_drop_name(enum peer_drop d);

/* Header flags. FENCED: the sender runs with --etcd, so its FINAL and
 * SETTLEMENT parts are etcd-fenced (docs/LEADERSHIP.md "Mixed clusters");
 * a node honours those parts only from a peer in its own mode. */
#define PEER_FLAG_FENCED 0x0001
#define PEER_FLAGS_KNOWN PEER_FLAG_FENCED

struct peer_header {
	uint8_t type;	/* enum peer_type */
	uint16_t flags; /* PEER_FLAG_*: a bit outside PEER_FLAGS_KNOWN is bad_header */
	uint16_t sender;
	uint16_t receiver;
	uint64_t incarnation;
	uint64_t seq;
	uint64_t hlc;
};

/* HEARTBEAT: NTP's three timestamps, wall-clock nanoseconds since the Unix
 * epoch (0: not known yet). */
struct peer_heartbeat {
	uint64_t origin_ns;   /* t1: transmit time of the receiver's last heartbeat */
	uint64_t receive_ns;  /* t2: when the sender received that heartbeat */
	uint64_t transmit_ns; /* t3: when the sender sent this one (non-zero) */
};

struct peer_range {
	uint64_t first, last; /* inclusive, 1 <= first <= last */
};

/* ACK: sequence numbers of the receiver's incarnation `incarnation` that the
 * sender has received, as ranges in increasing order, neither overlapping
 * nor adjacent. */
struct peer_ack {
	uint64_t incarnation;
	uint8_t count; /* 0..PEER_ACK_MAX_RANGES */
	struct peer_range range[PEER_ACK_MAX_RANGES];
};

/* A counter's slots by node id: ids strictly increasing and non-zero,
 * values non-zero (zero slots are left out). */
struct peer_counter {
	uint8_t count; /* 0..PEER_MAX_NODES */
	uint16_t node[PEER_MAX_NODES];
	uint64_t value[PEER_MAX_NODES];
};

/* The auction's definition as one LWW register, stamped (hlc, node). */
struct peer_definition {
	uint64_t hlc;	      /* non-zero */
	uint16_t node;	      /* non-zero */
	uint8_t phase;	      /* PEER_PHASE_OPEN or PEER_PHASE_CLOSED */
	uint64_t reserve;     /* 1..BID_AMOUNT_MAX */
	uint64_t increment;   /* 1..BID_AMOUNT_MAX */
	uint64_t close_at_ms; /* Unix ms */
};

#define PEER_PHASE_OPEN	  1
#define PEER_PHASE_CLOSED 2

/* Which parts of an auction an entry carries (PEER_PART_*, at least one). */
#define PEER_PART_DEFINITION 0x01
#define PEER_PART_LEADER     0x02
#define PEER_PART_BID_COUNT  0x04
#define PEER_PART_VIEWERS    0x08
#define PEER_PART_DUPS	     0x10 /* G-Counter: duplicates this node counted (KEYS) */
/* No bytes: the sender closed the auction and passed its grace period, so
 * the leader part beside it (or its absence: no bid) holds every bid the
 * sender accepted (fenced settlement waits for it from every peer). */
#define PEER_PART_FINAL	     0x20
#define PEER_PART_SETTLEMENT 0x40 /* the auction's settlement, as etcd holds it */
#define PEER_PARTS_ALL	     0x7f

/* An auction's settlement (CLUSTER.md's `settlement`): the winning bid
 * (all zero: there was none), the token it was written with in etcd, and
 * when. */
struct peer_settlement {
	struct bid winner;
	uint64_t fencing_token; /* non-zero */
	uint64_t settled_at_ms; /* non-zero */
};

/* One auction's delta (or, in SYNC, its full state). Parts not in `parts`
 * are ignored by the encoder and zeroed by the decoder. */
struct peer_entry {
	uint64_t auction_id; /* non-zero */
	uint8_t parts;
	struct peer_definition definition;
	struct bid leader;	       /* amount, hlc, bidder, node all non-zero */
	struct peer_counter bid_count; /* G-Counter */
	struct peer_counter viewers_p; /* PN-Counter: increments */
	struct peer_counter viewers_n; /* PN-Counter: decrements */
	struct peer_counter dups;      /* G-Counter: bids counted twice (KEYS) */
	struct peer_settlement settlement;
};

/* Largest encoding of one entry; PEER_MAX_ENTRIES bounds a message's. */
#define PEER_COUNTER_MAX_LEN (1 + 10 * PEER_MAX_NODES)
#define PEER_ENTRY_MAX_LEN   (9 + 35 + 26 + 4 * PEER_COUNTER_MAX_LEN + 42)
#define PEER_ENTRY_MIN_LEN   (9 + 11) /* the smallest part: one counter slot */
#define PEER_MAX_ENTRIES     ((PEER_BODY_MAX - 2) / PEER_ENTRY_MIN_LEN)

/* The entries of a DELTA or SYNC, validated by peer_decode and read with
 * peer_entries_next (they point into the decoded buffer). */
struct peer_entries {
	const uint8_t *buf;
	size_t len;
	uint16_t count;
};

/* SYNC_REQUEST: send the auctions with ids above `after`, in pages. */
struct peer_sync_request {
	uint64_t sync_id; /* non-zero; echoed in every page */
	uint64_t after;	  /* 0: from the start */
};

/* SYNC: one page of full states, auction ids strictly increasing and above
 * `after` (the request's, echoed); `next_after` is 0 on the last page, else
 * the `after` of the next request (above this page's `after`). */
struct peer_sync {
	uint64_t sync_id; /* non-zero, the request's */
	uint64_t after;
	uint64_t next_after;
	struct peer_entries entries;
};

/*
 * KEYS: the idempotency keys (bidder, request_id) of BIDs the sender
 * accepted, so that a retry accepted on two nodes is counted once
 * (control/node/replicate_keys.h). Records in strictly increasing
 * (bidder, request_id); every field non-zero, amount 1..BID_AMOUNT_MAX.
 */
#define PEER_KEY_LEN  42
#define PEER_KEYS_MAX ((PEER_BODY_MAX - 2) / PEER_KEY_LEN)

struct peer_key {
	uint64_t bidder;
	uint64_t request_id;
	uint64_t auction_id;
	uint64_t amount;
	uint64_t hlc;  /* the accepted bid's stamp */
	uint16_t node; /* the node that accepted it */
};

/* A decoded KEYS body, read with peer_keys_at (points into the buffer). */
struct peer_keys {
	const uint8_t *buf;
	uint16_t count; /* 1..PEER_KEYS_MAX */
};

struct peer_message {
	struct peer_header h;
	uint16_t length;
	union {
		struct peer_heartbeat heartbeat;
		struct peer_ack ack;
		struct peer_entries delta; /* count >= 1 */
		struct peer_sync_request sync_request;
		struct peer_sync sync;
		struct peer_keys keys;
	} u;
};

/* The length an entry takes on the wire, or 0 if it breaks a rule. Lets a
 * batcher see how many entries fit before it encodes. */
size_t peer_entry_len(const struct peer_entry *e);

int peer_encode_heartbeat(const struct peer_header *h, const struct peer_heartbeat *hb,
			  const struct cluster_key *key, uint8_t *buf, size_t cap);
int peer_encode_ack(const struct peer_header *h, const struct peer_ack *ack,
		    const struct cluster_key *key, uint8_t *buf, size_t cap);
/* n >= 1 entries, auction ids strictly increasing. */
int peer_encode_delta(const struct peer_header *h, const struct peer_entry *e, size_t n,
		      const struct cluster_key *key, uint8_t *buf, size_t cap);
int peer_encode_sync_request(const struct peer_header *h, const struct peer_sync_request *req,
			     const struct cluster_key *key, uint8_t *buf, size_t cap);
/* n >= 0 entries, auction ids strictly increasing and above page->after;
 * page->entries is ignored. */
int peer_encode_sync(const struct peer_header *h, const struct peer_sync *page,
		     const struct peer_entry *e, size_t n, const struct cluster_key *key,
		     uint8_t *buf, size_t cap);

/* n = 1..PEER_KEYS_MAX records in strictly increasing (bidder, request_id). */
int peer_encode_keys(const struct peer_header *h, const struct peer_key *k, size_t n,
		     const struct cluster_key *key, uint8_t *buf, size_t cap);

/*
 * Decodes and authenticates one datagram. Returns 0 and fills *out, or -1
 * with *reason set and *out undefined. h.type in *out selects the union
 * member; DELTA and SYNC entries stay in buf (read them with
 * peer_entries_next while buf lives).
 */
int peer_decode(const uint8_t *buf, size_t len, const struct cluster_key *key,
		struct peer_message *out, enum peer_drop *reason);

/* Reads the entry at byte offset *off of a decoded entry list and advances
 * *off past it. Start with *off = 0. Returns 1 and fills *e, or 0 at the
 * end. */
int peer_entries_next(const struct peer_entries *list, size_t *off, struct peer_entry *e);

/* Record i (< keys->count) of a decoded KEYS. */
void peer_keys_at(const struct peer_keys *keys, unsigned int i, struct peer_key *out);

/*
 * A DELTA, SYNC or KEYS body (the bytes after the header, tag excluded, of
 * a message these encoders made) under a new header h (h->type DELTA, SYNC
 * or KEYS): how a kept message is retransmitted under a new sequence number
 * without encoding its entries again. body may point into buf's body.
 * Returns the length, -ENOSPC or -EINVAL.
 */
int peer_reseal(const struct peer_header *h, const uint8_t *body, size_t body_len,
		const struct cluster_key *key, uint8_t *buf, size_t cap);

/* Writes the tag over buf[0, len - PEER_TAG_LEN) into the last PEER_TAG_LEN
 * bytes. For encoders and tests (the fuzz target re-tags mutated bodies). */
void peer_tag(uint8_t *buf, size_t len, const struct cluster_key *key);

#endif
