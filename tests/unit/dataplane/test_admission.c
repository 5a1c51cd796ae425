/* SPDX-License-Identifier: BSD-3-Clause */
/* Admission control (dataplane/admission.h): each port's run of full
 * bursts is its own. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "admission.h"

#define BURST 32

static unsigned int shed_of_burst(const struct admission *a, unsigned int port)
{
	unsigned int shed = 0;
	for (uint32_t i = 0; i < BURST; i++)
		shed += admission_should_shed(a, port, BURST, i);
	return shed;
}

static void sheds_half_a_burst_after_the_backlog(void **state)
{
	(void)state;
	struct admission a;
	admission_init(&a, 3 * BURST, BURST);
	for (int i = 0; i < 2; i++) {
		admission_note_burst(&a, 0, BURST);
		assert_int_equal(shed_of_burst(&a, 0), 0);
	}
	admission_note_burst(&a, 0, BURST);
	assert_int_equal(shed_of_burst(&a, 0), BURST / 2);
	admission_note_burst(&a, 0, BURST - 1); /* a short burst: drained */
	assert_int_equal(shed_of_burst(&a, 0), 0);
}

/* A worker polls every port in turn: a quiet second port must not reset
 * the run of the first, whose queue is backing up. */
static void a_quiet_port_does_not_reset_a_busy_one(void **state)
{
	(void)state;
	struct admission a;
	admission_init(&a, 3 * BURST, BURST);
	for (int i = 0; i < 10; i++) {
		admission_note_burst(&a, 0, BURST);
		admission_note_burst(&a, 1, 0);
	}
	assert_int_equal(shed_of_burst(&a, 0), BURST / 2);
	assert_int_equal(shed_of_burst(&a, 1), 0);
}

static void backlog_zero_never_sheds(void **state)
{
	(void)state;
	struct admission a;
	admission_init(&a, 0, BURST);
	for (int i = 0; i < 100; i++)
		admission_note_burst(&a, 0, BURST);
	assert_int_equal(shed_of_burst(&a, 0), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(sheds_half_a_burst_after_the_backlog),
	    cmocka_unit_test(a_quiet_port_does_not_reset_a_busy_one),
	    cmocka_unit_test(backlog_zero_never_sheds),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
