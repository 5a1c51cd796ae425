/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The cluster key file (control/replication/cluster_key.h): a good file
 * loads; each refusal (group/other permissions, symlink, FIFO, directory,
 * missing file, bad length, non-hex, trailing junk, all zeros) fails with
 * its errno and a message naming the fix.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cluster_key.h"

#define GOOD_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F"

static char dir[64];
static char path[128];
static char err[512];

static int make_dir(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/bp-ut-key-XXXXXX");
	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/cluster.key", dir);
	return 0;
}

static int remove_dir(void **state)
{
	(void)state;
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void write_key(const char *name, const char *text, mode_t mode)
{
	char p[160];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	unlink(p);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
}

static int load(const char *name, struct cluster_key *k)
{
	char p[160];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	memset(err, 0, sizeof(err));
	return cluster_key_load(p, k, err, sizeof(err));
}

static void expect_refused(const char *name, int want_errno, const char *hint)
{
	struct cluster_key k = {.bytes = {0xEE}};
	int rc = load(name, &k);
	if (rc != want_errno || !strstr(err, hint))
		print_error("%s: rc %d, message: %s\n", name, rc, err);
	assert_int_equal(rc, want_errno);
	assert_non_null(strstr(err, hint));
	assert_int_equal(k.bytes[0], 0xEE); /* untouched */
}

static void test_good_file(void **state)
{
	(void)state;
	struct cluster_key k;
	for (int i = 0; i < 3; i++) {
		const char *ends[] = {"", "\n", "\r\n"};
		char text[80];
		snprintf(text, sizeof(text), "%s%s", GOOD_HEX, ends[i]);
		write_key("cluster.key", text, 0600);
		assert_int_equal(load("cluster.key", &k), 0);
		assert_string_equal(err, "");
		for (int b = 0; b < CLUSTER_KEY_BYTES; b++)
			assert_int_equal(k.bytes[b], b);
	}
	write_key("cluster.key", GOOD_HEX, 0400);
	assert_int_equal(load("cluster.key", &k), 0);
}

static void test_permissions_refused(void **state)
{
	(void)state;
	const mode_t modes[] = {0640, 0604, 0620, 0602, 0610, 0601, 0644, 0666};
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		write_key("cluster.key", GOOD_HEX, modes[i]);
		expect_refused("cluster.key", -EPERM, "chmod 600");
	}
}

/* A key another user owns (and so could have written) is refused; root's
 * is fine for a root node. Needs root to give the file away. */
static void test_another_users_file_refused(void **state)
{
	(void)state;
	if (geteuid() != 0)
		skip();
	char p[160];
	write_key("cluster.key", GOOD_HEX, 0600);
	snprintf(p, sizeof(p), "%s/cluster.key", dir);
	assert_int_equal(chown(p, 65534, 65534), 0);
	expect_refused("cluster.key", -EPERM, "chown it to the node's user");
}

static void test_not_a_regular_file(void **state)
{
	(void)state;
	write_key("real.key", GOOD_HEX, 0600);
	char target[160], link_path[160], fifo[160], sub[160];
	snprintf(target, sizeof(target), "%s/real.key", dir);
	snprintf(link_path, sizeof(link_path), "%s/link.key", dir);
	assert_int_equal(symlink(target, link_path), 0);
	expect_refused("link.key", -ELOOP, "symlink");
	snprintf(fifo, sizeof(fifo), "%s/fifo.key", dir);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* No writer on the FIFO: the loader must not block on it. */
	expect_refused("fifo.key", -EINVAL, "not a regular file");
	snprintf(sub, sizeof(sub), "%s/dir.key", dir);
	assert_int_equal(mkdir(sub, 0700), 0);
	expect_refused("dir.key", -EINVAL, "not a regular file");
	expect_refused("missing.key", -ENOENT, "cannot open");
	struct cluster_key k;
	assert_int_equal(cluster_key_load("/dev/null", &k, err, sizeof(err)), -EINVAL);
}

static void test_bad_content(void **state)
{
	(void)state;
	const char *bad[] = {
	    "",
	    "\n",
	    GOOD_HEX "0",    /* 65 digits */
	    GOOD_HEX "\n\n", /* two line ends */
	    GOOD_HEX " ",    /* trailing space */
	    " " GOOD_HEX,    /* leading space */
	    "0x0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	    "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1", /* 63 */
	    "g00102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	    GOOD_HEX "\nsecond line\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_key("cluster.key", bad[i], 0600);
		expect_refused("cluster.key", -EINVAL, "64 hex digits");
	}
	write_key("cluster.key",
		  "0000000000000000000000000000000000000000000000000000000000000000\n", 0600);
	expect_refused("cluster.key", -EINVAL, "all zeros");
	/* A long file is refused without reading it all. */
	char big[4096];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	write_key("cluster.key", big, 0600);
	expect_refused("cluster.key", -EINVAL, "64 hex digits");
}

static void test_small_error_buffer(void **state)
{
	(void)state;
	char tiny[8];
	struct cluster_key k;
	write_key("cluster.key", GOOD_HEX, 0644);
	snprintf(path, sizeof(path), "%s/cluster.key", dir);
	assert_int_equal(cluster_key_load(path, &k, tiny, sizeof(tiny)), -EPERM);
	assert_int_equal(strlen(tiny), sizeof(tiny) - 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_good_file),
	    cmocka_unit_test(test_permissions_refused),
	    cmocka_unit_test(test_another_users_file_refused),
	    cmocka_unit_test(test_not_a_regular_file),
	    cmocka_unit_test(test_bad_content),
	    cmocka_unit_test(test_small_error_buffer),
	};
	return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
