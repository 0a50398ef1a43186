/*
 * idruns.c — a set of ids as sorted, non-touching runs (idruns.h). Adding
 * the next id of the last run, the common case, is O(1); anything else is
 * a binary search and at most one move of the runs after it.
 */
#include "idruns.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

/* The first run whose hi >= id - 1 (it may contain or touch id), or s->n. */
static size_t first_reaching(const idruns *s, int64_t id)
{
	size_t lo = 0;
	size_t hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->run[mid][1] < id - 1)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

void idruns_add(idruns *s, int64_t id)
{
	size_t i;

	if (s->n > 0 && s->run[s->n - 1][1] == id - 1) {
		s->run[s->n - 1][1] = id;
		return;
	}
	i = first_reaching(s, id);
	if (i < s->n && s->run[i][0] <= id + 1) {
		if (id < s->run[i][0]) {
			s->run[i][0] = id;
		} else if (id > s->run[i][1]) {
			s->run[i][1] = id;
			if (i + 1 < s->n && s->run[i + 1][0] == id + 1) {
				s->run[i][1] = s->run[i + 1][1];
				memmove(&s->run[i + 1], &s->run[i + 2],
				        (s->n - i - 2) * sizeof(s->run[0]));
				s->n--;
			}
		}
		return;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 64;
		s->run = xrealloc(s->run, s->cap * sizeof(s->run[0]));
	}
	memmove(&s->run[i + 1], &s->run[i], (s->n - i) * sizeof(s->run[0]));
	s->run[i][0] = id;
	s->run[i][1] = id;
	s->n++;
}

size_t idruns_holes(const idruns *s, int64_t from, int64_t to, int64_t (*out)[2], size_t max)
{
	int64_t cur = from + 1; /* the first id not yet accounted for */
	size_t n = 0;

	for (size_t i = first_reaching(s, cur); i < s->n && cur <= to; i++) {
		if (s->run[i][0] > cur) {
			if (n < max) {
				out[n][0] = cur;
				out[n][1] = s->run[i][0] - 1 < to ? s->run[i][0] - 1 : to;
			}
			n++;
		}
		if (s->run[i][1] >= cur)
			cur = s->run[i][1] + 1;
	}
	if (cur <= to) {
		if (n < max) {
			out[n][0] = cur;
			out[n][1] = to;
		}
		n++;
	}
	return n;
}

void idruns_drop_to(idruns *s, int64_t below)
{
	size_t i = 0;

	while (i < s->n && s->run[i][1] <= below)
		i++;
	if (i > 0) { /* (never memmove from NULL: an empty set has no array) */
		memmove(&s->run[0], &s->run[i], (s->n - i) * sizeof(s->run[0]));
		s->n -= i;
	}
	if (s->n > 0 && s->run[0][0] <= below)
		s->run[0][0] = below + 1;
}

void idruns_clear(idruns *s)
{
	free(s->run);
	memset(s, 0, sizeof(*s));
}
