/* SPDX-License-Identifier: BSD-3-Clause */
#include "log.h"

#include <errno.h>
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
	char prefix[96];
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	int level = rte_log_cur_msg_loglevel();
	const char *lname = level >= 1 && level <= (int)RTE_LOG_DEBUG && level_names[level]
				? level_names[level]
				: "LOG";
	int n = snprintf(prefix, sizeof(prefix),
			 "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %-7s %s: ", tm.tm_year + 1900,
			 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
			 ts.tv_nsec / 1000000, lname, sub);
	char line[LINE_MAX_BYTES + 96];
	if (n < 0)
		n = 0;
	size_t total = (size_t)n + len;
	if (total > sizeof(line) - 1)
		total = sizeof(line) - 1;
	memcpy(line, prefix, (size_t)n);
	memcpy(line + n, msg, total - (size_t)n);
	line[total] = '\n';
	/* One write per line: lines of threads do not interleave. */
	ssize_t w = write(STDERR_FILENO, line, total + 1);
	(void)w;
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
