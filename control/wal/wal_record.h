/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The write-ahead log's record codec (docs/WAL.md "Records"): one
 * little-endian, versioned record per state change the node must not
 * forget. A record is a 24-byte header and a body whose size is fixed by
 * its type:
 *
 *   0  u64 checksum  XXH3-64 (libxxhash) of bytes 8 .. length
 *   8  u32 length    header + body, WAL_RECORD_MIN .. WAL_RECORD_MAX
 *  12  u8  version   WAL_RECORD_VERSION
 *  13  u8  type      enum wal_type
 *  14  u16 batch     version 2: the record's place in its group commit
 *                    (WAL_BATCH_POS_MASK: 0 for the batch's first record),
 *                    WAL_BATCH_END on its last; version 1: zero
 *  16  u64 lsn       log sequence number, >= 1
 *
 * The checksum covers the whole record but itself, so the LSN is covered:
 * a producer encodes with LSN 0 (wal_encode) and the log writer seals the
 * record once it has given it its LSN (wal_seal). XXH3 rather than DPDK's
 * rte_hash_crc (CRC32C): the log stays a plain C11 library (no DPDK
 * headers, no EAL) that its tests, the fuzz target and tools link without
 * DPDK, and XXH3's 64 bits make an undetected torn or misdirected write
 * 2^32 times less likely than a CRC32C's 32 at the same cost per record.
 *
 * Decoding checks, in this order, that the bytes hold a header, the length
 * (bounds, then that many bytes are there), the checksum, the version, the
 * batch field (zero in version 1), the type, the body's size for that type, and then every
 * field's range (wal_record_check); it never reads past `len`.
 *
 * Threads: every function is pure (no state); any thread, concurrently.
 */
#ifndef BIDPLANE_WAL_RECORD_H
#define BIDPLANE_WAL_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define WAL_RECORD_VERSION 2 /* what wal_encode writes; 1 (no batch marks) is read */
#define WAL_HEADER_LEN	   24
#define WAL_RECORD_MIN	   WAL_HEADER_LEN
#define WAL_RECORD_MAX	   128 /* a ring slot (wal_writer.h); the largest body is 58 */
#define WAL_RECORD_LARGEST (WAL_HEADER_LEN + 58) /* the longest record encoded */

enum wal_type {
	WAL_BID = 1,	       /* an answered BID (any remembered status) */
	WAL_VIEW = 2,	       /* an answered WATCH or UNWATCH */
	WAL_AUCTION_OPEN = 3,  /* an auction's definition */
	WAL_AUCTION_CLOSE = 4, /* an auction turned CLOSED */
	WAL_SETTLEMENT = 5,    /* an auction's settlement */
	WAL_FENCING_EPOCH = 6, /* the fencing epoch */
	WAL_HLC_HIGH = 7,      /* an HLC high-water mark, logged ahead of use */
	WAL_SNAPSHOT_END = 8,  /* the last record of a snapshot file */
	WAL_AUCTION_STATE = 9, /* snapshots only: an auction's counts and leading bid */
	WAL_DUP = 10,	       /* this node's copy of a bid counted as a duplicate */
	WAL_AUCTION_DUPS = 11, /* snapshots only: an auction's duplicates counted */
	WAL_TYPE_LAST = WAL_AUCTION_DUPS
};

/* The idempotency key is (bidder, request_id) with kind DEDUP_BID, as the
 * dedup table keys it; status and hlc are what a REPLAYED answer repeats. */
struct wal_bid {
	uint64_t auction_id, bidder, request_id, amount, hlc;
	uint16_t node;	/* the node that answered */
	uint8_t status; /* enum bp_status: ACCEPTED, TOO_LOW, CLOSED, UNKNOWN_AUCTION */
};

/* Key (viewer, request_id), kind DEDUP_VIEW; request_type is the dedup
 * answer's detail (BP_WATCH or BP_UNWATCH). */
struct wal_view {
	uint64_t auction_id, viewer, request_id, hlc;
	uint16_t node;
	uint8_t request_type; /* BP_WATCH, BP_UNWATCH */
	uint8_t status;	      /* BP_ACCEPTED, BP_UNKNOWN_AUCTION */
};

/* The definition, a last-writer-wins register stamped (def_hlc, def_node). */
struct wal_auction_open {
	uint64_t auction_id, reserve, increment, close_at_ms, def_hlc;
	uint16_t def_node; /* 0 with def_hlc 0: before replication */
};

struct wal_auction_close {
	uint64_t auction_id, closed_at_ms;
};

/* CLUSTER.md's settlement object; amount 0 (bidder, hlc, node 0): no winner. */
struct wal_settlement {
	uint64_t auction_id, amount, bidder, hlc, fencing_token, settled_at_ms;
	uint16_t node;
};

/* The batch field (docs/WAL.md "Torn batches"): a batch is one group
 * commit, at most WAL_BATCH_POS_MASK + 1 records. */
#define WAL_BATCH_END	   0x8000u
#define WAL_BATCH_POS_MASK 0x7fffu

/* Snapshots only (docs/WAL.md "Snapshots in the node"): what the bid and
 * view records up to the snapshot's LSN add up to for one auction, once
 * their keys have left the window: this node's accepted bids, watches and
 * unwatches, and the leading bid by the bid order (lead_amount 0: none,
 * with lead_hlc, lead_bidder and lead_node 0). */
struct wal_auction_state {
	uint64_t auction_id, bids, viewers_up, viewers_down;
	uint64_t lead_amount, lead_hlc, lead_bidder;
	uint16_t lead_node;
};

/*
 * The control thread counted this node's accepted copy of a bid as the
 * duplicate of another node's copy of it (control/node/replicate_keys.h):
 * the key, the auction and amount, this node's copy's stamp, and the
 * other copy's (hlc, node), which is earlier. Logged only once this
 * node's own bid record is durable, so a recovered duplicate always has
 * its bid (docs/WAL.md "Duplicates across nodes").
 */
struct wal_dup {
	uint64_t auction_id, bidder, request_id, amount, hlc, other_hlc;
	uint16_t other_node;
};

/* Snapshots only: how many WAL_DUP records up to the snapshot's LSN
 * counted for one auction, all of them (those still in the window are in
 * the snapshot too, as keys only). */
struct wal_auction_dups {
	uint64_t auction_id, dups;
};

struct wal_record {
	uint8_t type;	 /* enum wal_type */
	uint8_t version; /* decoded: 1 or 2 */
	uint16_t batch;	 /* decoded: the batch field (0 in version 1) */
	uint64_t lsn;	 /* 0 before the writer seals it */
	union {
		struct wal_bid bid;
		struct wal_view view;
		struct wal_auction_open open;
		struct wal_auction_close close;
		struct wal_settlement settlement;
		struct wal_auction_state state;
		struct wal_dup dup;
		struct wal_auction_dups dups;
		uint64_t fencing_epoch;	   /* >= 1 */
		uint64_t hlc_high;	   /* >= 1 */
		uint64_t snapshot_records; /* records of the snapshot before this one */
	} u;
};

enum wal_error {
	WAL_OK = 0,
	WAL_ERR_SHORT,	   /* fewer bytes than a header */
	WAL_ERR_LENGTH,	   /* length field outside WAL_RECORD_MIN..MAX */
	WAL_ERR_TRUNCATED, /* fewer bytes than the length field says */
	WAL_ERR_CHECKSUM,  /* checksum mismatch */
	WAL_ERR_VERSION,   /* not WAL_RECORD_VERSION */
	WAL_ERR_RESERVED,  /* reserved header bits set */
	WAL_ERR_TYPE,	   /* not an enum wal_type */
	WAL_ERR_BODY,	   /* body size wrong for the type */
	WAL_ERR_FIELD,	   /* a field out of its range (see *why) */
	WAL_ERR_LSN,	   /* LSN 0 in a sealed record */
};

/* A short lower-case name of an error ("checksum", ...). */
const char *wal_error_name(enum wal_error e);

/* The record's size for its type (0 for an unknown type). */
size_t wal_record_size(uint8_t type);

/* Checks every field of r against its range: WAL_OK, or WAL_ERR_TYPE /
 * WAL_ERR_FIELD with *why naming the field and its range (static text). */
enum wal_error wal_record_check(const struct wal_record *r, const char **why);

/* Encodes r (its lsn as given, usually 0) into out[0..cap), unsealed.
 * Returns the record's length, or 0 when r fails wal_record_check or cap
 * is too small. */
size_t wal_encode(uint8_t *out, size_t cap, const struct wal_record *r);

/* Writes lsn into an encoded record of rec[0..len) and its checksum. */
void wal_seal(uint8_t *rec, size_t len, uint64_t lsn);

/* wal_seal, with the batch field: the record is the pos-th (0-based,
 * pos <= WAL_BATCH_POS_MASK) of its group commit, and its last when
 * `last`. The writer's one extra store per record. */
void wal_seal_batch(uint8_t *rec, size_t len, uint64_t lsn, unsigned int pos, bool last);

/* Decodes one sealed record from buf[0..len): WAL_OK with *out and *used
 * (the record's length), or the first check that failed (above) with *why
 * describing it (static text). Never reads past buf + len. */
enum wal_error wal_decode(const uint8_t *buf, size_t len, struct wal_record *out, size_t *used,
			  const char **why);

/* The length field of a header at buf (len >= 12), without any check: for
 * a reader deciding whether a bad record is a torn tail. */
uint32_t wal_peek_length(const uint8_t *buf);

#endif
