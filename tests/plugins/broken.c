/* Plugins that odegrad must refuse, one per BROKEN value (CMakeLists.txt builds each as
 * plugin_<name>.so; tests/test_plugin.c and tests/test_cli_plugin.sh load them):
 *   1 abi        another ABI version in odg_field.abi
 *   2 nosymbol   exports no odegrad_field (a misspelt name)
 *   3 vjpz       Zbar off by 1% (the gradient check in z fails)
 *   4 vjptheta   gtheta off by a factor 2 (the gradient check in theta fails)
 *   5 refuses    the constructor refuses every request, with a reason
 *   6 view       a view reaches past theta
 *   7 nan        f gives NaN
 * The field itself is f = a * z + b (a, b scalars), P = 2.
 */
#include <odegrad/plugin.h>

#include <math.h>
#include <stdio.h>

static int f(void *ctx, double t, size_t B, size_t D, const double *th, const double *Z, double *F)
{
    for (size_t i = 0; i < B * D; i++) {
        F[i] = BROKEN == 7 ? NAN : th[0] * Z[i] + th[1];
    }
    return 0;
}

static int vjp(void *ctx, double t, size_t B, size_t D, const double *th, const double *Z,
               const double *G, double *Zbar, double *gth)
{
    for (size_t i = 0; i < B * D; i++) {
        Zbar[i] = (BROKEN == 3 ? 1.01 : 1.0) * th[0] * G[i];
        gth[0] += (BROKEN == 4 ? 2.0 : 1.0) * G[i] * Z[i];
        gth[1] += G[i];
    }
    return 0;
}

#if BROKEN == 2
int odegrad_feld(const odg_field_request *req, odg_field *out);
int odegrad_feld(const odg_field_request *req, odg_field *out)
#else
int odegrad_field(const odg_field_request *req, odg_field *out)
#endif
{
    if (BROKEN == 5) {
        snprintf(out->msg, sizeof out->msg, "this field is switched off");
        return 1;
    }
    out->abi = BROKEN == 1 ? ODG_FIELD_ABI + 1 : ODG_FIELD_ABI;
    out->P = 2;
    out->nviews = 1;
    out->view[0] = (odg_field_view){"ab", BROKEN == 6 ? 1 : 0, 2, 1};
    out->f = f;
    out->vjp = vjp;
    return 0;
}
