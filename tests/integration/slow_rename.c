/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * LD_PRELOAD shim for tests: rename() of a path containing ".bpstats"
 * first sleeps BP_SLOW_RENAME_MS milliseconds. It holds a node between
 * building its stats segment and publishing it, so a test can start a
 * second node of the same name inside that window, every time.
 * renameat() of a path ending in ".snap" first sleeps BP_SLOW_SNAPSHOT_MS:
 * it holds a snapshot between its durable .snap.tmp and its rename, so a
 * kill -9 lands there often (test_wal_crash).
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

static void sleep_ms(long v)
{
	struct timespec ts = {v / 1000, (v % 1000) * 1000000L};
	while (nanosleep(&ts, &ts) != 0)
		;
}

int renameat(int from_dir, const char *from, int to_dir, const char *to)
{
	static int (*real)(int, const char *, int, const char *);
	if (!real)
		real = (int (*)(int, const char *, int, const char *))dlsym(RTLD_NEXT, "renameat");
	const char *ms = getenv("BP_SLOW_SNAPSHOT_MS");
	size_t n = strlen(to);
	if (ms && n > 5 && strcmp(to + n - 5, ".snap") == 0)
		sleep_ms(atol(ms));
	return real(from_dir, from, to_dir, to);
}
