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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "config_options.h"

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
	    {"--udp-port", "70000"},	  {"--udp-port", "-1"},
	    {"--udp-port", "12x"},	  {"--node-id", "0"},
	    {"--node-id", "65536"},	  {"--open-range", "20-10"},
	    {"--open-range", "5"},	  {"--reserve", "0"},
	    {"--increment", "0"},	  {"--duration", "0"},
	    {"--ip", "300.1.1.1"},	  {"--ip", "0.0.0.0"},
	    {"--rx-desc", "1000"},	  {"--tx-desc", "32"},
	    {"--stats-name", "a/b"},	  {"--max-auctions", "1"},
	    {"--dedup-window", "131072"}, /* replaced: names its successors */
	    {"--dedup-seconds", "0"},	  {"--dedup-seconds", "86401"},
	    {"--dedup-rate", "0"},	  {"--reserve", "99999999999999999999"},
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

static char *dump_of(const struct bp_config *c)
{
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	bp_config_dump(f, c);
	fclose(f);
	return text;
}

/* The table drives --help and the dump: every option appears in --help,
 * every value option in the dump, and a dump read back as a --config file
 * gives the same configuration. */
static void the_option_table_drives_help_dump_and_ini(void **s)
{
	(void)s;
	struct bp_config c, back;
	char err[512], path[] = "/tmp/bp-ut-dump-XXXXXX";
	assert_int_equal(
	    PARSE(&c, err, "--ip", "198.18.0.9", "--udp-port", "9001", "--node-id", "3",
		  "--open-range", "5-9", "--clock-offset-ms", "-1500", "--no-idle-backoff",
		  "--fallback-no-huge", "--stats-name", "dumped", "--rx-desc", "2048",
		  "--stall-budget-ms", "7", "--peer", "2@198.18.0.12", "--peer-port", "7700",
		  "--peer", "4@198.18.0.14:7801", "--cluster-key-file", "/etc/bidplane/cluster.key",
		  "--etcd", "http://127.0.0.1:2379,http://etcd-2:2379", "--cluster-name", "eu-1",
		  "--lease-ttl", "9"),
	    0);
	char *help = NULL;
	size_t help_len = 0;
	FILE *f = open_memstream(&help, &help_len);
	bp_config_usage(f, "bidplane");
	fclose(f);
	char *dump = dump_of(&c);
	for (const struct option_spec *o = bp_options; o->name; o++) {
		char flag[80], key[80];
		snprintf(flag, sizeof(flag), "--%s", o->name);
		snprintf(key, sizeof(key), "\n%s = ", o->name);
		if (o->kind != OPTION_REPLACED)
			assert_non_null(strstr(help, flag));
		if (o->kind != OPTION_REPLACED && o->kind != OPTION_HELP &&
		    o->kind != OPTION_CONFIG && o->kind != OPTION_VERSION &&
		    o->kind != OPTION_ACTION && o->kind != OPTION_PEER)
			assert_non_null(strstr(dump, key));
	}
	/* Peers are a section of their own, every port written out. */
	assert_non_null(strstr(dump, "\n[peers]\n2 = 198.18.0.12:7700\n4 = 198.18.0.14:7801\n"));
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, dump, strlen(dump)), (ssize_t)strlen(dump));
	close(fd);
	assert_int_equal(PARSE(&back, err, "--config", path), 0);
	char *again = dump_of(&back);
	assert_string_equal(again, dump);
	assert_int_equal(back.clock_offset_ms, -1500);
	assert_false(back.idle_backoff);
	assert_int_equal(back.npeers, 2);
	assert_memory_equal(back.peers, c.peers, sizeof(c.peers));
	assert_int_equal(back.peer_port, 7700);
	assert_string_equal(back.cluster_key_file, "/etc/bidplane/cluster.key");
	assert_string_equal(back.etcd, "http://127.0.0.1:2379,http://etcd-2:2379");
	assert_string_equal(back.cluster_name, "eu-1");
	assert_int_equal(back.lease_ttl_s, 9);
	assert_int_equal(bp_config_validate(&back, err, sizeof(err)), 0);
	unlink(path);
	free(help);
	free(dump);
	free(again);
}

static void help_returns_one(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	assert_int_equal(PARSE(&c, err, "--help"), 1);
}

/* --version, --check-config and --print-config: command line only. */
static void actions_are_command_line_only(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	assert_int_equal(PARSE(&c, err, "--version"), 1);
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.2", "--check-config"), 0);
	assert_true(c.check_config);
	assert_false(c.print_config);
	assert_int_equal(PARSE(&c, err, "--print-config"), 0);
	assert_true(c.print_config);
	assert_false(c.check_config);
	const char *keys[] = {"check-config", "print_config", "version"};
	for (size_t i = 0; i < 3; i++) {
		char text[128];
		snprintf(text, sizeof(text), "[node]\n%s = true\n", keys[i]);
		char path[] = "/tmp/bp-ut-action-XXXXXX";
		int fd = mkstemp(path);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
		close(fd);
		assert_int_equal(PARSE(&c, err, "--config", path), -EINVAL);
		assert_non_null(strstr(err, "command-line action"));
		unlink(path);
	}
}

/* --check-config's host checks: paths that fit, directories that are, or
 * can be made, writable; each refusal names the option and the path. */
static void check_host_names_the_bad_path(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512], dir[] = "/tmp/bp-ut-check-XXXXXX", file[600], deep[700], sock[700];
	assert_non_null(mkdtemp(dir));
	snprintf(file, sizeof(file), "%s/plain", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	/* Missing directories whose parent is writable are fine. */
	snprintf(deep, sizeof(deep), "%s/a/b/state", dir);
	snprintf(sock, sizeof(sock), "%s/run/x/ctl.sock", dir);
	assert_int_equal(
	    PARSE(&c, err, "--ip", "198.18.0.2", "--state-dir", deep, "--control-socket", sock), 0);
	assert_int_equal(bp_config_check_host(&c, NULL, err, sizeof(err)), 0);
	/* A file where the state dir should be, or above it. */
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.2", "--state-dir", file), 0);
	assert_int_equal(bp_config_check_host(&c, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--state-dir"));
	assert_non_null(strstr(err, "not a directory"));
	snprintf(deep, sizeof(deep), "%s/below", file);
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.2", "--state-dir", deep), 0);
	assert_int_equal(bp_config_check_host(&c, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, file));
	/* The socket's directory is a file. */
	snprintf(sock, sizeof(sock), "%s/ctl.sock", file);
	snprintf(deep, sizeof(deep), "%s/state", dir);
	assert_int_equal(
	    PARSE(&c, err, "--ip", "198.18.0.2", "--state-dir", deep, "--control-socket", sock), 0);
	assert_int_equal(bp_config_check_host(&c, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--control-socket"));
	/* Longer than a unix socket address holds. */
	char lng[200];
	memset(lng, 'a', sizeof(lng) - 1);
	lng[0] = '/';
	lng[sizeof(lng) - 1] = '\0';
	assert_int_equal(
	    PARSE(&c, err, "--ip", "198.18.0.2", "--state-dir", deep, "--control-socket", lng), 0);
	assert_int_equal(bp_config_check_host(&c, NULL, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "at most 107"));
	unlink(file);
	rmdir(dir);
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
	/* Every section is checked: an unknown one after [node] too. */
	path = write_ini("[node]\nudp-port = 8000\n[tenth]\n");
	assert_int_equal(PARSE(&c, err, "--config", path), -EINVAL);
	assert_non_null(strstr(err, "[tenth]"));
	assert_non_null(strstr(err, "line 3"));
	path = write_ini("[node]\nudp-port = 99999\n");
	assert_int_equal(PARSE(&c, err, "--config", path), -EINVAL);
	assert_non_null(strstr(err, "udp-port"));
	unlink(path);
	assert_int_equal(PARSE(&c, err, "--config", "/nonexistent/bp.ini"), -EINVAL);
	assert_non_null(strstr(err, "/nonexistent/bp.ini"));
}

/* Parses one INI text; the error (or "") in err. */
static int parse_ini(struct bp_config *c, char *err, const char *text)
{
	char *path = write_ini(text);
	err[0] = '\0';
	int rc = PARSE(c, err, "--config", path);
	unlink(path);
	return rc;
}

static void expect_ini_error(const char *text, const char *want1, const char *want2)
{
	struct bp_config c;
	char err[512];
	assert_int_equal(parse_ini(&c, err, text), -EINVAL);
	if (!strstr(err, want1) || !strstr(err, want2))
		fail_msg("error '%s' lacks '%s' or '%s'", err, want1, want2);
	assert_null(strstr(err, "help"));
}

/* rte_cfgfile took bare lines, repeated keys and sections silently and
 * refused '#' comments; each now has its own message with the line. */
static void config_file_grammar_is_strict_and_names_the_line(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	assert_int_equal(parse_ini(&c, err,
				   "# a comment\n; another\n\n  # indented\n[node]\n"
				   "udp-port = 8001\n\t# after a key\n"),
			 0);
	assert_int_equal(c.udp_port, 8001);
	assert_int_equal(parse_ini(&c, err, ""), 0); /* an empty file: no settings */
	assert_int_equal(parse_ini(&c, err, "[node]\nudp-port = 8002"), 0); /* no final \n */
	assert_int_equal(c.udp_port, 8002);
	expect_ini_error("[node]\nudp-port\n", "line 2", "not key = value");
	expect_ini_error("[node]\nudp-port = 1\nudp_port = 2\n", "line 3",
			 "udp-port is set twice (first on line 2)");
	expect_ini_error("[node]\nudp-port = 1\n[node]\n", "line 3",
			 "second [node] section (the first is on line 1)");
	expect_ini_error("udp-port = 1\n[node]\n", "line 1", "before the [node] section");
	expect_ini_error("[node\n", "line 1", "a section line is [node]");
	expect_ini_error("[node]\n= 5\n", "line 2", "has no key");
	expect_ini_error("[node]\nfrob = 1\n", "line 2", "unknown key 'frob'");
	expect_ini_error("[node]\nreserve = 0\n", "line 2", "--reserve 0: out of range");
	expect_ini_error("\x7f"
			 "ELF\x02\x01\x01\x00\x00\n",
			 "line 1", "not a text (INI) file");
}

/* Missing, unreadable and directory are three messages, each with errno. */
static void config_file_open_errors_say_which(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	assert_int_equal(PARSE(&c, err, "--config", "/nonexistent/bp.ini"), -EINVAL);
	assert_non_null(strstr(err, "/nonexistent/bp.ini: does not exist"));
	assert_non_null(strstr(err, "errno 2"));
	assert_int_equal(PARSE(&c, err, "--config", "/tmp"), -EINVAL);
	assert_non_null(strstr(err, "/tmp: is a directory"));
	assert_non_null(strstr(err, "errno 21"));

	/* Unreadable: root reads every file, so the check runs as nobody. */
	char *path = write_ini("[node]\n");
	assert_int_equal(chmod(path, 0), 0);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (geteuid() == 0 && setuid(65534) != 0)
			_exit(3);
		char e[512] = "";
		int rc = PARSE(&c, e, "--config", path);
		_exit(rc == -EINVAL && strstr(e, "cannot be read (permission denied)") &&
			      strstr(e, "errno 13")
			  ? 0
			  : 1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* Every number's refusal names the option, the value and the range. */
static void out_of_range_names_option_value_and_range(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	const char *cases[][3] = {
	    /* 2^64/1000: the old bound, whose close time overflowed */
	    {"--duration", "18446744073709551", "1..315360000"},
	    {"--duration", "315360001", "1..315360000"},
	    {"--reserve", "18446744073709551615", "1..9223372036854775807"},
	    {"--reserve", "9223372036854775808", "1..9223372036854775807"},
	    {"--increment", "9223372036854775808", "1..9223372036854775807"},
	    {"--udp-port", "70000", "1..65535"},
	    {"--udp-port", "x", "1..65535"},
	    {"--stats-auctions", "4097", "0..4096"},
	    {"--idle-sleep-us", "0", "1..1000000"},
	    {"--overload-backlog", "1048577", "0..1048576"},
	    {"--max-drift-ms", "60001", "0..60000"},
	    {"--rx-desc", "32", "64..16384"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[] = {"bidplane", (char *)cases[i][0], (char *)cases[i][1], NULL};
		err[0] = '\0';
		assert_int_equal(run(&c, err, 3, argv), -EINVAL);
		if (!strstr(err, cases[i][0]) || !strstr(err, cases[i][1]) ||
		    !strstr(err, cases[i][2]))
			fail_msg("%s %s: '%s' lacks the option, value or range %s", cases[i][0],
				 cases[i][1], err, cases[i][2]);
		/* main adds the one hint: the message has none of its own */
		assert_null(strstr(err, "help"));
	}
	assert_int_equal(PARSE(&c, err, "--duration", "315360000"), 0);
	assert_int_equal(c.duration_s, 315360000);
	assert_int_equal(PARSE(&c, err, "--reserve", "9223372036854775807"), 0);
	assert_true(c.reserve == INT64_MAX);
	char *unknown[] = {"bidplane", "--frobnicate", NULL};
	assert_int_equal(run(&c, err, 2, unknown), -EINVAL);
	assert_null(strstr(err, "help"));
	char *missing[] = {"bidplane", "--ip", NULL};
	assert_int_equal(run(&c, err, 2, missing), -EINVAL);
	assert_null(strstr(err, "help"));
}

/* The node's own address is unicast: broadcast, multicast, reserved refused. */
static void ip_must_be_unicast(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	const char *bad[][2] = {
	    {"255.255.255.255", "broadcast"}, {"224.0.0.1", "multicast"},
	    {"239.255.255.250", "multicast"}, {"240.0.0.1", "reserved"},
	    {"0.1.2.3", "0.0.0.0/8"},	      {"0.0.0.0", "unspecified"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(PARSE(&c, err, "--ip", (char *)bad[i][0]), -EINVAL);
		if (!strstr(err, bad[i][0]) || !strstr(err, bad[i][1]))
			fail_msg("--ip %s: '%s'", bad[i][0], err);
	}
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.255"), 0);
	assert_int_equal(PARSE(&c, err, "--ip", "10.0.0.1"), 0);
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

/* --- The cluster's options (CLUSTER.md) --- */

#define KEY "/etc/bidplane/cluster.key"

static void expect_peer(const struct bp_peer *p, unsigned int id, const char *ip, unsigned int port)
{
	assert_int_equal(p->id, id);
	assert_int_equal(p->ip, inet_addr(ip));
	assert_int_equal(p->port, port);
}

static void cluster_options_have_defaults(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.11"), 0);
	assert_int_equal(c.peer_port, 7601);
	assert_int_equal(c.npeers, 0);
	assert_string_equal(c.cluster_key_file, "");
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), 0);
	/* A lone node dumps no [peers] and no key file (an empty value would
	 * not read back). */
	char *dump = dump_of(&c);
	assert_null(strstr(dump, "[peers]"));
	assert_null(strstr(dump, "cluster-key-file"));
	assert_non_null(strstr(dump, "\npeer-port = 7601\n"));
	free(dump);
}

/* A peer without :PORT gets --peer-port, given before or after it. */
static void peers_from_the_command_line_in_either_order(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.11", "--peer", "2@198.18.0.12", "--peer",
			       "3@198.18.0.13:7800", "--peer-port", "7700", "--cluster-key-file",
			       KEY),
			 0);
	assert_int_equal(c.npeers, 2);
	expect_peer(&c.peers[0], 2, "198.18.0.12", 7700);
	expect_peer(&c.peers[1], 3, "198.18.0.13", 7800);
	assert_string_equal(c.cluster_key_file, KEY);
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), 0);
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.11", "--peer-port", "7700", "--peer",
			       "2@198.18.0.12", "--cluster-key-file", KEY),
			 0);
	expect_peer(&c.peers[0], 2, "198.18.0.12", 7700);
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.11", "--peer=65535@10.0.0.2",
			       "--cluster-key-file", KEY),
			 0);
	expect_peer(&c.peers[0], 65535, "10.0.0.2", 7601);
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), 0);
}

static void peers_from_the_ini_file(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	/* [peers] before [node]: the file's --peer-port still applies. */
	assert_int_equal(parse_ini(&c, err,
				   "[peers]\n2 = 198.18.0.12\n 3 = 198.18.0.13:7800 \n"
				   "; a comment\n[node]\nip = 198.18.0.11\npeer-port = 7700\n"
				   "cluster_key_file = " KEY "\n"),
			 0);
	assert_int_equal(c.npeers, 2);
	expect_peer(&c.peers[0], 2, "198.18.0.12", 7700);
	expect_peer(&c.peers[1], 3, "198.18.0.13", 7800);
	assert_string_equal(c.cluster_key_file, KEY);
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), 0);
	/* The file's peers, the command line's --peer-port. */
	char *path = write_ini("[node]\nip = 198.18.0.11\n[peers]\n2 = 198.18.0.12\n");
	assert_int_equal(PARSE(&c, err, "--peer-port", "7702", "--config", path), 0);
	assert_int_equal(c.npeers, 1);
	expect_peer(&c.peers[0], 2, "198.18.0.12", 7702);
	unlink(path);
}

/* The command line wins: any --peer replaces the file's whole list. */
static void command_line_peers_replace_the_files(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	char *path = write_ini("[node]\nip = 198.18.0.11\n[peers]\n2 = 198.18.0.12\n"
			       "3 = 198.18.0.13\n");
	assert_int_equal(
	    PARSE(&c, err, "--config", path, "--peer", "4@198.18.0.14", "--peer", "5@198.18.0.15"),
	    0);
	assert_int_equal(c.npeers, 2);
	expect_peer(&c.peers[0], 4, "198.18.0.14", 7601);
	expect_peer(&c.peers[1], 5, "198.18.0.15", 7601);
	/* Without --peer, the file's stay. */
	assert_int_equal(PARSE(&c, err, "--config", path, "--peer-port", "7605"), 0);
	assert_int_equal(c.npeers, 2);
	expect_peer(&c.peers[1], 3, "198.18.0.13", 7605);
	unlink(path);
	/* --help says so. */
	char *help = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&help, &len);
	bp_config_usage(f, "bidplane");
	fclose(f);
	assert_non_null(strstr(help, "\nCluster:\n  --peer ID@A.B.C.D[:PORT]"));
	assert_non_null(
	    strstr(bp_option_by_name("peer")->help, "replaces the whole [peers] section"));
	assert_non_null(strstr(help, "--cluster-key-file FILE"));
	free(help);
}

/* Each malformed --peer: refused by the parser, naming the value, what is
 * wrong in it and the form expected. */
static void malformed_peers_are_refused_with_the_form(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	const char *cases[][2] = {
	    {"198.18.0.12", "no '@'"},
	    {"2", "no '@'"},
	    {"@198.18.0.12", "the id '' is not a node id (1..65535)"},
	    {"x@198.18.0.12", "the id 'x' is not a node id"},
	    {"0@198.18.0.12", "the id '0' is not a node id"},
	    {"65536@198.18.0.12", "the id '65536' is not a node id"},
	    {"-2@198.18.0.12", "the id '-2'"},
	    {"123456789012@198.18.0.12", "the id '123456789012'"},
	    {"2@", "'' is not an IPv4 address"},
	    {"2@198.18.0", "'198.18.0' is not an IPv4 address"},
	    {"2@host.example", "'host.example' is not an IPv4 address"},
	    {"2@198.18.0.12 ", "'198.18.0.12 ' is not an IPv4 address"},
	    {"2@198.18.0.1234567890123", "is not an IPv4 address"},
	    {"2@255.255.255.255", "broadcast"},
	    {"2@224.0.0.5", "multicast"},
	    {"2@0.0.0.0", "unspecified"},
	    {"2@198.18.0.12:", "the port '' is not a UDP port (1..65535)"},
	    {"2@198.18.0.12:0", "the port '0'"},
	    {"2@198.18.0.12:65536", "the port '65536'"},
	    {"2@198.18.0.12:7601x", "the port '7601x'"},
	    {"2@198.18.0.12:7601:1", "the port '7601:1'"},
	    {"2@198.18.0.12:+7601", "the port '+7601'"},
	    {"2@198.18.0.12@3", "not an IPv4 address"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = '\0';
		assert_int_equal(PARSE(&c, err, "--peer", (char *)cases[i][0]), -EINVAL);
		char value[64];
		snprintf(value, sizeof(value), "--peer '%s'", cases[i][0]);
		if (!strstr(err, value) || !strstr(err, cases[i][1]) ||
		    !strstr(err, "expected ID@A.B.C.D[:PORT]") || strstr(err, "help"))
			fail_msg("--peer %s: '%s' lacks the value, '%s' or the form", cases[i][0],
				 err, cases[i][1]);
		assert_int_equal(c.npeers, 0);
	}
	/* Good ones around the edges. */
	assert_int_equal(
	    PARSE(&c, err, "--peer", "1@1.0.0.1:1", "--peer", "65535@198.18.0.255:65535"), 0);
	expect_peer(&c.peers[0], 1, "1.0.0.1", 1);
	expect_peer(&c.peers[1], 65535, "198.18.0.255", 65535);
	/* --peer-port is a port. */
	assert_int_equal(PARSE(&c, err, "--peer-port", "0"), -EINVAL);
	assert_non_null(strstr(err, "--peer-port 0: out of range 1..65535"));
	assert_int_equal(PARSE(&c, err, "--cluster-key-file", ""), -EINVAL);
	assert_non_null(strstr(err, "--cluster-key-file"));
}

static void a_sixteenth_peer_is_refused(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512], text[1024] = "[peers]\n", values[16][32];
	char *argv[2 + 2 * 16 + 1] = {"bidplane", "--ip", "198.18.0.1"};
	for (int i = 0; i < 16; i++) {
		snprintf(values[i], sizeof(values[i]), "%d@198.18.1.%d", i + 2, i + 2);
		argv[3 + 2 * i] = "--peer";
		argv[4 + 2 * i] = values[i];
	}
	assert_int_equal(run(&c, err, 3 + 2 * 15, argv), 0);
	assert_int_equal(c.npeers, 15);
	assert_int_equal(run(&c, err, 3 + 2 * 16, argv), -EINVAL);
	assert_non_null(strstr(err, "--peer '17@198.18.1.17': more than 15 peers"));
	assert_null(strstr(err, "expected")); /* the value is good: there are too many */
	for (int i = 0; i < 16; i++) {
		size_t n = strlen(text);
		snprintf(text + n, sizeof(text) - n, "%d = 198.18.1.%d\n", i + 2, i + 2);
	}
	expect_ini_error(text, "line 17", "more than 15 peers: a cluster is at most 16 nodes");
}

static void ini_peers_are_strict_and_name_the_line(void **s)
{
	(void)s;
	expect_ini_error("[peers]\n2 = 198.18.0.12\n2 = 198.18.0.13\n", "line 3",
			 "peer 2 is listed twice (first on line 2)");
	expect_ini_error("[peers]\n[node]\n[peers]\n", "line 3",
			 "a second [peers] section (the first is on line 1)");
	expect_ini_error(
	    "[peers]\n2 = 198.18.0\n", "line 2",
	    "'198.18.0' is not an IPv4 address (A.B.C.D); expected ID = A.B.C.D[:PORT]");
	expect_ini_error("[peers]\nnode2 = 198.18.0.12\n", "line 2", "the id 'node2'");
	expect_ini_error("[peers]\n2 = 198.18.0.12:99999\n", "line 2", "the port '99999'");
	expect_ini_error("[peers]\n2 198.18.0.12\n", "line 2", "not key = value");
	expect_ini_error("[peer]\n", "line 1", "only [node] and [peers] are read");
	/* The command line's form is no [node] key: one way to write peers. */
	expect_ini_error("[node]\npeer = 2@198.18.0.12\n", "line 2",
			 "peer is no [node] key: peers are a [peers] section");
}

/* Each cluster rule of bp_config_validate names the problem and the fix. */
static void cluster_rules_name_the_problem(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	struct {
		char *args[8];
		const char *want;
	} cases[] = {
	    {{"--node-id", "2", "--peer", "2@198.18.0.12"}, "2 is this node's own --node-id"},
	    {{"--peer", "2@198.18.0.12", "--peer", "2@198.18.0.13"},
	     "--peer 2@198.18.0.12:7601 and --peer 2@198.18.0.13:7601: two peers with id 2"},
	    {{"--peer", "2@198.18.0.12", "--peer", "3@198.18.0.12:7601"},
	     "two peers at one address and port"},
	    {{"--peer", "2@198.18.0.11"}, "--peer 2@198.18.0.11:7601 is this node itself"},
	    {{"--peer-port", "7700", "--peer", "2@198.18.0.11:7700"}, "is this node itself"},
	    {{"--peer-port", "7600", "--peer", "2@198.18.0.12"},
	     "--peer-port 7600 is also the --udp-port"},
	    {{"--udp-port", "7601", "--peer", "2@198.18.0.12"},
	     "--peer-port 7601 is also the --udp-port"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *argv[16] = {"bidplane", "--ip", "198.18.0.11", "--cluster-key-file", KEY};
		int argc = 5;
		for (int j = 0; cases[i].args[j]; j++)
			argv[argc++] = cases[i].args[j];
		assert_int_equal(run(&c, err, argc, argv), 0);
		err[0] = '\0';
		assert_int_equal(bp_config_validate(&c, err, sizeof(err)), -EINVAL);
		if (!strstr(err, cases[i].want) || strstr(err, "help"))
			fail_msg("case %zu: '%s' lacks '%s'", i, err, cases[i].want);
	}
	/* One host, two peer ports: two nodes. Our --ip, another port: fine. */
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.11", "--cluster-key-file", KEY, "--peer",
			       "2@198.18.0.12:7700", "--peer", "3@198.18.0.12:7701", "--peer",
			       "4@198.18.0.11:7702"),
			 0);
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), 0);
	/* Any peer needs the key, and the message says how to make one. */
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.11", "--peer", "2@198.18.0.12"), 0);
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "--peer needs --cluster-key-file"));
	assert_non_null(strstr(err, "umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d "
				    "' \\n' > cluster.key"));
	/* A lone node has no peer port: its --udp-port may be 7601. */
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.11", "--udp-port", "7601"), 0);
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), 0);
	/* A key without peers is no error (a lone node ignores it). */
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.11", "--cluster-key-file", KEY), 0);
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), 0);
}

/* What the parser refuses, validate refuses too: a configuration built
 * another way (a test, a later reload) meets the same rules. */
static void validate_checks_peers_not_made_by_the_parser(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.11", "--cluster-key-file", KEY), 0);
	c.npeers = 1;
	c.peers[0] = (struct bp_peer){0, inet_addr("198.18.0.12"), 7601};
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "node ids are 1..65535"));
	c.peers[0] = (struct bp_peer){2, inet_addr("255.255.255.255"), 7601};
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the broadcast address"));
	c.peers[0] = (struct bp_peer){2, inet_addr("198.18.0.11"), 0}; /* 0: --peer-port */
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "is this node itself"));
	c.peers[0] = (struct bp_peer){2, inet_addr("198.18.0.12"), 7601};
	c.npeers = BP_MAX_PEERS + 1;
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "16 peers: at most 15"));
}

/* --durability and --async-window-ms: parsed, bounded, dumped; sync by
 * default. */
static void durability_options(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	assert_int_equal(run(&c, err, 1, ARGS(NULL)), 0);
	assert_int_equal(c.durability, BP_DURABILITY_SYNC);
	assert_int_equal(c.async_window_ms, 10);
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.2", "--durability", "async",
			       "--async-window-ms", "25"),
			 0);
	assert_int_equal(c.durability, BP_DURABILITY_ASYNC);
	assert_int_equal(c.async_window_ms, 25);
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), 0);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	bp_config_dump(f, &c);
	fclose(f);
	assert_non_null(strstr(text, "durability = async\n"));
	assert_non_null(strstr(text, "async-window-ms = 25\n"));
	free(text);
	assert_int_equal(PARSE(&c, err, "--durability", "fast"), -EINVAL);
	assert_non_null(strstr(err, "--durability fast: one of sync, async, off"));
	assert_int_equal(PARSE(&c, err, "--async-window-ms", "0"), -EINVAL);
	assert_non_null(strstr(err, "--async-window-ms"));
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.2", "--durability", "sync"), 0);
	assert_int_equal(c.durability, BP_DURABILITY_SYNC);
	assert_int_equal(bp_config_validate(&c, err, sizeof(err)), 0);
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.2", "--durability", "off"), 0);
	assert_int_equal(c.durability, BP_DURABILITY_OFF);
}

/* --snapshot-interval-s, --snapshot-log-mb, --wal-segment-mb: defaults,
 * 0 allowed for the snapshot triggers (never by that trigger), bounds. */
static void snapshot_options(void **s)
{
	(void)s;
	struct bp_config c;
	char err[512];
	assert_int_equal(run(&c, err, 1, ARGS(NULL)), 0);
	assert_int_equal(c.snapshot_interval_s, 60);
	assert_int_equal(c.snapshot_log_mb, 256);
	assert_int_equal(c.wal_segment_mb, 64);
	assert_int_equal(PARSE(&c, err, "--ip", "198.18.0.2", "--snapshot-interval-s", "0",
			       "--snapshot-log-mb", "1", "--wal-segment-mb", "2"),
			 0);
	assert_int_equal(c.snapshot_interval_s, 0);
	assert_int_equal(c.snapshot_log_mb, 1);
	assert_int_equal(c.wal_segment_mb, 2);
	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	bp_config_dump(f, &c);
	fclose(f);
	assert_non_null(strstr(text, "snapshot-interval-s = 0\n"));
	assert_non_null(strstr(text, "snapshot-log-mb = 1\n"));
	assert_non_null(strstr(text, "wal-segment-mb = 2\n"));
	free(text);
	assert_int_equal(PARSE(&c, err, "--snapshot-interval-s", "86401"), -EINVAL);
	assert_non_null(strstr(err, "--snapshot-interval-s"));
	assert_int_equal(PARSE(&c, err, "--wal-segment-mb", "0"), -EINVAL);
	assert_non_null(strstr(err, "--wal-segment-mb"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(durability_options),
	    cmocka_unit_test(snapshot_options),
	    cmocka_unit_test(defaults_are_documented_values),
	    cmocka_unit_test(every_option_is_parsed),
	    cmocka_unit_test(bad_values_name_the_option),
	    cmocka_unit_test(help_returns_one),
	    cmocka_unit_test(the_option_table_drives_help_dump_and_ini),
	    cmocka_unit_test(stats_name_moves_the_derived_paths),
	    cmocka_unit_test(actions_are_command_line_only),
	    cmocka_unit_test(check_host_names_the_bad_path),
	    cmocka_unit_test(config_file_is_read_and_command_line_wins),
	    cmocka_unit_test(config_file_errors_name_file_and_key),
	    cmocka_unit_test(open_range_must_fit_the_table),
	    cmocka_unit_test(config_file_grammar_is_strict_and_names_the_line),
	    cmocka_unit_test(config_file_open_errors_say_which),
	    cmocka_unit_test(out_of_range_names_option_value_and_range),
	    cmocka_unit_test(ip_must_be_unicast),
	    cmocka_unit_test(cluster_options_have_defaults),
	    cmocka_unit_test(peers_from_the_command_line_in_either_order),
	    cmocka_unit_test(peers_from_the_ini_file),
	    cmocka_unit_test(command_line_peers_replace_the_files),
	    cmocka_unit_test(malformed_peers_are_refused_with_the_form),
	    cmocka_unit_test(a_sixteenth_peer_is_refused),
	    cmocka_unit_test(ini_peers_are_strict_and_name_the_line),
	    cmocka_unit_test(cluster_rules_name_the_problem),
	    cmocka_unit_test(validate_checks_peers_not_made_by_the_parser),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
