/* SPDX-License-Identifier: BSD-3-Clause */
/* ns per HLC operation. Printed, not asserted. */
#include <stdio.h>

#include "bench.h"
#include "hlc.h"

static uint64_t frozen(void *arg)
{
	return *(uint64_t *)arg;
}

int main(void)
{
	struct hlc_domain real, fake;
	struct hlc_clock rc, fc;
	uint64_t frozen_ms = UINT64_C(1700000000000);
	hlc_domain_init(&real, 2, 500, NULL, NULL);
	hlc_domain_init(&fake, 2, 500, frozen, &frozen_ms);
	hlc_clock_init(&rc, &real, 0);
	hlc_clock_init(&fc, &fake, 0);
	char buf[HLC_FORMAT_LEN];
	hlc_t sink = 0;

	printf("bench_hlc\n");
	BENCH("hlc_now (CLOCK_REALTIME)", 2000000, sink ^= hlc_now(&rc));
	BENCH("hlc_now (injected, frozen)", 2000000, sink ^= hlc_now(&fc));
	BENCH("hlc_now_after", 2000000, sink ^= hlc_now_after(&rc, sink));
	BENCH("hlc_observe (accepted)", 2000000,
	      hlc_observe(&rc, hlc_make(frozen_ms, (uint16_t)i)));
	BENCH("hlc_format", 1000000, sink ^= (uint64_t)hlc_format(sink + i, buf, sizeof(buf)));
	bench_sink(sink);
	return 0;
}
