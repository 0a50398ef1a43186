/*
 * linalg.c — Cholesky factorisation, solve and inverse for the contextual
 * policies' per-offer ridge models (linalg.h).
 */
#include "linalg.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

int linalg_cholesky(const double *a, size_t d, double *l)
{
	memset(l, 0, sizeof(double) * d * d);
	for (size_t j = 0; j < d; j++) {
		double s = a[j * d + j];

		for (size_t k = 0; k < j; k++)
			s -= l[j * d + k] * l[j * d + k];
		if (!(s > 0) || !isfinite(s))
			return ERR_RANGE;
		s = sqrt(s);
		l[j * d + j] = s;
		for (size_t i = j + 1; i < d; i++) {
			double t = a[i * d + j];

			for (size_t k = 0; k < j; k++)
				t -= l[i * d + k] * l[j * d + k];
			l[i * d + j] = t / s;
		}
	}
	return 0;
}

void linalg_chol_solve(const double *l, size_t d, const double *b, double *x)
{
	/* Forward: l y = b; then backward: l^T x = y. */
	for (size_t i = 0; i < d; i++) {
		double s = b[i];

		for (size_t k = 0; k < i; k++)
			s -= l[i * d + k] * x[k];
		x[i] = s / l[i * d + i];
	}
	for (size_t i = d; i-- > 0;) {
		double s = x[i];

		for (size_t k = i + 1; k < d; k++)
			s -= l[k * d + i] * x[k];
		x[i] = s / l[i * d + i];
	}
}

void linalg_chol_inverse(const double *l, size_t d, double *inv)
{
	/* On the heap: 128 KiB at the largest size is too much for a worker's stack. */
	double *m = xmalloc(sizeof(double) * d * d);

	/* m = l^-1, lower triangular, column by column. */
	memset(m, 0, sizeof(double) * d * d);
	for (size_t j = 0; j < d; j++) {
		m[j * d + j] = 1.0 / l[j * d + j];
		for (size_t i = j + 1; i < d; i++) {
			double s = 0;

			for (size_t k = j; k < i; k++)
				s -= l[i * d + k] * m[k * d + j];
			m[i * d + j] = s / l[i * d + i];
		}
	}
	/* inv = m^T m: inv[i][j] = sum over k >= max(i, j) of m[k][i] m[k][j]. */
	for (size_t i = 0; i < d; i++) {
		for (size_t j = 0; j <= i; j++) {
			double s = 0;

			for (size_t k = i; k < d; k++)
				s += m[k * d + i] * m[k * d + j];
			inv[i * d + j] = s;
			inv[j * d + i] = s;
		}
	}
	free(m);
}
