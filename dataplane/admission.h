/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Admission control: a run of full RX bursts on a port means its queue is
 * backing up faster than the worker drains it. Shedding then answers the
 * second half of each burst from that port OVERLOADED (cheap: no table or
 * idempotency work) until a burst comes in short, so clients hear "retry
 * later" instead of meeting silent NIC drops. Each port's queue backs up
 * on its own, so each port has its own run: a quiet second port must not
 * reset the first one's.
 *
 * Threads: one struct per worker, used by that worker only.
 */
#ifndef BIDPLANE_ADMISSION_H
#define BIDPLANE_ADMISSION_H

#include <stdbool.h>
#include <stdint.h>

#define ADMISSION_MAX_PORTS 4

struct admission {
	uint32_t burst;		    /* a full burst */
	uint32_t shed_after_bursts; /* 0: admission control off */
	uint32_t full_bursts[ADMISSION_MAX_PORTS];
};

/* backlog: queued frames before shedding starts (0: never shed). */
static inline void admission_init(struct admission *a, uint32_t backlog, uint32_t burst)
{
	*a = (struct admission){.burst = burst};
	if (backlog)
		a->shed_after_bursts = (backlog + burst - 1) / burst;
}

static inline void admission_note_burst(struct admission *a, unsigned int port, uint32_t nb_rx)
{
	if (nb_rx == a->burst)
		a->full_bursts[port]++;
	else
		a->full_bursts[port] = 0;
}

/* Whether item i of a burst of n from `port` is shed. */
static inline bool admission_should_shed(const struct admission *a, unsigned int port, uint32_t n,
					 uint32_t i)
{
	if (a->shed_after_bursts == 0)
		return false;
	return a->full_bursts[port] >= a->shed_after_bursts && i >= n / 2;
}

#endif
