/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bidgen's options: defaults, --help, and parsing with a refusal that names
 * the option, the value and the range. Plain C (no DPDK), so the unit tests
 * run it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bidgen.h"
#include "defaults.h"
#include "proto.h"

#define RATE_MAX     UINT64_C(100000000) /* 100 Mpps: above any port bidgen drives */
#define DURATION_MAX UINT64_C(86400)	 /* a day */
#define TIMEOUT_MAX  UINT64_C(600000)	 /* 10 minutes */
#define FLOWS_MAX    60000		 /* source ports 1024.. stay below 65535 */
#define AUCTIONS_MAX (UINT64_C(1) << 24) /* the workload's per-auction table */
#define ZIPF_MAX     10.0		 /* above it, auction 1 gets every request */

void bidgen_usage(FILE *out)
{
	fprintf(
	    out,
	    "usage: bidgen [EAL options] -- [options]\n"
	    "Sends bidplane v1 requests over the first DPDK port and checks every reply.\n"
	    "Every number is decimal; its range is given as MIN..MAX.\n"
	    "\n"
	    "Load:\n"
	    "  --rate PPS            requests per second, 0..%" PRIu64 "; 0 = as fast as\n"
	    "                        possible (default 100000)\n"
	    "  --duration S          seconds of sending, 1..%" PRIu64 " (default 5), or\n"
	    "  --count N             requests to send, 1..18446744073709551615 (overrides\n"
	    "                        --duration)\n"
	    "  --burst N             frames per TX burst, 1..%d (default 32)\n"
	    "  --flows N             source UDP ports to spread over, 1..%d (default 64)\n"
	    "  --timeout MS          wait for late replies after sending, 0..%" PRIu64 "\n"
	    "                        (default 500)\n"
	    "  --window N            closed loop: at most N replies outstanding, 0..%u\n"
	    "                        (default 0: open loop at --rate)\n"
	    "Addresses:\n"
	    "  --dst-ip A.B.C.D      the node (default 198.18.0.2)\n"
	    "  --dst-mac MAC|auto    the node's MAC; auto asks by ARP (default auto)\n"
	    "  --src-ip A.B.C.D      ours (default 198.18.0.1)\n"
	    "  --dst-port N          the node's UDP port, 1..65535 (default 7600)\n"
	    "Workload:\n"
	    "  --auctions FIRST-LAST the node's open auctions, ids 1..18446744073709551615,\n"
	    "                        at most %" PRIu64 " of them (default 1-1000)\n"
	    "  --bidders N           distinct bidders, 1..18446744073709551615 (default 10000)\n"
	    "  --zipf S              hot auctions with zipf exponent S, 0..%g, 0 = uniform\n"
	    "                        (default 0)\n"
	    "  --dup-ratio R         exact retransmissions, expect REPLAYED (default 0)\n"
	    "  --conflict-ratio R    reused keys with another amount, expect CONFLICT (default 0)\n"
	    "  --bad-ratio R         malformed variants with known outcomes (default 0)\n"
	    "  --query-ratio R       QUERY requests (default 0)\n"
	    "  --watch-ratio R       WATCH requests (default 0)\n"
	    "                        each ratio 0..1, together at most 1\n"
	    "  --seed N              workload seed, 0..18446744073709551615 (default: time)\n"
	    "Output:\n"
	    "  --strict              exit 1 on any mismatch or lost reply, or when no reply\n"
	    "                        shows an open auction on a serving node\n"
	    "  --json FILE           every figure as JSON (checked writable at start)\n"
	    "  --pcap FILE           the first %d frames sent, as a pcap file\n"
	    "  --echo                count any returned frame as a reply (baseline runs)\n"
	    "  --quiet               no progress lines\n"
	    "  --version             print bidgen's version and exit\n"
	    "  -h, --help            this text\n"
	    "\n"
	    "Example (a node on a memif server at /tmp/bp.sock):\n"
	    "  bidgen --no-huge -m 512 -l 0-1 --vdev=net_memif0,role=client,socket=/tmp/bp.sock "
	    "\\\n"
	    "      -- --auctions 1-1000 --rate 200000 --duration 5 --dup-ratio 0.02 --strict\n",
	    RATE_MAX, DURATION_MAX, MAX_BURST, FLOWS_MAX, TIMEOUT_MAX, BIDGEN_TRACK_SLOTS,
	    AUCTIONS_MAX, ZIPF_MAX, BIDGEN_PCAP_FRAMES);
}

void bidgen_defaults(struct bidgen *g)
{
	memset(g, 0, sizeof(*g));
	g->rate = 100000;
	g->duration_s = 5;
	g->burst = 32;
	g->flows = 64;
	g->timeout_ms = 500;
	g->dst_port = BP_DEFAULT_UDP_PORT;
	g->mac_auto = true;
	inet_pton(AF_INET, "198.18.0.2", &g->dst_ip);
	inet_pton(AF_INET, "198.18.0.1", &g->src_ip);
	g->wp.first_auction = 1;
	g->wp.last_auction = 1000;
	g->wp.bidders = 10000;
	g->wp.seed = (uint64_t)time(NULL);
}

struct parse {
	const char *option; /* without the dashes */
	const char *value;
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 2, 3))) refuse(struct parse *p, const char *fmt, ...)
{
	char why[256];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(p->err, p->errlen, "--%s '%s': %s", p->option, p->value, why);
	return -1;
}

/* The whole string, unsigned decimal, in [min, max]. */
static int number(struct parse *p, const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long x = s[0] >= '0' && s[0] <= '9' ? strtoull(s, &end, 10) : 0;
	if (s[0] < '0' || s[0] > '9' || *end)
		return refuse(p,
			      "not an unsigned decimal number; the range is %" PRIu64 "..%" PRIu64,
			      min, max);
	if (errno == ERANGE || x < min || x > max)
		return refuse(p, "out of range %" PRIu64 "..%" PRIu64, min, max);
	*out = x;
	return 0;
}

static int u64_option(struct parse *p, uint64_t min, uint64_t max, uint64_t *out)
{
	return number(p, p->value, min, max, out);
}

static int uint_option(struct parse *p, uint64_t min, uint64_t max, unsigned int *out)
{
	uint64_t v;
	if (number(p, p->value, min, max, &v))
		return -1;
	*out = (unsigned int)v;
	return 0;
}

/* A finite decimal in [min, max]: strtod also reads "nan", "inf", hex. */
static int real_option(struct parse *p, double min, double max, double *out)
{
	char *end;
	double x = strtod(p->value, &end);
	if (end == p->value || *end || !isfinite(x))
		return refuse(p, "not a finite number; the range is %g..%g", min, max);
	if (x < min || x > max)
		return refuse(p, "out of range %g..%g", min, max);
	*out = x;
	return 0;
}

static int ipv4_option(struct parse *p, uint32_t *out)
{
	if (inet_pton(AF_INET, p->value, out) != 1)
		return refuse(p, "not an IPv4 address (A.B.C.D)");
	return 0;
}

static int mac_option(struct parse *p, struct bidgen *g)
{
	g->mac_auto = strcmp(p->value, "auto") == 0;
	char tail;
	if (!g->mac_auto && sscanf(p->value, "%2hhx:%2hhx:%2hhx:%2hhx:%2hhx:%2hhx%c",
				   &g->dst_mac[0], &g->dst_mac[1], &g->dst_mac[2], &g->dst_mac[3],
				   &g->dst_mac[4], &g->dst_mac[5], &tail) != 6)
		return refuse(p, "not a MAC address (aa:bb:cc:dd:ee:ff) or auto");
	return 0;
}

static int auctions_option(struct parse *p, struct workload_params *wp)
{
	const char *dash = strchr(p->value, '-');
	char first[24];
	if (!dash || dash == p->value || (size_t)(dash - p->value) >= sizeof(first))
		return refuse(p, "expected FIRST-LAST, e.g. 1-1000");
	memcpy(first, p->value, (size_t)(dash - p->value));
	first[dash - p->value] = '\0';
	uint64_t a, b;
	if (number(p, first, 1, UINT64_MAX, &a) || number(p, dash + 1, 1, UINT64_MAX, &b))
		return -1;
	if (b < a)
		return refuse(p, "FIRST must not exceed LAST");
	if (b - a >= AUCTIONS_MAX)
		return refuse(p, "%" PRIu64 " auctions; at most %" PRIu64, b - a + 1, AUCTIONS_MAX);
	wp->first_auction = a;
	wp->last_auction = b;
	return 0;
}

enum opt_id {
	OPT_RATE = 256,
	OPT_DURATION,
	OPT_COUNT,
	OPT_BURST,
	OPT_FLOWS,
	OPT_TIMEOUT,
	OPT_DST_IP,
	OPT_DST_MAC,
	OPT_SRC_IP,
	OPT_DST_PORT,
	OPT_AUCTIONS,
	OPT_BIDDERS,
	OPT_ZIPF,
	OPT_DUP_RATIO,
	OPT_CONFLICT_RATIO,
	OPT_BAD_RATIO,
	OPT_QUERY_RATIO,
	OPT_WATCH_RATIO,
	OPT_SEED,
	OPT_STRICT,
	OPT_JSON,
	OPT_PCAP,
	OPT_ECHO,
	OPT_QUIET,
	OPT_WINDOW,
	OPT_VERSION,
	OPT_HELP = 'h',
};

static const struct option opts[] = {
    {"rate", 1, NULL, OPT_RATE},
    {"duration", 1, NULL, OPT_DURATION},
    {"count", 1, NULL, OPT_COUNT},
    {"burst", 1, NULL, OPT_BURST},
    {"flows", 1, NULL, OPT_FLOWS},
    {"timeout", 1, NULL, OPT_TIMEOUT},
    {"dst-ip", 1, NULL, OPT_DST_IP},
    {"dst-mac", 1, NULL, OPT_DST_MAC},
    {"src-ip", 1, NULL, OPT_SRC_IP},
    {"dst-port", 1, NULL, OPT_DST_PORT},
    {"auctions", 1, NULL, OPT_AUCTIONS},
    {"bidders", 1, NULL, OPT_BIDDERS},
    {"zipf", 1, NULL, OPT_ZIPF},
    {"dup-ratio", 1, NULL, OPT_DUP_RATIO},
    {"conflict-ratio", 1, NULL, OPT_CONFLICT_RATIO},
    {"bad-ratio", 1, NULL, OPT_BAD_RATIO},
    {"query-ratio", 1, NULL, OPT_QUERY_RATIO},
    {"watch-ratio", 1, NULL, OPT_WATCH_RATIO},
    {"seed", 1, NULL, OPT_SEED},
    {"strict", 0, NULL, OPT_STRICT},
    {"json", 1, NULL, OPT_JSON},
    {"pcap", 1, NULL, OPT_PCAP},
    {"echo", 0, NULL, OPT_ECHO},
    {"quiet", 0, NULL, OPT_QUIET},
    {"window", 1, NULL, OPT_WINDOW},
    {"help", 0, NULL, OPT_HELP},
    {"version", 0, NULL, OPT_VERSION},
    {NULL, 0, NULL, 0},
};

static int apply(struct parse *p, int id, struct bidgen *g)
{
	struct workload_params *wp = &g->wp;
	uint64_t port;
	switch (id) {
	case OPT_RATE:
		return u64_option(p, 0, RATE_MAX, &g->rate);
	case OPT_DURATION:
		return u64_option(p, 1, DURATION_MAX, &g->duration_s);
	case OPT_COUNT:
		/* 0 used to mean "for --duration" without saying so. */
		if (strcmp(p->value, "0") == 0)
			return refuse(p,
				      "out of range 1..%" PRIu64
				      "; leave --count out to send for --duration seconds",
				      UINT64_MAX);
		return u64_option(p, 1, UINT64_MAX, &g->count);
	case OPT_BURST:
		return uint_option(p, 1, MAX_BURST, &g->burst);
	case OPT_FLOWS:
		return uint_option(p, 1, FLOWS_MAX, &g->flows);
	case OPT_TIMEOUT:
		return u64_option(p, 0, TIMEOUT_MAX, &g->timeout_ms);
	case OPT_WINDOW:
		return u64_option(p, 0, BIDGEN_TRACK_SLOTS, &g->window);
	case OPT_DST_IP:
		return ipv4_option(p, &g->dst_ip);
	case OPT_SRC_IP:
		return ipv4_option(p, &g->src_ip);
	case OPT_DST_PORT:
		if (u64_option(p, 1, 65535, &port))
			return -1;
		g->dst_port = (uint16_t)port;
		return 0;
	case OPT_DST_MAC:
		return mac_option(p, g);
	case OPT_AUCTIONS:
		return auctions_option(p, wp);
	case OPT_BIDDERS:
		return u64_option(p, 1, UINT64_MAX, &wp->bidders);
	case OPT_ZIPF:
		return real_option(p, 0, ZIPF_MAX, &wp->zipf_s);
	case OPT_DUP_RATIO:
		return real_option(p, 0, 1, &wp->dup_ratio);
	case OPT_CONFLICT_RATIO:
		return real_option(p, 0, 1, &wp->conflict_ratio);
	case OPT_BAD_RATIO:
		return real_option(p, 0, 1, &wp->bad_ratio);
	case OPT_QUERY_RATIO:
		return real_option(p, 0, 1, &wp->query_ratio);
	case OPT_WATCH_RATIO:
		return real_option(p, 0, 1, &wp->watch_ratio);
	case OPT_SEED:
		return u64_option(p, 0, UINT64_MAX, &wp->seed);
	case OPT_STRICT:
		g->strict = true;
		return 0;
	case OPT_JSON:
		g->json_path = p->value;
		return 0;
	case OPT_PCAP:
		g->pcap_path = p->value;
		return 0;
	case OPT_ECHO:
		g->echo = true;
		return 0;
	case OPT_QUIET:
		g->quiet = true;
		return 0;
	default:
		return -1;
	}
}

static int ratios_fit(const struct workload_params *wp, char *err, size_t errlen)
{
	double sum =
	    wp->dup_ratio + wp->conflict_ratio + wp->bad_ratio + wp->query_ratio + wp->watch_ratio;
	if (sum > 1.0) {
		snprintf(err, errlen,
			 "--dup-ratio, --conflict-ratio, --bad-ratio, --query-ratio and "
			 "--watch-ratio add up to %g: together at most 1",
			 sum);
		return -1;
	}
	return 0;
}

int bidgen_parse_args(int argc, char **argv, struct bidgen *g, char *err, size_t errlen)
{
	int id, index = -1;
	optind = 0; /* glibc: start afresh (tests parse more than once) */
	opterr = 0;
	while ((id = getopt_long(argc, argv, ":h", opts, &index)) != -1) {
		if (id == OPT_HELP) {
			bidgen_usage(stdout);
			return 1;
		}
		if (id == OPT_VERSION) {
			printf("bidgen %s\n", BP_NODE_VERSION);
			return 1;
		}
		if (id == '?') {
			snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -1;
		}
		if (id == ':') {
			snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
			return -1;
		}
		struct parse p = {opts[index].name, optarg ? optarg : "", err, errlen};
		if (apply(&p, id, g) != 0)
			return -1;
	}
	if (optind < argc) {
		snprintf(err, errlen,
			 "unexpected argument '%s': options take the form --name value; EAL "
			 "options go before --",
			 argv[optind]);
		return -1;
	}
	return ratios_fit(&g->wp, err, errlen);
}

int bidgen_open_json(struct bidgen *g, char *err, size_t errlen)
{
	if (!g->json_path)
		return 0;
	g->json_file = fopen(g->json_path, "w");
	if (!g->json_file) {
		int e = errno;
		snprintf(err, errlen, "--json %s: cannot write it: %s (errno %d)", g->json_path,
			 strerror(e), e);
		return -1;
	}
	return 0;
}
