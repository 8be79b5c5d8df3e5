/* The cnf model's toy densities (datasets.def), drawn from the project's RNG: two moons, eight
 * Gaussians, a checkerboard, as in the normalizing-flow literature (Grathwohl et al. 2019), each
 * roughly centred with unit scale.  docs/theory.md, "Continuous normalizing flows". */
#include "odegrad/models.h"

#include <math.h>
#include <string.h>

static const char *const names[] = {
#define ODG_DATASET(e, name, desc) name,
#include "odegrad/datasets.def"
#undef ODG_DATASET
};

static const char *const descs[] = {
#define ODG_DATASET(e, name, desc) desc,
#include "odegrad/datasets.def"
#undef ODG_DATASET
};

const char *odg_dataset_name(odg_dataset k)
{
    return (k >= 0 && k < ODG_NDATASETS) ? names[k] : "?";
}

const char *odg_dataset_desc(odg_dataset k)
{
    return (k >= 0 && k < ODG_NDATASETS) ? descs[k] : "?";
}

odg_status odg_dataset_from_name(const char *name, odg_dataset *out)
{
    for (int k = 0; name && out && k < ODG_NDATASETS; k++) {
        if (strcmp(name, names[k]) == 0) {
            *out = (odg_dataset)k;
            return ODG_OK;
        }
    }
    return ODG_EINVAL;
}

#define PI 3.14159265358979323846

/* one point of the 2-D density into x[0], x[1] */
static void draw2(odg_dataset k, odg_rng *rng, double *x)
{
    switch (k) {
    case ODG_DATASET_MOONS: {
        /* the upper moon (cos s, sin s) or the lower (1 - cos s, 1/2 - sin s), s in [0, pi],
         * shifted to centre (1/2, 1/4) and scaled by 2 */
        const double s = PI * odg_rng_uniform(rng);
        const int lower = odg_rng_uniform(rng) < 0.5;
        const double a = lower ? 1.0 - cos(s) : cos(s), b = lower ? 0.5 - sin(s) : sin(s);
        x[0] = 2.0 * (a - 0.5 + 0.1 * odg_rng_normal(rng));
        x[1] = 2.0 * (b - 0.25 + 0.1 * odg_rng_normal(rng));
        break;
    }
    case ODG_DATASET_GAUSSIANS8: {
        const double c = 2.0 * PI * (double)(int)(8.0 * odg_rng_uniform(rng)) / 8.0;
        x[0] = 2.0 * cos(c) + 0.2 * odg_rng_normal(rng);
        x[1] = 2.0 * sin(c) + 0.2 * odg_rng_normal(rng);
        break;
    }
    default: { /* checkerboard: x0 in [-2, 2), x1 in a dark square of x0's column */
        const double x0 = -2.0 + 4.0 * odg_rng_uniform(rng);
        const int col = (int)floor(x0) + 2;                                /* 0..3 */
        const int row = 2 * (int)(2.0 * odg_rng_uniform(rng)) + (col % 2); /* 0..3, same parity */
        x[0] = x0;
        x[1] = -2.0 + (double)row + odg_rng_uniform(rng);
        break;
    }
    }
}

odg_status odg_dataset_draw(odg_dataset k, odg_rng *rng, size_t B, size_t D, double *X, size_t ld)
{
    if (k < 0 || k >= ODG_NDATASETS || rng == NULL || X == NULL || B < 1 || D < 1 || ld < D) {
        return ODG_EINVAL;
    }
    for (size_t i = 0; i < B; i++) {
        double x[2];
        draw2(k, rng, x);
        double *row = X + i * ld;
        row[0] = x[0];
        if (D > 1) {
            row[1] = x[1];
        }
        for (size_t d = 2; d < D; d++) {
            row[d] = odg_rng_normal(rng);
        }
    }
    return ODG_OK;
}
