/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * LD_PRELOAD shim for tests: rename() of a path containing ".bpstats"
 * first sleeps BP_SLOW_RENAME_MS milliseconds. It holds a node between
 * building its stats segment and publishing it, so a test can start a
 * second node of the same name inside that window, every time.
 */
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int rename(const char *from, const char *to)
{
	static int (*real)(const char *, const char *);
	if (!real)
		real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
	const char *ms = getenv("BP_SLOW_RENAME_MS");
	if (ms && strstr(to, ".bpstats")) {
		long v = atol(ms);
		struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
		while (nanosleep(&ts, &ts) != 0)
			;
	}
	return real(from, to);
}
