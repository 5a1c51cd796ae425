/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * LD_PRELOAD shim for tests: a disk that stops answering. While the file
 * named by BP_HOLD_FSYNC exists, every fsync() and fdatasync() of the
 * process waits (polling every millisecond) and goes on once the file is
 * gone, as on a host whose disk is saturated by others (the chaos campaign
 * of 2026-12-01b: a 55 KB snapshot took 30 s, fsyncs stood still for
 * about 90 s). Nothing is written differently: only the wait is added.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

typedef int (*sync_fn)(int);

static void hold(void)
{
	const char *flag = getenv("BP_HOLD_FSYNC");
	if (!flag)
		return;
	while (access(flag, F_OK) == 0) {
		struct timespec ts = {0, 1000000L};
		nanosleep(&ts, NULL);
	}
}

int fsync(int fd)
{
	static sync_fn real;
	if (!real)
		real = (sync_fn)dlsym(RTLD_NEXT, "fsync");
	hold();
	return real(fd);
}

int fdatasync(int fd)
{
	static sync_fn real;
	if (!real)
		real = (sync_fn)dlsym(RTLD_NEXT, "fdatasync");
	hold();
	return real(fd);
}
