/* SPDX-License-Identifier: BSD-3-Clause */
/* The bounded rescan after a lost change (replicate_rescan.h). */
#include "replicate_rescan.h"

static void begin_circle(struct repl_rescan *s, uint64_t inserts)
{
	s->active = true;
	s->wrapped = false;
	s->stop = s->next;
	s->inserts = inserts;
	s->circles++;
}

void repl_rescan_start(struct repl_rescan *s, uint64_t inserts)
{
	begin_circle(s, inserts);
}

/* Whether the cursor came round to where the circle began. */
static bool circle_done(const struct repl_rescan *s)
{
	return s->wrapped && s->next >= s->stop;
}

unsigned int repl_rescan_step(struct repl_rescan *s, uint64_t inserts, unsigned int max,
			      repl_rescan_iterate_fn iterate, void *table,
			      repl_rescan_visit_fn visit, void *arg)
{
	if (!s->active)
		return 0;
	if (inserts != s->inserts)
		begin_circle(s, inserts);
	unsigned int n = 0;
	while (n < max) {
		if (circle_done(s)) {
			s->active = false;
			break;
		}
		void *item;
		if (iterate(table, &s->next, &item) < 0) {
			if (s->wrapped) { /* the end again: every slot seen */
				s->active = false;
				break;
			}
			s->next = 0;
			s->wrapped = true;
			continue;
		}
		visit(item, arg);
		n++;
	}
	s->visited += n;
	return n;
}
