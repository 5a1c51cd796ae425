/* SPDX-License-Identifier: BSD-3-Clause */
/* ns per codec and L2-L4 operation on the packet path. Printed, not asserted. */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "netpkt.h"
#include "proto.h"

int main(void)
{
	uint8_t msg[BP_LEN_MAX], out[BP_LEN_MAX], frame[256], work[256];
	struct bp_request req = {
	    .request_id = 1, .auction_id = 2, .actor_id = 3, .amount = 100, .client_ts = 5};
	size_t n = bp_write_bid(msg, &req);
	struct pkt_filter f = {
	    .mac = {2, 0, 0, 0, 0, 2}, .ip = inet_addr("198.18.0.2"), .udp_port = 7600};
	struct pkt_udp_spec s = {0};
	memcpy(s.dst_mac, f.mac, 6);
	s.src_ip = inet_addr("198.18.0.1");
	s.dst_ip = f.ip;
	s.src_port = 40000;
	s.dst_port = 7600;
	size_t flen = pkt_build_udp(frame, sizeof(frame), &s, msg, (uint16_t)n);
	struct bp_parse p;
	struct bp_bid_reply br = {.request_id = 1, .status = BP_ACCEPTED, .hlc = 7};
	struct bp_auction_state st = {.request_id = 1, .phase = 1};
	struct pkt_layout l;
	enum pkt_drop why;
	uint64_t sink = 0;

	printf("bench_codec\n");
	BENCH("bp_parse_request (BID)", 5000000, {
		bp_parse_request(msg, n, &p);
		sink += p.req.amount;
	});
	BENCH("bp_write_bid_reply", 5000000, sink += bp_write_bid_reply(out, &br));
	BENCH("bp_write_auction_state", 5000000, sink += bp_write_auction_state(out, &st));
	BENCH("pkt_classify (BID frame)", 5000000,
	      sink += pkt_classify(frame, flen, &f, 0, &l, &why));
	BENCH("pkt_classify (hw checksums)", 5000000,
	      sink +=
	      pkt_classify(frame, flen, &f, PKT_HW_IP_CKSUM_GOOD | PKT_HW_L4_CKSUM_GOOD, &l, &why));
	pkt_classify(frame, flen, &f, 0, &l, &why);
	BENCH("pkt_udp_reply_in_place", 2000000, {
		memcpy(work, frame, flen);
		sink += pkt_udp_reply_in_place(work, &l, f.mac, BP_LEN_BID_REPLY);
	});
	BENCH("checksum of 64 bytes", 5000000,
	      sink += pkt_csum_fold(pkt_csum_partial(msg, 64, (uint32_t)i)));
	bench_sink(sink);
	return 0;
}
