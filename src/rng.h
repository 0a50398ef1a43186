/*
 * rng.h — a fast per-thread random generator (xoshiro256**) and the
 * distributions the policies need. Not for secrets: keys use the OS.
 */
#ifndef OFFERD_RNG_H
#define OFFERD_RNG_H

#include <stdint.h>

typedef struct rng {
	uint64_t s[4];
} rng;

/* Seeds deterministically (simulations, tests). */
void rng_seed(rng *r, uint64_t seed);
/* The calling thread's generator, seeded from the OS on first use. */
rng *rng_thread(void);
uint64_t rng_next(rng *r);
/* Uniform in [0, 1). */
double rng_uniform(rng *r);
/* Uniform integer in [0, n). */
uint64_t rng_below(rng *r, uint64_t n);
double rng_normal(rng *r);
/* Gamma(shape, 1) by Marsaglia-Tsang; shape > 0. */
double rng_gamma(rng *r, double shape);
/* Beta(a, b) from two gammas. */
double rng_beta(rng *r, double a, double b);

#endif
