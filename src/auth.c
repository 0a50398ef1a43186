/*
 * auth.c — keys from the OS random generator, hashed with OpenSSL's SHA-256.
 */
#include "auth.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
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
		out[4 + i] = alphabet[raw[i] % 62]; /* 62^42: bias irrelevant at this length */
	out[AUTH_KEY_LEN] = '\0';
	return 0;
}

void auth_hash(const char *key, char *out)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;

	EVP_Digest(key, strlen(key), md, &len, EVP_sha256(), NULL);
	util_hex(md, len < AUTH_HASH_LEN / 2 ? len : AUTH_HASH_LEN / 2, out);
}

void auth_prefix(const char *key, char *out)
{
	util_strlcpy(out, key, AUTH_PREFIX_LEN + 1);
}

int auth_key_subscription(const char *x_api_key, const char *subscription_key, const char **out,
                          const char **why)
{
	int has_x = x_api_key != NULL && x_api_key[0] != '\0';
	int has_sub = subscription_key != NULL && subscription_key[0] != '\0';

	*why = NULL;
	*out = has_x ? x_api_key : has_sub ? subscription_key : NULL;
	if (has_x && has_sub && strcmp(x_api_key, subscription_key) != 0) {
		*why = "X-API-Key and Ocp-Apim-Subscription-Key carry different keys; send one key";
		return ERR_SYNTAX;
	}
	return 0;
}

int auth_key_from_headers(const char *x_api_key, const char *authorization, const char **key,
                          const char **why)
{
	const char *bearer = NULL;
	int has_x = x_api_key != NULL && x_api_key[0] != '\0';

	*key = NULL;
	*why = NULL;
	if (authorization != NULL && strncasecmp(authorization, "Bearer ", 7) == 0) {
		bearer = authorization + 7;
		while (*bearer == ' ')
			bearer++;
	} else if (authorization != NULL && !has_x) {
		/* Another scheme (Basic from a proxy) is ignored next to X-API-Key. */
		*why = "Authorization must be \"Bearer KEY\"";
		return ERR_AUTH;
	}
	if (has_x && bearer != NULL && bearer[0] != '\0' && strcmp(x_api_key, bearer) != 0) {
		*why = "Authorization and X-API-Key carry different keys; send one key";
		return ERR_SYNTAX;
	}
	*key = has_x ? x_api_key : bearer;
	return 0;
}
