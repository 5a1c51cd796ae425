/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bidgen's shared state. One lcore (the main one) sends and receives; the
 * same loop prints progress once a second. Nothing here is shared between
 * threads.
 */
#ifndef BIDGEN_H
#define BIDGEN_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "pcap.h"
#include "tracker.h"
#include "workload.h"

#define MAX_BURST 256
/* Requests remembered at once: --window can be at most this. */
#define BIDGEN_TRACK_SLOTS (1u << 20)
#define BIDGEN_PCAP_FRAMES 1000

struct rte_mempool;

struct bidgen {
	/* options */
	uint64_t rate;
	uint64_t duration_s;
	uint64_t count;
	unsigned int burst;
	unsigned int flows;
	uint64_t timeout_ms;
	uint64_t window;	 /* 0: open loop */
	uint32_t dst_ip, src_ip; /* network order */
	uint16_t dst_port;
	uint8_t dst_mac[6];
	bool mac_auto;
	bool strict, echo, quiet;
	const char *json_path;
	FILE *json_file; /* opened by bidgen_open_json, before the run */
	const char *pcap_path;
	struct workload_params wp;

	/* run state */
	uint16_t port;
	uint8_t src_mac[6];
	struct rte_mempool *pool;
	uint64_t tsc_hz;
	struct workload wl;
	struct tracker tr;
	struct pcap_writer pcap;
	uint64_t sent, tx_failed, echo_replies, rx_other;
	uint64_t start_tsc, send_end_tsc, end_tsc;
	uint64_t last_rx_tsc; /* the last reply's arrival: served rate's end */
};

/* options.c, no DPDK: the defaults; --help; the arguments after "--"
 * (argv[0] is the program), 0, 1 when --help was printed, or -1 with a
 * one-line reason in err that names the option, the value and the range. */
void bidgen_defaults(struct bidgen *g);
void bidgen_usage(FILE *out);
int bidgen_parse_args(int argc, char **argv, struct bidgen *g, char *err, size_t errlen);
/* Opens --json FILE for writing now, so that a path it cannot write fails
 * before the run: 0, or -1 with the path and errno in err. */
int bidgen_open_json(struct bidgen *g, char *err, size_t errlen);

/* Asks the node's MAC with ARP; 0 or -1 after a few tries. */
int resolve_mac(struct bidgen *g, volatile sig_atomic_t *stop);
/* Sends and receives until done (count/duration, then --timeout). */
void run(struct bidgen *g, volatile sig_atomic_t *stop);
/* Progress line (stderr). */
void report_progress(const struct bidgen *g, uint64_t now, uint64_t *last_sent, uint64_t *last_recv,
		     uint64_t *last_tsc);
/* report.c, no DPDK. Summary, JSON; returns the exit code: 1 when the JSON
 * file cannot be written, or with --strict on a failed verdict. */
int report(struct bidgen *g);
/* The --strict verdict: 0, or -1 with the reason (and the likely cause)
 * in why. */
int bidgen_strict_verdict(const struct bidgen *g, char *why, size_t whylen);
/* Replies expected but not received; frames that could not be sent are
 * counted in tx_failed and expect none. */
uint64_t bidgen_lost(const struct bidgen *g);

#endif
