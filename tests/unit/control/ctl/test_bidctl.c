/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bidctl binary (its path is argv[1]) end to end: exit codes, what goes
 * to stdout and to stderr, against no node, against a control socket server
 * with a fake node, and against a socket that is not a node's.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ctl.h"
#include "fake_node.h"
#include "mkdir_p.h"
#include "socket_test_env.h"

#define WAIT_ROUNDS 10000 /* x 1 ms */

static const char *bidctl_path;

struct run {
	int exit_code;
	char out[1 << 16];
	char err[4096];
};

/* Called while bidctl runs: plays the node's part. */
typedef void (*serve_fn)(void *arg);

static void read_all(FILE *f, char *buf, size_t cap)
{
	rewind(f);
	size_t n = fread(buf, 1, cap - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void run_bidctl(struct run *r, serve_fn serve, void *arg, const char *const args[])
{
	const char *argv[32] = {bidctl_path};
	for (int i = 0; args[i]; i++)
		argv[i + 1] = args[i];
	FILE *out = tmpfile(), *err = tmpfile();
	assert_non_null(out);
	assert_non_null(err);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fileno(out), STDOUT_FILENO);
		dup2(fileno(err), STDERR_FILENO);
		execv(bidctl_path, (char *const *)argv);
		_exit(127);
	}
	int status = 0;
	pid_t done = 0;
	for (int i = 0; i < WAIT_ROUNDS && done == 0; i++) {
		done = waitpid(pid, &status, WNOHANG);
		if (done == 0 && serve)
			serve(arg);
		usleep(1000);
	}
	if (done == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fail_msg("bidctl did not finish");
	}
	assert_true(WIFEXITED(status));
	r->exit_code = WEXITSTATUS(status);
	read_all(out, r->out, sizeof(r->out));
	read_all(err, r->err, sizeof(r->err));
}

static void poll_server(void *arg)
{
	ctl_server_poll(arg);
}

#define BIDCTL(r, ...) run_bidctl(r, NULL, NULL, (const char *const[]){__VA_ARGS__, NULL})
#define BIDCTL_NODE(r, s, ...)                                                                     \
	run_bidctl(r, poll_server, s,                                                              \
		   (const char *const[]){"--socket", test_sock_path, __VA_ARGS__, NULL})

/* ---- no node ---- */

static void no_node_exits_3_and_says_how_to_start_one(void **state)
{
	(void)state;
	struct run r;
	BIDCTL(&r, "--socket", test_sock_path, "status");
	assert_int_equal(r.exit_code, 3);
	assert_string_equal(r.out, "");
	char want[512];
	snprintf(want, sizeof(want),
		 "bidctl: cannot connect to %s: No such file or directory; is the node running? "
		 "(start it with --control-socket %s, or pass --socket/--name)\n",
		 test_sock_path, test_sock_path);
	assert_string_equal(r.err, want);
}

static void name_picks_the_socket_under_run_bidplane(void **state)
{
	(void)state;
	struct run r;
	BIDCTL(&r, "--name", "bp-unit-test-no-such-node", "status");
	assert_int_equal(r.exit_code, 3);
	assert_non_null(
	    strstr(r.err, "cannot connect to /run/bidplane/bp-unit-test-no-such-node.sock: "));
}

/* ---- usage ---- */

static void usage_errors_exit_2_with_the_reason(void **state)
{
	(void)state;
	static const struct {
		const char *args[12];
		const char *err;
	} cases[] = {
	    {{NULL}, "no command given"},
	    {{"frob"},
	     "unknown command 'frob'; commands: open close query list status clock-offset "
	     "lease-guard"},
	    {{"lease-guard"}, "usage: bidctl lease-guard on|off (fault injection)"},
	    {{"lease-guard", "1"}, "usage: bidctl lease-guard on|off (fault injection)"},
	    {{"lease-guard", "off", "on"}, "usage: bidctl lease-guard on|off (fault injection)"},
	    {{"clock-offset"}, "usage: bidctl clock-offset MS (fault injection)"},
	    {{"clock-offset", "1", "2"}, "usage: bidctl clock-offset MS (fault injection)"},
	    {{"clock-offset", "--5"},
	     "clock-offset: '--5' is not a decimal number of ms (-86400000..86400000)"},
	    {{"clock-offset", "5 s"},
	     "clock-offset: '5 s' is not a decimal number of ms (-86400000..86400000)"},
	    {{"--bogus", "status"}, "unknown option '--bogus'"},
	    {{"--socket"}, "--socket needs a value"},
	    {{"--socket", "a", "--name", "b", "status"}, "pass --socket or --name, not both"},
	    {{"--name", "a/b", "status"}, "--name 'a/b' must be a plain name such as edge-1"},
	    {{"open", "--auction", "1", "--reserve", "2", "--increment", "3"},
	     "open needs --duration"},
	    {{"open", "--auction", "1", "--reserve", "2x", "--increment", "3", "--duration", "4"},
	     "--reserve '2x' is not an unsigned decimal number (1..9223372036854775807)"},
	    /* No bid can exceed 2^63-1: the node would hold an unwinnable auction. */
	    {{"open", "--auction", "1", "--reserve", "18446744073709551615", "--increment", "3",
	      "--duration", "4"},
	     "--reserve 18446744073709551615 is out of range 1..9223372036854775807"},
	    {{"open", "--auction", "1", "--reserve", "1", "--increment", "9223372036854775808",
	      "--duration", "4"},
	     "--increment 9223372036854775808 is out of range 1..9223372036854775807"},
	    /* 2^64/1000: the node used to close such an auction at once. */
	    {{"open", "--auction", "1", "--reserve", "1", "--increment", "1", "--duration",
	      "18446744073709551"},
	     "--duration 18446744073709551 is out of range 1..315360000"},
	    {{"open", "--auction", "0", "--reserve", "1", "--increment", "1", "--duration", "1"},
	     "--auction 0 is out of range 1..18446744073709551615"},
	    {{"open", "--auction", "18446744073709551616", "--reserve", "1", "--increment", "1",
	      "--duration", "1"},
	     "--auction 18446744073709551616 is out of range 1..18446744073709551615"},
	    {{"list", "--limit", "1001"}, "--limit 1001 is out of range 1..1000"},
	    {{"list", "--limit", "0"}, "--limit 0 is out of range 1..1000"},
	    {{"list", "--from", "x"},
	     "--from 'x' is not an unsigned decimal number (1..18446744073709551615)"},
	    {{"open", "--auction", "1", "--bid", "2"}, "unknown option '--bid'"},
	    {{"open", "--auction"}, "--auction needs a value"},
	    {{"open", "1", "2", "3", "4"}, "open takes options only, not '1'"},
	    {{"close"}, "usage: bidctl close ID"},
	    {{"query", "1", "2"}, "usage: bidctl query ID"},
	    {{"query", "-5"}, "query: auction id '-5' is not an unsigned decimal number"},
	    {{"close", "4 2"}, "close: auction id '4 2' is not an unsigned decimal number"},
	    {{"list", "all"}, "list takes --from ID and --limit N only, not 'all'"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct run r;
		run_bidctl(&r, NULL, NULL, cases[i].args);
		char want[256];
		snprintf(want, sizeof(want), "bidctl: %s (see bidctl --help)\n", cases[i].err);
		assert_string_equal(r.err, want);
		assert_int_equal(r.exit_code, 2);
		assert_string_equal(r.out, "");
	}
}

static void paths_and_requests_too_long_are_usage_errors(void **state)
{
	(void)state;
	char path[200];
	memset(path, 'p', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	struct run r;
	BIDCTL(&r, "--socket", path, "status");
	assert_int_equal(r.exit_code, 2);
	assert_non_null(strstr(r.err, "is longer than the 107 bytes unix sockets allow"));

	BIDCTL(&r, "--name", path + 1, "status");
	assert_int_equal(r.exit_code, 2);
	assert_non_null(strstr(r.err, "...' is too long for a socket path"));

	/* Digits only, but more than a request line holds. */
	char digits[600];
	memset(digits, '7', sizeof(digits) - 1);
	digits[sizeof(digits) - 1] = '\0';
	BIDCTL(&r, "--socket", test_sock_path, "close", digits);
	assert_int_equal(r.exit_code, 2);
	assert_string_equal(r.err,
			    "bidctl: the request is longer than 512 bytes (see bidctl --help)\n");
}

static void help_shows_usage_and_examples(void **state)
{
	(void)state;
	static const char *const flags[] = {"--help", "-h"};
	for (int i = 0; i < 2; i++) {
		struct run r;
		BIDCTL(&r, flags[i]);
		assert_int_equal(r.exit_code, 0);
		assert_string_equal(r.err, "");
		assert_true(strncmp(r.out,
				    "usage: bidctl [--socket PATH | --name NAME] [--json] "
				    "<command> [args]\n",
				    70) == 0);
		assert_non_null(strstr(r.out, "  open --auction ID --reserve N --increment N "
					      "--duration SECONDS\n"));
		assert_non_null(strstr(r.out, "Examples:\n"));
	}
}

/* ---- against a node ---- */

static void open_sends_the_options_in_any_order(void **state)
{
	(void)state;
	struct ctl_server *s = open_test_server();
	struct run r;
	BIDCTL_NODE(&r, s, "open", "--duration", "60", "--auction", "42", "--increment", "5",
		    "--reserve", "100");
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(r.out, "opened auction 42 (closes at 2023-11-14T22:13:20.123Z)\n");
	assert_string_equal(r.err, "");
	uint64_t want[4] = {42, 100, 5, 60};
	assert_memory_equal(test_node.open_args, want, sizeof(want));
	ctl_server_close(s);
}

static void every_command_prints_the_body(void **state)
{
	(void)state;
	struct ctl_server *s = open_test_server();
	struct run r;
	BIDCTL_NODE(&r, s, "query", "42");
	assert_int_equal(r.exit_code, 0);
	assert_true(strncmp(r.out, "auction:    42\nstate:      open\n", 32) == 0);

	BIDCTL_NODE(&r, s, "list");
	assert_int_equal(r.exit_code, 0);
	assert_true(strncmp(r.out, "id ", 3) == 0);
	assert_non_null(strstr(r.out, "\n2 auctions\n"));

	BIDCTL_NODE(&r, s, "status");
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.out, "fencing_epoch: 7\n"));

	BIDCTL_NODE(&r, s, "close", "42");
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(r.out, "closed auction 42 (leading bid 250 by bidder 9)\n");
	assert_int_equal(test_node.closes, 1);

	BIDCTL_NODE(&r, s, "--json", "query", "42");
	assert_int_equal(r.exit_code, 0);
	assert_true(strncmp(r.out, "{\"id\":42,\"phase\":1,\"state\":\"open\",", 34) == 0);
	assert_string_equal(r.err, "");

	/* A negative offset is the command's argument, not an option. */
	BIDCTL_NODE(&r, s, "clock-offset", "-10000");
	assert_int_equal(r.exit_code, 0);
	assert_true(strncmp(r.out, "clock offset -10000 ms (was +0 ms)", 34) == 0);
	assert_int_equal(test_node.clock_offset_ms, -10000);
	BIDCTL_NODE(&r, s, "clock-offset", "86400001");
	assert_int_equal(r.exit_code, 1);
	assert_non_null(strstr(r.err, "ms 86400001 is out of range -86400000..86400000"));
	assert_int_equal(test_node.clock_offset_ms, -10000);

	/* lease-guard off|on: the words become the wire's 0|1. */
	BIDCTL_NODE(&r, s, "--json", "lease-guard", "off");
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(
	    r.out,
	    "{\"injected_lease_guard_off\":true,\"previous_injected_lease_guard_off\":false}\n");
	assert_true(test_node.lease_guard_off);
	BIDCTL_NODE(&r, s, "lease-guard", "on");
	assert_int_equal(r.exit_code, 0);
	assert_string_equal(r.out, "lease guard on (was OFF)\n");
	assert_false(test_node.lease_guard_off);
	ctl_server_close(s);
}

/* list pages: --from and --limit reach the node, and the text says where
 * the next page starts. */
static void list_pages_with_from_and_limit(void **state)
{
	(void)state;
	struct ctl_server *s = open_test_server();
	struct run r;
	test_node.list_count = 5;
	BIDCTL_NODE(&r, s, "list", "--limit", "2");
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.out, "\n42 "));
	assert_non_null(strstr(r.out, "\n2 auctions; more from id 44 (bidctl list --from 44)\n"));
	BIDCTL_NODE(&r, s, "--json", "list", "--from", "44", "--limit", "2");
	assert_int_equal(r.exit_code, 0);
	assert_true(strncmp(r.out, "{\"auctions\":[{\"id\":44,", 22) == 0);
	assert_non_null(strstr(r.out, "\"count\":2,\"next\":46}\n"));
	BIDCTL_NODE(&r, s, "--json", "list", "--from", "46");
	assert_int_equal(r.exit_code, 0);
	assert_non_null(strstr(r.out, "\"count\":1,\"next\":null}\n"));
	ctl_server_close(s);
}

/* "Connection refused" alone misled: a regular file is no socket at all,
 * and a socket nobody listens on is a stopped node's. */
static void a_file_or_a_dead_socket_says_which(void **state)
{
	(void)state;
	assert_int_equal(mkdir_parent_of(test_sock_path), 0);
	FILE *f = fopen(test_sock_path, "w");
	assert_non_null(f);
	fclose(f);
	struct run r;
	BIDCTL(&r, "--socket", test_sock_path, "status");
	assert_int_equal(r.exit_code, 3);
	char want[512];
	snprintf(want, sizeof(want),
		 "bidctl: %s is not a socket but a regular file; pass the node's "
		 "--control-socket with --socket, or its --stats-name with --name\n",
		 test_sock_path);
	assert_string_equal(r.err, want);
	unlink(test_sock_path);

	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", test_sock_path);
	assert_int_equal(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd); /* bound, never listened on: what a killed node leaves */
	BIDCTL(&r, "--socket", test_sock_path, "status");
	assert_int_equal(r.exit_code, 3);
	assert_non_null(strstr(r.err, "nobody listens on"));
	assert_non_null(strstr(r.err, "the node that made it has stopped"));
	unlink(test_sock_path);
}

static void node_errors_exit_1_with_the_reason_on_stderr(void **state)
{
	(void)state;
	struct ctl_server *s = open_test_server();
	struct run r;
	BIDCTL_NODE(&r, s, "query", "404");
	assert_int_equal(r.exit_code, 1);
	assert_string_equal(r.out, "");
	assert_string_equal(r.err, "bidctl: no auction 404\n");

	BIDCTL_NODE(&r, s, "--json", "query", "404");
	assert_int_equal(r.exit_code, 1);
	assert_string_equal(r.out, "{\"error\":\"no auction 404\"}\n");
	assert_string_equal(r.err, "bidctl: no auction 404\n");

	BIDCTL_NODE(&r, s, "query", "0");
	assert_int_equal(r.exit_code, 1);
	assert_string_equal(r.err,
			    "bidctl: auction_id 0 is out of range 1..18446744073709551615\n");
	ctl_server_close(s);
}

/* A listener that answers every client with fixed bytes, as a socket that
 * belongs to something else might. */
struct impostor {
	int fd;
	const char *reply;
};

static void impostor_serve(void *arg)
{
	struct impostor *im = arg;
	int fd = accept(im->fd, NULL, NULL);
	if (fd < 0)
		return;
	char discard[CTL_LINE_MAX + 2];
	if (recv(fd, discard, sizeof(discard), 0) >= 0 &&
	    send(fd, im->reply, strlen(im->reply), MSG_NOSIGNAL) < 0)
		fprintf(stderr, "impostor: send: %s\n", strerror(errno));
	close(fd);
}

static void a_socket_that_is_not_a_node_exits_3(void **state)
{
	(void)state;
	static const struct {
		const char *reply, *err_tail;
	} cases[] = {
	    {"HTTP/1.1 400 Bad Request\r\n\r\n",
	     " answered 'HTTP/1.1 400 Bad Request\r', neither ok nor error; is it a bidplane "
	     "control socket?\n"},
	    {"hello", " answered 'hello' with no status line; is it a bidplane control socket?\n"},
	};
	assert_int_equal(mkdir_parent_of(test_sock_path), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct impostor im = {socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0),
				      cases[i].reply};
		struct sockaddr_un addr = {.sun_family = AF_UNIX};
		snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", test_sock_path);
		assert_int_equal(bind(im.fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
		assert_int_equal(listen(im.fd, 4), 0);
		struct run r;
		run_bidctl(&r, impostor_serve, &im,
			   (const char *const[]){"--socket", test_sock_path, "status", NULL});
		close(im.fd);
		unlink(test_sock_path);
		assert_int_equal(r.exit_code, 3);
		char want[256];
		snprintf(want, sizeof(want), "bidctl: %s%s", test_sock_path, cases[i].err_tail);
		assert_string_equal(r.err, want);
	}
}

#define T(f) cmocka_unit_test_setup_teardown(f, socket_test_setup, socket_test_teardown)

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s PATH-TO-BIDCTL\n", argv[0]);
		return 2;
	}
	bidctl_path = argv[1];
	const struct CMUnitTest tests[] = {
	    T(no_node_exits_3_and_says_how_to_start_one),
	    T(name_picks_the_socket_under_run_bidplane),
	    T(usage_errors_exit_2_with_the_reason),
	    T(paths_and_requests_too_long_are_usage_errors),
	    T(help_shows_usage_and_examples),
	    T(open_sends_the_options_in_any_order),
	    T(every_command_prints_the_body),
	    T(node_errors_exit_1_with_the_reason_on_stderr),
	    T(a_socket_that_is_not_a_node_exits_3),
	    T(list_pages_with_from_and_limit),
	    T(a_file_or_a_dead_socket_says_which),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
