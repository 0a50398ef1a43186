/*
 * idruns.h — a set of 64-bit ids held as sorted runs [lo, hi], for ids that
 * mostly come in order (the episode ids this process already has in its
 * contact history, server.c), so that what is missing from a range can be
 * listed as a few holes. Not synchronised: the caller holds its own lock.
 */
#ifndef OFFERD_IDRUNS_H
#define OFFERD_IDRUNS_H

#include <stddef.h>
#include <stdint.h>

typedef struct idruns {
	int64_t (*run)[2]; /* run[i][0] <= run[i][1] < run[i + 1][0] - 1 */
	size_t n;
	size_t cap;
} idruns;

/* Adds id, joining it to a run it touches. */
void idruns_add(idruns *s, int64_t id);
/*
 * The ranges of (from, to] that hold no id of s, in order: writes at most
 * max of them to out and returns how many there are (more than max: out
 * holds the first max).
 */
size_t idruns_holes(const idruns *s, int64_t from, int64_t to, int64_t (*out)[2], size_t max);
/* Forgets every id <= below. */
void idruns_drop_to(idruns *s, int64_t below);
void idruns_clear(idruns *s);

#endif
