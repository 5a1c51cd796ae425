/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The stats segment: publishing, reading, naming rules, a directory that
 * changes under a hammering reader, replacement and refusal cases.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "stats_reader.h"
#include "stats_writer.h"

#define SLOTS 32

struct block {
	_Atomic uint64_t rx;
	_Atomic uint64_t tx;
};

/* One auction-like slot: its entries come and go with it. */
struct slot {
	_Atomic uint64_t id;
	_Atomic uint64_t id_times_3;
};

struct control_block {
	_Atomic uint64_t uptime;
	struct slot slots[SLOTS];
};

static char name_buf[64];

static const char *test_name(const char *what)
{
	snprintf(name_buf, sizeof(name_buf), "t%d-%s", (int)getpid(), what);
	return name_buf;
}

static struct stats_writer *make(const char *name, uint32_t capacity, uint32_t nworkers)
{
	char err[256];
	struct stats_identity id = {.name = name,
				    .group = NULL,
				    .node_version = "test",
				    .config = "[node]\nnode-id = 1\n",
				    .nworkers = nworkers,
				    .dir_capacity = capacity,
				    .worker_block = sizeof(struct block),
				    .control_block = sizeof(struct control_block)};
	struct stats_writer *w;
	int rc = stats_writer_create(&w, &id, err, sizeof(err));
	if (rc != 0)
		fail_msg("create: %s", err);
	return w;
}

static void register_basics(struct stats_writer *w)
{
	struct control_block *c = stats_writer_control_block(w);
	stats_dir_begin(w);
	assert_int_equal(stats_dir_add_worker_field(w, "rx_packets_total", "", "received",
						    STATS_COUNTER, offsetof(struct block, rx)),
			 0);
	assert_int_equal(stats_dir_add_worker_field(w, "tx_packets_total", "port=0", "sent",
						    STATS_COUNTER, offsetof(struct block, tx)),
			 0);
	assert_int_equal(
	    stats_dir_add_value(w, "uptime_seconds", "", "up", STATS_GAUGE, &c->uptime), 0);
	stats_dir_end(w);
}

static void published_values_are_read_back(void **state)
{
	(void)state;
	const char *name = test_name("basic");
	char err[256];
	struct stats_writer *w = make(name, 16, 3);
	register_basics(w);
	struct stats_reader r;
	/* Not visible before publish. */
	assert_int_equal(stats_reader_open(&r, name, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "--stats-name"));
	assert_int_equal(stats_writer_publish(w, err, sizeof(err)), 0);

	for (unsigned int i = 0; i < 3; i++) {
		struct block *b = stats_writer_worker_block(w, i);
		atomic_store(&b->rx, 10 * (i + 1));
		atomic_store(&b->tx, i);
	}
	assert_null(stats_writer_worker_block(w, 3));
	atomic_store(&((struct control_block *)stats_writer_control_block(w))->uptime, 77);

	assert_int_equal(stats_reader_open(&r, name, err, sizeof(err)), 0);
	struct stats_snapshot s = {0};
	assert_int_equal(stats_snapshot_take(&r, &s), 0);
	assert_int_equal(s.count, 3);
	assert_int_equal(s.info.state, STATS_RUNNING);
	assert_int_equal(s.info.pid, getpid());
	assert_int_equal(s.info.nworkers, 3);
	assert_string_equal(s.info.node_version, "test");
	assert_non_null(strstr(s.info.config, "node-id = 1"));
	int rx = stats_snapshot_find(&s, "rx_packets_total", "");
	assert_true(rx >= 0);
	assert_int_equal(s.entries[rx].count, 3);
	assert_int_equal(s.values[s.first[rx] + 2], 30);
	assert_int_equal(stats_snapshot_total(&s, (uint32_t)rx), 60);
	int tx = stats_snapshot_find(&s, "tx_packets_total", "port=0");
	assert_int_equal(stats_snapshot_total(&s, (uint32_t)tx), 3);
	int up = stats_snapshot_find(&s, "uptime_seconds", "");
	assert_int_equal(s.entries[up].count, 1);
	assert_int_equal(stats_snapshot_total(&s, (uint32_t)up), 77);
	assert_int_equal(stats_snapshot_find(&s, "rx_packets_total", "port=0"), -1);
	assert_int_equal(stats_reader_check(&r), STATS_SAME);

	/* Exit: the segment stays and says so. */
	stats_writer_close(w, 1234);
	assert_int_equal(stats_snapshot_take(&r, &s), 0);
	assert_int_equal(s.info.state, STATS_EXITED);
	assert_int_equal(s.info.exited_unix_ms, 1234);
	assert_int_equal(stats_snapshot_total(&s, (uint32_t)rx), 60);
	assert_int_equal(stats_segment_unlink(name), 0);
	assert_int_equal(stats_reader_check(&r), STATS_GONE);
	stats_snapshot_free(&s);
	stats_reader_close(&r);
}

static void bad_names_and_entries_are_refused(void **state)
{
	(void)state;
	char err[256];
	struct stats_reader r;
	const char *bad[] = {"", "a/b", "..", ".", "sp ace", "x\n"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct stats_identity id = {.name = bad[i],
					    .node_version = "t",
					    .nworkers = 1,
					    .dir_capacity = 4,
					    .worker_block = 8};
		struct stats_writer *w;
		assert_int_equal(stats_writer_create(&w, &id, err, sizeof(err)), -EINVAL);
		assert_null(w);
		assert_int_equal(stats_reader_open(&r, bad[i], err, sizeof(err)), -EINVAL);
	}
	assert_true(stats_labels_valid("a=1,b_c=x.y-z", 96));
	assert_false(stats_labels_valid("a=1,", 96));
	assert_false(stats_labels_valid("a=", 96));
	assert_false(stats_labels_valid("=1", 96));
	assert_false(stats_labels_valid("a=\"1\"", 96));
	assert_false(stats_metric_name_valid("Rx", 64));
	assert_false(stats_metric_name_valid("9x", 64));

	const char *name = test_name("refuse");
	struct stats_writer *w = make(name, 2, 1);
	struct control_block *c = stats_writer_control_block(w);
	_Atomic uint64_t outside = 0;
	/* Outside begin/end, a change is refused. */
	assert_int_equal(stats_dir_add_value(w, "a", "", "", STATS_GAUGE, &c->uptime), -EINVAL);
	stats_dir_begin(w);
	assert_int_equal(stats_dir_add_value(w, "a", "", "", STATS_GAUGE, &outside), -EINVAL);
	assert_int_equal(stats_dir_add_value(w, "Bad", "", "", STATS_GAUGE, &c->uptime), -EINVAL);
	assert_int_equal(stats_dir_add_value(w, "a", "x=", "", STATS_GAUGE, &c->uptime), -EINVAL);
	assert_int_equal(stats_dir_add_worker_field(w, "a", "", "", STATS_GAUGE, 4096), -EINVAL);
	assert_int_equal(stats_dir_add_value(w, "a", "", "", STATS_GAUGE, &c->uptime), 0);
	assert_int_equal(stats_dir_add_value(w, "b", "", "", STATS_GAUGE, &c->uptime), 0);
	assert_int_equal(stats_dir_add_value(w, "c", "", "", STATS_GAUGE, &c->uptime), -ENOSPC);
	stats_dir_end(w);
	assert_int_equal(stats_dir_count(w), 2);
	/* Never published: close removes the temporary object. */
	stats_writer_close(w, 1);
	assert_int_equal(stats_reader_open(&r, name, err, sizeof(err)), -ENOENT);
}

/* Writes a fake segment file with the given header fields. */
static void write_fake(const char *name, uint64_t magic, uint32_t version, int32_t pid,
		       uint32_t state)
{
	char path[128];
	assert_true(stats_segment_path(name, path, sizeof(path)));
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 8192), 0);
	struct stats_header *h = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	assert_true(h != MAP_FAILED);
	h->magic = magic;
	h->version = version;
	h->header_size = sizeof(*h);
	h->segment_size = 8192;
	h->entry_size = sizeof(struct stats_entry);
	h->dir_offset = 4096;
	h->dir_capacity = 1;
	h->nworkers = 1;
	h->pid = pid;
	atomic_store(&h->state, state);
	munmap(h, 8192);
	close(fd);
}

static void foreign_and_busy_segments_are_reported(void **state)
{
	(void)state;
	char err[256];
	struct stats_reader r;
	const char *name = test_name("foreign");

	write_fake(name, STATS_MAGIC, 99, 1, STATS_RUNNING);
	assert_int_equal(stats_reader_open(&r, name, err, sizeof(err)), -EPROTO);
	assert_non_null(strstr(err, "version 99"));

	write_fake(name, 0x1234, STATS_VERSION, 1, STATS_RUNNING);
	assert_int_equal(stats_reader_open(&r, name, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "not a bidplane stats segment"));

	/* A running node (our parent stands in: it is alive) holds the name. */
	write_fake(name, STATS_MAGIC, STATS_VERSION, (int32_t)getppid(), STATS_RUNNING);
	struct stats_identity id = {
	    .name = name, .node_version = "t", .nworkers = 1, .dir_capacity = 4, .worker_block = 8};
	struct stats_writer *w;
	assert_int_equal(stats_writer_create(&w, &id, err, sizeof(err)), -EBUSY);
	assert_non_null(strstr(err, "another --stats-name"));

	/* The same node exited: the name is free again, and a reader of the
	 * old segment sees it replaced. */
	write_fake(name, STATS_MAGIC, STATS_VERSION, (int32_t)getppid(), STATS_EXITED);
	assert_int_equal(stats_reader_open(&r, name, err, sizeof(err)), 0);
	assert_int_equal(stats_writer_create(&w, &id, err, sizeof(err)), 0);
	assert_int_equal(stats_reader_check(&r), STATS_SAME);
	assert_int_equal(stats_writer_publish(w, err, sizeof(err)), 0);
	assert_int_equal(stats_reader_check(&r), STATS_REPLACED);
	stats_reader_close(&r);
	stats_writer_close(w, 1);
	assert_int_equal(stats_segment_unlink(name), 0);
}

struct churn {
	struct stats_writer *w;
	_Atomic bool stop;
	uint64_t changes;
};

static void slot_labels(char *buf, size_t len, uint64_t id)
{
	snprintf(buf, len, "auction=%" PRIu64, id);
}

/* Gives slots to new ids and takes them back, as auctions open and go. */
static void *churn_directory(void *arg)
{
	struct churn *ch = arg;
	struct control_block *c = stats_writer_control_block(ch->w);
	uint64_t next_id = 1;
	uint64_t ids[SLOTS] = {0};
	char labels[32];
	unsigned int seed = 7;
	while (!atomic_load(&ch->stop)) {
		unsigned int i = (unsigned int)rand_r(&seed) % SLOTS;
		stats_dir_begin(ch->w);
		if (ids[i])
			assert_int_equal(
			    stats_dir_remove_values(ch->w, &c->slots[i], sizeof(c->slots[i])), 2);
		ids[i] = next_id++;
		atomic_store_explicit(&c->slots[i].id, ids[i], memory_order_relaxed);
		atomic_store_explicit(&c->slots[i].id_times_3, ids[i] * 3, memory_order_relaxed);
		slot_labels(labels, sizeof(labels), ids[i]);
		assert_int_equal(stats_dir_add_value(ch->w, "slot_id", labels, "id", STATS_GAUGE,
						     &c->slots[i].id),
				 0);
		assert_int_equal(stats_dir_add_value(ch->w, "slot_id_times_3", labels, "3 id",
						     STATS_GAUGE, &c->slots[i].id_times_3),
				 0);
		stats_dir_end(ch->w);
		ch->changes++;
		/* A control thread changes its directory as auctions open and
		 * close, not back to back: leave readers room to finish. */
		usleep(20);
	}
	return NULL;
}

/* Every snapshot must pair each slot's name with that slot's values. */
static void a_changing_directory_is_always_read_whole(void **state)
{
	(void)state;
	char err[256];
	const char *name = test_name("churn");
	struct stats_writer *w = make(name, 3 + 2 * SLOTS, 2);
	register_basics(w);
	assert_int_equal(stats_writer_publish(w, err, sizeof(err)), 0);
	struct stats_reader r;
	assert_int_equal(stats_reader_open(&r, name, err, sizeof(err)), 0);

	struct churn ch = {.w = w};
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, churn_directory, &ch), 0);
	struct stats_snapshot s = {0};
	uint64_t snapshots = 0, retries = 0, busy = 0, seqs_seen = 0, last_seq = 0;
	/* Until the reader has met many directory versions (bounded). */
	for (int k = 0; k < 200000 && seqs_seen < 2000; k++) {
		int rc = stats_snapshot_take(&r, &s);
		if (rc == -EAGAIN) {
			busy++;
			continue;
		}
		assert_int_equal(rc, 0);
		snapshots++;
		retries += s.retries;
		seqs_seen += s.info.dir_seq != last_seq;
		last_seq = s.info.dir_seq;
		assert_int_equal(s.info.dir_seq % 2, 0);
		unsigned int ids = 0, triples = 0;
		for (uint32_t i = 0; i < s.count; i++) {
			const struct stats_entry *e = &s.entries[i];
			uint64_t v = s.values[s.first[i]], id;
			if (sscanf(e->labels, "auction=%" SCNu64, &id) != 1)
				continue;
			if (strcmp(e->name, "slot_id") == 0) {
				assert_int_equal(v, id);
				ids++;
			} else {
				assert_string_equal(e->name, "slot_id_times_3");
				assert_int_equal(v, 3 * id);
				triples++;
			}
		}
		assert_int_equal(ids, triples);
		assert_int_equal(s.count, 3 + ids + triples);
	}
	atomic_store(&ch.stop, true);
	pthread_join(t, NULL);
	print_message("%" PRIu64 " snapshots, %" PRIu64 " directory versions seen, %" PRIu64
		      " copies retried, %" PRIu64 " busy, %" PRIu64 " changes\n",
		      snapshots, seqs_seen, retries, busy, ch.changes);
	assert_true(seqs_seen >= 2);
	stats_snapshot_free(&s);
	stats_reader_close(&r);
	stats_writer_close(w, 1);
	assert_int_equal(stats_segment_unlink(name), 0);
}

/* A reader that ignores the sequence lock would see the torn states the
 * test above rules out: prove the digest catches one. */
static void a_torn_directory_fails_its_digest(void **state)
{
	(void)state;
	char err[256];
	const char *name = test_name("torn");
	struct stats_writer *w = make(name, 8, 1);
	register_basics(w);
	assert_int_equal(stats_writer_publish(w, err, sizeof(err)), 0);
	char path[128];
	assert_true(stats_segment_path(name, path, sizeof(path)));
	int fd = open(path, O_RDWR);
	assert_true(fd >= 0);
	struct stats_header *h = mmap(NULL, 4096 * 4, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	assert_true(h != MAP_FAILED);
	struct stats_entry *dir = (struct stats_entry *)((uint8_t *)h + h->dir_offset);
	dir[1].name[0] = 'x'; /* as if a change were half done */

	struct stats_reader r;
	struct stats_snapshot s = {0};
	assert_int_equal(stats_reader_open(&r, name, err, sizeof(err)), 0);
	assert_int_equal(stats_snapshot_take(&r, &s), -EBADMSG);
	dir[1].name[0] = 't';
	assert_int_equal(stats_snapshot_take(&r, &s), 0);
	/* An entry pointing outside the segment is refused, never followed. */
	uint64_t before = stats_entry_hash(&dir[0]);
	dir[0].offset = 1u << 30;
	atomic_store(&h->dir_digest,
		     atomic_load(&h->dir_digest) ^ before ^ stats_entry_hash(&dir[0]));
	assert_int_equal(stats_snapshot_take(&r, &s), -EBADMSG);
	munmap(h, 4096 * 4);
	stats_snapshot_free(&s);
	stats_reader_close(&r);
	stats_writer_close(w, 1);
	assert_int_equal(stats_segment_unlink(name), 0);
}

/* The name is claimed at create, before publish: two nodes started at
 * once cannot both build a segment for it. */
static void one_name_one_writer(void **state)
{
	(void)state;
	char err[256], claim[160];
	const char *name = test_name("claim");
	struct stats_writer *first = make(name, 8, 1), *second;
	struct stats_identity id = {
	    .name = name, .node_version = "t", .nworkers = 1, .dir_capacity = 4, .worker_block = 8};
	assert_int_equal(stats_writer_create(&second, &id, err, sizeof(err)), -EBUSY);
	char pid[64];
	snprintf(pid, sizeof(pid), "in use by the running node pid %d", (int)getpid());
	assert_non_null(strstr(err, pid));
	assert_non_null(strstr(err, "another --stats-name"));
	stats_writer_close(first, 1); /* unpublished: removed, and the name freed */
	/* A node killed while building left its temporary: the next removes it. */
	char stale[200];
	snprintf(stale, sizeof(stale), "%s/%s%s.1.00000000deadbeef.tmp", STATS_SHM_DIR, name,
		 STATS_SUFFIX);
	int fd = open(stale, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(stats_writer_create(&second, &id, err, sizeof(err)), 0);
	assert_int_equal(access(stale, F_OK), -1);
	assert_int_equal(stats_writer_publish(second, err, sizeof(err)), 0);
	stats_writer_close(second, 1);
	snprintf(claim, sizeof(claim), "%s/%s%s.lock", STATS_SHM_DIR, name, STATS_SUFFIX);
	assert_int_equal(access(claim, F_OK), -1); /* the claim goes with its holder */
	assert_int_equal(stats_segment_unlink(name), 0);
}

static void on_alarm(int sig)
{
	(void)sig;
	static const char msg[] = "blocked on a FIFO in /dev/shm\n";
	ssize_t n = write(STDERR_FILENO, msg, sizeof(msg) - 1);
	(void)n;
	_exit(1);
}

/* /dev/shm is world-writable: a FIFO or a link planted at the name blocks
 * no reader or writer, and nobody follows the link. */
static void planted_fifo_and_link_are_refused_or_replaced(void **state)
{
	(void)state;
	char err[256], path[128], claim[160];
	const char *name = test_name("planted");
	struct stats_reader r;
	struct stats_identity id = {
	    .name = name, .node_version = "t", .nworkers = 1, .dir_capacity = 4, .worker_block = 8};
	struct stats_writer *w;
	assert_true(stats_segment_path(name, path, sizeof(path)));
	signal(SIGALRM, on_alarm);
	alarm(20);

	assert_int_equal(mkfifo(path, 0666), 0);
	assert_int_equal(stats_reader_open(&r, name, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(stats_writer_create(&w, &id, err, sizeof(err)), 0);
	assert_int_equal(stats_writer_publish(w, err, sizeof(err)), 0);
	struct stat st;
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	stats_writer_close(w, 1);
	assert_int_equal(unlink(path), 0);

	/* A link to a file someone wants overwritten or read. */
	char target[] = "/tmp/bp-stats-target-XXXXXX";
	int fd = mkstemp(target);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "precious", 8), 8);
	close(fd);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(stats_reader_open(&r, name, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(stats_writer_create(&w, &id, err, sizeof(err)), 0);
	assert_int_equal(stats_writer_publish(w, err, sizeof(err)), 0);
	assert_int_equal(lstat(path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(stat(target, &st), 0);
	assert_int_equal(st.st_size, 8);
	stats_writer_close(w, 1);
	unlink(target);
	assert_int_equal(stats_segment_unlink(name), 0);

	/* A FIFO at the claim's name: refused at once, with the fix. */
	snprintf(claim, sizeof(claim), "%s/%s%s.lock", STATS_SHM_DIR, name, STATS_SUFFIX);
	assert_int_equal(mkfifo(claim, 0666), 0);
	assert_int_equal(stats_writer_create(&w, &id, err, sizeof(err)), -EEXIST);
	assert_non_null(strstr(err, "remove it"));
	assert_int_equal(unlink(claim), 0);
	assert_int_equal(symlink("/tmp/bp-nowhere", claim), 0);
	assert_int_equal(stats_writer_create(&w, &id, err, sizeof(err)), -ELOOP);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(unlink(claim), 0);
	alarm(0);
}

struct truncated_reader {
	const char *name;
	pthread_barrier_t *opened, *truncated;
	int open_rc;
	int faults;
};

/* Opens the whole segment, waits for it to be cut, reads it 200 times. */
static void *read_truncated(void *arg)
{
	struct truncated_reader *t = arg;
	struct stats_reader r;
	struct stats_snapshot s = {0};
	char err[256];
	t->open_rc = stats_reader_open(&r, t->name, err, sizeof(err));
	pthread_barrier_wait(t->opened);
	pthread_barrier_wait(t->truncated);
	for (int i = 0; t->open_rc == 0 && i < 200; i++)
		t->faults += stats_snapshot_take(&r, &s) == -EFAULT;
	stats_snapshot_free(&s);
	if (t->open_rc == 0)
		stats_reader_close(&r);
	return NULL;
}

/* A segment cut short under its readers: each read says so (-EFAULT),
 * in every thread at once, and none dies of SIGBUS. */
static void a_truncated_segment_is_damaged_not_a_crash(void **state)
{
	(void)state;
	char err[256], path[128];
	const char *name = test_name("truncated");
	struct stats_writer *w = make(name, 64, 2);
	register_basics(w);
	assert_int_equal(stats_writer_publish(w, err, sizeof(err)), 0);
	struct stats_reader r;
	assert_int_equal(stats_reader_open(&r, name, err, sizeof(err)), 0);
	struct stats_snapshot s = {0};
	assert_int_equal(stats_snapshot_take(&r, &s), 0);

	assert_true(stats_segment_path(name, path, sizeof(path)));
	assert_int_equal(truncate(path, 4096), 0); /* the header stays, the rest goes */
	assert_int_equal(stats_snapshot_take(&r, &s), -EFAULT);
	assert_int_equal(s.count, 0);
	struct stats_info in;
	assert_int_equal(stats_reader_info(&r, &in), 0); /* the header is still there */
	assert_int_equal(in.pid, getpid());

	/* Readers opening it now see a damaged header, not a crash. */
	struct stats_reader late;
	assert_int_equal(stats_reader_open(&late, name, err, sizeof(err)), -EBADMSG);
	assert_non_null(strstr(err, "damaged"));

	/* Readers that mapped it whole, in threads, fault and recover each
	 * time, all at once. */
	assert_int_equal(truncate(path, (off_t)r.size), 0);
	pthread_barrier_t opened, truncated;
	pthread_barrier_init(&opened, NULL, 3);
	pthread_barrier_init(&truncated, NULL, 3);
	struct truncated_reader t[2] = {{name, &opened, &truncated, -1, 0},
					{name, &opened, &truncated, -1, 0}};
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, read_truncated, &t[i]), 0);
	pthread_barrier_wait(&opened);
	assert_int_equal(truncate(path, 0), 0);
	pthread_barrier_wait(&truncated);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(t[i].open_rc, 0);
		assert_int_equal(t[i].faults, 200);
	}
	pthread_barrier_destroy(&opened);
	pthread_barrier_destroy(&truncated);
	assert_int_equal(stats_snapshot_take(&r, &s), -EFAULT);
	stats_snapshot_free(&s);
	stats_reader_close(&r);
	assert_int_equal(truncate(path, (off_t)r.size), 0); /* the writer's close writes */
	stats_writer_close(w, 1);
	assert_int_equal(stats_segment_unlink(name), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(published_values_are_read_back),
	    cmocka_unit_test(bad_names_and_entries_are_refused),
	    cmocka_unit_test(foreign_and_busy_segments_are_reported),
	    cmocka_unit_test(a_changing_directory_is_always_read_whole),
	    cmocka_unit_test(a_torn_directory_fails_its_digest),
	    cmocka_unit_test(one_name_one_writer),
	    cmocka_unit_test(planted_fifo_and_link_are_refused_or_replaced),
	    cmocka_unit_test(a_truncated_segment_is_damaged_not_a_crash),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
