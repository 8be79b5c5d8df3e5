/* The reversible method's driver (gradients/reversible.c), entered from odg_gradient; its memory
 * and its checks, for odg_gradient_memory and odg_grad_check.  docs/theory.md section 5,
 * "The reversible method". */
#ifndef ODG_GRADIENTS_REVERSIBLE_IMPL_H
#define ODG_GRADIENTS_REVERSIBLE_IMPL_H

#include "odegrad/gradients.h"

/* The gradient by the reversible wrapper of p->tab (odg_gradient's contract; o->method is
 * ODG_METHOD_REVERSIBLE and odg_grad_check has passed). */
odg_status odg_reversible_gradient(const odg_problem *p, const odg_grad_opts *o, odg_mem *mem,
                                   double *gtheta, double *gz0, odg_grad_stats *stats);

/* What odg_reversible_gradient allocates for N steps, in bytes (odg_gradient_memory's
 * contract). */
void odg_reversible_memory(const odg_problem *p, const odg_grad_opts *o, long N,
                           odg_grad_memory *m);

/* The model as a system (gradients/gradient.c), with its kept activations when asked
 * (odg_grad_opts.keep_activations), and how many numbers a stage keeps (0 when not asked). */
odg_system odg_model_system(odg_model *model, int keep_activations);
size_t odg_grad_act_size(const odg_problem *p, const odg_grad_opts *o);

/* The checks that only the reversible method makes (fixed steps, lambda in (0, 1]); ODG_OK or
 * the status with err set, as odg_grad_check. */
odg_status odg_reversible_check(const odg_problem *p, const odg_grad_opts *o, char err[ODG_ERRLEN]);

#endif
