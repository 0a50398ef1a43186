/*
 * ratelimit.h — a token bucket per API key (or per tenant when auth is off):
 * `rate` tokens a second, at most `burst` saved up. Per process: with N
 * offerd processes the effective limit is N times the configured one.
 */
#ifndef OFFERD_RATELIMIT_H
#define OFFERD_RATELIMIT_H

typedef struct ratelimit ratelimit;

ratelimit *ratelimit_new(double rate, double burst);
void ratelimit_free(ratelimit *rl);
/*
 * Takes one token for id at time now (seconds, monotonic). Returns 1 when
 * allowed; 0 when limited, with *retry_after the seconds until a token.
 */
int ratelimit_take(ratelimit *rl, const char *id, double now, double *retry_after);

#endif
