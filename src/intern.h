/*
 * intern.h — a string -> dense index table (open addressing): the first key
 * added is 0, the next 1, ... Used where many rows name few distinct
 * strings and arrays are indexed by them: the customers and products of
 * the transactions (rfm.c), the states, segments and offers of an
 * evaluation log (ope.c). The table owns copies of its keys.
 */
#ifndef OFFERD_INTERN_H
#define OFFERD_INTERN_H

#include <stddef.h>
#include <stdint.h>

typedef struct intern_table {
	char **keys; /* keys[i] is the key of index i; owned */
	size_t n;    /* keys added */
	size_t keys_cap;
	uint32_t *slot; /* index + 1; 0 is empty */
	uint32_t *hash; /* hash of the key in the slot, to skip most compares */
	size_t cap;     /* slots, a power of two */
} intern_table;

/* An empty table; the caller frees it with intern_free(). */
intern_table *intern_new(void);
/* Frees the table and the keys it still owns (see intern_steal_keys). */
void intern_free(intern_table *t);

/* The index of s[0..len), or -1 when it was never added. */
int64_t intern_find(const intern_table *t, const char *s, size_t len);
/*
 * The index of s[0..len), adding a copy when it is new. Returns ERR_TOOBIG
 * past INT32_MAX keys.
 */
int64_t intern_add(intern_table *t, const char *s, size_t len);
/*
 * Hands the keys array (n entries, each malloc'd) to the caller, who frees
 * them; the table is left empty.
 */
char **intern_steal_keys(intern_table *t, size_t *n);

#endif
