/* The Butcher tableaux of the explicit Runge-Kutta schemes in schemes.def, as const data (one
 * engine, solvers/erk.c, runs all of them; docs/theory.md section 2).  Rationals are written as the
 * papers give them, a/b evaluated by the compiler, so every coefficient is the correctly rounded
 * double of the paper's exact value; c, FSAL and "adaptive" are checked or derived, never
 * trusted (tests/test_tableau.c checks every order condition).
 *
 *   euler     L. Euler, Institutionum calculi integralis, 1768.
 *   midpoint  C. Runge, Math. Ann. 46 (1895) 167-178.
 *   heun      K. Heun, Z. Math. Phys. 45 (1900) 23-38.
 *   rk4, rk38 W. Kutta, Z. Math. Phys. 46 (1901) 435-453.
 *   bosh3     P. Bogacki, L. F. Shampine, A 3(2) pair of Runge-Kutta formulas,
 *             Appl. Math. Lett. 2 (1989) 321-325.
 *   dopri5    J. R. Dormand, P. J. Prince, A family of embedded Runge-Kutta formulae,
 *             J. Comput. Appl. Math. 6 (1980) 19-26; dense output of L. F. Shampine,
 *             Math. Comp. 46 (1986) 135-150, as in Hairer, Norsett & Wanner, Solving ODEs I,
 *             II.6, and their code dopri5.f.
 *   tsit5     Ch. Tsitouras, Runge-Kutta pairs of order 5(4) satisfying only the first column
 *             simplifying assumption, Comput. Math. Appl. 62 (2011) 770-775.
 *   dopri8    P. J. Prince, J. R. Dormand, High order embedded Runge-Kutta formulae,
 *             J. Comput. Appl. Math. 7 (1981) 67-75, in the 12-stage form of Hairer, Norsett &
 *             Wanner's code DOP853 (Solving ODEs I, II.10).
 * The tables in HNW I (II.1, II.5, II.6) were used to cross-check the classical ones.
 */
#include "odegrad/solvers.h"

#include <string.h>

/* ---- fixed-step schemes ------------------------------------------------------------------- */

static const odg_tableau tab_euler = {
    .name = "euler",
    .s = 1,
    .order = 1,
    .b = {1.0},
    .c = {0.0},
};

static const odg_tableau tab_midpoint = {
    .name = "midpoint",
    .s = 2,
    .order = 2,
    .a = {{0.0}, {1.0 / 2.0}},
    .b = {0.0, 1.0},
    .c = {0.0, 1.0 / 2.0},
};

/* Heun's second-order method, the explicit trapezoidal rule. */
static const odg_tableau tab_heun = {
    .name = "heun",
    .s = 2,
    .order = 2,
    .a = {{0.0}, {1.0}},
    .b = {1.0 / 2.0, 1.0 / 2.0},
    .c = {0.0, 1.0},
};

static const odg_tableau tab_rk4 = {
    .name = "rk4",
    .s = 4,
    .order = 4,
    .a = {{0.0}, {1.0 / 2.0}, {0.0, 1.0 / 2.0}, {0.0, 0.0, 1.0}},
    .b = {1.0 / 6.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 6.0},
    .c = {0.0, 1.0 / 2.0, 1.0 / 2.0, 1.0},
};

static const odg_tableau tab_rk38 = {
    .name = "rk38",
    .s = 4,
    .order = 4,
    .a = {{0.0}, {1.0 / 3.0}, {-1.0 / 3.0, 1.0}, {1.0, -1.0, 1.0}},
    .b = {1.0 / 8.0, 3.0 / 8.0, 3.0 / 8.0, 1.0 / 8.0},
    .c = {0.0, 1.0 / 3.0, 2.0 / 3.0, 1.0},
};

/* ---- embedded pairs ----------------------------------------------------------------------- */

/* The order-3 weights are also the last row of a (FSAL: k_4 of this step is k_1 of the next);
 * written once so that the exact FSAL test of odg_tableau_fsal cannot fail on a typo. */
#define BOSH3_B                                                                                    \
    {                                                                                              \
        2.0 / 9.0, 1.0 / 3.0, 4.0 / 9.0, 0.0                                                       \
    }

static const odg_tableau tab_bosh3 = {
    .name = "bosh3",
    .s = 4,
    .order = 3,
    .emb_order = 2,
    .a = {{0.0}, {1.0 / 2.0}, {0.0, 3.0 / 4.0}, BOSH3_B},
    .b = BOSH3_B,
    .bt = {7.0 / 24.0, 1.0 / 4.0, 1.0 / 3.0, 1.0 / 8.0},
    .c = {0.0, 1.0 / 2.0, 3.0 / 4.0, 1.0},
};

#define DOPRI5_B                                                                                   \
    {                                                                                              \
        35.0 / 384.0, 0.0, 500.0 / 1113.0, 125.0 / 192.0, -2187.0 / 6784.0, 11.0 / 84.0, 0.0       \
    }

/* Dense output.  dopri5.f (HNW) evaluates Shampine's order-4 continuous extension as
 *   y(t + theta h) = y0 + theta (D + (1-theta) (B + theta (R4 + (1-theta) R5)))
 * with D = h sum_i b_i k_i, B = h k_1 - D, R4 = D - h k_7 - B, R5 = h sum_i d_i k_i
 * (k_7 = f(t + h, y_next), which dopri5.f keeps in K2 when it forms R5) and
 *   d = (-12715105075/11282082432, 0, 87487479700/32700410799, -10690763975/1880347072,
 *        701980252875/199316789632, -1453857185/822651844, 69997945/29380423).
 * Expanding in powers of theta with exact rational arithmetic (Python's fractions) gives
 * b_i(theta) = sum_{q=1..4} dense[i][q-1] theta^q below; the coefficients agree with SciPy's
 * RK45 matrix P.  b_i(1) = b_i and the order-4 conditions hold exactly for the rationals. */
static const odg_tableau tab_dopri5 = {
    .name = "dopri5",
    .s = 7,
    .order = 5,
    .emb_order = 4,
    .a =
        {
            {0.0},
            {1.0 / 5.0},
            {3.0 / 40.0, 9.0 / 40.0},
            {44.0 / 45.0, -56.0 / 15.0, 32.0 / 9.0},
            {19372.0 / 6561.0, -25360.0 / 2187.0, 64448.0 / 6561.0, -212.0 / 729.0},
            {9017.0 / 3168.0, -355.0 / 33.0, 46732.0 / 5247.0, 49.0 / 176.0, -5103.0 / 18656.0},
            DOPRI5_B,
        },
    .b = DOPRI5_B,
    .bt = {5179.0 / 57600.0, 0.0, 7571.0 / 16695.0, 393.0 / 640.0, -92097.0 / 339200.0,
           187.0 / 2100.0, 1.0 / 40.0},
    .c = {0.0, 1.0 / 5.0, 3.0 / 10.0, 4.0 / 5.0, 8.0 / 9.0, 1.0, 1.0},
    .dense_deg = 4,
    .dense_order = 4,
    .dense =
        {
            {1.0, -8048581381.0 / 2820520608.0, 8663915743.0 / 2820520608.0,
             -12715105075.0 / 11282082432.0},
            {0.0, 0.0, 0.0, 0.0},
            {0.0, 131558114200.0 / 32700410799.0, -68118460800.0 / 10900136933.0,
             87487479700.0 / 32700410799.0},
            {0.0, -1754552775.0 / 470086768.0, 14199869525.0 / 1410260304.0,
             -10690763975.0 / 1880347072.0},
            {0.0, 127303824393.0 / 49829197408.0, -318862633887.0 / 49829197408.0,
             701980252875.0 / 199316789632.0},
            {0.0, -282668133.0 / 205662961.0, 2019193451.0 / 616988883.0,
             -1453857185.0 / 822651844.0},
            {0.0, 40617522.0 / 29380423.0, -110615467.0 / 29380423.0, 69997945.0 / 29380423.0},
        },
};

/* Tsitouras 5(4).  The paper gives decimals (Table 1, 16 significant digits); c2 = 0.161,
 * c3 = 0.327, c4 = 0.9 are exact decimals by construction and a_i1 = c_i - sum_{j>1} a_ij.
 * The values below are the same numbers to 20 significant digits, from the author's
 * high-precision construction as carried by SUNDIALS/ARKODE (ARKODE_TSITOURAS_7_4_5) and
 * OrdinaryDiffEq.jl; they agree with the 16 digits the paper prints (as reproduced there), and
 * 20 digits let each literal round to the nearest double of the exact value rather than of its
 * 16-digit neighbour.
 *
 * Embedded weights: Table 1's column for b^ holds b_i - b^_i for i = 1..6 but +1/66 = b^_7 for
 * i = 7 (b_7 - b^_7 would be -1/66), as SUNDIALS (PR 850) and OrdinaryDiffEq.jl (issue 1654)
 * also found.  So bt_i = b_i - (Table 1 value) for i <= 6 and bt_7 = 1/66: then sum bt = 1 and
 * all eight order-4 conditions hold (to 1e-38 in 40-digit arithmetic), while b + (Table 1
 * value) misses even sum bt = 1, by 2/66.  Libraries that store b - bt carry the same mix. */
#define TSIT5_B                                                                                    \
    {                                                                                              \
        0.096460766818065229518, 0.01, 0.47988965041449957478, 1.3790085741037418932,              \
            -3.2900695154360806799, 2.3247105240997739824, 0.0                                     \
    }

static const odg_tableau tab_tsit5 = {
    .name = "tsit5",
    .s = 7,
    .order = 5,
    .emb_order = 4,
    .a =
        {
            {0.0},
            {0.161},
            {-0.0084806554923569885444, 0.33548065549235698854},
            {2.8971530571054934321, -6.3594484899750748431, 4.3622954328695814110},
            {5.3258648284392566044, -11.748883564062827878, 7.4955393428898362083,
             -0.092495066361755249257},
            {5.8614554429464200287, -12.920969317847109292, 8.1593678985761586432,
             -0.071584973281400997225, -0.028269050394068382909},
            TSIT5_B,
        },
    .b = TSIT5_B,
    .bt = {0.094680755765839458075, 0.0091835655403432530968, 0.48777052842476157079,
           1.2342975669304789857, -2.7077123499835254549, 1.8666284181705870358, 1.0 / 66.0},
    .c = {0.0, 0.161, 0.327, 0.9, 0.98002554090450968573, 1.0, 1.0},
};

/* Dormand-Prince order 8: the 12 stages and eighth-order weights of DOP853.  The coefficients
 * involve sqrt(6) (c_2 = (6 - sqrt 6)/10 * 4/9 ...), so they are given as the code gives them, to
 * 30 significant digits, which every literal rounds to the nearest double of.  Fixed steps only:
 * DOP853 estimates its error from two embedded solutions of orders 5 and 3 combined, which is not
 * the engine's single embedded pair, so no bt is given and "adaptive" is false.  Its use here is
 * the fine reference (harness/reference.c): an order higher than any scheme under test. */
static const odg_tableau tab_dopri8 = {
    .name = "dopri8",
    .s = 12,
    .order = 8,
    .a =
        {
            {0.0},
            {5.26001519587677318785587544488e-2},
            {1.97250569845378994544595329183e-2, 5.91751709536136983633785987549e-2},
            {2.95875854768068491816892993775e-2, 0.0, 8.87627564304205475450678981324e-2},
            {2.41365134159266685502369798665e-1, 0.0, -8.84549479328286085344864962717e-1,
             9.24834003261792003115737966543e-1},
            {3.7037037037037037037037037037e-2, 0.0, 0.0, 1.70828608729473871279604482173e-1,
             1.25467687566822425016691814123e-1},
            {3.7109375e-2, 0.0, 0.0, 1.70252211019544039314978060272e-1,
             6.02165389804559606850219397283e-2, -1.7578125e-2},
            {3.70920001185047927108779319836e-2, 0.0, 0.0, 1.70383925712239993810214054705e-1,
             1.07262030446373284651809199168e-1, -1.53194377486244017527936158236e-2,
             8.27378916381402288758473766002e-3},
            {6.24110958716075717114429577812e-1, 0.0, 0.0, -3.36089262944694129406857109825e0,
             -8.68219346841726006818189891453e-1, 2.75920996994467083049415600797e1,
             2.01540675504778934086186788979e1, -4.34898841810699588477366255144e1},
            {4.77662536438264365890433908527e-1, 0.0, 0.0, -2.48811461997166764192642586468e0,
             -5.90290826836842996371446475743e-1, 2.12300514481811942347288949897e1,
             1.52792336328824235832596922938e1, -3.32882109689848629194453265587e1,
             -2.03312017085086261358222928593e-2},
            {-9.3714243008598732571704021658e-1, 0.0, 0.0, 5.18637242884406370830023853209e0,
             1.09143734899672957818500254654e0, -8.14978701074692612513997267357e0,
             -1.85200656599969598641566180701e1, 2.27394870993505042818970056734e1,
             2.49360555267965238987089396762e0, -3.0467644718982195003823669022e0},
            {2.27331014751653820792359768449e0, 0.0, 0.0, -1.05344954667372501984066689879e1,
             -2.00087205822486249909675718444e0, -1.79589318631187989172765950534e1,
             2.79488845294199600508499808837e1, -2.85899827713502369474065508674e0,
             -8.87285693353062954433549289258e0, 1.23605671757943030647266201528e1,
             6.43392746015763530355970484046e-1},
        },
    .b = {5.42937341165687622380535766363e-2, 0.0, 0.0, 0.0, 0.0,
          4.45031289275240888144113950566e0, 1.89151789931450038304281599044e0,
          -5.8012039600105847814672114227e0, 3.1116436695781989440891606237e-1,
          -1.52160949662516078556178806805e-1, 2.01365400804030348374776537501e-1,
          4.47106157277725905176885569043e-2},
    .c = {0.0, 0.526001519587677318785587544488e-01, 0.789002279381515978178381316732e-01,
          0.118350341907227396726757197510e+00, 0.281649658092772603273242802490e+00,
          0.333333333333333333333333333333e+00, 0.25e+00, 0.307692307692307692307692307692e+00,
          0.651282051282051282051282051282e+00, 0.6e+00, 0.857142857142857142857142857142e+00,
          1.0},
};

/* ---- lookup ------------------------------------------------------------------------------- */

/* Indexed by odg_scheme; test_tableau checks that every entry exists and that its name is the
 * one schemes.def gives. */
static const odg_tableau *const tableaux[ODG_NSCHEMES] = {
    [ODG_SCHEME_EULER] = &tab_euler,   [ODG_SCHEME_MIDPOINT] = &tab_midpoint,
    [ODG_SCHEME_HEUN] = &tab_heun,     [ODG_SCHEME_RK4] = &tab_rk4,
    [ODG_SCHEME_RK38] = &tab_rk38,     [ODG_SCHEME_BOSH3] = &tab_bosh3,
    [ODG_SCHEME_DOPRI5] = &tab_dopri5, [ODG_SCHEME_TSIT5] = &tab_tsit5,
    [ODG_SCHEME_DOPRI8] = &tab_dopri8,
};

static const char *const scheme_names[] = {
#define ODG_SCHEME(e, name, desc) name,
#include "odegrad/schemes.def"
#undef ODG_SCHEME
};

static const char *const scheme_descs[] = {
#define ODG_SCHEME(e, name, desc) desc,
#include "odegrad/schemes.def"
#undef ODG_SCHEME
};

static int scheme_valid(odg_scheme s)
{
    return s >= 0 && s < ODG_NSCHEMES;
}

const odg_tableau *odg_scheme_tableau(odg_scheme s)
{
    return scheme_valid(s) ? tableaux[s] : NULL;
}

/* Unknown schemes read "?", as odg_tag_name does; "?" is not a scheme name. */
const char *odg_scheme_name(odg_scheme s)
{
    return scheme_valid(s) ? scheme_names[s] : "?";
}

const char *odg_scheme_desc(odg_scheme s)
{
    return scheme_valid(s) ? scheme_descs[s] : "?";
}

odg_status odg_scheme_from_name(const char *name, odg_scheme *out)
{
    if (!name || !out) {
        return ODG_EINVAL;
    }
    for (int s = 0; s < ODG_NSCHEMES; s++) {
        if (strcmp(name, scheme_names[s]) == 0) {
            *out = (odg_scheme)s;
            return ODG_OK;
        }
    }
    return ODG_EINVAL;
}

/* ---- derived facts ------------------------------------------------------------------------ */

/* First same as last: the last stage is evaluated at (t + h, y_next), so its derivative is the
 * next step's k_1.  That needs c_s = 1 and a_sj = b_j for every j, including j = s where a is 0,
 * so b_s = 0.  The comparison is exact: where a tableau is FSAL its last row and b are the same
 * literals, and anything less than equality would make the engine reuse a wrong k_1. */
int odg_tableau_fsal(const odg_tableau *tab)
{
    if (!tab || tab->s < 2 || tab->s > ODG_MAX_STAGES) {
        return 0;
    }
    int last = tab->s - 1;
    if (tab->c[last] != 1.0) {
        return 0;
    }
    for (int j = 0; j < tab->s; j++) {
        if (tab->a[last][j] != tab->b[j]) {
            return 0;
        }
    }
    return 1;
}

int odg_tableau_adaptive(const odg_tableau *tab)
{
    return tab && tab->emb_order > 0;
}
