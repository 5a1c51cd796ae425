/* SPDX-License-Identifier: BSD-3-Clause */
/* Node options: defaults, parsing, the INI file, errors that name the fix. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static int run(struct bp_config *c, char *err, int argc, char **argv)
{
	bp_config_defaults(c);
	return bp_config_parse(argc, argv, c, err, 512);
}

#define ARGS(...)	   ((char *[]){"bidplane", __VA_ARGS__, NULL})
#define NARGS(...)	   ((int)(sizeof((char *[]){"bidplane", __VA_ARGS__}) / sizeof(char *)))
#define PARSE(c, err, ...) run(c, err, NARGS(__VA_ARGS__), ARGS(__VA_ARGS__))

static void defaults_are_documented_values(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	assert_int_equal(run(&c, err, 1, ARGS(NULL)), 0);
	assert_int_equal(c.udp_port, 7600);
	assert_int_equal(c.node_id, 1);
	assert_int_equal(c.max_auctions, 65536);
	assert_int_equal(c.dedup_seconds, 10);
	assert_int_equal(c.dedup_rate, 100000);
	assert_true(c.idle_backoff);
	assert_string_equal(c.control_socket, "/run/bidplane/bidplane.sock");
	assert_string_equal(c.state_dir, "/var/lib/bidplane/bidplane");
	/* --ip is the one option without a default */
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--ip"));
}

static void every_option_is_parsed(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.2", "--udp-port", "9000", "--node-id",
			       "3", "--open-range", "10-20", "--reserve", "5", "--increment", "2",
			       "--duration", "60", "--max-auctions", "1000", "--dedup-seconds",
			       "77", "--dedup-rate", "5000", "--max-drift-ms", "250",
			       "--control-socket", "/tmp/x.sock", "--stats-name", "edge-1",
			       "--state-dir", "/tmp/st", "--no-idle-backoff", "--idle-spin-polls",
			       "5", "--idle-sleep-us", "9", "--overload-backlog", "0", "--rx-desc",
			       "512", "--tx-desc", "256", "--fallback-no-huge"),
			 0);
	assert_int_equal(c.ip, inet_addr("198.18.0.2"));
	assert_int_equal(c.udp_port, 9000);
	assert_int_equal(c.node_id, 3);
	assert_int_equal(c.open_first, 10);
	assert_int_equal(c.open_last, 20);
	assert_int_equal(c.reserve, 5);
	assert_int_equal(c.increment, 2);
	assert_int_equal(c.duration_s, 60);
	assert_int_equal(c.max_auctions, 1000);
	assert_int_equal(c.dedup_seconds, 77);
	assert_int_equal(c.dedup_rate, 5000);
	assert_int_equal(c.max_drift_ms, 250);
	assert_string_equal(c.control_socket, "/tmp/x.sock");
	assert_string_equal(c.stats_name, "edge-1");
	assert_string_equal(c.state_dir, "/tmp/st");
	assert_false(c.idle_backoff);
	assert_int_equal(c.idle_spin_polls, 5);
	assert_int_equal(c.idle_sleep_us, 9);
	assert_int_equal(c.overload_backlog, 0);
	assert_int_equal(c.rx_desc, 512);
	assert_int_equal(c.tx_desc, 256);
	assert_true(c.fallback_no_huge);
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), 0);
}

static void bad_values_name_the_option(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	const char *cases[][2] = {
	    {"--udp-port", "70000"},
	    {"--udp-port", "-1"},
	    {"--udp-port", "12x"},
	    {"--node-id", "16"},
	    {"--open-range", "20-10"},
	    {"--open-range", "5"},
	    {"--reserve", "0"},
	    {"--increment", "0"},
	    {"--duration", "0"},
	    {"--ip", "300.1.1.1"},
	    {"--ip", "0.0.0.0"},
	    {"--rx-desc", "1000"},
	    {"--tx-desc", "32"},
	    {"--stats-name", "a/b"},
	    {"--max-auctions", "1"},
	    {"--dedup-window", "131072"}, /* replaced: names its successors */
	    {"--dedup-seconds", "0"},
	    {"--dedup-seconds", "86401"},
	    {"--dedup-rate", "0"},
	    {"--reserve", "99999999999999999999"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = {"bidplane", (char *)cases[i][0], (char *)cases[i][1], NULL};
		err[0] = '\0';
		assert_int_equal(run(&c, err, 3, argv), -EINVAL);
		assert_non_null(strstr(err, cases[i][0] + 2));
	}
	char *old_window[] = {"bidplane", "--dedup-window", "131072", NULL};
	assert_int_equal(run(&c, err, 3, old_window), -EINVAL);
	assert_non_null(strstr(err, "--dedup-seconds"));
	/* A rejected value leaves the field as it was. */
	char *bad_port[] = {"bidplane", "--udp-port", "99999", NULL};
	assert_int_equal(run(&c, err, 3, bad_port), -EINVAL);
	assert_int_equal(c.udp_port, 7600);
	char *unknown[] = {"bidplane", "--frobnicate", NULL};
	assert_int_equal(run(&c, err, 2, unknown), -EINVAL);
	assert_non_null(strstr(err, "--frobnicate"));
	char *missing[] = {"bidplane", "--ip", NULL};
	assert_int_equal(run(&c, err, 2, missing), -EINVAL);
	assert_non_null(strstr(err, "needs a value"));
}

static void help_returns_one(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	assert_int_equal(PARSE(&c, err, "--help"), 1);
}

static void stats_name_moves_the_derived_paths(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	assert_int_equal(PARSE(&c, err, "--stats-name", "n7"), 0);
	assert_string_equal(c.control_socket, "/run/bidplane/n7.sock");
	assert_string_equal(c.state_dir, "/var/lib/bidplane/n7");
}

static char *write_ini(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/bp-cfg-%d.ini", getpid());
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
	return path;
}

static void config_file_is_read_and_command_line_wins(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	char *path = write_ini("[node]\nip = 198.18.0.9\nudp_port = 8000\nopen-range = 1-5\n"
			       "no_idle_backoff = yes\nstats-name = fromfile\n");
	assert_int_equal(PARSE(&c, err, "--config", path, "--udp-port", "8100"), 0);
	assert_int_equal(c.ip, inet_addr("198.18.0.9"));
	assert_int_equal(c.udp_port, 8100);
	assert_int_equal(c.open_last, 5);
	assert_false(c.idle_backoff);
	assert_string_equal(c.stats_name, "fromfile");
	unlink(path);
}

static void config_file_errors_name_file_and_key(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	char *path = write_ini("[node]\nfrobnicate = 1\n");
	assert_int_equal(PARSE(&c, err, "--config", path), -EINVAL);
	assert_non_null(strstr(err, "frobnicate"));
	assert_non_null(strstr(err, path));
	path = write_ini("[other]\nip = 1.2.3.4\n");
	assert_int_equal(PARSE(&c, err, "--config", path), -EINVAL);
	assert_non_null(strstr(err, "[other]"));
	/* Every section is checked: an unknown one after nine [node] ones too. */
	path = write_ini("[node]\n[node]\n[node]\n[node]\n[node]\n[node]\n[node]\n[node]\n"
			 "[node]\n[tenth]\n");
	assert_int_equal(PARSE(&c, err, "--config", path), -EINVAL);
	assert_non_null(strstr(err, "[tenth]"));
	path = write_ini("[node]\nudp-port = 99999\n");
	assert_int_equal(PARSE(&c, err, "--config", path), -EINVAL);
	assert_non_null(strstr(err, "udp-port"));
	unlink(path);
	assert_int_equal(PARSE(&c, err, "--config", "/nonexistent/bp.ini"), -EINVAL);
	assert_non_null(strstr(err, "/nonexistent/bp.ini"));
}

static void open_range_must_fit_the_table(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	assert_int_equal(
	    PARSE(&c, err, "--ip", "1.2.3.4", "--open-range", "1-100", "--max-auctions", "50"), 0);
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--max-auctions"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(defaults_are_documented_values),
	    cmocka_unit_test(every_option_is_parsed),
	    cmocka_unit_test(bad_values_name_the_option),
	    cmocka_unit_test(help_returns_one),
	    cmocka_unit_test(stats_name_moves_the_derived_paths),
	    cmocka_unit_test(config_file_is_read_and_command_line_wins),
	    cmocka_unit_test(config_file_errors_name_file_and_key),
	    cmocka_unit_test(open_range_must_fit_the_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
