/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * ctl_execute against a fake node: every command in both formats (whole
 * answers compared byte for byte), every refusal of the parser, handler
 * errors, and answers cut to the buffer.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "ctl_out.h"
#include "fake_node.h"

#define AUCTION_42_JSON                                                                            \
	"{\"id\":42,\"phase\":1,\"state\":\"open\",\"reserve\":100,\"increment\":5,"               \
	"\"close_at_ms\":1700000000123,\"leading_amount\":250,\"leading_bidder\":9,"               \
	"\"leading_hlc\":111411200000000003,\"bid_count\":4,\"viewers\":2,\"settled\":false,"      \
	"\"settled_at_ms\":0,\"settlement\":null}"

static struct fake_node node;
static struct ctl_handlers handlers;
static char answer[1 << 20]; /* the server's RESPONSE_MAX */

static int reset_node(void **state)
{
	(void)state;
	fake_node_init(&node, &handlers);
	return 0;
}

static const char *run(const char *line)
{
	size_t len = ctl_execute(&handlers, line, answer, sizeof(answer));
	assert_int_equal(len, strlen(answer));
	return answer;
}

static bool starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static int handler_calls(void)
{
	return node.opens + node.closes + node.queries + node.lists + node.statuses +
	       node.clock_offsets;
}

/* ---- every command, both formats ---- */

static void open_text_passes_the_arguments_and_names_the_close_time(void **state)
{
	(void)state;
	assert_string_equal(run("text open 42 100 5 60"),
			    "ok\nopened auction 42 (closes at 2023-11-14T22:13:20.123Z)\n");
	assert_int_equal(node.opens, 1);
	uint64_t want[4] = {42, 100, 5, 60};
	assert_memory_equal(node.open_args, want, sizeof(want));
}

static void open_json_answers_with_the_auction(void **state)
{
	(void)state;
	assert_string_equal(run("json open 42 100 5 60"), "ok\n" AUCTION_42_JSON "\n");
	assert_int_equal(node.opens, 1);
}

static void close_text_names_the_leading_bid(void **state)
{
	(void)state;
	node.auction.phase = 2;
	assert_string_equal(run("text close 42"),
			    "ok\nclosed auction 42 (leading bid 250 by bidder 9)\n");
	assert_int_equal(node.closes, 1);
	assert_int_equal(node.last_id, 42);
}

static void close_text_without_bids(void **state)
{
	(void)state;
	node.auction.leading_amount = 0;
	node.auction.leading_bidder = 0;
	assert_string_equal(run("text close 42"), "ok\nclosed auction 42 (no bids)\n");
}

static void close_json_answers_with_the_auction(void **state)
{
	(void)state;
	node.auction.phase = 2;
	node.auction.settled = true;
	node.auction.settled_at_ms = 1700000060000;
	const char *a = run("json close 42");
	assert_non_null(strstr(a, "\"phase\":2,\"state\":\"closed\""));
	assert_non_null(
	    strstr(a, "\"settled\":true,\"settled_at_ms\":1700000060000,\"settlement\":{"));
	assert_int_equal(node.closes, 1);
}

static void query_text_is_aligned_key_lines(void **state)
{
	(void)state;
	assert_string_equal(run("text query 42"),
			    "ok\n"
			    "auction:    42\n"
			    "state:      open\n"
			    "reserve:    100\n"
			    "increment:  5\n"
			    "close_at:   1700000000123 (2023-11-14T22:13:20.123Z)\n"
			    "leading:    250\n"
			    "bidder:     9\n"
			    "hlc:        1700000000000.3\n"
			    "bids:       4\n"
			    "viewers:    2\n"
			    "settled:    no\n"
			    "settled_at: none\n"
			    "settlement: none\n");
	assert_int_equal(node.queries, 1);
	assert_int_equal(node.last_id, 42);
}

static void query_text_of_a_settled_auction_without_bids(void **state)
{
	(void)state;
	node.auction = (struct ctl_auction){.id = 42,
					    .reserve = 1,
					    .increment = 1,
					    .close_at_ms = 0,
					    .phase = 2,
					    .settled = true,
					    .settled_at_ms = 1700000060000};
	assert_string_equal(
	    run("text query 42"),
	    "ok\n"
	    "auction:    42\n"
	    "state:      closed\n"
	    "reserve:    1\n"
	    "increment:  1\n"
	    "close_at:   0 (1970-01-01T00:00:00.000Z)\n"
	    "leading:    none\n"
	    "bidder:     none\n"
	    "hlc:        none\n"
	    "bids:       0\n"
	    "viewers:    0\n"
	    "settled:    yes\n"
	    "settled_at: 1700000060000 (2023-11-14T22:14:20.000Z)\n"
	    "settlement: amount none, bidder none, hlc none, node 0, fencing token 0\n");
}

static void query_text_survives_times_beyond_year_9999(void **state)
{
	(void)state;
	node.auction.close_at_ms = UINT64_MAX;
	node.auction.phase = 9;
	const char *a = run("text query 42");
	assert_non_null(strstr(a, "close_at:   18446744073709551615 (beyond year 9999)\n"));
	assert_non_null(strstr(a, "state:      invalid\n")); /* no such phase */
}

static void query_json_is_one_object(void **state)
{
	(void)state;
	assert_string_equal(run("json query 42"), "ok\n" AUCTION_42_JSON "\n");
}

static void list_text_is_a_table_with_a_count(void **state)
{
	(void)state;
	assert_string_equal(
	    run("text list"),
	    "ok\n"
	    "id           state          leading         bidder       bids  viewers  close_at\n"
	    "42           open               250              9          4        2  "
	    "2023-11-14T22:13:20.123Z\n"
	    "43           closed             250              9          4        2  "
	    "2023-11-14T22:13:20.123Z\n"
	    "2 auctions\n");
	assert_int_equal(node.lists, 1);
}

static void list_json_holds_every_auction_and_the_count(void **state)
{
	(void)state;
	node.list_count = 3;
	const char *a = run("json list");
	assert_true(starts_with(a, "ok\n{\"auctions\":[{\"id\":42,\"phase\":1,"));
	assert_non_null(
	    strstr(a, "\"settled_at_ms\":0,\"settlement\":null},{\"id\":43,\"phase\":2,"));
	assert_non_null(
	    strstr(a, "\"settled_at_ms\":0,\"settlement\":null},{\"id\":44,\"phase\":1,"));
	const char *end = "\"settled_at_ms\":0,\"settlement\":null}],\"count\":3,\"next\":null}\n";
	assert_string_equal(a + strlen(a) - strlen(end), end);
}

static void list_of_nothing(void **state)
{
	(void)state;
	node.list_count = 0;
	assert_string_equal(run("json list"), "ok\n{\"auctions\":[],\"count\":0,\"next\":null}\n");
	const char *a = run("text list");
	assert_non_null(strstr(a, "ok\nid "));
	assert_non_null(strstr(a, "close_at\n0 auctions\n"));
}

static void status_text(void **state)
{
	(void)state;
	assert_string_equal(run("text status"), "ok\n"
						"node:          3\n"
						"version:       0.1.0\n"
						"hlc:           1700000000456.1\n"
						"fencing_epoch: 7\n"
						"serving:       yes\n"
						"workers:       2\n"
						"uptime:        11 s\n"
						"auctions:      1 open, 1 closed, 0 settled\n"
						"leader:        yes, fencing token 7 (no --etcd: "
						"a lone node leads itself)\n"
						"wal:           off, lsn 0, durable 0\n");
	assert_int_equal(node.statuses, 1);
}

/* With --etcd: the etcd object; a follower's token is 0 (CLUSTER.md). */
static void status_shows_etcd_leadership(void **state)
{
	(void)state;
	node.status.leader = false;
	node.status.fencing_token = 0;
	node.status.etcd = true;
	node.status.etcd_reachable = true;
	node.status.etcd_latency_us = 1234;
	node.status.etcd_lease_left_ms = 1400;
	node.status.etcd_leader_node_id = 2;
	assert_non_null(strstr(run("json status"),
			       ",\"peers\":[],\"leader\":false,\"fencing_token\":0,\"etcd\":{"
			       "\"reachable\":true,\"latency_ms\":1.234,\"lease_left_ms\":1400,"
			       "\"leader_node_id\":2},\"wal\":"));
	const char *text = run("text status");
	assert_non_null(strstr(text, "leader:        no\n"));
	assert_non_null(strstr(text, "etcd:          reachable, latency 1.234 ms, lease 1400 ms "
				     "left, leader node 2\n"));
	assert_non_null(strstr(text, "settlements:   0 done, 0 pending (0 waiting for a peer, 0 "
				     "for etcd), fencing rejections 0\n"));
	node.status.etcd_reachable = false;
	node.status.etcd_leader_node_id = 0;
	assert_non_null(strstr(run("json status"),
			       "\"reachable\":false,\"latency_ms\":1.234,"
			       "\"lease_left_ms\":1400,\"leader_node_id\":null},\"wal\":"));
	assert_non_null(strstr(run("text status"), "etcd:          UNREACHABLE, latency 1.234 ms, "
						   "lease 1400 ms left, leader none known\n"));
}

static void status_json(void **state)
{
	(void)state;
	node.status.serving = false;
	node.status.not_serving_reason = "clock";
	assert_string_equal(run("json status"),
			    "ok\n{\"node_id\":3,\"version\":\"0.1.0\",\"hlc\":111411200029884417,"
			    "\"fencing_epoch\":7,\"serving\":false,\"workers\":2,\"uptime_s\":11,"
			    "\"auctions_open\":1,\"auctions_closed\":1,\"auctions_settled\":0,"
			    "\"not_serving_reason\":\"clock\",\"injected_clock_offset_ms\":0,"
			    "\"injected_lease_guard_off\":false,\"peers\":[],\"leader\":true,"
			    "\"fencing_token\":7,\"etcd\":null,\"wal\":{\"durability\":"
			    "\"off\",\"lsn\":0,\"durable_lsn\":0,\"full\":false,"
			    "\"reserve_bytes\":0,\"error\":null,"
			    "\"snapshot_lsn\":0,\"snapshot_age_s\":null,\"snapshot_bytes\":0,"
			    "\"snapshot_records\":0,\"snapshot_duration_ms\":0,\"snapshots\":0,"
			    "\"snapshot_failures\":0}"
			    ",\"fencing_rejections\":0,\"settlements\":{\"done\":0,\"pending\":0,"
			    "\"waiting_for_peer\":0,\"waiting_for_etcd\":0,\"waiting\":[]}}\n");
	node.status.not_serving_reason = NULL;
	node.status.serving = true;
	assert_non_null(strstr(run("json status"),
			       ",\"not_serving_reason\":null,\"injected_clock_offset_ms\":0,"
			       "\"injected_lease_guard_off\":false,\"peers\":[],"));
}

/* The newest snapshot in the wal object (JSON) and a line of its own
 * (text); none: age null and no line. */
static void status_shows_the_snapshot(void **state)
{
	(void)state;
	assert_null(strstr(run("text status"), "snapshot:"));
	node.status.snapshot_lsn = 1200;
	node.status.snapshot_age_s = 12;
	node.status.snapshot_bytes = 81234;
	node.status.snapshot_records = 1190;
	node.status.snapshot_duration_ms = 4;
	node.status.snapshots = 3;
	node.status.snapshot_failures = 1;
	assert_non_null(
	    strstr(run("json status"),
		   ",\"snapshot_lsn\":1200,\"snapshot_age_s\":12,\"snapshot_bytes\":81234,"
		   "\"snapshot_records\":1190,\"snapshot_duration_ms\":4,\"snapshots\":3,"
		   "\"snapshot_failures\":1}"));
	assert_non_null(strstr(run("text status"),
			       "\nsnapshot:      lsn 1200, 12 s old, 81234 bytes, 1190 records, "
			       "took 4 ms; 3 written, 1 failed\n"));
	node.status.snapshot_lsn = node.status.snapshot_bytes = node.status.snapshot_records = 0;
	node.status.snapshot_duration_ms = node.status.snapshots = node.status.snapshot_failures =
	    0;
	node.status.snapshot_age_s = 0;
}

/* The node's own injected offset: a key of its own, apart from the peers'
 * clock_offset_ms; text shows it only when there is one. */
static void status_shows_the_injected_clock_offset(void **state)
{
	(void)state;
	node.status.injected_clock_offset_ms = -10000;
	assert_non_null(strstr(run("json status"), ",\"injected_clock_offset_ms\":-10000,"));
	assert_non_null(
	    strstr(run("text status"), "\nclock_offset:  -10000 ms (injected: fault injection)\n"));
	node.status.injected_clock_offset_ms = 0;
	assert_null(strstr(run("text status"), "clock_offset"));
}

/* clock-offset: signed, bounded by a day either way, answered with the new
 * offset and the one it replaced. */
static void clock_offset_sets_the_offset_and_says_what_it_was(void **state)
{
	(void)state;
	assert_string_equal(run("json clock-offset 10000"),
			    "ok\n{\"injected_clock_offset_ms\":10000,"
			    "\"previous_injected_clock_offset_ms\":0}\n");
	assert_int_equal(node.clock_offset_ms, 10000);
	assert_string_equal(run("text clock-offset -86400000"),
			    "ok\nclock offset -86400000 ms (was +10000 ms); fault injection: the "
			    "node's wall clock is shifted by it\n");
	assert_int_equal(node.clock_offset_ms, -86400000);
	assert_string_equal(run("json clock-offset -0"),
			    "ok\n{\"injected_clock_offset_ms\":0,"
			    "\"previous_injected_clock_offset_ms\":-86400000}\n");
	assert_int_equal(node.clock_offset_ms, 0);
	assert_int_equal(node.clock_offsets, 3);
}

static void clock_offset_refuses_what_is_not_a_bounded_number(void **state)
{
	(void)state;
	static const struct {
		const char *line, *answer;
	} cases[] = {
	    {"text clock-offset 86400001",
	     "error ms 86400001 is out of range -86400000..86400000\n"},
	    {"text clock-offset -86400001",
	     "error ms -86400001 is out of range -86400000..86400000\n"},
	    {"text clock-offset -99999999999999999999",
	     "error ms -99999999999999999999 is out of range -86400000..86400000\n"},
	    {"text clock-offset -9223372036854775808",
	     "error ms -9223372036854775808 is out of range -86400000..86400000\n"},
	    {"text clock-offset -", "error ms '-' is not a decimal number (-86400000..86400000)\n"},
	    {"text clock-offset --5",
	     "error ms '--5' is not a decimal number (-86400000..86400000)\n"},
	    {"text clock-offset +5",
	     "error ms '+5' is not a decimal number (-86400000..86400000)\n"},
	    {"text clock-offset 1e3",
	     "error ms '1e3' is not a decimal number (-86400000..86400000)\n"},
	    {"text clock-offset", "error usage: clock-offset <ms>\n"},
	    {"text clock-offset 1 2", "error usage: clock-offset <ms>\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_string_equal(run(cases[i].line), cases[i].answer);
	assert_int_equal(node.clock_offsets, 0);
	assert_int_equal(node.clock_offset_ms, 0);
}

/* Which auctions wait, and for what: a peer (its node id) or etcd; text
 * says how many more than those named. */
static void status_names_the_waiting_auctions(void **state)
{
	(void)state;
	node.status.etcd = true;
	node.status.settlements_pending = 3;
	node.status.settlements_waiting_for_peer = 2;
	node.status.settlements_waiting_for_etcd = 1;
	node.status.nwaits = 2;
	node.status.waits[0] = (struct ctl_wait){.auction = 201, .peer_node_id = 2};
	node.status.waits[1] = (struct ctl_wait){.auction = 301, .peer_node_id = 0};
	assert_non_null(strstr(run("json status"),
			       "\"waiting_for_peer\":2,\"waiting_for_etcd\":1,\"waiting\":["
			       "{\"auction\":201,\"for\":\"peer\",\"peer_node_id\":2},"
			       "{\"auction\":301,\"for\":\"etcd\",\"peer_node_id\":null}]}}\n"));
	assert_non_null(strstr(run("text status"),
			       "\nwaiting:       auction 201 for peer 2, auction 301 for etcd "
			       "(and 1 more)\n"));
	node.status.nwaits = 0;
	assert_null(strstr(run("text status"), "waiting:  "));
}

/* The lease guard (fault injection): shown only while off in text, always
 * in JSON; lease-guard 0/1 switches it and says what it was. */
static void lease_guard_switches_and_shows(void **state)
{
	(void)state;
	assert_null(strstr(run("text status"), "lease_guard"));
	assert_string_equal(run("json lease-guard 0"),
			    "ok\n{\"injected_lease_guard_off\":true,"
			    "\"previous_injected_lease_guard_off\":false}\n");
	assert_true(node.lease_guard_off);
	assert_string_equal(run("text lease-guard 1"), "ok\nlease guard on (was OFF)\n");
	assert_false(node.lease_guard_off);
	assert_string_equal(run("text lease-guard 2"), "error on 2 is out of range 0..1\n");
	assert_string_equal(run("text lease-guard"), "error usage: lease-guard <on>\n");
	assert_int_equal(node.lease_guards, 2);
	node.status.injected_lease_guard_off = true;
	assert_non_null(strstr(run("json status"), ",\"injected_lease_guard_off\":true,"));
	assert_non_null(strstr(run("text status"), "\nlease_guard:   OFF (injected: fault "
						   "injection; a leader ignores its lease deadline "
						   "until etcd refuses a write)\n"));
	handlers.lease_guard = NULL;
	assert_string_equal(run("text lease-guard 0"),
			    "error this node has no lease guard to switch\n");
}

/* An answer decided after the handler ran (a bidctl open whose record
 * turned out lost): the error in the format the request named. */
static void error_answer_later_takes_the_request_format(void **state)
{
	(void)state;
	const struct {
		const char *line, *want;
	} cases[] = {
	    {"json open 1 2 3 4\n", "error not durable\n{\"error\":\"not durable\"}\n"},
	    {"  text close 1\r\n", "error not durable\n"},
	    {"json\n", "error not durable\n{\"error\":\"not durable\"}\n"},
	    {"yaml close 1\n", "error not durable\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len =
		    ctl_execute_error(cases[i].line, "not durable", answer, sizeof(answer));
		assert_int_equal(len, strlen(answer));
		assert_string_equal(answer, cases[i].want);
	}
	ctl_execute_error("text open 1 2 3 4\n", "two\nlines", answer, sizeof(answer));
	assert_string_equal(answer, "error two lines\n");
}

static void clock_offset_on_a_node_without_it_is_an_error(void **state)
{
	(void)state;
	handlers.clock_offset = NULL;
	assert_string_equal(run("text clock-offset 5"),
			    "error this node cannot change its clock offset\n");
	fake_node_init(&node, &handlers);
	node.fail_rc = -EIO;
	node.fail_why = "disk on fire";
	assert_string_equal(run("json clock-offset 5"),
			    "error disk on fire\n{\"error\":\"disk on fire\"}\n");
}

/* CLUSTER.md's names: a peer never heard has null for what is unknown. */
static void status_json_lists_the_peers(void **state)
{
	(void)state;
	node.status.npeers = 2;
	node.status.peers[0] = (struct ctl_peer){.node_id = 2,
						 .ip = htonl(0xc612000c),
						 .port = 7601,
						 .reachable = true,
						 .last_heard_ms_ago = 12,
						 .lag_ms = 3,
						 .has_clock_offset = true,
						 .clock_offset_ms = -4};
	node.status.peers[1] = (struct ctl_peer){
	    .node_id = 9, .ip = htonl(0xc612000d), .port = 7602, .last_heard_ms_ago = UINT64_MAX};
	assert_non_null(strstr(
	    run("json status"),
	    ",\"peers\":[{\"node_id\":2,\"address\":\"198.18.0.12:7601\",\"reachable\":true,"
	    "\"last_heard_ms_ago\":12,\"lag_ms\":3,\"clock_offset_ms\":-4},{\"node_id\":9,"
	    "\"address\":\"198.18.0.13:7602\",\"reachable\":false,\"last_heard_ms_ago\":null,"
	    "\"lag_ms\":0,\"clock_offset_ms\":null}],"));
	const char *text = run("text status");
	assert_non_null(strstr(text,
			       "peer 2        198.18.0.12:7601 reachable, heard 12 ms ago, lag 3 "
			       "ms, clock offset -4 ms\n"));
	assert_non_null(strstr(text,
			       "peer 9        198.18.0.13:7602 UNREACHABLE, never heard, lag 0 "
			       "ms, clock offset unknown\n"));
	node.status.npeers = 0;
}

static void status_json_escapes_the_version(void **state)
{
	(void)state;
	node.status.version = "1.0 \"rc\\1\"\t\x01";
	assert_non_null(
	    strstr(run("json status"), "\"version\":\"1.0 \\\"rc\\\\1\\\"\\u0009\\u0001\","));
	node.status.version = NULL;
	assert_non_null(strstr(run("json status"), "\"version\":null,"));
	assert_non_null(strstr(run("text status"), "version:       unknown\n"));
}

/* ---- the parser's refusals: exact message, no handler called ---- */

static void refusals_name_the_problem_and_call_no_handler(void **state)
{
	(void)state;
	static const struct {
		const char *request, *answer;
	} cases[] = {
	    {"", "error empty request; send '<text|json> <command> [args]'\n"},
	    {"\n", "error empty request; send '<text|json> <command> [args]'\n"},
	    {"xml status",
	     "error unknown format 'xml'; a request starts with text or json, e.g. 'text "
	     "status'\n"},
	    {"TEXT status",
	     "error unknown format 'TEXT'; a request starts with text or json, e.g. 'text "
	     "status'\n"},
	    {"status", "error unknown format 'status'; a request starts with text or json, e.g. "
		       "'text status'\n"},
	    {"text", "error missing command; commands: open close query list status clock-offset "
		     "lease-guard\n"},
	    {"text frob", "error unknown command 'frob'; commands: open close query list status "
			  "clock-offset lease-guard\n"},
	    {"text query\t42", "error unknown command 'query?42'; commands: open close query list "
			       "status clock-offset lease-guard\n"},
	    {"text open 1 2 3",
	     "error usage: open <auction_id> <reserve> <increment> <duration_s>\n"},
	    {"text open 1 2 3 4 5",
	     "error usage: open <auction_id> <reserve> <increment> <duration_s>\n"},
	    {"text open 1 2 3 4 5 6 7 8 9",
	     "error usage: open <auction_id> <reserve> <increment> <duration_s>\n"},
	    {"text close", "error usage: close <auction_id>\n"},
	    {"text query 1 2", "error usage: query <auction_id>\n"},
	    {"text list all",
	     "error from 'all' is not an unsigned decimal number (1..18446744073709551615)\n"},
	    {"text list 1 2 3", "error usage: list [<from> [<limit>]]\n"},
	    {"text list 0", "error from 0 is out of range 1..18446744073709551615\n"},
	    {"text list 1 0", "error limit 0 is out of range 1..1000\n"},
	    {"text list 1 1001", "error limit 1001 is out of range 1..1000\n"},
	    {"text status now", "error usage: status\n"},
	    {"text query x1",
	     "error auction_id 'x1' is not an unsigned decimal number (1..18446744073709551615)\n"},
	    {"text query -1",
	     "error auction_id '-1' is not an unsigned decimal number (1..18446744073709551615)\n"},
	    {"text query +1",
	     "error auction_id '+1' is not an unsigned decimal number (1..18446744073709551615)\n"},
	    {"text query 0x10", "error auction_id '0x10' is not an unsigned decimal number "
				"(1..18446744073709551615)\n"},
	    {"text query 1.5", "error auction_id '1.5' is not an unsigned decimal number "
			       "(1..18446744073709551615)\n"},
	    {"text open 1 2 3 1e3",
	     "error duration_s '1e3' is not an unsigned decimal number (1..315360000)\n"},
	    {"text open 1 2x 3 4",
	     "error reserve '2x' is not an unsigned decimal number (1..9223372036854775807)\n"},
	    {"text query 18446744073709551616",
	     "error auction_id 18446744073709551616 is out of range 1..18446744073709551615\n"},
	    {"text open 1 99999999999999999999 1 1",
	     "error reserve 99999999999999999999 is out of range 1..9223372036854775807\n"},
	    /* No bid can exceed 2^63-1: a higher reserve or increment is refused. */
	    {"text open 1 18446744073709551615 1 1",
	     "error reserve 18446744073709551615 is out of range 1..9223372036854775807\n"},
	    {"text open 1 9223372036854775808 1 1",
	     "error reserve 9223372036854775808 is out of range 1..9223372036854775807\n"},
	    {"text open 1 1 9223372036854775808 1",
	     "error increment 9223372036854775808 is out of range 1..9223372036854775807\n"},
	    /* 2^64/1000: passed the old check, and now + d*1000 wrapped. */
	    {"text open 1 1 1 18446744073709551",
	     "error duration_s 18446744073709551 is out of range 1..315360000\n"},
	    {"text open 1 1 1 315360001",
	     "error duration_s 315360001 is out of range 1..315360000\n"},
	    {"text query 0", "error auction_id 0 is out of range 1..18446744073709551615\n"},
	    {"text open 0 1 1 1", "error auction_id 0 is out of range 1..18446744073709551615\n"},
	    {"text open 1 0 1 1", "error reserve 0 is out of range 1..9223372036854775807\n"},
	    {"text open 1 1 0 1", "error increment 0 is out of range 1..9223372036854775807\n"},
	    {"text open 1 1 1 0", "error duration_s 0 is out of range 1..315360000\n"},
	    {"text close 000", "error auction_id 000 is out of range 1..18446744073709551615\n"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		reset_node(NULL);
		assert_string_equal(run(cases[i].request), cases[i].answer);
		assert_int_equal(handler_calls(), 0);
	}
}

static void json_refusals_carry_the_message_in_an_object(void **state)
{
	(void)state;
	assert_string_equal(
	    run("json query 0"),
	    "error auction_id 0 is out of range 1..18446744073709551615\n"
	    "{\"error\":\"auction_id 0 is out of range 1..18446744073709551615\"}\n");
	assert_string_equal(run("json frob"),
			    "error unknown command 'frob'; commands: open close query list status "
			    "clock-offset lease-guard\n"
			    "{\"error\":\"unknown command 'frob'; commands: open close query list "
			    "status clock-offset lease-guard\"}\n");
	assert_int_equal(handler_calls(), 0);
}

static void quoted_words_are_cut_and_made_printable(void **state)
{
	(void)state;
	char line[128] = "text ";
	memset(line + 5, 'a', 100);
	assert_string_equal(run(line),
			    "error unknown command "
			    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'; commands: open "
			    "close query list status clock-offset lease-guard\n");
	assert_string_equal(run("text \x7f\x1b"),
			    "error unknown command '\?\?'; commands: open "
			    "close query list status clock-offset lease-guard\n");
}

static void spaces_crlf_and_what_follows_the_newline(void **state)
{
	(void)state;
	assert_string_equal(run("  json   query   42  "), "ok\n" AUCTION_42_JSON "\n");
	assert_string_equal(run("json query 42\r\n"), "ok\n" AUCTION_42_JSON "\n");
	assert_string_equal(run("json query 42\nmore words"), "ok\n" AUCTION_42_JSON "\n");
	assert_string_equal(run("text query 18446744073709551615"),
			    "error no auction 18446744073709551615\n");
	assert_int_equal(node.last_id, UINT64_MAX);
}

static void lines_longer_than_512_bytes_are_refused(void **state)
{
	(void)state;
	char line[CTL_LINE_MAX + 2];
	/* Exactly CTL_LINE_MAX bytes: trailing spaces separate nothing. */
	memset(line, ' ', sizeof(line));
	memcpy(line, "json status", 11);
	line[CTL_LINE_MAX] = '\0';
	assert_true(starts_with(run(line), "ok\n{\"node_id\":3,"));
	line[CTL_LINE_MAX] = ' ';
	line[CTL_LINE_MAX + 1] = '\0';
	assert_string_equal(run(line), "error request longer than 512 bytes\n"
				       "{\"error\":\"request longer than 512 bytes\"}\n");
	memcpy(line, "text", 4);
	assert_string_equal(run(line), "error request longer than 512 bytes\n");
	assert_int_equal(node.statuses, 1);
}

/* ---- handler errors ---- */

static void handler_errors_reach_the_client_for_every_command(void **state)
{
	(void)state;
	static const char *const requests[] = {"open 42 1 1 1", "close 42", "query 42", "list",
					       "status"};
	char line[64];
	for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
		reset_node(NULL);
		node.fail_rc = -EBUSY;
		node.fail_why = "the node is busy";
		snprintf(line, sizeof(line), "text %s", requests[i]);
		assert_string_equal(run(line), "error the node is busy\n");
		snprintf(line, sizeof(line), "json %s", requests[i]);
		assert_string_equal(run(line),
				    "error the node is busy\n{\"error\":\"the node is busy\"}\n");
		assert_int_equal(handler_calls(), 2);
	}
}

static void a_handler_without_a_reason_gets_one(void **state)
{
	(void)state;
	node.fail_rc = -EEXIST;
	assert_string_equal(run("text open 42 1 1 1"), "error open failed: File exists\n");
	node.fail_rc = -ENOENT;
	assert_string_equal(run("text list"), "error list failed: No such file or directory\n");
}

static void a_reason_with_newlines_stays_on_the_status_line(void **state)
{
	(void)state;
	node.fail_rc = -EINVAL;
	node.fail_why = "bad\nthing \"quoted\"";
	assert_string_equal(
	    run("json status"),
	    "error bad thing \"quoted\"\n{\"error\":\"bad thing \\\"quoted\\\"\"}\n");
}

static void a_failed_list_sends_no_partial_body(void **state)
{
	(void)state;
	node.fail_rc = -EIO;
	node.fail_why = "auction table unreadable";
	node.list_fails_late = true;
	assert_string_equal(run("text list"), "error auction table unreadable\n");
	assert_string_equal(run("json list"), "error auction table unreadable\n"
					      "{\"error\":\"auction table unreadable\"}\n");
}

static void open_and_close_say_when_the_auction_cannot_be_read_back(void **state)
{
	(void)state;
	node.query_fails = true;
	assert_string_equal(run("text open 42 1 1 1"),
			    "error opened auction 42, but cannot read it back: no auction 42\n");
	assert_string_equal(run("text close 42"),
			    "error closed auction 42, but cannot read it back: no auction 42\n");
	assert_int_equal(node.opens, 1);
	assert_int_equal(node.closes, 1);
}

/* ---- answers cut to the buffer ---- */

static void a_cut_answer_ends_with_the_mark_and_never_overflows(void **state)
{
	(void)state;
	/* A guard after the buffer shows every byte written. */
	for (size_t cap = 1; cap < 80; cap++) {
		char buf[96];
		memset(buf, '#', sizeof(buf));
		size_t len = ctl_execute(&handlers, "text query 42", buf, cap);
		assert_true(len < cap);
		assert_int_equal(buf[len], '\0');
		assert_int_equal(strlen(buf), len);
		for (size_t i = cap; i < sizeof(buf); i++)
			assert_int_equal(buf[i], '#');
		/* Never "ok" with a cut body: an error, itself cut if need be. */
		if (cap > 8) {
			assert_false(starts_with(buf, "ok"));
			assert_int_equal(buf[len - 1], '\n');
		}
		if (cap > 40)
			assert_true(starts_with(buf, "error the answer does not fit"));
	}
	char untouched = '#';
	assert_int_equal(ctl_execute(&handlers, "text status", &untouched, 0), 0);
	assert_int_equal(untouched, '#');
}

/* A list that does not fit the answer is never "ok" with cut JSON (the
 * old answer: ok, then JSON that ends in "...", exit 0). */
static void a_list_too_long_for_the_buffer_is_an_error(void **state)
{
	(void)state;
	node.list_count = 100000;
	static char small[1 << 16];
	size_t len = ctl_execute(&handlers, "json list", small, sizeof(small));
	assert_int_equal(len, strlen(small));
	assert_string_equal(small, "error the answer does not fit the 65536-byte buffer; ask for a "
				   "smaller page (list <from> <limit>)\n"
				   "{\"error\":\"the answer does not fit the 65536-byte buffer; "
				   "ask for a smaller page (list <from> <limit>)\"}\n");
	assert_int_equal(node.lists, 1);
}

static uint64_t json_next(const char *a)
{
	const char *n = strstr(a, "\"next\":");
	assert_non_null(n);
	return strtoull(n + 7, NULL, 10);
}

/* list answers a page: ids >= from, lowest first, at most limit, and where
 * the next page starts; walking the pages gives every auction once. */
/* A page costs a walk over the ids, not a description of every auction:
 * of 100,000 auctions, a page of 10 describes a few dozen. */
static void a_page_describes_few_auctions_however_many_there_are(void **state)
{
	(void)state;
	node.list_count = 100000;
	node.list_scrambled = true;
	node.described = 0;
	const char *a = run("json list 1 10");
	assert_non_null(strstr(a, "\"count\":10,\"next\":52}\n"));
	if (node.described > 200)
		fail_msg("a page of 10 described %llu auctions",
			 (unsigned long long)node.described);
}

static void list_pages_walk_every_auction_once_in_id_order(void **state)
{
	(void)state;
	node.list_count = 2500;
	node.list_scrambled = true;
	const char *a = run("json list");
	assert_true(starts_with(a, "ok\n{\"auctions\":[{\"id\":42,"));
	assert_non_null(strstr(a, "\"count\":1000,\"next\":1042}\n"));
	uint64_t from = 1, seen = 0, expect_id = 42;
	char line[64];
	for (int page = 0; page < 10 && from; page++) {
		snprintf(line, sizeof(line), "json list %llu 700", (unsigned long long)from);
		a = run(line);
		assert_true(starts_with(a, "ok\n{\"auctions\":["));
		for (const char *p = strstr(a, "{\"id\":"); p; p = strstr(p + 1, "{\"id\":")) {
			assert_int_equal(strtoull(p + 6, NULL, 10), expect_id);
			expect_id++;
			seen++;
		}
		from = strstr(a, "\"next\":null}") ? 0 : json_next(a);
	}
	assert_int_equal(seen, 2500);
	assert_int_equal(from, 0);
	/* The last page says there is none after it; text says how to go on. */
	a = run("text list 2541 1");
	assert_true(strstr(a, "2541 ") != NULL);
	assert_non_null(strstr(a, "\n1 auctions\n"));
	a = run("text list 42 2");
	assert_non_null(strstr(a, "\n2 auctions; more from id 44 (bidctl list --from 44)\n"));
	a = run("json list 100000");
	assert_string_equal(a, "ok\n{\"auctions\":[],\"count\":0,\"next\":null}\n");
}

/* ---- the response buffer itself ---- */

static void json_strings_are_escaped(void **state)
{
	(void)state;
	char buf[64];
	struct ctl_out o;
	ctl_out_init(&o, buf, sizeof(buf));
	ctl_out_json_string(&o, "a\"b\\c\n\x1f\x7f\xc3\xa9");
	assert_string_equal(buf, "\"a\\\"b\\\\c\\n\\u001f\x7f\xc3\xa9\"");
	assert_int_equal(o.len, strlen(buf));
	assert_false(o.truncated);
}

static void a_cut_write_keeps_what_fits_before_the_mark(void **state)
{
	(void)state;
	char buf[32];
	struct ctl_out o;
	ctl_out_init(&o, buf, sizeof(buf));
	ctl_out_printf(&o, "short\n");
	ctl_out_printf(&o, "%s", "far too long to fit in what remains of this buffer");
	assert_true(o.truncated);
	assert_int_equal(o.len, sizeof(buf) - 1);
	assert_string_equal(buf, "short\nfar too long to fit i...\n");
	ctl_out_printf(&o, "more");
	assert_int_equal(o.len, sizeof(buf) - 1);
	ctl_out_reset(&o);
	assert_false(o.truncated);
	assert_int_equal(o.len, 0);
	assert_string_equal(buf, "");
}

#define T(f) cmocka_unit_test_setup(f, reset_node)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(open_text_passes_the_arguments_and_names_the_close_time),
	    T(open_json_answers_with_the_auction),
	    T(close_text_names_the_leading_bid),
	    T(close_text_without_bids),
	    T(close_json_answers_with_the_auction),
	    T(query_text_is_aligned_key_lines),
	    T(query_text_of_a_settled_auction_without_bids),
	    T(query_text_survives_times_beyond_year_9999),
	    T(query_json_is_one_object),
	    T(list_text_is_a_table_with_a_count),
	    T(list_pages_walk_every_auction_once_in_id_order),
	    T(a_page_describes_few_auctions_however_many_there_are),
	    T(a_list_too_long_for_the_buffer_is_an_error),
	    T(list_json_holds_every_auction_and_the_count),
	    T(list_of_nothing),
	    T(status_text),
	    T(status_json),
	    T(status_shows_the_snapshot),
	    T(status_shows_etcd_leadership),
	    T(status_json_lists_the_peers),
	    T(status_shows_the_injected_clock_offset),
	    T(clock_offset_sets_the_offset_and_says_what_it_was),
	    T(clock_offset_refuses_what_is_not_a_bounded_number),
	    T(status_names_the_waiting_auctions),
	    T(lease_guard_switches_and_shows),
	    T(clock_offset_on_a_node_without_it_is_an_error),
	    T(error_answer_later_takes_the_request_format),
	    T(status_json_escapes_the_version),
	    T(refusals_name_the_problem_and_call_no_handler),
	    T(json_refusals_carry_the_message_in_an_object),
	    T(quoted_words_are_cut_and_made_printable),
	    T(spaces_crlf_and_what_follows_the_newline),
	    T(lines_longer_than_512_bytes_are_refused),
	    T(handler_errors_reach_the_client_for_every_command),
	    T(a_handler_without_a_reason_gets_one),
	    T(a_reason_with_newlines_stays_on_the_status_line),
	    T(a_failed_list_sends_no_partial_body),
	    T(open_and_close_say_when_the_auction_cannot_be_read_back),
	    T(a_cut_answer_ends_with_the_mark_and_never_overflows),
	    T(json_strings_are_escaped),
	    T(a_cut_write_keeps_what_fits_before_the_mark),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
