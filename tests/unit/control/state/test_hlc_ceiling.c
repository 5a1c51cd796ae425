/* SPDX-License-Identifier: BSD-3-Clause */
/* The HLC ceiling (control/hlc_ceiling.h) and the durable number files
 * under it (control/durable_file.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "durable_file.h"
#include "hlc.h"
#include "hlc_ceiling.h"

#define DRIFT_MS 500

static char dir[64];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/bp-ut-ceiling-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *text)
{
	char path[128];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void numbers_round_trip_and_garbage_is_refused(void **state)
{
	(void)state;
	uint64_t v = 7;
	assert_int_equal(durable_u64_read(dir, "n", &v), -ENOENT);
	assert_int_equal(durable_u64_write(dir, "n", UINT64_MAX), 0);
	assert_int_equal(durable_u64_read(dir, "n", &v), 0);
	assert_true(v == UINT64_MAX);
	const char *bad[] = {"", "x", "12x", "-1", " 5", "5\n6", "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file("n", bad[i]);
		assert_int_equal(durable_u64_read(dir, "n", &v), -EBADMSG);
	}
	/* A leftover temporary (or anything planted there) is replaced. */
	write_file("n.tmp", "junk");
	assert_int_equal(durable_u64_write(dir, "n", 42), 0);
	assert_int_equal(durable_u64_read(dir, "n", &v), 0);
	assert_int_equal(v, 42);
}

static void a_symlink_is_not_followed(void **state)
{
	(void)state;
	char target[128], link[128];
	snprintf(target, sizeof(target), "%s/target", dir);
	snprintf(link, sizeof(link), "%s/%s", dir, HLC_CEILING_FILE);
	write_file("target", "123\n");
	assert_int_equal(symlink(target, link), 0);
	uint64_t v;
	assert_int_equal(durable_u64_read(dir, HLC_CEILING_FILE, &v), -ELOOP);
	unlink(link);
}

static void the_ceiling_stays_a_lease_ahead_and_persists(void **state)
{
	(void)state;
	struct hlc_ceiling c;
	uint64_t previous = 1;
	char err[256];
	assert_int_equal(hlc_ceiling_load(&c, dir, DRIFT_MS, &previous, err, sizeof(err)), 0);
	assert_int_equal(previous, 0); /* a first life */
	uint64_t now = hlc_make(1000000, 5);
	assert_false(hlc_ceiling_covers(&c, now, DRIFT_MS)); /* nothing durable yet */
	assert_int_equal(hlc_ceiling_renew(&c, now), 0);
	uint64_t lease = DRIFT_MS + HLC_CEILING_MARGIN_MS;
	assert_true(c.published == hlc_make(1000000 + lease, 0));
	assert_true(hlc_ceiling_covers(&c, now, DRIFT_MS));
	/* No write while more than the drift bound and half the margin is
	 * left ... */
	uint64_t renew_after = HLC_CEILING_MARGIN_MS / 2;
	assert_int_equal(hlc_ceiling_renew(&c, hlc_make(1000000 + renew_after - 1, 0)), 0);
	assert_int_equal(c.renewals, 1);
	/* ... then a new one, a whole lease ahead again. */
	uint64_t later = hlc_make(1000000 + renew_after + 1, 0);
	assert_int_equal(hlc_ceiling_renew(&c, later), 0);
	assert_int_equal(c.renewals, 2);
	assert_true(c.published == hlc_make(hlc_ms(later) + lease, 0));
	/* Stamps within the drift bound of the ceiling are not covered. */
	assert_false(hlc_ceiling_covers(&c, c.published - hlc_make(DRIFT_MS, 0), DRIFT_MS));

	/* The next life reads what this one persisted last. */
	uint64_t last = c.published;
	struct hlc_ceiling next;
	assert_int_equal(hlc_ceiling_load(&next, dir, DRIFT_MS, &previous, err, sizeof(err)), 0);
	assert_true(previous == last);
}

/* For any drift bound, a ceiling renewed every 50 ms keeps covering the
 * clock: renewal comes before the drift bound reaches the ceiling. */
static void covers_holds_between_renewals_for_any_drift(void **state)
{
	(void)state;
	static const uint64_t drifts[] = {0, 500, 1000, 3000, 60000};
	for (size_t d = 0; d < sizeof(drifts) / sizeof(drifts[0]); d++) {
		struct hlc_ceiling c;
		uint64_t previous;
		char err[256];
		assert_int_equal(hlc_ceiling_load(&c, dir, drifts[d], &previous, err, sizeof(err)),
				 0);
		uint64_t t0 = 2000000 + d * 1000000;
		for (uint64_t ms = t0; ms < t0 + 20000; ms++) {
			if ((ms - t0) % 50 == 0)
				assert_int_equal(hlc_ceiling_renew(&c, hlc_make(ms, 0xffff)), 0);
			if (!hlc_ceiling_covers(&c, hlc_make(ms, 0xffff), drifts[d]))
				fail_msg("drift %llu: not covered at +%llu ms",
					 (unsigned long long)drifts[d],
					 (unsigned long long)(ms - t0));
		}
		/* ... with a write only every so often, not every check. */
		assert_true(c.renewals < 20000 / 50);
	}
}

static void a_failed_write_is_not_published(void **state)
{
	(void)state;
	char sub[96];
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	assert_int_equal(mkdir(sub, 0755), 0);
	struct hlc_ceiling c;
	uint64_t previous;
	char err[256];
	assert_int_equal(hlc_ceiling_load(&c, sub, DRIFT_MS, &previous, err, sizeof(err)), 0);
	assert_int_equal(rmdir(sub), 0); /* the state dir is gone */
	assert_int_equal(hlc_ceiling_renew(&c, hlc_make(5000, 0)), -ENOENT);
	assert_int_equal(c.published, 0);
	assert_int_equal(c.failures, 1);
	assert_false(hlc_ceiling_covers(&c, hlc_make(5000, 0), DRIFT_MS));
}

static void a_damaged_ceiling_refuses_the_start(void **state)
{
	(void)state;
	write_file(HLC_CEILING_FILE, "not a stamp\n");
	struct hlc_ceiling c;
	uint64_t previous;
	char err[256];
	assert_int_equal(hlc_ceiling_load(&c, dir, DRIFT_MS, &previous, err, sizeof(err)),
			 -EBADMSG);
	assert_non_null(strstr(err, HLC_CEILING_FILE));
	assert_non_null(strstr(err, "restore it"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(numbers_round_trip_and_garbage_is_refused, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(a_symlink_is_not_followed, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(the_ceiling_stays_a_lease_ahead_and_persists, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(covers_holds_between_renewals_for_any_drift, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(a_failed_write_is_not_published, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(a_damaged_ceiling_refuses_the_start, make_dir,
					    remove_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
