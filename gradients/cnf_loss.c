/* The continuous normalizing flow's terminal loss (gradients.h, odg_cnf_nll): the mean negative
 * log-likelihood of the data under the flow with a standard normal base.  docs/theory.md,
 * "Continuous normalizing flows". */
#include "odegrad/gradients.h"

#include <math.h>

int odg_cnf_nll(void *ctx, const double *zT, size_t B, size_t D, double *loss, double *lamT)
{
    (void)ctx;
    if (zT == NULL || loss == NULL || B < 1 || D < 2) {
        return ODG_EINVAL;
    }
    const size_t Dz = D - 1;
    const double c = 0.5 * (double)Dz * log(2.0 * 3.14159265358979323846);
    double s = 0;
    for (size_t i = 0; i < B; i++) {
        const double *z = zT + i * D;
        double q = 0;
        for (size_t d = 0; d < Dz; d++) {
            q += z[d] * z[d];
        }
        s += 0.5 * q + c + z[Dz]; /* -log N(z) + l */
    }
    *loss = s / (double)B;
    if (lamT != NULL) {
        for (size_t k = 0; k < B * D; k++) {
            lamT[k] = ((k % D) == Dz ? 1.0 : zT[k]) / (double)B;
        }
    }
    return isfinite(*loss) ? ODG_OK : ODG_DIVERGED;
}
