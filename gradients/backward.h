/* What odg_gradient's forward pass hands its backward drivers, the drivers themselves, and the
 * interpolator of z(t) that the continuous adjoint's fixed and adaptive steps share. */
#ifndef ODG_GRADIENTS_BACKWARD_H
#define ODG_GRADIENTS_BACKWARD_H

#include "outputs_impl.h"
#include "store.h"

/* z(t) between the forward steps, from the store: the interval of step n is [t_n, t_n + h_n],
 * its left end (z_n, and f(t_n, z_n) or the step's stages as the interpolation needs) from the
 * store, its right end a copy (the store may recompute the segment that held it). */
typedef struct odg_interpolator {
    odg_interp kind;
    const odg_tableau *tab;
    size_t M;
    odg_store *store;
    const odg_grid *grid;
    odg_erk *erk; /* the forward engine: recomputes a step's stages (dense) */
    const odg_system *sys;
    long N, cur;   /* the interval held, -1 when none */
    double tn, hn;
    const double *z0, *f0, *K;
    double *zr, *fr; /* (M) the right end's copy: z, and f for Hermite */
    double *zN, *fN; /* (M) z(t1), and f(t1, z(t1)) for Hermite */
    double *fbuf;    /* (M) f(t_n, z_n) when the store keeps z only (binomial, Hermite) */
    double *znx;     /* (M) the recomputed step's end (dense), unused */
    long nfe, recomputed;
} odg_interpolator;

/* Its buffers, in bytes, for a store of that strategy (the memory model uses it). */
size_t odg_interp_bytes(odg_interp kind, odg_storage storage, odg_schedule schedule, size_t M);
/* Allocates the buffers and takes z(t1) (copied; f(t1) evaluated for Hermite). */
odg_status odg_interp_init(odg_interpolator *ip, odg_interp kind, odg_store *store, odg_erk *erk,
                           const odg_system *sys, const double *zN, odg_mem *mem);
void odg_interp_free(odg_interpolator *ip, odg_mem *mem);
/* Makes step n's interval current (the backward pass goes n = N-1 .. 0). */
odg_status odg_interp_seek(odg_interpolator *ip, long n);
/* Makes current the interval that holds t (the adaptive adjoint: any t, any order). */
odg_status odg_interp_find(odg_interpolator *ip, double t);
/* zt = z(t) in the current interval. */
void odg_interp_eval(const odg_interpolator *ip, double t, double *zt);

/* The forward pass's results, for a backward driver. */
typedef struct odg_fwd {
    const odg_problem *p;
    const odg_grad_opts *o;
    odg_mem *mem;
    const odg_system *sys;
    odg_erk *erk;
    const odg_grid *grid;
    odg_store *store;
    size_t M, P;
    long N;
    const double *z; /* z(t1) */
    double *lam;     /* (M) zero; the drivers add the loss's jumps and may overwrite it */
    const odg_outputs *out; /* the output times' nodes: the adjoint jumps there */
    const double *zk;       /* backsolve's resets: z at the outputs before t1 (nreset, M) */
    long nreset;
} odg_fwd;

/* What a driver adds to the statistics. */
typedef struct odg_bwd_counts {
    long nfe, nvjp, recomputed, adj_steps;
} odg_bwd_counts;

/* The three backward drivers: each writes gtheta (P) and gz0 (M). */
odg_status odg_backward_discrete(const odg_fwd *f, double *gtheta, double *gz0,
                                 odg_bwd_counts *c);
odg_status odg_backward_continuous(const odg_fwd *f, double *gtheta, double *gz0,
                                   odg_bwd_counts *c);
odg_status odg_backward_backsolve(const odg_fwd *f, double *gtheta, double *gz0,
                                  odg_bwd_counts *c);
/* Their own buffers (continuous and backsolve: the adjoint state, its next value, the adjoint
 * engine and the interpolator), in bytes. */
size_t odg_backward_bytes(const odg_problem *p, const odg_grad_opts *o);

#endif
