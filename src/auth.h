/*
 * auth.h — API keys: generation and hashing. A key is shown once, at
 * creation; the database keeps only its SHA-256, so a stolen database does
 * not give working keys.
 */
#ifndef OFFERD_AUTH_H
#define OFFERD_AUTH_H

#include <stddef.h>

#define AUTH_KEY_LEN 46    /* "ofr_" + 42 characters */
#define AUTH_HASH_LEN 64   /* hex SHA-256 */
#define AUTH_PREFIX_LEN 12 /* "ofr_" + 8: shown in listings, enough to revoke */

/* Writes a new random key (NUL-terminated) into out[AUTH_KEY_LEN + 1]. */
int auth_key_new(char *out);
/* Writes hex SHA-256 of key into out[AUTH_HASH_LEN + 1]. */
void auth_hash(const char *key, char *out);
/* The key's public prefix into out[AUTH_PREFIX_LEN + 1]. */
void auth_prefix(const char *key, char *out);

/*
 * Personalizer's clients send the key as Ocp-Apim-Subscription-Key: sets
 * *out to whichever of X-API-Key and that header carries one (NULL when
 * neither). Returns 0, or ERR_SYNTAX with *why set when both carry
 * different keys.
 */
int auth_key_subscription(const char *x_api_key, const char *subscription_key, const char **out,
                          const char **why);

/*
 * The API key of a request, from its X-API-Key and Authorization headers
 * (either may be NULL). Sets *key to a pointer into one of them (not a
 * copy), or to NULL when neither carries one. Returns 0; ERR_AUTH with *why
 * set (a static string) when Authorization alone is not "Bearer KEY"; or
 * ERR_SYNTAX when the two headers carry different keys: a request must not be stored as one
 * company's while it also presents another company's credentials.
 */
int auth_key_from_headers(const char *x_api_key, const char *authorization, const char **key,
                          const char **why);

#endif
