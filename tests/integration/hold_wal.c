/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * LD_PRELOAD shim for tests: while the file named by BP_HOLD_WAL exists,
 * pwritev() of a write-ahead log segment (a descriptor whose path ends in
 * ".wal") waits, polling every millisecond, and goes on once the file is
 * gone. A test holds the node's log writer in its group commit this way:
 * records handed over but not durable, for as long as it likes, without
 * touching the disk (a killed node then loses exactly those records).
 * And with BP_FAIL_WAL set, per node (its segments' directory): while a
 * file FAIL_WAL exists there such a pwritev fails with EIO, writing
 * nothing (its records lost, none on the disk); while a file HOLD_WAL
 * exists there it waits, as above.
 */
/* Both symbols are defined here: no redirection of pwritev to pwritev64. */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

typedef ssize_t (*pwritev_fn)(int, const struct iovec *, int, off_t);

static int segment_path(int fd, char *path, size_t len)
{
	char link[64];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, len - 1);
	if (n < 4)
		return 0;
	path[n] = '\0';
	return strcmp(path + n - 4, ".wal") == 0;
}

/* Whether the file `name` is beside fd's segment (BP_FAIL_WAL: see the top). */
static int flagged(int fd, const char *name)
{
	char path[4096];
	if (!getenv("BP_FAIL_WAL") || !segment_path(fd, path, sizeof(path) - 16))
		return 0;
	char *slash = strrchr(path, '/');
	if (!slash)
		return 0;
	strcpy(slash + 1, name);
	return access(path, F_OK) == 0;
}

static int failing(int fd)
{
	while (flagged(fd, "HOLD_WAL")) {
		struct timespec ts = {0, 1000000L};
		nanosleep(&ts, NULL);
	}
	return flagged(fd, "FAIL_WAL");
}

static int is_segment(int fd)
{
	char link[64], path[4096];
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, path, sizeof(path) - 1);
	if (n < 4)
		return 0;
	path[n] = '\0';
	return strcmp(path + n - 4, ".wal") == 0;
}

static void hold(int fd)
{
	const char *flag = getenv("BP_HOLD_WAL");
	if (!flag || !is_segment(fd))
		return;
	while (access(flag, F_OK) == 0) {
		struct timespec ts = {0, 1000000L};
		nanosleep(&ts, NULL);
	}
}

ssize_t pwritev(int fd, const struct iovec *iov, int cnt, off_t off)
{
	static pwritev_fn real;
	if (!real)
		real = (pwritev_fn)dlsym(RTLD_NEXT, "pwritev");
	hold(fd);
	if (failing(fd)) {
		errno = EIO;
		return -1;
	}
	return real(fd, iov, cnt, off);
}

ssize_t pwritev64(int fd, const struct iovec *iov, int cnt, off_t off)
{
	static pwritev_fn real;
	if (!real)
		real = (pwritev_fn)dlsym(RTLD_NEXT, "pwritev64");
	hold(fd);
	if (failing(fd)) {
		errno = EIO;
		return -1;
	}
	return real(fd, iov, cnt, off);
}
