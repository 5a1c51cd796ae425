/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The control socket server over real unix sockets: client threads talk
 * while the test thread calls ctl_server_poll, as the control thread does.
 * Every test works in its own temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "ctl.h"
#include "fake_node.h"
#include "socket_test_env.h"
#include "mkdir_p.h"

#define POLL_ROUNDS 5000 /* x 1 ms: far beyond what any test needs */

struct client {
	const char *request; /* sent as is; NULL sends nothing */
	bool half_close;     /* shutdown(SHUT_WR) after sending */
	bool hang_up;	     /* close at once after sending, read nothing */
	char answer[1 << 16];
	size_t answer_len;
	int error; /* errno of a failed connect or send */
	atomic_bool sent;
	atomic_bool done;
	pthread_t thread;
};

static void *client_main(void *arg)
{
	struct client *c = arg;
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", test_sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 ||
	    (c->request && send(fd, c->request, strlen(c->request), MSG_NOSIGNAL) < 0))
		c->error = errno;
	if (c->half_close)
		shutdown(fd, SHUT_WR);
	atomic_store(&c->sent, true);
	ssize_t n = 1;
	while (!c->error && !c->hang_up && n > 0 && c->answer_len < sizeof(c->answer) - 1) {
		n = recv(fd, c->answer + c->answer_len, sizeof(c->answer) - 1 - c->answer_len, 0);
		if (n > 0)
			c->answer_len += (size_t)n;
	}
	c->answer[c->answer_len] = '\0';
	close(fd);
	atomic_store(&c->done, true);
	return NULL;
}

static struct client *client_new(const char *request)
{
	struct client *c = calloc(1, sizeof(*c));
	assert_non_null(c);
	c->request = request;
	return c;
}

static void client_run(struct client *c)
{
	assert_int_equal(pthread_create(&c->thread, NULL, client_main, c), 0);
}

static void client_wait_sent(struct client *c)
{
	while (!atomic_load(&c->sent))
		usleep(200);
}

static void client_join(struct client *c)
{
	pthread_join(c->thread, NULL);
	assert_int_equal(c->error, 0);
}

/* Polls as the control thread does until the client is done; returns the
 * requests served. */
static int serve_until_done(struct ctl_server *s, struct client *c)
{
	int served = 0;
	for (int i = 0; i < POLL_ROUNDS && !atomic_load(&c->done); i++) {
		served += ctl_server_poll(s);
		usleep(1000);
	}
	assert_true(atomic_load(&c->done));
	client_join(c);
	return served;
}

/* One request from a fresh client, served to the end; the caller frees it. */
static struct client *ask(struct ctl_server *s, const char *request, int want_served)
{
	struct client *c = client_new(request);
	client_run(c);
	assert_int_equal(serve_until_done(s, c), want_served);
	return c;
}

static void refused(const char *path, const char *want_err)
{
	char err[512] = "";
	assert_null(ctl_server_open(path, &test_handlers, err, sizeof(err)));
	assert_string_equal(err, want_err);
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- serving ---- */

static void serves_a_request_in_a_directory_it_creates(void **state)
{
	(void)state;
	umask(022);
	struct ctl_server *s = open_test_server();
	struct stat st;
	char parent[128];
	snprintf(parent, sizeof(parent), "%s/run/bidplane", test_dir);
	assert_int_equal(stat(parent, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0755);
	assert_int_equal(lstat(test_sock_path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0660);

	struct client *c = ask(s, "json status\n", 1);
	assert_string_equal(
	    c->answer,
	    "ok\n{\"node_id\":3,\"version\":\"0.1.0\",\"hlc\":111411200029884417,"
	    "\"fencing_epoch\":7,\"serving\":true,\"workers\":2,\"uptime_s\":11,"
	    "\"auctions_open\":1,\"auctions_closed\":1,\"auctions_settled\":0,"
	    "\"not_serving_reason\":null,\"injected_clock_offset_ms\":0,"
	    "\"injected_lease_guard_off\":false,\"peers\":[],\"leader\":true,"
	    "\"fencing_token\":7,\"etcd\":null,\"wal\":{\"durability\":\"off\",\"lsn\":0,"
	    "\"durable_lsn\":0,\"full\":false,\"reserve_bytes\":0,\"error\":null,\"snapshot_lsn\":"
	    "0,\"snapshot_age_s\":null,"
	    "\"snapshot_bytes\":0,\"snapshot_records\":0,\"snapshot_duration_ms\":0,"
	    "\"snapshots\":0,\"snapshot_failures\":0}"
	    ",\"fencing_rejections\":0,\"settlements\":{\"done\":0,\"pending\":0,\"waiting_for_"
	    "peer\":0,\"waiting_for_etcd\":0,\"waiting\":[]}}\n");
	assert_int_equal(test_node.statuses, 1);
	free(c);
	ctl_server_close(s);
	assert_int_equal(access(test_sock_path, F_OK), -1);
	ctl_server_close(NULL);
}

static void serves_every_waiting_client_in_one_poll(void **state)
{
	(void)state;
	struct ctl_server *s = open_test_server();
	struct client *c[4];
	for (int i = 0; i < 4; i++) {
		c[i] = client_new("text query 42\n");
		client_run(c[i]);
		client_wait_sent(c[i]);
	}
	assert_int_equal(ctl_server_poll(s), 4);
	for (int i = 0; i < 4; i++) {
		client_join(c[i]);
		assert_non_null(strstr(c[i]->answer, "ok\nauction:    42\n"));
		free(c[i]);
	}
	assert_int_equal(test_node.queries, 4);
	assert_int_equal(ctl_server_poll(s), 0);
	ctl_server_close(s);
}

static void a_line_ended_by_the_end_of_the_stream_is_served(void **state)
{
	(void)state;
	struct ctl_server *s = open_test_server();
	struct client *c = client_new("text close 42");
	c->half_close = true;
	client_run(c);
	assert_int_equal(serve_until_done(s, c), 1);
	assert_string_equal(c->answer, "ok\nclosed auction 42 (leading bid 250 by bidder 9)\n");
	free(c);
	ctl_server_close(s);
}

static void a_silent_or_slow_client_is_cut_off_within_the_bound(void **state)
{
	(void)state;
	struct ctl_server *s = open_test_server();
	static const char *const requests[] = {NULL, "text sta"};
	for (int i = 0; i < 2; i++) {
		struct client *c = client_new(requests[i]);
		client_run(c);
		client_wait_sent(c);
		uint64_t start = now_ms();
		assert_int_equal(ctl_server_poll(s), 1);
		/* The bound is 100 ms per client; allow for a loaded machine. */
		assert_in_range(now_ms() - start, 90, 2000);
		client_join(c);
		assert_string_equal(c->answer, "error no complete request line within 100 ms; "
					       "send one line ending in a newline\n");
		free(c);
	}
	assert_int_equal(test_node.statuses, 0);
	ctl_server_close(s);
}

static void the_line_limit_is_512_bytes(void **state)
{
	(void)state;
	struct ctl_server *s = open_test_server();
	char line[CTL_LINE_MAX + 64];
	memset(line, ' ', sizeof(line));
	memcpy(line, "text status", 11);
	line[CTL_LINE_MAX] = '\n';
	line[CTL_LINE_MAX + 1] = '\0';
	struct client *c = ask(s, line, 1);
	assert_non_null(strstr(c->answer, "ok\nnode:          3\n"));
	free(c);

	memset(line, 'a', sizeof(line));
	line[sizeof(line) - 2] = '\n';
	line[sizeof(line) - 1] = '\0';
	c = ask(s, line, 1);
	assert_string_equal(c->answer, "error request longer than 512 bytes\n");
	free(c);
	ctl_server_close(s);
}

static void clients_that_hang_up_do_not_harm_the_node(void **state)
{
	(void)state;
	struct ctl_server *s = open_test_server();
	/* Gone before a byte: nothing to answer. */
	struct client *c = client_new(NULL);
	c->hang_up = true;
	client_run(c);
	client_join(c);
	assert_int_equal(ctl_server_poll(s), 0);
	free(c);
	/* Gone before a 1 MiB answer: a write to it must not SIGPIPE us. */
	test_node.list_count = 100000;
	c = client_new("json list\n");
	c->hang_up = true;
	client_run(c);
	client_join(c);
	assert_int_equal(ctl_server_poll(s), 1);
	assert_int_equal(test_node.lists, 1);
	free(c);

	c = ask(s, "text status\n", 1);
	assert_non_null(strstr(c->answer, "ok\nnode:"));
	free(c);
	ctl_server_close(s);
}

/* ---- opening ---- */

static void a_stale_socket_is_replaced(void **state)
{
	(void)state;
	/* What a killed node leaves: a socket file nobody listens on. */
	assert_int_equal(mkdir_parent_of(test_sock_path), 0);
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", test_sock_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	assert_int_equal(access(test_sock_path, F_OK), 0);

	struct ctl_server *s = open_test_server();
	struct client *c = ask(s, "text status\n", 1);
	assert_non_null(strstr(c->answer, "ok\n"));
	free(c);
	ctl_server_close(s);
}

static void a_socket_in_use_is_left_alone(void **state)
{
	(void)state;
	struct ctl_server *running = open_test_server();
	char want[512];
	snprintf(want, sizeof(want),
		 "control socket %s is in use by a running node; pick another --control-socket "
		 "or stop that node",
		 test_sock_path);
	refused(test_sock_path, want);
	/* The running node's probe connection is answered and dropped. */
	ctl_server_poll(running);
	struct client *c = ask(running, "text status\n", 1);
	assert_non_null(strstr(c->answer, "ok\n"));
	free(c);
	ctl_server_close(running);
}

static void a_file_that_is_not_a_socket_is_left_alone(void **state)
{
	(void)state;
	assert_int_equal(mkdir_parent_of(test_sock_path), 0);
	int fd = open(test_sock_path, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	char want[512];
	snprintf(want, sizeof(want),
		 "%s exists and is not a socket; remove it or pick another --control-socket",
		 test_sock_path);
	refused(test_sock_path, want);
	assert_int_equal(access(test_sock_path, F_OK), 0);
}

static void a_directory_that_cannot_be_made_is_named(void **state)
{
	(void)state;
	char blocker[128], path[160], want[512];
	snprintf(blocker, sizeof(blocker), "%s/file", test_dir);
	int fd = open(blocker, O_CREAT | O_WRONLY, 0644);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/sub/ctl.sock", blocker);
	snprintf(want, sizeof(want),
		 "cannot create the directory of the control socket %s: Not a directory; "
		 "create it, or pick another --control-socket",
		 path);
	refused(path, want);
}

static void a_path_too_long_or_empty_is_refused(void **state)
{
	(void)state;
	char path[200], want[512];
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	snprintf(want, sizeof(want),
		 "control socket path %s is 199 bytes long, unix sockets allow at most 107; "
		 "pick a shorter --control-socket",
		 path);
	refused(path, want);
	refused("", "the control socket path is empty; pass --control-socket PATH");
}

static void close_leaves_a_newer_nodes_socket_alone(void **state)
{
	(void)state;
	struct ctl_server *old = open_test_server();
	/* Someone removed the old socket and a new node took the path. */
	unlink(test_sock_path);
	struct ctl_server *new = open_test_server();
	ctl_server_close(old);
	assert_int_equal(access(test_sock_path, F_OK), 0);
	struct client *c = ask(new, "text status\n", 1);
	assert_non_null(strstr(c->answer, "ok\n"));
	free(c);
	ctl_server_close(new);
	assert_int_equal(access(test_sock_path, F_OK), -1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, socket_test_setup, socket_test_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(serves_a_request_in_a_directory_it_creates),
	    T(serves_every_waiting_client_in_one_poll),
	    T(a_line_ended_by_the_end_of_the_stream_is_served),
	    T(a_silent_or_slow_client_is_cut_off_within_the_bound),
	    T(the_line_limit_is_512_bytes),
	    T(clients_that_hang_up_do_not_harm_the_node),
	    T(a_stale_socket_is_replaced),
	    T(a_socket_in_use_is_left_alone),
	    T(a_file_that_is_not_a_socket_is_left_alone),
	    T(a_directory_that_cannot_be_made_is_named),
	    T(a_path_too_long_or_empty_is_refused),
	    T(close_leaves_a_newer_nodes_socket_alone),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
