/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bidplane wire protocol v1 codec (docs/PROTOCOL.md is the contract; it
 * repeats shared/PROTOCOL.md and adds what that text leaves open).
 * Pure C11, no DPDK: it works on the UDP payload as a byte buffer, so the
 * dataplane, bidgen, the tests and the fuzz target share one implementation.
 *
 * Parsing decides, for any byte string, exactly one of:
 *   BP_VALID      a well-formed request; every field rule holds;
 *   BP_ANSWER     answer with reply type `reply_type` and `status`
 *                 (MALFORMED or UNSUPPORTED_VERSION), request fields copied
 *                 where the datagram holds them whole and zero otherwise;
 *   BP_NO_REPLY   send nothing; `drop` says why (each reason is counted).
 *
 * Threads: every function is pure (no state), callable from any thread.
 * Buffers: parsers never read past len; writers write exactly the length
 * they return into a buffer the caller sized with the BP_LEN_* constants.
 */
#ifndef BIDPLANE_PROTO_H
#define BIDPLANE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define BP_MAGIC	    0xB1D5
#define BP_VERSION	    1
#define BP_DEFAULT_UDP_PORT 7600
#define BP_HEADER_LEN	    8

#define BP_LEN_BID	     48
#define BP_LEN_BID_REPLY     64
#define BP_LEN_QUERY	     24
#define BP_LEN_AUCTION_STATE 88
#define BP_LEN_WATCH	     32
#define BP_LEN_MAX	     BP_LEN_AUCTION_STATE

#define BP_FLAG_REPLAYED 0x0001
#define BP_AMOUNT_MAX	 INT64_MAX

enum bp_type {
	BP_BID = 0x01,
	BP_BID_REPLY = 0x02,
	BP_QUERY = 0x03,
	BP_AUCTION_STATE = 0x04,
	BP_WATCH = 0x05,
	BP_UNWATCH = 0x06,
	BP_PEER_FIRST = 0x10, /* node <-> node, never accepted from clients */
	BP_PEER_LAST = 0x1F,
};

/*
 * Statuses, phases and drop reasons are declared once each, as X-macro
 * lists: the enum value and its name come from one line. The names are
 * Prometheus label values and bidctl/JSON words, so they are a public
 * contract (docs/STATS.md): rename nothing.
 */

/* PROTOCOL.md's statuses, by code. */
#define BP_FOREACH_STATUS(X)                                                                       \
	X(ACCEPTED, accepted)                                                                      \
	X(TOO_LOW, too_low)                                                                        \
	X(CLOSED, closed)                                                                          \
	X(UNKNOWN_AUCTION, unknown_auction)                                                        \
	X(MALFORMED, malformed)                                                                    \
	X(OVERLOADED, overloaded)                                                                  \
	X(UNSUPPORTED_VERSION, unsupported_version)                                                \
	X(NOT_SERVING, not_serving)                                                                \
	X(CONFLICT, conflict)

enum bp_status {
#define BP_STATUS_ENUM(id, name) BP_##id,
	BP_FOREACH_STATUS(BP_STATUS_ENUM)
#undef BP_STATUS_ENUM
	    BP_STATUS_COUNT
};

/* AUCTION_STATE's state field. */
#define BP_FOREACH_PHASE(X)                                                                        \
	X(UNKNOWN, unknown)                                                                        \
	X(OPEN, open)                                                                              \
	X(CLOSED, closed)

enum bp_auction_phase {
#define BP_PHASE_ENUM(id, name) BP_PHASE_##id,
	BP_FOREACH_PHASE(BP_PHASE_ENUM)
#undef BP_PHASE_ENUM
	    BP_PHASE_COUNT
};

/* Why a datagram got no reply. */
#define BP_FOREACH_DROP(X)                                                                         \
	X(NONE, none)                                                                              \
	X(SHORT, short)		      /* fewer than 8 bytes */                                     \
	X(BAD_MAGIC, bad_magic)	      /* magic is not 0xB1D5 */                                    \
	X(UNKNOWN_TYPE, unknown_type) /* not a type of the table */                                \
	X(REPLY_TYPE, reply_type)     /* a node -> client type sent to the node */                 \
	X(PEER_TYPE, peer_type)	      /* 0x10-0x1F from a client */

enum bp_drop {
#define BP_DROP_ENUM(id, name) BP_DROP_##id,
	BP_FOREACH_DROP(BP_DROP_ENUM)
#undef BP_DROP_ENUM
	    BP_DROP_COUNT
};

enum bp_verdict {
	BP_VALID = 0,
	BP_ANSWER,
	BP_NO_REPLY,
};

/* A request as parsed. Fields a type does not have are zero. */
struct bp_request {
	uint8_t type;
	uint8_t version;
	uint16_t length; /* the header's length field */
	uint16_t flags;
	uint64_t request_id;
	uint64_t auction_id;
	uint64_t actor_id; /* bidder_id of a BID, viewer_id of WATCH/UNWATCH */
	uint64_t amount;
	uint64_t client_ts;
};

struct bp_parse {
	enum bp_verdict verdict;
	enum bp_status status; /* for BP_ANSWER */
	enum bp_drop drop;     /* for BP_NO_REPLY */
	uint8_t reply_type;    /* BP_BID_REPLY or BP_AUCTION_STATE when answered */
	struct bp_request req;
};

struct bp_bid_reply {
	uint16_t flags;
	uint64_t request_id;
	uint64_t auction_id;
	uint8_t status;
	uint64_t leading_amount;
	uint64_t leading_bidder;
	uint64_t hlc;
	uint64_t client_ts;
};

struct bp_auction_state {
	uint16_t flags;
	uint64_t request_id;
	uint64_t auction_id;
	uint8_t status;
	uint8_t phase; /* enum bp_auction_phase */
	uint64_t leading_amount;
	uint64_t leading_bidder;
	uint64_t leading_hlc;
	uint64_t bid_count;
	uint64_t viewers;
	uint64_t close_at_ms;
	uint64_t node_hlc;
};

/* Parses a client's datagram (the UDP payload). Always fills *out. */
void bp_parse_request(const uint8_t *buf, size_t len, struct bp_parse *out);

/* The reply type answering a request type; 0 when the type has none. */
uint8_t bp_reply_type(uint8_t request_type);

/* Reply writers (node side). Return the bytes written. */
size_t bp_write_bid_reply(uint8_t *out, const struct bp_bid_reply *r);
size_t bp_write_auction_state(uint8_t *out, const struct bp_auction_state *s);

/*
 * Writes the answer a BP_ANSWER verdict calls for (MALFORMED or
 * UNSUPPORTED_VERSION, of type p->reply_type, request fields copied).
 * Returns the bytes written, or 0 if p is not an answer.
 */
size_t bp_write_error_reply(uint8_t *out, const struct bp_parse *p);

/* Request writers (client side: bidgen, tests). Return the bytes written. */
size_t bp_write_bid(uint8_t *out, const struct bp_request *r);
size_t bp_write_query(uint8_t *out, const struct bp_request *r);
/* r->type chooses WATCH or UNWATCH. */
size_t bp_write_watch(uint8_t *out, const struct bp_request *r);

/*
 * Reply parsers (client side). Return 0, or -EBADMSG when the buffer is not
 * a v1 reply of that type with the exact length.
 */
int bp_parse_bid_reply(const uint8_t *buf, size_t len, struct bp_bid_reply *out);
int bp_parse_auction_state(const uint8_t *buf, size_t len, struct bp_auction_state *out);

/* Stable lower-case names for logs, stats and JSON ("accepted", ...). */
const char *bp_status_name(unsigned int status);
const char *bp_phase_name(unsigned int phase);
const char *bp_drop_name(unsigned int drop);
const char *bp_type_name(unsigned int type);

#endif
