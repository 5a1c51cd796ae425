/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The fixed-offset fast path against the general path (fast_path.h): over
 * many random frames, built valid and then bent (VLAN tag, IP options,
 * fragments, bad checksums either way, no UDP checksum, short and padded
 * frames, other addresses and ports, every request type, random bytes
 * anywhere, hardware checksum verdicts), whenever the fast path takes a
 * frame the general path decides the same: PKT_CLASS_UDP and BP_VALID with
 * the same layout and request, field for field. And it takes the plain
 * BID and QUERY frames it is for.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fast_path.h"
#include "netpkt.h"
#include "prop.h"
#include "proto.h"

static const uint8_t NODE_MAC[6] = {0x02, 0, 0, 0, 0, 0x02};
static const uint8_t PEER_MAC[6] = {0x02, 0, 0, 0, 0, 0x01};
static struct pkt_filter filter;

static int setup(void **s)
{
	(void)s;
	memcpy(filter.mac, NODE_MAC, 6);
	filter.ip = inet_addr("198.18.0.2");
	filter.udp_port = 7600;
	filter.peer_port = 7700;
	return 0;
}

static uint16_t get_be16_test(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void fix_ip_csum(uint8_t *ip)
{
	ip[10] = ip[11] = 0;
	uint16_t c = pkt_csum_fold(pkt_csum_partial(ip, (size_t)(ip[0] & 0xf) * 4, 0));
	ip[10] = (uint8_t)(c >> 8);
	ip[11] = (uint8_t)c;
}

static void fix_udp_csum(uint8_t *ip, uint8_t *udp, uint16_t udp_len)
{
	udp[6] = udp[7] = 0;
	uint16_t c = pkt_udp_csum(ip, udp, udp_len);
	c = c ? c : 0xffff;
	udp[6] = (uint8_t)(c >> 8);
	udp[7] = (uint8_t)c;
}

/* A random request of any type, mostly valid fields, sometimes edge values. */
static size_t random_request(struct prop_rng *rng, uint8_t *msg)
{
	struct bp_request r = {
	    .request_id = prop_below(rng, 8) == 0 ? 0 : prop_next(rng),
	    .auction_id = prop_below(rng, 8) == 0 ? 0 : 1 + prop_below(rng, 1000),
	    .actor_id = prop_below(rng, 8) == 0 ? 0 : prop_next(rng),
	    .amount =
		prop_below(rng, 8) == 0
		    ? (prop_below(rng, 2) ? 0 : UINT64_MAX - prop_below(rng, 2) * (UINT64_MAX / 2))
		    : 1 + prop_below(rng, 1000000),
	    .client_ts = prop_next(rng),
	};
	switch (prop_below(rng, 4)) {
	case 0:
	case 1:
		return bp_write_bid(msg, &r);
	case 2:
		return bp_write_query(msg, &r);
	default:
		r.type = prop_below(rng, 2) ? BP_WATCH : BP_UNWATCH;
		return bp_write_watch(msg, &r);
	}
}

/* One frame: valid to start with, then bent at random. */
static size_t random_frame(struct prop_rng *rng, uint8_t *f, size_t cap, unsigned int *hw)
{
	uint8_t msg[BP_LEN_MAX + 16];
	size_t n = random_request(rng, msg);
	if (prop_below(rng, 10) == 0) /* a bad header byte */
		msg[prop_below(rng, 8)] ^= (uint8_t)(1 + prop_below(rng, 255));
	if (prop_below(rng, 10) == 0) /* longer or shorter than its type */
		n = prop_below(rng, sizeof(msg));
	bool vlan = prop_below(rng, 8) == 0;
	struct pkt_udp_spec s = {.has_vlan = vlan,
				 .vlan_tci = 7,
				 .src_ip = (uint32_t)prop_next(rng),
				 .dst_ip =
				     prop_below(rng, 16) ? filter.ip : inet_addr("198.18.0.9"),
				 .src_port = (uint16_t)prop_next(rng),
				 .dst_port = prop_below(rng, 16)  ? filter.udp_port
					     : prop_below(rng, 2) ? filter.peer_port
								  : 9},
			    *sp = &s;
	memcpy(s.src_mac, PEER_MAC, 6);
	memcpy(s.dst_mac, prop_below(rng, 16) ? NODE_MAC : PEER_MAC, 6);
	size_t len = pkt_build_udp(f, cap, sp, msg, (uint16_t)n);
	assert_true(len > 0);
	uint8_t *ip = f + PKT_ETH_LEN + (vlan ? PKT_VLAN_LEN : 0);
	uint8_t *udp = ip + PKT_IPV4_LEN;
	uint16_t udp_len = (uint16_t)(PKT_UDP_LEN + n);
	switch (prop_below(rng, 12)) {
	case 0: /* IP options: IHL 6, the datagram moves 4 bytes on */
		memmove(ip + 24, ip + 20, len - (size_t)(ip + 20 - f));
		memset(ip + 20, 0, 4);
		ip[0] = 0x46;
		ip[2] = (uint8_t)((PKT_IPV4_LEN + 4 + udp_len) >> 8);
		ip[3] = (uint8_t)(PKT_IPV4_LEN + 4 + udp_len);
		len += 4;
		fix_ip_csum(ip);
		break;
	case 1: /* a fragment */
		ip[6] |= prop_below(rng, 2) ? 0x20 : 0x01;
		fix_ip_csum(ip);
		break;
	case 2: /* no UDP checksum */
		udp[6] = udp[7] = 0;
		break;
	case 3: /* a flipped bit anywhere */
		f[prop_below(rng, len)] ^= (uint8_t)(1u << prop_below(rng, 8));
		break;
	case 4: /* a random byte anywhere, checksums made right again */
		f[prop_below(rng, len)] = (uint8_t)prop_next(rng);
		if (ip[0] == 0x45) {
			fix_ip_csum(ip);
			if ((size_t)(udp - f) + udp_len <= len)
				fix_udp_csum(ip, udp, udp_len);
		}
		break;
	case 5: /* truncated */
		len = prop_below(rng, len);
		break;
	case 6: /* Ethernet padding */
		memset(f + len, 0, 16);
		len += prop_below(rng, 16);
		break;
	case 7: /* another ethertype */
		f[12] = prop_below(rng, 2) ? 0x86 : 0x08;
		f[13] = prop_below(rng, 2) ? 0xdd : 0x06;
		break;
	case 8: /* IP and UDP lengths that disagree */
		udp[5] ^= 8;
		fix_udp_csum(ip, udp, udp_len);
		break;
	default:
		break;
	}
	*hw = 0;
	if (prop_below(rng, 4) == 0)
		*hw = (unsigned int)prop_below(rng, 16) & 0xfu;
	return len;
}

static void fast_path_decides_as_the_general_path(void **state)
{
	(void)state;
	uint64_t seed = prop_base_seed();
	struct prop_rng rng;
	prop_seed(&rng, seed);
	unsigned long fast = 0, general_valid = 0;
	const unsigned long n = 400000;
	for (unsigned long i = 0; i < n; i++) {
		uint8_t f[512];
		unsigned int hw;
		size_t len = random_frame(&rng, f, sizeof(f) - 32, &hw);
		struct pkt_layout gl, fl;
		struct bp_parse gp, fp;
		enum pkt_drop why;
		bool general = pkt_classify(f, len, &filter, hw, &gl, &why) == PKT_CLASS_UDP;
		if (general) {
			bp_parse_request(f + gl.payload_off, gl.payload_len, &gp);
			general = gp.verdict == BP_VALID;
		}
		bool plain = general && !gl.has_vlan && gl.l3_off == PKT_ETH_LEN &&
			     (gp.req.type == BP_BID || gp.req.type == BP_QUERY) &&
			     (size_t)gl.l3_off + get_be16_test(f + gl.l3_off + 2) == len;
		memset(&fl, 0xa5, sizeof(fl));
		memset(&fp, 0xa5, sizeof(fp));
		bool took = fast_parse_request(f, len, &filter, hw, &fl, &fp);
		general_valid += general;
		fast += took;
		if (took && !general)
			prop_report("fast path took a frame the general path refuses", seed, i);
		assert_true(!took || general);
		if (plain && !took)
			prop_report("fast path left a plain request", seed, i);
		assert_true(!plain || took);
		if (!took)
			continue;
		assert_int_equal(fl.l3_off, gl.l3_off);
		assert_int_equal(fl.l4_off, gl.l4_off);
		assert_int_equal(fl.payload_off, gl.payload_off);
		assert_int_equal(fl.payload_len, gl.payload_len);
		assert_int_equal(fl.has_vlan, gl.has_vlan);
		assert_int_equal(fl.vlan_tci, gl.vlan_tci);
		assert_int_equal(fp.verdict, gp.verdict);
		assert_int_equal(fp.status, gp.status);
		assert_int_equal(fp.drop, gp.drop);
		assert_int_equal(fp.reply_type, gp.reply_type);
		assert_int_equal(fp.req.type, gp.req.type);
		assert_int_equal(fp.req.version, gp.req.version);
		assert_int_equal(fp.req.length, gp.req.length);
		assert_int_equal(fp.req.flags, gp.req.flags);
		assert_int_equal(fp.req.request_id, gp.req.request_id);
		assert_int_equal(fp.req.auction_id, gp.req.auction_id);
		assert_int_equal(fp.req.actor_id, gp.req.actor_id);
		assert_int_equal(fp.req.amount, gp.req.amount);
		assert_int_equal(fp.req.client_ts, gp.req.client_ts);
	}
	printf("%lu frames: %lu valid requests, %lu by the fast path\n", n, general_valid, fast);
	/* The generator makes plain requests often enough to matter. */
	assert_true(fast > n / 20 && fast > general_valid / 2);
}

/* fast_parse_request reads frame[0, len) only (fast_path.h: a pure
 * function of the frame): every length short of a whole request, placed
 * just before a page that cannot be read, is refused without touching it. */
static void fast_path_never_reads_past_len(void **state)
{
	(void)state;
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *map = mmap(NULL, (size_t)page * 2, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(map != MAP_FAILED);
	assert_int_equal(mprotect(map + page, (size_t)page, PROT_NONE), 0);
	for (size_t len = 0; len < FAST_PAYLOAD_OFF + BP_LEN_QUERY; len++) {
		uint8_t *frame = map + page - len;
		memset(frame, 0, len);
		if (len >= 6)
			memcpy(frame, NODE_MAC, 6);
		struct pkt_layout lay;
		struct bp_parse p;
		assert_false(fast_parse_request(frame, len, &filter, 0, &lay, &p));
	}
	munmap(map, (size_t)page * 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(fast_path_decides_as_the_general_path),
	    cmocka_unit_test(fast_path_never_reads_past_len),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
