/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bidctl: the command line client of a node's control socket. It turns the
 * command line into one request line, prints the node's answer and says
 * through its exit code how it went (docs/CONTROL.md).
 */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <inttypes.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "defaults.h"
#include "ctl.h"

#define SOCKET_DIR   BP_RUN_DIR
#define DEFAULT_NAME "bidplane" /* the node's default --stats-name */
/* The node answers within its per-client budget once its control thread
 * gets to the request; `close` waits for a grace period first. */
#define ANSWER_TIMEOUT_S 5
/* Far above any answer the node sends (1 MiB): a guard against a socket
 * that is not a node's. */
#define ANSWER_MAX (64u << 20)

enum exit_code {
	EXIT_OK = 0,
	EXIT_NODE_ERROR = 1, /* the node answered "error ..." */
	EXIT_USAGE = 2,
	EXIT_UNREACHABLE = 3, /* no node at the socket, or no answer from it */
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bidctl [--socket PATH | --name NAME] [--json] <command> [args]\n"
		"\n"
		"Commands:\n"
		"  open --auction ID --reserve N --increment N --duration SECONDS\n"
		"                      open an auction now, closing SECONDS from now;\n"
		"                      ID 1..18446744073709551615, reserve and increment\n"
		"                      1..9223372036854775807, SECONDS 1..315360000 (10 years)\n"
		"  close ID            close an auction now and settle it\n"
		"  query ID            one auction: state, leading bid, bids, viewers\n"
		"  list [--from ID] [--limit N]\n"
		"                      a page of auctions, one line each, lowest ids first:\n"
		"                      ids >= ID (default 1), at most N, 1..1000 (default\n"
		"                      1000); the last line says where the next page starts\n"
		"  status              node id, version, HLC, fencing epoch, workers, uptime\n"
		"  clock-offset MS     FAULT INJECTION ONLY (tests, chaos): shift the running\n"
		"                      node's wall clock by MS ms from now on (negative: back),\n"
		"                      -86400000..86400000; 0 undoes it. Its HLC never goes\n"
		"                      back; a jump forward of more than --max-drift-ms makes\n"
		"                      peers refuse its stamps and quarantine it\n"
		"  lease-guard on|off  FAULT INJECTION ONLY (tests, chaos), with --etcd: off\n"
		"                      makes the leader ignore its own lease deadline (and\n"
		"                      etcd's word that its lease is gone) until etcd refuses\n"
		"                      one of its settlement writes for its fencing token: a\n"
		"                      zombie leader; on restores the guard. Status shows\n"
		"                      injected_lease_guard_off\n"
		"\n"
		"Options:\n"
		"  --socket PATH       the node's --control-socket\n"
		"  --name NAME         the node's --stats-name: socket " SOCKET_DIR "/NAME.sock\n"
		"                      (default: " SOCKET_DIR "/" DEFAULT_NAME ".sock)\n"
		"  --json              print the node's JSON answer (errors too)\n"
		"  --version           print bidctl's version and exit\n"
		"  -h, --help          this text\n"
		"\n"
		"Exit codes: 0 ok, 1 the node refused (reason on stderr), 2 usage error,\n"
		"3 no node answering at the socket.\n"
		"\n"
		"Examples:\n"
		"  bidctl status\n"
		"  bidctl --name edge-1 list\n"
		"  bidctl --name edge-1 list --from 1042 --limit 100\n"
		"  bidctl --socket /tmp/bp.ctl open --auction 42 --reserve 100 --increment 5 "
		"--duration 60\n"
		"  bidctl --json query 42\n"
		"  bidctl close 42\n"
		"  bidctl --name edge-1 clock-offset -10000\n"
		"  bidctl --name edge-1 lease-guard off\n");
}

static int __attribute__((format(printf, 1, 2))) usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "bidctl: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (see bidctl --help)\n");
	va_end(ap);
	return EXIT_USAGE;
}

/* getopt is told to stay quiet (opterr = 0, ':' first in optstring) so that
 * every usage message has bidctl's own form. */
static int option_error(int c, char **argv)
{
	if (c == ':')
		return usage_error("%s needs a value", argv[optind - 1]);
	return usage_error("unknown option '%s'", argv[optind - 1]);
}

/* Positional ids are checked by the node; bidctl only keeps words that
 * would change the request's shape (spaces, signs, options) from reaching
 * it. */
static bool is_unsigned_decimal(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* An option's number: unsigned decimal in [min, max], or a usage error
 * that names the option, the value and the range. */
static int option_number(const char *option, const char *s, uint64_t min, uint64_t max)
{
	uint64_t v = 0;
	bool digits = is_unsigned_decimal(s), too_big = false;
	for (const char *p = s; digits && *p && !too_big; p++) {
		unsigned int d = (unsigned int)(*p - '0');
		too_big = v > (UINT64_MAX - d) / 10;
		v = v * 10 + d;
	}
	if (!digits)
		return usage_error("--%s '%s' is not an unsigned decimal number (%" PRIu64
				   "..%" PRIu64 ")",
				   option, s, min, max);
	if (too_big || v < min || v > max)
		return usage_error("--%s %s is out of range %" PRIu64 "..%" PRIu64, option, s, min,
				   max);
	return 0;
}

/* Writes the request (without its format word); a usage error when it
 * would not fit a request line. */
static int __attribute__((format(printf, 3, 4)))
put_request(char *req, size_t len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(req, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len)
		return usage_error("the request is longer than %d bytes", CTL_LINE_MAX);
	return 0;
}

/* Each builder gets the command's own argv (argv[0] is the command) and
 * writes the request without its format word; 0 or an exit code. */
typedef int (*build_fn)(int argc, char **argv, char *req, size_t len);

static int build_open(int argc, char **argv, char *req, size_t len)
{
	/* An option's value is its slot in v[] plus one (getopt's 0 is taken). */
	static const struct option opts[] = {
	    {"auction", required_argument, NULL, 1},
	    {"reserve", required_argument, NULL, 2},
	    {"increment", required_argument, NULL, 3},
	    {"duration", required_argument, NULL, 4},
	    {NULL, 0, NULL, 0},
	};
	static const uint64_t max[4] = {UINT64_MAX, CTL_AMOUNT_MAX, CTL_AMOUNT_MAX,
					CTL_DURATION_MAX_S};
	const char *v[4] = {NULL, NULL, NULL, NULL};
	int c;
	optind = 0; /* glibc: start afresh on the command's own argv */
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		if (c < 1 || c > 4)
			return option_error(c, argv);
		v[c - 1] = optarg;
	}
	if (optind < argc)
		return usage_error("open takes options only, not '%s'", argv[optind]);
	for (int i = 0; i < 4; i++) {
		if (!v[i])
			return usage_error("open needs --%s", opts[i].name);
		int rc = option_number(opts[i].name, v[i], 1, max[i]);
		if (rc != 0)
			return rc;
	}
	return put_request(req, len, "open %s %s %s %s", v[0], v[1], v[2], v[3]);
}

static int build_one_id(int argc, char **argv, char *req, size_t len)
{
	if (argc != 2)
		return usage_error("usage: bidctl %s ID", argv[0]);
	if (!is_unsigned_decimal(argv[1]))
		return usage_error("%s: auction id '%s' is not an unsigned decimal number", argv[0],
				   argv[1]);
	return put_request(req, len, "%s %s", argv[0], argv[1]);
}

/* list [--from ID] [--limit N]: "list" alone lets the node pick the page. */
static int build_list(int argc, char **argv, char *req, size_t len)
{
	static const struct option opts[] = {
	    {"from", required_argument, NULL, 'f'},
	    {"limit", required_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	const char *from = NULL, *limit = NULL;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "+:", opts, NULL)) != -1) {
		if (c == 'f')
			from = optarg;
		else if (c == 'l')
			limit = optarg;
		else
			return option_error(c, argv);
	}
	if (optind < argc)
		return usage_error("list takes --from ID and --limit N only, not '%s'",
				   argv[optind]);
	int rc = 0;
	if (from)
		rc = option_number("from", from, 1, UINT64_MAX);
	if (rc == 0 && limit)
		rc = option_number("limit", limit, 1, CTL_LIST_LIMIT_MAX);
	if (rc != 0)
		return rc;
	if (!from && !limit)
		return put_request(req, len, "list");
	if (!limit)
		return put_request(req, len, "list %s", from);
	return put_request(req, len, "list %s %s", from ? from : "1", limit);
}

/* clock-offset MS: a decimal, '-' allowed; the node checks the bound (as
 * it does ids) and names it. */
static int build_clock_offset(int argc, char **argv, char *req, size_t len)
{
	if (argc != 2)
		return usage_error("usage: bidctl clock-offset MS (fault injection)");
	const char *digits = argv[1] + (argv[1][0] == '-');
	if (!is_unsigned_decimal(digits))
		return usage_error("clock-offset: '%s' is not a decimal number of ms (-%" PRId64
				   "..%" PRId64 ")",
				   argv[1], CTL_CLOCK_OFFSET_MAX_MS, CTL_CLOCK_OFFSET_MAX_MS);
	return put_request(req, len, "clock-offset %s", argv[1]);
}

/* lease-guard on|off: the wire says 1 or 0. */
static int build_lease_guard(int argc, char **argv, char *req, size_t len)
{
	bool on = argc == 2 && strcmp(argv[1], "on") == 0;
	if (argc != 2 || (!on && strcmp(argv[1], "off") != 0))
		return usage_error("usage: bidctl lease-guard on|off (fault injection)");
	return put_request(req, len, "lease-guard %d", on ? 1 : 0);
}

static int build_no_args(int argc, char **argv, char *req, size_t len)
{
	if (argc != 1)
		return usage_error("%s takes no arguments", argv[0]);
	return put_request(req, len, "%s", argv[0]);
}

static const struct {
	const char *name;
	build_fn build;
} commands[] = {
    {"open", build_open},
    {"close", build_one_id},
    {"query", build_one_id},
    {"list", build_list},
    {"status", build_no_args},
    {"clock-offset", build_clock_offset},
    {"lease-guard", build_lease_guard},
};

static int unreachable(const char *path, const char *what)
{
	fprintf(stderr,
		"bidctl: %s %s: %s; is the node running? (start it with --control-socket %s, "
		"or pass --socket/--name)\n",
		what, path, strerror(errno), path);
	return EXIT_UNREACHABLE;
}

/*
 * connect() says "Connection refused" both for a file that is no socket
 * and for a socket nobody listens on: tell them apart, as their fixes
 * differ.
 */
static int why_no_connection(const char *path)
{
	int connect_errno = errno;
	struct stat st;
	if (connect_errno == ECONNREFUSED && stat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			fprintf(stderr,
				"bidctl: %s is not a socket but a %s; pass the node's "
				"--control-socket with --socket, or its --stats-name with --name\n",
				path,
				S_ISDIR(st.st_mode)   ? "directory"
				: S_ISREG(st.st_mode) ? "regular file"
						      : "special file");
			return EXIT_UNREACHABLE;
		}
		fprintf(stderr,
			"bidctl: nobody listens on %s (Connection refused): the node that made "
			"it has stopped; start it again (with --control-socket %s)\n",
			path, path);
		return EXIT_UNREACHABLE;
	}
	errno = connect_errno;
	return unreachable(path, "cannot connect to");
}

static int connect_to(const char *path, int *fd)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr,
			"bidctl: socket path %s is longer than the %zu bytes unix sockets allow "
			"(see bidctl --help)\n",
			path, sizeof(addr.sun_path) - 1);
		return EXIT_USAGE;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	*fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return unreachable(path, "cannot create a socket for");
	if (connect(*fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		int rc = why_no_connection(path);
		close(*fd);
		return rc;
	}
	struct timeval timeout = {.tv_sec = ANSWER_TIMEOUT_S};
	setsockopt(*fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
	setsockopt(*fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
	return EXIT_OK;
}

static bool send_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		buf += n;
		len -= (size_t)n;
	}
	return true;
}

/* Reads until the node closes; NULL with errno set if it does not. */
static char *read_answer(int fd)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	while (buf) {
		ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		/* A reset after the whole answer is its end too: the node
		 * closes without reading what it did not need. */
		if (n == 0 || (n < 0 && errno == ECONNRESET && len > 0)) {
			buf[len] = '\0';
			return buf;
		}
		if (n < 0)
			break;
		len += (size_t)n;
		if (len + 1 == cap) {
			char *bigger = cap < ANSWER_MAX ? realloc(buf, cap * 2) : NULL;
			if (!bigger) {
				errno = EFBIG;
				break;
			}
			buf = bigger;
			cap *= 2;
		}
	}
	free(buf);
	return NULL;
}

/* Prints the answer: the body to stdout (for errors only with --json, as
 * text error bodies are empty), the error's reason to stderr. */
static int print_answer(const char *path, char *answer, bool json)
{
	char *body = strchr(answer, '\n');
	if (!body) {
		fprintf(stderr,
			"bidctl: %s answered '%.60s' with no status line; is it a bidplane "
			"control socket?\n",
			path, answer);
		return EXIT_UNREACHABLE;
	}
	*body++ = '\0';
	if (strcmp(answer, "ok") == 0) {
		fputs(body, stdout);
		return EXIT_OK;
	}
	if (strncmp(answer, "error ", 6) == 0) {
		if (json)
			fputs(body, stdout);
		fprintf(stderr, "bidctl: %s\n", answer + 6);
		return EXIT_NODE_ERROR;
	}
	fprintf(stderr,
		"bidctl: %s answered '%.60s', neither ok nor error; is it a bidplane control "
		"socket?\n",
		path, answer);
	return EXIT_UNREACHABLE;
}

static int talk(const char *path, const char *request, bool json)
{
	char line[CTL_LINE_MAX + 2];
	int n = snprintf(line, sizeof(line), "%s %s\n", json ? "json" : "text", request);
	if (n < 0 || (size_t)n >= sizeof(line))
		return usage_error("the request is longer than %d bytes", CTL_LINE_MAX);
	int fd, rc = connect_to(path, &fd);
	if (rc != EXIT_OK)
		return rc;
	if (!send_all(fd, line, (size_t)n)) {
		rc = unreachable(path, "cannot send the request to");
		close(fd);
		return rc;
	}
	char *answer = read_answer(fd);
	int read_errno = errno;
	close(fd);
	if (!answer && (read_errno == EAGAIN || read_errno == EWOULDBLOCK)) {
		fprintf(stderr,
			"bidctl: no answer from %s within %d s; the node may be busy or stuck\n",
			path, ANSWER_TIMEOUT_S);
		return EXIT_UNREACHABLE;
	}
	if (!answer) {
		errno = read_errno;
		return unreachable(path, "cannot read the answer from");
	}
	rc = print_answer(path, answer, json);
	free(answer);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'}, {"name", required_argument, NULL, 'n'},
	    {"json", no_argument, NULL, 'j'},	      {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0},
	};
	const char *socket_path = NULL, *name = NULL;
	bool json = false;
	int c;
	opterr = 0;
	/* '+': stop at the command; what follows is the command's. */
	while ((c = getopt_long(argc, argv, "+:h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			socket_path = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return EXIT_OK;
		case 'V':
			printf("bidctl %s\n", BP_NODE_VERSION);
			return EXIT_OK;
		default:
			return option_error(c, argv);
		}
	}
	if (socket_path && name)
		return usage_error("pass --socket or --name, not both");
	if (name && (!*name || strchr(name, '/')))
		return usage_error("--name '%s' must be a plain name such as edge-1", name);
	if (optind >= argc)
		return usage_error("no command given");

	char named_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	if (snprintf(named_path, sizeof(named_path), SOCKET_DIR "/%s.sock",
		     name ? name : DEFAULT_NAME) >= (int)sizeof(named_path))
		return usage_error("--name '%.40s...' is too long for a socket path", name);
	const char *path = socket_path ? socket_path : named_path;

	const char *cmd = argv[optind];
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(commands[i].name, cmd) != 0)
			continue;
		char req[CTL_LINE_MAX + 1];
		int rc = commands[i].build(argc - optind, argv + optind, req, sizeof(req));
		return rc != 0 ? rc : talk(path, req, json);
	}
	return usage_error(
	    "unknown command '%s'; commands: open close query list status clock-offset lease-guard",
	    cmd);
}
