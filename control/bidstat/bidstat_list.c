/* SPDX-License-Identifier: BSD-3-Clause */
/* bidstat --list and --clean: the nodes that publish statistics on this
 * host, and the removal of what dead ones left (bidstat.h). */
#define _XOPEN_SOURCE 700
#include "bidstat.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "stats_segment.h"

#define DPDK_RUN_DIR "/var/run/dpdk"
#define OWN_PREFIX   "bidplane-" /* the prefix a node picks: bidplane-<pid> */

/* A process that exists and is not a zombie (a zombie has exited: its
 * files and locks are closed, only its parent has not reaped it). */
bool bidstat_pid_alive(int pid)
{
	if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
		return false;
	char path[64], stat[512];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return true; /* no /proc: trust kill() */
	size_t n = fread(stat, 1, sizeof(stat) - 1, f);
	fclose(f);
	stat[n] = '\0';
	const char *close_paren = strrchr(stat, ')'); /* the name may hold ')' */
	return !(close_paren && close_paren[1] == ' ' && close_paren[2] == 'Z');
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
	return bidstat_pid_alive(in->pid) ? "running" : "crashed";
}

int bidstat_each_segment(void (*fn)(const char *name, void *arg), void *arg)
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
	return bidstat_each_segment(list_one, out);
}

/* Takes NAME's claim (the lock a node holds for its life): -1 when a node
 * holds it, else the locked fd (or -2: there is no claim file). Holding it,
 * no node can publish under the name while we remove its files. */
static int take_claim(const char *name, char *path, size_t pathlen)
{
	snprintf(path, pathlen, "%s/%s%s.lock", STATS_SHM_DIR, name, STATS_SUFFIX);
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -2;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

#define CLEAN_PIDS 256

struct clean {
	FILE *out;
	char **names; /* only these (nnames > 0), else every name */
	int nnames;
	int pids[CLEAN_PIDS]; /* of the segments removed */
	int npids;
	int removed;
	int failed;
};

static bool wanted(const struct clean *c, const char *name)
{
	if (c->nnames == 0)
		return true;
	for (int i = 0; i < c->nnames; i++)
		if (strcmp(c->names[i], name) == 0)
			return true;
	return false;
}

static void clean_one(const char *name, void *arg)
{
	struct clean *c = arg;
	if (!wanted(c, name))
		return;
	char claim[STATS_NAME_MAX + 64];
	int fd = take_claim(name, claim, sizeof(claim));
	if (fd == -1)
		return; /* a node holds the name: it runs, or is starting */
	/* Judged while no node can take the name. */
	struct stats_info in = {0};
	char why[256] = "";
	const char *state = node_state(name, &in, why, sizeof(why));
	if (strcmp(state, "exited") == 0 || strcmp(state, "crashed") == 0) {
		char path[STATS_NAME_MAX + 64];
		stats_segment_path(name, path, sizeof(path));
		if (unlink(path) == 0) {
			fprintf(c->out, "removed %s (%s, pid %d)\n", path, state, (int)in.pid);
			c->removed++;
			if (c->npids < CLEAN_PIDS)
				c->pids[c->npids++] = in.pid;
		} else {
			fprintf(c->out, "cannot remove %s: %s\n", path, strerror(errno));
			c->failed++;
		}
		if (fd >= 0 && unlink(claim) == 0)
			fprintf(c->out, "removed %s\n", claim);
	}
	if (fd >= 0)
		close(fd);
}

/* Claim files and temporaries of names that have no segment: what a node
 * that died while starting leaves. A claim is removed only while we hold it;
 * a temporary only when its pid (NAME.bpstats.PID.tmp) is gone. */
static void clean_leftovers(struct clean *c)
{
	DIR *d = opendir(STATS_SHM_DIR);
	if (!d)
		return;
	char name[STATS_NAME_MAX + 64], path[512], seg[STATS_NAME_MAX + 64];
	for (struct dirent *e; (e = readdir(d));) {
		const char *mark = strstr(e->d_name, STATS_SUFFIX ".");
		if (!mark || (size_t)(mark - e->d_name) >= STATS_NAME_MAX)
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(mark - e->d_name), e->d_name);
		if (!wanted(c, name))
			continue;
		const char *rest = mark + strlen(STATS_SUFFIX) + 1;
		snprintf(path, sizeof(path), "%s/%s", STATS_SHM_DIR, e->d_name);
		if (strcmp(rest, "lock") == 0) {
			stats_segment_path(name, seg, sizeof(seg));
			if (access(seg, F_OK) == 0)
				continue; /* clean_one's to judge */
			int fd = take_claim(name, seg, sizeof(seg));
			if (fd >= 0 && unlink(path) == 0) {
				fprintf(c->out, "removed %s (no node holds it)\n", path);
				c->removed++;
			}
			if (fd >= 0)
				close(fd);
			continue;
		}
		char *end;
		long pid = strtol(rest, &end, 10);
		if (pid > 0 && strcmp(end, ".tmp") == 0 && !bidstat_pid_alive((int)pid) &&
		    unlink(path) == 0) {
			fprintf(c->out, "removed %s (pid %ld is gone)\n", path, pid);
			c->removed++;
		}
	}
	closedir(d);
}

/* The stats name a node's runtime directory names (its marker), or false.
 * Read through the directory's descriptor: a link there is not followed. */
static bool marker_name(int dir, char *name, size_t len)
{
	int fd = openat(dir, STATS_RUNTIME_MARKER, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	char buf[STATS_NAME_MAX + 32];
	struct stat st;
	ssize_t n =
	    fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? read(fd, buf, sizeof(buf) - 1) : -1;
	close(fd);
	size_t key = strlen(STATS_RUNTIME_MARKER_KEY);
	if (n <= (ssize_t)key)
		return false;
	buf[n] = '\0';
	if (strncmp(buf, STATS_RUNTIME_MARKER_KEY, key) != 0)
		return false;
	snprintf(name, len, "%.*s", (int)strcspn(buf + key, "\n"), buf + key);
	return stats_segment_name_valid(name);
}

/* Runtime-directory files a process of the prefix locks while it runs:
 * the primary a write lock on config (rte_eal_primary_proc_alive), every
 * process a shared flock on each fbarray_* (secondaries: dpdk-dumpcap,
 * dpdk-pdump). */
#define RUNTIME_LOCKS 64

struct runtime_locks {
	int fds[RUNTIME_LOCKS];
	int n;
};

static void release_locks(struct runtime_locks *l)
{
	while (l->n > 0)
		close(l->fds[--l->n]);
}

/* Locks one file of the directory; false when a process holds it (or it
 * cannot be told). */
static bool lock_file(int dir, const char *name, bool config, struct runtime_locks *l)
{
	if (l->n == RUNTIME_LOCKS)
		return false;
	int fd =
	    openat(dir, name, (config ? O_RDWR : O_RDONLY) | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return false;
	struct stat st;
	struct flock wr = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	bool got = fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		   (config ? fcntl(fd, F_SETLK, &wr) == 0 : flock(fd, LOCK_EX | LOCK_NB) == 0);
	if (!got) {
		close(fd);
		return false;
	}
	l->fds[l->n++] = fd;
	return true;
}

/* Whether no process uses the directory: every lock taken (held in l until
 * the removal is done, so no primary can start on it meanwhile). A
 * subdirectory is not DPDK's: such a directory is not judged at all. */
static bool runtime_dir_unused(int dir, struct runtime_locks *l)
{
	int scan = dup(dir);
	DIR *d = scan >= 0 ? fdopendir(scan) : NULL;
	if (!d) {
		if (scan >= 0)
			close(scan);
		return false;
	}
	rewinddir(d); /* the descriptor's offset is shared with dir's */
	bool unused = true;
	for (struct dirent *e; unused && (e = readdir(d));) {
		struct stat st;
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (fstatat(dir, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 || S_ISDIR(st.st_mode))
			unused = false;
		else if (strcmp(e->d_name, "config") == 0 || strncmp(e->d_name, "fbarray_", 8) == 0)
			unused = lock_file(dir, e->d_name, strcmp(e->d_name, "config") == 0, l);
	}
	closedir(d);
	if (!unused)
		release_locks(l);
	return unused;
}

/* Unlinks every entry (none is a directory: runtime_dir_unused), then the
 * directory. A link is removed, never followed. 0 or -errno. */
static int remove_runtime_dir(int parent, const char *name, int dir)
{
	int scan = dup(dir);
	DIR *d = scan >= 0 ? fdopendir(scan) : NULL;
	if (!d) {
		if (scan >= 0)
			close(scan);
		return -errno;
	}
	rewinddir(d); /* the descriptor's offset is shared with dir's */
	int rc = 0;
	for (struct dirent *e; (e = readdir(d));)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0 &&
		    unlinkat(dir, e->d_name, 0) != 0 && errno != ENOENT)
			rc = -errno;
	closedir(d);
	if (rc == 0 && unlinkat(parent, name, AT_REMOVEDIR) != 0)
		rc = -errno;
	return rc;
}

/* Whether the directory is a dead node's that this clean is after: a
 * bidplane-<pid> of a gone pid (a prefix the node chose), or one whose
 * marker names a wanted stats name (a prefix the user gave). `why` says
 * which, for the message. */
static bool dead_nodes_dir(const struct clean *c, const char *entry, int dir, char *why,
			   size_t whylen)
{
	char *end;
	long pid = strncmp(entry, OWN_PREFIX, strlen(OWN_PREFIX)) == 0
		       ? strtol(entry + strlen(OWN_PREFIX), &end, 10)
		       : 0;
	if (pid > 0 && *end == '\0' && !bidstat_pid_alive((int)pid)) {
		bool ours = c->nnames == 0;
		for (int i = 0; i < c->npids && !ours; i++)
			ours = c->pids[i] == pid;
		snprintf(why, whylen, "pid %ld is gone", pid);
		if (ours)
			return true;
	}
	char name[STATS_NAME_MAX];
	if (!marker_name(dir, name, sizeof(name)) || !wanted(c, name))
		return false;
	snprintf(why, whylen, "node '%s', no process uses it", name);
	return true;
}

/*
 * DPDK runtime directories of dead nodes. /var/run/dpdk may hold other
 * programs' directories and what others planted: each entry is opened
 * without following a link, must be a directory of our own user, and goes
 * only while no process uses it (its locks held while it is removed).
 */
static void clean_runtime_dirs(struct clean *c)
{
	int parent = open(DPDK_RUN_DIR, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = parent >= 0 ? fdopendir(dup(parent)) : NULL;
	if (!d) {
		if (parent >= 0)
			close(parent);
		return;
	}
	char why[STATS_NAME_MAX + 64];
	for (struct dirent *e; (e = readdir(d));) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		int dir = openat(parent, e->d_name,
				 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		struct stat st;
		if (dir < 0)
			continue;
		struct runtime_locks locks = {.n = 0};
		if (fstat(dir, &st) == 0 && st.st_uid == geteuid() &&
		    dead_nodes_dir(c, e->d_name, dir, why, sizeof(why)) &&
		    runtime_dir_unused(dir, &locks)) {
			int rc = remove_runtime_dir(parent, e->d_name, dir);
			release_locks(&locks);
			if (rc == 0) {
				fprintf(c->out, "removed %s/%s (%s)\n", DPDK_RUN_DIR, e->d_name,
					why);
				c->removed++;
			} else {
				fprintf(c->out, "cannot remove %s/%s: %s\n", DPDK_RUN_DIR,
					e->d_name, strerror(-rc));
				c->failed++;
			}
		}
		close(dir);
	}
	closedir(d);
	close(parent);
}

int bidstat_clean(FILE *out, char **names, int nnames)
{
	struct clean c = {.out = out, .names = names, .nnames = nnames};
	bidstat_each_segment(clean_one, &c);
	clean_leftovers(&c);
	clean_runtime_dirs(&c);
	if (c.removed == 0 && c.failed == 0)
		fprintf(out, "nothing to remove: no segment or runtime directory of a dead node\n");
	return c.failed ? -EPERM : 0;
}
