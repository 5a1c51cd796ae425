/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The CRDT codec: round trips (property), exact golden encodings, every
 * decode error, -ENOSPC at every short buffer, and a fuzz-like loop over
 * random and mangled byte strings.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crdt_codec.h"
#include "crdt_gen.h"

#define PROP_CASES  10000
#define FUZZ_CASES  100000
#define POISON	    0xA5
#define MAX_ENCODED CRDT_PNCOUNTER_MAX_LEN

union crdt_state {
	struct gcounter g;
	struct pncounter pn;
	struct bid bid;
	struct lww lww;
};

/* The four codecs behind one signature, so each check is written once. */
struct codec {
	const char *name;
	enum crdt_tag tag;
	size_t max_len;
	void (*gen)(struct gen *g, union crdt_state *s);
	int (*encode)(const union crdt_state *s, uint8_t *buf, size_t cap);
	int (*decode)(const uint8_t *buf, size_t len, union crdt_state *out);
	int (*equal)(const union crdt_state *a, const union crdt_state *b);
};

static void gc_gen(struct gen *g, union crdt_state *s)
{
	gen_gcounter(g, &s->g);
}

static int gc_encode(const union crdt_state *s, uint8_t *buf, size_t cap)
{
	return gcounter_encode(&s->g, buf, cap);
}

static int gc_decode(const uint8_t *buf, size_t len, union crdt_state *out)
{
	return gcounter_decode(buf, len, &out->g);
}

static int gc_equal(const union crdt_state *a, const union crdt_state *b)
{
	return gcounter_equal(&a->g, &b->g);
}

static void pn_gen(struct gen *g, union crdt_state *s)
{
	gen_pncounter(g, &s->pn);
}

static int pn_encode(const union crdt_state *s, uint8_t *buf, size_t cap)
{
	return pncounter_encode(&s->pn, buf, cap);
}

static int pn_decode(const uint8_t *buf, size_t len, union crdt_state *out)
{
	return pncounter_decode(buf, len, &out->pn);
}

static int pn_equal(const union crdt_state *a, const union crdt_state *b)
{
	return pncounter_equal(&a->pn, &b->pn);
}

static void bm_gen(struct gen *g, union crdt_state *s)
{
	gen_bid(g, &s->bid);
}

static int bm_encode(const union crdt_state *s, uint8_t *buf, size_t cap)
{
	return bidmax_encode(&s->bid, buf, cap);
}

static int bm_decode(const uint8_t *buf, size_t len, union crdt_state *out)
{
	return bidmax_decode(buf, len, &out->bid);
}

static int bm_equal(const union crdt_state *a, const union crdt_state *b)
{
	return bid_equal(&a->bid, &b->bid);
}

static void lw_gen(struct gen *g, union crdt_state *s)
{
	gen_lww(g, &s->lww);
}

static int lw_encode(const union crdt_state *s, uint8_t *buf, size_t cap)
{
	return lww_encode(&s->lww, buf, cap);
}

static int lw_decode(const uint8_t *buf, size_t len, union crdt_state *out)
{
	return lww_decode(buf, len, &out->lww);
}

static int lw_equal(const union crdt_state *a, const union crdt_state *b)
{
	return lww_equal(&a->lww, &b->lww);
}

#define CODEC(type_name, type_tag, len, prefix)                                                    \
	{                                                                                          \
		.name = type_name, .tag = type_tag, .max_len = len, .gen = prefix##_gen,           \
		.encode = prefix##_encode, .decode = prefix##_decode, .equal = prefix##_equal,     \
	}
static const struct codec codecs[] = {
    CODEC("gcounter", CRDT_TAG_GCOUNTER, CRDT_GCOUNTER_MAX_LEN, gc),
    CODEC("pncounter", CRDT_TAG_PNCOUNTER, CRDT_PNCOUNTER_MAX_LEN, pn),
    CODEC("bidmax", CRDT_TAG_BIDMAX, CRDT_BIDMAX_LEN, bm),
    CODEC("lww", CRDT_TAG_LWW, CRDT_LWW_LEN, lw),
};
#define N_CODECS (sizeof(codecs) / sizeof(codecs[0]))

/* The table is in tag order. */
static const struct codec *codec_of(enum crdt_tag tag)
{
	assert_int_equal(codecs[tag - 1].tag, tag);
	return &codecs[tag - 1];
}

/*
 * Decodes into a poisoned value from a heap copy of exactly len bytes, so
 * ASan catches any read past len. On failure the value must still be all
 * poison: decoders leave *out untouched.
 */
static int decode_checked(const struct codec *c, const uint8_t *buf, size_t len,
			  union crdt_state *out)
{
	union crdt_state poison;
	uint8_t *copy = malloc(len > 0 ? len : 1);
	int rc;

	assert_non_null(copy);
	memcpy(copy, buf, len);
	memset(&poison, POISON, sizeof(poison));
	*out = poison;
	rc = c->decode(copy, len, out);
	free(copy);
	if (rc < 0)
		assert_memory_equal(out, &poison, sizeof(poison));
	return rc;
}

static void expect_decode_error(const struct codec *c, const uint8_t *buf, size_t len, int err)
{
	union crdt_state out;

	assert_int_equal(decode_checked(c, buf, len, &out), err);
}

/* --- round trips ------------------------------------------------------------- */

static size_t gcounter_populated(const struct gcounter *g)
{
	size_t n = 0;

	for (unsigned int r = 0; r < CRDT_MAX_REPLICAS; r++)
		n += g->slot[r] != 0;
	return n;
}

/* The exact size the format gives the state. */
static size_t expected_len(const struct codec *c, const union crdt_state *s)
{
	switch (c->tag) {
	case CRDT_TAG_GCOUNTER:
		return 3 + 9 * gcounter_populated(&s->g);
	case CRDT_TAG_PNCOUNTER:
		return 4 + 9 * (gcounter_populated(&s->pn.p) + gcounter_populated(&s->pn.n));
	default:
		return c->max_len;
	}
}

static void test_round_trip(void **state)
{
	struct gen g;

	(void)state;
	gen_seed(&g, "codec round trip");
	for (size_t k = 0; k < N_CODECS; k++) {
		const struct codec *c = &codecs[k];

		for (unsigned long i = 0; i < PROP_CASES; i++) {
			uint8_t buf[MAX_ENCODED + 8];
			union crdt_state s, back;
			size_t trailing = (size_t)prop_below(&g.rng, 9);
			int len, used = 0, ok;

			gen_case(&g);
			c->gen(&g, &s);
			len = c->encode(&s, buf, c->max_len);
			ok = len > 0 && (size_t)len == expected_len(c, &s);
			if (ok) {
				/* Trailing bytes are the caller's: decode stops before them. */
				for (size_t t = 0; t < trailing; t++)
					buf[(size_t)len + t] = (uint8_t)prop_next(&g.rng);
				used = decode_checked(c, buf, (size_t)len + trailing, &back);
				ok = used == len && c->equal(&s, &back);
			}
			if (!ok) {
				prop_report("codec round trip", prop_base_seed(), i);
				fail_msg("%s round trip broken at case %lu (len %d, used %d)",
					 c->name, i, len, used);
			}
		}
	}
}

/* --- golden encodings -------------------------------------------------------- */

static void expect_encoding(const struct codec *c, const union crdt_state *s, const uint8_t *want,
			    size_t want_len)
{
	uint8_t buf[MAX_ENCODED];
	union crdt_state back;

	assert_int_equal(c->encode(s, buf, sizeof(buf)), want_len);
	assert_memory_equal(buf, want, want_len);
	assert_int_equal(decode_checked(c, want, want_len, &back), want_len);
	assert_true(c->equal(&back, s));
}

static void test_golden_gcounter(void **state)
{
	static const uint8_t empty[] = {0x01, 0x01, 0x00};
	static const uint8_t two[] = {
	    0x01, 0x01, 0x02,					  /* version, tag, count */
	    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* replica 0: 1 */
	    0x0F, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* replica 15 */
	};
	union crdt_state s;

	(void)state;
	gcounter_init(&s.g);
	expect_encoding(codec_of(CRDT_TAG_GCOUNTER), &s, empty, sizeof(empty));
	s.g.slot[0] = 1;
	s.g.slot[15] = UINT64_C(0x0102030405060708);
	expect_encoding(codec_of(CRDT_TAG_GCOUNTER), &s, two, sizeof(two));
}

static void test_golden_pncounter(void **state)
{
	static const uint8_t want[] = {
	    0x01, 0x02,							/* version, tag */
	    0x01, 0x03, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, /* p: replica 3 = 5 */
	    0x02, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, /* n: replica 1 = max */
	    0x02, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,	/* replica 2 = 2^63 */
	};
	static const uint8_t empty[] = {0x01, 0x02, 0x00, 0x00};
	union crdt_state s;

	(void)state;
	pncounter_init(&s.pn);
	expect_encoding(codec_of(CRDT_TAG_PNCOUNTER), &s, empty, sizeof(empty));
	s.pn.p.slot[3] = 5;
	s.pn.n.slot[1] = UINT64_MAX;
	s.pn.n.slot[2] = UINT64_C(1) << 63;
	expect_encoding(codec_of(CRDT_TAG_PNCOUNTER), &s, want, sizeof(want));
}

static void test_golden_bidmax(void **state)
{
	static const uint8_t want[] = {
	    0x01, 0x03,					    /* version, tag */
	    0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, /* amount */
	    0x00, 0x00, 0x01, 0x8F, 0x00, 0x00, 0x00, 0x2A, /* hlc */
	    0xCA, 0xFE, 0xBA, 0xBE, 0xDE, 0xAD, 0xBE, 0xEF, /* bidder */
	    0xBE, 0xEF,					    /* node */
	};
	static const uint8_t empty[CRDT_BIDMAX_LEN] = {0x01, 0x03};
	union crdt_state s;

	(void)state;
	bidmax_init(&s.bid);
	expect_encoding(codec_of(CRDT_TAG_BIDMAX), &s, empty, sizeof(empty));
	s.bid = (struct bid){
	    .amount = UINT64_C(0x1122334455667788),
	    .hlc = UINT64_C(0x0000018F0000002A),
	    .bidder = UINT64_C(0xCAFEBABEDEADBEEF),
	    .node = 0xBEEF,
	};
	expect_encoding(codec_of(CRDT_TAG_BIDMAX), &s, want, sizeof(want));
}

static void test_golden_lww(void **state)
{
	static const uint8_t want[] = {
	    0x01, 0x04,					    /* version, tag */
	    0x00, 0x00, 0x01, 0x8F, 0x12, 0x34, 0x00, 0x07, /* hlc */
	    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, /* value */
	    0x00, 0x01,					    /* node */
	};
	union crdt_state s;

	(void)state;
	s.lww =
	    (struct lww){.hlc = UINT64_C(0x0000018F12340007), .value = UINT64_MAX - 1, .node = 1};
	expect_encoding(codec_of(CRDT_TAG_LWW), &s, want, sizeof(want));
}

/* --- decode errors ----------------------------------------------------------- */

static void test_bad_version(void **state)
{
	struct gen g;

	(void)state;
	gen_seed(&g, "codec bad version");
	for (size_t k = 0; k < N_CODECS; k++) {
		uint8_t buf[MAX_ENCODED] = {0};
		union crdt_state s;
		int len;

		gen_case(&g);
		codecs[k].gen(&g, &s);
		len = codecs[k].encode(&s, buf, sizeof(buf));
		assert_true(len > 0);
		for (unsigned int v = 0; v <= UINT8_MAX; v++) {
			if (v == CRDT_CODEC_VERSION)
				continue;
			buf[0] = (uint8_t)v;
			expect_decode_error(&codecs[k], buf, (size_t)len, -EPROTO);
			/* The version is judged as soon as it is there. */
			expect_decode_error(&codecs[k], buf, 1, -EPROTO);
		}
	}
}

static void test_wrong_tag(void **state)
{
	struct gen g;

	(void)state;
	gen_seed(&g, "codec wrong tag");
	for (size_t k = 0; k < N_CODECS; k++) {
		uint8_t buf[MAX_ENCODED] = {0};
		union crdt_state s;
		int len;

		gen_case(&g);
		codecs[k].gen(&g, &s);
		len = codecs[k].encode(&s, buf, sizeof(buf));
		assert_true(len > 0);
		for (unsigned int tag = 0; tag <= UINT8_MAX; tag++) {
			if (tag == codecs[k].tag)
				continue;
			buf[1] = (uint8_t)tag;
			expect_decode_error(&codecs[k], buf, (size_t)len, -EINVAL);
			expect_decode_error(&codecs[k], buf, 2, -EINVAL);
		}
	}
}

/* Every proper prefix of a valid encoding is a truncation, never garbage. */
static void test_truncated_everywhere(void **state)
{
	struct gen g;

	(void)state;
	gen_seed(&g, "codec truncated");
	for (size_t k = 0; k < N_CODECS; k++) {
		for (unsigned int i = 0; i < 500; i++) {
			uint8_t buf[MAX_ENCODED];
			union crdt_state s;
			int len;

			gen_case(&g);
			codecs[k].gen(&g, &s);
			len = codecs[k].encode(&s, buf, sizeof(buf));
			assert_true(len > 0);
			for (size_t cut = 0; cut < (size_t)len; cut++)
				expect_decode_error(&codecs[k], buf, cut, -EMSGSIZE);
		}
	}
}

static void test_gcounter_bad_bodies(void **state)
{
	/* Each is a complete, well-sized message that breaks one body rule. */
	static const uint8_t replica_16[] = {1, 1, 1, 0x10, 0, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t replica_ff[] = {1, 1, 1, 0xFF, 0, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t repeated[] = {1, 1, 2, 3, 0, 0, 0, 0, 0, 0, 0,
					   1, 3, 0, 0, 0, 0, 0, 0, 0, 2};
	static const uint8_t decreasing[] = {1, 1, 2, 4, 0, 0, 0, 0, 0, 0, 0,
					     1, 3, 0, 0, 0, 0, 0, 0, 0, 2};
	static const uint8_t zero_slot[] = {1, 1, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0};
	uint8_t too_many[3 + 9 * (CRDT_MAX_REPLICAS + 1)] = {1, 1, CRDT_MAX_REPLICAS + 1};
	uint8_t count_ff[3 + 9 * (CRDT_MAX_REPLICAS + 1)] = {1, 1, 0xFF};

	(void)state;
	expect_decode_error(codec_of(CRDT_TAG_GCOUNTER), replica_16, sizeof(replica_16), -EINVAL);
	expect_decode_error(codec_of(CRDT_TAG_GCOUNTER), replica_ff, sizeof(replica_ff), -EINVAL);
	expect_decode_error(codec_of(CRDT_TAG_GCOUNTER), repeated, sizeof(repeated), -EINVAL);
	expect_decode_error(codec_of(CRDT_TAG_GCOUNTER), decreasing, sizeof(decreasing), -EINVAL);
	expect_decode_error(codec_of(CRDT_TAG_GCOUNTER), zero_slot, sizeof(zero_slot), -EINVAL);
	/* Entries 0..16, each with value 1: replica 16 alone would be caught
	 * later, but the count is refused first. */
	for (unsigned int r = 0; r <= CRDT_MAX_REPLICAS; r++) {
		too_many[3 + 9 * r] = (uint8_t)r;
		too_many[3 + 9 * r + 8] = 1;
	}
	expect_decode_error(codec_of(CRDT_TAG_GCOUNTER), too_many, sizeof(too_many), -EINVAL);
	expect_decode_error(codec_of(CRDT_TAG_GCOUNTER), too_many, 3, -EINVAL);
	expect_decode_error(codec_of(CRDT_TAG_GCOUNTER), count_ff, sizeof(count_ff), -EINVAL);
}

/* The same body rules hold in either half of a PN-Counter. */
static void test_pncounter_bad_bodies(void **state)
{
	static const uint8_t bad_p[] = {1, 2, 1, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0};
	static const uint8_t bad_n_zero[] = {1, 2, 0, 1, 5, 0, 0, 0, 0, 0, 0, 0, 0};
	static const uint8_t bad_n_order[] = {1, 2, 0, 2, 5, 0, 0, 0, 0, 0, 0,
					      0, 1, 5, 0, 0, 0, 0, 0, 0, 0, 1};
	static const uint8_t bad_n_count[] = {1, 2, 0, CRDT_MAX_REPLICAS + 1};

	(void)state;
	expect_decode_error(codec_of(CRDT_TAG_PNCOUNTER), bad_p, sizeof(bad_p), -EINVAL);
	expect_decode_error(codec_of(CRDT_TAG_PNCOUNTER), bad_n_zero, sizeof(bad_n_zero), -EINVAL);
	expect_decode_error(codec_of(CRDT_TAG_PNCOUNTER), bad_n_order, sizeof(bad_n_order),
			    -EINVAL);
	expect_decode_error(codec_of(CRDT_TAG_PNCOUNTER), bad_n_count, sizeof(bad_n_count),
			    -EINVAL);
}

static void test_bidmax_noncanonical_empty(void **state)
{
	uint8_t buf[CRDT_BIDMAX_LEN] = {0x01, 0x03};

	(void)state;
	/* Amount 0 with any one other byte set: a bidder, stamp or node without a bid. */
	for (size_t at = 10; at < sizeof(buf); at++) {
		buf[at] = 1;
		expect_decode_error(codec_of(CRDT_TAG_BIDMAX), buf, sizeof(buf), -EINVAL);
		buf[at] = 0;
	}
}

/* No node accepts a bid above BID_AMOUNT_MAX (PROTOCOL.md): a register
 * holding one would win every merge for ever. */
static void test_bidmax_amount_above_max(void **state)
{
	struct bid b = {.amount = BID_AMOUNT_MAX, .hlc = 1, .bidder = 1, .node = 1};
	uint8_t buf[CRDT_BIDMAX_LEN];
	union crdt_state out;

	(void)state;
	assert_int_equal(bidmax_encode(&b, buf, sizeof(buf)), CRDT_BIDMAX_LEN);
	assert_int_equal(bidmax_decode(buf, sizeof(buf), &out.bid), CRDT_BIDMAX_LEN);
	assert_true(out.bid.amount == BID_AMOUNT_MAX);
	for (uint64_t amount = (uint64_t)BID_AMOUNT_MAX + 1; amount != 0;
	     amount = amount == UINT64_MAX ? 0 : UINT64_MAX) {
		b.amount = amount;
		assert_int_equal(bidmax_encode(&b, buf, sizeof(buf)), CRDT_BIDMAX_LEN);
		expect_decode_error(codec_of(CRDT_TAG_BIDMAX), buf, sizeof(buf), -EINVAL);
	}
}

/* --- encode into short buffers ----------------------------------------------- */

static void test_encode_nospc(void **state)
{
	struct gen g;

	(void)state;
	gen_seed(&g, "codec nospc");
	for (size_t k = 0; k < N_CODECS; k++) {
		for (unsigned int i = 0; i < 200; i++) {
			uint8_t buf[MAX_ENCODED], untouched[MAX_ENCODED];
			union crdt_state s;
			int len;

			gen_case(&g);
			codecs[k].gen(&g, &s);
			len = codecs[k].encode(&s, buf, sizeof(buf));
			assert_true(len > 0);
			memset(untouched, POISON, sizeof(untouched));
			for (size_t cap = 0; cap < (size_t)len; cap++) {
				memcpy(buf, untouched, sizeof(buf));
				assert_int_equal(codecs[k].encode(&s, buf, cap), -ENOSPC);
				assert_memory_equal(buf, untouched, sizeof(buf));
			}
			assert_int_equal(codecs[k].encode(&s, buf, (size_t)len), len);
		}
	}
}

/* --- fuzz-like ---------------------------------------------------------------- */

/* A byte string likely to get past the header: a valid encoding with a few
 * bytes changed, cut short or extended; or noise after a valid header. */
static size_t gen_input(struct gen *g, uint8_t *buf, size_t cap)
{
	const struct codec *c = &codecs[prop_below(&g->rng, N_CODECS)];
	union crdt_state s;
	size_t len;

	switch (prop_below(&g->rng, 3)) {
	case 0: /* pure noise */
		len = (size_t)prop_below(&g->rng, cap + 1);
		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)prop_next(&g->rng);
		return len;
	case 1: /* a header, then small bytes (plausible counts and replicas) */
		len = 2 + (size_t)prop_below(&g->rng, cap - 1);
		buf[0] = CRDT_CODEC_VERSION;
		buf[1] = (uint8_t)(1 + prop_below(&g->rng, 4));
		for (size_t i = 2; i < len; i++)
			buf[i] = (uint8_t)(prop_below(&g->rng, 2) ? prop_below(&g->rng, 20)
								  : prop_next(&g->rng));
		return len;
	default: /* a mangled valid encoding */
		gen_case(g);
		c->gen(g, &s);
		len = (size_t)c->encode(&s, buf, cap);
		for (uint64_t n = prop_below(&g->rng, 3); n > 0; n--)
			buf[prop_below(&g->rng, len)] = (uint8_t)prop_next(&g->rng);
		if (prop_below(&g->rng, 4) == 0)
			len = (size_t)prop_below(&g->rng, len + 1);
		else if (prop_below(&g->rng, 4) == 0)
			while (len < cap && prop_below(&g->rng, 2))
				buf[len++] = (uint8_t)prop_next(&g->rng);
		return len;
	}
}

/*
 * Whatever the bytes, each decoder fails with a documented error (leaving
 * its output untouched, checked by decode_checked) or accepts a prefix that
 * re-encodes to exactly the bytes it consumed.
 */
static void test_fuzz_decode(void **state)
{
	unsigned long accepted[N_CODECS] = {0};
	struct gen g;

	(void)state;
	gen_seed(&g, "codec fuzz");
	for (unsigned long i = 0; i < FUZZ_CASES; i++) {
		uint8_t in[MAX_ENCODED + 16];
		size_t len = gen_input(&g, in, sizeof(in));

		for (size_t k = 0; k < N_CODECS; k++) {
			uint8_t again[MAX_ENCODED];
			union crdt_state out;
			int used = decode_checked(&codecs[k], in, len, &out);
			int ok;

			if (used < 0) {
				ok = used == -EPROTO || used == -EINVAL || used == -EMSGSIZE;
			} else {
				ok = used > 0 && (size_t)used <= len &&
				     codecs[k].encode(&out, again, sizeof(again)) == used &&
				     memcmp(again, in, (size_t)used) == 0;
				accepted[k]++;
			}
			if (!ok) {
				prop_report("codec fuzz", prop_base_seed(), i);
				fail_msg("%s decode of fuzz case %lu returned %d", codecs[k].name,
					 i, used);
			}
		}
	}
	/* The generator must reach the success path of every decoder. */
	for (size_t k = 0; k < N_CODECS; k++)
		assert_true(accepted[k] > FUZZ_CASES / 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_round_trip),
	    cmocka_unit_test(test_golden_gcounter),
	    cmocka_unit_test(test_golden_pncounter),
	    cmocka_unit_test(test_golden_bidmax),
	    cmocka_unit_test(test_golden_lww),
	    cmocka_unit_test(test_bad_version),
	    cmocka_unit_test(test_wrong_tag),
	    cmocka_unit_test(test_truncated_everywhere),
	    cmocka_unit_test(test_gcounter_bad_bodies),
	    cmocka_unit_test(test_pncounter_bad_bodies),
	    cmocka_unit_test(test_bidmax_noncanonical_empty),
	    cmocka_unit_test(test_bidmax_amount_above_max),
	    cmocka_unit_test(test_encode_nospc),
	    cmocka_unit_test(test_fuzz_decode),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
