/* SPDX-License-Identifier: BSD-3-Clause */
/* The naming rules of the stats segment (stats_segment.h). */
#include <stdio.h>
#include <string.h>

#include "defaults.h"
#include "stats_segment.h"

static bool is_lower_or_underscore(char c)
{
	return (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_value_char(char c)
{
	return is_lower_or_underscore(c) || is_digit(c) || (c >= 'A' && c <= 'Z') || c == '.' ||
	       c == '-';
}

_Static_assert(STATS_NAME_MAX == BP_INSTANCE_NAME_MAX, "a segment is named after its node");

/* The node's own rule for instance names (dataplane/defaults.h). */
bool stats_segment_name_valid(const char *name)
{
	return bp_instance_name_valid(name);
}

bool stats_metric_name_valid(const char *name, size_t field)
{
	size_t n = strnlen(name, field);
	if (n == 0 || n == field || !is_lower_or_underscore(name[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_lower_or_underscore(name[i]) && !is_digit(name[i]))
			return false;
	return true;
}

/* One "k=v" pair starting at p; returns the character after it or NULL. */
static const char *label_pair(const char *p)
{
	if (!is_lower_or_underscore(*p))
		return NULL;
	while (is_lower_or_underscore(*p) || is_digit(*p))
		p++;
	if (*p++ != '=' || !is_value_char(*p))
		return NULL;
	while (is_value_char(*p))
		p++;
	return p;
}

bool stats_labels_valid(const char *labels, size_t field)
{
	if (strnlen(labels, field) == field)
		return false;
	const char *p = labels;
	while (*p) {
		p = label_pair(p);
		if (!p || (*p != ',' && *p != '\0'))
			return false;
		if (*p == ',')
			p++;
		if (*p == '\0' && p[-1] == ',')
			return false;
	}
	return true;
}

bool stats_segment_path(const char *name, char *buf, size_t len)
{
	if (!stats_segment_name_valid(name))
		return false;
	int n = snprintf(buf, len, "%s/%s%s", STATS_SHM_DIR, name, STATS_SUFFIX);
	return n > 0 && (size_t)n < len;
}

/* DPDK telemetry accepts only [A-Za-z0-9_/] in names. */
static char key_char(char c)
{
	return c == '.' || c == '-' ? '_' : c;
}

bool stats_entry_key(const struct stats_entry *e, char *buf, size_t len)
{
	size_t at = 0;
	for (const char *p = e->name; *p; p++) {
		if (at + 1 >= len)
			return false;
		buf[at++] = *p;
	}
	/* Each label's value after a '/': "replies_total/bid_reply/accepted". */
	bool in_value = false;
	for (const char *p = e->labels; *p; p++) {
		if (*p == '=' || *p == ',') {
			in_value = *p == '=';
			if (in_value) {
				if (at + 1 >= len)
					return false;
				buf[at++] = '/';
			}
			continue;
		}
		if (!in_value)
			continue;
		if (at + 1 >= len)
			return false;
		buf[at++] = key_char(*p);
	}
	buf[at] = '\0';
	return true;
}

bool stats_entry_is_auction(const struct stats_entry *e)
{
	return strncmp(e->labels, "auction=", 8) == 0;
}
