/* A gradient problem for the tests: a model drawn by the seed (theta, then z0, then the loss
 * weights of each output in turn), over t in [0, t1], fixed or adaptive steps, one output at t1
 * (K = 0) or K outputs at t_k = k t1 / K (times[] instead when not NULL).  Shared by
 * test_gradients.c and test_outputs.c. */
#ifndef ODG_TESTS_PROB_H
#define ODG_TESTS_PROB_H

#include "odegrad/gradients.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The mlp and the linear field at the given sizes, every other option the default. */
static inline odg_model_opts mlp_opts(size_t D, size_t H, size_t B)
{
    odg_model_opts o;
    odg_model_opts_default(&o);
    o.kind = ODG_MODEL_MLP;
    o.D = D;
    o.H = H;
    o.B = B;
    return o;
}

static inline odg_model_opts linear_opts(size_t D, size_t B, odg_spectrum sp, double S)
{
    odg_model_opts o;
    odg_model_opts_default(&o);
    o.kind = ODG_MODEL_LINEAR;
    o.D = D;
    o.B = B;
    o.spectrum = sp;
    o.stiffness = S;
    return o;
}

typedef struct prob {
    odg_mem mem;
    odg_model *model;
    double *z0, *w, *tout;
    odg_problem p;
    size_t M, P, n;
} prob;

static inline void prob_make_outputs(prob *q, const odg_model_opts *mo, odg_scheme scheme,
                                     long steps, double t1, long K, const double *times,
                                     uint64_t seed)
{
    memset(q, 0, sizeof *q);
    odg_mem_init(&q->mem);
    if (odg_model_create(&q->model, mo, &q->mem)) {
        fprintf(stderr, "model create failed\n");
        exit(2);
    }
    odg_rng rng;
    odg_rng_seed(&rng, seed);
    odg_model_init(q->model, &rng);
    q->M = mo->B * mo->D;
    q->P = q->model->P;
    q->n = q->P + q->M;
    long Kw = K > 0 ? K : 1;
    q->z0 = malloc(q->M * sizeof(double));
    q->w = malloc((size_t)Kw * q->M * sizeof(double));
    q->tout = malloc((size_t)Kw * sizeof(double));
    odg_rng_fill_normal(&rng, q->z0, q->M, 0, 1);
    odg_rng_fill_normal(&rng, q->w, (size_t)Kw * q->M, 0, 1);
    for (long k = 0; k < K; k++) {
        q->tout[k] = times ? times[k] : k + 1 == K ? t1 : t1 * (double)(k + 1) / (double)K;
    }
    q->p = (odg_problem){.model = q->model,
                         .tab = odg_scheme_tableau(scheme),
                         .t0 = 0,
                         .t1 = t1,
                         .steps = steps,
                         .z0 = q->z0,
                         .w = q->w,
                         .nout = K,
                         .tout = K > 0 ? q->tout : NULL};
    odg_adapt_defaults(&q->p.adapt, 1e-6, 1e-8);
}

/* One output, at t1. */
static inline void prob_make(prob *q, const odg_model_opts *mo, odg_scheme scheme, long steps,
                             double t1, uint64_t seed)
{
    prob_make_outputs(q, mo, scheme, steps, t1, 0, NULL, seed);
}

static inline void prob_free(prob *q)
{
    odg_model_destroy(&q->model);
    free(q->z0);
    free(q->w);
    free(q->tout);
}

#endif
