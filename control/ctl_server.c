/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket server. Polled from the control thread: accepting and
 * answering never blocks it for more than CLIENT_WAIT_MS per client.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "mkdir_p.h"

#define CLIENT_WAIT_MS	 100
#define RESPONSE_MAX	 (1u << 20)
#define CLIENTS_PER_POLL 8

struct ctl_server {
	int fd;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ctl_handlers handlers;
	char *response;
};

/* A socket file nobody listens on is left over from a dead node. */
static int remove_stale(const struct sockaddr_un *addr)
{
	struct stat st;
	if (stat(addr->sun_path, &st) != 0)
		return 0;
	if (!S_ISSOCK(st.st_mode))
		return -EEXIST;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int rc = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	close(fd);
	if (rc == 0)
		return -EADDRINUSE;
	unlink(addr->sun_path);
	return 0;
}

struct ctl_server *ctl_server_open(const char *path, const struct ctl_handlers *h, char *err,
				   size_t errlen)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, errlen,
			 "control socket path %s is longer than %zu bytes: pick a shorter "
			 "--control-socket",
			 path, sizeof(addr.sun_path) - 1);
		return NULL;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	int rc = mkdir_parent_of(path);
	if (rc != 0) {
		snprintf(err, errlen,
			 "cannot create the directory of %s: %s; pick another "
			 "--control-socket",
			 path, strerror(-rc));
		return NULL;
	}
	rc = remove_stale(&addr);
	if (rc == -EADDRINUSE) {
		snprintf(err, errlen,
			 "control socket %s is in use by a running node; pick another "
			 "--control-socket or stop that node",
			 path);
		return NULL;
	}
	if (rc == -EEXIST) {
		snprintf(err, errlen,
			 "%s exists and is not a socket; remove it or pick another "
			 "--control-socket",
			 path);
		return NULL;
	}
	struct ctl_server *s = calloc(1, sizeof(*s));
	if (!s || !(s->response = malloc(RESPONSE_MAX))) {
		free(s);
		snprintf(err, errlen, "out of memory for the control socket");
		return NULL;
	}
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    chmod(path, 0660) != 0 || listen(s->fd, 16) != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", path, strerror(errno));
		if (s->fd >= 0)
			close(s->fd);
		free(s->response);
		free(s);
		return NULL;
	}
	snprintf(s->path, sizeof(s->path), "%s", path);
	s->handlers = *h;
	return s;
}

/* Reads one request line within CLIENT_WAIT_MS. Returns its length or -1. */
static ssize_t read_line(int fd, char *line, size_t cap)
{
	size_t len = 0;
	int waited = 0;
	while (len < cap - 1 && waited <= CLIENT_WAIT_MS) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		if (poll(&p, 1, 10) <= 0) {
			waited += 10;
			continue;
		}
		ssize_t n = read(fd, line + len, cap - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
		line[len] = '\0';
		if (memchr(line, '\n', len))
			return (ssize_t)len;
	}
	line[len] = '\0';
	return len ? (ssize_t)len : -1;
}

static void serve(struct ctl_server *s, int fd)
{
	char line[CTL_LINE_MAX + 2];
	struct timeval tv = {.tv_sec = 0, .tv_usec = CLIENT_WAIT_MS * 1000};
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	ssize_t n = read_line(fd, line, sizeof(line));
	if (n < 0)
		return;
	size_t len;
	if (!memchr(line, '\n', (size_t)n) && (size_t)n > CTL_LINE_MAX) {
		len = (size_t)snprintf(s->response, RESPONSE_MAX,
				       "error request longer than %d bytes\n", CTL_LINE_MAX);
	} else {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		len = ctl_execute(&s->handlers, line, s->response, RESPONSE_MAX);
	}
	for (size_t off = 0; off < len;) {
		ssize_t w = write(fd, s->response + off, len - off);
		if (w <= 0)
			break;
		off += (size_t)w;
	}
}

int ctl_server_poll(struct ctl_server *s)
{
	int served = 0;
	while (served < CLIENTS_PER_POLL) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			break;
		/* Blocking reads bounded by poll() in read_line. */
		serve(s, fd);
		close(fd);
		served++;
	}
	return served;
}

void ctl_server_close(struct ctl_server *s)
{
	if (!s)
		return;
	close(s->fd);
	unlink(s->path);
	free(s->response);
	free(s);
}
