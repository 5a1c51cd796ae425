/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * libFuzzer target: the peer decoder (control/replication/peer_proto.h) on
 * any bytes, two ways, with checks that trap on the first disagreement:
 *   1. the input as a datagram, under the fixed test key: whatever is
 *      accepted re-encodes to the same bytes;
 *   2. the input as header and body, framed (magic, version, length) and
 *      tagged with the test key, so the fuzzer reaches the header and body
 *      parsers behind the MAC: the only refusals left are bad_header,
 *      unknown_type and malformed_body, and what is accepted re-encodes to
 *      the same bytes and passes once through the anti-replay window.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <sodium.h>

#include "peer_gen.h"
#include "peer_proto.h"
#include "peer_replay.h"

#define CHECK(cond)                                                                                \
	do {                                                                                       \
		if (!(cond))                                                                       \
			__builtin_trap();                                                          \
	} while (0)

/* The unit tests' key (tests/fuzz/make_peer_corpus.py TEST_KEY). */
static const struct cluster_key test_key = {.bytes = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
						      12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
						      23, 24, 25, 26, 27, 28, 29, 30, 31, 32}};

static void check_reencodes(const uint8_t *buf, size_t len, const struct peer_message *m)
{
	static struct gen_message back;
	static uint8_t again[PEER_LEN_MAX];
	CHECK(m->length == len);
	CHECK(gen_from_decoded(m, &back) == 0);
	int n = gen_encode(&back, &test_key, again, sizeof(again));
	CHECK(n > 0 && (size_t)n == len && memcmp(again, buf, len) == 0);
}

static void check_datagram(const uint8_t *data, size_t size)
{
	struct peer_message m;
	enum peer_drop why = PEER_DROP_NONE;
	if (peer_decode(data, size, &test_key, &m, &why) == 0) {
		CHECK(why == PEER_DROP_NONE);
		check_reencodes(data, size, &m);
	} else {
		CHECK(why != PEER_DROP_NONE && why <= PEER_DROP_MALFORMED_BODY);
	}
}

/* An accepted message passes the window once; its replay is refused. */
static void check_replay(const struct peer_header *h)
{
	static struct peer_replay table;
	peer_replay_init(&table, h->receiver);
	if (h->sender == h->receiver) {
		CHECK(peer_replay_add(&table, h->sender, 1, 1) < 0);
		return;
	}
	CHECK(peer_replay_add(&table, h->sender, 1, 7601) == 0);
	CHECK(peer_replay_accept(&table, h, 1, 7601) == PEER_DROP_NONE);
	CHECK(peer_replay_accept(&table, h, 1, 7601) == PEER_DROP_REPLAY);
	CHECK(peer_replay_accept(&table, h, 2, 7601) == PEER_DROP_WRONG_ADDRESS);
}

static void check_tagged(const uint8_t *data, size_t size)
{
	static uint8_t buf[PEER_LEN_MAX];
	size_t len = size + PEER_TAG_LEN;
	if (size < PEER_HEADER_LEN || len > PEER_LEN_MAX)
		return;
	memcpy(buf, data, size);
	buf[0] = PEER_MAGIC >> 8;
	buf[1] = PEER_MAGIC & 0xff;
	buf[2] = PEER_VERSION;
	buf[4] = (uint8_t)(len >> 8);
	buf[5] = (uint8_t)len;
	peer_tag(buf, len, &test_key);
	struct peer_message m;
	enum peer_drop why = PEER_DROP_NONE;
	if (peer_decode(buf, len, &test_key, &m, &why) != 0) {
		CHECK(why == PEER_DROP_BAD_HEADER || why == PEER_DROP_UNKNOWN_TYPE ||
		      why == PEER_DROP_MALFORMED_BODY);
		return;
	}
	check_reencodes(buf, len, &m);
	check_replay(&m.h);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	return sodium_init() < 0 ? 1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_datagram(data, size);
	check_tagged(data, size);
	return 0;
}
