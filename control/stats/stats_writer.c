/* SPDX-License-Identifier: BSD-3-Clause */
/* The node's side of the stats segment (stats_writer.h). */
#include "stats_writer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SEGMENT_MODE 0640 /* the owner writes, the group reads */

struct stats_writer {
	uint8_t *map;
	size_t size;
	struct stats_header *head;
	struct stats_entry *dir;
	size_t worker_stride;
	size_t workers_offset;
	size_t control_offset;
	size_t control_bytes;
	bool published;
	bool in_change;
	int claim_fd; /* flock'd NAME.bpstats.lock: the name is ours */
	char name[STATS_NAME_MAX];
	char tmp_path[STATS_NAME_MAX + 64]; /* the segment's path while unpublished */
	char claim_path[STATS_NAME_MAX + 32];
	char note[256];
};

static size_t align_up(size_t v, size_t a)
{
	return (v + a - 1) / a * a;
}

int stats_segment_unlink(const char *name)
{
	char shm[STATS_NAME_MAX + 16];
	if (!stats_segment_name_valid(name))
		return -EINVAL;
	snprintf(shm, sizeof(shm), "/%s%s", name, STATS_SUFFIX);
	return shm_unlink(shm) == 0 ? 0 : -errno;
}

/* -EBUSY when a live node other than us publishes `name` already. */
static int check_not_in_use(const char *name, char *err, size_t errlen)
{
	char path[STATS_NAME_MAX + 32];
	stats_segment_path(name, path, sizeof(path));
	/* /dev/shm is world-writable: never block on (or follow) what was
	 * planted there; publish replaces whatever it is. */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return 0;
	struct stats_header h;
	struct stat st;
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size >= sizeof(h))
		n = pread(fd, &h, sizeof(h), 0);
	close(fd);
	if (n != (ssize_t)sizeof(h) || h.magic != STATS_MAGIC || h.version != STATS_VERSION)
		return 0; /* not ours to judge: it is replaced */
	uint32_t state = atomic_load(&h.state);
	if (state != STATS_RUNNING || h.pid == getpid())
		return 0;
	if (kill(h.pid, 0) == 0 || errno == EPERM) {
		snprintf(
		    err, errlen,
		    "stats name '%s' is in use by the running node pid %d (%s); give this node "
		    "another --stats-name",
		    name, (int)h.pid, path);
		return -EBUSY;
	}
	return 0;
}

static void give_to_group(struct stats_writer *w, int fd, const char *group)
{
	if (!group || !*group)
		return;
	struct group *g = getgrnam(group);
	if (!g) {
		snprintf(w->note, sizeof(w->note),
			 "group '%s' does not exist: the stats segment is readable by its owner "
			 "only (create the group: groupadd --system %s)",
			 group, group);
		return;
	}
	if (fchown(fd, (uid_t)-1, g->gr_gid) != 0)
		snprintf(w->note, sizeof(w->note),
			 "cannot give the stats segment to group '%s' (%s): it is readable by its "
			 "owner only",
			 group, strerror(errno));
}

static int geometry(struct stats_writer *w, const struct stats_identity *id, char *err,
		    size_t errlen)
{
	if (id->nworkers == 0 || id->nworkers > STATS_MAX_VALUES || id->dir_capacity == 0 ||
	    id->worker_block == 0) {
		snprintf(err, errlen, "stats segment: bad geometry (%u workers, %u entries)",
			 id->nworkers, id->dir_capacity);
		return -EINVAL;
	}
	size_t dir = align_up(sizeof(struct stats_header), STATS_CACHE_LINE);
	w->worker_stride = align_up(id->worker_block, STATS_CACHE_LINE);
	w->workers_offset = dir + (size_t)id->dir_capacity * sizeof(struct stats_entry);
	w->control_offset = w->workers_offset + w->worker_stride * id->nworkers;
	w->control_bytes = align_up(id->control_block ? id->control_block : 8, STATS_CACHE_LINE);
	w->size = align_up(w->control_offset + w->control_bytes, 4096);
	if (w->size > UINT32_MAX) {
		snprintf(err, errlen, "stats segment of %zu bytes: too large", w->size);
		return -EINVAL;
	}
	return 0;
}

static void fill_header(struct stats_writer *w, const struct stats_identity *id)
{
	struct stats_header *h = w->head;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	h->magic = STATS_MAGIC;
	h->version = STATS_VERSION;
	h->header_size = sizeof(*h);
	h->segment_size = w->size;
	h->entry_size = sizeof(struct stats_entry);
	h->dir_capacity = id->dir_capacity;
	h->dir_offset = align_up(sizeof(*h), STATS_CACHE_LINE);
	h->pid = getpid();
	h->nworkers = id->nworkers;
	h->started_unix_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	snprintf(h->name, sizeof(h->name), "%s", id->name);
	snprintf(h->node_version, sizeof(h->node_version), "%s", id->node_version);
	snprintf(h->config, sizeof(h->config), "%s", id->config ? id->config : "");
	atomic_store(&h->state, STATS_STARTING);
	atomic_store(&h->updated_unix_ms, h->started_unix_ms);
	w->dir = (struct stats_entry *)(w->map + h->dir_offset);
}

/* The pid a claim file names, or 0. */
static int claim_holder(int fd)
{
	char buf[24] = {0};
	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		return 0;
	return atoi(buf);
}

/* Opens the claim file without blocking or following a planted link, and
 * refuses one that is not a regular file of ours. */
static int open_claim(const char *path, struct stat *st, char *err, size_t errlen)
{
	int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0600);
	if (fd < 0) {
		int rc = -errno;
		snprintf(err, errlen, "cannot open the stats name's claim %s: %s%s", path,
			 strerror(-rc), rc == -ELOOP ? " (a symbolic link: remove it)" : "");
		return rc;
	}
	if (fstat(fd, st) != 0 || !S_ISREG(st->st_mode) || st->st_uid != geteuid()) {
		snprintf(err, errlen,
			 "%s is not a regular file of this user (planted?): remove it, or give "
			 "this node another --stats-name",
			 path);
		close(fd);
		return -EEXIST;
	}
	return fd;
}

/*
 * Claims NAME for this process: an flock on NAME.bpstats.lock, held until
 * stats_writer_close. Two nodes started at once cannot both win, and a
 * reader never touches the claim. The lock is taken, then the path checked
 * to still be the locked file: a closing node unlinks its claim while
 * holding it, and a loser of that race retries on the new file.
 */
static int claim_name(struct stats_writer *w, char *err, size_t errlen)
{
	snprintf(w->claim_path, sizeof(w->claim_path), "%s/%s%s.lock", STATS_SHM_DIR, w->name,
		 STATS_SUFFIX);
	for (int tries = 0; tries < 16; tries++) {
		struct stat st, now;
		int fd = open_claim(w->claim_path, &st, err, errlen);
		if (fd < 0)
			return fd;
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			int rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
			snprintf(err, errlen,
				 "stats name '%s' is in use by the running node pid %d (%s); give "
				 "this node another --stats-name",
				 w->name, claim_holder(fd), w->claim_path);
			close(fd);
			return rc;
		}
		if (lstat(w->claim_path, &now) == 0 && now.st_ino == st.st_ino &&
		    now.st_dev == st.st_dev) {
			char pid[24];
			int len = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
			if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len)
				pid[0] = '\0'; /* only the busy message would miss it */
			w->claim_fd = fd;
			return 0;
		}
		close(fd); /* unlinked by the node that held it: take the new one */
	}
	snprintf(err, errlen, "cannot claim stats name '%s': %s keeps changing", w->name,
		 w->claim_path);
	return -EBUSY;
}

static void release_name(struct stats_writer *w)
{
	if (w->claim_fd < 0)
		return;
	unlink(w->claim_path); /* while still holding it: see claim_name */
	close(w->claim_fd);
	w->claim_fd = -1;
}

/* Temporaries a node of NAME left when it died before publishing: with
 * the claim held, no live node of NAME is building one. */
static void remove_stale_temporaries(const struct stats_writer *w)
{
	char head[STATS_NAME_MAX + 16], path[STATS_NAME_MAX + 320];
	int n = snprintf(head, sizeof(head), "%s%s.", w->name, STATS_SUFFIX);
	DIR *d = opendir(STATS_SHM_DIR);
	if (!d)
		return;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t len = strlen(e->d_name);
		if (strncmp(e->d_name, head, (size_t)n) != 0 || len < 4 ||
		    strcmp(e->d_name + len - 4, ".tmp") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", STATS_SHM_DIR, e->d_name);
		unlink(path);
	}
	closedir(d);
}

/* The segment under a fresh random name: O_EXCL never follows or reuses
 * whatever someone planted in /dev/shm. */
static int create_temporary(struct stats_writer *w, char *err, size_t errlen)
{
	for (int tries = 0; tries < 16; tries++) {
		uint64_t r = 0;
		if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
			struct timespec ts;
			clock_gettime(CLOCK_MONOTONIC, &ts);
			r = (uint64_t)ts.tv_nsec * 2654435761u + (uint64_t)tries;
		}
		snprintf(w->tmp_path, sizeof(w->tmp_path), "%s/%s%s.%d.%016" PRIx64 ".tmp",
			 STATS_SHM_DIR, w->name, STATS_SUFFIX, (int)getpid(), r);
		int fd = open(w->tmp_path, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
			      SEGMENT_MODE);
		if (fd >= 0 || errno != EEXIST) {
			if (fd < 0)
				snprintf(err, errlen,
					 "cannot create the stats segment %s: %s (is %s mounted?)",
					 w->tmp_path, strerror(errno), STATS_SHM_DIR);
			return fd < 0 ? -errno : fd;
		}
	}
	snprintf(err, errlen, "cannot create a stats segment in %s: every name taken",
		 STATS_SHM_DIR);
	return -EEXIST;
}

int stats_writer_create(struct stats_writer **out, const struct stats_identity *id, char *err,
			size_t errlen)
{
	*out = NULL;
	if (!stats_segment_name_valid(id->name)) {
		snprintf(err, errlen,
			 "stats name '%s': use 1 to %d letters, digits, '_', '.' or '-'", id->name,
			 STATS_NAME_MAX - 1);
		return -EINVAL;
	}
	struct stats_writer *w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, errlen, "stats segment: out of memory");
		return -ENOMEM;
	}
	w->claim_fd = -1;
	snprintf(w->name, sizeof(w->name), "%s", id->name);
	int rc = geometry(w, id, err, errlen);
	if (rc == 0)
		rc = claim_name(w, err, errlen);
	if (rc == 0)
		rc = check_not_in_use(id->name, err, errlen);
	if (rc != 0) {
		release_name(w);
		free(w);
		return rc;
	}
	remove_stale_temporaries(w);
	int fd = create_temporary(w, err, errlen);
	if (fd < 0) {
		release_name(w);
		free(w);
		return fd;
	}
	/* The mode asked for is cut by the umask; the group must read. */
	if (fchmod(fd, SEGMENT_MODE) != 0 || ftruncate(fd, (off_t)w->size) != 0) {
		rc = -errno;
		snprintf(err, errlen, "cannot size the stats segment (%zu bytes): %s", w->size,
			 strerror(errno));
		goto fail;
	}
	give_to_group(w, fd, id->group);
	w->map = mmap(NULL, w->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (w->map == MAP_FAILED) {
		rc = -errno;
		snprintf(err, errlen, "cannot map the stats segment: %s", strerror(errno));
		goto fail;
	}
	close(fd);
	w->head = (struct stats_header *)w->map;
	fill_header(w, id);
	*out = w;
	return 0;
fail:
	close(fd);
	unlink(w->tmp_path);
	release_name(w);
	free(w);
	return rc;
}

const char *stats_writer_note(const struct stats_writer *w)
{
	return w->note;
}

void *stats_writer_worker_block(struct stats_writer *w, unsigned int worker)
{
	if (worker >= w->head->nworkers)
		return NULL;
	return w->map + w->workers_offset + w->worker_stride * worker;
}

void *stats_writer_control_block(struct stats_writer *w)
{
	return w->map + w->control_offset;
}

void stats_dir_begin(struct stats_writer *w)
{
	struct stats_header *h = w->head;
	uint64_t seq = atomic_load_explicit(&h->dir_seq, memory_order_relaxed);
	atomic_store_explicit(&h->dir_seq, seq + 1, memory_order_relaxed);
	/* Readers that see the entries we are about to change also see the
	 * odd sequence when they re-check it. */
	atomic_thread_fence(memory_order_release);
	w->in_change = true;
}

void stats_dir_end(struct stats_writer *w)
{
	struct stats_header *h = w->head;
	uint64_t seq = atomic_load_explicit(&h->dir_seq, memory_order_relaxed);
	atomic_store_explicit(&h->dir_seq, seq + 1, memory_order_release);
	w->in_change = false;
}

static int add_entry(struct stats_writer *w, const char *name, const char *labels, const char *help,
		     enum stats_kind kind, size_t offset, size_t stride, uint32_t count)
{
	struct stats_header *h = w->head;
	uint32_t n = atomic_load_explicit(&h->dir_count, memory_order_relaxed);
	if (!w->in_change)
		return -EINVAL;
	if (n == h->dir_capacity)
		return -ENOSPC;
	struct stats_entry e;
	memset(&e, 0, sizeof(e));
	if (strlen(name) >= sizeof(e.name) || strlen(labels) >= sizeof(e.labels) ||
	    strlen(help) >= sizeof(e.help))
		return -EINVAL;
	strcpy(e.name, name);
	strcpy(e.labels, labels);
	strcpy(e.help, help);
	if (!stats_metric_name_valid(e.name, sizeof(e.name)) ||
	    !stats_labels_valid(e.labels, sizeof(e.labels)) || offset % 8 != 0)
		return -EINVAL;
	e.kind = (uint8_t)kind;
	e.per_worker = stride != 0;
	e.offset = (uint32_t)offset;
	e.stride = (uint32_t)stride;
	e.count = count;
	memcpy(&w->dir[n], &e, sizeof(e));
	atomic_store_explicit(&h->dir_digest,
			      atomic_load_explicit(&h->dir_digest, memory_order_relaxed) ^
				  stats_entry_hash(&e),
			      memory_order_relaxed);
	atomic_store_explicit(&h->dir_count, n + 1, memory_order_relaxed);
	return 0;
}

int stats_dir_add_vector(struct stats_writer *w, const char *name, const char *labels,
			 const char *help, enum stats_kind kind, const _Atomic uint64_t *first,
			 uint32_t count, size_t stride)
{
	const uint8_t *p = (const uint8_t *)first;
	const uint8_t *lo = w->map + w->control_offset, *hi = lo + w->control_bytes;
	if (count == 0 || count > STATS_MAX_VALUES || (count > 1 && stride < 8) || p < lo ||
	    p >= hi || (size_t)(hi - p) < (size_t)(count - 1) * stride + 8)
		return -EINVAL;
	return add_entry(w, name, labels, help, kind, (size_t)(p - w->map), stride, count);
}

int stats_dir_add_value(struct stats_writer *w, const char *name, const char *labels,
			const char *help, enum stats_kind kind, const _Atomic uint64_t *value)
{
	return stats_dir_add_vector(w, name, labels, help, kind, value, 1, 0);
}

int stats_dir_add_worker_field(struct stats_writer *w, const char *name, const char *labels,
			       const char *help, enum stats_kind kind, size_t offset)
{
	if (offset + 8 > w->worker_stride)
		return -EINVAL;
	return add_entry(w, name, labels, help, kind, w->workers_offset + offset, w->worker_stride,
			 w->head->nworkers);
}

unsigned int stats_dir_remove_values(struct stats_writer *w, const void *first, size_t bytes)
{
	struct stats_header *h = w->head;
	size_t lo = (size_t)((const uint8_t *)first - w->map), hi = lo + bytes;
	uint32_t n = atomic_load_explicit(&h->dir_count, memory_order_relaxed);
	uint64_t digest = atomic_load_explicit(&h->dir_digest, memory_order_relaxed);
	unsigned int removed = 0;
	if (!w->in_change)
		return 0;
	for (uint32_t i = 0; i < n;) {
		if (w->dir[i].offset < lo || w->dir[i].offset >= hi) {
			i++;
			continue;
		}
		digest ^= stats_entry_hash(&w->dir[i]);
		/* Keep the directory dense: the last entry takes the hole. */
		memcpy(&w->dir[i], &w->dir[n - 1], sizeof(w->dir[i]));
		memset(&w->dir[n - 1], 0, sizeof(w->dir[n - 1]));
		n--;
		removed++;
	}
	atomic_store_explicit(&h->dir_digest, digest, memory_order_relaxed);
	atomic_store_explicit(&h->dir_count, n, memory_order_relaxed);
	return removed;
}

uint32_t stats_dir_count(const struct stats_writer *w)
{
	return atomic_load_explicit(&w->head->dir_count, memory_order_relaxed);
}

int stats_writer_publish(struct stats_writer *w, char *err, size_t errlen)
{
	char to[STATS_NAME_MAX + 32];
	stats_segment_path(w->name, to, sizeof(to));
	atomic_store_explicit(&w->head->state, STATS_RUNNING, memory_order_release);
	/* rename() swaps the name atomically: a reader finds the old segment
	 * or the new one, never none; one that holds the old notices. */
	/* rename() never follows a link or opens a FIFO planted at the name:
	 * it replaces it (a directory there is refused). */
	if (rename(w->tmp_path, to) != 0) {
		int rc = -errno;
		snprintf(err, errlen,
			 "cannot publish the stats segment as %s: %s (remove what is there, or "
			 "give this node another --stats-name)",
			 to, strerror(errno));
		return rc;
	}
	w->published = true;
	return 0;
}

void stats_writer_heartbeat(struct stats_writer *w, uint64_t unix_ms)
{
	atomic_store_explicit(&w->head->updated_unix_ms, unix_ms, memory_order_relaxed);
}

const void *stats_writer_map(const struct stats_writer *w, size_t *size)
{
	*size = w->size;
	return w->map;
}

void stats_writer_close(struct stats_writer *w, uint64_t unix_ms)
{
	if (!w)
		return;
	atomic_store(&w->head->exited_unix_ms, unix_ms);
	atomic_store_explicit(&w->head->state, STATS_EXITED, memory_order_release);
	munmap(w->map, w->size);
	if (!w->published)
		unlink(w->tmp_path);
	release_name(w);
	free(w);
}
