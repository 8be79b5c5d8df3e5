/* A worked field for `odegrad run --model plugin:libvanderpol.so` (docs/api.md, "Bring your own
 * field"): K independent Van der Pol oscillators with their own damping and frequency, the state
 * z = (x_1, y_1, ..., x_K, y_K) in R^D, D = 2K,
 *
 *     dx_k/dt = y_k
 *     dy_k/dt = mu_k (1 - x_k^2) y_k - omega2_k x_k
 *
 * theta = [mu (K), omega2 (K)], P = D.  The VJP with cotangent (gx_k, gy_k) of one sample:
 *
 *     xbar_k = gy_k (-2 mu_k x_k y_k - omega2_k)      ybar_k = gx_k + gy_k mu_k (1 - x_k^2)
 *     gmu_k += gy_k (1 - x_k^2) y_k                    gomega2_k += -gy_k x_k
 *
 * The plugin needs odegrad's include/odegrad/plugin.h only; it links nothing of odegrad.
 */
#include <odegrad/plugin.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The field keeps no state of its own: ctx stays NULL and theta comes with every call. */

// F (B, D) = f(Z (B, D); theta (P))
static int vdp_f(void *ctx, double t, size_t B, size_t D, const double *theta, const double *Z,
                 double *F)
{
    const size_t K = D / 2;
    const double *mu = theta, *om2 = theta + K;
    for (size_t i = 0; i < B; i++) {
        const double *z = Z + i * D;
        double *f = F + i * D;
        for (size_t k = 0; k < K; k++) {
            const double x = z[2 * k], y = z[2 * k + 1];
            f[2 * k] = y;
            f[2 * k + 1] = mu[k] * (1.0 - x * x) * y - om2[k] * x;
        }
    }
    return 0;
}

// Zbar (B, D) = G^T df/dZ, overwritten; gtheta (P) += G^T df/dtheta, summed over the batch
static int vdp_vjp(void *ctx, double t, size_t B, size_t D, const double *theta, const double *Z,
                   const double *G, double *Zbar, double *gtheta)
{
    const size_t K = D / 2;
    const double *mu = theta, *om2 = theta + K;
    double *gmu = gtheta, *gom2 = gtheta + K;
    for (size_t k = 0; k < K; k++) {
        double smu = 0, som2 = 0; /* this oscillator's sums over the batch, added once */
        for (size_t i = 0; i < B; i++) {
            const double x = Z[i * D + 2 * k], y = Z[i * D + 2 * k + 1];
            const double gx = G[i * D + 2 * k], gy = G[i * D + 2 * k + 1];
            Zbar[i * D + 2 * k] = gy * (-2.0 * mu[k] * x * y - om2[k]);
            Zbar[i * D + 2 * k + 1] = gx + gy * mu[k] * (1.0 - x * x);
            smu += gy * (1.0 - x * x) * y;
            som2 -= gy * x;
        }
        gmu[k] += smu;
        gom2[k] += som2;
    }
    return 0;
}

/* The plain-loop reference: the formulas one sample and one output at a time, straight from the
 * equations above (the tests compare it with vdp_f and vdp_vjp). */
static int vdp_f_ref(void *ctx, double t, size_t B, size_t D, const double *theta, const double *Z,
                     double *F)
{
    const size_t K = D / 2;
    for (size_t i = 0; i < B; i++) {
        for (size_t j = 0; j < D; j++) {
            const size_t k = j / 2;
            const double x = Z[i * D + 2 * k], y = Z[i * D + 2 * k + 1];
            F[i * D + j] = j % 2 == 0 ? y : theta[k] * (1.0 - x * x) * y - theta[K + k] * x;
        }
    }
    return 0;
}

static int vdp_vjp_ref(void *ctx, double t, size_t B, size_t D, const double *theta,
                       const double *Z, const double *G, double *Zbar, double *gtheta)
{
    const size_t K = D / 2;
    for (size_t i = 0; i < B; i++) {
        for (size_t k = 0; k < K; k++) {
            const double x = Z[i * D + 2 * k], y = Z[i * D + 2 * k + 1];
            const double gx = G[i * D + 2 * k], gy = G[i * D + 2 * k + 1];
            /* d f_x / dx = 0, d f_x / dy = 1; d f_y / dx = -2 mu x y - omega2,
             * d f_y / dy = mu (1 - x^2) */
            Zbar[i * D + 2 * k] = gx * 0.0 + gy * (-2.0 * theta[k] * x * y - theta[K + k]);
            Zbar[i * D + 2 * k + 1] = gx * 1.0 + gy * theta[k] * (1.0 - x * x);
        }
    }
    for (size_t k = 0; k < K; k++) {
        for (size_t i = 0; i < B; i++) {
            const double x = Z[i * D + 2 * k], y = Z[i * D + 2 * k + 1];
            const double gy = G[i * D + 2 * k + 1];
            gtheta[k] += gy * (1.0 - x * x) * y;
            gtheta[K + k] += -gy * x;
        }
    }
    return 0;
}

/* mu around 1 and omega2 around 1 (noise is N(0, 1) from odegrad's seeded RNG): a limit cycle of
 * period near 2 pi for each oscillator. */
static int vdp_init(void *ctx, size_t D, double *theta, const double *noise)
{
    for (size_t p = 0; p < D; p++) {
        theta[p] = 1.0 + 0.1 * noise[p];
    }
    return 0;
}

/* Multiplications and additions: f 7 per oscillator and sample (the odd component), the VJP 16. */
static int vdp_flops(void *ctx, size_t B, size_t D, double *f_flops, double *vjp_flops)
{
    *f_flops = 7.0 * (double)B * (double)(D / 2);
    *vjp_flops = 16.0 * (double)B * (double)(D / 2);
    return 0;
}

int odegrad_field(const odg_field_request *req, odg_field *out)
{
    if (req->D % 2 != 0) {
        snprintf(out->msg, sizeof out->msg, "D = %zu: the state is (x, y) pairs, so D is even",
                 req->D);
        return 1;
    }
    const size_t K = req->D / 2;
    out->abi = ODG_FIELD_ABI;
    out->name = "vanderpol";
    out->P = 2 * K;
    out->nviews = 2;
    out->view[0] = (odg_field_view){"mu", 0, K, 1};
    out->view[1] = (odg_field_view){"omega2", K, K, 1};
    out->ctx = NULL;
    out->f = vdp_f;
    out->vjp = vdp_vjp;
    out->init = vdp_init;
    out->flops = vdp_flops;
    out->f_ref = vdp_f_ref;
    out->vjp_ref = vdp_vjp_ref;
    out->destroy = NULL;
    return 0;
}
