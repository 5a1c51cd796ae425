/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sender checks and anti-replay for authenticated peer messages
 * (docs/PEER_PROTOCOL.md, "Acceptance"). Runs after peer_decode has
 * verified the tag, so every field it reads is the sender's own.
 *
 * A message is accepted when, in this order: its sender is a configured
 * peer (unknown_node); it came from that peer's IPv4 address and UDP port
 * (wrong_address); it names this node as receiver (wrong_receiver); its
 * incarnation is not below the latest seen from that peer (stale_incarnation);
 * its sequence number is within the window below the highest accepted one
 * (too_old) and was not accepted before (replay).
 *
 * The window is IPsec's anti-replay window (RFC 4303 3.4.3, kept as a ring
 * as in RFC 6479): PEER_REPLAY_WINDOW bits per peer, so reordering by up to
 * that many messages is tolerated. A higher incarnation (the peer
 * restarted) starts a fresh window. Senders never reuse a sequence number
 * within an incarnation: a retransmission goes out under a new one, so the
 * window never refuses a retransmission.
 *
 * The ACK a node sends back (peer_replay_ack) is read off the same window,
 * plus the accepted run that slid below it (run_first), so that a peer
 * sending faster than it is acknowledged still gets one range, not holes.
 *
 * Memory: sizeof(struct peer_replay), about 2.5 KiB for 16 peers, no
 * allocation.
 *
 * Threads: a struct peer_replay belongs to the one thread that receives
 * peer messages; no function takes a lock.
 */
#ifndef BIDPLANE_PEER_REPLAY_H
#define BIDPLANE_PEER_REPLAY_H

#include <stdint.h>

#include "peer_proto.h"

#define PEER_REPLAY_WINDOW 1024 /* bits, a multiple of 64 */

struct peer_replay_peer {
	uint32_t ip; /* IPv4, network byte order, as in the packet */
	uint16_t node;
	uint16_t port;	      /* UDP port, host byte order */
	uint64_t incarnation; /* latest accepted; 0: none yet */
	uint64_t top;	      /* highest sequence accepted in it; 0: none */
	/* Bit (seq % WINDOW) is set when seq in (top - WINDOW, top] was accepted. */
	uint64_t seen[PEER_REPLAY_WINDOW / 64];
	/* Every seq in [run_first, top - WINDOW] was accepted (0: no such run):
	 * the accepted run that ends at the window's lower edge, kept so that the
	 * ACK can still say so once it slid out of the window. */
	uint64_t run_first;
};

struct peer_replay {
	uint16_t self;
	unsigned int count;
	struct peer_replay_peer peer[PEER_MAX_NODES];
};

void peer_replay_init(struct peer_replay *t, uint16_t self);

/* Adds a configured peer. Returns 0, -EINVAL (node 0 or this node's id),
 * -EEXIST (already added) or -ENOSPC (PEER_MAX_NODES peers already). */
int peer_replay_add(struct peer_replay *t, uint16_t node, uint32_t ip, uint16_t port);

/* The peer with this node id, or NULL. */
const struct peer_replay_peer *peer_replay_find(const struct peer_replay *t, uint16_t node);

/* Whether a decoded message from src_ip:src_port may be accepted: returns
 * PEER_DROP_NONE or the reason. Changes nothing. */
enum peer_drop peer_replay_check(const struct peer_replay *t, const struct peer_header *h,
				 uint32_t src_ip, uint16_t src_port);

/* Records an accepted message (one peer_replay_check passed) so that its
 * sequence number is refused from now on. */
void peer_replay_commit(struct peer_replay *t, const struct peer_header *h);

/* peer_replay_check, then peer_replay_commit when it passed. */
enum peer_drop peer_replay_accept(struct peer_replay *t, const struct peer_header *h,
				  uint32_t src_ip, uint16_t src_port);

/*
 * The ACK this node sends to peer `node`: the sequence numbers of that
 * peer's latest incarnation accepted so far, as up to PEER_ACK_MAX_RANGES
 * ranges (the newest ones when there are more), increasing, neither
 * overlapping nor adjacent: what peer_encode_ack accepts. It never names a
 * seq that was not accepted. Below the window it reports only the accepted
 * run ending at the window's lower edge (older runs were acknowledged by
 * earlier ACKs, or their messages come back under new sequence numbers).
 * Returns 0, or -ENOENT for an unknown node; count is 0 (and incarnation 0:
 * nothing to send) when nothing was accepted yet.
 */
int peer_replay_ack(const struct peer_replay *t, uint16_t node, struct peer_ack *out);

#endif
