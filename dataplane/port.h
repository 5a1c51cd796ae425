/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Port setup: every available DPDK port gets one RX and one TX queue per
 * worker, RSS across them when the port offers it, and the packet pool.
 *
 * Threads: main thread, after EAL init and before workers launch (setup),
 * after they stop (teardown). Errors are returned with a message; the
 * caller decides to exit.
 */
#ifndef BIDPLANE_PORT_H
#define BIDPLANE_PORT_H

#include <stddef.h>

#include "node.h"

/* Sets up n->nports ports, n->filter[] and n->pktmbuf_pool. */
int ports_setup(struct node *n, char *err, size_t errlen);
int ports_start(struct node *n, char *err, size_t errlen);
void ports_stop(struct node *n);

#endif
