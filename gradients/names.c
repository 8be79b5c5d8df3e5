/* Names and descriptions of methods, schedules and interpolations, generated from the .def lists
 * (the CLI, the CSV and the plots all read them from here). */
#include "odegrad/gradients.h"

#include <string.h>

static const struct {
    const char *name, *desc;
    odg_grad_kind kind;
    odg_storage storage;
} methods[] = {
#define ODG_METHOD(e, name, kind, storage, desc)                                                 \
    {name, desc, ODG_KIND_##kind, ODG_STORAGE_##storage},
#include "odegrad/methods.def"
#undef ODG_METHOD
};

static const char *const schedule_names[] = {
#define ODG_SCHEDULE(e, name, desc) name,
#include "odegrad/schedules.def"
#undef ODG_SCHEDULE
};
static const char *const schedule_descs[] = {
#define ODG_SCHEDULE(e, name, desc) desc,
#include "odegrad/schedules.def"
#undef ODG_SCHEDULE
};
static const char *const interp_names[] = {
#define ODG_INTERP(e, name, desc) name,
#include "odegrad/interps.def"
#undef ODG_INTERP
};
static const char *const interp_descs[] = {
#define ODG_INTERP(e, name, desc) desc,
#include "odegrad/interps.def"
#undef ODG_INTERP
};

const char *odg_method_name(odg_method m)
{
    return (m >= 0 && m < ODG_NMETHODS) ? methods[m].name : "?";
}
const char *odg_method_desc(odg_method m)
{
    return (m >= 0 && m < ODG_NMETHODS) ? methods[m].desc : "?";
}
odg_grad_kind odg_method_kind(odg_method m)
{
    return methods[m].kind;
}
odg_storage odg_method_storage(odg_method m)
{
    return methods[m].storage;
}
int odg_method_keeps_checkpoints(odg_method m)
{
    return m >= 0 && m < ODG_NMETHODS && methods[m].storage == ODG_STORAGE_CHECKPOINTS;
}
int odg_method_interpolates(odg_method m)
{
    return m >= 0 && m < ODG_NMETHODS && methods[m].kind == ODG_KIND_CONTINUOUS &&
           methods[m].storage != ODG_STORAGE_NONE;
}
/* The continuous adjoints: each can take its own adaptive steps (checkpoint-adjoint with the
 * uniform schedule, whose segments can be recomputed in any order; odg_grad_check says so). */
int odg_method_adaptive_adjoint(odg_method m)
{
    return m >= 0 && m < ODG_NMETHODS && methods[m].kind == ODG_KIND_CONTINUOUS;
}
const char *odg_schedule_name(odg_schedule s)
{
    return (s >= 0 && s < ODG_NSCHEDULES) ? schedule_names[s] : "?";
}
const char *odg_schedule_desc(odg_schedule s)
{
    return (s >= 0 && s < ODG_NSCHEDULES) ? schedule_descs[s] : "?";
}
const char *odg_interp_name(odg_interp i)
{
    return (i >= 0 && i < ODG_NINTERPS) ? interp_names[i] : "?";
}
const char *odg_interp_desc(odg_interp i)
{
    return (i >= 0 && i < ODG_NINTERPS) ? interp_descs[i] : "?";
}

/* Index of name in a list of n names, or -1. */
static int lookup(const char *name, const char *(*get)(int), int n)
{
    for (int i = 0; name && i < n; i++) {
        if (strcmp(name, get(i)) == 0) {
            return i;
        }
    }
    return -1;
}
static const char *method_at(int i)
{
    return methods[i].name;
}
static const char *schedule_at(int i)
{
    return schedule_names[i];
}
static const char *interp_at(int i)
{
    return interp_names[i];
}

odg_status odg_method_from_name(const char *name, odg_method *out)
{
    int i = lookup(name, method_at, ODG_NMETHODS);
    if (i < 0) {
        return ODG_EINVAL;
    }
    *out = (odg_method)i;
    return ODG_OK;
}
odg_status odg_schedule_from_name(const char *name, odg_schedule *out)
{
    int i = lookup(name, schedule_at, ODG_NSCHEDULES);
    if (i < 0) {
        return ODG_EINVAL;
    }
    *out = (odg_schedule)i;
    return ODG_OK;
}
odg_status odg_interp_from_name(const char *name, odg_interp *out)
{
    int i = lookup(name, interp_at, ODG_NINTERPS);
    if (i < 0) {
        return ODG_EINVAL;
    }
    *out = (odg_interp)i;
    return ODG_OK;
}
