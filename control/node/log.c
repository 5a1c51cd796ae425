/* SPDX-License-Identifier: BSD-3-Clause */
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

int bp_log_types[BP_LOG_SUBSYSTEMS];

#define LINE_MAX_BYTES 2048

static const char *const level_names[] = {
    [RTE_LOG_EMERG] = "EMERG", [RTE_LOG_ALERT] = "ALERT",     [RTE_LOG_CRIT] = "CRIT",
    [RTE_LOG_ERR] = "ERROR",   [RTE_LOG_WARNING] = "WARNING", [RTE_LOG_NOTICE] = "NOTICE",
    [RTE_LOG_INFO] = "INFO",   [RTE_LOG_DEBUG] = "DEBUG",
};

/* The subsystem of the message being written: ours by name, DPDK's
 * static types by theirs, the rest "dpdk". */
static const char *subsystem_name(int type)
{
	static const char *const ours[] = {
#define BP_LOG_NAME(id, name) "bidplane." #name,
	    BP_FOREACH_LOG_SUBSYSTEM(BP_LOG_NAME)
#undef BP_LOG_NAME
	};
	for (int i = 0; i < BP_LOG_SUBSYSTEMS; i++)
		if (bp_log_types[i] == type)
			return ours[i];
	switch (type) {
	case RTE_LOGTYPE_EAL:
		return "eal";
	case RTE_LOGTYPE_MALLOC:
		return "malloc";
	case RTE_LOGTYPE_RING:
		return "ring";
	case RTE_LOGTYPE_MEMPOOL:
		return "mempool";
	case RTE_LOGTYPE_PMD:
		return "pmd";
	case RTE_LOGTYPE_HASH:
		return "hash";
	case RTE_LOGTYPE_MBUF:
		return "mbuf";
	default:
		return "dpdk";
	}
}

/*
 * Lines go to stderr from a thread of their own: a full pipe (journald
 * stalled, nobody reading) must stall no thread of the node. A line that
 * finds the queue full is dropped and counted; the next one written says
 * how many were.
 */
#define QUEUE_LINES 256
static struct {
	pthread_mutex_t lock;
	pthread_cond_t more;
	char (*lines)[LINE_MAX_BYTES + 112];
	size_t len[QUEUE_LINES];
	unsigned int head, tail; /* head - tail lines are queued */
	bool stop;
	bool running;
	pthread_t writer;
	_Atomic uint64_t dropped;
} queue = {.lock = PTHREAD_MUTEX_INITIALIZER, .more = PTHREAD_COND_INITIALIZER};
static bool journal; /* stderr is journald's (JOURNAL_STREAM) */

static void write_all(const char *buf, size_t len)
{
	while (len) {
		ssize_t w = write(STDERR_FILENO, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		buf += w;
		len -= (size_t)w;
	}
}

static void queue_line(const char *line, size_t len)
{
	if (!queue.running) { /* before log_init's thread, or after it ended */
		write_all(line, len);
		return;
	}
	pthread_mutex_lock(&queue.lock);
	if (queue.head - queue.tail >= QUEUE_LINES) {
		pthread_mutex_unlock(&queue.lock);
		atomic_fetch_add_explicit(&queue.dropped, 1, memory_order_relaxed);
		return;
	}
	unsigned int slot = queue.head % QUEUE_LINES;
	memcpy(queue.lines[slot], line, len);
	queue.len[slot] = len;
	queue.head++;
	pthread_cond_signal(&queue.more);
	pthread_mutex_unlock(&queue.lock);
}

static void *writer_main(void *arg)
{
	(void)arg;
	static char line[LINE_MAX_BYTES + 112];
	pthread_mutex_lock(&queue.lock);
	for (;;) {
		while (queue.head == queue.tail && !queue.stop)
			pthread_cond_wait(&queue.more, &queue.lock);
		if (queue.head == queue.tail)
			break;
		unsigned int slot = queue.tail % QUEUE_LINES;
		size_t len = queue.len[slot];
		memcpy(line, queue.lines[slot], len);
		queue.tail++;
		pthread_mutex_unlock(&queue.lock);
		uint64_t lost = atomic_exchange_explicit(&queue.dropped, 0, memory_order_relaxed);
		if (lost) {
			char note[96];
			int n = snprintf(note, sizeof(note),
					 "(%llu log lines dropped: stderr was not being read)\n",
					 (unsigned long long)lost);
			write_all(note, (size_t)n);
		}
		write_all(line, len); /* may block: only this thread waits */
		pthread_mutex_lock(&queue.lock);
	}
	pthread_mutex_unlock(&queue.lock);
	return NULL;
}

/* At exit: what is queued is written, for at most a second. */
static void log_drain(void)
{
	if (!queue.running)
		return;
	pthread_mutex_lock(&queue.lock);
	queue.stop = true;
	pthread_cond_signal(&queue.more);
	pthread_mutex_unlock(&queue.lock);
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 1;
	if (pthread_timedjoin_np(queue.writer, NULL, &until) == 0)
		queue.running = false;
}

uint64_t log_dropped(void)
{
	return atomic_load_explicit(&queue.dropped, memory_order_relaxed);
}

/* A line is written whole, with its prefix, when its newline arrives. */
static _Thread_local struct {
	char buf[LINE_MAX_BYTES];
	size_t len;
} pending;

static void emit(const char *msg, size_t len)
{
	/* DPDK's lines carry their subsystem already ("EAL: ..."): once is
	 * enough. */
	const char *sub = subsystem_name(rte_log_cur_msg_logtype());
	size_t sublen = strlen(sub);
	if (len > sublen + 2 && msg[sublen] == ':' && msg[sublen + 1] == ' ' &&
	    strncasecmp(msg, sub, sublen) == 0) {
		msg += sublen + 2;
		len -= sublen + 2;
	}
	char prefix[112];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int level = rte_log_cur_msg_loglevel();
	const char *lname = level >= 1 && level <= (int)RTE_LOG_DEBUG && level_names[level]
				? level_names[level]
				: "LOG";
	/* Under systemd, "<N>" tells journald the line's priority. */
	char prio[8] = "";
	if (journal && level >= 1 && level <= (int)RTE_LOG_DEBUG)
		snprintf(prio, sizeof(prio), "<%d>", level - 1);
	int n = snprintf(prefix, sizeof(prefix),
			 "%s%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-7s %s: ", prio,
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
			 tm.tm_sec, ts.tv_nsec / 1000000, lname, sub);
	char line[LINE_MAX_BYTES + 112];
	if (n < 0)
		n = 0;
	size_t total = (size_t)n + len;
	if (total > sizeof(line) - 1)
		total = sizeof(line) - 1;

	memcpy(line, prefix, (size_t)n);
	memcpy(line + n, msg, total - (size_t)n);
	line[total] = '\n';
	queue_line(line, total + 1);
}

static ssize_t stream_write(void *cookie, const char *buf, size_t size)
{
	(void)cookie;
	for (size_t i = 0; i < size; i++) {
		if (buf[i] == '\n') {
			emit(pending.buf, pending.len);
			pending.len = 0;
		} else if (pending.len < sizeof(pending.buf)) {
			pending.buf[pending.len++] = buf[i];
		}
	}
	return (ssize_t)size;
}

int log_init(int level)
{
	static const char *const names[] = {
#define BP_LOG_NAME(id, name) "bidplane." #name,
	    BP_FOREACH_LOG_SUBSYSTEM(BP_LOG_NAME)
#undef BP_LOG_NAME
	};
	for (int i = 0; i < BP_LOG_SUBSYSTEMS; i++) {
		bp_log_types[i] = rte_log_register_type_and_pick_level(names[i], (uint32_t)level);
		if (bp_log_types[i] < 0)
			return -ENOMEM;
		rte_log_set_level((uint32_t)bp_log_types[i], (uint32_t)level);
	}
	journal = getenv("JOURNAL_STREAM") != NULL;
	queue.lines = calloc(QUEUE_LINES, sizeof(*queue.lines));
	if (!queue.lines)
		return -ENOMEM;
	if (pthread_create(&queue.writer, NULL, writer_main, NULL) != 0)
		return -EAGAIN;
	queue.running = true;
	atexit(log_drain);
	cookie_io_functions_t io = {.write = stream_write};
	FILE *f = fopencookie(NULL, "w", io);
	if (!f)
		return -errno;
	setvbuf(f, NULL, _IONBF, 0);
	return rte_openlog_stream(f);
}

bool log_allow(struct log_limit *l, uint64_t now_ms, uint64_t *suppressed)
{
	if (l->last_ms == 0) {
		l->tokens = l->burst;
		l->last_ms = now_ms;
	}
	l->tokens += (double)(now_ms - l->last_ms) * l->per_second / 1000.0;
	if (l->tokens > l->burst)
		l->tokens = l->burst;
	l->last_ms = now_ms;
	if (l->tokens < 1.0) {
		l->suppressed++;
		l->suppressed_total++;
		return false;
	}
	l->tokens -= 1.0;
	*suppressed = l->suppressed;
	l->suppressed = 0;
	return true;
}
