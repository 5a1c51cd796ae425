/* SPDX-License-Identifier: BSD-3-Clause */
#include "netpkt.h"

#include <string.h>

#include "csum.h"
#include "proto.h"
#include "wire.h"

static const uint8_t broadcast_mac[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

uint32_t pkt_csum_partial(const void *data, size_t len, uint32_t sum)
{
	/* The ones' complement sum does not depend on byte order (RFC 1071,
	 * 2.B): add native 32-bit halves of 64-bit loads, fold, and swap once
	 * at the end into the network-order domain the callers' sums use. */
	const uint8_t *p = data;
	uint64_t acc = 0;
	while (len >= 8) {
		uint64_t w;
		memcpy(&w, p, 8);
		acc += (w & 0xffffffff) + (w >> 32);
		p += 8;
		len -= 8;
	}
	if (len >= 4) {
		uint32_t w;
		memcpy(&w, p, 4);
		acc += w;
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t w;
		memcpy(&w, p, 2);
		acc += w;
		p += 2;
		len -= 2;
	}
	if (len)
		acc += p[0]; /* the low byte of a little-endian word: a high byte on the wire */
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffffffff) + (acc >> 32);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	acc = (acc & 0xffff) + (acc >> 16);
	return sum + __builtin_bswap16((uint16_t)acc);
}

uint16_t pkt_csum_fold(uint32_t sum)
{
	return csum_fold32(sum);
}

/* sum plus the RFC 1071 sum of len bytes (network-order domain): whole
 * 64-bit words inline, the last 0-7 bytes by pkt_csum_partial. */
static inline uint32_t csum_add_bytes(const uint8_t *p, size_t len, uint32_t sum)
{
	sum += fold_native(sum64_native(p, len / 8));
	if (len % 8)
		sum = pkt_csum_partial(p + (len & ~(size_t)7), len % 8, sum);
	return sum;
}

uint16_t pkt_udp_csum(const uint8_t *ip_hdr, const uint8_t *udp, uint16_t udp_len)
{
	uint32_t addr[2]; /* source, destination */
	memcpy(addr, ip_hdr + 12, 8);
	uint32_t sum = fold_native((uint64_t)addr[0] + addr[1]) + PKT_IPPROTO_UDP + udp_len;
	return pkt_csum_fold(csum_add_bytes(udp, udp_len, sum));
}

static enum pkt_class dropped(enum pkt_drop *why, enum pkt_drop reason)
{
	*why = reason;
	return PKT_CLASS_DROP;
}

enum pkt_class pkt_classify(const uint8_t *frame, size_t len, const struct pkt_filter *f,
			    unsigned int hw_flags, struct pkt_layout *out, enum pkt_drop *why)
{
	memset(out, 0, sizeof(*out));
	*why = PKT_DROP_NONE;
	if (len < PKT_ETH_LEN)
		return dropped(why, PKT_DROP_TRUNCATED);
	size_t l3 = PKT_ETH_LEN;
	uint16_t ethertype = get_be16(frame + 12);
	if (ethertype == PKT_ETHERTYPE_VLAN) {
		if (len < PKT_ETH_LEN + PKT_VLAN_LEN)
			return dropped(why, PKT_DROP_TRUNCATED);
		out->has_vlan = true;
		out->vlan_tci = get_be16(frame + 14);
		ethertype = get_be16(frame + 16);
		l3 += PKT_VLAN_LEN;
	}
	out->l3_off = (uint16_t)l3;
	bool to_us = memcmp(frame, f->mac, 6) == 0;

	if (ethertype == PKT_ETHERTYPE_ARP) {
		if (!to_us && memcmp(frame, broadcast_mac, 6) != 0)
			return dropped(why, PKT_DROP_DST_MAC);
		if (len < l3 + PKT_ARP_LEN)
			return dropped(why, PKT_DROP_TRUNCATED);
		return PKT_CLASS_ARP;
	}
	if (ethertype != PKT_ETHERTYPE_IPV4)
		return dropped(why, PKT_DROP_ETHERTYPE);
	if (!to_us)
		return dropped(why, PKT_DROP_DST_MAC);
	if (len < l3 + PKT_IPV4_LEN)
		return dropped(why, PKT_DROP_TRUNCATED);

	const uint8_t *ip = frame + l3;
	if (ip[0] >> 4 != 4)
		return dropped(why, PKT_DROP_IP_VERSION);
	if ((ip[0] & 0xf) != 5)
		return dropped(why, PKT_DROP_IP_OPTIONS);
	if (get_be16(ip + 6) & 0x3fff) /* MF or a fragment offset */
		return dropped(why, PKT_DROP_IP_FRAGMENT);
	uint16_t ip_len = get_be16(ip + 2);
	if (ip_len < PKT_IPV4_LEN || l3 + ip_len > len) /* shorter is Ethernet padding */
		return dropped(why, PKT_DROP_IP_LENGTH);
	if (hw_flags & PKT_HW_IP_CKSUM_BAD)
		return dropped(why, PKT_DROP_IP_CHECKSUM);
	if (!(hw_flags & PKT_HW_IP_CKSUM_GOOD) &&
	    pkt_csum_fold(csum_add_bytes(ip, PKT_IPV4_LEN, 0)) != 0)
		return dropped(why, PKT_DROP_IP_CHECKSUM);
	uint32_t dst_ip;
	memcpy(&dst_ip, ip + 16, 4);
	if (dst_ip != f->ip)
		return dropped(why, PKT_DROP_DST_IP);

	size_t l4 = l3 + PKT_IPV4_LEN;
	out->l4_off = (uint16_t)l4;
	if (ip[9] == PKT_IPPROTO_ICMP)
		return PKT_CLASS_ICMP;
	if (ip[9] != PKT_IPPROTO_UDP)
		return dropped(why, PKT_DROP_IP_PROTO);
	if (ip_len < PKT_IPV4_LEN + PKT_UDP_LEN)
		return dropped(why, PKT_DROP_UDP_LENGTH);
	const uint8_t *udp = frame + l4;
	uint16_t udp_len = get_be16(udp + 4);
	if (udp_len != ip_len - PKT_IPV4_LEN)
		return dropped(why, PKT_DROP_UDP_LENGTH);
	if (hw_flags & PKT_HW_L4_CKSUM_BAD)
		return dropped(why, PKT_DROP_UDP_CHECKSUM);
	if (!(hw_flags & PKT_HW_L4_CKSUM_GOOD) && get_be16(udp + 6) != 0 &&
	    pkt_udp_csum(ip, udp, udp_len) != 0)
		return dropped(why, PKT_DROP_UDP_CHECKSUM);
	uint16_t dst_port = get_be16(udp + 2);
	enum pkt_class class = PKT_CLASS_UDP;
	if (dst_port != f->udp_port) {
		if (f->peer_port == 0 || dst_port != f->peer_port)
			return dropped(why, PKT_DROP_DST_PORT);
		class = PKT_CLASS_PEER;
	}
	out->payload_off = (uint16_t)(l4 + PKT_UDP_LEN);
	out->payload_len = (uint16_t)(udp_len - PKT_UDP_LEN);
	return class;
}

/* Swaps the Ethernet addresses: back to the sender, from `our_mac`. */
static void eth_reply(uint8_t *frame, const uint8_t our_mac[6])
{
	memmove(frame, frame + 6, 6);
	memcpy(frame + 6, our_mac, 6);
}

static void ipv4_reply(uint8_t *ip, uint16_t total_len)
{
	uint8_t tmp[4];
	memcpy(tmp, ip + 12, 4);
	memcpy(ip + 12, ip + 16, 4);
	memcpy(ip + 16, tmp, 4);
	put_be16(ip + 2, total_len);
	/* Flags (DF) stay as received: a UDP reply is far below any MTU, an echo
	 * reply as long as the request that arrived whole. */
	put_be16(ip + 4, 0); /* id: no fragments, so any value will do */
	ip[8] = 64;	     /* TTL */
	put_be16(ip + 10, 0);
	put_be16(ip + 10, pkt_csum_fold(pkt_csum_partial(ip, PKT_IPV4_LEN, 0)));
}

/*
 * RFC 1624 eqn. 3, HC' = ~(~HC + ~m + m'), for the fields the reply
 * changes: total length, id and TTL. The addresses only swap places, which
 * leaves the sum as it was. The request's checksum is right: pkt_classify
 * verified it (or the port did).
 */
static void ipv4_reply_incremental(uint8_t *ip, uint16_t total_len)
{
	uint32_t sum = (uint16_t)~get_be16(ip + 10);
	sum += (uint16_t)~get_be16(ip + 2) + (uint32_t)total_len;
	sum += (uint16_t)~get_be16(ip + 4); /* the new id is 0 */
	sum += (uint16_t)~get_be16(ip + 8) + (uint32_t)(64u << 8 | ip[9]);
	uint8_t tmp[4];
	memcpy(tmp, ip + 12, 4);
	memcpy(ip + 12, ip + 16, 4);
	memcpy(ip + 16, tmp, 4);
	put_be16(ip + 2, total_len);
	put_be16(ip + 4, 0);
	ip[8] = 64;
	put_be16(ip + 10, csum_fold32(sum)); /* inline: once per reply */
}

/* The reply's headers around a payload already written, whose native
 * 64-bit sum is `payload_acc` (pkt_udp_reply_in_place's rules). */
static size_t udp_reply_finish(uint8_t *frame, const struct pkt_layout *l, const uint8_t our_mac[6],
			       uint16_t payload_len, uint64_t payload_acc)
{
	uint8_t *ip = frame + l->l3_off;
	uint8_t *udp = frame + l->l4_off;
	uint16_t udp_len = (uint16_t)(PKT_UDP_LEN + payload_len);
	/* The UDP sum, from scratch but for what the request already holds:
	 * addresses (pseudo-header) and ports only swap, so their sum is read
	 * once, as they are; the payload is new and summed by the caller.
	 * Nothing of the request's checksum is used, so a request without one
	 * (0) gets a full checksum back, as before. */
	uint32_t addr[2], ports;
	memcpy(addr, ip + 12, 8);
	memcpy(&ports, udp, 4);
	uint64_t acc = add64_carry((uint64_t)addr[0] + addr[1] + ports, payload_acc);
	uint32_t sum = fold_native(acc) + PKT_IPPROTO_UDP + 2u * udp_len;
	if (payload_len % 8 != 0)
		sum =
		    pkt_csum_partial(udp + PKT_UDP_LEN + payload_len / 8 * 8, payload_len % 8, sum);
	eth_reply(frame, our_mac);
	ipv4_reply_incremental(ip, (uint16_t)(PKT_IPV4_LEN + udp_len));
	uint16_t sport = get_be16(udp);
	put_be16(udp, get_be16(udp + 2));
	put_be16(udp + 2, sport);
	put_be16(udp + 4, udp_len);
	uint16_t c = csum_fold32(sum);
	put_be16(udp + 6, c ? c : 0xffff); /* 0 would mean "no checksum" */
	return (size_t)l->l4_off + udp_len;
}

size_t pkt_udp_reply_in_place(uint8_t *frame, const struct pkt_layout *l, const uint8_t our_mac[6],
			      uint16_t payload_len)
{
	const uint8_t *payload = frame + l->l4_off + PKT_UDP_LEN;
	uint64_t acc;
	/* The two replies' lengths as constants: the sum unrolls, no loop. */
	if (payload_len == BP_LEN_BID_REPLY)
		acc = sum64_native(payload, BP_LEN_BID_REPLY / 8);
	else if (payload_len == BP_LEN_AUCTION_STATE)
		acc = sum64_native(payload, BP_LEN_AUCTION_STATE / 8);
	else
		acc = sum64_native(payload, payload_len / 8);
	return udp_reply_finish(frame, l, our_mac, payload_len, acc);
}

/* Stores one big-endian 64-bit field and adds its native word to the sum. */
static inline void put_be64_sum(uint8_t *p, uint64_t v, uint64_t *acc)
{
	uint64_t w = __builtin_bswap64(v);
	memcpy(p, &w, 8);
	*acc = add64_carry(*acc, w);
}

size_t pkt_bid_reply_in_place(uint8_t *frame, const struct pkt_layout *l, const uint8_t our_mac[6],
			      const struct bp_bid_reply *r)
{
	uint8_t *out = frame + l->payload_off;
	/* bp_write_bid_reply's bytes, each word summed as it is stored: the
	 * header, then the status byte and its 7 zero bytes, as native words. */
	uint8_t head[8] = {BP_MAGIC >> 8,
			   BP_MAGIC & 0xff,
			   BP_VERSION,
			   BP_BID_REPLY,
			   BP_LEN_BID_REPLY >> 8,
			   BP_LEN_BID_REPLY & 0xff,
			   (uint8_t)(r->flags >> 8),
			   (uint8_t)r->flags};
	uint64_t hw, status = r->status, acc;
	memcpy(&hw, head, 8);
	memcpy(out, &hw, 8);
	acc = hw;
	put_be64_sum(out + 8, r->request_id, &acc);
	put_be64_sum(out + 16, r->auction_id, &acc);
	memcpy(out + 24, &status, 8); /* little-endian: the status byte first */
	acc = add64_carry(acc, status);
	put_be64_sum(out + 32, r->leading_amount, &acc);
	put_be64_sum(out + 40, r->leading_bidder, &acc);
	put_be64_sum(out + 48, r->hlc, &acc);
	put_be64_sum(out + 56, r->client_ts, &acc);
	return udp_reply_finish(frame, l, our_mac, BP_LEN_BID_REPLY, acc);
}

/* An Ethernet/IPv4 ARP packet (request or reply). */
static bool arp_is_ipv4(const uint8_t *arp)
{
	uint16_t op = get_be16(arp + 6);
	return get_be16(arp) == 1 && get_be16(arp + 2) == PKT_ETHERTYPE_IPV4 && arp[4] == 6 &&
	       arp[5] == 4 && (op == 1 || op == 2);
}

size_t pkt_arp_reply_in_place(uint8_t *frame, size_t len, const struct pkt_filter *f)
{
	struct pkt_layout l;
	enum pkt_drop why;
	if (pkt_classify(frame, len, f, 0, &l, &why) != PKT_CLASS_ARP)
		return 0;
	uint8_t *arp = frame + l.l3_off;
	uint32_t target_ip;
	memcpy(&target_ip, arp + 24, 4);
	if (!arp_is_ipv4(arp) || get_be16(arp + 6) != 1 || target_ip != f->ip)
		return 0;
	uint8_t requester_mac[6], requester_ip[4];
	memcpy(requester_mac, arp + 8, 6);
	memcpy(requester_ip, arp + 14, 4);
	put_be16(arp + 6, 2); /* reply */
	memcpy(arp + 8, f->mac, 6);
	memcpy(arp + 14, &f->ip, 4);
	memcpy(arp + 18, requester_mac, 6);
	memcpy(arp + 24, requester_ip, 4);
	memcpy(frame, requester_mac, 6);
	memcpy(frame + 6, f->mac, 6);
	return (size_t)l.l3_off + PKT_ARP_LEN;
}

bool pkt_arp_sender(const uint8_t *frame, size_t len, const struct pkt_filter *f, uint8_t mac[6],
		    uint32_t *ip)
{
	struct pkt_layout l;
	enum pkt_drop why;
	if (pkt_classify(frame, len, f, 0, &l, &why) != PKT_CLASS_ARP)
		return false;
	const uint8_t *arp = frame + l.l3_off;
	if (!arp_is_ipv4(arp))
		return false;
	memcpy(mac, arp + 8, 6);
	memcpy(ip, arp + 14, 4);
	return true;
}

size_t pkt_build_arp_request(uint8_t *frame, size_t cap, const struct pkt_filter *f,
			     uint32_t target_ip)
{
	size_t len = PKT_ETH_LEN + PKT_ARP_LEN;
	if (cap < len)
		return 0;
	memcpy(frame, broadcast_mac, 6);
	memcpy(frame + 6, f->mac, 6);
	put_be16(frame + 12, PKT_ETHERTYPE_ARP);
	uint8_t *arp = frame + PKT_ETH_LEN;
	put_be16(arp, 1); /* Ethernet */
	put_be16(arp + 2, PKT_ETHERTYPE_IPV4);
	arp[4] = 6;
	arp[5] = 4;
	put_be16(arp + 6, 1); /* request */
	memcpy(arp + 8, f->mac, 6);
	memcpy(arp + 14, &f->ip, 4);
	memset(arp + 18, 0, 6);
	memcpy(arp + 24, &target_ip, 4);
	return len;
}

size_t pkt_icmp_echo_reply_in_place(uint8_t *frame, size_t len, const struct pkt_layout *l,
				    const uint8_t our_mac[6])
{
	uint8_t *ip = frame + l->l3_off;
	if (len < (size_t)l->l4_off + PKT_ICMP_MIN_LEN || ip[9] != PKT_IPPROTO_ICMP)
		return 0;
	uint16_t ip_len = get_be16(ip + 2);
	if (ip_len < PKT_IPV4_LEN + PKT_ICMP_MIN_LEN || l->l3_off + (size_t)ip_len > len)
		return 0;
	uint8_t *icmp = frame + l->l4_off;
	uint16_t icmp_len = (uint16_t)(ip_len - PKT_IPV4_LEN);
	if (icmp[0] != 8 || icmp[1] != 0 || pkt_csum_fold(pkt_csum_partial(icmp, icmp_len, 0)) != 0)
		return 0;
	icmp[0] = 0; /* echo reply */
	put_be16(icmp + 2, 0);
	put_be16(icmp + 2, pkt_csum_fold(pkt_csum_partial(icmp, icmp_len, 0)));
	eth_reply(frame, our_mac);
	ipv4_reply(ip, ip_len);
	return (size_t)l->l3_off + ip_len;
}

size_t pkt_build_udp(uint8_t *frame, size_t cap, const struct pkt_udp_spec *s,
		     const uint8_t *payload, uint16_t payload_len)
{
	size_t l3 = PKT_ETH_LEN + (s->has_vlan ? PKT_VLAN_LEN : 0);
	size_t total = l3 + PKT_IPV4_LEN + PKT_UDP_LEN + payload_len;
	if (total > cap || payload_len > UINT16_MAX - PKT_IPV4_LEN - PKT_UDP_LEN)
		return 0;
	memcpy(frame, s->dst_mac, 6);
	memcpy(frame + 6, s->src_mac, 6);
	if (s->has_vlan) {
		put_be16(frame + 12, PKT_ETHERTYPE_VLAN);
		put_be16(frame + 14, s->vlan_tci);
	}
	put_be16(frame + l3 - 2, PKT_ETHERTYPE_IPV4);

	uint8_t *ip = frame + l3;
	uint16_t udp_len = (uint16_t)(PKT_UDP_LEN + payload_len);
	ip[0] = 0x45;
	ip[1] = 0;
	put_be16(ip + 2, (uint16_t)(PKT_IPV4_LEN + udp_len));
	put_be16(ip + 4, 0);
	put_be16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;
	ip[9] = PKT_IPPROTO_UDP;
	put_be16(ip + 10, 0);
	memcpy(ip + 12, &s->src_ip, 4);
	memcpy(ip + 16, &s->dst_ip, 4);
	put_be16(ip + 10, pkt_csum_fold(pkt_csum_partial(ip, PKT_IPV4_LEN, 0)));

	uint8_t *udp = ip + PKT_IPV4_LEN;
	put_be16(udp, s->src_port);
	put_be16(udp + 2, s->dst_port);
	put_be16(udp + 4, udp_len);
	put_be16(udp + 6, 0);
	memcpy(udp + PKT_UDP_LEN, payload, payload_len);
	uint16_t c = pkt_udp_csum(ip, udp, udp_len);
	put_be16(udp + 6, c ? c : 0xffff);
	return total;
}

const char *pkt_drop_name(unsigned int drop)
{
#define NAME_OF(id, name) #name,
	static const char *const names[PKT_DROP_COUNT] = {PKT_FOREACH_DROP(NAME_OF)};
#undef NAME_OF
	return drop < PKT_DROP_COUNT ? names[drop] : "invalid";
}
