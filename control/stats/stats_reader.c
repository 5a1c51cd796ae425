/* SPDX-License-Identifier: BSD-3-Clause */
/* Reading a stats segment (stats_reader.h). */
#include "stats_reader.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A directory change takes the writer microseconds; give up only when it
 * keeps changing for far longer (then the caller retries later). */
#define SNAPSHOT_TRIES 10000

/*
 * A segment truncated under a reader (by its owner, or anyone who may
 * write it) turns the next access to its mapping into SIGBUS. Every read
 * of a mapping goes through guarded(): a per-thread jump buffer, armed
 * only around those reads, turns the signal into -EFAULT. The handler is
 * process-wide, (re)installed by the first guarded read that does not find
 * it; a SIGBUS outside a guarded read goes to the handler that was there
 * before (DPDK installs its own around hugepage allocation, then restores
 * ours).
 */
static _Thread_local sigjmp_buf *guard_jump;
static struct sigaction previous_sigbus;
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;

static void on_sigbus(int sig, siginfo_t *info, void *ctx)
{
	sigjmp_buf *jump = guard_jump;
	if (jump) {
		guard_jump = NULL;
		siglongjmp(*jump, 1);
	}
	/* Not ours: give the fault back to whoever handled it before. A fault
	 * re-executes and meets that handler; a sent signal is sent again. */
	sigaction(SIGBUS, &previous_sigbus, NULL);
	if (info->si_code <= 0)
		raise(sig);
	(void)ctx;
}

static bool guard_installed(void)
{
	struct sigaction cur;
	return sigaction(SIGBUS, NULL, &cur) == 0 && (cur.sa_flags & SA_SIGINFO) &&
	       cur.sa_sigaction == on_sigbus;
}

/* Checked at every guarded read: whoever replaced the handler since (a
 * test harness, a library restoring what it saved before us) gets it
 * back as the previous one. */
static void install_guard(void)
{
	if (guard_installed())
		return;
	pthread_mutex_lock(&guard_lock);
	if (!guard_installed()) {
		struct sigaction sa;
		memset(&sa, 0, sizeof(sa));
		sa.sa_sigaction = on_sigbus;
		sa.sa_flags = SA_SIGINFO | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGBUS, &sa, &previous_sigbus);
	}
	pthread_mutex_unlock(&guard_lock);
}

/* Runs fn(r, arg); -EFAULT when the mapping was cut short under it. */
static int guarded(int (*fn)(const struct stats_reader *, void *), const struct stats_reader *r,
		   void *arg)
{
	install_guard();
	sigjmp_buf jump;
	if (sigsetjmp(jump, 1) != 0)
		return -EFAULT;
	guard_jump = &jump;
	int rc = fn(r, arg);
	guard_jump = NULL;
	return rc;
}

const char *stats_state_name(uint32_t state)
{
	switch (state) {
	case STATS_STARTING:
		return "starting";
	case STATS_RUNNING:
		return "running";
	case STATS_EXITED:
		return "exited";
	default:
		return "unknown";
	}
}

static int check_header(const struct stats_header *h, size_t size, const char *path, char *err,
			size_t errlen)
{
	if (size < sizeof(*h) || h->magic != STATS_MAGIC) {
		snprintf(err, errlen, "%s is not a bidplane stats segment", path);
		return -EBADMSG;
	}
	if (h->version != STATS_VERSION) {
		snprintf(err, errlen,
			 "%s has stats layout version %u; this bidstat reads version %u: use the "
			 "bidstat built with that node",
			 path, h->version, STATS_VERSION);
		return -EPROTO;
	}
	if (h->segment_size != size || h->entry_size != sizeof(struct stats_entry) ||
	    h->header_size != sizeof(*h) || h->dir_offset < sizeof(*h) ||
	    h->dir_offset + (uint64_t)h->dir_capacity * sizeof(struct stats_entry) > size ||
	    h->nworkers == 0 || h->nworkers > STATS_MAX_VALUES) {
		snprintf(err, errlen, "%s: damaged stats header", path);
		return -EBADMSG;
	}
	return 0;
}

struct header_check {
	size_t size;
	const char *path;
	char *err;
	size_t errlen;
};

static int check_mapped_header(const struct stats_reader *r, void *arg)
{
	const struct header_check *hc = arg;
	return check_header((const struct stats_header *)r->map, hc->size, hc->path, hc->err,
			    hc->errlen);
}

int stats_reader_open(struct stats_reader *r, const char *name, char *err, size_t errlen)
{
	char path[STATS_NAME_MAX + 32];
	memset(r, 0, sizeof(*r));
	if (!stats_segment_path(name, path, sizeof(path))) {
		snprintf(err, errlen, "'%s' is not a stats name (letters, digits, '_', '.', '-')",
			 name);
		return -EINVAL;
	}
	/* /dev/shm is world-writable: whatever sits at the name may be a FIFO
	 * (open would block) or a link (to a file we must not read for
	 * someone). Open without blocking, follow nothing, then check. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		int rc = -errno;
		if (rc == -ENOENT)
			snprintf(err, errlen,
				 "no node publishes stats as '%s' (%s does not exist): start one "
				 "with --stats-name %s, or run bidstat --list",
				 name, path, name);
		else if (rc == -EACCES)
			snprintf(err, errlen,
				 "permission denied reading %s: run as root or as a member of "
				 "the node's stats group (usermod -aG bidplane $USER)",
				 path);
		else if (rc == -ELOOP)
			snprintf(err, errlen,
				 "%s is a symbolic link, not a stats segment: not followed (remove "
				 "it; a node of that name replaces it)",
				 path);
		else
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(-rc));
		return rc == -ELOOP ? -EBADMSG : rc;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen,
			 "%s is not a regular file (a FIFO or device?), not a stats segment: "
			 "remove it; a node of that name replaces it",
			 path);
		return -EBADMSG;
	}
	if ((size_t)st.st_size < sizeof(struct stats_header)) {
		close(fd);
		snprintf(err, errlen, "%s is not a bidplane stats segment (%lld bytes)", path,
			 (long long)st.st_size);
		return -EBADMSG;
	}
	void *map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	int saved = errno;
	close(fd);
	if (map == MAP_FAILED) {
		snprintf(err, errlen, "cannot map %s: %s", path, strerror(saved));
		return -saved;
	}
	struct header_check hc = {(size_t)st.st_size, path, err, errlen};
	r->map = map;
	int rc = guarded(check_mapped_header, r, &hc);
	if (rc == -EFAULT)
		snprintf(err, errlen, "%s was truncated while being opened: damaged segment", path);
	if (rc != 0) {
		munmap(map, (size_t)st.st_size);
		r->map = NULL;
		return rc;
	}
	r->map = map;
	r->size = (size_t)st.st_size;
	r->mapped = true;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	snprintf(r->name, sizeof(r->name), "%s", name);
	return 0;
}

int stats_reader_attach(struct stats_reader *r, const void *map, size_t size)
{
	char err[128];
	memset(r, 0, sizeof(*r));
	int rc = check_header(map, size, "segment", err, sizeof(err));
	if (rc != 0)
		return rc;
	r->map = map;
	r->size = size;
	snprintf(r->name, sizeof(r->name), "%s", ((const struct stats_header *)map)->name);
	return 0;
}

void stats_reader_close(struct stats_reader *r)
{
	if (r->mapped && r->map)
		munmap((void *)r->map, r->size);
	r->map = NULL;
}

enum stats_change stats_reader_check(const struct stats_reader *r)
{
	char path[STATS_NAME_MAX + 32];
	struct stat st;
	if (!stats_segment_path(r->name, path, sizeof(path)) || lstat(path, &st) != 0)
		return STATS_GONE;
	return st.st_dev == r->dev && st.st_ino == r->ino ? STATS_SAME : STATS_REPLACED;
}

static const struct stats_header *header(const struct stats_reader *r)
{
	return (const struct stats_header *)r->map;
}

static int copy_info(const struct stats_reader *r, void *arg)
{
	struct stats_info *i = arg;
	const struct stats_header *h = header(r);
	i->pid = h->pid;
	i->nworkers = h->nworkers;
	i->started_unix_ms = h->started_unix_ms;
	i->state = atomic_load_explicit(&h->state, memory_order_acquire);
	i->updated_unix_ms = atomic_load_explicit(&h->updated_unix_ms, memory_order_relaxed);
	i->exited_unix_ms = atomic_load_explicit(&h->exited_unix_ms, memory_order_relaxed);
	memcpy(i->name, h->name, sizeof(i->name));
	i->name[sizeof(i->name) - 1] = '\0';
	memcpy(i->node_version, h->node_version, sizeof(i->node_version));
	i->node_version[sizeof(i->node_version) - 1] = '\0';
	memcpy(i->config, h->config, sizeof(i->config));
	i->config[sizeof(i->config) - 1] = '\0';
	return 0;
}

static bool entry_valid(const struct stats_reader *r, const struct stats_entry *e)
{
	const struct stats_header *h = header(r);
	uint64_t values_start = h->dir_offset + (uint64_t)h->dir_capacity * sizeof(*e);
	if (e->kind != STATS_COUNTER && e->kind != STATS_GAUGE)
		return false;
	if (e->count == 0 || e->count > STATS_MAX_VALUES || (!e->per_worker && e->count != 1))
		return false;
	if (e->offset % 8 != 0 || e->stride % 8 != 0 || e->offset < values_start)
		return false;
	if ((uint64_t)e->offset + (uint64_t)(e->count - 1) * e->stride + 8 > r->size)
		return false;
	return stats_metric_name_valid(e->name, sizeof(e->name)) &&
	       stats_labels_valid(e->labels, sizeof(e->labels)) &&
	       strnlen(e->help, sizeof(e->help)) < sizeof(e->help);
}

static int reserve(struct stats_snapshot *s, uint32_t entries)
{
	if (entries <= s->cap_entries)
		return 0;
	struct stats_entry *e = realloc(s->entries, entries * sizeof(*e));
	if (!e)
		return -ENOMEM;
	s->entries = e;
	uint32_t *f = realloc(s->first, entries * sizeof(*f));
	if (!f)
		return -ENOMEM;
	s->first = f;
	uint64_t *v = realloc(s->values, (size_t)entries * STATS_MAX_VALUES * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->values = v;
	s->cap_entries = entries;
	s->cap_values = entries * STATS_MAX_VALUES;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Copies the values the copied directory names (entries validated). */
static void read_values(const struct stats_reader *r, struct stats_snapshot *s)
{
	uint32_t v = 0;
	for (uint32_t i = 0; i < s->count; i++) {
		const struct stats_entry *e = &s->entries[i];
		s->first[i] = v;
		for (uint32_t k = 0; k < e->count; k++) {
			const _Atomic uint64_t *p =
			    (const _Atomic uint64_t *)(r->map + e->offset + (size_t)k * e->stride);
			s->values[v++] = atomic_load_explicit(p, memory_order_relaxed);
		}
	}
}

/*
 * One attempt: 0 with a whole copy, 1 when the directory changed meanwhile
 * (copy again), -EBADMSG when a copy the sequence lock vouches for is
 * damaged. Values are read inside the same window, so an entry's values
 * are the ones its name was given to (an auction's slot may be reused).
 * Bounds are checked before any value is read: a torn copy must not lead
 * the reader outside the mapping.
 */
static int try_copy(const struct stats_reader *r, struct stats_snapshot *s)
{
	const struct stats_header *h = header(r);
	uint64_t seq = atomic_load_explicit(&h->dir_seq, memory_order_acquire);
	if (seq & 1)
		return 1;
	uint32_t n = atomic_load_explicit(&h->dir_count, memory_order_relaxed);
	uint64_t digest = atomic_load_explicit(&h->dir_digest, memory_order_relaxed);
	bool whole = n <= h->dir_capacity;
	if (whole && reserve(s, n) != 0)
		return -ENOMEM;
	if (whole) {
		memcpy(s->entries, r->map + h->dir_offset, (size_t)n * sizeof(struct stats_entry));
		s->count = n;
		uint64_t check = 0;
		for (uint32_t i = 0; i < n && whole; i++) {
			whole = entry_valid(r, &s->entries[i]);
			check ^= stats_entry_hash(&s->entries[i]);
		}
		whole = whole && check == digest;
	}
	if (whole)
		read_values(r, s);
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&h->dir_seq, memory_order_relaxed) != seq)
		return 1;
	if (!whole)
		return -EBADMSG;
	s->info.dir_seq = seq;
	return 0;
}

/* Copies until a whole copy is had (or the directory keeps changing). */
static int copy_whole(const struct stats_reader *r, void *arg)
{
	struct stats_snapshot *s = arg;
	s->retries = 0;
	for (;;) {
		int rc = try_copy(r, s);
		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		if (++s->retries == SNAPSHOT_TRIES)
			return -EAGAIN;
		if (s->retries % 64 == 0)
			sched_yield();
	}
	return copy_info(r, &s->info); /* leaves dir_seq: try_copy set it */
}

int stats_snapshot_take(const struct stats_reader *r, struct stats_snapshot *s)
{
	int rc = guarded(copy_whole, r, s);
	if (rc == -EFAULT)
		s->count = 0; /* the copy stopped part way */
	if (rc != 0)
		return rc;
	s->taken_ns = now_ns();
	return 0;
}

int stats_reader_info(const struct stats_reader *r, struct stats_info *info)
{
	memset(info, 0, sizeof(*info));
	return guarded(copy_info, r, info);
}

void stats_snapshot_free(struct stats_snapshot *s)
{
	free(s->entries);
	free(s->first);
	free(s->values);
	memset(s, 0, sizeof(*s));
}

uint64_t stats_snapshot_total(const struct stats_snapshot *s, uint32_t i)
{
	uint64_t sum = 0;
	for (uint32_t k = 0; k < s->entries[i].count; k++)
		sum += s->values[s->first[i] + k];
	return sum;
}

int stats_snapshot_find(const struct stats_snapshot *s, const char *name, const char *labels)
{
	for (uint32_t i = 0; i < s->count; i++)
		if (strcmp(s->entries[i].name, name) == 0 &&
		    strcmp(s->entries[i].labels, labels) == 0)
			return (int)i;
	return -1;
}
