/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One thread's QSBR read-side section that nests: only the outermost
 * enter goes online and only the outermost leave goes offline.
 *
 * Why: rte_rcu_qsbr_thread_offline ends the section whatever called it,
 * so a helper with its own online/offline pair, called inside a caller's
 * section, would leave the caller's remaining reads unprotected (a leading
 * record a worker retires meanwhile is freed under it); and a second
 * thread_online re-reads the token, which reports a quiescent state in the
 * middle of the section. Nesting is still best avoided (a section should
 * only copy), but it must never be unsafe.
 *
 * Threads: the thread that owns `reader`, only.
 */
#ifndef BIDPLANE_RCU_SECTION_H
#define BIDPLANE_RCU_SECTION_H

#include <rte_rcu_qsbr.h>

struct rcu_section {
	struct rte_rcu_qsbr *qs;
	unsigned int reader;
	unsigned int depth; /* sections entered and not left */
};

static inline void rcu_section_enter(struct rcu_section *s)
{
	if (s->depth++ == 0)
		rte_rcu_qsbr_thread_online(s->qs, s->reader);
}

static inline void rcu_section_leave(struct rcu_section *s)
{
	if (s->depth == 0)
		return; /* unbalanced: nothing is open, nothing to end */
	if (--s->depth == 0)
		rte_rcu_qsbr_thread_offline(s->qs, s->reader);
}

#endif
