/* What the models share and nobody else needs: the batch chunks (include/odegrad/models.h (batch chunks and BLAS modes)) and the
 * plain-loop column sum of the reference versions. */
#ifndef ODEGRAD_MODELS_IMPL_H
#define ODEGRAD_MODELS_IMPL_H

#include "odegrad/models.h"

#include <stddef.h>

/* Rows [lo, lo + n) of chunk c of m's batch: m->chunk rows each, whatever the thread count, the
 * last one shorter. */
static inline void odg_chunk_rows(const odg_model *m, long c, size_t *lo, size_t *n)
{
    *lo = (size_t)c * m->chunk;
    *n = m->B - *lo < m->chunk ? m->B - *lo : m->chunk;
}

/* The offsets (m->rank_off, nranks + 1 entries) of each rank's part of an array laid out by
 * chunks: `per_row` doubles per batch row (F, Zbar: D), or per chunk when by_chunk (the partials:
 * P). */
static inline const size_t *odg_rank_offsets(odg_model *m, size_t per, int by_chunk)
{
    for (int r = 0; r <= m->nranks; r++) {
        size_t c = m->rank_chunk[r];
        size_t rows = c * m->chunk < m->B ? c * m->chunk : m->B;
        m->rank_off[r] = (by_chunk ? c : rows) * per;
    }
    return m->rank_off;
}

/* out[j] += sum_i X[i, j], X (rows, cols): each column summed in row order into a local and added
 * once, so two calls add exactly twice and the order never depends on threads. */
static inline void odg_colsum_add(const double *X, size_t rows, size_t cols, double *out)
{
    for (size_t j = 0; j < cols; j++) {
        double s = 0;
        for (size_t i = 0; i < rows; i++) {
            s += X[i * cols + j];
        }
        out[j] += s;
    }
}

#endif
