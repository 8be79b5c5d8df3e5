/* odegrad gradients: the methods of THEORY.md section 5 (a gradient kind crossed with a storage
 * strategy), the Van Loan reference of section 7, and the Revolve schedule of section 6. */
#ifndef ODEGRAD_GRADIENTS_H
#define ODEGRAD_GRADIENTS_H

#include "odegrad/models.h"
#include "odegrad/solvers.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- references (THEORY.md section 7) ----------------------------------------------------- */

/* E = exp(A), A and E (n x n) row-major (may not alias).  Scaling and squaring with the [13/13]
 * Pade approximant (Higham 2005, SIAM J. Matrix Anal. Appl. 26(4)); solves through LAPACKE.
 * ODG_EINVAL for a non-finite A, ODG_ENOMEM, ODG_DIVERGED if the result is not finite. */
odg_status odg_expm(size_t n, const double *A, double *E);

/* The exact continuous gradient for the linear model f = A z + b over t in [t0, t1] with
 * L = sum(w .* z(t1)) / B, by Van Loan's block exponential (1978).  A (D x D), b (D), z0 and w
 * (B x D), all row-major.  Writes loss, gA (D x D), gb (D), gz0 (B x D); any output may be NULL. */
odg_status odg_vanloan_linear(size_t D, size_t B, const double *A, const double *b,
                              const double *z0, const double *w, double t0, double t1,
                              double *loss, double *gA, double *gb, double *gz0);

/* ---- binomial checkpointing (Griewank & Walther, Revolve, ACM TOMS 26, 2000) --------------- */

/* The least number of forward steps that reverse l >= 1 steps with s >= 1 snapshots (counting
 * the one that holds the initial state), not counting the one re-taping of each step just
 * before its reversal: r l - binom(s + r, s + 1), r the least integer with binom(s + r, s) >= l.
 * Returns -1 if the result would overflow a long. */
long odg_revolve_cost(long l, int s);

/* With a snapshot at the start of a range of l >= 2 steps and s >= 2 snapshots counting it: how
 * many steps m (1 <= m < l) to advance before taking the next snapshot, so that
 * m + cost(l - m, s - 1) + cost(m, s) == cost(l, s) (an optimal split). */
long odg_revolve_split(long l, int s);

#ifdef __cplusplus
}
#endif
#endif
