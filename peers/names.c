/* The names of the solvers (--solver) and of CVODES's multistep families (--lmm), from
 * peers.def and lmms.def. */
#include "odegrad/peers.h"

static const struct {
    const char *name, *desc, *pkgs;
} solvers[] = {
#define ODG_SOLVER(e, name, desc, pkgs) {name, desc, pkgs},
#include "odegrad/peers.def"
#undef ODG_SOLVER
};

static const struct {
    const char *name, *desc;
} lmms[] = {
#define ODG_LMM(e, name, desc) {name, desc},
#include "odegrad/lmms.def"
#undef ODG_LMM
};

const char *odg_solver_name(odg_solver s)
{
    return (s >= 0 && s < ODG_NSOLVERS) ? solvers[s].name : "?";
}

const char *odg_solver_desc(odg_solver s)
{
    return (s >= 0 && s < ODG_NSOLVERS) ? solvers[s].desc : "?";
}

const char *odg_solver_packages(odg_solver s)
{
    return (s >= 0 && s < ODG_NSOLVERS) ? solvers[s].pkgs : "";
}

const char *odg_lmm_name(odg_lmm l)
{
    return (l >= 0 && l < ODG_NLMMS) ? lmms[l].name : "?";
}

const char *odg_lmm_desc(odg_lmm l)
{
    return (l >= 0 && l < ODG_NLMMS) ? lmms[l].desc : "?";
}
