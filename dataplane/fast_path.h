/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fixed-offset fast path of request parsing: an untagged Ethernet/IPv4
 * frame without IP options, carrying a valid BID or QUERY in one UDP
 * datagram for our MAC, IP and port, is checked at known offsets in one
 * pass (both checksums included) instead of by pkt_classify then
 * bp_parse_request. Every other frame (VLAN tag, IP options, fragments,
 * WATCH/UNWATCH, anything malformed, truncated, padded oddly or failing a
 * check) is left to that general path, which decides it exactly as before.
 *
 * Contract (test_fast_path's property): when fast_parse_request returns
 * true, *lay and *p are field for field what pkt_classify (PKT_CLASS_UDP)
 * and bp_parse_request (BP_VALID) would have produced for the same frame.
 *
 * Threads: pure, callable from any thread.
 */
#ifndef BIDPLANE_FAST_PATH_H
#define BIDPLANE_FAST_PATH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "netpkt.h"
#include "proto.h"

/* Offsets of an untagged IPv4 (IHL 5) / UDP frame. */
#define FAST_L3_OFF	 PKT_ETH_LEN
#define FAST_L4_OFF	 (FAST_L3_OFF + PKT_IPV4_LEN)
#define FAST_PAYLOAD_OFF (FAST_L4_OFF + PKT_UDP_LEN)

/* true: the frame is a valid BID or QUERY for us, *lay and *p filled;
 * false: nothing decided (*lay and *p unspecified), use the general path.
 * hw_flags: PKT_HW_* as for pkt_classify. */
bool fast_parse_request(const uint8_t *frame, size_t len, const struct pkt_filter *f,
			unsigned int hw_flags, struct pkt_layout *lay, struct bp_parse *p);

#endif
