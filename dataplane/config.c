/* SPDX-License-Identifier: BSD-3-Clause */
#include "config.h"
#include "defaults.h"
#include "proto.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <sys/stat.h>

#include "bidmax.h"
#include "crdt_common.h"

#define CLOCK_OFFSET_MAX_MS UINT64_C(31536000000)

enum opt_id {
	OPT_IP = 256,
	OPT_UDP_PORT,
	OPT_NODE_ID,
	OPT_OPEN_RANGE,
	OPT_RESERVE,
	OPT_INCREMENT,
	OPT_DURATION,
	OPT_MAX_AUCTIONS,
	OPT_DEDUP_WINDOW,
	OPT_DEDUP_SECONDS,
	OPT_DEDUP_RATE,
	OPT_MAX_DRIFT_MS,
	OPT_CLOCK_OFFSET_MS,
	OPT_CONTROL_SOCKET,
	OPT_STATS_NAME,
	OPT_STATS_GROUP,
	OPT_STATS_AUCTIONS,
	OPT_STATE_DIR,
	OPT_CONFIG,
	OPT_NO_IDLE_BACKOFF,
	OPT_IDLE_SPIN_POLLS,
	OPT_IDLE_SLEEP_US,
	OPT_OVERLOAD_BACKLOG,
	OPT_STALL_BUDGET_MS,
	OPT_RX_DESC,
	OPT_TX_DESC,
	OPT_FALLBACK_NO_HUGE,
	OPT_HELP = 'h',
};

static const struct option long_options[] = {
    {"ip", required_argument, NULL, OPT_IP},
    {"udp-port", required_argument, NULL, OPT_UDP_PORT},
    {"node-id", required_argument, NULL, OPT_NODE_ID},
    {"open-range", required_argument, NULL, OPT_OPEN_RANGE},
    {"reserve", required_argument, NULL, OPT_RESERVE},
    {"increment", required_argument, NULL, OPT_INCREMENT},
    {"duration", required_argument, NULL, OPT_DURATION},
    {"max-auctions", required_argument, NULL, OPT_MAX_AUCTIONS},
    {"dedup-window", required_argument, NULL, OPT_DEDUP_WINDOW}, /* replaced: an error */
    {"dedup-seconds", required_argument, NULL, OPT_DEDUP_SECONDS},
    {"dedup-rate", required_argument, NULL, OPT_DEDUP_RATE},
    {"max-drift-ms", required_argument, NULL, OPT_MAX_DRIFT_MS},
    {"clock-offset-ms", required_argument, NULL, OPT_CLOCK_OFFSET_MS},
    {"control-socket", required_argument, NULL, OPT_CONTROL_SOCKET},
    {"stats-name", required_argument, NULL, OPT_STATS_NAME},
    {"stats-group", required_argument, NULL, OPT_STATS_GROUP},
    {"stats-auctions", required_argument, NULL, OPT_STATS_AUCTIONS},
    {"state-dir", required_argument, NULL, OPT_STATE_DIR},
    {"config", required_argument, NULL, OPT_CONFIG},
    {"no-idle-backoff", no_argument, NULL, OPT_NO_IDLE_BACKOFF},
    {"idle-spin-polls", required_argument, NULL, OPT_IDLE_SPIN_POLLS},
    {"idle-sleep-us", required_argument, NULL, OPT_IDLE_SLEEP_US},
    {"overload-backlog", required_argument, NULL, OPT_OVERLOAD_BACKLOG},
    {"stall-budget-ms", required_argument, NULL, OPT_STALL_BUDGET_MS},
    {"rx-desc", required_argument, NULL, OPT_RX_DESC},
    {"tx-desc", required_argument, NULL, OPT_TX_DESC},
    {"fallback-no-huge", no_argument, NULL, OPT_FALLBACK_NO_HUGE},
    {"help", no_argument, NULL, OPT_HELP},
    {NULL, 0, NULL, 0},
};

void bp_config_defaults(struct bp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->udp_port = BP_DEFAULT_UDP_PORT;
	cfg->node_id = 1;
	cfg->reserve = 1;
	cfg->increment = 1;
	cfg->duration_s = 300;
	cfg->max_auctions = 65536;
	cfg->dedup_seconds = 10;
	cfg->dedup_rate = 100000;
	cfg->max_drift_ms = 500;
	snprintf(cfg->stats_name, sizeof(cfg->stats_name), BP_DEFAULT_NAME);
	snprintf(cfg->stats_group, sizeof(cfg->stats_group), BP_DEFAULT_NAME);
	cfg->stats_auctions = 64;
	cfg->idle_backoff = true;
	cfg->idle_spin_polls = 1024;
	cfg->idle_sleep_us = 100;
	cfg->overload_backlog = 768;
	cfg->stall_budget_ms = 20;
	cfg->rx_desc = 1024;
	cfg->tx_desc = 1024;
}

void bp_config_usage(FILE *out, const char *prog)
{
	fprintf(
	    out,
	    "usage: %s [EAL options] -- [options]\n"
	    "\n"
	    "A bid-ingestion node: answers bidplane protocol v1 (UDP) on every DPDK port.\n"
	    "The main lcore runs the control thread, every other lcore one worker.\n"
	    "\n"
	    "Every number is unsigned decimal; its range is given as MIN..MAX.\n"
	    "\n"
	    "Node:\n"
	    "  --ip A.B.C.D            IPv4 unicast address the node answers on (required)\n"
	    "  --udp-port N            UDP port, 1..65535 (default 7600)\n"
	    "  --node-id N             node id 0..%d, breaks ties between nodes (default 1)\n"
	    "  --max-auctions N        auctions held at once, 8..67108864 (default 65536)\n"
	    "  --dedup-seconds N       answers are remembered for retries at least N\n"
	    "                          seconds, 1..86400 (default 10)\n"
	    "  --dedup-rate N          new request ids per second the idempotency table is\n"
	    "                          built for (default 100000); beyond it new ids may be\n"
	    "                          answered OVERLOADED. Memory: rate x seconds x 192\n"
	    "                          bytes (default 192 MB; docs/PROTOCOL.md)\n"
	    "  --max-drift-ms N        refuse remote HLC stamps this far ahead,\n"
	    "                          0..4294967295 (default 500)\n"
	    "  --clock-offset-ms N     fault injection: shift this node's wall clock by N ms,\n"
	    "                          -31536000000..31536000000 (one year; default 0)\n"
	    "Auctions opened at start:\n"
	    "  --open-range FIRST-LAST auction ids to open, 1..18446744073709551615\n"
	    "                          (default: none)\n"
	    "  --reserve N             their reserve, 1..9223372036854775807 (default 1)\n"
	    "  --increment N           their minimum increment, 1..9223372036854775807\n"
	    "                          (default 1)\n"
	    "  --duration SECONDS      time until they close, 1..%u (10 years;\n"
	    "                          default 300)\n"
	    "Control and state:\n"
	    "  --control-socket PATH   bidctl socket (default /run/bidplane/<stats-name>.sock)\n"
	    "  --stats-name NAME       instance name (default bidplane); bidstat NAME reads\n"
	    "                          its stats segment /dev/shm/NAME.bpstats\n"
	    "  --stats-group GROUP     group that may read the stats segment (default\n"
	    "                          bidplane; none: root only)\n"
	    "  --stats-auctions N      auctions shown one by one in the stats, 0..4096\n"
	    "                          (default 64; the first N open at once)\n"
	    "  --state-dir DIR         fencing epoch directory\n"
	    "                          (default /var/lib/bidplane/<stats-name>)\n"
	    "  --config FILE           INI file: one [node] section of key = value lines,\n"
	    "                          keys as the long options (udp-port = 7600), each\n"
	    "                          once; comments start with ; or #. The command\n"
	    "                          line wins\n"
	    "Workers:\n"
	    "  --no-idle-backoff       spin even when idle (benchmarks)\n"
	    "  --idle-spin-polls N     empty polls before sleeping, 0..4294967295\n"
	    "                          (default 1024)\n"
	    "  --idle-sleep-us N       sleep per empty poll after that, 1..1000000\n"
	    "                          (default 100)\n"
	    "  --overload-backlog N    queued frames before shedding with OVERLOADED,\n"
	    "                          0..1048576 (default 768; 0 turns admission control\n"
	    "                          off)\n"
	    "  --stall-budget-ms N     longest reader stall (a preempted thread) absorbed\n"
	    "                          before bids are shed OVERLOADED, 1..10000 (default\n"
	    "                          20: 128 Ki replaced records, 11 MiB, per worker)\n"
	    "  --rx-desc N, --tx-desc N  descriptors per queue, a power of two 64..16384\n"
	    "                          (default 1024)\n"
	    "Preflight:\n"
	    "  --fallback-no-huge      run with --no-huge -m 512 when hugepages are missing\n"
	    "  -h, --help              this text\n"
	    "\n"
	    "Example (memif, no hugepages, one worker):\n"
	    "  %s --no-huge -m 512 -l 0-1 \\\n"
	    "      --vdev=net_memif0,role=server,socket=/tmp/bp.sock -- \\\n"
	    "      --ip 198.18.0.2 --open-range 1-1000\n",
	    prog, CRDT_MAX_REPLICAS - 1, BP_DURATION_MAX_S, prog);
}

static int fail(char *err, size_t errlen, const char *fmt, const char *opt, const char *val)
{
	snprintf(err, errlen, fmt, opt, val);
	return -EINVAL;
}

/* Whole-string unsigned decimal in [min, max]; the refusal names the
 * option, the value and the range. */
static int parse_u64(const char *opt, const char *s, uint64_t min, uint64_t max, uint64_t *out,
		     char *err, size_t errlen)
{
	char *end;
	errno = 0;
	unsigned long long v = isdigit((unsigned char)s[0]) ? strtoull(s, &end, 10) : 0;
	if (!isdigit((unsigned char)s[0]) || *end != '\0') {
		snprintf(err, errlen,
			 "--%s '%s': not an unsigned decimal number; the range is %" PRIu64
			 "..%" PRIu64,
			 opt, s, min, max);
		return -EINVAL;
	}
	if (errno == ERANGE || v < min || v > max) {
		snprintf(err, errlen, "--%s %s: out of range %" PRIu64 "..%" PRIu64, opt, s, min,
			 max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

static int parse_bool(const char *opt, const char *s, bool *out, char *err, size_t errlen)
{
	if (!strcmp(s, "true") || !strcmp(s, "yes") || !strcmp(s, "1"))
		*out = true;
	else if (!strcmp(s, "false") || !strcmp(s, "no") || !strcmp(s, "0"))
		*out = false;
	else
		return fail(err, errlen, "%s = %s: must be true/false, yes/no or 1/0", opt, s);
	return 0;
}

static int parse_path(const char *opt, const char *s, char *dst, size_t cap, char *err,
		      size_t errlen)
{
	if (s[0] == '\0' || strlen(s) >= cap)
		return fail(err, errlen, "--%s '%s': empty or too long", opt, s);
	memcpy(dst, s, strlen(s) + 1);
	return 0;
}

static int parse_desc(const char *opt, const char *s, uint16_t *out, char *err, size_t errlen)
{
	uint64_t v;
	int rc = parse_u64(opt, s, 64, 16384, &v, err, errlen);
	if (rc == 0 && (v & (v - 1)) != 0)
		return fail(err, errlen, "--%s %s: must be a power of two", opt, s);
	if (rc == 0)
		*out = (uint16_t)v;
	return rc;
}

/* Applies one option by its id; `flag_value` is for options without value. */
/* A name that becomes part of a path or a group: [A-Za-z0-9_.-]. */
/* A name that becomes part of a path or a group: the stats segment's
 * naming rule (control/stats_names.c). */
static int parse_name(const char *name, const char *val, char *out, size_t outlen, char *err,
		      size_t errlen)
{
	if (strlen(val) >= outlen || !bp_instance_name_valid(val))
		return fail(err, errlen,
			    "--%s '%s': 1 to 63 letters, digits, '_', '.' or '-' (not . or ..)",
			    name, val);
	memcpy(out, val, strlen(val) + 1);
	return 0;
}

/* The node's own address: a unicast one. A broadcast or multicast address
 * would make it answer for every host of the link (or none). */
static int parse_unicast_ip(const char *name, const char *val, uint32_t *out, char *err,
			    size_t errlen)
{
	struct in_addr a;
	if (inet_pton(AF_INET, val, &a) != 1)
		return fail(err, errlen, "--%s %s: not an IPv4 address (A.B.C.D)", name, val);
	uint32_t host = ntohl(a.s_addr);
	const char *why = host == 0		? "the unspecified address"
			  : host == UINT32_MAX	? "the broadcast address"
			  : (host >> 28) == 0xE ? "a multicast address (224.0.0.0/4)"
			  : (host >> 28) == 0xF ? "a reserved address (240.0.0.0/4)"
			  : (host >> 24) == 0	? "in 0.0.0.0/8 (this network)"
						: NULL;
	if (why) {
		snprintf(err, errlen, "--%s %s: %s; give the node's own unicast address", name, val,
			 why);
		return -EINVAL;
	}
	*out = a.s_addr;
	return 0;
}

static int apply(struct bp_config *cfg, int id, const char *name, const char *val, bool flag_value,
		 char *err, size_t errlen)
{
	uint64_t v = 0;
	int rc = 0;
	switch (id) {
	case OPT_IP:
		return parse_unicast_ip(name, val, &cfg->ip, err, errlen);
	case OPT_UDP_PORT:
		if ((rc = parse_u64(name, val, 1, 65535, &v, err, errlen)) == 0)
			cfg->udp_port = (uint16_t)v;
		break;
	case OPT_NODE_ID:
		if ((rc = parse_u64(name, val, 0, CRDT_MAX_REPLICAS - 1, &v, err, errlen)) == 0)
			cfg->node_id = (uint16_t)v;
		break;
	case OPT_OPEN_RANGE: {
		const char *dash = strchr(val, '-');
		char first[32];
		if (!dash || (size_t)(dash - val) >= sizeof(first))
			return fail(err, errlen, "--%s %s: expected FIRST-LAST, e.g. 1-1000", name,
				    val);
		memcpy(first, val, (size_t)(dash - val));
		first[dash - val] = '\0';
		uint64_t a, b;
		if (parse_u64(name, first, 1, UINT64_MAX, &a, err, errlen) ||
		    parse_u64(name, dash + 1, 1, UINT64_MAX, &b, err, errlen))
			return -EINVAL;
		if (a > b)
			return fail(err, errlen, "--%s %s: FIRST must not exceed LAST", name, val);
		cfg->open_first = a;
		cfg->open_last = b;
		return 0;
	}
	case OPT_RESERVE:
		rc = parse_u64(name, val, 1, BID_AMOUNT_MAX, &cfg->reserve, err, errlen);
		break;
	case OPT_INCREMENT:
		rc = parse_u64(name, val, 1, BID_AMOUNT_MAX, &cfg->increment, err, errlen);
		break;
	case OPT_DURATION:
		rc = parse_u64(name, val, 1, BP_DURATION_MAX_S, &cfg->duration_s, err, errlen);
		break;
	case OPT_MAX_AUCTIONS:
		if ((rc = parse_u64(name, val, 8, 1u << 26, &v, err, errlen)) == 0)
			cfg->max_auctions = (uint32_t)v;
		break;
	case OPT_DEDUP_WINDOW:
		return fail(err, errlen,
			    "--%s %s: replaced by --dedup-seconds (how long answers are kept) and "
			    "--dedup-rate (new ids per second the table holds); see --help",
			    name, val);
	case OPT_DEDUP_SECONDS:
		if ((rc = parse_u64(name, val, 1, 86400, &v, err, errlen)) == 0)
			cfg->dedup_seconds = (uint32_t)v;
		break;
	case OPT_DEDUP_RATE:
		if ((rc = parse_u64(name, val, 1, 1u << 26, &v, err, errlen)) == 0)
			cfg->dedup_rate = (uint32_t)v;
		break;
	case OPT_CLOCK_OFFSET_MS: {
		/* Signed: parse the magnitude with the unsigned rule. */
		bool neg = val[0] == '-';
		if (parse_u64(name, val + neg, 0, CLOCK_OFFSET_MAX_MS, &v, err, errlen) != 0) {
			snprintf(err, errlen,
				 "--%s %s: must be whole milliseconds in -%" PRIu64 "..%" PRIu64,
				 name, val, CLOCK_OFFSET_MAX_MS, CLOCK_OFFSET_MAX_MS);
			return -EINVAL;
		}
		cfg->clock_offset_ms = neg ? -(int64_t)v : (int64_t)v;
		break;
	}
	case OPT_MAX_DRIFT_MS:
		rc = parse_u64(name, val, 0, UINT32_MAX, &cfg->max_drift_ms, err, errlen);
		break;
	case OPT_CONTROL_SOCKET:
		return parse_path(name, val, cfg->control_socket, sizeof(cfg->control_socket), err,
				  errlen);
	case OPT_STATS_NAME:
		return parse_name(name, val, cfg->stats_name, sizeof(cfg->stats_name), err, errlen);
	case OPT_STATS_GROUP:
		return parse_name(name, val, cfg->stats_group, sizeof(cfg->stats_group), err,
				  errlen);
	case OPT_STATS_AUCTIONS:
		if ((rc = parse_u64(name, val, 0, 4096, &v, err, errlen)) == 0)
			cfg->stats_auctions = (uint32_t)v;
		break;
	case OPT_STATE_DIR:
		return parse_path(name, val, cfg->state_dir, sizeof(cfg->state_dir), err, errlen);
	case OPT_CONFIG:
		return parse_path(name, val, cfg->config_file, sizeof(cfg->config_file), err,
				  errlen);
	case OPT_NO_IDLE_BACKOFF:
		cfg->idle_backoff = !flag_value;
		return 0;
	case OPT_IDLE_SPIN_POLLS:
		if ((rc = parse_u64(name, val, 0, UINT32_MAX, &v, err, errlen)) == 0)
			cfg->idle_spin_polls = (uint32_t)v;
		break;
	case OPT_IDLE_SLEEP_US:
		if ((rc = parse_u64(name, val, 1, 1000000, &v, err, errlen)) == 0)
			cfg->idle_sleep_us = (uint32_t)v;
		break;
	case OPT_OVERLOAD_BACKLOG:
		if ((rc = parse_u64(name, val, 0, 1u << 20, &v, err, errlen)) == 0)
			cfg->overload_backlog = (uint32_t)v;
		break;
	case OPT_STALL_BUDGET_MS:
		if ((rc = parse_u64(name, val, 1, 10000, &v, err, errlen)) == 0)
			cfg->stall_budget_ms = (uint32_t)v;
		break;
	case OPT_RX_DESC:
		return parse_desc(name, val, &cfg->rx_desc, err, errlen);
	case OPT_TX_DESC:
		return parse_desc(name, val, &cfg->tx_desc, err, errlen);
	case OPT_FALLBACK_NO_HUGE:
		cfg->fallback_no_huge = flag_value;
		return 0;
	default:
		return fail(err, errlen, "unknown option %s%s", name, "");
	}
	return rc;
}

bool bp_config_has_option(const char *name)
{
	for (const struct option *o = long_options; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return true;
	return false;
}

static const struct option *option_by_key(const char *key)
{
	char name[64];
	size_t n = strlen(key);
	if (n >= sizeof(name))
		return NULL;
	for (size_t i = 0; i <= n; i++)
		name[i] = key[i] == '_' ? '-' : key[i];
	for (const struct option *o = long_options; o->name; o++)
		if (strcmp(o->name, name) == 0 && o->val != OPT_HELP && o->val != OPT_CONFIG)
			return o;
	return NULL;
}

/*
 * The INI file, read here rather than with rte_cfgfile, which takes bare
 * lines, repeated keys and repeated sections without a word. The grammar:
 * blank lines; comments, whose first non-blank character is ';' or '#';
 * one "[node]" line; then "key = value" lines, each key at most once.
 * Every refusal names the file and the line.
 */
#define INI_LINE_MAX 1024
#define NOPTIONS     (sizeof(long_options) / sizeof(long_options[0]))

struct ini_reader {
	const char *path;
	unsigned int line;
	bool in_node;
	unsigned int node_line;	     /* where [node] was, 0: not yet */
	unsigned int seen[NOPTIONS]; /* by long_options index: the line that set it */
	char *err;
	size_t errlen;
};

static int __attribute__((format(printf, 2, 3)))
ini_fail(struct ini_reader *r, const char *fmt, ...)
{
	char detail[384];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	snprintf(r->err, r->errlen, "--config %s: line %u: %s", r->path, r->line, detail);
	return -EINVAL;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\r' || s[n - 1] == '\n'))
		s[--n] = '\0';
	return s;
}

static int ini_section(struct ini_reader *r, char *line)
{
	size_t n = strlen(line);
	if (line[n - 1] != ']')
		return ini_fail(r, "'%.60s': a section line is [node]", line);
	line[n - 1] = '\0';
	char *name = trim(line + 1);
	if (strcmp(name, "node") != 0)
		return ini_fail(r, "unknown section [%.60s]; only [node] is read", name);
	if (r->node_line)
		return ini_fail(r, "a second [node] section (the first is on line %u): keep one",
				r->node_line);
	r->node_line = r->line;
	r->in_node = true;
	return 0;
}

static int ini_entry(struct bp_config *cfg, struct ini_reader *r, char *line)
{
	char *eq = strchr(line, '=');
	if (!eq)
		return ini_fail(r, "'%.60s' is not key = value, a [section] or a comment", line);
	*eq = '\0';
	char *key = trim(line), *value = trim(eq + 1);
	if (!r->in_node)
		return ini_fail(r, "%.60s = ... before the [node] section", key);
	if (!*key)
		return ini_fail(r, "'= %.60s' has no key", value);
	const struct option *o = option_by_key(key);
	if (!o)
		return ini_fail(r, "unknown key '%.60s' (keys are the long options, e.g. udp-port)",
				key);
	size_t slot = (size_t)(o - long_options);
	if (r->seen[slot])
		return ini_fail(r, "%s is set twice (first on line %u): keep one", o->name,
				r->seen[slot]);
	r->seen[slot] = r->line;
	bool flag = true;
	char why[320];
	int rc = 0;
	if (o->has_arg == no_argument)
		rc = parse_bool(o->name, value, &flag, why, sizeof(why));
	if (rc == 0)
		rc = apply(cfg, o->val, o->name, value, flag, why, sizeof(why));
	return rc == 0 ? 0 : ini_fail(r, "%s", why);
}

static int ini_line(struct bp_config *cfg, struct ini_reader *r, char *raw, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)raw[i] < 0x20 && raw[i] != '\t' && raw[i] != '\r' &&
		    raw[i] != '\n')
			return ini_fail(r, "control byte 0x%02x: this is not a text (INI) file",
					(unsigned char)raw[i]);
	if (len == INI_LINE_MAX - 1 && raw[len - 1] != '\n')
		return ini_fail(r, "longer than %d bytes", INI_LINE_MAX - 2);
	char *line = trim(raw);
	if (*line == '\0' || *line == ';' || *line == '#')
		return 0;
	if (*line == '[')
		return ini_section(r, line);
	return ini_entry(cfg, r, line);
}

/* Why fopen failed, in words that say what to fix. */
static int open_error(const char *path, int e, char *err, size_t errlen)
{
	const char *what = e == ENOENT	 ? "does not exist"
			   : e == EACCES ? "cannot be read (permission denied)"
					 : "cannot be opened";
	snprintf(err, errlen, "--config %s: %s: %s (errno %d)", path, what, strerror(e), e);
	return -EINVAL;
}

static int read_config_file(struct bp_config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return open_error(path, errno, err, errlen);
	struct stat st;
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		fclose(f);
		snprintf(err, errlen,
			 "--config %s: is a directory, not a file (%s, errno %d); give an INI file",
			 path, strerror(EISDIR), EISDIR);
		return -EINVAL;
	}
	struct ini_reader r = {.path = path, .err = err, .errlen = errlen};
	char raw[INI_LINE_MAX];
	int rc = 0;
	/* getline-free: each fgets is one line, or a too long one. */
	while (rc == 0) {
		long at = ftell(f);
		if (!fgets(raw, sizeof(raw), f))
			break;
		r.line++;
		/* fgets stops at NUL bytes silently: measure what it read. */
		size_t len = at >= 0 ? (size_t)(ftell(f) - at) : strlen(raw);
		if (len > sizeof(raw) - 1)
			len = sizeof(raw) - 1;
		rc = ini_line(cfg, &r, raw, len);
	}
	if (rc == 0 && ferror(f)) {
		int e = errno;
		snprintf(err, errlen, "--config %s: read error: %s (errno %d)", path, strerror(e),
			 e);
		rc = -EINVAL;
	}
	fclose(f);
	return rc;
}

static void derive_paths(struct bp_config *cfg)
{
	if (cfg->control_socket[0] == '\0')
		snprintf(cfg->control_socket, sizeof(cfg->control_socket), BP_RUN_DIR "/%s.sock",
			 cfg->stats_name);
	if (cfg->state_dir[0] == '\0')
		snprintf(cfg->state_dir, sizeof(cfg->state_dir), BP_STATE_ROOT "/%s",
			 cfg->stats_name);
}

int bp_config_parse(int argc, char **argv, struct bp_config *cfg, char *err, size_t errlen)
{
	/* The file first, so that the command line wins. */
	for (int i = 1; i < argc; i++) {
		const char *file = NULL;
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[i + 1];
		else if (strncmp(argv[i], "--config=", 9) == 0)
			file = argv[i] + 9;
		if (file) {
			int rc = parse_path("config", file, cfg->config_file,
					    sizeof(cfg->config_file), err, errlen);
			if (rc == 0)
				rc = read_config_file(cfg, file, err, errlen);
			if (rc != 0)
				return rc;
		}
	}
	optind = 1;
	opterr = 0;
	int id, index;
	while ((id = getopt_long(argc, argv, ":h", long_options, &index)) != -1) {
		if (id == OPT_HELP) {
			bp_config_usage(stdout, "bidplane");
			return 1;
		}
		if (id == '?') {
			snprintf(err, errlen, "unknown option '%s'", argv[optind - 1]);
			return -EINVAL;
		}
		if (id == ':') {
			snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
			return -EINVAL;
		}
		const char *name = long_options[index].name;
		int rc = apply(cfg, id, name, optarg, true, err, errlen);
		if (rc != 0)
			return rc;
	}
	if (optind < argc) {
		snprintf(err, errlen,
			 "unexpected argument '%s': options take the form --name value; EAL "
			 "options go before --",
			 argv[optind]);
		return -EINVAL;
	}
	derive_paths(cfg);
	return 0;
}

int bp_config_validate(const struct bp_config *cfg, char *err, size_t errlen)
{
	if (cfg->ip == 0) {
		snprintf(err, errlen,
			 "--ip is required: the IPv4 address the node answers on, "
			 "e.g. --ip 198.18.0.2");
		return -EINVAL;
	}
	if (cfg->open_first && cfg->open_last - cfg->open_first >= cfg->max_auctions) {
		snprintf(err, errlen,
			 "--open-range %" PRIu64 "-%" PRIu64 " holds more than --max-auctions %u: "
			 "raise --max-auctions",
			 cfg->open_first, cfg->open_last, cfg->max_auctions);
		return -EINVAL;
	}
	return 0;
}

void bp_config_dump(FILE *out, const struct bp_config *c)
{
	char ip[INET_ADDRSTRLEN];
	struct in_addr a = {.s_addr = c->ip};
	inet_ntop(AF_INET, &a, ip, sizeof(ip));
	fprintf(out, "[node]\nip = %s\nudp-port = %u\nnode-id = %u\n", ip, c->udp_port, c->node_id);
	if (c->open_first)
		fprintf(out, "open-range = %" PRIu64 "-%" PRIu64 "\n", c->open_first, c->open_last);
	fprintf(out,
		"reserve = %" PRIu64 "\nincrement = %" PRIu64 "\nduration = %" PRIu64
		"\nmax-auctions = %u\ndedup-seconds = %u\ndedup-rate = %u\nmax-drift-ms = %" PRIu64
		"\nclock-offset-ms = %" PRId64
		"\ncontrol-socket = %s\nstats-name = %s\nstats-group = %s\nstats-auctions = %u\n"
		"state-dir = %s\nno-idle-backoff = %s\n"
		"idle-spin-polls = %u\nidle-sleep-us = %u\noverload-backlog = %u\n"
		"stall-budget-ms = %u\nrx-desc = %u\n"
		"tx-desc = %u\nfallback-no-huge = %s\n",
		c->reserve, c->increment, c->duration_s, c->max_auctions, c->dedup_seconds,
		c->dedup_rate, c->max_drift_ms, c->clock_offset_ms, c->control_socket,
		c->stats_name, c->stats_group, c->stats_auctions, c->state_dir,
		c->idle_backoff ? "false" : "true", c->idle_spin_polls, c->idle_sleep_us,
		c->overload_backlog, c->stall_budget_ms, c->rx_desc, c->tx_desc,
		c->fallback_no_huge ? "true" : "false");
}
