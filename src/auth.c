/*
 * auth.c — keys from the OS random generator, hashed with OpenSSL's SHA-256.
 */
#include "auth.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "util.h"

int auth_key_new(char *out)
{
	static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	unsigned char raw[AUTH_KEY_LEN];
	size_t n = AUTH_KEY_LEN - 4;

	if (getrandom(raw, n, 0) != (ssize_t)n)
		return ERR_IO;
	memcpy(out, "ofr_", 4);
	for (size_t i = 0; i < n; i++)
		out[4 + i] = alphabet[raw[i] % 62];  /* 62^42: bias irrelevant at this length */
	out[AUTH_KEY_LEN] = '\0';
	return 0;
}

void auth_hash(const char *key, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	EVP_Digest(key, strlen(key), md, &len, EVP_sha256(), NULL);
	for (unsigned i = 0; i < len && i < AUTH_HASH_LEN / 2; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
	out[AUTH_HASH_LEN] = '\0';
}

void auth_prefix(const char *key, char *out)
{
	util_strlcpy(out, key, AUTH_PREFIX_LEN + 1);
}
