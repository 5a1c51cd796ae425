/* SPDX-License-Identifier: BSD-3-Clause */
/* bidstat --list and --clean: the nodes that publish statistics on this
 * host, and the removal of what dead ones left (bidstat.h). */
#define _XOPEN_SOURCE 700
#include "bidstat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "stats_segment.h"

#define DPDK_RUN_DIR "/var/run/dpdk"
#define OWN_PREFIX   "bidplane-" /* the prefix a node picks: bidplane-<pid> */

static bool pid_alive(int pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

/* The state of NAME's node: running, exited, crashed (its process is gone
 * without saying so), or why it cannot be read. */
static const char *node_state(const char *name, struct stats_info *in, char *why, size_t whylen)
{
	struct stats_reader r;
	if (stats_reader_open(&r, name, why, whylen) != 0)
		return "unreadable";
	int rc = stats_reader_info(&r, in);
	stats_reader_close(&r);
	if (rc != 0) {
		snprintf(why, whylen, "damaged (truncated)");
		return "unreadable";
	}
	if (in->state == STATS_EXITED)
		return "exited";
	return pid_alive(in->pid) ? "running" : "crashed";
}

/* Calls fn for every NAME.bpstats in /dev/shm; returns how many. */
static int each_segment(void (*fn)(const char *name, void *arg), void *arg)
{
	DIR *d = opendir(STATS_SHM_DIR);
	if (!d)
		return 0;
	size_t suffix = strlen(STATS_SUFFIX);
	int n = 0;
	char name[STATS_NAME_MAX];
	for (struct dirent *e; (e = readdir(d));) {
		size_t len = strlen(e->d_name);
		if (len <= suffix || len - suffix >= sizeof(name) ||
		    strcmp(e->d_name + len - suffix, STATS_SUFFIX) != 0)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(len - suffix), e->d_name);
		fn(name, arg);
		n++;
	}
	closedir(d);
	return n;
}

static void list_one(const char *name, void *arg)
{
	FILE *out = arg;
	struct stats_info in = {0};
	char why[256] = "";
	const char *state = node_state(name, &in, why, sizeof(why));
	if (strcmp(state, "unreadable") == 0) {
		fprintf(out, "%-24s %-10s %s\n", name, state, why);
		return;
	}
	char started[32] = "-";
	time_t t = (time_t)(in.started_unix_ms / 1000);
	struct tm tm;
	if (in.started_unix_ms && gmtime_r(&t, &tm))
		strftime(started, sizeof(started), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fprintf(out, "%-24s %-10s %-8d %-10s %s\n", name, state, (int)in.pid, in.node_version,
		started);
}

int bidstat_list(FILE *out)
{
	fprintf(out, "%-24s %-10s %-8s %-10s %s\n", "NAME", "STATE", "PID", "VERSION", "STARTED");
	return each_segment(list_one, out);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A claim file nobody holds: no node runs under the name. */
static void remove_claim(const char *name, FILE *out)
{
	char path[STATS_NAME_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s%s.lock", STATS_SHM_DIR, name, STATS_SUFFIX);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return;
	if (flock(fd, LOCK_EX | LOCK_NB) == 0 && unlink(path) == 0)
		fprintf(out, "removed %s\n", path);
	close(fd);
}

struct clean {
	FILE *out;
	int removed;
	int failed;
};

static void clean_one(const char *name, void *arg)
{
	struct clean *c = arg;
	struct stats_info in = {0};
	char why[256] = "";
	const char *state = node_state(name, &in, why, sizeof(why));
	if (strcmp(state, "exited") != 0 && strcmp(state, "crashed") != 0)
		return; /* running, or not ours to judge */
	char path[STATS_NAME_MAX + 64];
	stats_segment_path(name, path, sizeof(path));
	if (unlink(path) == 0) {
		fprintf(c->out, "removed %s (%s, pid %d)\n", path, state, (int)in.pid);
		c->removed++;
	} else {
		fprintf(c->out, "cannot remove %s: %s\n", path, strerror(errno));
		c->failed++;
	}
	remove_claim(name, c->out);
}

/* DPDK runtime directories bidplane-<pid> whose process is gone. */
static void clean_runtime_dirs(struct clean *c)
{
	DIR *d = opendir(DPDK_RUN_DIR);
	if (!d)
		return;
	char path[512];
	for (struct dirent *e; (e = readdir(d));) {
		if (strncmp(e->d_name, OWN_PREFIX, strlen(OWN_PREFIX)) != 0)
			continue;
		char *end;
		long pid = strtol(e->d_name + strlen(OWN_PREFIX), &end, 10);
		if (*end || pid <= 0 || pid_alive((int)pid))
			continue;
		snprintf(path, sizeof(path), "%s/%s", DPDK_RUN_DIR, e->d_name);
		if (nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS) == 0) {
			fprintf(c->out, "removed %s (pid %ld is gone)\n", path, pid);
			c->removed++;
		} else {
			fprintf(c->out, "cannot remove %s: %s\n", path, strerror(errno));
			c->failed++;
		}
	}
	closedir(d);
}

int bidstat_clean(FILE *out)
{
	struct clean c = {out, 0, 0};
	each_segment(clean_one, &c);
	clean_runtime_dirs(&c);
	if (c.removed == 0 && c.failed == 0)
		fprintf(out, "nothing to remove: no segment or runtime directory of a dead node\n");
	return c.failed ? -EPERM : 0;
}
