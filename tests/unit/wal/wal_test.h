/* SPDX-License-Identifier: BSD-3-Clause */
/* Helpers shared by the WAL tests: records, scratch directories, files.
 * Threads: the test's main thread (the writer test's producers use only
 * make_bid). */
#ifndef BIDPLANE_TESTS_WAL_TEST_H
#define BIDPLANE_TESTS_WAL_TEST_H

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

#include "proto.h"
#include "wal_record.h"
#include "wal_segment.h"

static inline struct wal_record make_bid(uint64_t auction, uint64_t bidder, uint64_t request,
					 uint64_t amount, uint64_t hlc, uint8_t status)
{
	return (struct wal_record){.type = WAL_BID,
				   .u.bid = {.auction_id = auction,
					     .bidder = bidder,
					     .request_id = request,
					     .amount = amount,
					     .hlc = hlc,
					     .node = 1,
					     .status = status}};
}

/* A scratch state directory under /tmp; the path is in dir. */
static inline void scratch_dir(char *dir, size_t len, const char *tag)
{
	snprintf(dir, len, "/tmp/bp-ut-%s-XXXXXX", tag);
	assert_non_null(mkdtemp(dir));
}

static inline void remove_tree(const char *dir)
{
	char cmd[600];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* A test file's scratch directory `dir`, made before each test by
 * make_dir and removed after it by drop_dir (cmocka setup/teardown). */
#define WAL_TEST_SCRATCH_DIR(tag)                                                                  \
	static char dir[128];                                                                      \
	static int make_dir(void **state)                                                          \
	{                                                                                          \
		(void)state;                                                                       \
		scratch_dir(dir, sizeof(dir), tag);                                                \
		return 0;                                                                          \
	}                                                                                          \
	static int drop_dir(void **state)                                                          \
	{                                                                                          \
		(void)state;                                                                       \
		remove_tree(dir);                                                                  \
		return 0;                                                                          \
	}

/* <dir>/wal/<name> */
static inline void wal_path(char *out, size_t len, const char *dir, const char *name)
{
	snprintf(out, len, "%s/%s/%s", dir, WAL_DIR_NAME, name);
}

static inline uint8_t *read_whole(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	long n = ftell(f);
	fseek(f, 0, SEEK_SET);
	uint8_t *b = malloc((size_t)n + 1);
	assert_non_null(b);
	assert_int_equal(fread(b, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static inline void write_whole(const char *path, const uint8_t *b, size_t len)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	fclose(f);
}

#endif
