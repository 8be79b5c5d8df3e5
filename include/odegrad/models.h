/* odegrad models: vector fields over a batch, each with f and a hand-written VJP.
 * THEORY.md section 8 (mlp); section 7 (linear, whose gradient is known exactly).
 *
 * Arrays are row-major, one sample per row: Z, F, G, Zbar are (B, D).  The parameters are one
 * contiguous vector theta (P) with named views (W1, b1, W2, b2 or A, b).
 */
#ifndef ODEGRAD_MODELS_H
#define ODEGRAD_MODELS_H

#include "odegrad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
#define ODG_MODEL(e, name, desc) ODG_MODEL_##e,
#include "odegrad/models.def"
#undef ODG_MODEL
    ODG_NMODELS
} odg_model_kind;

typedef enum {
#define ODG_SPECTRUM(e, name, desc) ODG_SPECTRUM_##e,
#include "odegrad/spectra.def"
#undef ODG_SPECTRUM
    ODG_NSPECTRA
} odg_spectrum;

const char *odg_model_kind_name(odg_model_kind k);
const char *odg_model_kind_desc(odg_model_kind k);
odg_status odg_model_kind_from_name(const char *name, odg_model_kind *out);
const char *odg_spectrum_name(odg_spectrum s);
const char *odg_spectrum_desc(odg_spectrum s);
odg_status odg_spectrum_from_name(const char *name, odg_spectrum *out);

typedef struct odg_model_opts {
    odg_model_kind kind;
    size_t D, H, B;        /* state dim, hidden width (mlp), batch */
    int time_input;        /* mlp: t enters as an extra input column (W1 is H x (D+1)) */
    double gain;           /* g: scales the initial weights (default 1) */
    odg_spectrum spectrum; /* linear */
    double stiffness;      /* linear stiff: ratio S >= 1 */
    int reference;         /* 1: plain-loop implementation (tests compare against it) */
} odg_model_opts;

void odg_model_opts_default(odg_model_opts *o); /* mlp, D=16 H=64 B=128, gain 1, random, S=1 */

/* A named view of theta: rows x cols numbers at offset (a vector has cols == 1). */
typedef struct odg_param_view {
    const char *name;
    size_t offset, rows, cols;
} odg_param_view;

#define ODG_MAX_VIEWS 4

typedef struct odg_model odg_model;

typedef struct odg_model_ops {
    /* F = f(t, Z).  Z, F are (B, D).  Returns 0 or an odg_status. */
    int (*f)(odg_model *m, double t, const double *Z, double *F);
    /* With cotangent G (B, D): Zbar = G^T df/dZ (B, D), OVERWRITTEN;
     * gtheta += G^T df/dtheta (P), ACCUMULATED.  Returns 0 or an odg_status. */
    int (*vjp)(odg_model *m, double t, const double *Z, const double *G, double *Zbar,
               double *gtheta);
    void (*destroy)(odg_model *m); /* frees impl (not theta or m) */
} odg_model_ops;

struct odg_model {
    const odg_model_ops *ops;
    odg_model_opts opts;
    size_t B, D, P;
    double *theta; /* (P), allocated under ODG_TAG_MODEL */
    int nviews;
    odg_param_view view[ODG_MAX_VIEWS];
    odg_mem *mem;
    void *impl; /* private scratch, allocated under ODG_TAG_MODEL at create */
};

/* Creates a model with theta zeroed; all its memory comes from mem (tag model).  Checks the
 * options (sizes > 0, products that overflow, stiffness >= 1): ODG_EINVAL. */
odg_status odg_model_create(odg_model **out, const odg_model_opts *o, odg_mem *mem);
void odg_model_destroy(odg_model **m);

/* Seeded initialisation (DESIGN.md "Canonical problems"), drawing from rng in view order:
 * mlp: W1 ~ N(0, g^2/Din) (Din = D or D+1), b1 = 0.1, W2 ~ N(0, g^2/H), b2 = 0.1;
 * linear: A by spectrum, b = 0.1. */
odg_status odg_model_init(odg_model *m, odg_rng *rng);

/* The view with this name, or NULL. */
const odg_param_view *odg_model_view(const odg_model *m, const char *name);

static inline int odg_model_f(odg_model *m, double t, const double *Z, double *F)
{
    return m->ops->f(m, t, Z, F);
}
static inline int odg_model_vjp(odg_model *m, double t, const double *Z, const double *G,
                                double *Zbar, double *gtheta)
{
    return m->ops->vjp(m, t, Z, G, Zbar, gtheta);
}

/* Loads <dir>/<view>.npy for each view that exists in dir, checking its shape (a vector may be
 * stored as shape (n,) or (n,1)); sets bit v of *loaded for each view loaded.  Missing files are
 * not an error; a malformed or mismatched one is (err names the file and the problem). */
odg_status odg_model_load(odg_model *m, const char *dir, unsigned *loaded, char err[ODG_ERRLEN]);
/* Writes <dir>/<prefix><view>.npy for each view of v (P numbers laid out like theta): prefix ""
 * saves parameters, prefix "g" saves a parameter gradient (gW1.npy ...). */
odg_status odg_model_save(const odg_model *m, const double *v, const char *dir, const char *prefix,
                          char err[ODG_ERRLEN]);

#ifdef __cplusplus
}
#endif
#endif
