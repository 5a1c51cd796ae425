/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bidstat's outputs: the live text view (bidstat_view.c), JSON and the
 * Prometheus exposition (bidstat_export.c). Each prints one update from
 * the current snapshot and, for rates, the previous one of the same node.
 *
 * Threads: bidstat is single-threaded.
 */
#ifndef BIDPLANE_BIDSTAT_H
#define BIDPLANE_BIDSTAT_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "stats_reader.h"

struct bidstat_update {
	const struct stats_snapshot *now;
	/* The previous snapshot of the same node, or NULL: then rates are
	 * averages since the node started. */
	const struct stats_snapshot *prev;
	bool alive;	    /* the node's process exists */
	bool all;	    /* show zero values too */
	bool auctions;	    /* show the tracked auctions' entries */
	const char *notice; /* "node restarted ...", or NULL */
};

/* Seconds the rates of u are over (> 0). */
double bidstat_interval(const struct bidstat_update *u);

/* Per-second rate of entry i (a counter), value k or the total when k < 0. */
double bidstat_rate(const struct bidstat_update *u, uint32_t i, int k);

/* "running", "exited", or "gone" (running, but its process is not). */
const char *bidstat_state(const struct bidstat_update *u);

/* Whether a process exists and has not exited (a zombie has). */
bool bidstat_pid_alive(int pid);

/* Calls fn for every NAME.bpstats in /dev/shm (NAME without the suffix);
 * returns how many there are. */
int bidstat_each_segment(void (*fn)(const char *name, void *arg), void *arg);

/* --list: every segment here with its node's state, pid, version and start
 * (bidstat_list.c); how many there are. */
int bidstat_list(FILE *out);

/* --clean [NAME...]: removes the segments (and claim files) of nodes that
 * exited or died, claims and temporaries nodes left while starting, and
 * DPDK runtime directories of dead nodes (bidplane-<pid> of a gone pid, or
 * of any prefix whose STATS_RUNTIME_MARKER names the node) that no process
 * uses; with names, only theirs (and their nodes' runtime directories).
 * Never what a running or starting node holds, nor a link, another user's
 * directory, or one holding a directory. Says what it removed. 0, or -EPERM when
 * something could not be removed. */
int bidstat_clean(FILE *out, char **names, int nnames);

void bidstat_print_view(FILE *out, const struct bidstat_update *u, bool clear_screen);
void bidstat_print_json(FILE *out, const struct bidstat_update *u);
void bidstat_print_prometheus(FILE *out, const struct bidstat_update *u);

/* --serve: answers HTTP scrapes of /metrics on listen ("ADDR:PORT") with
 * the Prometheus text of segment `name`, read per scrape, until *stop is
 * set (by a signal handler: it also interrupts the wait). Returns the exit
 * code: 0, or 2 when it cannot listen (the reason printed). */
int bidstat_serve(const char *listen, const char *name, volatile sig_atomic_t *stop);

#endif
