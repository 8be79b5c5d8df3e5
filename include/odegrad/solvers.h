/* odegrad solvers: explicit Runge-Kutta tableaux as data, and one engine that runs all of them
 * forward (fixed steps, a replayed step grid, or adaptive steps) and runs the discrete adjoint
 * of a step backwards.  docs/theory.md sections 2 and 3.
 *
 * The engine integrates any system y' = f(t, y) of length n given as an odg_system; models and
 * the augmented adjoint systems of gradients/ are all plugged in this way.
 */
#ifndef ODEGRAD_SOLVERS_H
#define ODEGRAD_SOLVERS_H

#include "odegrad/core.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- tableaux ----------------------------------------------------------------------------- */

typedef enum {
#define ODG_SCHEME(e, name, desc) ODG_SCHEME_##e,
#include "odegrad/schemes.def"
#undef ODG_SCHEME
    ODG_NSCHEMES
} odg_scheme;

#define ODG_MAX_STAGES 16

/* A Butcher tableau, exactly as the paper gives it (rationals written as a/b, or the paper's
 * decimals where the paper gives decimals).  Y_i = y + h sum_j a[i][j] k_j, k_i = f(t + c_i h, Y_i),
 * y_next = y + h sum_i b_i k_i, err = h sum_i (b_i - bt_i) k_i. */
typedef struct odg_tableau {
    const char *name;
    int s;         /* number of stages, <= ODG_MAX_STAGES */
    int order;     /* order of the b weights */
    int emb_order; /* order of the embedded bt weights; 0 when there are none */
    double a[ODG_MAX_STAGES][ODG_MAX_STAGES]; /* strictly lower triangular */
    double b[ODG_MAX_STAGES];
    double bt[ODG_MAX_STAGES]; /* embedded weights, meaningful when emb_order > 0 */
    double c[ODG_MAX_STAGES];  /* the paper's nodes; a test checks c_i = sum_j a_ij */
    /* Dense output: y(t + theta h) = y + h sum_i b_i(theta) k_i with
     * b_i(theta) = sum_{q=1..dense_deg} dense[i][q-1] theta^q.  dense_deg == 0: none. */
    int dense_deg;
    int dense_order;
    double dense[ODG_MAX_STAGES][ODG_MAX_STAGES];
} odg_tableau;

const odg_tableau *odg_scheme_tableau(odg_scheme s);
const char *odg_scheme_name(odg_scheme s);
const char *odg_scheme_desc(odg_scheme s);
/* Returns ODG_EINVAL for an unknown name. */
odg_status odg_scheme_from_name(const char *name, odg_scheme *out);

/* Derived facts (computed from the data, never stored beside it). */
int odg_tableau_fsal(const odg_tableau *tab);     /* last row of a equals b, c_s = 1 */
int odg_tableau_adaptive(const odg_tableau *tab); /* has embedded weights */
int odg_tableau_dense(const odg_tableau *tab);    /* has dense output (dense_deg > 0) */

/* The names of the schemes whose tableau satisfies keep, in schemes.def order, joined by ", "
 * into buf (cap bytes, always NUL-terminated; a name that does not fit is left out whole), so
 * that a message naming "the schemes that can do X" is written from the table. */
void odg_schemes_where(char *buf, size_t cap, int (*keep)(const odg_tableau *tab));

/* ---- systems ------------------------------------------------------------------------------ */

/* y' = f(t, y), y of length n.  vjp (optional; needed by odg_erk_adjoint_step) computes, with
 * cotangent g (n), ybar = g^T df/dy (n, overwritten) and gp += g^T df/dp (np, accumulated).
 * Both return 0 or an odg_status.
 *
 * Kept activations (optional, all three or none): f_act is f that also writes the na numbers
 * the VJP would otherwise recompute (a network's hidden activations) to act; vjp_act is vjp at
 * the same (t, y) reading them from act, with the same results bit for bit.  An engine created
 * with na > 0 (odg_erk_create_act) uses them; na == 0 here or there: never. */
typedef struct odg_system {
    size_t n, np;
    void *ctx;
    int (*f)(void *ctx, double t, const double *y, double *dy);
    int (*vjp)(void *ctx, double t, const double *y, const double *g, double *ybar, double *gp);
    size_t na;
    int (*f_act)(void *ctx, double t, const double *y, double *dy, double *act);
    int (*vjp_act)(void *ctx, double t, const double *y, const double *act, const double *g,
                   double *ybar, double *gp);
} odg_system;

/* ---- the engine --------------------------------------------------------------------------- */

/* What the engine shows a caller after every accepted step n (0-based): the step started at
 * (t, z) with size h, its stage inputs Zst (s x n, Zst row 0 == z), stage derivatives K (s x n)
 * and the new state znext; with kept activations, each stage's Ast (s x na), else NULL.  All
 * pointers are the engine's and valid only during the call. */
typedef struct odg_step_info {
    long n;
    double t, h;
    const double *z, *Zst, *K, *znext;
    const double *Ast;
} odg_step_info;

typedef struct odg_erk_hook {
    void *ctx;
    int (*accepted)(void *ctx, const odg_step_info *st); /* non-zero return stops the solve */
    /* Optional, with kept activations: where step n (numbered as accepted reports it) writes
     * its stages' activations, s x na doubles of the caller's, or NULL for the engine's own
     * buffer; asked before every attempt at step n.  Lets a caller that keeps every step's
     * activations have them written in place instead of copied from st->Ast. */
    double *(*acts)(void *ctx, long n);
} odg_erk_hook;

/* A step grid: N steps, step n starts at t(n) with size h(n).  Replaying a grid repeats a solve
 * bit for bit.  A grid of accepted steps keeps them in arrays (t has N+1 entries); a uniform grid
 * keeps nothing that grows with N: its nodes are computed (odg_grid_t, odg_grid_h). */
typedef struct odg_grid {
    long N, cap;
    double *t, *h; /* NULL for a uniform grid */
    double t0, t1; /* a uniform grid's ends */
    odg_mem *mem;
    /* A piecewise uniform grid (odg_grid_segments): nseg segments, segment j from b[j] to
     * b[j+1] ending at node end[j]; the arrays are the caller's.  nseg == 0: one segment. */
    long nseg;
    const double *b;
    const long *end;
} odg_grid;

odg_status odg_grid_init(odg_grid *g, odg_mem *mem, long cap);
/* The uniform grid of N steps from t0 to t1 (t1 < t0 runs backwards): t(n) = t0 + n (t1-t0)/N,
 * t(N) = t1, h(n) = t(n+1) - t(n) (equal to (t1-t0)/N up to rounding; chosen so that
 * t(n) + h(n) == t(n+1) and FSAL applies to every step).  Allocates nothing (mem is unused). */
odg_status odg_grid_uniform(odg_grid *g, odg_mem *mem, double t0, double t1, long N);
/* The piecewise uniform grid of nseg >= 1 segments: segment j runs from b[j] to b[j+1]
 * (increasing) in end[j] - end[j-1] >= 1 equal steps (end[-1] = 0), each uniform as
 * odg_grid_uniform makes it, so that node end[j] is b[j+1] exactly.  N = end[nseg-1].  b (nseg+1)
 * and end (nseg) stay the caller's and must outlive the grid.  Allocates nothing. */
odg_status odg_grid_segments(odg_grid *g, const double *b, const long *end, long nseg);
void odg_grid_free(odg_grid *g);
/* Node n (0 <= n <= N) and step size n (0 <= n < N) of a grid of either kind. */
double odg_grid_t(const odg_grid *g, long n);
double odg_grid_h(const odg_grid *g, long n);

typedef struct odg_adapt_opts {
    double rtol, atol;
    double h0;        /* first step; 0 = Hairer-Norsett-Wanner II.4 heuristic */
    long max_steps;   /* accepted + rejected; reaching it is ODG_ESTEPS */
    double safety;    /* 0.9 */
    double fac_min;   /* 0.2 */
    double fac_max;   /* 10  */
    double beta;      /* PI controller: alpha = 1/(q+1) - 0.75 beta, q = emb_order; 0.04 */
    size_t norm_len;  /* the error norm over the first norm_len entries only (a seminorm;
                         Kidger, Chen & Lyons 2021); 0 = all of them */
} odg_adapt_opts;

void odg_adapt_defaults(odg_adapt_opts *o, double rtol, double atol);

typedef struct odg_erk_counts {
    long nfe;      /* f evaluations */
    long nvjp;     /* vector-Jacobian products */
    long naccept;  /* accepted steps */
    long nreject;  /* rejected steps (adaptive) */
} odg_erk_counts;

typedef struct odg_erk odg_erk;

/* The parts of an engine beyond what every step needs (the stage derivatives K, one stage input,
 * the new state and f at the next step's start): a caller asks for what it uses, and only that is
 * allocated, so that a method's accounted memory holds no buffer it never touches. */
enum {
    ODG_ERK_TAPE = 1u << 0,     /* every stage input of the last step (s x n): odg_erk_stages,
                                   the stage inputs a hook sees */
    ODG_ERK_ADJOINT = 1u << 1,  /* odg_erk_adjoint_step's stage cotangents (s x n) and one VJP */
    ODG_ERK_ADAPTIVE = 1u << 2, /* odg_erk_run_adaptive's error estimate and norm */
    ODG_ERK_ALL = ODG_ERK_TAPE | ODG_ERK_ADJOINT | ODG_ERK_ADAPTIVE,
    /* with kept activations (odg_erk_create_act): every step writes them where its solve's hook
     * says (odg_erk_hook.acts, never NULL then), so the engine keeps no stage rows of its own,
     * only the next step's first (na); not part of ODG_ERK_ALL */
    ODG_ERK_ACTS_HOOKED = 1u << 3
};

/* Workspace for one scheme on systems of length n with np parameters (for the adjoint), with the
 * parts asked for (ODG_ERK_*; odg_erk_create asks for all of them).  All of it is allocated
 * here, under ODG_TAG_WORKSPACE; stepping never allocates.  A call that needs a part the engine
 * was not created with returns ODG_EINVAL. */
odg_status odg_erk_create_parts(odg_erk **out, const odg_tableau *tab, size_t n, size_t np,
                                unsigned parts, odg_mem *mem);
odg_status odg_erk_create(odg_erk **out, const odg_tableau *tab, size_t n, size_t np,
                          odg_mem *mem);
/* The same, keeping activations of na numbers per stage (na == 0: none, as create_parts): the
 * stages' activations Ast (s x na) and those of f at the next step's start (na), allocated under
 * ODG_TAG_ACTIVATION.  Every stage the engine evaluates with a system that has f_act then writes
 * its activations to its row of Ast (odg_erk_acts), FSAL's reused first stage included, and
 * odg_erk_adjoint_step_act can read them back. */
odg_status odg_erk_create_act(odg_erk **out, const odg_tableau *tab, size_t n, size_t np,
                              size_t na, unsigned parts, odg_mem *mem);
/* The engine's own buffer of stage activations (s x na), or NULL without them (or with
 * ODG_ERK_ACTS_HOOKED): the last step's, unless a solve's hook had that step write them elsewhere
 * (odg_erk_hook.acts). */
double *odg_erk_acts(odg_erk *e);
/* Bytes odg_erk_create_act allocates under ODG_TAG_ACTIVATION with these parts: (s + 1) na
 * doubles, or na with ODG_ERK_ACTS_HOOKED. */
size_t odg_erk_act_bytes(const odg_tableau *tab, size_t na, unsigned parts);
void odg_erk_destroy(odg_erk **e);

const odg_tableau *odg_erk_tableau(const odg_erk *e);
odg_erk_counts odg_erk_counts_get(const odg_erk *e);
void odg_erk_counts_reset(odg_erk *e);

/* One step from (t, z) of size h.  Writes znext (n, may not alias z).  If Zst is not NULL it
 * receives the stage inputs (s x n).  If err is not NULL (adaptive tableaux only) it receives
 * the embedded error estimate (n).  k1 (n) if not NULL is f(t, z) already known (FSAL), and is
 * used instead of evaluating it.  The stage derivatives stay in the engine: odg_erk_K.  A stage
 * that only the error estimate reads (the last of vern7, vern8, vern9) is not evaluated when err
 * is NULL: its input is still formed into Zst, its row of K is left as it was.
 * Returns ODG_DIVERGED if znext is not finite. */
odg_status odg_erk_step(odg_erk *e, const odg_system *sys, double t, double h, const double *z,
                        double *znext, double *Zst, double *err, const double *k1);
const double *odg_erk_K(const odg_erk *e); /* (s x n), from the last step */
/* The engine's own stage-input buffer (s x n), for a caller that recomputes a step only to read
 * its stages (passing it as Zst to odg_erk_step and then to odg_erk_adjoint_step is allowed);
 * NULL unless the engine has ODG_ERK_TAPE. */
double *odg_erk_stages(odg_erk *e);
/* Bytes odg_erk_create_parts allocates for this tableau, size and parts, the engine's own
 * struct included: exactly what the counting allocator is asked for. */
size_t odg_erk_workspace_bytes(const odg_tableau *tab, size_t n, unsigned parts);

/* Reverse of one step (docs/theory.md section 3): with the stage inputs Zst (s x n) of the step
 * taken from t with size h, maps lam = dL/dz_{n+1} to dL/dz_n in place and adds the step's
 * parameter gradient into gp (np).  Stages whose cotangent is identically zero are skipped. */
odg_status odg_erk_adjoint_step(odg_erk *e, const odg_system *sys, double t, double h,
                                const double *Zst, double *lam, double *gp);
/* The same with the step's activations Ast (s x na) kept from its forward evaluation, read by
 * the system's vjp_act instead of recomputed (the same bits); Ast NULL: odg_erk_adjoint_step. */
odg_status odg_erk_adjoint_step_act(odg_erk *e, const odg_system *sys, double t, double h,
                                    const double *Zst, const double *Ast, double *lam, double *gp);

/* y = z + h sum_i b_i(theta) K_i: the dense output inside a step (dense_deg > 0 only).  y may not
 * alias z or K. */
void odg_erk_dense(const odg_tableau *tab, size_t n, double theta, double h, const double *z,
                   const double *K, double *y);

/* Integrates z (in/out) along a grid, calling hook (may be NULL) after every step.  FSAL is
 * used where the tableau has it and t[n] + h[n] == t[n+1] exactly, which keeps every replay of
 * the grid bit-identical to the first solve. */
odg_status odg_erk_run_grid(odg_erk *e, const odg_system *sys, const odg_grid *g, double *z,
                            const odg_erk_hook *hook);

/* Adaptive integration from t0 to t1 (either direction).  Appends the accepted steps to grid (may
 * be NULL): to the steps it holds when they end at t0 exactly (a solve continued from there, as
 * between output times), else to an empty grid; the hook's step numbers are then the grid's.
 * docs/theory.md section 2: error norm, PI controller, HNW initial step. */
odg_status odg_erk_run_adaptive(odg_erk *e, const odg_system *sys, double t0, double t1,
                                const odg_adapt_opts *o, double *z, const odg_erk_hook *hook,
                                odg_grid *grid);

#ifdef __cplusplus
}
#endif
#endif
