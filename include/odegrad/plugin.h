/* odegrad plugins: a vector field of one's own, loaded from a shared object with
 * `odegrad run --model plugin:PATH` (docs/api.md, "Bring your own field").
 *
 * A plugin needs this header only: it neither links libodegrad nor calls into it.  It exports one
 * function, named ODG_FIELD_SYMBOL (odegrad_field), of type odg_field_fn, which fills an
 * odg_field for the sizes odegrad asks for.  odegrad then calls the field's f and VJP over the
 * whole batch, as it calls its own models (include/odegrad/models.h), and runs it through every
 * method and scheme, the fine reference, --load / --save-grad and sweeps.
 *
 * Arrays are row-major, one sample per row: Z, F, G, Zbar are (B, D).  theta is the field's
 * parameter vector (P), owned by odegrad and passed to every call (the field keeps no copy: the
 * same field serves perturbed parameters during finite differences).  Before a run uses the
 * field, odegrad checks its VJP against central finite differences of f (odg_model_check_vjp)
 * and refuses a field that fails.
 */
#ifndef ODEGRAD_PLUGIN_H
#define ODEGRAD_PLUGIN_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of the layout of odg_field_request and odg_field.  A field sets odg_field.abi to
 * the value it was compiled with; odegrad refuses any other. */
#define ODG_FIELD_ABI 1
/* The name of the one function a plugin exports. */
#define ODG_FIELD_SYMBOL "odegrad_field"
#define ODG_FIELD_MAX_VIEWS 8
#define ODG_FIELD_NAME_LEN 32 /* a view's name: 1 to 31 characters of [A-Za-z0-9_] */
#define ODG_FIELD_MSG_LEN 256

/* What odegrad asks for (read-only for the field). */
typedef struct odg_field_request {
    int abi;       /* ODG_FIELD_ABI of the odegrad that loads the field */
    size_t D;      /* state dimension (--dim) */
    size_t B;      /* batch size (--batch) */
    int reference; /* 1: the plain-loop version is asked for (tests); a field without one
                      serves its f and vjp */
} odg_field_request;

/* A named view of theta (a .npy file of --load and --save-grad): rows x cols numbers from
 * offset on, row-major; a vector has cols == 1. */
typedef struct odg_field_view {
    const char *name;
    size_t offset, rows, cols;
} odg_field_view;

typedef struct odg_field {
    int abi;          /* must be ODG_FIELD_ABI */
    const char *name; /* a short name for messages ("vanderpol"); may be NULL */
    size_t P;         /* parameters, >= 1 */
    int nviews;       /* 0 .. ODG_FIELD_MAX_VIEWS; 0: one view "theta" (P, 1) */
    odg_field_view view[ODG_FIELD_MAX_VIEWS];
    void *ctx; /* the field's own state, passed back to every call */

    /* F = f(t, Z; theta).  Z, F are (B, D); F is overwritten.  Returns 0, or nonzero for a
     * failure (the gradient stops with ODG_EINVAL). */
    int (*f)(void *ctx, double t, size_t B, size_t D, const double *theta, const double *Z,
             double *F);
    /* With cotangent G (B, D): Zbar = G^T df/dZ (B, D), OVERWRITTEN (it never aliases Z or G);
     * gtheta += G^T df/dtheta summed over the batch (P), ACCUMULATED.  Returns 0 or nonzero. */
    int (*vjp)(void *ctx, double t, size_t B, size_t D, const double *theta, const double *Z,
               const double *G, double *Zbar, double *gtheta);

    /* Optional (NULL: absent). */
    /* theta (P) from noise (P standard normal draws of odegrad's seeded RNG); absent:
     * theta = gain * noise.  Returns 0 or nonzero. */
    int (*init)(void *ctx, size_t D, double *theta, const double *noise);
    /* Floating-point operations of one f and one VJP over the batch (the roofline columns);
     * absent: those columns stay empty.  Returns 0 or nonzero. */
    int (*flops)(void *ctx, size_t B, size_t D, double *f_flops, double *vjp_flops);
    /* Plain-loop versions of f and vjp with the same contract, used when the request asks for
     * the reference; the tests compare them with f and vjp. */
    int (*f_ref)(void *ctx, double t, size_t B, size_t D, const double *theta, const double *Z,
                 double *F);
    int (*vjp_ref)(void *ctx, double t, size_t B, size_t D, const double *theta, const double *Z,
                   const double *G, double *Zbar, double *gtheta);
    /* Frees ctx; called once when odegrad is done with the field. */
    void (*destroy)(void *ctx);

    /* A constructor that refuses the request writes why here ("D must be even"). */
    char msg[ODG_FIELD_MSG_LEN];
} odg_field;

/* The exported constructor: fills *out (zeroed by odegrad) for req and returns 0, or returns
 * nonzero with out->msg saying why the request is refused.  Called once per model odegrad
 * creates; a field allocates its ctx here and frees it in destroy. */
typedef int (*odg_field_fn)(const odg_field_request *req, odg_field *out);

#ifdef __cplusplus
}
#endif
#endif
