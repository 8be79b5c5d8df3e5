/* Monotonic wall-clock timer. */
#include "odegrad/core.h"

#include <time.h>

double odg_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
