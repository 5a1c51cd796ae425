/* SPDX-License-Identifier: BSD-3-Clause */
/* The fixed-offset fast path of request parsing (fast_path.h). */
#include "fast_path.h"

#include <string.h>

#include "csum.h"
#include "wire.h"

/* Both folds of a 32-bit sum below 2^17, complemented: 0 when the data
 * summed to 0xffff (a valid checksum). */
static inline uint16_t fold_complement(uint32_t s)
{
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (uint16_t)~s;
}

/* The 20-byte IPv4 header sums to 0xffff (RFC 1071). */
static inline bool ipv4_checksum_ok(const uint8_t *ip)
{
	uint64_t w[2];
	uint32_t last;
	memcpy(w, ip, 16);
	memcpy(&last, ip + 16, 4);
	uint64_t acc = add64_carry(add64_carry(w[0], w[1]), last);
	return fold_complement(fold_native(acc)) == 0;
}

/* The UDP checksum with its pseudo-header: the addresses (ip + 12, 8
 * bytes) and the datagram (udp_len, a multiple of 8 here) are contiguous,
 * one run of native words; protocol and length are added once. */
static inline bool udp_checksum_ok(const uint8_t *ip, uint16_t udp_len)
{
	/* udp_len is a BID's or a QUERY's (fast_l2_l4): as constants, the
	 * sum unrolls, no loop. */
	uint64_t acc = udp_len == PKT_UDP_LEN + BP_LEN_BID
			   ? sum64_native(ip + 12, (8u + PKT_UDP_LEN + BP_LEN_BID) / 8)
			   : sum64_native(ip + 12, (8u + PKT_UDP_LEN + BP_LEN_QUERY) / 8);
	return fold_complement(fold_native(acc) + PKT_IPPROTO_UDP + udp_len) == 0;
}

/* The L2-L4 checks of pkt_classify for an untagged IHL-5 frame; the UDP
 * payload length when they pass, 0 when the general path must decide. */
static inline uint16_t fast_l2_l4(const uint8_t *frame, size_t len, const struct pkt_filter *f,
				  unsigned int hw_flags)
{
	/* Before any read: the frame may end anywhere (fast_path.h). */
	if (len < FAST_PAYLOAD_OFF + BP_LEN_QUERY)
		return 0;
	const uint8_t *ip = frame + FAST_L3_OFF, *udp = frame + FAST_L4_OFF;
	uint32_t mac_hi, dst_ip;
	uint16_t mac_lo;
	memcpy(&mac_hi, frame, 4);
	memcpy(&mac_lo, frame + 4, 2);
	memcpy(&dst_ip, ip + 16, 4);
	uint32_t our_hi;
	uint16_t our_lo;
	memcpy(&our_hi, f->mac, 4);
	memcpy(&our_lo, f->mac + 4, 2);
	uint16_t ip_len = get_be16(ip + 2), udp_len = get_be16(udp + 4);
	if (get_be16(frame + 12) != PKT_ETHERTYPE_IPV4 || mac_hi != our_hi || mac_lo != our_lo ||
	    ip[0] != 0x45 || (get_be16(ip + 6) & 0x3fff) != 0 || ip[9] != PKT_IPPROTO_UDP ||
	    dst_ip != f->ip || get_be16(udp + 2) != f->udp_port)
		return 0;
	/* Exactly a BID or a QUERY, the whole datagram in the frame. */
	if ((udp_len != PKT_UDP_LEN + BP_LEN_BID && udp_len != PKT_UDP_LEN + BP_LEN_QUERY) ||
	    ip_len != PKT_IPV4_LEN + udp_len || FAST_L3_OFF + (size_t)ip_len > len)
		return 0;
	if (hw_flags & (PKT_HW_IP_CKSUM_BAD | PKT_HW_L4_CKSUM_BAD))
		return 0;
	if (!(hw_flags & PKT_HW_IP_CKSUM_GOOD) && !ipv4_checksum_ok(ip))
		return 0;
	if (!(hw_flags & PKT_HW_L4_CKSUM_GOOD) && get_be16(udp + 6) != 0 &&
	    !udp_checksum_ok(ip, udp_len))
		return 0;
	return (uint16_t)(udp_len - PKT_UDP_LEN);
}

/* The 8 header bytes of a v1 request of `type` and length `len` with no
 * flags (magic, version, type, length, flags), as one native word. */
#define FAST_HEADER(type, len)                                                                     \
	((uint64_t)0xB1 | (uint64_t)0xD5 << 8 | (uint64_t)BP_VERSION << 16 |                       \
	 (uint64_t)(type) << 24 | (uint64_t)((len) >> 8) << 32 | (uint64_t)((len)&0xff) << 40)

_Static_assert(BP_MAGIC == 0xB1D5, "FAST_HEADER spells the magic");

/* A v1 BID or QUERY of exactly its length, no flags, every field valid
 * (proto.c's rules for a BP_VALID verdict): the header is one compare. */
static inline bool fast_request(const uint8_t *b, uint16_t plen, struct bp_request *r)
{
	uint64_t header;
	memcpy(&header, b, 8);
	r->version = BP_VERSION;
	r->length = plen;
	r->flags = 0;
	r->request_id = get_be64(b + 8);
	r->auction_id = get_be64(b + 16);
	if (header == FAST_HEADER(BP_BID, BP_LEN_BID) && plen == BP_LEN_BID) {
		r->type = BP_BID;
		r->actor_id = get_be64(b + 24);
		r->amount = get_be64(b + 32);
		r->client_ts = get_be64(b + 40);
		return r->auction_id != 0 && r->request_id != 0 && r->actor_id != 0 &&
		       r->amount >= 1 && r->amount <= BP_AMOUNT_MAX;
	}
	r->type = BP_QUERY;
	r->actor_id = 0;
	r->amount = 0;
	r->client_ts = 0;
	return header == FAST_HEADER(BP_QUERY, BP_LEN_QUERY) && plen == BP_LEN_QUERY &&
	       r->auction_id != 0;
}

bool fast_parse_request(const uint8_t *frame, size_t len, const struct pkt_filter *f,
			unsigned int hw_flags, struct pkt_layout *lay, struct bp_parse *p)
{
	uint16_t plen = fast_l2_l4(frame, len, f, hw_flags);
	if (plen == 0 || !fast_request(frame + FAST_PAYLOAD_OFF, plen, &p->req))
		return false;
	*lay = (struct pkt_layout){.l3_off = FAST_L3_OFF,
				   .l4_off = FAST_L4_OFF,
				   .payload_off = FAST_PAYLOAD_OFF,
				   .payload_len = plen};
	p->verdict = BP_VALID;
	p->status = 0;
	p->drop = 0;
	p->reply_type = 0;
	return true;
}
