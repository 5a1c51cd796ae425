/* SPDX-License-Identifier: BSD-3-Clause */
/* The option table (config_options.h) and what reads it: values, --help,
 * the defaults and the configuration dump. */
#include "config_options.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "bidmax.h"
#include "crdt_common.h"
#include "defaults.h"
#include "proto.h"

#define CLOCK_OFFSET_MAX_MS UINT64_C(31536000000) /* a year */

/* rte_log's levels (rte_log.h), by name: this library has no DPDK. */
static const char *const log_levels[] = {"error", "warning", "notice", "info", "debug"};
#define LOG_LEVEL_FIRST 4 /* RTE_LOG_ERR */
#define LOG_LEVEL_INFO	7 /* RTE_LOG_INFO */

static const char *const durability_names[] = {"off", "async", "sync"};
#define DURABILITY_NAMES (sizeof(durability_names) / sizeof(durability_names[0]))

const char *bp_durability_name(uint32_t d)
{
	return d < DURABILITY_NAMES ? durability_names[d] : "?";
}

#define FIELD(f)	  offsetof(struct bp_config, f), sizeof(((struct bp_config *)0)->f)
#define NUMBER(f, lo, hi) OPTION_UNSIGNED, FIELD(f), lo, hi

const struct option_spec bp_options[] = {
    {"ip", OPTION_UNICAST, FIELD(ip), 0, 0, 0, NULL, "A.B.C.D",
     "IPv4 unicast address the node answers on (required)", "Node"},
    {"udp-port", NUMBER(udp_port, 1, 65535), BP_DEFAULT_UDP_PORT, NULL, "N", "UDP port", NULL},
    {"node-id", NUMBER(node_id, 1, 65535), 1, NULL, "N", "node id, breaks ties between nodes",
     NULL},
    {"max-auctions", NUMBER(max_auctions, 8, 1u << 26), 65536, NULL, "N", "auctions held at once",
     NULL},
    {"dedup-seconds", NUMBER(dedup_seconds, 1, 86400), 10, NULL, "N",
     "answers are remembered for retries at least N seconds", NULL},
    {"dedup-rate", NUMBER(dedup_rate, 1, 1u << 26), 100000, NULL, "N",
     "new request ids per second the idempotency table is built for; beyond it new ids may "
     "be answered OVERLOADED. Memory: rate x seconds x 192 bytes (192 MB by default; "
     "docs/PROTOCOL.md)",
     NULL},
    {"dedup-window", OPTION_REPLACED, 0, 0, 0, 0, 0, NULL, NULL,
     "replaced by --dedup-seconds (how long answers are kept) and --dedup-rate (new ids per "
     "second the table holds); see --help",
     NULL},
    {"max-drift-ms", NUMBER(max_drift_ms, 0, 60000), 500, NULL, "N",
     "refuse remote HLC stamps this far ahead", NULL},
    {"clock-offset-ms", OPTION_SIGNED, FIELD(clock_offset_ms), 0, CLOCK_OFFSET_MAX_MS, 0, NULL, "N",
     "fault injection: shift this node's wall clock by N ms (a year at most)", NULL},

    {"peer", OPTION_PEER, FIELD(peers), 0, 0, 0, NULL, "ID@A.B.C.D[:PORT]",
     "another node of the cluster: its --node-id, its --ip and, if not this node's, its "
     "--peer-port. Repeat for each peer (15 at most). Any --peer replaces the whole [peers] "
     "section of the --config file",
     "Cluster"},
    {"peer-port", NUMBER(peer_port, 1, 65535), BP_DEFAULT_PEER_PORT, NULL, "N",
     "UDP port for node-to-node messages on --ip, apart from --udp-port", NULL},
    {"cluster-key-file", OPTION_PATH, FIELD(cluster_key_file), 0, 0, 0, "none", "FILE",
     "the cluster secret, 64 hex digits, in a file only the node's user may read (chmod 600); "
     "required with any --peer",
     NULL},
    /* 1024: PEER_LINK_WINDOW (control/replication/peer_link.h, checked there). */
    {"peer-window", NUMBER(peer_window, 1, 1024), 1024, NULL, "N",
     "unacknowledged messages in flight per peer; beyond them changes wait, coalesced "
     "(docs/PEER_PROTOCOL.md \"Flow control\"). Lower only to test",
     NULL},
    {"etcd", OPTION_ETCD_URLS, FIELD(etcd), 0, 0, 0, "none", "URL[,URL...]",
     "etcd v3 endpoints (http://HOST:PORT, up to 8) for leadership; without it the node is "
     "its own leader, its fencing token the local epoch (docs/LEADERSHIP.md)",
     NULL},
    {"cluster-name", OPTION_KEY_NAME, FIELD(cluster_name), 0, 0, 0, BP_DEFAULT_CLUSTER_NAME, "NAME",
     "the cluster's keys in etcd live under /NAME/ (1 to 64 of A-Z a-z 0-9 _ -)", NULL},
    {"lease-ttl", NUMBER(lease_ttl_s, 2, 60), 5, NULL, "S",
     "the etcd lease of this node's campaign: a leader that cannot refresh it steps down "
     "before it can expire",
     NULL},

    {"open-range", OPTION_ID_RANGE, FIELD(open_first), 1, UINT64_MAX, 0, "none", "FIRST-LAST",
     "auction ids to open", "Auctions opened at start"},
    {"reserve", NUMBER(reserve, 1, BID_AMOUNT_MAX), 1, NULL, "N", "their reserve", NULL},
    {"increment", NUMBER(increment, 1, BID_AMOUNT_MAX), 1, NULL, "N", "their minimum increment",
     NULL},
    {"duration", NUMBER(duration_s, 1, BP_DURATION_MAX_S), 300, NULL, "SECONDS",
     "time until they close (10 years at most)", NULL},

    {"control-socket", OPTION_PATH, FIELD(control_socket), 0, 0, 0, BP_RUN_DIR "/<stats-name>.sock",
     "PATH", "bidctl's socket", "Control and state"},
    {"stats-name", OPTION_NAME, FIELD(stats_name), 0, 0, 0, BP_DEFAULT_NAME, "NAME",
     "instance name: bidstat NAME reads its stats segment /dev/shm/NAME.bpstats", NULL},
    {"stats-group", OPTION_NAME, FIELD(stats_group), 0, 0, 0, BP_DEFAULT_NAME, "GROUP",
     "group that may read the stats segment (none: root only)", NULL},
    {"stats-auctions", NUMBER(stats_auctions, 0, 4096), 64, NULL, "N",
     "auctions shown one by one in the stats (the first N open at once)", NULL},
    {"state-dir", OPTION_PATH, FIELD(state_dir), 0, 0, 0, BP_STATE_ROOT "/<stats-name>", "DIR",
     "the node's durable state (fencing epoch, HLC ceiling, the write-ahead log wal/), locked "
     "while it runs",
     NULL},
    {"durability", OPTION_DURABILITY, FIELD(durability), 0, 0, BP_DURABILITY_SYNC, "sync", "MODE",
     "what ACCEPTED promises (docs/WAL.md): sync: an ACCEPTED reply leaves once its bid is "
     "on disk (--state-dir/wal); async: replies leave at once, a crash may lose the last "
     "--async-window-ms; off: no log, a restart forgets every bid",
     NULL},
    {"async-window-ms", NUMBER(async_window_ms, 1, 10000), 10, NULL, "N",
     "async: the most the log may lag the replies; past it bids are answered OVERLOADED "
     "until the log catches up. 10 ms spans several group commits (an fdatasync takes "
     "0.1-2 ms on an SSD) yet bounds what a crash loses",
     NULL},
    {"snapshot-interval-s", NUMBER(snapshot_interval_s, 0, 86400), 60, NULL, "N",
     "write a snapshot of the state every N seconds and delete the log before it (0: not by "
     "time). 60 s keeps recovery to one snapshot and a minute of log, and a snapshot of a "
     "large state (seconds, on a thread of its own) well apart from the next",
     NULL},
    {"snapshot-log-mb", NUMBER(snapshot_log_mb, 0, 1u << 20), 256, NULL, "N",
     "also write one once the log since the last passes N MiB (0: not by size), so that a "
     "busy node's disk stays bounded: a snapshot (two while one is written) + N MiB + a segment "
     "(docs/WAL.md)",
     NULL},
    {"wal-segment-mb", NUMBER(wal_segment_mb, 1, 512), 64, NULL, "N",
     "the log rolls over to a new segment file past N MiB (at most 512: a segment, its reserve "
     "and what a full disk adds past it stay under the reader's 1 GiB per file); a snapshot "
     "deletes whole segments only, so the current one is what disk use holds beyond the log "
     "since the snapshot",
     NULL},
    {"config", OPTION_CONFIG, FIELD(config_file), 0, 0, 0, NULL, "FILE",
     "INI file: a [node] section of key = value lines, keys as the long options "
     "(udp-port = 7600), each once, and a [peers] section of ID = A.B.C.D[:PORT] lines; "
     "comments start with ; or #. The command line wins",
     NULL},

    {"no-idle-backoff", OPTION_NOT_FLAG, FIELD(idle_backoff), 0, 0, 1, NULL, NULL,
     "spin even when idle (benchmarks)", "Workers"},
    {"idle-spin-polls", NUMBER(idle_spin_polls, 0, UINT32_MAX), 1024, NULL, "N",
     "empty polls before sleeping", NULL},
    {"idle-sleep-us", NUMBER(idle_sleep_us, 1, 1000000), 100, NULL, "N",
     "sleep per empty poll after that", NULL},
    {"overload-backlog", NUMBER(overload_backlog, 0, 1u << 20), 768, NULL, "N",
     "queued frames before shedding with OVERLOADED (0 turns admission control off)", NULL},
    {"stall-budget-ms", NUMBER(stall_budget_ms, 1, 10000), 20, NULL, "N",
     "longest reader stall (a preempted thread) absorbed before bids are shed OVERLOADED; "
     "20 ms is 128 Ki replaced records, 11 MiB, per worker",
     NULL},
    {"rx-desc", OPTION_POW2, FIELD(rx_desc), 64, 16384, 1024, NULL, "N",
     "RX descriptors per queue, a power of two", NULL},
    {"tx-desc", OPTION_POW2, FIELD(tx_desc), 64, 16384, 1024, NULL, "N",
     "TX descriptors per queue, a power of two", NULL},

    {"log-level", OPTION_LOG_LEVEL, FIELD(log_level), 0, 0, LOG_LEVEL_INFO, "info", "LEVEL",
     "the node's log lines shown: error, warning, notice, info or debug (DPDK's own "
     "follow the EAL option --log-level)",
     "Logs"},
    {"fallback-no-huge", OPTION_FLAG, FIELD(fallback_no_huge), 0, 0, 0, NULL, NULL,
     "run with --no-huge -m 512 when hugepages are missing", "Preflight"},
    {"check-config", OPTION_ACTION, FIELD(check_config), 0, 0, 0, NULL, NULL,
     "parse and check the configuration (and the EAL options' form), start nothing: exit 0, "
     "or 2 naming the problem",
     "Instead of running"},
    {"print-config", OPTION_ACTION, FIELD(print_config), 0, 0, 0, NULL, NULL,
     "print the effective configuration as INI (a --config file) and exit", NULL},
    {"version", OPTION_VERSION, 0, 0, 0, 0, 0, NULL, NULL, "print the version and exit", NULL},
    {"help", OPTION_HELP, 0, 0, 0, 0, 0, NULL, NULL, "this text", NULL},
    {NULL, 0, 0, 0, 0, 0, 0, NULL, NULL, NULL, NULL},
};

const struct option_spec *bp_option_by_name(const char *name)
{
	for (const struct option_spec *o = bp_options; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

static void *field_of(struct bp_config *cfg, const struct option_spec *o)
{
	return (char *)cfg + o->offset;
}

static void store_unsigned(void *field, size_t size, uint64_t v)
{
	switch (size) {
	case 2:
		*(uint16_t *)field = (uint16_t)v;
		break;
	case 4:
		*(uint32_t *)field = (uint32_t)v;
		break;
	default:
		*(uint64_t *)field = v;
	}
}

static uint64_t load_unsigned(const void *field, size_t size)
{
	switch (size) {
	case 2:
		return *(const uint16_t *)field;
	case 4:
		return *(const uint32_t *)field;
	default:
		return *(const uint64_t *)field;
	}
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

static int parse_signed(const struct option_spec *o, const char *val, int64_t *out, char *err,
			size_t errlen)
{
	bool neg = val[0] == '-';
	uint64_t v;
	if (parse_u64(o->name, val + neg, 0, o->max, &v, err, errlen) != 0) {
		snprintf(err, errlen, "--%s %s: must be a whole number in -%" PRIu64 "..%" PRIu64,
			 o->name, val, o->max, o->max);
		return -EINVAL;
	}
	*out = neg ? -(int64_t)v : (int64_t)v;
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

/* A host's own address is a unicast one. A broadcast or multicast address
 * would make a node answer for every host of the link (or none). */
const char *bp_unicast_problem(uint32_t ip)
{
	uint32_t host = ntohl(ip);
	return host == 0	     ? "the unspecified address"
	       : host == UINT32_MAX  ? "the broadcast address"
	       : (host >> 28) == 0xE ? "a multicast address (224.0.0.0/4)"
	       : (host >> 28) == 0xF ? "a reserved address (240.0.0.0/4)"
	       : (host >> 24) == 0   ? "in 0.0.0.0/8 (this network)"
				     : NULL;
}

static int parse_unicast_ip(const char *name, const char *val, uint32_t *out, char *err,
			    size_t errlen)
{
	struct in_addr a;
	if (inet_pton(AF_INET, val, &a) != 1)
		return fail(err, errlen, "--%s %s: not an IPv4 address (A.B.C.D)", name, val);
	const char *why = bp_unicast_problem(a.s_addr);
	if (why) {
		snprintf(err, errlen, "--%s %s: %s; give the node's own unicast address", name, val,
			 why);
		return -EINVAL;
	}
	*out = a.s_addr;
	return 0;
}

static int parse_id_range(const struct option_spec *o, const char *val, uint64_t *pair, char *err,
			  size_t errlen)
{
	const char *dash = strchr(val, '-');
	char first[32];
	if (!dash || (size_t)(dash - val) >= sizeof(first))
		return fail(err, errlen, "--%s %s: expected FIRST-LAST, e.g. 1-1000", o->name, val);
	memcpy(first, val, (size_t)(dash - val));
	first[dash - val] = '\0';
	uint64_t a, b;
	if (parse_u64(o->name, first, o->min, o->max, &a, err, errlen) ||
	    parse_u64(o->name, dash + 1, o->min, o->max, &b, err, errlen))
		return -EINVAL;
	if (a > b)
		return fail(err, errlen, "--%s %s: FIRST must not exceed LAST", o->name, val);
	pair[0] = a;
	pair[1] = b;
	return 0;
}

/* Whole-string decimal in [min, max] (ids and ports); one too long for
 * strtoull comes back as ULLONG_MAX, out of range. */
static bool parse_small(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	size_t n = strspn(s, "0123456789");
	if (n == 0 || s[n] != '\0')
		return false;
	uint64_t v = strtoull(s, NULL, 10);
	if (v < min || v > max)
		return false;
	*out = v;
	return true;
}

int bp_peer_append(struct bp_config *cfg, const char *id, const char *address, char *err,
		   size_t errlen)
{
	uint64_t v, port = 0;
	if (cfg->npeers >= BP_MAX_PEERS) {
		snprintf(err, errlen, "more than %d peers: a cluster is at most %d nodes",
			 BP_MAX_PEERS, BP_MAX_PEERS + 1);
		return -E2BIG;
	}
	if (!parse_small(id, 1, 65535, &v)) {
		snprintf(err, errlen, "the id '%s' is not a node id (1..65535)", id);
		return -EINVAL;
	}
	const char *colon = strchr(address, ':');
	size_t ip_len = colon ? (size_t)(colon - address) : strlen(address);
	char ip_text[INET_ADDRSTRLEN];
	struct in_addr a;
	if (ip_len < sizeof(ip_text)) {
		memcpy(ip_text, address, ip_len);
		ip_text[ip_len] = '\0';
	}
	if (ip_len >= sizeof(ip_text) || inet_pton(AF_INET, ip_text, &a) != 1) {
		snprintf(err, errlen, "'%.*s' is not an IPv4 address (A.B.C.D)", (int)ip_len,
			 address);
		return -EINVAL;
	}
	const char *why = bp_unicast_problem(a.s_addr);
	if (why) {
		snprintf(err, errlen, "%s is %s, not a node's own (unicast) address", ip_text, why);
		return -EINVAL;
	}
	if (colon && !parse_small(colon + 1, 1, 65535, &port)) {
		snprintf(err, errlen, "the port '%s' is not a UDP port (1..65535)", colon + 1);
		return -EINVAL;
	}
	cfg->peers[cfg->npeers++] = (struct bp_peer){(uint16_t)v, a.s_addr, (uint16_t)port};
	return 0;
}

/* --peer ID@A.B.C.D[:PORT]: the id and the address apart. */
static int parse_peer_option(struct bp_config *cfg, const struct option_spec *o, const char *val,
			     char *err, size_t errlen)
{
	const char *at = strchr(val, '@');
	char id[8], why[160];
	int rc = -EINVAL;
	if (!at)
		snprintf(why, sizeof(why), "no '@' between the id and the address");
	else if ((size_t)(at - val) >= sizeof(id))
		snprintf(why, sizeof(why), "the id '%.*s' is not a node id (1..65535)",
			 (int)(at - val), val);
	else {
		memcpy(id, val, (size_t)(at - val));
		id[at - val] = '\0';
		rc = bp_peer_append(cfg, id, at + 1, why, sizeof(why));
	}
	if (rc == -E2BIG)
		snprintf(err, errlen, "--%s '%s': %s", o->name, val, why);
	else if (rc != 0)
		snprintf(err, errlen,
			 "--%s '%s': %s; expected ID@A.B.C.D[:PORT], e.g. 2@198.18.0.12 or "
			 "2@198.18.0.12:7601",
			 o->name, val, why);
	return rc ? -EINVAL : 0;
}

bool bp_key_name_valid(const char *name)
{
	size_t n = strlen(name);
	return n >= 1 && n <= 64 &&
	       strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") ==
		   n;
}

/* One endpoint, [s, s+len): http://HOST:PORT[/]. */
static int etcd_url_check(const char *s, size_t len, char *err, size_t errlen)
{
	static const char scheme[] = "http://";
	char url[BP_ETCD_MAX];
	snprintf(url, sizeof(url), "%.*s", (int)len, s);
	if (strncmp(url, "https://", 8) == 0) {
		snprintf(err, errlen,
			 "'%s': https is not supported; give the etcd member's plain http "
			 "endpoint, e.g. http://127.0.0.1:2379",
			 url);
		return -EINVAL;
	}
	if (strncmp(url, scheme, sizeof(scheme) - 1) != 0) {
		snprintf(err, errlen,
			 "'%s': not an http:// URL; expected http://HOST:PORT, e.g. "
			 "http://127.0.0.1:2379",
			 url);
		return -EINVAL;
	}
	const char *host = url + sizeof(scheme) - 1;
	const char *colon = strrchr(host, ':');
	size_t host_len = colon ? (size_t)(colon - host) : 0;
	bool host_ok =
	    host_len > 0 && host_len < 254 &&
	    strspn(host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789.-") ==
		host_len;
	char *slash = colon ? strchr(colon, '/') : NULL;
	if (slash && slash[1] == '\0')
		*slash = '\0'; /* a trailing '/' only */
	uint64_t port = 0;
	if (!host_ok || !parse_small(colon + 1, 1, 65535, &port)) {
		snprintf(err, errlen,
			 "'%s': expected http://HOST:PORT with a host name or IPv4 address and "
			 "a port 1..65535 (no path), e.g. http://127.0.0.1:2379",
			 url);
		return -EINVAL;
	}
	return 0;
}

int bp_etcd_urls_check(const char *list, char *err, size_t errlen)
{
	unsigned int count = 0;
	const char *s = list;
	for (;;) {
		size_t len = strcspn(s, ",");
		if (len == 0) {
			snprintf(err, errlen,
				 "'%s': an empty endpoint; separate URLs with single commas, e.g. "
				 "http://10.0.0.1:2379,http://10.0.0.2:2379",
				 list);
			return -EINVAL;
		}
		if (++count > BP_ETCD_MAX_URLS) {
			snprintf(err, errlen, "'%s': more than %d endpoints; give at most %d", list,
				 BP_ETCD_MAX_URLS, BP_ETCD_MAX_URLS);
			return -EINVAL;
		}
		int rc = etcd_url_check(s, len, err, errlen);
		if (rc != 0)
			return rc;
		if (s[len] == '\0')
			return 0;
		s += len + 1;
	}
}

static int set_text(const struct option_spec *o, const char *val, char *dst, char *err,
		    size_t errlen)
{
	if (o->kind == OPTION_NAME && (strlen(val) >= o->size || !bp_instance_name_valid(val)))
		return fail(err, errlen,
			    "--%s '%s': 1 to 63 letters, digits, '_', '.' or '-' (not . or ..)",
			    o->name, val);
	if (o->kind == OPTION_KEY_NAME && !bp_key_name_valid(val))
		return fail(err, errlen,
			    "--%s '%s': 1 to 64 letters, digits, '_' or '-' (it is part of etcd "
			    "keys: /NAME/leader), e.g. --cluster-name bidplane-eu",
			    o->name, val);
	if (val[0] == '\0' || strlen(val) >= o->size)
		return fail(err, errlen, "--%s '%s': empty or too long", o->name, val);
	if (o->kind == OPTION_ETCD_URLS) {
		char why[BP_ETCD_MAX + 200];
		if (bp_etcd_urls_check(val, why, sizeof(why)) != 0) {
			snprintf(err, errlen, "--%s %s", o->name, why);
			return -EINVAL;
		}
	}
	memcpy(dst, val, strlen(val) + 1);
	return 0;
}

int bp_option_apply(struct bp_config *cfg, const struct option_spec *o, const char *val, bool flag,
		    char *err, size_t errlen)
{
	void *field = field_of(cfg, o);
	uint64_t v;
	int rc;
	switch (o->kind) {
	case OPTION_UNSIGNED:
	case OPTION_POW2:
		rc = parse_u64(o->name, val, o->min, o->max, &v, err, errlen);
		if (rc == 0 && o->kind == OPTION_POW2 && (v & (v - 1)) != 0)
			return fail(err, errlen, "--%s %s: must be a power of two", o->name, val);
		if (rc == 0)
			store_unsigned(field, o->size, v);
		return rc;
	case OPTION_SIGNED:
		return parse_signed(o, val, field, err, errlen);
	case OPTION_FLAG:
		*(bool *)field = flag;
		return 0;
	case OPTION_NOT_FLAG:
		*(bool *)field = !flag;
		return 0;
	case OPTION_ACTION:
		*(bool *)field = true;
		return 0;
	case OPTION_PATH:
	case OPTION_NAME:
	case OPTION_CONFIG:
	case OPTION_ETCD_URLS:
	case OPTION_KEY_NAME:
		return set_text(o, val, field, err, errlen);
	case OPTION_UNICAST:
		return parse_unicast_ip(o->name, val, field, err, errlen);
	case OPTION_ID_RANGE:
		return parse_id_range(o, val, field, err, errlen);
	case OPTION_PEER:
		return parse_peer_option(cfg, o, val, err, errlen);
	case OPTION_REPLACED:
		snprintf(err, errlen, "--%s %s: %s", o->name, val ? val : "", o->help);
		return -EINVAL;
	case OPTION_LOG_LEVEL:
		for (unsigned int i = 0; i < sizeof(log_levels) / sizeof(log_levels[0]); i++)
			if (strcmp(val, log_levels[i]) == 0) {
				*(uint32_t *)field = LOG_LEVEL_FIRST + i;
				return 0;
			}
		return fail(err, errlen, "--%s %s: one of error, warning, notice, info, debug",
			    o->name, val);
	case OPTION_DURABILITY:
		for (unsigned int i = 0; i < DURABILITY_NAMES; i++)
			if (strcmp(val, durability_names[i]) == 0) {
				*(uint32_t *)field = i;
				return 0;
			}
		return fail(err, errlen, "--%s %s: one of sync, async, off", o->name, val);
	case OPTION_HELP:
	case OPTION_VERSION:
		break;
	}
	return fail(err, errlen, "unknown option %s%s", o->name, "");
}

/* An INI value of a flag option ("true", "no", ...). */
int bp_option_parse_bool(const struct option_spec *o, const char *val, bool *out, char *err,
			 size_t errlen)
{
	return parse_bool(o->name, val, out, err, errlen);
}

void bp_config_defaults(struct bp_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (const struct option_spec *o = bp_options; o->name; o++) {
		void *field = field_of(cfg, o);
		switch (o->kind) {
		case OPTION_UNSIGNED:
		case OPTION_POW2:
			store_unsigned(field, o->size, o->def);
			break;
		case OPTION_NOT_FLAG:
		case OPTION_FLAG:
			*(bool *)field = o->def != 0;
			break;
		case OPTION_NAME:
		case OPTION_KEY_NAME:
			snprintf(field, o->size, "%s", o->def_text);
			break;
		case OPTION_LOG_LEVEL:
		case OPTION_DURABILITY:
			*(uint32_t *)field = (uint32_t)o->def;
			break;
		default:
			break; /* 0, empty, or derived after parsing (paths) */
		}
	}
}

/* Writes text from column `indent`, wrapped before column 80. */
static void wrap(FILE *out, const char *text, int col, int indent)
{
	while (*text) {
		const char *end = text + strcspn(text, " ");
		int word = (int)(end - text);
		if (col + 1 + word > 80 && col > indent) {
			fprintf(out, "\n%*s", indent, "");
			col = indent;
		} else if (col > indent) {
			fputc(' ', out);
			col++;
		}
		fwrite(text, 1, (size_t)word, out);
		col += word;
		text = *end ? end + 1 : end;
	}
	fputc('\n', out);
}

#define HELP_COLUMN 26

static void usage_entry(FILE *out, const struct option_spec *o)
{
	char head[64], help[512];
	int n = snprintf(head, sizeof(head), "  %s%s%s%s", o->kind == OPTION_HELP ? "-h, " : "",
			 "--", o->name, "");
	if (o->arg)
		n += snprintf(head + n, sizeof(head) - (size_t)n, " %s", o->arg);
	size_t h = (size_t)snprintf(help, sizeof(help), "%s", o->help);
	if (o->kind == OPTION_UNSIGNED || o->kind == OPTION_POW2)
		snprintf(help + h, sizeof(help) - h,
			 " (%" PRIu64 "..%" PRIu64 ", default %" PRIu64 ")", o->min, o->max,
			 o->def);
	else if (o->kind == OPTION_SIGNED)
		snprintf(help + h, sizeof(help) - h, " (-%" PRIu64 "..%" PRIu64 ", default 0)",
			 o->max, o->max);
	else if (o->kind == OPTION_ID_RANGE)
		snprintf(help + h, sizeof(help) - h, " (%" PRIu64 "..%" PRIu64 ", default %s)",
			 o->min, o->max, o->def_text);
	else if (o->def_text)
		snprintf(help + h, sizeof(help) - h, " (default %s)", o->def_text);
	fputs(head, out);
	int col = n;
	if (col >= HELP_COLUMN) {
		fprintf(out, "\n%*s", HELP_COLUMN, "");
		col = HELP_COLUMN;
	} else {
		fprintf(out, "%*s", HELP_COLUMN - col, "");
		col = HELP_COLUMN;
	}
	wrap(out, help, col - 1, HELP_COLUMN);
}

void bp_config_usage(FILE *out, const char *prog)
{
	fprintf(out,
		"usage: %s [EAL options] -- [options]\n"
		"\n"
		"A bid-ingestion node: answers bidplane protocol v1 (UDP) on every DPDK port.\n"
		"The main lcore runs the control thread, every other lcore one worker.\n"
		"\n"
		"Every number is decimal; its range is given as MIN..MAX.\n",
		prog);
	for (const struct option_spec *o = bp_options; o->name; o++) {
		if (o->kind == OPTION_REPLACED)
			continue;
		if (o->heading)
			fprintf(out, "\n%s:\n", o->heading);
		usage_entry(out, o);
	}
	fprintf(out,
		"\nExample (memif, no hugepages, one worker):\n"
		"  %s --no-huge -m 512 -l 0-1 \\\n"
		"      --vdev=net_memif0,role=server,socket=/tmp/bp.sock -- \\\n"
		"      --ip 198.18.0.2 --open-range 1-1000\n",
		prog);
}

/* The [peers] section, every port written out: read back, it gives the
 * same peers whatever --peer-port is then. */
static void dump_peers(FILE *out, const struct bp_config *cfg)
{
	if (cfg->npeers == 0)
		return;
	fputs("[peers]\n", out);
	for (unsigned int i = 0; i < cfg->npeers && i < BP_MAX_PEERS; i++) {
		const struct bp_peer *p = &cfg->peers[i];
		char ip[INET_ADDRSTRLEN];
		inet_ntop(AF_INET, &p->ip, ip, sizeof(ip));
		fprintf(out, "%u = %s:%u\n", p->id, ip, p->port ? p->port : cfg->peer_port);
	}
}

void bp_config_dump(FILE *out, const struct bp_config *cfg)
{
	fputs("[node]\n", out);
	for (const struct option_spec *o = bp_options; o->name; o++) {
		const void *field = (const char *)cfg + o->offset;
		switch (o->kind) {
		case OPTION_UNSIGNED:
		case OPTION_POW2:
			fprintf(out, "%s = %" PRIu64 "\n", o->name, load_unsigned(field, o->size));
			break;
		case OPTION_SIGNED:
			fprintf(out, "%s = %" PRId64 "\n", o->name, *(const int64_t *)field);
			break;
		case OPTION_FLAG:
			fprintf(out, "%s = %s\n", o->name, *(const bool *)field ? "true" : "false");
			break;
		case OPTION_NOT_FLAG:
			fprintf(out, "%s = %s\n", o->name, *(const bool *)field ? "false" : "true");
			break;
		case OPTION_PATH:
		case OPTION_NAME:
		case OPTION_ETCD_URLS:
		case OPTION_KEY_NAME:
			if (*(const char *)field) /* an empty path: none */
				fprintf(out, "%s = %s\n", o->name, (const char *)field);
			break;
		case OPTION_UNICAST: {
			char ip[INET_ADDRSTRLEN];
			inet_ntop(AF_INET, field, ip, sizeof(ip));
			fprintf(out, "%s = %s\n", o->name, ip);
			break;
		}
		case OPTION_LOG_LEVEL: {
			uint32_t level = *(const uint32_t *)field;
			fprintf(out, "%s = %s\n", o->name,
				level >= LOG_LEVEL_FIRST && level < LOG_LEVEL_FIRST + 5
				    ? log_levels[level - LOG_LEVEL_FIRST]
				    : "info");
			break;
		}
		case OPTION_DURABILITY:
			fprintf(out, "%s = %s\n", o->name,
				bp_durability_name(*(const uint32_t *)field));
			break;
		case OPTION_ID_RANGE: {
			const uint64_t *pair = field;
			if (pair[0])
				fprintf(out, "%s = %" PRIu64 "-%" PRIu64 "\n", o->name, pair[0],
					pair[1]);
			break;
		}
		default:
			break; /* --config, --help, replaced options; peers below */
		}
	}
	for (const struct option_spec *o = bp_options; o->name; o++)
		if (o->kind == OPTION_PEER)
			dump_peers(out, cfg);
}
