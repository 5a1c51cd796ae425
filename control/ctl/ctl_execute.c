/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One control request: split the line, check every word strictly, call the
 * node's handler, and answer "ok" or "error <message>" followed by the body
 * in the requested format (ctl_format_text.c, ctl_format_json.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_format.h"
#include "ctl_out.h"

#define ERR_MAX	 256
#define ARGS_MAX 4
/* One word more than any command takes, to tell "too many" apart. */
#define WORDS_MAX (2 + ARGS_MAX + 1)
/* Words quoted back in a message are cut here: the message stays short. */
#define ECHO_MAX 40

struct request {
	const struct ctl_handlers *h;
	const struct ctl_format *format;
	uint64_t args[ARGS_MAX];
	struct ctl_out *out;
	char *err;
	size_t errlen;
};

/* Handlers return a negative errno; a positive one is read the same way. */
static const char *errno_text(int rc)
{
	return strerror(rc < 0 ? -rc : rc);
}

/* open and close answer with the auction as it is after the change. */
static int read_back(struct request *r, const char *done, struct ctl_auction *a)
{
	char why[ERR_MAX] = "";
	int rc = r->h->query(r->h->ctx, r->args[0], a, why, sizeof(why));
	if (rc != 0)
		snprintf(r->err, r->errlen, "%s auction %" PRIu64 ", but cannot read it back: %s",
			 done, r->args[0], why[0] ? why : errno_text(rc));
	return rc;
}

static int run_open(struct request *r)
{
	const uint64_t *v = r->args;
	struct ctl_auction a;
	int rc = r->h->open(r->h->ctx, v[0], v[1], v[2], v[3], r->err, r->errlen);
	if (rc == 0 && (rc = read_back(r, "opened", &a)) == 0)
		r->format->opened(r->out, &a);
	return rc;
}

static int run_close(struct request *r)
{
	struct ctl_auction a;
	int rc = r->h->close(r->h->ctx, r->args[0], r->err, r->errlen);
	if (rc == 0 && (rc = read_back(r, "closed", &a)) == 0)
		r->format->closed(r->out, &a);
	return rc;
}

static int run_query(struct request *r)
{
	struct ctl_auction a;
	int rc = r->h->query(r->h->ctx, r->args[0], &a, r->err, r->errlen);
	if (rc == 0)
		r->format->auction(r->out, &a);
	return rc;
}

/*
 * A page of `list`: of the auctions the node emits (in no order), the
 * `limit` lowest ids >= `from`, kept in a max-heap by id so that each
 * auction costs O(log limit) and the page fits the answer whatever the
 * table holds.
 */
struct list_page {
	uint64_t from;
	uint64_t limit;
	struct ctl_auction *kept; /* heap: kept[0] has the highest id */
	uint64_t n;
	bool more; /* an auction >= from was left out */
};

static void swap_auctions(struct ctl_auction *a, struct ctl_auction *b)
{
	struct ctl_auction t = *a;
	*a = *b;
	*b = t;
}

static void sift_down(struct list_page *p, uint64_t i)
{
	for (;;) {
		uint64_t top = i, l = 2 * i + 1, r = 2 * i + 2;
		if (l < p->n && p->kept[l].id > p->kept[top].id)
			top = l;
		if (r < p->n && p->kept[r].id > p->kept[top].id)
			top = r;
		if (top == i)
			return;
		swap_auctions(&p->kept[i], &p->kept[top]);
		i = top;
	}
}

static bool page_wants(void *arg, uint64_t id)
{
	struct list_page *p = arg;
	if (id < p->from)
		return false;
	if (p->n < p->limit || id < p->kept[0].id)
		return true;
	p->more = true; /* left out, and so the page is not the last */
	return false;
}

static void page_offer(void *arg, const struct ctl_auction *a)
{
	struct list_page *p = arg;
	if (a->id < p->from)
		return;
	if (p->n < p->limit) {
		uint64_t i = p->n++;
		p->kept[i] = *a;
		while (i > 0 && p->kept[(i - 1) / 2].id < p->kept[i].id) {
			swap_auctions(&p->kept[(i - 1) / 2], &p->kept[i]);
			i = (i - 1) / 2;
		}
		return;
	}
	p->more = true;
	if (a->id < p->kept[0].id) {
		p->kept[0] = *a;
		sift_down(p, 0);
	}
}

static int by_id(const void *x, const void *y)
{
	const struct ctl_auction *a = x, *b = y;
	return (a->id > b->id) - (a->id < b->id);
}

static int run_list(struct request *r)
{
	struct list_page p = {.from = r->args[0], .limit = r->args[1]};
	p.kept = malloc(p.limit * sizeof(*p.kept));
	if (!p.kept) {
		snprintf(r->err, r->errlen, "out of memory for a page of %" PRIu64 " auctions",
			 p.limit);
		return -ENOMEM;
	}
	int rc = r->h->list(r->h->ctx, page_wants, page_offer, &p, r->err, r->errlen);
	if (rc == 0) {
		qsort(p.kept, p.n, sizeof(*p.kept), by_id);
		r->format->list_begin(r->out);
		for (uint64_t i = 0; i < p.n; i++)
			r->format->list_item(r->out, &p.kept[i], i);
		r->format->list_end(r->out, p.n, p.more ? p.kept[p.n - 1].id + 1 : 0);
	}
	free(p.kept);
	return rc;
}

static int run_status(struct request *r)
{
	struct ctl_status s;
	int rc = r->h->status(r->h->ctx, &s, r->err, r->errlen);
	if (rc == 0)
		r->format->status(r->out, &s);
	return rc;
}

static int run_clock_offset(struct request *r)
{
	if (!r->h->clock_offset) {
		snprintf(r->err, r->errlen, "this node cannot change its clock offset");
		return -ENOTSUP;
	}
	int64_t ms = (int64_t)r->args[0], previous = 0;
	int rc = r->h->clock_offset(r->h->ctx, ms, &previous, r->err, r->errlen);
	if (rc == 0)
		r->format->clock_offset(r->out, ms, previous);
	return rc;
}

static int run_lease_guard(struct request *r)
{
	if (!r->h->lease_guard) {
		snprintf(r->err, r->errlen, "this node has no lease guard to switch");
		return -ENOTSUP;
	}
	bool on = r->args[0] != 0, was_on = true;
	int rc = r->h->lease_guard(r->h->ctx, on, &was_on, r->err, r->errlen);
	if (rc == 0)
		r->format->lease_guard(r->out, on, was_on);
	return rc;
}

/* Every argument is an unsigned decimal number in [min, max]; one left out
 * (an optional one) takes `fallback`. A signed one is a decimal number
 * whose magnitude is at most max (min is 0), stored as int64_t. */
struct arg {
	const char *name;
	uint64_t min, max, fallback;
	bool is_signed;
};

#define ID_ARG                                                                                     \
	{                                                                                          \
		"auction_id", 1, UINT64_MAX, 0, false                                              \
	}
#define AMOUNT_ARG(n)                                                                              \
	{                                                                                          \
		n, 1, CTL_AMOUNT_MAX, 0, false                                                     \
	}

struct command {
	const char *name;
	struct arg args[ARGS_MAX];
	int nargs;    /* at most */
	int required; /* the first `required` of them */
	int (*run)(struct request *r);
};

static const struct command commands[] = {
    {"open",
     {ID_ARG,
      AMOUNT_ARG("reserve"),
      AMOUNT_ARG("increment"),
      {"duration_s", 1, CTL_DURATION_MAX_S, 0, false}},
     4,
     4,
     run_open},
    {"close", {ID_ARG}, 1, 1, run_close},
    {"query", {ID_ARG}, 1, 1, run_query},
    {"list",
     {{"from", 1, UINT64_MAX, 1, false},
      {"limit", 1, CTL_LIST_LIMIT_MAX, CTL_LIST_LIMIT_MAX, false}},
     2,
     0,
     run_list},
    {"status", {{0}}, 0, 0, run_status},
    {"clock-offset",
     {{.name = "ms", .max = (uint64_t)CTL_CLOCK_OFFSET_MAX_MS, .is_signed = true}},
     1,
     1,
     run_clock_offset},
    {"lease-guard", {{"on", 0, 1, 0, false}}, 1, 1, run_lease_guard},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

/* A request the node cannot run: sets err and returns -EINVAL. */
static int __attribute__((format(printf, 3, 4)))
refuse(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* A word quoted back to the client: cut to ECHO_MAX bytes, unprintable
 * bytes shown as '?', so the answer stays one short, valid line. */
struct echo {
	char s[ECHO_MAX + 4];
};

static struct echo echo_of(const char *word, size_t len)
{
	struct echo e;
	size_t n = len < ECHO_MAX ? len : ECHO_MAX;
	for (size_t i = 0; i < n; i++)
		e.s[i] = word[i] >= 0x20 && word[i] < 0x7f ? word[i] : '?';
	snprintf(e.s + n, sizeof(e.s) - n, "%s", len > n ? "..." : "");
	return e;
}

/* Digits only: no sign, no spaces, no hex; 0 or -EINVAL or -ERANGE. */
static int parse_number(const char *word, uint64_t *value)
{
	uint64_t v = 0;
	for (const char *p = word; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		unsigned int digit = (unsigned int)(*p - '0');
		if (v > (UINT64_MAX - digit) / 10)
			return -ERANGE;
		v = v * 10 + digit;
	}
	*value = v;
	return 0;
}

/* An optional '-' then digits ("-" alone is no number; "-0" is 0), the
 * magnitude at most max: 0, -EINVAL or -ERANGE. */
static int parse_signed(const char *word, uint64_t max, uint64_t *value)
{
	bool negative = word[0] == '-';
	const char *digits = word + negative;
	uint64_t magnitude;
	if (!*digits)
		return -EINVAL;
	int rc = parse_number(digits, &magnitude);
	if (rc != 0)
		return rc;
	if (magnitude > max || magnitude > (uint64_t)INT64_MAX)
		return -ERANGE;
	int64_t v = negative ? -(int64_t)magnitude : (int64_t)magnitude;
	*value = (uint64_t)v;
	return 0;
}

static int refuse_signed(const struct arg *a, const char *word, int rc, char *err, size_t errlen)
{
	struct echo what = echo_of(word, strlen(word)); /* lives as long as the message needs */
	if (rc == -EINVAL)
		return refuse(err, errlen,
			      "%s '%s' is not a decimal number (-%" PRIu64 "..%" PRIu64 ")",
			      a->name, what.s, a->max, a->max);
	return refuse(err, errlen, "%s %s is out of range -%" PRIu64 "..%" PRIu64, a->name, what.s,
		      a->max, a->max);
}

/* nwords of the command's arguments given; the rest take their fallback. */
static int parse_args(const struct command *cmd, char *const words[], int nwords, uint64_t *args,
		      char *err, size_t errlen)
{
	for (int i = 0; i < cmd->nargs; i++) {
		const struct arg *a = &cmd->args[i];
		if (i >= nwords) {
			args[i] = a->fallback;
			continue;
		}
		if (a->is_signed) {
			int rc = parse_signed(words[i], a->max, &args[i]);
			if (rc != 0)
				return refuse_signed(a, words[i], rc, err, errlen);
			continue;
		}
		int rc = parse_number(words[i], &args[i]);
		if (rc == -EINVAL)
			return refuse(
			    err, errlen,
			    "%s '%s' is not an unsigned decimal number (%" PRIu64 "..%" PRIu64 ")",
			    a->name, echo_of(words[i], strlen(words[i])).s, a->min, a->max);
		if (rc == -ERANGE || args[i] < a->min || args[i] > a->max)
			return refuse(err, errlen, "%s %s is out of range %" PRIu64 "..%" PRIu64,
				      a->name, echo_of(words[i], strlen(words[i])).s, a->min,
				      a->max);
	}
	return 0;
}

static int refuse_usage(const struct command *cmd, char *err, size_t errlen)
{
	struct ctl_out o;
	ctl_out_init(&o, err, errlen);
	ctl_out_printf(&o, "usage: %s", cmd->name);
	for (int i = 0; i < cmd->nargs; i++)
		ctl_out_printf(&o, i < cmd->required ? " <%s>" : " [<%s>", cmd->args[i].name);
	for (int i = cmd->required; i < cmd->nargs; i++)
		ctl_out_printf(&o, "]");
	return -EINVAL;
}

static int refuse_command(const char *word, char *err, size_t errlen)
{
	struct ctl_out o;
	ctl_out_init(&o, err, errlen);
	if (word)
		ctl_out_printf(&o,
			       "unknown command '%s'; commands:", echo_of(word, strlen(word)).s);
	else
		ctl_out_printf(&o, "missing command; commands:");
	for (size_t i = 0; i < NCOMMANDS; i++)
		ctl_out_printf(&o, " %s", commands[i].name);
	return -EINVAL;
}

static const struct command *command_named(const char *word)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, word) == 0)
			return &commands[i];
	return NULL;
}

static const struct ctl_format *format_named(const char *word, size_t len)
{
	static const struct ctl_format *const formats[] = {&ctl_format_text, &ctl_format_json};
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strlen(formats[i]->name) == len && memcmp(formats[i]->name, word, len) == 0)
			return formats[i];
	return NULL;
}

/* Splits at runs of spaces; returns the number of words, of which at most
 * max are stored. */
static int split_words(char *s, char *words[], int max)
{
	char *save = NULL;
	int n = 0;
	for (char *w = strtok_r(s, " ", &save); w; w = strtok_r(NULL, " ", &save), n++)
		if (n < max)
			words[n] = w;
	return n;
}

/* Runs the request. The format is set as soon as the first word names one,
 * so that even a refusal is answered in the format the client reads. */
static int execute(const struct ctl_handlers *h, const char *line, struct ctl_out *out,
		   const struct ctl_format **format, char *err, size_t errlen)
{
	line += strspn(line, " ");
	size_t len = strcspn(line, "\n");
	if (len && line[len - 1] == '\r') /* CRLF from tools such as nc -C */
		len--;
	size_t first_len = strcspn(line, " ");
	const struct ctl_format *named = format_named(line, first_len < len ? first_len : len);
	if (named)
		*format = named;
	if (len > CTL_LINE_MAX)
		return refuse(err, errlen, "request longer than %d bytes", CTL_LINE_MAX);
	if (len == 0)
		return refuse(err, errlen, "empty request; send '<text|json> <command> [args]'");
	if (!named)
		return refuse(err, errlen,
			      "unknown format '%s'; a request starts with text or json, e.g. "
			      "'text status'",
			      echo_of(line, first_len < len ? first_len : len).s);

	char copy[CTL_LINE_MAX + 1];
	memcpy(copy, line, len);
	copy[len] = '\0';
	char *words[WORDS_MAX];
	int nwords = split_words(copy, words, WORDS_MAX);
	if (nwords < 2)
		return refuse_command(NULL, err, errlen);
	const struct command *cmd = command_named(words[1]);
	if (!cmd)
		return refuse_command(words[1], err, errlen);
	if (nwords - 2 < cmd->required || nwords - 2 > cmd->nargs)
		return refuse_usage(cmd, err, errlen);
	struct request r = {.h = h, .format = named, .out = out, .err = err, .errlen = errlen};
	int rc = parse_args(cmd, words + 2, nwords - 2, r.args, err, errlen);
	if (rc != 0)
		return rc;

	ctl_out_printf(out, "ok\n");
	rc = cmd->run(&r);
	if (rc != 0 && err[0] == '\0') /* a handler that forgot to say why */
		snprintf(err, errlen, "%s failed: %s", cmd->name, errno_text(rc));
	/* "ok" with a cut body would pass for a whole answer (JSON that does
	 * not parse, a list that looks complete): say so instead. */
	if (rc == 0 && out->truncated)
		rc = refuse(err, errlen, "the answer does not fit the %zu-byte buffer%s", out->cap,
			    cmd->run == run_list ? "; ask for a smaller page (list <from> <limit>)"
						 : "");
	return rc;
}

/* The reason goes on the status line: a newline in it would end the line. */
static void keep_on_one_line(char *message)
{
	for (char *p = message; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

/* The answer for a failure: the status line, then the format's body. */
static size_t answer_error(struct ctl_out *o, const struct ctl_format *format, char *err)
{
	keep_on_one_line(err);
	ctl_out_reset(o);
	ctl_out_printf(o, "error %s\n", err);
	format->error(o, err);
	return o->len;
}

size_t ctl_execute(const struct ctl_handlers *h, const char *line, char *out, size_t cap)
{
	struct ctl_out o;
	ctl_out_init(&o, out, cap);
	const struct ctl_format *format = &ctl_format_text;
	char err[ERR_MAX] = "";
	if (execute(h, line, &o, &format, err, sizeof(err)) != 0)
		return answer_error(&o, format, err);
	return o.len;
}

size_t ctl_execute_error(const char *line, const char *message, char *out, size_t cap)
{
	struct ctl_out o;
	ctl_out_init(&o, out, cap);
	line += strspn(line, " ");
	const struct ctl_format *format = format_named(line, strcspn(line, " \r\n"));
	char err[ERR_MAX];
	snprintf(err, sizeof(err), "%s", message);
	return answer_error(&o, format ? format : &ctl_format_text, err);
}
