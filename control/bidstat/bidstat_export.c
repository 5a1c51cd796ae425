/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bidstat --json (one object per update) and --prometheus (the text
 * exposition format, version 0.0.4, as `promtool check metrics` reads it).
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "json_escape.h"
#include "bidstat.h"

#define METRIC_PREFIX "bidplane_"

static void json_string(FILE *out, const char *s)
{
	char buf[JSON_ESCAPE_MAX];
	fputc('"', out);
	for (; *s; s++) {
		const char *esc = json_escape_char((unsigned char)*s, buf);
		if (esc)
			fputs(esc, out);
		else
			fputc(*s, out);
	}
	fputc('"', out);
}

/* Writes each pair of "k=v,k2=v2" (valid labels: stats_labels_valid)
 * with pair_fmt (key, then value, as "%.*s" each), `sep` between pairs.
 * Label values never need escaping in JSON or Prometheus. */
static void print_labels(FILE *out, const char *labels, const char *pair_fmt, const char *sep)
{
	for (const char *p = labels; *p;) {
		const char *eq = strchr(p, '='), *end = strchr(p, ',');
		if (!end)
			end = p + strlen(p);
		if (p != labels)
			fputs(sep, out);
		fprintf(out, pair_fmt, (int)(eq - p), p, (int)(end - eq - 1), eq + 1);
		p = *end ? end + 1 : end;
	}
}

static void json_labels(FILE *out, const char *labels)
{
	fputc('{', out);
	print_labels(out, labels, "\"%.*s\": \"%.*s\"", ", ");
	fputc('}', out);
}

/* The node's INI configuration as {"key": "value"}. */
static void json_config(FILE *out, const char *ini)
{
	char line[512];
	bool first = true;
	fputc('{', out);
	while (*ini) {
		size_t n = strcspn(ini, "\n");
		snprintf(line, sizeof(line), "%.*s", (int)n, ini);
		ini += n + (ini[n] == '\n');
		char *eq = strstr(line, " = ");
		if (line[0] == '[' || !eq)
			continue;
		*eq = '\0';
		fputs(first ? "" : ", ", out);
		json_string(out, line);
		fputs(": ", out);
		json_string(out, eq + 3);
		first = false;
	}
	fputc('}', out);
}

static void json_metric(FILE *out, const struct bidstat_update *u, uint32_t i)
{
	const struct stats_snapshot *s = u->now;
	const struct stats_entry *e = &s->entries[i];
	char key[STATS_FIELD_NAME + STATS_FIELD_LABEL];
	stats_entry_key(e, key, sizeof(key));
	fprintf(out, "{\"key\": ");
	json_string(out, key);
	fprintf(out, ", \"name\": \"%s\", \"labels\": ", e->name);
	json_labels(out, e->labels);
	fprintf(out,
		", \"type\": \"%s\", \"help\": ", e->kind == STATS_COUNTER ? "counter" : "gauge");
	json_string(out, e->help);
	fprintf(out, ", \"total\": %" PRIu64, stats_snapshot_total(s, i));
	if (e->kind == STATS_COUNTER)
		fprintf(out, ", \"rate\": %.3f", bidstat_rate(u, i, -1));
	if (e->per_worker) {
		fputs(", \"workers\": [", out);
		for (uint32_t k = 0; k < e->count; k++)
			fprintf(out, "%s%" PRIu64, k ? ", " : "", s->values[s->first[i] + k]);
		fputc(']', out);
	}
	fputc('}', out);
}

void bidstat_print_json(FILE *out, const struct bidstat_update *u)
{
	const struct stats_info *in = &u->now->info;
	fputs("{\"name\": ", out);
	json_string(out, in->name);
	fprintf(out, ", \"pid\": %d, \"state\": \"%s\", \"node_version\": ", (int)in->pid,
		bidstat_state(u));
	json_string(out, in->node_version);
	fprintf(out,
		", \"workers\": %u, \"started_unix_ms\": %" PRIu64 ", \"updated_unix_ms\": %" PRIu64
		", \"exited_unix_ms\": %" PRIu64 ", \"directory_version\": %" PRIu64
		", \"rate_interval_s\": %.3f",
		in->nworkers, in->started_unix_ms, in->updated_unix_ms, in->exited_unix_ms,
		in->dir_seq / 2, bidstat_interval(u));
	if (u->notice) {
		fputs(", \"notice\": ", out);
		json_string(out, u->notice);
	}
	fputs(", \"config\": ", out);
	json_config(out, in->config);
	fputs(", \"metrics\": [", out);
	for (uint32_t i = 0; i < u->now->count; i++) {
		fputs(i ? ", " : "", out);
		json_metric(out, u, i);
	}
	fputs("]}\n", out);
	fflush(out);
}

/* HELP text: backslash and newline are the characters to escape. */
static void prom_help(FILE *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\')
			fputs("\\\\", out);
		else if (*s == '\n')
			fputs("\\n", out);
		else
			fputc(*s, out);
	}
}

/* The segment keeps times as integers of ms or us (`peer_lag_ms`);
 * Prometheus wants base units: such a family is exported in seconds
 * (`peer_lag_seconds`), its values as exact decimals. */
struct prom_family {
	char name[STATS_FIELD_NAME + 8];
	unsigned int decimals; /* 0: as stored; 3: ms; 6: us */
};

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n > k && strcmp(s + n - k, suffix) == 0;
}

static void prom_family_of(const char *name, struct prom_family *f)
{
	size_t n = strlen(name);
	f->decimals = ends_with(name, "_ms") ? 3 : ends_with(name, "_us") ? 6 : 0;
	if (f->decimals)
		snprintf(f->name, sizeof(f->name), "%.*s_seconds", (int)(n - 3), name);
	else
		snprintf(f->name, sizeof(f->name), "%s", name);
}

static void prom_value(FILE *out, const struct prom_family *f, uint64_t v)
{
	if (f->decimals == 3)
		fprintf(out, " %" PRIu64 ".%03" PRIu64 "\n", v / 1000, v % 1000);
	else if (f->decimals == 6)
		fprintf(out, " %" PRIu64 ".%06" PRIu64 "\n", v / 1000000, v % 1000000);
	else
		fprintf(out, " %" PRIu64 "\n", v);
}

/* name{k="v",...,worker="w"} value; label values are [A-Za-z0-9_.-]. */
static void prom_sample(FILE *out, const struct prom_family *f, const struct stats_entry *e,
			int worker, uint64_t v)
{
	fprintf(out, METRIC_PREFIX "%s", f->name);
	if (e->labels[0] || worker >= 0) {
		fputc('{', out);
		print_labels(out, e->labels, "%.*s=\"%.*s\"", ",");
		if (worker >= 0)
			fprintf(out, "%sworker=\"%d\"", e->labels[0] ? "," : "", worker);
		fputc('}', out);
	}
	prom_value(out, f, v);
}

/* Entries of one family must be written together: the exposition format
 * allows each family's HELP/TYPE once, before all its samples. */
static int by_family(const void *a, const void *b, void *arg)
{
	const struct stats_snapshot *s = arg;
	uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
	int c = strcmp(s->entries[i].name, s->entries[j].name);
	return c ? c : (i > j) - (i < j);
}

void bidstat_print_prometheus(FILE *out, const struct bidstat_update *u)
{
	const struct stats_snapshot *s = u->now;
	const struct stats_info *in = &s->info;
	uint32_t *order = malloc((s->count ? s->count : 1) * sizeof(*order));
	if (!order)
		return;
	for (uint32_t i = 0; i < s->count; i++)
		order[i] = i;
	qsort_r(order, s->count, sizeof(*order), by_family, (void *)s);

	fprintf(out,
		"# HELP " METRIC_PREFIX "info The node: name, version, pid.\n"
		"# TYPE " METRIC_PREFIX "info gauge\n" METRIC_PREFIX
		"info{name=\"%s\",version=\"%s\",pid=\"%d\"} 1\n",
		in->name, in->node_version, (int)in->pid);
	fprintf(out,
		"# HELP " METRIC_PREFIX "up 1 while the node runs, 0 once it exited or is gone.\n"
		"# TYPE " METRIC_PREFIX "up gauge\n" METRIC_PREFIX "up %d\n",
		strcmp(bidstat_state(u), "running") == 0);
	const char *family = "";
	struct prom_family f;
	for (uint32_t n = 0; n < s->count; n++) {
		uint32_t i = order[n];
		const struct stats_entry *e = &s->entries[i];
		if (strcmp(e->name, family) != 0) {
			prom_family_of(e->name, &f);
			fprintf(out, "# HELP " METRIC_PREFIX "%s ", f.name);
			prom_help(out, e->help[0] ? e->help : e->name);
			fprintf(out, "\n# TYPE " METRIC_PREFIX "%s %s\n", f.name,
				e->kind == STATS_COUNTER ? "counter" : "gauge");
			family = e->name;
		}
		if (!e->per_worker) {
			prom_sample(out, &f, e, -1, s->values[s->first[i]]);
			continue;
		}
		for (uint32_t k = 0; k < e->count; k++)
			prom_sample(out, &f, e, (int)k, s->values[s->first[i] + k]);
	}
	free(order);
	fflush(out);
}
