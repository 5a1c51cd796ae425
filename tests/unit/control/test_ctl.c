/* SPDX-License-Identifier: BSD-3-Clause */
/* The control socket: request parsing, rendering, errors, and the server. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"

struct fake {
	int opened, closed;
	uint64_t last_id, reserve, increment, duration;
	int fail;
};

static const struct ctl_auction sample = {.id = 42,
					  .reserve = 100,
					  .increment = 5,
					  .close_at_ms = 1700000000123,
					  .phase = 1,
					  .leading_amount = 250,
					  .leading_bidder = 9,
					  .leading_hlc = (1700000000000ull << 16) | 3,
					  .bid_count = 4,
					  .viewers = 2};

static int f_open(void *ctx, uint64_t id, uint64_t r, uint64_t i, uint64_t d, char *err, size_t n)
{
	struct fake *f = ctx;
	if (f->fail) {
		snprintf(err, n, "auction %lu already exists", (unsigned long)id);
		return -EEXIST;
	}
	f->opened++;
	f->last_id = id, f->reserve = r, f->increment = i, f->duration = d;
	return 0;
}

static int f_close(void *ctx, uint64_t id, char *err, size_t n)
{
	struct fake *f = ctx;
	(void)err, (void)n;
	f->closed++;
	f->last_id = id;
	return 0;
}

static int f_query(void *ctx, uint64_t id, struct ctl_auction *out, char *err, size_t n)
{
	(void)ctx;
	if (id != 42) {
		snprintf(err, n, "no auction %lu", (unsigned long)id);
		return -ENOENT;
	}
	*out = sample;
	return 0;
}

static int f_list(void *ctx, ctl_emit_fn emit, void *arg, char *err, size_t n)
{
	(void)ctx, (void)err, (void)n;
	struct ctl_auction b = sample;
	emit(arg, &sample);
	b.id = 43;
	b.phase = 2;
	emit(arg, &b);
	return 0;
}

static int f_status(void *ctx, struct ctl_status *out, char *err, size_t n)
{
	(void)ctx, (void)err, (void)n;
	*out = (struct ctl_status){.node_id = 3,
				   .version = "0.1.0",
				   .hlc = 5ull << 16,
				   .fencing_epoch = 7,
				   .serving = true,
				   .workers = 2,
				   .uptime_s = 11,
				   .auctions_open = 1,
				   .auctions_closed = 1};
	return 0;
}

static struct fake fake;
static struct ctl_handlers handlers = {f_open, f_close, f_query, f_list, f_status, &fake};
static char out[1 << 16];

static const char *exec(const char *line)
{
	ctl_execute(&handlers, line, out, sizeof(out));
	return out;
}

static void open_calls_the_handler_and_answers(void **s)
{
	(void)s;
	memset(&fake, 0, sizeof(fake));
	assert_non_null(strstr(exec("text open 42 100 5 60"), "ok\nopened auction 42"));
	assert_int_equal(fake.opened, 1);
	assert_int_equal(fake.reserve, 100);
	assert_int_equal(fake.duration, 60);
	const char *j = exec("json open 42 100 5 60");
	assert_true(strncmp(j, "ok\n{", 4) == 0);
	assert_non_null(strstr(j, "\"leading_amount\":250"));
}

static void query_text_and_json(void **s)
{
	(void)s;
	const char *t = exec("text query 42");
	assert_true(strncmp(t, "ok\n", 3) == 0);
	assert_non_null(strstr(t, "auction:   42\n"));
	assert_non_null(strstr(t, "state:     open\n"));
	assert_non_null(strstr(t, "leading:   250 by bidder 9\n"));
	assert_non_null(strstr(t, "hlc:       1700000000000.3\n"));
	assert_non_null(strstr(t, "2023-11-14T22:13:20.123Z"));
	const char *j = exec("json query 42");
	assert_non_null(strstr(j, "\"id\":42,"));
	assert_non_null(strstr(j, "\"settled\":false"));
	assert_non_null(strstr(j, "\"viewers\":2"));
}

static void list_and_status(void **s)
{
	(void)s;
	const char *t = exec("text list");
	assert_non_null(strstr(t, "auction"));
	assert_non_null(strstr(t, "2 auctions\n"));
	const char *j = exec("json list");
	assert_non_null(strstr(j, "{\"auctions\":[{\"id\":42,"));
	assert_non_null(strstr(j, "},{\"id\":43,"));
	assert_non_null(strstr(j, "\"count\":2}"));
	t = exec("text status");
	assert_non_null(strstr(t, "epoch:     7\n"));
	assert_non_null(strstr(t, "serving:   yes\n"));
	j = exec("json status");
	assert_non_null(strstr(j, "\"fencing_epoch\":7"));
	assert_non_null(strstr(j, "\"workers\":2"));
}

static void close_reports_the_winner(void **s)
{
	(void)s;
	memset(&fake, 0, sizeof(fake));
	assert_non_null(strstr(exec("text close 42"), "closed auction 42: winner bidder 9 at 250"));
	assert_int_equal(fake.closed, 1);
}

static void errors_are_precise(void **s)
{
	(void)s;
	assert_non_null(strstr(exec("text frob"), "error unknown command 'frob'"));
	assert_non_null(strstr(exec("text open 1 2"), "error usage: open <auction_id>"));
	assert_non_null(strstr(exec("text open 1 0 5 5"), "must be >= 1"));
	assert_non_null(strstr(exec("text query x1"), "'x1' is not an unsigned number"));
	assert_non_null(strstr(exec("text query 18446744073709551616"), "not an unsigned number"));
	assert_non_null(strstr(exec("query 42"), "error expected"));
	assert_non_null(strstr(exec("text query 7"), "error no auction 7"));
	const char *j = exec("json query 7");
	assert_non_null(strstr(j, "error no auction 7\n{\"error\":\"no auction 7\"}"));
	fake.fail = 1;
	assert_non_null(strstr(exec("text open 42 1 1 1"), "error auction 42 already exists"));
	fake.fail = 0;
	char big[600];
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_non_null(strstr(exec(big), "longer than 512"));
}

static void truncated_output_is_marked(void **s)
{
	(void)s;
	char small[40];
	size_t n = ctl_execute(&handlers, "text query 42", small, sizeof(small));
	assert_true(n < sizeof(small));
	assert_non_null(strstr(small, "...\n"));
}

static void server_answers_a_client(void **s)
{
	(void)s;
	char path[64], err[256];
	snprintf(path, sizeof(path), "/tmp/bp-ctl-%d/sub/ctl.sock", getpid());
	struct ctl_server *srv = ctl_server_open(path, &handlers, err, sizeof(err));
	assert_non_null(srv);
	pid_t child = fork();
	if (child == 0) {
		struct sockaddr_un a = {.sun_family = AF_UNIX};
		strcpy(a.sun_path, path);
		int fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0)
			_exit(2);
		const char *req = "json status\n";
		if (write(fd, req, strlen(req)) < 0)
			_exit(3);
		char buf[4096] = {0};
		size_t len = 0;
		ssize_t r;
		while ((r = read(fd, buf + len, sizeof(buf) - 1 - len)) > 0)
			len += (size_t)r;
		_exit(strstr(buf, "\"fencing_epoch\":7") ? 0 : 4);
	}
	int served = 0;
	for (int i = 0; i < 500 && !served; i++) {
		served = ctl_server_poll(srv);
		usleep(2000);
	}
	int status;
	waitpid(child, &status, 0);
	assert_int_equal(served, 1);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);

	/* A second server on the same path refuses: a node is running there. */
	assert_null(ctl_server_open(path, &handlers, err, sizeof(err)));
	assert_non_null(strstr(err, "in use"));
	ctl_server_close(srv);
	/* A stale socket (no listener) is replaced. */
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un a = {.sun_family = AF_UNIX};
	strcpy(a.sun_path, path);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	close(fd);
	srv = ctl_server_open(path, &handlers, err, sizeof(err));
	assert_non_null(srv);
	ctl_server_close(srv);
	assert_int_equal(access(path, F_OK), -1);
}

static void too_long_path_is_refused(void **s)
{
	(void)s;
	char path[200], err[256];
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	assert_null(ctl_server_open(path, &handlers, err, sizeof(err)));
	assert_non_null(strstr(err, "longer than"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(open_calls_the_handler_and_answers),
	    cmocka_unit_test(query_text_and_json),
	    cmocka_unit_test(list_and_status),
	    cmocka_unit_test(close_reports_the_winner),
	    cmocka_unit_test(errors_are_precise),
	    cmocka_unit_test(truncated_output_is_marked),
	    cmocka_unit_test(server_answers_a_client),
	    cmocka_unit_test(too_long_path_is_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
