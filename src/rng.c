/*
 * rng.c — xoshiro256** (Blackman & Vigna), seeded through splitmix64.
 */
#include "rng.h"

#include <math.h>
#include <sys/random.h>
#include <time.h>

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void rng_seed(rng *r, uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

rng *rng_thread(void)
{
	static _Thread_local rng r;
	static _Thread_local int seeded;

	if (!seeded) {
		uint64_t seed = 0;

		if (getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
			seed = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)&r;
		rng_seed(&r, seed);
		seeded = 1;
	}
	return &r;
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(rng *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double rng_uniform(rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

uint64_t rng_below(rng *r, uint64_t n)
{
	/* Lemire's nearly divisionless method is overkill here; the modulo
	 * bias for n below a few thousand is below 1e-15. */
	return n == 0 ? 0 : rng_next(r) % n;
}

double rng_normal(rng *r)
{
	double u1 = rng_uniform(r);
	double u2 = rng_uniform(r);

	if (u1 < 1e-300)
		u1 = 1e-300;
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double rng_gamma(rng *r, double shape)
{
	double d, c;

	if (shape < 1.0) {
		double u = rng_uniform(r);

		return rng_gamma(r, shape + 1.0) * pow(u > 0 ? u : 1e-300, 1.0 / shape);
	}
	d = shape - 1.0 / 3.0;
	c = 1.0 / sqrt(9.0 * d);
	for (;;) {
		double x = rng_normal(r);
		double v = 1.0 + c * x;
		double u;

		if (v <= 0)
			continue;
		v = v * v * v;
		u = rng_uniform(r);
		if (u < 1.0 - 0.0331 * x * x * x * x)
			return d * v;
		if (log(u > 0 ? u : 1e-300) < 0.5 * x * x + d * (1.0 - v + log(v)))
			return d * v;
	}
}

double rng_beta(rng *r, double a, double b)
{
	double x = rng_gamma(r, a);
	double y = rng_gamma(r, b);

	return x + y > 0 ? x / (x + y) : 0.5;
}
