/* SPDX-License-Identifier: BSD-3-Clause */
/* L2-L4 checks: one test per drop reason, the accepted shapes, replies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <string.h>

#include "csum.h"
#include "netpkt.h"
#include "proto.h"
#include "prop.h"

static const uint8_t NODE_MAC[6] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t PEER_MAC[6] = {0x02, 0, 0, 0, 0, 0x01};
static struct pkt_filter filter;
static const uint8_t payload[8] = {0xB1, 0xD5, 1, 3, 0, 8, 0, 0};

static int setup(void **s)
{
	(void)s;
	memcpy(filter.mac, NODE_MAC, 6);
	filter.ip = inet_addr("198.18.0.2");
	filter.udp_port = 7600;
	return 0;
}

static size_t frame_to_node(uint8_t *f, bool vlan)
{
	struct pkt_udp_spec s = {.has_vlan = vlan,
				 .vlan_tci = 100,
				 .src_ip = inet_addr("198.18.0.1"),
				 .dst_ip = filter.ip,
				 .src_port = 40000,
				 .dst_port = 7600};
	memcpy(s.src_mac, PEER_MAC, 6);
	memcpy(s.dst_mac, NODE_MAC, 6);
	return pkt_build_udp(f, 256, &s, payload, sizeof(payload));
}

/* A frame to the node that classifies as UDP; its layout in *l. */
static size_t classified_frame_to_node(uint8_t *f, bool vlan, struct pkt_layout *l)
{
	size_t len = frame_to_node(f, vlan);
	enum pkt_drop why;
	assert_int_equal(pkt_classify(f, len, &filter, 0, l, &why), PKT_CLASS_UDP);
	return len;
}

/* The client the frames come from, as a filter: replies must reach it. */
static struct pkt_filter peer_filter(void)
{
	struct pkt_filter peer = {.ip = inet_addr("198.18.0.1"), .udp_port = 40000};
	memcpy(peer.mac, PEER_MAC, 6);
	return peer;
}

static enum pkt_drop drop_of(const uint8_t *f, size_t len)
{
	struct pkt_layout l;
	enum pkt_drop why;
	assert_int_equal(pkt_classify(f, len, &filter, 0, &l, &why), PKT_CLASS_DROP);
	return why;
}

/* Recomputes the IPv4 header checksum after a test changed the header. */
static void fix_ip_csum(uint8_t *ip)
{
	ip[10] = ip[11] = 0;
	uint16_t c = pkt_csum_fold(pkt_csum_partial(ip, 4 * (ip[0] & 0xf), 0));
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

static size_t arp_request(uint8_t *f, uint32_t target_ip, uint16_t op)
{
	memset(f, 0xff, 6);
	memcpy(f + 6, PEER_MAC, 6);
	f[12] = 0x08, f[13] = 0x06;
	uint8_t *a = f + 14;
	a[0] = 0, a[1] = 1, a[2] = 0x08, a[3] = 0, a[4] = 6, a[5] = 4, a[6] = 0, a[7] = (uint8_t)op;
	memcpy(a + 8, PEER_MAC, 6);
	uint32_t sip = inet_addr("198.18.0.1");
	memcpy(a + 14, &sip, 4);
	memset(a + 18, 0, 6);
	memcpy(a + 24, &target_ip, 4);
	return 14 + 28;
}

static void untagged_and_tagged_udp_are_accepted(void **s)
{
	(void)s;
	uint8_t f[256];
	for (int vlan = 0; vlan <= 1; vlan++) {
		struct pkt_layout l;
		classified_frame_to_node(f, vlan, &l);
		assert_int_equal(l.payload_len, sizeof(payload));
		assert_memory_equal(f + l.payload_off, payload, sizeof(payload));
		assert_int_equal(l.has_vlan, vlan);
		if (vlan)
			assert_int_equal(l.vlan_tci, 100);
	}
}

static void ethernet_padding_is_ignored(void **s)
{
	(void)s;
	uint8_t f[256] = {0};
	size_t len = frame_to_node(f, false);
	struct pkt_layout l;
	enum pkt_drop why;
	assert_int_equal(pkt_classify(f, len + 12, &filter, 0, &l, &why), PKT_CLASS_UDP);
	assert_int_equal(l.payload_len, sizeof(payload));
}

static void zero_udp_checksum_means_none(void **s)
{
	(void)s;
	uint8_t f[256];
	size_t len = frame_to_node(f, false);
	f[14 + 20 + 6] = f[14 + 20 + 7] = 0;
	struct pkt_layout l;
	enum pkt_drop why;
	assert_int_equal(pkt_classify(f, len, &filter, 0, &l, &why), PKT_CLASS_UDP);
}

static void drop_truncated(void **s)
{
	(void)s;
	uint8_t f[256];
	frame_to_node(f, true);
	assert_int_equal(drop_of(f, 10), PKT_DROP_TRUNCATED);
	assert_int_equal(drop_of(f, 16), PKT_DROP_TRUNCATED);
	assert_int_equal(drop_of(f, 30), PKT_DROP_TRUNCATED);
	size_t len = arp_request(f, filter.ip, 1);
	assert_int_equal(drop_of(f, len - 1), PKT_DROP_TRUNCATED);
}

static void drop_dst_mac(void **s)
{
	(void)s;
	uint8_t f[256];
	size_t len = frame_to_node(f, false);
	f[5] ^= 1;
	assert_int_equal(drop_of(f, len), PKT_DROP_DST_MAC);
	memset(f, 0xff, 6); /* broadcast is for ARP only */
	assert_int_equal(drop_of(f, len), PKT_DROP_DST_MAC);
	len = arp_request(f, filter.ip, 1);
	memcpy(f, PEER_MAC, 6); /* unicast ARP for another host */
	assert_int_equal(drop_of(f, len), PKT_DROP_DST_MAC);
}

static void drop_ethertype(void **s)
{
	(void)s;
	uint8_t f[256];
	size_t len = frame_to_node(f, false);
	f[12] = 0x86, f[13] = 0xdd; /* IPv6 */
	assert_int_equal(drop_of(f, len), PKT_DROP_ETHERTYPE);
	len = frame_to_node(f, true);
	f[16] = 0x81, f[17] = 0x00; /* a second tag */
	assert_int_equal(drop_of(f, len), PKT_DROP_ETHERTYPE);
	f[16] = 0x88, f[17] = 0xa8; /* an 802.1ad tag inside */
	assert_int_equal(drop_of(f, len), PKT_DROP_ETHERTYPE);
	len = frame_to_node(f, true);
	f[12] = 0x88, f[13] = 0xa8; /* QinQ: an 802.1ad outer tag */
	assert_int_equal(drop_of(f, len), PKT_DROP_ETHERTYPE);
}

static void drop_ip_version(void **s)
{
	(void)s;
	uint8_t f[256];
	size_t len = frame_to_node(f, false);
	f[14] = 0x65;
	assert_int_equal(drop_of(f, len), PKT_DROP_IP_VERSION);
}

static void drop_ip_options(void **s)
{
	(void)s;
	uint8_t f[256];
	size_t len = frame_to_node(f, false);
	f[14] = 0x46;
	fix_ip_csum(f + 14);
	assert_int_equal(drop_of(f, len), PKT_DROP_IP_OPTIONS);
}

static void drop_ip_fragment(void **s)
{
	(void)s;
	uint8_t f[256];
	size_t len = frame_to_node(f, false);
	f[14 + 6] = 0x20; /* MF */
	assert_int_equal(drop_of(f, len), PKT_DROP_IP_FRAGMENT);
	f[14 + 6] = 0x00, f[14 + 7] = 0x10; /* offset */
	assert_int_equal(drop_of(f, len), PKT_DROP_IP_FRAGMENT);
}

static void drop_ip_length(void **s)
{
	(void)s;
	uint8_t f[256];
	size_t len = frame_to_node(f, false);
	f[14 + 2] = 0x01; /* 256 + ... beyond the frame */
	fix_ip_csum(f + 14);
	assert_int_equal(drop_of(f, len), PKT_DROP_IP_LENGTH);
	f[14 + 2] = 0, f[14 + 3] = 19;
	fix_ip_csum(f + 14);
	assert_int_equal(drop_of(f, len), PKT_DROP_IP_LENGTH);
}

static void drop_ip_checksum(void **s)
{
	(void)s;
	uint8_t f[256];
	size_t len = frame_to_node(f, false);
	f[14 + 10] ^= 0x40;
	assert_int_equal(drop_of(f, len), PKT_DROP_IP_CHECKSUM);
	/* A port that checked it already is trusted either way. */
	struct pkt_layout l;
	enum pkt_drop why;
	assert_int_equal(pkt_classify(f, len, &filter, PKT_HW_IP_CKSUM_GOOD, &l, &why),
			 PKT_CLASS_UDP);
	len = frame_to_node(f, false);
	assert_int_equal(pkt_classify(f, len, &filter, PKT_HW_IP_CKSUM_BAD, &l, &why),
			 PKT_CLASS_DROP);
	assert_int_equal(why, PKT_DROP_IP_CHECKSUM);
}

static void drop_dst_ip(void **s)
{
	(void)s;
	uint8_t f[256];
	size_t len = frame_to_node(f, false);
	f[14 + 19] = 77;
	fix_ip_csum(f + 14);
	assert_int_equal(drop_of(f, len), PKT_DROP_DST_IP);
}

static void drop_ip_proto(void **s)
{
	(void)s;
	uint8_t f[256];
	size_t len = frame_to_node(f, false);
	f[14 + 9] = 6; /* TCP */
	fix_ip_csum(f + 14);
	assert_int_equal(drop_of(f, len), PKT_DROP_IP_PROTO);
}

static void drop_udp_length(void **s)
{
	(void)s;
	uint8_t f[256];
	size_t len = frame_to_node(f, false);
	f[14 + 20 + 5] += 1;
	assert_int_equal(drop_of(f, len), PKT_DROP_UDP_LENGTH);
	f[14 + 2] = 0, f[14 + 3] = PKT_IPV4_LEN + PKT_UDP_LEN - 1; /* no room for UDP */
	fix_ip_csum(f + 14);
	assert_int_equal(drop_of(f, len), PKT_DROP_UDP_LENGTH);
}

static void drop_udp_checksum(void **s)
{
	(void)s;
	uint8_t f[256];
	size_t len = frame_to_node(f, false);
	f[len - 1] ^= 1; /* payload changed, checksum not */
	assert_int_equal(drop_of(f, len), PKT_DROP_UDP_CHECKSUM);
	struct pkt_layout l;
	enum pkt_drop why;
	assert_int_equal(pkt_classify(f, len, &filter, PKT_HW_L4_CKSUM_GOOD, &l, &why),
			 PKT_CLASS_UDP);
	assert_int_equal(pkt_classify(f, len, &filter, PKT_HW_L4_CKSUM_BAD, &l, &why),
			 PKT_CLASS_DROP);
	assert_int_equal(why, PKT_DROP_UDP_CHECKSUM);
}

static void drop_dst_port(void **s)
{
	(void)s;
	uint8_t f[256];
	struct pkt_udp_spec sp = {.src_ip = inet_addr("198.18.0.1"),
				  .dst_ip = filter.ip,
				  .src_port = 1,
				  .dst_port = 7601};
	memcpy(sp.dst_mac, NODE_MAC, 6);
	size_t len = pkt_build_udp(f, sizeof(f), &sp, payload, sizeof(payload));
	assert_int_equal(drop_of(f, len), PKT_DROP_DST_PORT);
}

/* The reply classifies as valid from the other side, checksums and all. */
static void reply_in_place_is_a_valid_frame_back(void **s)
{
	(void)s;
	for (int vlan = 0; vlan <= 1; vlan++) {
		uint8_t f[256];
		struct pkt_layout l, back;
		enum pkt_drop why;
		classified_frame_to_node(f, vlan, &l);
		memset(f + l.payload_off, 0x5a, 64);
		size_t out = pkt_udp_reply_in_place(f, &l, NODE_MAC, 64);
		assert_int_equal(out, l.payload_off + 64u);
		struct pkt_filter peer = peer_filter();
		assert_int_equal(pkt_classify(f, out, &peer, 0, &back, &why), PKT_CLASS_UDP);
		assert_int_equal(back.payload_len, 64);
		assert_int_equal(back.has_vlan, vlan);
		assert_memory_equal(f + 6, NODE_MAC, 6);
		assert_int_equal(f[l.l4_off] << 8 | f[l.l4_off + 1], 7600); /* source port */
		assert_int_equal(f[l.l3_off + 8], 64);			    /* TTL */
		assert_int_equal(f[l.l3_off + 4] | f[l.l3_off + 5], 0);	    /* IP id */
	}
}

/*
 * A UDP checksum that computes to 0 must go out as 0xFFFF: 0 would tell the
 * receiver "no checksum". One payload word is chosen to make the sum 0xFFFF.
 */
static void computed_udp_checksum_of_zero_is_sent_as_ffff(void **s)
{
	(void)s;
	for (int vlan = 0; vlan <= 1; vlan++) {
		uint8_t f[256];
		struct pkt_layout l;
		enum pkt_drop why;
		size_t len = classified_frame_to_node(f, vlan, &l);
		uint8_t *udp = f + l.l4_off;
		uint8_t *word = f + l.payload_off + 6; /* the request's flags */
		word[0] = word[1] = 0;
		udp[6] = udp[7] = 0;
		uint16_t c = pkt_udp_csum(f + l.l3_off, udp, PKT_UDP_LEN + sizeof(payload));
		word[0] = (uint8_t)(c >> 8), word[1] = (uint8_t)c;
		assert_int_equal(pkt_udp_csum(f + l.l3_off, udp, PKT_UDP_LEN + sizeof(payload)), 0);

		struct pkt_udp_spec sp = {.has_vlan = vlan,
					  .src_ip = inet_addr("198.18.0.1"),
					  .dst_ip = filter.ip,
					  .src_port = 40000,
					  .dst_port = 7600};
		uint8_t built[256];
		size_t blen =
		    pkt_build_udp(built, sizeof(built), &sp, f + l.payload_off, sizeof(payload));
		assert_int_equal(blen, len);
		assert_int_equal(built[l.l4_off + 6] << 8 | built[l.l4_off + 7], 0xffff);

		/* The reply swaps the pseudo-header's halves: its sum is the same. */
		size_t out = pkt_udp_reply_in_place(f, &l, NODE_MAC, sizeof(payload));
		assert_int_equal(udp[6] << 8 | udp[7], 0xffff);
		struct pkt_filter peer = peer_filter();
		assert_int_equal(pkt_classify(f, out, &peer, 0, &l, &why), PKT_CLASS_UDP);
	}
}

static void arp_request_for_us_is_answered(void **s)
{
	(void)s;
	uint8_t f[64];
	size_t len = arp_request(f, filter.ip, 1);
	assert_int_equal(pkt_arp_reply_in_place(f, len, &filter), len);
	assert_memory_equal(f, PEER_MAC, 6);
	assert_int_equal(f[14 + 7], 2);
	assert_memory_equal(f + 14 + 8, NODE_MAC, 6);
	assert_memory_equal(f + 14 + 18, PEER_MAC, 6);
	assert_memory_equal(f + 14 + 14, &filter.ip, 4);
}

static void arp_request_unicast_or_tagged_is_answered(void **s)
{
	(void)s;
	uint8_t f[64], tagged[68];
	size_t len = arp_request(f, filter.ip, 1);
	memcpy(f, NODE_MAC, 6); /* a cache refresh, sent to our MAC */
	assert_int_equal(pkt_arp_reply_in_place(f, len, &filter), len);
	assert_memory_equal(f, PEER_MAC, 6);

	len = arp_request(f, filter.ip, 1);
	memcpy(tagged, f, 12);
	tagged[12] = 0x81, tagged[13] = 0x00, tagged[14] = 0x00, tagged[15] = 100;
	memcpy(tagged + 16, f + 12, len - 12);
	assert_int_equal(pkt_arp_reply_in_place(tagged, len + 4, &filter), len + 4);
	assert_int_equal(tagged[15], 100);
	assert_int_equal(tagged[18 + 7], 2);
	assert_memory_equal(tagged + 18 + 8, NODE_MAC, 6);
}

static void arp_for_others_or_replies_is_not_answered(void **s)
{
	(void)s;
	uint8_t f[64];
	size_t len = arp_request(f, inet_addr("198.18.0.9"), 1);
	assert_int_equal(pkt_arp_reply_in_place(f, len, &filter), 0);
	len = arp_request(f, filter.ip, 2);
	assert_int_equal(pkt_arp_reply_in_place(f, len, &filter), 0);
}

/* Only Ethernet/IPv4 ARP (htype 1, ptype 0x0800, hlen 6, plen 4) is ours. */
static void arp_other_than_ethernet_ipv4_is_not_answered(void **s)
{
	(void)s;
	const struct {
		size_t off;
		uint8_t value;
	} breaks[] = {{1, 6}, {2, 0x86}, {4, 8}, {5, 16}}; /* htype, ptype, hlen, plen */
	for (size_t i = 0; i < sizeof(breaks) / sizeof(breaks[0]); i++) {
		uint8_t f[64];
		size_t len = arp_request(f, filter.ip, 1);
		f[14 + breaks[i].off] = breaks[i].value;
		assert_int_equal(pkt_arp_reply_in_place(f, len, &filter), 0);
		assert_int_equal(f[14 + 7], 1); /* left as it was */
	}
}

static size_t echo_request(uint8_t *f, bool good_csum)
{
	uint8_t icmp[16] = {8, 0, 0, 0, 0x12, 0x34, 0, 1, 'b', 'i', 'd', 'p', 'l', 'a', 'n', 'e'};
	uint16_t c = pkt_csum_fold(pkt_csum_partial(icmp, sizeof(icmp), 0));
	icmp[2] = (uint8_t)(c >> 8), icmp[3] = (uint8_t)c;
	if (!good_csum)
		icmp[3] ^= 1;
	struct pkt_udp_spec sp = {.src_ip = inet_addr("198.18.0.1"), .dst_ip = filter.ip};
	memcpy(sp.dst_mac, NODE_MAC, 6);
	memcpy(sp.src_mac, PEER_MAC, 6);
	/* Build as UDP, then turn the IP payload into the ICMP message. */
	size_t len = pkt_build_udp(f, 256, &sp, icmp + 8, 8);
	f[14 + 9] = 1;
	memcpy(f + 34, icmp, sizeof(icmp));
	fix_ip_csum(f + 14);
	return len;
}

static void icmp_echo_is_answered_and_bad_checksum_is_not(void **s)
{
	(void)s;
	uint8_t f[256];
	size_t len = echo_request(f, true);
	struct pkt_layout l;
	enum pkt_drop why;
	assert_int_equal(pkt_classify(f, len, &filter, 0, &l, &why), PKT_CLASS_ICMP);
	assert_int_equal(pkt_icmp_echo_reply_in_place(f, len, &l, NODE_MAC), len);
	assert_int_equal(f[34], 0);
	assert_int_equal(pkt_csum_fold(pkt_csum_partial(f + 34, 16, 0)), 0);
	assert_int_equal(pkt_csum_fold(pkt_csum_partial(f + 14, 20, 0)), 0);
	assert_memory_equal(f, PEER_MAC, 6);
	len = echo_request(f, false);
	assert_int_equal(pkt_classify(f, len, &filter, 0, &l, &why), PKT_CLASS_ICMP);
	assert_int_equal(pkt_icmp_echo_reply_in_place(f, len, &l, NODE_MAC), 0);
}

static void icmp_other_than_echo_request_is_not_answered(void **s)
{
	(void)s;
	const uint8_t type_code[][2] = {
	    {0, 0}, {8, 1}, {13, 0}}; /* echo reply, bad code, timestamp */
	for (size_t i = 0; i < sizeof(type_code) / sizeof(type_code[0]); i++) {
		uint8_t f[256];
		size_t len = echo_request(f, true);
		uint8_t *icmp = f + 34;
		icmp[0] = type_code[i][0];
		icmp[1] = type_code[i][1];
		icmp[2] = icmp[3] = 0;
		uint16_t c = pkt_csum_fold(pkt_csum_partial(icmp, 16, 0));
		icmp[2] = (uint8_t)(c >> 8), icmp[3] = (uint8_t)c;
		struct pkt_layout l;
		enum pkt_drop why;
		assert_int_equal(pkt_classify(f, len, &filter, 0, &l, &why), PKT_CLASS_ICMP);
		assert_int_equal(pkt_icmp_echo_reply_in_place(f, len, &l, NODE_MAC), 0);
	}
}

static void checksum_matches_rfc1071_example(void **s)
{
	(void)s;
	/* RFC 1071 section 3: the sum of these words is 0xddf2 (folded). */
	const uint8_t data[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	assert_int_equal(pkt_csum_fold(pkt_csum_partial(data, 8, 0)), (uint16_t)~0xddf2);
	/* odd length pads with zero */
	const uint8_t odd[3] = {0x12, 0x34, 0x56};
	assert_int_equal(pkt_csum_fold(pkt_csum_partial(odd, 3, 0)), (uint16_t) ~(0x1234 + 0x5600));
	assert_string_equal(pkt_drop_name(PKT_DROP_UDP_CHECKSUM), "udp_checksum");
}

/* RFC 1071 as written: 16-bit big-endian words, an odd byte padded with 0. */
static uint16_t reference_csum(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Every length, alignment and starting sum agrees with the reference. */
static void checksum_agrees_with_rfc1071_word_by_word(void **s)
{
	(void)s;
	uint64_t seed = prop_base_seed();
	struct prop_rng rng;
	prop_seed(&rng, seed);
	uint8_t buf[300];
	for (unsigned long i = 0; i < 20000; i++) {
		for (size_t k = 0; k < sizeof(buf); k++)
			buf[k] = (uint8_t)prop_next(&rng);
		if (i % 4 == 0)
			memset(buf, 0xff, sizeof(buf)); /* the largest sums carry the most */
		size_t off = prop_below(&rng, 8);
		size_t len = prop_below(&rng, sizeof(buf) - 8);
		uint32_t start = (uint32_t)prop_below(&rng, 0x40000);
		uint16_t got = pkt_csum_fold(pkt_csum_partial(buf + off, len, start));
		if (got != reference_csum(buf + off, len, start))
			prop_report("checksum equals RFC 1071 reference", seed, i);
		assert_int_equal(got, reference_csum(buf + off, len, start));
	}
}

/*
 * The reply's checksums are updated, not recomputed (RFC 1624): over random
 * requests (addresses, ports, VLAN, id, TTL, DF, UDP checksum or none,
 * lengths) and random replies of every length, both equal a full RFC 1071
 * recomputation over the reply as sent, and a computed UDP 0 goes out as
 * 0xFFFF.
 */
static void reply_checksums_equal_a_full_recomputation(void **s)
{
	(void)s;
	uint64_t seed = prop_base_seed();
	struct prop_rng rng;
	prop_seed(&rng, seed);
	for (unsigned long i = 0; i < 20000; i++) {
		uint8_t req[128], reply[200], f[400];
		size_t req_len = prop_below(&rng, sizeof(req));
		size_t reply_len = prop_below(&rng, sizeof(reply));
		for (size_t k = 0; k < sizeof(reply); k++)
			reply[k] = (uint8_t)prop_next(&rng);
		for (size_t k = 0; k < req_len; k++)
			req[k] = (uint8_t)prop_next(&rng);
		if (i % 8 == 0) /* the largest sums carry the most */
			memset(reply, 0xff, sizeof(reply));
		struct pkt_udp_spec sp = {.has_vlan = prop_below(&rng, 2),
					  .vlan_tci = (uint16_t)prop_next(&rng),
					  .src_ip = (uint32_t)prop_next(&rng),
					  .dst_ip = filter.ip,
					  .src_port = (uint16_t)prop_next(&rng),
					  .dst_port = filter.udp_port};
		memcpy(sp.src_mac, PEER_MAC, 6);
		memcpy(sp.dst_mac, NODE_MAC, 6);
		size_t len = pkt_build_udp(f, sizeof(f), &sp, req, (uint16_t)req_len);
		uint8_t *ip = f + PKT_ETH_LEN + (sp.has_vlan ? PKT_VLAN_LEN : 0);
		uint64_t r = prop_next(&rng);
		ip[4] = (uint8_t)r, ip[5] = (uint8_t)(r >> 8); /* id */
		ip[6] = r & 0x10000 ? 0x40 : 0;		       /* DF or not */
		ip[8] = (uint8_t)(r >> 24);		       /* TTL */
		fix_ip_csum(ip);
		if (r & 0x100000000ull) /* no UDP checksum */
			ip[PKT_IPV4_LEN + 6] = ip[PKT_IPV4_LEN + 7] = 0;
		struct pkt_layout l;
		enum pkt_drop why;
		assert_int_equal(pkt_classify(f, len, &filter, 0, &l, &why), PKT_CLASS_UDP);

		memcpy(f + l.payload_off, reply, reply_len);
		size_t out = pkt_udp_reply_in_place(f, &l, NODE_MAC, (uint16_t)reply_len);
		assert_int_equal(out, l.payload_off + reply_len);
		uint8_t full[400];
		memcpy(full, f, out);
		uint8_t *fip = full + l.l3_off, *fudp = full + l.l4_off;
		fip[10] = fip[11] = 0;
		uint16_t ip_csum = pkt_csum_fold(pkt_csum_partial(fip, PKT_IPV4_LEN, 0));
		fudp[6] = fudp[7] = 0;
		uint16_t udp_csum = pkt_udp_csum(fip, fudp, (uint16_t)(PKT_UDP_LEN + reply_len));
		if (udp_csum == 0)
			udp_csum = 0xffff;
		bool same = (f[l.l3_off + 10] << 8 | f[l.l3_off + 11]) == ip_csum &&
			    (f[l.l4_off + 6] << 8 | f[l.l4_off + 7]) == udp_csum;
		if (!same)
			prop_report("incremental reply checksums equal a full recomputation", seed,
				    i);
		assert_int_equal(f[l.l3_off + 10] << 8 | f[l.l3_off + 11], ip_csum);
		assert_int_equal(f[l.l4_off + 6] << 8 | f[l.l4_off + 7], udp_csum);
	}
}

/*
 * The fused BID reply (pkt_bid_reply_in_place) is byte for byte
 * bp_write_bid_reply then pkt_udp_reply_in_place, over random requests
 * (VLAN or not, addresses, ports, lengths, UDP checksum or none) and random
 * reply fields (all-ones ones included: the largest sums carry the most).
 */
static void fused_bid_reply_equals_write_then_rewrite(void **s)
{
	(void)s;
	uint64_t seed = prop_base_seed();
	struct prop_rng rng;
	prop_seed(&rng, seed);
	for (unsigned long i = 0; i < 20000; i++) {
		uint8_t req[128], f[400], g[400];
		size_t req_len = prop_below(&rng, sizeof(req));
		for (size_t k = 0; k < req_len; k++)
			req[k] = (uint8_t)prop_next(&rng);
		struct pkt_udp_spec sp = {.has_vlan = prop_below(&rng, 2),
					  .vlan_tci = (uint16_t)prop_next(&rng),
					  .src_ip = (uint32_t)prop_next(&rng),
					  .dst_ip = filter.ip,
					  .src_port = (uint16_t)prop_next(&rng),
					  .dst_port = filter.udp_port};
		memcpy(sp.src_mac, PEER_MAC, 6);
		memcpy(sp.dst_mac, NODE_MAC, 6);
		size_t len = pkt_build_udp(f, sizeof(f), &sp, req, (uint16_t)req_len);
		if (prop_below(&rng, 4) == 0) /* no UDP checksum */
			f[PKT_ETH_LEN + (sp.has_vlan ? PKT_VLAN_LEN : 0) + PKT_IPV4_LEN + 6] =
			    f[PKT_ETH_LEN + (sp.has_vlan ? PKT_VLAN_LEN : 0) + PKT_IPV4_LEN + 7] =
				0;
		struct pkt_layout l;
		enum pkt_drop why;
		assert_int_equal(pkt_classify(f, len, &filter, 0, &l, &why), PKT_CLASS_UDP);
		bool ones = i % 8 == 0;
		struct bp_bid_reply r = {
		    .flags = ones ? 0xffff : (uint16_t)prop_next(&rng),
		    .request_id = ones ? UINT64_MAX : prop_next(&rng),
		    .auction_id = ones ? UINT64_MAX : prop_next(&rng),
		    .status = ones ? 0xff : (uint8_t)prop_next(&rng),
		    .leading_amount = ones ? UINT64_MAX : prop_next(&rng),
		    .leading_bidder = ones ? UINT64_MAX : prop_next(&rng),
		    .hlc = ones ? UINT64_MAX : prop_next(&rng),
		    .client_ts = ones ? UINT64_MAX : prop_next(&rng),
		};
		memcpy(g, f, sizeof(f));
		size_t got = pkt_bid_reply_in_place(f, &l, NODE_MAC, &r);
		bp_write_bid_reply(g + l.payload_off, &r);
		size_t want = pkt_udp_reply_in_place(g, &l, NODE_MAC, BP_LEN_BID_REPLY);
		bool same = got == want && memcmp(f, g, want) == 0;
		if (!same)
			prop_report("fused BID reply equals write then rewrite", seed, i);
		assert_int_equal(got, want);
		assert_memory_equal(f, g, want);
	}
}

/* Over random lengths (every tail of 0-7 bytes), a valid frame classifies
 * and any one flipped payload bit is caught by the UDP checksum. */
static void udp_checksum_check_catches_every_flipped_bit(void **s)
{
	(void)s;
	uint64_t seed = prop_base_seed();
	struct prop_rng rng;
	prop_seed(&rng, seed);
	for (unsigned long i = 0; i < 20000; i++) {
		uint8_t data[200], f[300];
		size_t n = 1 + prop_below(&rng, sizeof(data) - 1);
		for (size_t k = 0; k < n; k++)
			data[k] = i % 4 ? (uint8_t)prop_next(&rng) : 0xff;
		struct pkt_udp_spec sp = {.src_ip = (uint32_t)prop_next(&rng),
					  .dst_ip = filter.ip,
					  .src_port = (uint16_t)prop_next(&rng),
					  .dst_port = filter.udp_port};
		memcpy(sp.dst_mac, NODE_MAC, 6);
		size_t len = pkt_build_udp(f, sizeof(f), &sp, data, (uint16_t)n);
		struct pkt_layout l;
		enum pkt_drop why;
		bool ok = pkt_classify(f, len, &filter, 0, &l, &why) == PKT_CLASS_UDP;
		size_t bit = prop_below(&rng, 8 * n);
		f[l.payload_off + bit / 8] ^= (uint8_t)(1u << (bit % 8));
		bool caught = pkt_classify(f, len, &filter, 0, &l, &why) == PKT_CLASS_DROP &&
			      why == PKT_DROP_UDP_CHECKSUM;
		if (!ok || !caught)
			prop_report("UDP checksum accepts the frame and catches a flipped bit",
				    seed, i);
		assert_true(ok);
		assert_true(caught);
	}
}

/* The RFC 1071 fold by definition: the sum mod 0xffff, 0 only for 0. */
static uint16_t fold_reference(uint64_t v)
{
	if (v == 0)
		return 0;
	uint64_t r = v % 0xffff;
	return (uint16_t)(r ? r : 0xffff);
}

/* fold_native and csum_fold32 (csum.h) give the one's complement value of
 * the reference, with its 0 / 0xffff representation, at the edges (carries
 * out of every half) and on random values. */
static void folds_equal_the_definition(void **s)
{
	(void)s;
	static const uint64_t edge[] = {0,
					1,
					0xffff,
					0x10000,
					0x1fffe,
					0xffffffff,
					0x100000000,
					0xffff0000ffff,
					0xffffffffffff,
					UINT64_MAX,
					UINT64_MAX - 1,
					0xffffffff00000001,
					0x8000000080000000};
	uint64_t seed = prop_base_seed();
	struct prop_rng rng;
	prop_seed(&rng, seed);
	for (size_t i = 0; i < sizeof(edge) / sizeof(edge[0]) + 200000; i++) {
		uint64_t v = i < sizeof(edge) / sizeof(edge[0]) ? edge[i] : prop_next(&rng);
		if (i % 3 == 1)
			v >>= prop_below(&rng, 64); /* small values too */
		uint16_t want = fold_reference(v);
		uint16_t got = (uint16_t)__builtin_bswap16((uint16_t)fold_native(v));
		uint16_t want32 = (uint16_t)~fold_reference((uint32_t)v);
		if (got != want || csum_fold32((uint32_t)v) != want32)
			prop_report("folds equal the definition", seed, (unsigned long)i);
		assert_int_equal(got, want);
		assert_int_equal(csum_fold32((uint32_t)v), want32);
	}
}

static void build_refuses_a_small_buffer(void **s)
{
	(void)s;
	uint8_t f[40];
	struct pkt_udp_spec sp = {0};
	assert_int_equal(pkt_build_udp(f, sizeof(f), &sp, payload, sizeof(payload)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(untagged_and_tagged_udp_are_accepted),
	    cmocka_unit_test(ethernet_padding_is_ignored),
	    cmocka_unit_test(zero_udp_checksum_means_none),
	    cmocka_unit_test(drop_truncated),
	    cmocka_unit_test(drop_dst_mac),
	    cmocka_unit_test(drop_ethertype),
	    cmocka_unit_test(drop_ip_version),
	    cmocka_unit_test(drop_ip_options),
	    cmocka_unit_test(drop_ip_fragment),
	    cmocka_unit_test(drop_ip_length),
	    cmocka_unit_test(drop_ip_checksum),
	    cmocka_unit_test(drop_dst_ip),
	    cmocka_unit_test(drop_ip_proto),
	    cmocka_unit_test(drop_udp_length),
	    cmocka_unit_test(drop_udp_checksum),
	    cmocka_unit_test(drop_dst_port),
	    cmocka_unit_test(reply_in_place_is_a_valid_frame_back),
	    cmocka_unit_test(computed_udp_checksum_of_zero_is_sent_as_ffff),
	    cmocka_unit_test(folds_equal_the_definition),
	    cmocka_unit_test(arp_request_for_us_is_answered),
	    cmocka_unit_test(arp_request_unicast_or_tagged_is_answered),
	    cmocka_unit_test(arp_for_others_or_replies_is_not_answered),
	    cmocka_unit_test(arp_other_than_ethernet_ipv4_is_not_answered),
	    cmocka_unit_test(icmp_echo_is_answered_and_bad_checksum_is_not),
	    cmocka_unit_test(icmp_other_than_echo_request_is_not_answered),
	    cmocka_unit_test(checksum_matches_rfc1071_example),
	    cmocka_unit_test(checksum_agrees_with_rfc1071_word_by_word),
	    cmocka_unit_test(reply_checksums_equal_a_full_recomputation),
	    cmocka_unit_test(fused_bid_reply_equals_write_then_rewrite),
	    cmocka_unit_test(udp_checksum_check_catches_every_flipped_bit),
	    cmocka_unit_test(build_refuses_a_small_buffer),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
