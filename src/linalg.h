/*
 * linalg.h — the small dense linear algebra the contextual policies need:
 * a symmetric positive definite d x d matrix (d <= LINALG_DIM_MAX) factored
 * by Cholesky, its inverse, and solves. Row-major double arrays; the caller
 * owns every buffer. No library is needed at these sizes (d <= 128): one
 * factorisation costs d^3/3 multiply-adds, 90k at d = 64.
 */
#ifndef OFFERD_LINALG_H
#define OFFERD_LINALG_H

#include <stddef.h>

#define LINALG_DIM_MAX 128

/*
 * Factors the symmetric positive definite a (d x d, only the lower triangle
 * read) into l, lower triangular with l * l^T = a; the upper triangle of l is
 * zeroed. Returns 0, or ERR_RANGE when a is not positive definite.
 */
int linalg_cholesky(const double *a, size_t d, double *l);
/* Solves l * l^T x = b for x (b and x may alias) given the factor l. */
void linalg_chol_solve(const double *l, size_t d, const double *b, double *x);
/* The inverse of l * l^T into inv (d x d, symmetric, both triangles filled). */
void linalg_chol_inverse(const double *l, size_t d, double *inv);

#endif
