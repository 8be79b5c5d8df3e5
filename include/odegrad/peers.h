/* odegrad peers: other people's code computing the same gradient, for comparison under the same
 * harness (docs/experiments.md, "Peers").  The list of solvers and CVODES's multistep families
 * are written once (peers.def, lmms.def).
 *
 * CVODES (SUNDIALS) runs in-process, through this layer: its checkpointed adjoint with the
 * model's f and VJP (peers/cvodes.c, built when CMake finds SUNDIALS).  PyTorch runs as its own
 * program (peers/torch_peer.py), started by the harness (harness/peer.c).
 */
#ifndef ODEGRAD_PEERS_H
#define ODEGRAD_PEERS_H

#include "odegrad/gradients.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
#define ODG_SOLVER(e, name, desc, pkgs) ODG_SOLVER_##e,
#include "odegrad/peers.def"
#undef ODG_SOLVER
    ODG_NSOLVERS
} odg_solver;

const char *odg_solver_name(odg_solver s);
const char *odg_solver_desc(odg_solver s);
/* The Debian packages the solver needs ("" for odegrad). */
const char *odg_solver_packages(odg_solver s);

typedef enum {
#define ODG_LMM(e, name, desc) ODG_LMM_##e,
#include "odegrad/lmms.def"
#undef ODG_LMM
    ODG_NLMMS
} odg_lmm;

const char *odg_lmm_name(odg_lmm l);
const char *odg_lmm_desc(odg_lmm l);

/* ---- CVODES ------------------------------------------------------------------------------- */

/* SUNDIALS's version ("6.4.1") when this build has CVODES, else NULL. */
const char *odg_cvodes_version(void);

/* The gradient of p's loss by CVODES: z(t1) by CVodeF at (rtol, atol) with the multistep family
 * lmm, then the adjoint lam' = -J^T lam from lam(t1) = w / B (or p->lamT) back to t0 by CVodeB at
 * the same tolerances, with lam(t0) = gz0 and gtheta = int lam^T df/dtheta dt as a backward
 * quadrature (not in the error test: CVODES's default, a seminorm).  CVODES keeps a checkpoint
 * every ODG_CVODES_ND steps and recomputes the steps between them with Hermite interpolation.
 * p->tab, p->steps and p->adapt are not used.  gtheta (P) and gz0 (B, D) are overwritten.  S gets
 * steps, rejected (error-test failures), adj_steps, nfe_forward (f in CVodeF, the Newton
 * iteration's difference quotients included), nfe_backward (f while CVodeB recomputes), nvjp,
 * loss, forward_s and backward_s; its memory fields stay 0 (SUNDIALS allocates its own).
 * ODG_OK, ODG_EUNSUP (no CVODES in this build), ODG_ENOMEM, ODG_DIVERGED (a non-finite state),
 * ODG_ESTEPS (CVODES failed: too many steps, error test or convergence failures). */
#define ODG_CVODES_ND 100
odg_status odg_cvodes_gradient(const odg_problem *p, odg_lmm lmm, double rtol, double atol,
                               double *gtheta, double *gz0, odg_grad_stats *S);

#ifdef __cplusplus
}
#endif
#endif
