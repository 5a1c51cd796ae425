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
#include <stdint.h>

#include "pcap.h"
#include "tracker.h"
#include "workload.h"

#define MAX_BURST 256

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
};

/* Asks the node's MAC with ARP; 0 or -1 after a few tries. */
int resolve_mac(struct bidgen *g, volatile sig_atomic_t *stop);
/* Sends and receives until done (count/duration, then --timeout). */
void run(struct bidgen *g, volatile sig_atomic_t *stop);
/* Progress line (stderr). */
void report_progress(const struct bidgen *g, uint64_t now, uint64_t *last_sent, uint64_t *last_recv,
		     uint64_t *last_tsc);
/* Summary, JSON; returns the exit code (1 with --strict and mismatches). */
int report(struct bidgen *g);

#endif
