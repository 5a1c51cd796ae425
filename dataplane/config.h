/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The node's configuration: defaults, the INI file (--config FILE: section
 * [node], keys named like the long options without the leading dashes, '-'
 * or '_' alike; section [peers], lines ID = A.B.C.D[:PORT]) and the command
 * line (which wins: any --peer there replaces the file's whole [peers]).
 *
 * Threads: main thread only, before workers start. Library code: reports
 * errors in the caller's buffer and never exits.
 */
#ifndef BIDPLANE_CONFIG_H
#define BIDPLANE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BP_NAME_MAX 64
#define BP_PATH_MAX 256
/* --etcd: up to BP_ETCD_MAX_URLS endpoints, comma-separated. */
#define BP_ETCD_MAX	 1024
#define BP_ETCD_MAX_URLS 8
/* --cluster-name: at most 64 characters, the field one more. */
#define BP_CLUSTER_NAME_MAX 65

/* A cluster is at most 16 nodes (CLUSTER.md): this one and 15 peers. */
#define BP_MAX_PEERS	     15
#define BP_DEFAULT_PEER_PORT 7601

struct bp_peer {
	uint16_t id;   /* 1..65535, not this node's */
	uint32_t ip;   /* network order, unicast */
	uint16_t port; /* host order; 0 (the node's --peer-port) only while parsing */
};

/*
 * The longest auction: 10 years of 365 days. Any longer is a typo, and the
 * bound keeps now + duration far inside the HLC's 48-bit millisecond field
 * (year 10889) with no overflow in the arithmetic. bidctl's open and the
 * control protocol use the same bound (CTL_DURATION_MAX_S in ctl.h).
 */
/* The one hint every option error ends with. */
#define BP_HELP_HINT "(see bidplane -- --help)"

#define BP_DURATION_MAX_S (10u * 365 * 24 * 3600)

/* --durability (docs/WAL.md "Durability modes"): what an ACCEPTED reply
 * promises about the write-ahead log under --state-dir. */
enum bp_durability {
	BP_DURABILITY_OFF = 0,	 /* no log: a restart forgets the bids */
	BP_DURABILITY_ASYNC = 1, /* replies at once; the log at most --async-window-ms behind */
	BP_DURABILITY_SYNC = 2,	 /* an ACCEPTED reply leaves once its record is durable */
};

/* "off", "async", "sync". */
const char *bp_durability_name(uint32_t d);

struct bp_config {
	uint32_t ip; /* network order; required (--ip) */
	uint16_t udp_port;
	uint16_t node_id; /* 1..65535, unique in the cluster (CLUSTER.md) */

	/* --open-range FIRST-LAST: auctions opened at start (0-0: none). */
	uint64_t open_first;
	uint64_t open_last;
	uint64_t reserve;
	uint64_t increment;
	uint64_t duration_s;

	uint32_t max_auctions;
	uint32_t dedup_seconds; /* answers kept at least this long */
	uint32_t dedup_rate;	/* new keys per second the table is built for */
	uint64_t max_drift_ms;
	int64_t clock_offset_ms; /* fault injection: the wall clock shifted by this */
	uint32_t peer_window;	 /* unacknowledged messages in flight per peer */

	/* The cluster (CLUSTER.md): static membership, --peer ID@A.B.C.D[:PORT]
	 * or INI [peers] lines ID = A.B.C.D[:PORT]. npeers 0: a lone node. */
	uint16_t peer_port; /* UDP port of node-to-node messages, default 7601 */
	unsigned int npeers;
	struct bp_peer peers[BP_MAX_PEERS];
	char cluster_key_file[BP_PATH_MAX]; /* required with any peer */
	/* Leadership (CLUSTER.md, docs/LEADERSHIP.md): --etcd URL[,URL...],
	 * empty for the embedded default (a lone node is its own leader). */
	char etcd[BP_ETCD_MAX];
	char cluster_name[BP_CLUSTER_NAME_MAX]; /* [A-Za-z0-9_-]{1,64}: the etcd key prefix */
	uint32_t lease_ttl_s;			/* the etcd lease, 2..60 s */

	char control_socket[BP_PATH_MAX]; /* default: /run/bidplane/<stats-name>.sock */
	char stats_name[BP_NAME_MAX];
	char stats_group[BP_NAME_MAX]; /* "none": the segment's owner only */
	uint32_t stats_auctions;       /* auctions with their own stats entries */
	char state_dir[BP_PATH_MAX];   /* default: /var/lib/bidplane/<stats-name> */
	uint32_t durability;	       /* enum bp_durability (--durability) */
	uint32_t async_window_ms;      /* async: most the log may lag the replies */
	uint32_t snapshot_interval_s;  /* a snapshot every N s (0: not by time) */
	uint32_t snapshot_log_mb;      /* and once the log since the last passes N MiB (0: not) */
	uint32_t wal_segment_mb;       /* a segment rolls over past N MiB */
	char config_file[BP_PATH_MAX];

	/* Worker loop. */
	bool idle_backoff;	   /* --no-idle-backoff turns it off */
	uint32_t idle_spin_polls;  /* empty polls before sleeping */
	uint32_t idle_sleep_us;	   /* sleep per empty poll after that */
	uint32_t overload_backlog; /* RX descriptors pending before shedding */
	uint32_t stall_budget_ms;  /* reader stall the retirement queues absorb */
	uint16_t rx_desc;
	uint16_t tx_desc;

	uint32_t log_level; /* RTE_LOG_ERR .. RTE_LOG_DEBUG (--log-level) */

	/* Preflight. */
	bool fallback_no_huge; /* add --no-huge -m 512 when hugepages are missing */

	/* Actions instead of running (command line only). */
	bool check_config; /* check everything that can be without EAL, then exit */
	bool print_config; /* print the effective configuration as INI, then exit */
};

/* Fills *cfg with the defaults (every field above has one but ip). */
void bp_config_defaults(struct bp_config *cfg);

/*
 * Parses the application arguments (those after EAL's "--"), reading the
 * --config file first so the command line wins. Returns 0, 1 when --help
 * or --version was asked (already printed to stdout), or -EINVAL with a one-line
 * message in err that names the bad option, the value and its range (a
 * --config file's errors also the file and line). The messages carry no
 * "see --help" hint: the caller adds the one hint, BP_HELP_HINT.
 */
int bp_config_parse(int argc, char **argv, struct bp_config *cfg, char *err, size_t errlen);

/* Checks cross-field rules (ip set, range order, limits; the cluster's:
 * peers' ids and addresses distinct from each other and from this node,
 * --peer-port apart from --udp-port, --cluster-key-file with any peer).
 * 0 or -EINVAL with the problem and its fix in err. The key file itself is
 * read by the node (cluster_key_load), not here. */
int bp_config_validate(const struct bp_config *cfg, char *err, size_t errlen);

void bp_config_usage(FILE *out, const char *prog);

/* "bidplane VERSION" (meson's project version), one line. */
void bp_config_version(FILE *out);

/*
 * For --check-config: what can be checked without starting anything. The
 * control socket's path fits a unix socket address; --state-dir and the
 * control socket's directory are writable directories, or can be created
 * (their nearest existing parent is one). 0, or -EINVAL with the problem
 * and its fix in err. A stats group that does not exist is no error (the
 * node runs, its segment readable by root only): warn gets a line on it.
 */
int bp_config_check_host(const struct bp_config *cfg, FILE *warn, char *err, size_t errlen);

/* Whether name (without the dashes) is one of the long options above. */
bool bp_config_has_option(const char *name);

/* Writes the effective configuration as INI (for the log and bidctl). */
void bp_config_dump(FILE *out, const struct bp_config *cfg);

#endif
