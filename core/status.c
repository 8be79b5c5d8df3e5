/* Status codes: names and messages generated from status.def. */
#include "odegrad/core.h"

#include <stdarg.h>
#include <stdio.h>

static const char *const status_msg[] = {
#define ODG_STATUS(e, rec, msg) msg,
#include "odegrad/status.def"
#undef ODG_STATUS
};

static const char *const status_rec[] = {
#define ODG_STATUS(e, rec, msg) rec,
#include "odegrad/status.def"
#undef ODG_STATUS
};

const char *odg_status_str(odg_status s)
{
    return (s >= 0 && s < ODG_NSTATUS) ? status_msg[s] : "unknown status";
}

const char *odg_status_record(odg_status s)
{
    return (s >= 0 && s < ODG_NSTATUS) ? status_rec[s] : "error";
}

odg_status odg_fail(char err[ODG_ERRLEN], odg_status st, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, ODG_ERRLEN, fmt, ap);
        va_end(ap);
    }
    return st;
}
