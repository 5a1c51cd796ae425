/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * L2/L3/L4 helpers on raw frame bytes: Ethernet II with at most one 802.1Q
 * tag, IPv4 without options or fragments, UDP, ARP and ICMP echo.
 * Pure C11, no DPDK: the dataplane calls them on mbuf data, bidgen and the
 * tests on plain buffers, the fuzz target on anything.
 *
 * Threads: every function is pure, callable from any thread.
 * Byte order: IPv4 addresses are uint32_t in NETWORK order (as on the wire);
 * ports and lengths are in host order.
 */
#ifndef BIDPLANE_NETPKT_H
#define BIDPLANE_NETPKT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PKT_ETH_LEN	   14
#define PKT_VLAN_LEN	   4
#define PKT_IPV4_LEN	   20
#define PKT_UDP_LEN	   8
#define PKT_ARP_LEN	   28
#define PKT_ICMP_MIN_LEN   8
#define PKT_ETHERTYPE_IPV4 0x0800
#define PKT_ETHERTYPE_ARP  0x0806
#define PKT_ETHERTYPE_VLAN 0x8100
#define PKT_IPPROTO_ICMP   1
#define PKT_IPPROTO_UDP	   17

/* Largest header stack in front of a UDP payload. */
#define PKT_UDP_HDRS_MAX (PKT_ETH_LEN + PKT_VLAN_LEN + PKT_IPV4_LEN + PKT_UDP_LEN)

/* What the node is: frames for anything else are dropped. */
struct pkt_filter {
	uint8_t mac[6];
	uint32_t ip; /* network order */
	uint16_t udp_port;
	uint16_t peer_port; /* node-to-node messages (0: none, a lone node) */
};

enum pkt_class {
	PKT_CLASS_UDP = 0, /* a UDP datagram for our IP and port: the fast path */
	PKT_CLASS_ARP,	   /* an ARP frame (to us or broadcast): control thread */
	PKT_CLASS_ICMP,	   /* an ICMP message to our IP: control thread */
	PKT_CLASS_PEER,	   /* a UDP datagram for our IP and peer port: control thread */
	PKT_CLASS_DROP,	   /* see enum pkt_drop */
};

/* Why a frame was dropped; every value is counted by the dataplane. The
 * enum value and its name (a Prometheus label value: a public contract)
 * come from one line. */
#define PKT_FOREACH_DROP(X)                                                                        \
	X(NONE, none)                                                                              \
	X(TRUNCATED, truncated)	      /* shorter than its headers say */                           \
	X(DST_MAC, dst_mac)	      /* not our MAC (nor broadcast, for ARP) */                   \
	X(ETHERTYPE, ethertype)	      /* not IPv4 or ARP, or a second VLAN tag */                  \
	X(IP_VERSION, ip_version)     /* IPv4 version field is not 4 */                            \
	X(IP_OPTIONS, ip_options)     /* IHL other than 5 */                                       \
	X(IP_FRAGMENT, ip_fragment)   /* MF set or a fragment offset */                            \
	X(IP_LENGTH, ip_length)	      /* total length below 20 or beyond the frame */              \
	X(IP_CHECKSUM, ip_checksum)   /* bad IPv4 header checksum */                               \
	X(DST_IP, dst_ip)	      /* not our IPv4 address */                                   \
	X(IP_PROTO, ip_proto)	      /* neither UDP nor ICMP */                                   \
	X(UDP_LENGTH, udp_length)     /* UDP length differs from the IP payload */                 \
	X(UDP_CHECKSUM, udp_checksum) /* bad UDP checksum (0 = none, accepted) */                  \
	X(DST_PORT, dst_port)	      /* not our UDP port */

enum pkt_drop {
#define PKT_DROP_ENUM(id, name) PKT_DROP_##id,
	PKT_FOREACH_DROP(PKT_DROP_ENUM)
#undef PKT_DROP_ENUM
	    PKT_DROP_COUNT
};

/* Hardware checksum verdicts the port already gave (mbuf RX flags). */
#define PKT_HW_IP_CKSUM_GOOD 0x1u
#define PKT_HW_IP_CKSUM_BAD  0x2u
#define PKT_HW_L4_CKSUM_GOOD 0x4u
#define PKT_HW_L4_CKSUM_BAD  0x8u

/* Where the layers of a classified frame are. */
struct pkt_layout {
	uint16_t l3_off;      /* IPv4 (or ARP) header */
	uint16_t l4_off;      /* UDP or ICMP header */
	uint16_t payload_off; /* UDP payload */
	uint16_t payload_len;
	bool has_vlan;
	uint16_t vlan_tci;
};

/*
 * Classifies one received frame. For PKT_CLASS_UDP and PKT_CLASS_ICMP every
 * check above passed (ICMP: IPv4 checks only). hw_flags: PKT_HW_* bits, 0
 * to check everything in software. *why is set for PKT_CLASS_DROP.
 */
enum pkt_class pkt_classify(const uint8_t *frame, size_t len, const struct pkt_filter *f,
			    unsigned int hw_flags, struct pkt_layout *out, enum pkt_drop *why);

/*
 * Turns a classified UDP frame into its reply, in place: swaps MACs (our
 * MAC as source), IPs and ports, keeps the VLAN tag, sets the IPv4 and UDP
 * lengths for a payload of payload_len bytes already written at
 * l->payload_off, fresh IP id 0, TTL 64, and both checksums.
 * The frame must have classified as PKT_CLASS_UDP: the IPv4 checksum is
 * updated from the request's (RFC 1624), which pkt_classify verified; the
 * UDP checksum is computed over the new payload whatever the request's was.
 * Returns the new frame length.
 */
size_t pkt_udp_reply_in_place(uint8_t *frame, const struct pkt_layout *l, const uint8_t our_mac[6],
			      uint16_t payload_len);

/*
 * bp_write_bid_reply of `r` at l->payload_off, then pkt_udp_reply_in_place
 * for it, in one pass: the payload's words are summed as they are stored,
 * not read back. The same bytes (test_netpkt). Returns the frame length.
 */
struct bp_bid_reply;
size_t pkt_bid_reply_in_place(uint8_t *frame, const struct pkt_layout *l, const uint8_t our_mac[6],
			      const struct bp_bid_reply *r);

/*
 * ARP: if frame is an ARP request (Ethernet/IPv4) for f->ip, rewrites it in
 * place into the reply and returns its length; otherwise returns 0.
 */
size_t pkt_arp_reply_in_place(uint8_t *frame, size_t len, const struct pkt_filter *f);

/*
 * ARP: the sender's addresses of a valid Ethernet/IPv4 ARP request or
 * reply (any target), to learn where a peer is. true and fills mac and ip
 * (network order), or false.
 */
bool pkt_arp_sender(const uint8_t *frame, size_t len, const struct pkt_filter *f, uint8_t mac[6],
		    uint32_t *ip);

/* An ARP request (broadcast) from f's MAC and IP for target_ip (network
 * order). Returns the frame length, or 0 when cap is too small. */
size_t pkt_build_arp_request(uint8_t *frame, size_t cap, const struct pkt_filter *f,
			     uint32_t target_ip);

/*
 * ICMP: if the classified frame is a valid echo request (ICMP checksum
 * included), rewrites it in place into the echo reply and returns its
 * length; otherwise returns 0.
 */
size_t pkt_icmp_echo_reply_in_place(uint8_t *frame, size_t len, const struct pkt_layout *l,
				    const uint8_t our_mac[6]);

/* A UDP frame to build (client side: bidgen, tests). */
struct pkt_udp_spec {
	uint8_t src_mac[6];
	uint8_t dst_mac[6];
	bool has_vlan;
	uint16_t vlan_tci;
	uint32_t src_ip; /* network order */
	uint32_t dst_ip; /* network order */
	uint16_t src_port;
	uint16_t dst_port;
};

/*
 * Writes headers + payload into frame (cap bytes), with valid IPv4 and UDP
 * checksums. Returns the frame length, or 0 when cap is too small.
 */
size_t pkt_build_udp(uint8_t *frame, size_t cap, const struct pkt_udp_spec *s,
		     const uint8_t *payload, uint16_t payload_len);

/* The Internet checksum (RFC 1071) helpers the above use. */
uint32_t pkt_csum_partial(const void *data, size_t len, uint32_t sum);
uint16_t pkt_csum_fold(uint32_t sum);
/* UDP checksum of an IPv4 datagram; udp points at the UDP header. */
uint16_t pkt_udp_csum(const uint8_t *ip_hdr, const uint8_t *udp, uint16_t udp_len);

const char *pkt_drop_name(unsigned int drop);

#endif
