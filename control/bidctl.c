/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bidctl: the command line client of a node's control socket
 * (docs/CONTROL.md). Exit codes: 0 ok, 1 the node answered an error,
 * 2 usage error, 3 cannot reach the node.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"

#define DEFAULT_DIR "/run/bidplane"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: bidctl [--socket PATH | --name NAME] [--json] <command> [args]\n"
		"\n"
		"Commands:\n"
		"  open --auction ID --reserve N --increment N --duration SECONDS\n"
		"  close ID            close now and settle\n"
		"  query ID            one auction\n"
		"  list                every auction\n"
		"  status              node id, HLC, fencing epoch, workers, uptime, auctions\n"
		"\n"
		"Options:\n"
		"  --socket PATH       the node's --control-socket\n"
		"  --name NAME         the node's --stats-name: socket " DEFAULT_DIR "/NAME.sock\n"
		"                      (default name: bidplane)\n"
		"  --json              print the node's JSON answer\n"
		"  -h, --help          this text\n"
		"\n"
		"Examples:\n"
		"  bidctl status\n"
		"  bidctl --socket /tmp/bp.ctl open --auction 42 --reserve 100 --increment 5 "
		"--duration 60\n"
		"  bidctl --json query 42\n");
}

static int usage_error(const char *msg)
{
	fprintf(stderr, "bidctl: %s (see bidctl --help)\n", msg);
	return 2;
}

/* Builds "open ID R I D" from the open subcommand's options. */
static int open_request(int argc, char **argv, char *req, size_t len)
{
	static const struct option opts[] = {
	    {"auction", required_argument, NULL, 'a'},
	    {"reserve", required_argument, NULL, 'r'},
	    {"increment", required_argument, NULL, 'i'},
	    {"duration", required_argument, NULL, 'd'},
	    {NULL, 0, NULL, 0},
	};
	const char *v[4] = {NULL, NULL, NULL, NULL};
	int c;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			v[0] = optarg;
			break;
		case 'r':
			v[1] = optarg;
			break;
		case 'i':
			v[2] = optarg;
			break;
		case 'd':
			v[3] = optarg;
			break;
		default:
			return usage_error("open takes --auction --reserve --increment --duration");
		}
	}
	for (int i = 0; i < 4; i++)
		if (!v[i])
			return usage_error("open needs --auction ID --reserve N --increment N "
					   "--duration SECONDS");
	snprintf(req, len, "open %s %s %s %s", v[0], v[1], v[2], v[3]);
	return 0;
}

static int talk(const char *path, const char *request, int json)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path))
		return usage_error("socket path too long");
	memcpy(addr.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		fprintf(stderr,
			"bidctl: cannot connect to %s: %s; is the node running? (start it with "
			"--control-socket %s, or pass --socket/--name)\n",
			path, strerror(errno), path);
		return 3;
	}
	char line[CTL_LINE_MAX + 16];
	int n = snprintf(line, sizeof(line), "%s %s\n", json ? "json" : "text", request);
	if (write(fd, line, (size_t)n) != n) {
		fprintf(stderr, "bidctl: cannot send to %s: %s\n", path, strerror(errno));
		close(fd);
		return 3;
	}
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	ssize_t r;
	while (buf && (r = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)r;
		if (len + 1 == cap) {
			char *bigger = realloc(buf, cap * 2);
			if (!bigger)
				break;
			buf = bigger;
			cap *= 2;
		}
	}
	close(fd);
	if (!buf || len == 0) {
		fprintf(stderr, "bidctl: %s closed without an answer\n", path);
		free(buf);
		return 3;
	}
	buf[len] = '\0';
	char *body = strchr(buf, '\n');
	body = body ? body + 1 : buf + len;
	int ok = strncmp(buf, "ok\n", 3) == 0;
	if (ok || json)
		fputs(body, stdout);
	if (!ok) {
		char *nl = strchr(buf, '\n');
		if (nl)
			*nl = '\0';
		fprintf(stderr, "bidctl: %s\n", strncmp(buf, "error ", 6) == 0 ? buf + 6 : buf);
	}
	free(buf);
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"socket", required_argument, NULL, 's'},
	    {"name", required_argument, NULL, 'n'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char path[sizeof(((struct sockaddr_un *)0)->sun_path) + 64] = DEFAULT_DIR "/bidplane.sock";
	int json = 0, c;
	/* '+': stop at the command, its options are its own. */
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 's':
			snprintf(path, sizeof(path), "%s", optarg);
			break;
		case 'n':
			snprintf(path, sizeof(path), DEFAULT_DIR "/%s.sock", optarg);
			break;
		case 'j':
			json = 1;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return usage_error("unknown option");
		}
	}
	if (optind >= argc)
		return usage_error("no command given");
	const char *cmd = argv[optind];
	int nargs = argc - optind - 1;
	char req[CTL_LINE_MAX];
	if (strcmp(cmd, "open") == 0) {
		int rc = open_request(argc - optind, argv + optind, req, sizeof(req));
		if (rc)
			return rc;
	} else if (strcmp(cmd, "close") == 0 || strcmp(cmd, "query") == 0) {
		if (nargs != 1)
			return usage_error(strcmp(cmd, "close") == 0 ? "usage: close ID"
								     : "usage: query ID");
		snprintf(req, sizeof(req), "%s %s", cmd, argv[optind + 1]);
	} else if (strcmp(cmd, "list") == 0 || strcmp(cmd, "status") == 0) {
		if (nargs != 0)
			return usage_error("list and status take no arguments");
		snprintf(req, sizeof(req), "%s", cmd);
	} else {
		return usage_error("unknown command; commands: open close query list status");
	}
	return talk(path, req, json);
}
