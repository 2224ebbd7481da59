/*
 * rows.c: row selection for the fast CPU kernels.
 *
 * Every grouped op selects rows the same way (mask, cell, -1 to drop) and
 * must reject a cell index outside its range. Resolving the selection into
 * per-row slots in one vectorised pass lets the ops' inner loops run without
 * branches; the rare bad cell is then located by a second, plain scan so
 * that every backend reports the same first bad row. With GCC on x86-64 the
 * vectorised loops get an AVX2 clone chosen at load time (integer and
 * exactness-preserving work only, so the clone changes no result).
 */
#include "kernels/cpu/cpu_impl.h"

sl_status sl_cell_error(const char *op, int64_t row, int64_t ncells)
{
    return sl_error_set(SL_ERR_ARG, __FILE__, __LINE__, __func__,
                        "%s: row %lld has a cell index outside [-1, %lld)", op, (long long)row,
                        (long long)ncells);
}

SL_CLONES_AVX2
uint32_t sl_row_slots(const int32_t *cell, const uint8_t *mask, int64_t ncells, int64_t r0,
                      int64_t r1, uint32_t *slot)
{
    uint32_t nc = (uint32_t)ncells, bad = 0;
    int64_t n = r1 - r0;
    if (!cell) {
        for (int64_t i = 0; i < n; i++)
            slot[i] = mask ? (uint32_t)(mask[r0 + i] != 0) : 1u;
        return 0;
    }
    if (!mask) {
        for (int64_t i = 0; i < n; i++) {
            uint32_t u = (uint32_t)cell[r0 + i] + 1u, ok = u <= nc;
            bad |= ok ^ 1u;
            slot[i] = u & -ok;
        }
        return bad;
    }
    for (int64_t i = 0; i < n; i++) {
        uint32_t u = (uint32_t)cell[r0 + i] + 1u, ok = u <= nc, keep = mask[r0 + i] != 0;
        bad |= (ok ^ 1u) & keep;
        slot[i] = u & -(ok & keep);
    }
    return bad;
}

SL_CLONES_AVX2
int sl_any_nonfinite(const double *v, int64_t n)
{
    double acc[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int l = 0; l < 8; l++)
            acc[l] += v[i + l] * 0.0; /* NaN for a NaN or infinite value */
    for (; i < n; i++)
        acc[0] += v[i] * 0.0;
    for (int l = 1; l < 8; l++)
        acc[0] += acc[l];
    return acc[0] != acc[0];
}

int64_t sl_first_bad_cell(const int32_t *cell, const uint8_t *mask, int64_t ncells, int64_t r0,
                          int64_t r1)
{
    for (int64_t r = r0; r < r1; r++)
        if (sl_row_cell(cell, mask, ncells, r) == -2)
            return r;
    return -1;
}
