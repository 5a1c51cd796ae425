/* SPDX-License-Identifier: BSD-3-Clause */
#include "dedup.h"

#include <assert.h>
#include <errno.h>
#include <stdalign.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Header-only: the short-input path of XXH3 inlines into dedup_hash. */
#define XXH_INLINE_ALL
#include <xxhash.h>

/* Claim attempts before giving up with DEDUP_BUSY; a retry only happens
 * when another thread changed the bucket under us, so this is generous. */
#define DEDUP_MAX_RETRIES 16
/* A window is this many stamp units at most (dedup.h "Layout"): coarse
 * enough for 32-bit stamps to last 2^21 windows, fine enough that rounding
 * keeps an answer at most 0.1% longer than asked. */
#define WINDOW_UNITS_MAX 2048
#define FULL_STRIPES	 16

enum entry_state {
	ENTRY_EMPTY = 0,
	ENTRY_BUSY = 1,
	ENTRY_PENDING = 2,
	ENTRY_FINAL = 3,
};

/*
 * The control word of one slot: the state, the key's kind, the answer's
 * status, a tag of the key's hash, a sequence number and a time stamp.
 * Everything a lookup needs before touching the slot, in one atomic word.
 */
#define CTL_STATE_SHIFT	 0
#define CTL_KIND_SHIFT	 2
#define CTL_STATUS_SHIFT 4
#define CTL_TAG_SHIFT	 12
#define CTL_SEQ_SHIFT	 20
#define CTL_STAMP_SHIFT	 32
#define CTL_SEQ_MASK	 UINT64_C(0xfff)

static_assert(DEDUP_BID <= 3 && DEDUP_VIEW <= 3, "a kind must fit in 2 bits");
static_assert(randombytes_SEEDBYTES == DEDUP_SECRET_BYTES, "secret size");

/* The expanded XXH3 secret: XXH3_SECRET_SIZE_MIN bytes for each kind, the
 * second starting 8 bytes in, so the two kinds' keys hash with different
 * masks (dedup.h "Hash"). */
#define XSECRET_KIND_STEP 8
#define XSECRET_BYTES	  (XXH3_SECRET_SIZE_MIN + 4 * XSECRET_KIND_STEP)

/* The key and answer of one entry. Every field is atomic so concurrent
 * readers and the writer never race in the C11 sense; the control word
 * tells readers whether what they read belongs together. */
struct dedup_slot {
	_Atomic uint64_t actor;
	_Atomic uint64_t request_id;
	_Atomic uint64_t auction_id;
	_Atomic uint64_t detail;
	_Atomic uint64_t hlc;
};

struct dedup_bucket {
	alignas(64) _Atomic uint64_t ctl[DEDUP_WAYS]; /* the tag line */
	struct dedup_slot slot[DEDUP_WAYS];
};

static_assert(sizeof(struct dedup_bucket) == DEDUP_WAYS * DEDUP_ENTRY_BYTES, "48 bytes per entry");

/* Refusals counted on a few lines so that workers refusing at once do not
 * all write one line. */
struct full_stripe {
	alignas(64) _Atomic uint64_t n;
};

struct dedup_table {
	struct dedup_bucket *buckets;
	uint64_t nbuckets;
	unsigned int shift;		/* stamp = now >> shift */
	uint32_t window_units;		/* the window in stamps, rounded up, plus one */
	uint8_t xsecret[XSECRET_BYTES]; /* XXH3's secret, from the table's secret */
	struct dedup_allocator allocator;
	struct full_stripe full[FULL_STRIPES];
};

static inline uint64_t ctl_make(enum entry_state st, uint64_t kind, uint64_t status, uint64_t tag,
				uint64_t seq, uint32_t stamp)
{
	return (uint64_t)st << CTL_STATE_SHIFT | (kind & 3) << CTL_KIND_SHIFT |
	       (status & 0xff) << CTL_STATUS_SHIFT | (tag & 0xff) << CTL_TAG_SHIFT |
	       (seq & CTL_SEQ_MASK) << CTL_SEQ_SHIFT | (uint64_t)stamp << CTL_STAMP_SHIFT;
}

static inline uint64_t ctl_with_state(uint64_t c, enum entry_state st)
{
	return (c & ~(UINT64_C(3) << CTL_STATE_SHIFT)) | (uint64_t)st << CTL_STATE_SHIFT;
}

static inline enum entry_state ctl_state(uint64_t c)
{
	return (enum entry_state)(c >> CTL_STATE_SHIFT & 3);
}

static inline uint64_t ctl_kind(uint64_t c)
{
	return c >> CTL_KIND_SHIFT & 3;
}

static inline uint8_t ctl_status(uint64_t c)
{
	return (uint8_t)(c >> CTL_STATUS_SHIFT);
}

static inline uint64_t ctl_tag(uint64_t c)
{
	return c >> CTL_TAG_SHIFT & 0xff;
}

static inline uint64_t ctl_seq(uint64_t c)
{
	return c >> CTL_SEQ_SHIFT & CTL_SEQ_MASK;
}

static inline uint32_t ctl_stamp(uint64_t c)
{
	return (uint32_t)(c >> CTL_STAMP_SHIFT);
}

static inline uint32_t stamp_of(const struct dedup_table *t, uint64_t now)
{
	return (uint32_t)(now >> t->shift);
}

/* High half of the hash: the bucket (multiply-shift, any bucket count);
 * low byte: the tag. */
static inline uint64_t bucket_index(const struct dedup_table *t, uint64_t hash)
{
	return (hash >> 32) * t->nbuckets >> 32;
}

uint64_t dedup_bucket_index(const struct dedup_table *t, uint64_t hash)
{
	return bucket_index(t, hash);
}

static inline uint64_t tag_of(uint64_t hash)
{
	return hash & 0xff;
}

static inline struct dedup_bucket *bucket_of(const struct dedup_table *t, uint64_t hash)
{
	return &t->buckets[bucket_index(t, hash)]; /* inline: no call per claim */
}

/* Whether an answer stamped `stamp` may be forgotten at `now`: at least a
 * window old, and not stamped in the caller's future (another worker's
 * clock a little ahead). */
static inline bool evictable(const struct dedup_table *t, uint32_t now, uint32_t stamp)
{
	uint32_t age = now - stamp;
	return age >= t->window_units && age <= UINT32_MAX - t->window_units;
}

/* XXH3 of the 16 key bytes with the table's random secret (dedup.h
 * "Hash"); the kind picks the part of the secret used. */
uint64_t dedup_hash(const struct dedup_table *t, const struct dedup_key *k)
{
	uint64_t in[2] = {k->actor, k->request_id};
	const uint8_t *secret = t->xsecret + (size_t)(k->kind & 3) * XSECRET_KIND_STEP;
	return XXH3_64bits_withSecret(in, sizeof(in), secret, XXH3_SECRET_SIZE_MIN);
}

/* Buckets for `p`, 0 when invalid or too many for the bucket index. */
static uint64_t buckets_for(const struct dedup_params *p)
{
	if (!p || p->window == 0 || p->keys == 0 || p->keys > UINT64_MAX / DEDUP_HEADROOM)
		return 0;
	uint64_t entries = p->keys * DEDUP_HEADROOM;
	uint64_t nbuckets = entries / DEDUP_WAYS + (entries % DEDUP_WAYS != 0);
	return nbuckets > UINT64_C(1) << 32 ? 0 : nbuckets;
}

size_t dedup_bytes(const struct dedup_params *p)
{
	uint64_t nbuckets = buckets_for(p);
	if (nbuckets == 0 || nbuckets > SIZE_MAX / sizeof(struct dedup_bucket))
		return 0;
	return (size_t)nbuckets * sizeof(struct dedup_bucket);
}

static void *heap_alloc(size_t bytes, size_t align)
{
	void *p = aligned_alloc(align, bytes);
	if (p)
		memset(p, 0, bytes);
	return p;
}

struct dedup_table *dedup_create(const struct dedup_params *p)
{
	static const struct dedup_allocator heap = {heap_alloc, free};
	return dedup_create_with(p, &heap);
}

/* The coarsest stamp unit with at most WINDOW_UNITS_MAX units per window. */
static void choose_stamp_unit(struct dedup_table *t, uint64_t window)
{
	unsigned int s = 0;
	while (((window - 1) >> s) + 1 > WINDOW_UNITS_MAX)
		s++;
	t->shift = s;
	/* Stamps are floored, so an answer given just before a unit ends
	 * looks a unit older than it is: one more unit keeps the promise. */
	t->window_units = (uint32_t)(((window - 1) >> s) + 1 + 1);
}

struct dedup_table *dedup_create_with(const struct dedup_params *p, const struct dedup_allocator *a)
{
	size_t bytes = dedup_bytes(p);
	if (bytes == 0) {
		errno = EINVAL;
		return NULL;
	}
	if (sodium_init() < 0) {
		errno = ENOSYS;
		return NULL;
	}
	struct dedup_table *t = heap_alloc(sizeof(*t), alignof(struct dedup_table));
	if (!t)
		return NULL;
	t->allocator = *a;
	t->buckets = a->alloc(bytes, alignof(struct dedup_bucket));
	if (!t->buckets) {
		free(t);
		errno = ENOMEM;
		return NULL;
	}
	t->nbuckets = bytes / sizeof(struct dedup_bucket);
	choose_stamp_unit(t, p->window);
	uint8_t seed[DEDUP_SECRET_BYTES];
	if (p->secret)
		memcpy(seed, p->secret, sizeof(seed));
	else
		randombytes_buf(seed, sizeof(seed));
	/* ChaCha20 stream of the seed: a secret that looks random to XXH3
	 * even from a test's patterned seed. */
	randombytes_buf_deterministic(t->xsecret, sizeof(t->xsecret), seed);
	sodium_memzero(seed, sizeof(seed));
	return t;
}

void dedup_destroy(struct dedup_table *t)
{
	if (!t)
		return;
	t->allocator.release(t->buckets);
	sodium_memzero(t->xsecret, sizeof(t->xsecret));
	free(t);
}

/* What one way of a bucket holds for key k, read consistently. */
struct way_view {
	uint64_t ctl;
	bool valid;   /* false: the entry moved under us, read again */
	bool matches; /* a live (PENDING or FINAL) entry of key k */
	struct dedup_answer answer;
};

/* The seqlock reader's slot part: relaxed slot loads, acquire fence,
 * relaxed re-load of the control word read (with acquire) as v->ctl. */
static void slot_read(struct dedup_bucket *b, int i, const struct dedup_key *k, struct way_view *v)
{
	struct dedup_slot *s = &b->slot[i];
	uint64_t actor = atomic_load_explicit(&s->actor, memory_order_relaxed);
	uint64_t req = atomic_load_explicit(&s->request_id, memory_order_relaxed);
	if (ctl_state(v->ctl) == ENTRY_FINAL) {
		v->answer.auction_id = atomic_load_explicit(&s->auction_id, memory_order_relaxed);
		v->answer.detail = atomic_load_explicit(&s->detail, memory_order_relaxed);
		v->answer.hlc = atomic_load_explicit(&s->hlc, memory_order_relaxed);
		v->answer.status = ctl_status(v->ctl);
	}
	atomic_thread_fence(memory_order_acquire);
	if (atomic_load_explicit(&b->ctl[i], memory_order_relaxed) != v->ctl) {
		v->valid = false;
		return;
	}
	v->matches = actor == k->actor && req == k->request_id;
}

/* The bits of a control word that say "a live (PENDING or FINAL) entry of
 * this kind and tag": both live states have bit 1 of the state set. */
#define CTL_LIVE_BIT (UINT64_C(2) << CTL_STATE_SHIFT)
#define CTL_MATCH_MASK                                                                             \
	(CTL_LIVE_BIT | UINT64_C(3) << CTL_KIND_SHIFT | UINT64_C(0xff) << CTL_TAG_SHIFT)

static_assert((ENTRY_PENDING & 2) != 0 && (ENTRY_FINAL & 2) != 0 && (ENTRY_EMPTY & 2) == 0 &&
		  (ENTRY_BUSY & 2) == 0,
	      "the live states are the ones with bit 1");

static inline uint64_t ctl_want(const struct dedup_key *k, uint64_t tag)
{
	return CTL_LIVE_BIT | (uint64_t)(k->kind & 3u) << CTL_KIND_SHIFT | tag << CTL_TAG_SHIFT;
}

static inline unsigned int tag_matches(uint64_t c, uint64_t want)
{
	return ((c ^ want) & CTL_MATCH_MASK) == 0;
}

/* The tag line in one pass: the 8 control words (acquire, the seqlock
 * reader's first load), the mask of the ways whose word says a live entry
 * of the key's kind and tag (the only ways whose slot is read) and the
 * mask of the empty ways. Unrolled: no loop counter. */
static inline unsigned int tag_line_read(struct dedup_bucket *b, uint64_t want,
					 uint64_t ctl[DEDUP_WAYS], unsigned int *empty)
{
	unsigned int match = 0, free = 0;
#pragma GCC unroll 8
	for (int i = 0; i < DEDUP_WAYS; i++) {
		uint64_t c = atomic_load_explicit(&b->ctl[i], memory_order_acquire);
		ctl[i] = c;
		match |= tag_matches(c, want) << i;
		free |= (unsigned int)(ctl_state(c) == ENTRY_EMPTY) << i;
	}
	*empty = free;
	return match;
}

/* The ways other than `mine` that hold a live entry of the key's kind and
 * tag, read again after our claim (acquire loads). */
static inline unsigned int tag_line_matches(struct dedup_bucket *b, uint64_t want, int mine)
{
	unsigned int match = 0;
#pragma GCC unroll 8
	for (int i = 0; i < DEDUP_WAYS; i++)
		match |= tag_matches(atomic_load_explicit(&b->ctl[i], memory_order_acquire), want)
			 << i;
	return match & ~(1u << mine);
}

/* The seqlock reader (dedup.h "C11 memory model") of one way whose control
 * word `ctl` was read with acquire and says the tag and kind match. */
static inline void way_check(struct dedup_bucket *b, int i, const struct dedup_key *k, uint64_t ctl,
			     struct way_view *v)
{
	v->ctl = ctl;
	v->valid = true;
	v->matches = false;
	slot_read(b, i, k, v);
}

/* After publishing our PENDING claim: does another live claim hold the key?
 * A way that moves while we read it is read again. */
static enum dedup_result rival_check(struct dedup_bucket *b, int mine, const struct dedup_key *k,
				     uint64_t tag, struct dedup_answer *answer)
{
	uint64_t want = ctl_want(k, tag);
	unsigned int match = tag_line_matches(b, want, mine);
	while (match) {
		int i = __builtin_ctz(match);
		struct way_view v;
		way_check(b, i, k, atomic_load_explicit(&b->ctl[i], memory_order_acquire), &v);
		if (!v.valid || !tag_matches(v.ctl, want)) {
			/* Moved: read it again while it still matches. */
			if (!tag_matches(atomic_load_explicit(&b->ctl[i], memory_order_acquire),
					 want))
				match &= match - 1;
			continue;
		}
		match &= match - 1;
		if (!v.matches)
			continue;
		if (ctl_state(v.ctl) == ENTRY_FINAL) {
			*answer = v.answer;
			return DEDUP_DONE;
		}
		return DEDUP_BUSY;
	}
	return DEDUP_NEW;
}

/* Where a new key goes: the first empty way, else the oldest answer older
 * than the window; -1 when none (entries in flight and young answers are
 * never evicted). */
static inline int victim_way(const struct dedup_table *t, const uint64_t ctl[DEDUP_WAYS],
			     unsigned int empty, uint32_t stamp)
{
	if (empty)
		return __builtin_ctz(empty);
	int victim = -1;
	uint32_t victim_age = 0;
	for (int i = 0; i < DEDUP_WAYS; i++) {
		if (ctl_state(ctl[i]) != ENTRY_FINAL || !evictable(t, stamp, ctl_stamp(ctl[i])))
			continue;
		uint32_t age = stamp - ctl_stamp(ctl[i]);
		if (victim < 0 || age > victim_age) {
			victim = i;
			victim_age = age;
		}
	}
	return victim;
}

static void count_full(struct dedup_table *t, uint64_t hash)
{
	atomic_fetch_add_explicit(&t->full[hash % FULL_STRIPES].n, 1, memory_order_relaxed);
}

/* The seqlock writer's claim: CAS to BUSY (acquire: our slot stores come
 * after the previous owner's in each field's modification order), release
 * fence (readers who see any of our slot stores then see BUSY on their
 * re-load), slot stores, release store of PENDING. */
static bool claim_way(struct dedup_bucket *b, int i, uint64_t seen, uint64_t busy,
		      const struct dedup_key *k)
{
	if (!atomic_compare_exchange_strong_explicit(&b->ctl[i], &seen, busy, memory_order_acquire,
						     memory_order_relaxed))
		return false;
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&b->slot[i].actor, k->actor, memory_order_relaxed);
	atomic_store_explicit(&b->slot[i].request_id, k->request_id, memory_order_relaxed);
	atomic_store_explicit(&b->ctl[i], ctl_with_state(busy, ENTRY_PENDING),
			      memory_order_release);
	return true;
}

enum dedup_result dedup_claim(struct dedup_table *t, const struct dedup_key *k, uint64_t hash,
			      uint64_t now, struct dedup_claim *claim, struct dedup_answer *answer)
{
	struct dedup_bucket *b = bucket_of(t, hash);
	uint64_t tag = tag_of(hash);
	uint32_t stamp = stamp_of(t, now);

	uint64_t want = ctl_want(k, tag);

	for (int attempt = 0; attempt < DEDUP_MAX_RETRIES; attempt++) {
		uint64_t ctl[DEDUP_WAYS];
		unsigned int empty;
		unsigned int match = tag_line_read(b, want, ctl, &empty);
		bool moved = false;
		/* A tag match is a live entry of the key's kind, most likely the
		 * key itself (a stranger's tag matches 1 in 256). */
		for (; match; match &= match - 1) {
			int i = __builtin_ctz(match);
			struct way_view v;
			way_check(b, i, k, ctl[i], &v);
			if (!v.valid) {
				moved = true;
				break;
			}
			if (!v.matches)
				continue;
			if (ctl_state(v.ctl) == ENTRY_PENDING)
				return DEDUP_BUSY;
			*answer = v.answer;
			return DEDUP_DONE;
		}
		if (moved)
			continue;
		int victim = victim_way(t, ctl, empty, stamp);
		if (victim < 0) {
			count_full(t, hash);
			return DEDUP_BUSY;
		}
		uint64_t victim_ctl = ctl[victim];

		uint64_t busy =
		    ctl_make(ENTRY_BUSY, k->kind, 0, tag, ctl_seq(victim_ctl) + 1, stamp);
		if (!claim_way(b, victim, victim_ctl, busy, k))
			continue;
		/* Publish-then-scan: pairs with the same fence in a rival
		 * claimer, so at least one of two sees the other. */
		atomic_thread_fence(memory_order_seq_cst);

		claim->ctl = &b->ctl[victim];
		claim->slot = &b->slot[victim];
		claim->word = ctl_with_state(busy, ENTRY_PENDING);
		enum dedup_result r = rival_check(b, victim, k, tag, answer);
		if (r != DEDUP_NEW)
			dedup_release(t, claim);
		return r;
	}
	return DEDUP_BUSY;
}

static_assert(sizeof(struct dedup_bucket) == 6 * 64, "a bucket is 6 lines");

/* Straight-line: six prefetches, no loop to count. */
void dedup_prefetch(const struct dedup_table *t, uint64_t hash)
{
	const char *b = (const char *)bucket_of(t, hash);
	__builtin_prefetch(b, 1);
	__builtin_prefetch(b + 64, 1);
	__builtin_prefetch(b + 128, 1);
	__builtin_prefetch(b + 192, 1);
	__builtin_prefetch(b + 256, 1);
	__builtin_prefetch(b + 320, 1);
}

/* No BUSY phase: the answer fields written here are read only from FINAL
 * entries (way_read), and the key fields readers of PENDING compare are
 * not touched; the release store of FINAL orders the answer before it. */
void dedup_finish(struct dedup_table *t, const struct dedup_claim *claim,
		  const struct dedup_answer *answer, uint64_t now)
{
	struct dedup_slot *s = claim->slot;
	atomic_store_explicit(&s->auction_id, answer->auction_id, memory_order_relaxed);
	atomic_store_explicit(&s->detail, answer->detail, memory_order_relaxed);
	atomic_store_explicit(&s->hlc, answer->hlc, memory_order_relaxed);
	uint64_t c = claim->word;
	atomic_store_explicit(claim->ctl,
			      ctl_make(ENTRY_FINAL, ctl_kind(c), answer->status, ctl_tag(c),
				       ctl_seq(c), stamp_of(t, now)),
			      memory_order_release);
}

/* Release: the next claimer's acquire CAS orders its slot stores after
 * ours. No slot stores follow, so no fence is needed. */
void dedup_release(struct dedup_table *t, const struct dedup_claim *claim)
{
	(void)t;
	atomic_store_explicit(claim->ctl,
			      ctl_make(ENTRY_EMPTY, 0, 0, 0, ctl_seq(claim->word) + 1, 0),
			      memory_order_release);
}

uint64_t dedup_capacity(const struct dedup_table *t)
{
	return t->nbuckets * DEDUP_WAYS;
}

uint64_t dedup_count_used(const struct dedup_table *t, uint64_t first, uint64_t n)
{
	uint64_t cap = dedup_capacity(t), used = 0;
	for (uint64_t i = first; i < cap && i < first + n; i++) {
		uint64_t c = atomic_load_explicit(&t->buckets[i / DEDUP_WAYS].ctl[i % DEDUP_WAYS],
						  memory_order_relaxed);
		if (ctl_state(c) != ENTRY_EMPTY)
			used++;
	}
	return used;
}

uint64_t dedup_window_full(const struct dedup_table *t)
{
	uint64_t n = 0;
	for (int i = 0; i < FULL_STRIPES; i++)
		n += atomic_load_explicit(&t->full[i].n, memory_order_relaxed);
	return n;
}

void dedup_stats(const struct dedup_table *t, struct dedup_stats *s)
{
	s->capacity = dedup_capacity(t);
	s->used = dedup_count_used(t, 0, s->capacity);
	s->window_full = dedup_window_full(t);
}
