/*
 * auth.h — API keys: generation and hashing. A key is shown once, at
 * creation; the database keeps only its SHA-256, so a stolen database does
 * not give working keys.
 */
#ifndef OFFERD_AUTH_H
#define OFFERD_AUTH_H

#include <stddef.h>

#define AUTH_KEY_LEN 46      /* "ofr_" + 42 characters */
#define AUTH_HASH_LEN 64     /* hex SHA-256 */
#define AUTH_PREFIX_LEN 12   /* "ofr_" + 8: shown in listings, enough to revoke */

/* Writes a new random key (NUL-terminated) into out[AUTH_KEY_LEN + 1]. */
int auth_key_new(char *out);
/* Writes hex SHA-256 of key into out[AUTH_HASH_LEN + 1]. */
void auth_hash(const char *key, char *out);
/* The key's public prefix into out[AUTH_PREFIX_LEN + 1]. */
void auth_prefix(const char *key, char *out);

#endif
