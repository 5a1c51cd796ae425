/* SPDX-License-Identifier: BSD-3-Clause */
/* The embedded fencing epoch: grows by one per start, durable, never reset. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fencing.h"

static char dir[] = "/tmp/bp-fencing-XXXXXX";

static int make_dir(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/bp-fencing-XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
	(void)state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd);
}

static void epoch_grows_by_one_per_start(void **state)
{
	(void)state;
	char err[256];
	uint64_t e = 0;
	char sub[128];
	snprintf(sub, sizeof(sub), "%s/a/b", dir); /* created on demand */
	assert_int_equal(fencing_advance(sub, &e, err, sizeof(err)), 0);
	assert_int_equal(e, 1);
	assert_int_equal(fencing_advance(sub, &e, err, sizeof(err)), 0);
	assert_int_equal(e, 2);

	char path[160], buf[32] = {0};
	snprintf(path, sizeof(path), "%s/fencing_epoch", sub);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "2\n");
}

static void corrupt_epoch_is_refused_not_reset(void **state)
{
	(void)state;
	char err[256], path[160];
	uint64_t e = 99;
	snprintf(path, sizeof(path), "%s/fencing_epoch", dir);
	FILE *f = fopen(path, "w");
	fputs("garbage\n", f);
	fclose(f);
	assert_int_equal(fencing_advance(dir, &e, err, sizeof(err)), -EBADMSG);
	assert_int_equal(e, 99);
	assert_non_null(strstr(err, "fencing_epoch"));
}

static void unusable_state_dir_is_an_error_naming_it(void **state)
{
	(void)state;
	char err[256], file[160], sub[200];
	uint64_t e = 0;
	snprintf(file, sizeof(file), "%s/plainfile", dir);
	FILE *f = fopen(file, "w");
	fclose(f);
	snprintf(sub, sizeof(sub), "%s/below", file);
	assert_true(fencing_advance(sub, &e, err, sizeof(err)) < 0);
	assert_non_null(strstr(err, "--state-dir"));
}

/* One node per state dir: the second lock names the first's pid. */
static void a_state_dir_is_locked_by_one_node(void **state)
{
	(void)state;
	char err[256], pid[64];
	int first, second;
	assert_int_equal(fencing_lock(dir, &first, err, sizeof(err)), 0);
	assert_int_equal(fencing_lock(dir, &second, err, sizeof(err)), -EBUSY);
	assert_int_equal(second, -1);
	snprintf(pid, sizeof(pid), "in use by the running node pid %d", (int)getpid());
	assert_non_null(strstr(err, pid));
	assert_non_null(strstr(err, "own --state-dir"));
	close(first); /* the node exited */
	assert_int_equal(fencing_lock(dir, &second, err, sizeof(err)), 0);
	close(second);
}

/* Not a directory, at start: refused with the fix, not NOT_SERVING. */
static void a_state_dir_that_is_a_file_is_refused(void **state)
{
	(void)state;
	char err[256], file[160], sub[200];
	int fd;
	snprintf(file, sizeof(file), "%s/plainfile", dir);
	FILE *f = fopen(file, "w");
	fclose(f);
	assert_int_equal(fencing_lock(file, &fd, err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, "is not a directory"));
	assert_non_null(strstr(err, "pass a directory"));
	snprintf(sub, sizeof(sub), "%s/below", file);
	assert_int_equal(fencing_lock(sub, &fd, err, sizeof(err)), -ENOTDIR);
	assert_non_null(strstr(err, sub));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(epoch_grows_by_one_per_start, make_dir, remove_dir),
	    cmocka_unit_test_setup_teardown(corrupt_epoch_is_refused_not_reset, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(unusable_state_dir_is_an_error_naming_it, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(a_state_dir_is_locked_by_one_node, make_dir,
					    remove_dir),
	    cmocka_unit_test_setup_teardown(a_state_dir_that_is_a_file_is_refused, make_dir,
					    remove_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
