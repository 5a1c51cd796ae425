/* SPDX-License-Identifier: BSD-3-Clause */
/* One control request: parse the line, call the handler, render the answer. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"

#define MAX_WORDS 8

/* An output buffer that never overflows and remembers truncation. */
struct out {
	char *buf;
	size_t cap;
	size_t len;
	int truncated;
};

static void emitf(struct out *o, const char *fmt, ...)
{
	if (o->truncated)
		return;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, o->cap - o->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= o->cap - o->len) {
		o->truncated = 1;
		const char *mark = "...\n";
		size_t at = o->cap > 5 ? o->cap - 5 : 0;
		snprintf(o->buf + at, o->cap - at, "%s", mark);
		o->len = strlen(o->buf);
		return;
	}
	o->len += (size_t)n;
}

static int parse_u64(const char *s, uint64_t *v)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (*end || errno)
		return -1;
	*v = x;
	return 0;
}

static const char *phase_name(int phase)
{
	return phase == 1 ? "open" : phase == 2 ? "closed" : "unknown";
}

static void iso_time(uint64_t ms, char *buf, size_t len)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&s, &tm);
	size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03uZ", (unsigned int)(ms % 1000));
}

static void auction_json(struct out *o, const struct ctl_auction *a)
{
	emitf(o,
	      "{\"id\":%" PRIu64 ",\"phase\":%d,\"state\":\"%s\",\"reserve\":%" PRIu64
	      ",\"increment\":%" PRIu64 ",\"close_at_ms\":%" PRIu64 ",\"leading_amount\":%" PRIu64
	      ",\"leading_bidder\":%" PRIu64 ",\"leading_hlc\":%" PRIu64 ",\"bid_count\":%" PRIu64
	      ",\"viewers\":%" PRIu64 ",\"settled\":%s,\"settled_at_ms\":%" PRIu64 "}",
	      a->id, a->phase, phase_name(a->phase), a->reserve, a->increment, a->close_at_ms,
	      a->leading_amount, a->leading_bidder, a->leading_hlc, a->bid_count, a->viewers,
	      a->settled ? "true" : "false", a->settled_at_ms);
}

static void auction_text(struct out *o, const struct ctl_auction *a)
{
	char when[40];
	iso_time(a->close_at_ms, when, sizeof(when));
	emitf(o,
	      "auction:   %" PRIu64 "\nstate:     %s\nreserve:   %" PRIu64 "\nincrement: %" PRIu64
	      "\nclose_at:  %" PRIu64 " (%s)\nleading:   %" PRIu64 " by bidder %" PRIu64
	      "\nhlc:       %" PRIu64 ".%u\nbids:      %" PRIu64 "\nviewers:   %" PRIu64
	      "\nsettled:   %s\n",
	      a->id, phase_name(a->phase), a->reserve, a->increment, a->close_at_ms, when,
	      a->leading_amount, a->leading_bidder, a->leading_hlc >> 16,
	      (unsigned int)(a->leading_hlc & 0xffff), a->bid_count, a->viewers,
	      a->settled ? "yes" : "no");
}

struct list_out {
	struct out *o;
	int json;
	uint64_t count;
};

static void list_one(void *arg, const struct ctl_auction *a)
{
	struct list_out *l = arg;
	if (l->json) {
		emitf(l->o, l->count ? "," : "");
		auction_json(l->o, a);
	} else {
		emitf(l->o,
		      "%-12" PRIu64 " %-7s %14" PRIu64 " %14" PRIu64 " %10" PRIu64 " %8" PRIu64
		      " %15" PRIu64 "\n",
		      a->id, phase_name(a->phase), a->leading_amount, a->leading_bidder,
		      a->bid_count, a->viewers, a->close_at_ms);
	}
	l->count++;
}

static void status_out(struct out *o, const struct ctl_status *s, int json)
{
	if (json) {
		emitf(o,
		      "{\"node_id\":%u,\"version\":\"%s\",\"hlc\":%" PRIu64
		      ",\"fencing_epoch\":%" PRIu64
		      ",\"serving\":%s,\"workers\":%u,\"uptime_s\":%" PRIu64
		      ",\"auctions_open\":%" PRIu64 ",\"auctions_closed\":%" PRIu64
		      ",\"auctions_settled\":%" PRIu64 "}\n",
		      s->node_id, s->version, s->hlc, s->fencing_epoch,
		      s->serving ? "true" : "false", s->workers, s->uptime_s, s->auctions_open,
		      s->auctions_closed, s->auctions_settled);
		return;
	}
	emitf(o,
	      "node:      %u (bidplane %s)\nhlc:       %" PRIu64 ".%u\nepoch:     %" PRIu64
	      "\nserving:   %s\nworkers:   %u\nuptime:    %" PRIu64 " s\nauctions:  %" PRIu64
	      " open, %" PRIu64 " closed, %" PRIu64 " settled\n",
	      s->node_id, s->version, s->hlc >> 16, (unsigned int)(s->hlc & 0xffff),
	      s->fencing_epoch, s->serving ? "yes" : "no", s->workers, s->uptime_s,
	      s->auctions_open, s->auctions_closed, s->auctions_settled);
}

static size_t error_reply(struct out *o, int json, const char *msg)
{
	emitf(o, "error %s\n", msg);
	if (json) {
		emitf(o, "{\"error\":\"");
		for (const char *p = msg; *p; p++)
			emitf(o, (*p == '"' || *p == '\\') ? "\\%c" : (*p < 0x20 ? " " : "%c"), *p);
		emitf(o, "\"}\n");
	} else {
		emitf(o, "%s\n", msg);
	}
	return o->len;
}

static const char *const usage_of[] = {
    "open <auction_id> <reserve> <increment> <duration_s>",
    "close <auction_id>",
    "query <auction_id>",
    "list",
    "status",
};

size_t ctl_execute(const struct ctl_handlers *h, const char *line, char *outbuf, size_t cap)
{
	struct out o = {outbuf, cap, 0, 0};
	char copy[CTL_LINE_MAX + 1], err[256] = "", *words[MAX_WORDS], *save = NULL;
	int n = 0;
	outbuf[0] = '\0';
	if (strlen(line) > CTL_LINE_MAX)
		return error_reply(&o, 0, "request longer than 512 bytes");
	snprintf(copy, sizeof(copy), "%s", line);
	for (char *w = strtok_r(copy, " \t\r\n", &save); w && n < MAX_WORDS;
	     w = strtok_r(NULL, " \t\r\n", &save))
		words[n++] = w;
	if (n < 2 || (strcmp(words[0], "text") != 0 && strcmp(words[0], "json") != 0))
		return error_reply(&o, 0, "expected '<text|json> <command> [args]'");
	int json = words[0][0] == 'j';
	const char *cmd = words[1];
	int nargs = n - 2;
	uint64_t v[4] = {0};
	for (int i = 0; i < nargs && i < 4; i++)
		if (parse_u64(words[2 + i], &v[i]) != 0) {
			snprintf(err, sizeof(err), "'%s' is not an unsigned number", words[2 + i]);
			return error_reply(&o, json, err);
		}

	int rc;
	if (strcmp(cmd, "open") == 0) {
		if (nargs != 4)
			return error_reply(&o, json,
					   "usage: open <auction_id> <reserve> <increment> "
					   "<duration_s>");
		if (!v[0] || !v[1] || !v[2] || !v[3])
			return error_reply(&o, json,
					   "auction_id, reserve, increment and duration_s "
					   "must be >= 1");
		rc = h->open(h->ctx, v[0], v[1], v[2], v[3], err, sizeof(err));
		if (rc != 0)
			return error_reply(&o, json, err);
		struct ctl_auction a;
		rc = h->query(h->ctx, v[0], &a, err, sizeof(err));
		emitf(&o, "ok\n");
		if (json) {
			auction_json(&o, &a);
			emitf(&o, "\n");
		} else {
			char when[40];
			iso_time(a.close_at_ms, when, sizeof(when));
			emitf(&o, "opened auction %" PRIu64 " (closes at %s)\n", v[0], when);
		}
		return o.len;
	}
	if (strcmp(cmd, "close") == 0 || strcmp(cmd, "query") == 0) {
		int is_close = cmd[0] == 'c';
		if (nargs != 1)
			return error_reply(&o, json, usage_of[is_close ? 1 : 2]);
		if (is_close && (rc = h->close(h->ctx, v[0], err, sizeof(err))) != 0)
			return error_reply(&o, json, err);
		struct ctl_auction a;
		if ((rc = h->query(h->ctx, v[0], &a, err, sizeof(err))) != 0)
			return error_reply(&o, json, err);
		emitf(&o, "ok\n");
		if (json) {
			auction_json(&o, &a);
			emitf(&o, "\n");
		} else if (is_close) {
			emitf(&o,
			      "closed auction %" PRIu64 ": winner bidder %" PRIu64 " at %" PRIu64
			      "\n",
			      a.id, a.leading_bidder, a.leading_amount);
		} else {
			auction_text(&o, &a);
		}
		return o.len;
	}
	if (strcmp(cmd, "list") == 0 || strcmp(cmd, "status") == 0) {
		int is_list = cmd[0] == 'l';
		if (nargs != 0)
			return error_reply(&o, json, usage_of[is_list ? 3 : 4]);
		if (!is_list) {
			struct ctl_status s;
			if ((rc = h->status(h->ctx, &s, err, sizeof(err))) != 0)
				return error_reply(&o, json, err);
			emitf(&o, "ok\n");
			status_out(&o, &s, json);
			return o.len;
		}
		emitf(&o, "ok\n");
		struct list_out l = {&o, json, 0};
		if (json)
			emitf(&o, "{\"auctions\":[");
		else
			emitf(&o, "%-12s %-7s %14s %14s %10s %8s %15s\n", "auction", "state",
			      "leading", "bidder", "bids", "viewers", "close_at_ms");
		if ((rc = h->list(h->ctx, list_one, &l, err, sizeof(err))) != 0) {
			o.len = 0;
			return error_reply(&o, json, err);
		}
		if (json)
			emitf(&o, "],\"count\":%" PRIu64 "}\n", l.count);
		else
			emitf(&o, "%" PRIu64 " auctions\n", l.count);
		return o.len;
	}
	snprintf(err, sizeof(err),
		 "unknown command '%.40s'; commands: open close query list status", cmd);
	return error_reply(&o, json, err);
}
