/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket server, polled from the node's service thread. Every
 * socket is non-blocking and every wait has a deadline, so no client,
 * however slow or silent, holds the server for more than CLIENT_BUDGET_MS.
 */
#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "mkdir_p.h"

/* Per client: reading its request and writing the answer. */
#define CLIENT_BUDGET_MS 100
/* Per ctl_server_poll: clients still waiting after this are served by the
 * next call, so a burst of clients cannot starve the control thread. */
#define POLL_BUDGET_MS 100
/* Room for a `list` page of CTL_LIST_LIMIT_MAX auctions in JSON (at most
 * ~420 bytes each) twice over; an answer that still does not fit is
 * answered with an error, never a cut "ok". */
#define RESPONSE_MAX   (1u << 20)
#define LISTEN_BACKLOG 16
#define SOCKET_MODE    0660

struct ctl_server {
	int fd;
	/* The socket file this server made: close unlinks it only if it is
	 * still that file, never a newer node's socket at the same path. */
	dev_t dev;
	ino_t ino;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct ctl_handlers handlers;
	ctl_executor_fn executor; /* NULL: ctl_execute on this thread */
	void *executor_ctx;
	char *response; /* RESPONSE_MAX bytes, allocated once */
};

static uint64_t monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void in_use_error(const char *path, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "control socket %s is in use by a running node; pick another --control-socket "
		 "or stop that node",
		 path);
}

/* socket() fails only for want of descriptors or memory. */
static void no_socket_error(const char *path, char *err, size_t errlen)
{
	snprintf(err, errlen,
		 "cannot create a socket for the control socket %s: %s; check the open-file "
		 "limit (ulimit -n)",
		 path, strerror(errno));
}

/*
 * Makes the path free for a new socket. A socket file nobody listens on is
 * left over from a node that died without cleaning up: it is removed.
 * Anything else at the path is kept, and the reason is in err.
 */
static bool path_is_free(const struct sockaddr_un *addr, char *err, size_t errlen)
{
	const char *path = addr->sun_path;
	struct stat st;
	if (lstat(path, &st) != 0) {
		if (errno == ENOENT)
			return true;
		snprintf(err, errlen,
			 "cannot inspect %s: %s; run the node as a user that may read its "
			 "directory, or pick another --control-socket",
			 path, strerror(errno));
		return false;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
			 "%s exists and is not a socket; remove it or pick another "
			 "--control-socket",
			 path);
		return false;
	}
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (probe < 0) {
		no_socket_error(path, err, errlen);
		return false;
	}
	int rc = connect(probe, (const struct sockaddr *)addr, sizeof(*addr));
	int probe_errno = errno;
	close(probe);
	/* EAGAIN: a listener whose backlog is full is still a listener. */
	if (rc == 0 || probe_errno == EAGAIN) {
		in_use_error(path, err, errlen);
		return false;
	}
	if (probe_errno != ECONNREFUSED) {
		snprintf(err, errlen,
			 "cannot tell whether %s is in use: %s; run the node as the user that "
			 "owns it, or pick another --control-socket",
			 path, strerror(probe_errno));
		return false;
	}
	if (unlink(path) != 0 && errno != ENOENT) {
		snprintf(err, errlen,
			 "cannot remove the stale control socket %s: %s; remove it by hand or "
			 "pick another --control-socket",
			 path, strerror(errno));
		return false;
	}
	return true;
}

/* Binds and listens; on failure nothing is left at the path. */
static bool listen_on(struct ctl_server *s, const struct sockaddr_un *addr, char *err,
		      size_t errlen)
{
	const char *path = addr->sun_path;
	s->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->fd < 0) {
		no_socket_error(path, err, errlen);
		return false;
	}
	if (bind(s->fd, (const struct sockaddr *)addr, sizeof(*addr)) != 0) {
		if (errno == EADDRINUSE) /* another node took it since we looked */
			in_use_error(path, err, errlen);
		else
			snprintf(err, errlen,
				 "cannot create the control socket %s: %s; run the node as a "
				 "user that may write to its directory, or pick another "
				 "--control-socket",
				 path, strerror(errno));
		close(s->fd);
		return false;
	}
	struct stat st;
	/* bind() honours the umask; owner and group (bidctl users) may connect. */
	if (chmod(path, SOCKET_MODE) != 0 || lstat(path, &st) != 0 ||
	    listen(s->fd, LISTEN_BACKLOG) != 0) {
		snprintf(err, errlen,
			 "cannot listen on the control socket %s: %s; pick another "
			 "--control-socket",
			 path, strerror(errno));
		close(s->fd);
		unlink(path);
		return false;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	return true;
}

struct ctl_server *ctl_server_open(const char *path, const struct ctl_handlers *h, char *err,
				   size_t errlen)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	size_t len = strlen(path);
	if (len == 0) {
		snprintf(err, errlen,
			 "the control socket path is empty; pass --control-socket PATH");
		return NULL;
	}
	if (len >= sizeof(addr.sun_path)) {
		snprintf(err, errlen,
			 "control socket path %s is %zu bytes long, unix sockets allow at most "
			 "%zu; pick a shorter --control-socket",
			 path, len, sizeof(addr.sun_path) - 1);
		return NULL;
	}
	memcpy(addr.sun_path, path, len + 1);

	int rc = mkdir_parent_of(path);
	if (rc != 0) {
		snprintf(err, errlen,
			 "cannot create the directory of the control socket %s: %s; create it, "
			 "or pick another --control-socket",
			 path, strerror(-rc));
		return NULL;
	}
	if (!path_is_free(&addr, err, errlen))
		return NULL;

	struct ctl_server *s = calloc(1, sizeof(*s));
	char *response = malloc(RESPONSE_MAX);
	if (!s || !response) {
		snprintf(err, errlen, "out of memory for the control socket's %u-byte buffer",
			 RESPONSE_MAX);
		free(s);
		free(response);
		return NULL;
	}
	if (!listen_on(s, &addr, err, errlen)) {
		free(s);
		free(response);
		return NULL;
	}
	memcpy(s->path, path, len + 1);
	s->handlers = *h;
	s->response = response;
	return s;
}

/* Waits for events on fd until the deadline; false once it has passed.
 * An early return (a signal) is fine: the caller tries again. */
static bool wait_until(int fd, short events, uint64_t deadline_ms)
{
	uint64_t now = monotonic_ms();
	if (now >= deadline_ms)
		return false;
	struct pollfd p = {.fd = fd, .events = events};
	poll(&p, 1, (int)(deadline_ms - now));
	return true;
}

enum request_read {
	REQUEST_READ,	/* a line, a line cut by end of stream, or too long a line */
	REQUEST_LATE,	/* the deadline passed before a whole line came */
	REQUEST_ABSENT, /* the client closed without a byte, or the socket failed */
};

/* Reads up to the first newline; a buffer filled without one holds a line
 * longer than CTL_LINE_MAX, which ctl_execute refuses with its reason. */
static enum request_read read_request(int fd, char *line, size_t cap, uint64_t deadline_ms)
{
	size_t len = 0;
	line[0] = '\0';
	while (len < cap - 1) {
		ssize_t n = recv(fd, line + len, cap - 1 - len, 0);
		if (n > 0) {
			len += (size_t)n;
			line[len] = '\0';
			if (memchr(line + len - (size_t)n, '\n', (size_t)n))
				return REQUEST_READ;
		} else if (n == 0) {
			return len ? REQUEST_READ : REQUEST_ABSENT;
		} else if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
			return REQUEST_ABSENT;
		} else if (errno != EINTR && !wait_until(fd, POLLIN, deadline_ms)) {
			return REQUEST_LATE;
		}
	}
	return REQUEST_READ;
}

/* A client too slow to take the whole answer loses its end, not the node. */
static void write_response(int fd, const char *buf, size_t len, uint64_t deadline_ms)
{
	size_t off = 0;
	while (off < len) {
		/* MSG_NOSIGNAL: a client that hung up must not SIGPIPE the node. */
		ssize_t n = send(fd, buf + off, len - off, MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) &&
			 wait_until(fd, POLLOUT, deadline_ms))
			continue;
		else
			return;
	}
}

/* Returns whether the client was answered. */
static bool serve_client(struct ctl_server *s, int fd)
{
	uint64_t deadline_ms = monotonic_ms() + CLIENT_BUDGET_MS;
	/* A line of CTL_LINE_MAX bytes, its newline, and the terminating NUL. */
	char line[CTL_LINE_MAX + 2];
	size_t len;
	switch (read_request(fd, line, sizeof(line), deadline_ms)) {
	case REQUEST_READ:
		len = s->executor ? s->executor(s->executor_ctx, line, s->response, RESPONSE_MAX)
				  : ctl_execute(&s->handlers, line, s->response, RESPONSE_MAX);
		break;
	case REQUEST_LATE:
		/* Past the deadline write_response still makes one attempt,
		 * which a short message to a fresh socket always survives. */
		len = (size_t)snprintf(s->response, RESPONSE_MAX,
				       "error no complete request line within %d ms; send one "
				       "line ending in a newline\n",
				       CLIENT_BUDGET_MS);
		break;
	default:
		return false;
	}
	write_response(fd, s->response, len, deadline_ms);
	return true;
}

int ctl_server_poll(struct ctl_server *s)
{
	uint64_t stop_ms = monotonic_ms() + POLL_BUDGET_MS;
	int served = 0;
	do {
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			/* EAGAIN: nobody is waiting. EMFILE and the like: the
			 * client stays in the backlog for the next call. */
			break;
		}
		served += serve_client(s, fd);
		close(fd);
	} while (monotonic_ms() < stop_ms);
	return served;
}

void ctl_server_wait(struct ctl_server *s, int timeout_ms)
{
	struct pollfd p = {.fd = s->fd, .events = POLLIN};
	poll(&p, 1, timeout_ms);
}

void ctl_server_set_executor(struct ctl_server *s, ctl_executor_fn fn, void *ctx)
{
	s->executor = fn;
	s->executor_ctx = ctx;
}

void ctl_server_close(struct ctl_server *s)
{
	if (!s)
		return;
	close(s->fd);
	struct stat st;
	if (lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	free(s->response);
	free(s);
}
