/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bidstat: a node's statistics, read from its shared-memory stats segment
 * (stats_segment.h). Needs no DPDK and no root: membership of the node's
 * stats group is enough. Follows the node across restarts.
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bidstat.h"
#include "defaults.h"

#define DEFAULT_NAME "bidplane" /* the node's default --stats-name */

enum exit_code {
	EXIT_OK = 0,
	EXIT_UNREADABLE = 1, /* damaged segment, or one that stays busy */
	EXIT_USAGE = 2,
	EXIT_NO_NODE = 3,    /* no segment, or its node exited / is gone */
	EXIT_PERMISSION = 4, /* not allowed to read the segment */
	EXIT_VERSION = 5,    /* a segment layout this bidstat does not know */
};

enum format { FORMAT_VIEW, FORMAT_JSON, FORMAT_PROMETHEUS };

struct options {
	const char *name;
	double interval_s;
	long count; /* updates; 0: until interrupted */
	enum format format;
	bool all;
	bool auctions;
	bool list;
	bool clean;
	const char *serve; /* --serve ADDR:PORT */
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bidstat [options] [NAME]\n"
		"\n"
		"Shows a bidplane node's statistics: rates and totals per worker and for the\n"
		"node, refreshed every second. NAME is the node's --stats-name; the segment\n"
		"is /dev/shm/NAME.bpstats. Without NAME: the only node on this host, or\n"
		"'" DEFAULT_NAME "'.\n"
		"\n"
		"Options:\n"
		"  -i, --interval S    seconds between updates (default 1; 0.1 and up)\n"
		"  -c, --count N       stop after N updates (default: until Ctrl-C)\n"
		"  -1, --once          one update (rates are averages since the node started)\n"
		"  -j, --json          one JSON object per update\n"
		"  -p, --prometheus    Prometheus text format; one update unless --count\n"
		"  -a, --all           show zero values too\n"
		"      --auctions      show the tracked auctions' values\n"
		"  -l, --list          list the nodes publishing statistics on this host, with\n"
		"                      their state (running, exited, crashed), pid and version\n"
		"      --clean [NAME]  remove what dead nodes left (only NAME's, when given):\n"
		"                      their segments, claim files and DPDK runtime\n"
		"                      directories (/var/run/dpdk/PREFIX of any --file-prefix)\n"
		"                      once no process uses them\n"
		"      --version       print bidstat's version and exit\n"
		"      --serve ADDR:PORT  answer Prometheus scrapes: HTTP GET /metrics gets\n"
		"                      the --prometheus text (e.g. 127.0.0.1:9464)\n"
		"  -h, --help          this text\n"
		"\n"
		"bidstat follows the node across restarts and says when it exited.\n"
		"Reading needs root or membership of the node's --stats-group (default\n"
		"bidplane): usermod -aG bidplane $USER.\n"
		"\n"
		"Exit codes: 0 ok, 1 unreadable segment (damaged or always changing),\n"
		"2 usage error, 3 no node running under NAME (none ever, or it exited),\n"
		"4 permission denied, 5 segment version unknown to this bidstat.\n"
		"\n"
		"Examples:\n"
		"  bidstat                      live view of the only node\n"
		"  bidstat edge-1 -i 5          every 5 seconds\n"
		"  bidstat --once --json edge-1\n"
		"  bidstat --prometheus > /var/lib/node_exporter/bidplane.prom\n"
		"  bidstat --serve 127.0.0.1:9464 edge-1   scrape http://127.0.0.1:9464/metrics\n");
}

static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bidstat: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see bidstat --help)\n");
	va_end(ap);
	return EXIT_USAGE;
}

static int exit_for(int rc)
{
	switch (rc) {
	case -ENOENT:
		return EXIT_NO_NODE;
	case -EACCES:
	case -EPERM:
		return EXIT_PERMISSION;
	case -EPROTO:
		return EXIT_VERSION;
	case -EINVAL:
		return EXIT_USAGE;
	default:
		return EXIT_UNREADABLE;
	}
}

/* NAME's segment is of a node running now. */
static bool segment_live(const char *name)
{
	char err[256];
	struct stats_reader r;
	struct stats_info in;
	if (stats_reader_open(&r, name, err, sizeof(err)) != 0)
		return false;
	bool live = stats_reader_info(&r, &in) == 0 && in.state == STATS_RUNNING &&
		    bidstat_pid_alive(in.pid);
	stats_reader_close(&r);
	return live;
}

/* The segments here: how many, and how many of them are live; the first
 * (of all, or of the live ones) kept for choose_name, each printed to out
 * when out is set. */
struct segment_count {
	FILE *out;
	int all, live;
	char first[STATS_NAME_MAX], first_live[STATS_NAME_MAX];
};

static void count_segment(const char *name, void *arg)
{
	struct segment_count *c = arg;
	if (c->out)
		fprintf(c->out, "%s\n", name);
	if (c->all++ == 0)
		snprintf(c->first, sizeof(c->first), "%s", name);
	if (segment_live(name) && c->live++ == 0)
		snprintf(c->first_live, sizeof(c->first_live), "%s", name);
}

static int parse_args(int argc, char **argv, struct options *o)
{
	/* clang-format off */
	static const struct option longs[] = {
	    {"interval", required_argument, NULL, 'i'}, {"count", required_argument, NULL, 'c'},
	    {"once", no_argument, NULL, '1'},		{"json", no_argument, NULL, 'j'},
	    {"prometheus", no_argument, NULL, 'p'},	{"all", no_argument, NULL, 'a'},
	    {"auctions", no_argument, NULL, 'A'},	{"list", no_argument, NULL, 'l'},
	    {"clean", no_argument, NULL, 'C'},		{"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},	{"serve", required_argument, NULL, 'S'},
	    {NULL, 0, NULL, 0},
	};
	/* clang-format on */
	bool count_given = false;
	char *end;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":i:c:1jpalh", longs, NULL)) != -1) {
		switch (c) {
		case 'i':
			o->interval_s = strtod(optarg, &end);
			if (*end || !isfinite(o->interval_s) || o->interval_s < 0.1 ||
			    o->interval_s > 86400)
				return usage_error("--interval %s: seconds from 0.1 to 86400",
						   optarg);
			break;
		case 'c':
			errno = 0;
			o->count = strtol(optarg, &end, 10);
			if (*end || errno || o->count < 1)
				return usage_error("--count %s: a whole number >= 1", optarg);
			count_given = true;
			break;
		case '1':
			o->count = 1;
			count_given = true;
			break;
		case 'j':
			o->format = FORMAT_JSON;
			break;
		case 'p':
			o->format = FORMAT_PROMETHEUS;
			break;
		case 'a':
			o->all = true;
			break;
		case 'A':
			o->auctions = true;
			break;
		case 'l':
			o->list = true;
			break;
		case 'C':
			o->clean = true;
			break;
		case 'S':
			o->serve = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(EXIT_OK);
		case 'V':
			printf("bidstat %s\n", BP_NODE_VERSION);
			exit(EXIT_OK);
		case ':':
			return usage_error("%s needs a value", argv[optind - 1]);
		default:
			return usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc)
		o->name = argv[optind++];
	if (optind < argc)
		return usage_error("one NAME at most, got '%s' too", argv[optind]);
	if (o->serve && (o->format == FORMAT_JSON || o->list || count_given))
		return usage_error("--serve answers scrapes until stopped: drop --json, --list, "
				   "--count and --once");
	if (o->format == FORMAT_PROMETHEUS && !count_given)
		o->count = 1;
	return EXIT_OK;
}

/* The name to read: given, the only segment here, the only one whose node
 * runs (an exited node's segment stays for a last look), or the default. */
static int choose_name(struct options *o, char *buf, size_t len)
{
	if (o->name)
		return EXIT_OK;
	struct segment_count c = {0};
	bidstat_each_segment(count_segment, &c);
	if (c.all == 1 || (c.all > 1 && c.live == 1)) {
		snprintf(buf, len, "%s", c.all == 1 ? c.first : c.first_live);
		o->name = buf;
		return EXIT_OK;
	}
	if (c.all > 1) {
		char path[STATS_NAME_MAX + 32];
		stats_segment_path(DEFAULT_NAME, path, sizeof(path));
		if (access(path, F_OK) == 0) {
			o->name = DEFAULT_NAME;
			return EXIT_OK;
		}
		fprintf(stderr, "bidstat: %d nodes publish statistics here; name one:\n", c.all);
		struct segment_count names = {.out = stderr};
		bidstat_each_segment(count_segment, &names);
		return EXIT_USAGE;
	}
	o->name = DEFAULT_NAME;
	return EXIT_OK;
}

static void sleep_s(double s)
{
	struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
	while (!stop && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

struct watch {
	struct stats_reader reader;
	bool open;
	struct stats_snapshot snaps[2];
	int cur;	/* snaps[cur] is the newest */
	bool have_prev; /* snaps[cur ^ 1] is of the same node */
	char notice[160];
};

/* (Re)opens the segment when the name now leads elsewhere. */
static int follow(struct watch *w, const char *name, char *err, size_t errlen)
{
	if (w->open && stats_reader_check(&w->reader) == STATS_SAME)
		return 0;
	int old_pid = w->open ? w->snaps[w->cur].info.pid : 0;
	struct stats_reader r;
	int rc = stats_reader_open(&r, name, err, errlen);
	if (rc != 0)
		return w->open ? 0 : rc; /* keep showing the last segment we had */
	if (w->open) {
		struct stats_info in = {0};
		stats_reader_info(&r, &in);
		stats_reader_close(&w->reader);
		snprintf(w->notice, sizeof(w->notice), "node restarted: pid %d -> pid %d", old_pid,
			 (int)in.pid);
	}
	w->reader = r;
	w->open = true;
	w->have_prev = false;
	return 0;
}

static int take(struct watch *w)
{
	int next = w->cur ^ 1;
	int rc = stats_snapshot_take(&w->reader, &w->snaps[next]);
	if (rc != 0)
		return rc;
	bool same_node =
	    w->snaps[next].info.pid == w->snaps[w->cur].info.pid &&
	    w->snaps[next].info.started_unix_ms == w->snaps[w->cur].info.started_unix_ms;
	w->have_prev = w->have_prev && same_node;
	w->cur = next;
	return 0;
}

static void print_update(const struct options *o, struct watch *w, bool tty)
{
	struct bidstat_update u = {
	    .now = &w->snaps[w->cur],
	    .prev = w->have_prev ? &w->snaps[w->cur ^ 1] : NULL,
	    .alive = bidstat_pid_alive(w->snaps[w->cur].info.pid),
	    .all = o->all,
	    .auctions = o->auctions,
	    .notice = w->notice[0] ? w->notice : NULL,
	};
	if (o->format == FORMAT_JSON)
		bidstat_print_json(stdout, &u);
	else if (o->format == FORMAT_PROMETHEUS)
		bidstat_print_prometheus(stdout, &u);
	else
		bidstat_print_view(stdout, &u, tty && o->count != 1);
	w->notice[0] = '\0';
	w->have_prev = true;
}

static bool node_running(const struct watch *w)
{
	const struct stats_info *in = &w->snaps[w->cur].info;
	return in->state == STATS_RUNNING && bidstat_pid_alive(in->pid);
}

int main(int argc, char **argv)
{
	struct options o = {.interval_s = 1.0, .format = FORMAT_VIEW};
	char name[STATS_NAME_MAX], err[512];
	int rc = parse_args(argc, argv, &o);
	if (rc != EXIT_OK)
		return rc;
	if (o.list)
		return bidstat_list(stdout) > 0 ? EXIT_OK : EXIT_NO_NODE;
	if (o.clean)
		return bidstat_clean(stdout, o.name ? (char **)&o.name : NULL, o.name ? 1 : 0) == 0
			   ? EXIT_OK
			   : EXIT_PERMISSION;
	if ((rc = choose_name(&o, name, sizeof(name))) != EXIT_OK)
		return rc;
	/* No SA_RESTART: a signal ends a sleep at once. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	if (o.serve)
		return bidstat_serve(o.serve, o.name, &stop);
	bool tty = isatty(STDOUT_FILENO);

	struct watch w;
	memset(&w, 0, sizeof(w));
	rc = follow(&w, o.name, err, sizeof(err));
	if (rc != 0) {
		fprintf(stderr, "bidstat: %s\n", err);
		return exit_for(rc);
	}
	for (long n = 0; !stop && (o.count == 0 || n < o.count); n++) {
		if (n > 0)
			sleep_s(o.interval_s);
		if (stop)
			break;
		follow(&w, o.name, err, sizeof(err));
		rc = take(&w);
		if (rc != 0) {
			fprintf(stderr, "bidstat: %s: %s\n", o.name,
				rc == -EAGAIN ? "the directory keeps changing; try again"
				: rc == -EFAULT
				    ? "damaged segment (truncated while being read)"
				    : "damaged segment (its directory fails its checks)");
			return EXIT_UNREADABLE;
		}
		print_update(&o, &w, tty);
	}
	if (!node_running(&w)) {
		const struct stats_info *in = &w.snaps[w.cur].info;
		fprintf(stderr, "bidstat: node '%s' (pid %d) is not running: %s\n", o.name,
			(int)in->pid,
			in->state == STATS_EXITED ? "it exited; the values shown are its last"
						  : "its process is gone (crashed?)");
		rc = EXIT_NO_NODE;
	}
	for (int i = 0; i < 2; i++)
		stats_snapshot_free(&w.snaps[i]);
	stats_reader_close(&w.reader);
	return rc;
}
