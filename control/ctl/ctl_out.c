/* SPDX-License-Identifier: BSD-3-Clause */
#include "json_escape.h"
#include "ctl_format.h"
#include "ctl_out.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void ctl_out_init(struct ctl_out *o, char *buf, size_t cap)
{
	*o = (struct ctl_out){.buf = buf, .cap = cap, .truncated = cap == 0};
	if (cap)
		buf[0] = '\0';
}

void ctl_out_reset(struct ctl_out *o)
{
	ctl_out_init(o, o->buf, o->cap);
}

/* Ends the valid o->len bytes with the mark, moved back over the body's
 * last bytes if it would not fit: the reader loses a few bytes but always
 * learns that the body is incomplete. */
static void mark_truncated(struct ctl_out *o)
{
	size_t mark_len = strlen(CTL_OUT_TRUNCATED_MARK);
	size_t last_fit = o->cap - 1 > mark_len ? o->cap - 1 - mark_len : 0;
	size_t at = o->len < last_fit ? o->len : last_fit;
	snprintf(o->buf + at, o->cap - at, "%s", CTL_OUT_TRUNCATED_MARK);
	o->len = at + strlen(o->buf + at);
	o->truncated = true;
}

static void append(struct ctl_out *o, const char *s, size_t n)
{
	if (o->truncated)
		return;
	size_t room = o->cap - o->len;
	if (n >= room) {
		memcpy(o->buf + o->len, s, room - 1);
		o->len = o->cap - 1;
		mark_truncated(o);
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

void ctl_out_printf(struct ctl_out *o, const char *fmt, ...)
{
	if (o->truncated)
		return;
	size_t room = o->cap - o->len;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(o->buf + o->len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		if (n >= 0) /* vsnprintf kept what fitted */
			o->len = o->cap - 1;
		mark_truncated(o);
		return;
	}
	o->len += (size_t)n;
}

void ctl_out_json_string(struct ctl_out *o, const char *s)
{
	append(o, "\"", 1);
	char buf[JSON_ESCAPE_MAX];
	for (; *s; s++) {
		const char *esc = json_escape_char((unsigned char)*s, buf);
		if (esc)
			append(o, esc, strlen(esc));
		else
			append(o, s, 1);
	}
	append(o, "\"", 1);
}

struct ctl_address_text ctl_peer_address(const struct ctl_peer *p)
{
	struct ctl_address_text t;
	const uint8_t *b = (const uint8_t *)&p->ip; /* network order */
	snprintf(t.s, sizeof(t.s), "%u.%u.%u.%u:%u", b[0], b[1], b[2], b[3], p->port);
	return t;
}
