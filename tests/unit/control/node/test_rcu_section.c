/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * control/node/rcu_section.h: a section entered inside another keeps the
 * thread online until the outer one is left. The writer's view is what
 * matters: rte_rcu_qsbr_check must not see the reader quiescent while any
 * section is open (what a nested control_online .. control_offline pair
 * inside a merge batch broke: the outer batch's reads went unprotected).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "rcu_section.h"

#define READERS 2

static struct rte_rcu_qsbr *make_qsbr(void)
{
	size_t size = rte_rcu_qsbr_get_memsize(READERS);
	struct rte_rcu_qsbr *qs =
	    aligned_alloc(RTE_CACHE_LINE_SIZE, RTE_ALIGN_CEIL(size, RTE_CACHE_LINE_SIZE));
	assert_non_null(qs);
	assert_int_equal(rte_rcu_qsbr_init(qs, READERS), 0);
	assert_int_equal(rte_rcu_qsbr_thread_register(qs, 1), 0);
	return qs;
}

/* Whether a grace period started now would be over at once: the reader
 * is not inside a section that began before it. */
static int quiescent_now(struct rte_rcu_qsbr *qs)
{
	uint64_t t = rte_rcu_qsbr_start(qs);
	return rte_rcu_qsbr_check(qs, t, false);
}

static void nested_leave_keeps_the_outer_section(void **state)
{
	(void)state;
	struct rte_rcu_qsbr *qs = make_qsbr();
	struct rcu_section s = {.qs = qs, .reader = 1};
	assert_int_equal(quiescent_now(qs), 1); /* registered, offline */
	rcu_section_enter(&s);
	assert_int_equal(quiescent_now(qs), 0);
	rcu_section_enter(&s); /* a helper's own pair, inside */
	rcu_section_leave(&s);
	assert_int_equal(quiescent_now(qs), 0); /* still protected */
	rcu_section_leave(&s);
	assert_int_equal(quiescent_now(qs), 1);
	free(qs);
}

/* A second enter must not report a quiescent state: a grace period begun
 * inside the outer section is not over after the inner enter. */
static void nested_enter_reports_no_quiescent_state(void **state)
{
	(void)state;
	struct rte_rcu_qsbr *qs = make_qsbr();
	struct rcu_section s = {.qs = qs, .reader = 1};
	rcu_section_enter(&s);
	uint64_t t = rte_rcu_qsbr_start(qs);
	rcu_section_enter(&s);
	assert_int_equal(rte_rcu_qsbr_check(qs, t, false), 0);
	rcu_section_leave(&s);
	rcu_section_leave(&s);
	assert_int_equal(rte_rcu_qsbr_check(qs, t, false), 1);
	free(qs);
}

static void an_unbalanced_leave_changes_nothing(void **state)
{
	(void)state;
	struct rte_rcu_qsbr *qs = make_qsbr();
	struct rcu_section s = {.qs = qs, .reader = 1};
	rcu_section_leave(&s);
	assert_int_equal(s.depth, 0);
	rcu_section_enter(&s);
	assert_int_equal(quiescent_now(qs), 0);
	rcu_section_leave(&s);
	assert_int_equal(quiescent_now(qs), 1);
	free(qs);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(nested_leave_keeps_the_outer_section),
	    cmocka_unit_test(nested_enter_reports_no_quiescent_state),
	    cmocka_unit_test(an_unbalanced_leave_changes_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
