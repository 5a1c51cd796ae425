/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * bidstat --serve ADDR:PORT: a minimal HTTP/1.1 server answering Prometheus
 * scrapes. GET (or HEAD) /metrics answers the text of bidstat --prometheus,
 * read from the segment at that moment; other paths get 404, other methods
 * 405. One request per connection (Connection: close).
 *
 * Bounded on purpose, so no client can hang or exhaust it: requests up to
 * SERVE_REQUEST_MAX bytes (else 431), SERVE_CONNS connections at once (more
 * are closed at accept), and SERVE_TIMEOUT_MS for a connection's whole life
 * (slow senders and slow readers alike). Every socket is non-blocking; one
 * poll() loop serves them all. A signal (SIGTERM, SIGINT) ends poll() with
 * EINTR and the loop with it.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bidstat.h"

#define SERVE_CONNS	   32
#define SERVE_REQUEST_MAX  8192
#define SERVE_TIMEOUT_MS   5000
#define SERVE_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct conn {
	int fd; /* -1: free slot */
	char req[SERVE_REQUEST_MAX];
	size_t req_len;
	char *resp; /* malloc'd; NULL while reading the request */
	size_t resp_len, resp_sent;
	int64_t deadline_ms;
};

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "HOST:PORT", "[V6]:PORT" or ":PORT" (every address) into host, port. */
static int split_listen(const char *arg, char *host, size_t hostlen, char *port, size_t portlen)
{
	const char *colon = strrchr(arg, ':');
	if (!colon || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1))
		return -1;
	const char *h = arg;
	size_t n = (size_t)(colon - arg);
	if (n >= 2 && h[0] == '[' && h[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n >= hostlen || strlen(colon + 1) >= portlen)
		return -1;
	snprintf(host, hostlen, "%.*s", (int)n, h);
	snprintf(port, portlen, "%s", colon + 1);
	return atoi(port) <= 65535 ? 0 : -1;
}

/* A non-blocking listening socket on arg; -1 with the reason printed. */
static int listen_on(const char *arg)
{
	char host[256], port[8];
	if (split_listen(arg, host, sizeof(host), port, sizeof(port)) != 0) {
		fprintf(stderr,
			"bidstat: --serve %s: expected ADDR:PORT, e.g. 127.0.0.1:9464, "
			"[::1]:9464 or :9464 (every address) (see bidstat --help)\n",
			arg);
		return -1;
	}
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *ai;
	int rc = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (rc != 0) {
		fprintf(stderr, "bidstat: --serve %s: %s\n", arg, gai_strerror(rc));
		return -1;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, SERVE_CONNS) != 0) {
		fprintf(stderr, "bidstat: --serve %s: %s%s\n", arg, strerror(errno),
			errno == EADDRINUSE ? " (another process listens there: pick another port)"
			: errno == EADDRNOTAVAIL ? " (not an address of this host)"
						 : "");
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

/* The port actually bound (for :0). */
static int bound_port(int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
		return -1;
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/* bidstat --prometheus's text for the segment now, malloc'd into *body;
 * 0, or -errno with the reason in err. */
static int render_metrics(const char *name, char **body, size_t *len, char *err, size_t errlen)
{
	struct stats_reader r;
	struct stats_snapshot s;
	memset(&s, 0, sizeof(s));
	int rc = stats_reader_open(&r, name, err, errlen);
	if (rc != 0)
		return rc;
	rc = stats_snapshot_take(&r, &s);
	if (rc != 0) {
		snprintf(err, errlen, "%s: %s", name,
			 rc == -EAGAIN ? "the directory keeps changing; try again"
				       : "damaged segment");
		stats_reader_close(&r);
		return rc;
	}
	int pid = (int)s.info.pid;
	struct bidstat_update u = {
	    .now = &s,
	    .alive = pid > 0 && (kill(pid, 0) == 0 || errno == EPERM),
	};
	FILE *out = open_memstream(body, len);
	if (out) {
		bidstat_print_prometheus(out, &u);
		rc = ferror(out) ? -ENOMEM : 0;
		fclose(out);
	} else {
		rc = -ENOMEM;
	}
	if (rc != 0)
		snprintf(err, errlen, "out of memory");
	stats_snapshot_free(&s);
	stats_reader_close(&r);
	return rc;
}

static void respond(struct conn *c, int code, const char *reason, const char *extra_headers,
		    const char *type, const char *body, size_t body_len, bool head)
{
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	if (!f)
		return;
	fprintf(f,
		"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n%s"
		"Connection: close\r\n\r\n",
		code, reason, type, body_len, extra_headers);
	if (!head)
		fwrite(body, 1, body_len, f);
	fclose(f);
	c->resp = out;
	c->resp_len = out ? len : 0;
	c->resp_sent = 0;
}

static void respond_text(struct conn *c, int code, const char *reason, const char *extra,
			 const char *text, bool head)
{
	respond(c, code, reason, extra, "text/plain; charset=utf-8", text, strlen(text), head);
}

/* The request in c->req is complete: choose the answer. */
static void handle_request(struct conn *c, const char *name)
{
	char method[16], target[1024], version[16];
	c->req[c->req_len] = '\0';
	if (sscanf(c->req, "%15[A-Z] %1023[^ \r\n] %15[^ \r\n]", method, target, version) != 3 ||
	    strncmp(version, "HTTP/1.", 7) != 0) {
		respond_text(c, 400, "Bad Request", "", "bad request: expected GET /metrics\n",
			     false);
		return;
	}
	bool head = strcmp(method, "HEAD") == 0;
	if (!head && strcmp(method, "GET") != 0) {
		respond_text(c, 405, "Method Not Allowed", "Allow: GET, HEAD\r\n",
			     "only GET and HEAD\n", false);
		return;
	}
	target[strcspn(target, "?#")] = '\0';
	if (strcmp(target, "/metrics") != 0) {
		respond_text(c, 404, "Not Found", "", "not found: the metrics are at /metrics\n",
			     head);
		return;
	}
	char *body = NULL, err[512];
	size_t len = 0;
	if (render_metrics(name, &body, &len, err, sizeof(err)) != 0) {
		/* 503: Prometheus records the scrape as failed (up 0). */
		char text[600];
		snprintf(text, sizeof(text), "%s\n", err);
		respond_text(c, 503, "Service Unavailable", "", text, head);
	} else {
		respond(c, 200, "OK", "", SERVE_CONTENT_TYPE, body, len, head);
	}
	free(body);
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->resp);
	c->fd = -1;
	c->resp = NULL;
	c->req_len = 0;
}

static bool request_complete(const struct conn *c)
{
	return memmem(c->req, c->req_len, "\r\n\r\n", 4) || memmem(c->req, c->req_len, "\n\n", 2);
}

static void conn_read(struct conn *c, const char *name)
{
	size_t room = sizeof(c->req) - 1 - c->req_len;
	ssize_t n = recv(c->fd, c->req + c->req_len, room, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		conn_close(c);
		return;
	}
	if (n < 0)
		return;
	c->req_len += (size_t)n;
	if (request_complete(c))
		handle_request(c, name);
	else if (c->req_len == sizeof(c->req) - 1)
		respond_text(c, 431, "Request Header Fields Too Large", "", "request too large\n",
			     false);
	else
		return;
	if (!c->resp) /* out of memory: nothing to say */
		conn_close(c);
}

static void conn_write(struct conn *c)
{
	ssize_t n = send(c->fd, c->resp + c->resp_sent, c->resp_len - c->resp_sent, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		conn_close(c);
		return;
	}
	c->resp_sent += (size_t)n;
	if (c->resp_sent == c->resp_len) {
		shutdown(c->fd, SHUT_WR);
		conn_close(c);
	}
}

static void accept_all(int lfd, struct conn *conns)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return; /* EAGAIN, or a transient error: poll again */
		struct conn *c = NULL;
		for (int i = 0; i < SERVE_CONNS && !c; i++)
			if (conns[i].fd < 0)
				c = &conns[i];
		if (!c) {
			close(fd); /* full: the client retries at its next scrape */
			continue;
		}
		c->fd = fd;
		c->req_len = 0;
		c->deadline_ms = now_ms() + SERVE_TIMEOUT_MS;
	}
}

int bidstat_serve(const char *listen_arg, const char *name, volatile sig_atomic_t *stop)
{
	int lfd = listen_on(listen_arg);
	if (lfd < 0)
		return 2;
	static struct conn conns[SERVE_CONNS];
	for (int i = 0; i < SERVE_CONNS; i++)
		conns[i].fd = -1;
	fprintf(stderr, "bidstat: serving %s's metrics on %s (port %d), path /metrics\n", name,
		listen_arg, bound_port(lfd));
	struct pollfd pfd[SERVE_CONNS + 1];
	int slot[SERVE_CONNS + 1];
	while (!*stop) {
		int n = 0;
		int64_t now = now_ms(), wait = 1000;
		pfd[n++] = (struct pollfd){.fd = lfd, .events = POLLIN};
		for (int i = 0; i < SERVE_CONNS; i++) {
			struct conn *c = &conns[i];
			if (c->fd < 0)
				continue;
			if (now >= c->deadline_ms) {
				conn_close(c); /* too slow: its time is up */
				continue;
			}
			if (c->deadline_ms - now < wait)
				wait = c->deadline_ms - now;
			slot[n] = i;
			pfd[n++] =
			    (struct pollfd){.fd = c->fd, .events = c->resp ? POLLOUT : POLLIN};
		}
		int ready = poll(pfd, (nfds_t)n, (int)wait);
		if (ready < 0 && errno != EINTR) {
			fprintf(stderr, "bidstat: poll: %s\n", strerror(errno));
			break;
		}
		if (ready <= 0)
			continue;
		for (int k = 1; k < n; k++) {
			struct conn *c = &conns[slot[k]];
			if (pfd[k].revents & (POLLERR | POLLNVAL))
				conn_close(c);
			else if (c->resp && (pfd[k].revents & (POLLOUT | POLLHUP)))
				conn_write(c);
			else if (!c->resp && (pfd[k].revents & (POLLIN | POLLHUP)))
				conn_read(c, name);
		}
		if (pfd[0].revents & POLLIN)
			accept_all(lfd, conns);
	}
	for (int i = 0; i < SERVE_CONNS; i++)
		conn_close(&conns[i]);
	close(lfd);
	return 0;
}
