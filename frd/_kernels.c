/* Compiled kernels of the frd extraction engine (frd/engine.py).
 *
 * glszm_zones: every gray-level zone of a 3D image, labelled by runs along x. A zone is a set of
 * connected mask voxels with the same gray level, connected through the 26 neighbours of
 * a voxel (or the 8 in-plane ones when one dimension is excluded, pyradiomics' force2D),
 * exactly the zones pyradiomics' C code grows for its GLSZM. pyradiomics stores them in
 * a dense gray levels x largest-zone-size matrix; the engine only needs, per zone, its
 * gray level and its size, and counts those pairs itself.
 *
 * glcm, glrlm, ngtdm: pyradiomics' co-occurrence, run-length and neighbouring-gray-tone
 * matrices, entry for entry what its C builders (radiomics/src/cmatrices.c) return for a
 * whole image (not voxel-based), with the angles pyradiomics generates passed in. They
 * work within the box of the mask's voxels on compact copies (gray level, 0 outside the
 * mask) padded so that no neighbour needs a bounds check, instead of recomputing every
 * voxel's coordinates by division and checking every neighbour. Counts are exact in any
 * order; NGTDM's sums of absolute differences are added voxel by voxel in ascending index
 * order with the same double arithmetic, so they match to the bit.
 *
 * Arrays are passed through the buffer protocol (numpy arrays, C-contiguous), so the
 * module needs Python's headers only. The work runs without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* Whether coordinate c moved by d stays in 0..n-1. */
#define INSIDE(c, d, n) ((c) + (d) >= 0 && (c) + (d) < (n))

static int get_buffer(PyObject *obj, Py_buffer *view, Py_ssize_t itemsize, const char *what, int writable)
{
    int flags = PyBUF_C_CONTIGUOUS | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    if (view->itemsize != itemsize) {
        PyErr_Format(PyExc_TypeError, "%s: expected items of %zd bytes, got %zd",
                     what, itemsize, view->itemsize);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* The buffers one call holds, released together whichever step failed. */
typedef struct {
    Py_buffer *views[12];
    int count;
} Held;

static int hold(Held *held, Py_buffer *view, PyObject *obj, Py_ssize_t itemsize, const char *what, int writable)
{
    if (get_buffer(obj, view, itemsize, what, writable) < 0)
        return -1;
    held->views[held->count++] = view;
    return 0;
}

static void release_held(Held *held)
{
    while (held->count > 0)
        PyBuffer_Release(held->views[--held->count]);
}

/* The statuses of the calls below: -3, a buffer was refused (the error is set); -2, sizes
 * that do not match (described by `mismatch`); -1, out of memory. Returns -1 with the error
 * set for those, else 0. */
static int failed(Py_ssize_t status, const char *mismatch)
{
    if (status == -3)
        return -1;
    if (status == -2) {
        PyErr_SetString(PyExc_ValueError, mismatch);
        return -1;
    }
    if (status == -1) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

/* Root of a voxel's zone (path halving keeps the trees flat). */
static Py_ssize_t find_root(Py_ssize_t *parent, Py_ssize_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

/* Labels all zones voxel by voxel, in two scans in memory order (union-find): each mask
 * voxel joins the zones of its already scanned neighbours of the same gray level; a zone's
 * root is its first voxel. Then every voxel is counted to its root's zone. Returns the
 * number of zones, or -1 when out of memory. The reference for label_zone_runs (below,
 * about 2x faster on a 3D volume, 15-30x for a mask alone), used for boxes too large for
 * its int32 run numbers. */
static Py_ssize_t label_zones_voxels(const int32_t *image, const uint8_t *mask, const Py_ssize_t *shape,
                                     int skip_dim, int32_t *levels, int64_t *sizes)
{
    const Py_ssize_t nz = shape[0], ny = shape[1], nx = shape[2];
    const Py_ssize_t n = nz * ny * nx;
    Py_ssize_t *parent = (Py_ssize_t *)malloc(sizeof(Py_ssize_t) * (size_t)(n > 0 ? n : 1));
    Py_ssize_t *zone = levels ? (Py_ssize_t *)malloc(sizeof(Py_ssize_t) * (size_t)(n > 0 ? n : 1)) : parent;
    if (!parent || !zone) {
        free(parent);
        free(zone);
        return -1;
    }
    /* The 13 neighbours scanned before a voxel (fewer when a dimension does not connect,
     * or has a single voxel, where they would always be outside). */
    int back[13][3], nb = 0;
    Py_ssize_t boff[13];
    for (int dz = -1; dz <= 0; dz++)
        for (int dy = -1; dy <= 1; dy++)
            for (int dx = -1; dx <= 1; dx++) {
                if (dz == 0 && (dy > 0 || (dy == 0 && dx >= 0)))
                    continue;
                if ((skip_dim == 0 && dz) || (skip_dim == 1 && dy) || (skip_dim == 2 && dx))
                    continue;
                if ((nz == 1 && dz) || (ny == 1 && dy) || (nx == 1 && dx))
                    continue;
                back[nb][0] = dz, back[nb][1] = dy, back[nb][2] = dx;
                boff[nb] = (dz * ny + dy) * nx + dx;
                nb++;
            }
    for (Py_ssize_t z = 0; z < nz; z++)
        for (Py_ssize_t y = 0; y < ny; y++) {
            /* Away from the borders every neighbour is inside: no per-neighbour checks. */
            const int inner_zy = (nz == 1 || z >= 1) && (ny == 1 || (y >= 1 && y < ny - 1));
            for (Py_ssize_t x = 0; x < nx; x++) {
                const Py_ssize_t v = (z * ny + y) * nx + x;
                if (!mask[v])
                    continue;
                parent[v] = v;
                const int inner = inner_zy && (nx == 1 || (x >= 1 && x < nx - 1));
                const int32_t level = image ? image[v] : 0;
                Py_ssize_t rv = v; /* the root of v's zone, kept up to date */
                for (int b = 0; b < nb; b++) {
                    if (!inner && !(INSIDE(z, back[b][0], nz) && INSIDE(y, back[b][1], ny) && INSIDE(x, back[b][2], nx)))
                        continue;
                    const Py_ssize_t j = v + boff[b];
                    if (!mask[j] || (image && image[j] != level) || parent[j] == rv)
                        continue; /* (a parent that is v's root: already in v's zone) */
                    const Py_ssize_t rj = find_root(parent, j);
                    if (rj < rv) {
                        parent[rv] = rj;
                        rv = rj;
                    } else if (rv < rj)
                        parent[rj] = rv;
                }
            }
        }
    Py_ssize_t zones = 0;
    if (!levels) { /* only the number of zones: one root each */
        for (Py_ssize_t v = 0; v < n; v++)
            zones += mask[v] && parent[v] == v;
        free(parent);
        return zones;
    }
    for (Py_ssize_t v = 0; v < n; v++) {
        if (!mask[v])
            continue;
        const Py_ssize_t r = find_root(parent, v);
        if (r == v) { /* the first voxel of a new zone */
            zone[v] = zones;
            levels[zones] = image[v];
            sizes[zones] = 0;
            zones++;
        }
        sizes[zone[r]]++;
    }
    free(parent);
    free(zone);
    return zones;
}

/* The box of mask voxels: [lo[d], hi[d]) per dimension (z, y, x). Nothing outside it is in
 * the mask, so zones and runs are the same within it. Returns 0 for an empty mask. */
static int mask_box(const uint8_t *mask, const Py_ssize_t *shape, Py_ssize_t lo[3], Py_ssize_t hi[3])
{
    const Py_ssize_t nz = shape[0], ny = shape[1], nx = shape[2];
    lo[0] = nz, lo[1] = ny, lo[2] = nx;
    hi[0] = hi[1] = hi[2] = 0;
    for (Py_ssize_t z = 0; z < nz; z++)
        for (Py_ssize_t y = 0; y < ny; y++) {
            const uint8_t *row = mask + (z * ny + y) * nx;
            Py_ssize_t f = 0;
            for (uint64_t word; f + 8 <= nx; f += 8) { /* empty stretches 8 bytes at a time */
                memcpy(&word, row + f, 8);
                if (word)
                    break;
            }
            while (f < nx && !row[f])
                f++;
            if (f == nx)
                continue;
            Py_ssize_t l = nx - 1;
            while (!row[l])
                l--;
            if (z < lo[0]) lo[0] = z;
            hi[0] = z + 1;
            if (y < lo[1]) lo[1] = y;
            if (y + 1 > hi[1]) hi[1] = y + 1;
            if (f < lo[2]) lo[2] = f;
            if (l + 1 > hi[2]) hi[2] = l + 1;
        }
    return hi[0] > 0;
}

/* Root of a run's zone (path halving). */
static inline int32_t run_root(int32_t *parent, int32_t i)
{
    while (parent[i] != i) {
        parent[i] = parent[parent[i]];
        i = parent[i];
    }
    return i;
}

/* label_zones by runs: the mask voxels of one gray level that follow each other along x
 * form a run (a single voxel when x does not connect); a run joins the runs of the same
 * gray level in the already scanned neighbouring rows (y - 1 in its slice, y - 1, y, y + 1
 * in the slice before) that touch it, diagonals included. Runs are numbered in memory
 * order of their first voxel and a zone's root is its smallest run, the one holding its
 * first voxel, so zones come out in the order of label_zones_voxels. Works within the mask's box,
 * with int32 run numbers (the caller checks the box holds fewer than 2^31 voxels).
 * Returns the number of zones, or -1 when out of memory. */
static Py_ssize_t label_zone_runs(const int32_t *image, const uint8_t *mask, const Py_ssize_t *shape,
                                  int skip_dim, const Py_ssize_t lo[3], const Py_ssize_t hi[3],
                                  int32_t *levels, int64_t *sizes)
{
    const Py_ssize_t ny = shape[1], nx = shape[2];
    const Py_ssize_t bz = hi[0] - lo[0], by = hi[1] - lo[1], bx = hi[2] - lo[2];
    const Py_ssize_t rows = bz * by, cap = rows * bx;
    int32_t *first = (int32_t *)malloc(sizeof(int32_t) * (size_t)(rows + 1));
    int32_t *start = (int32_t *)malloc(sizeof(int32_t) * (size_t)cap);
    int32_t *end = (int32_t *)malloc(sizeof(int32_t) * (size_t)cap); /* last voxel, inclusive */
    int32_t *level = (int32_t *)malloc(sizeof(int32_t) * (size_t)cap);
    int32_t *parent = (int32_t *)malloc(sizeof(int32_t) * (size_t)cap);
    if (!first || !start || !end || !level || !parent) {
        free(first), free(start), free(end), free(level), free(parent);
        return -1;
    }
    const int split = skip_dim == 2;  /* x does not connect: every voxel its own run */
    const int32_t reach = split ? 0 : 1; /* how far along x a touching run may lie */
    /* The rows scanned before that touch a row: (dz, dy). */
    int prev[4][2], np = 0;
    static const int cand[4][2] = {{-1, -1}, {-1, 0}, {-1, 1}, {0, -1}};
    for (int c = 0; c < 4; c++) {
        if ((skip_dim == 0 && cand[c][0]) || (skip_dim == 1 && cand[c][1]))
            continue;
        prev[np][0] = cand[c][0], prev[np][1] = cand[c][1];
        np++;
    }
    int32_t runs = 0;
    for (Py_ssize_t z = 0; z < bz; z++)
        for (Py_ssize_t y = 0; y < by; y++) {
            const Py_ssize_t r = z * by + y, base = ((z + lo[0]) * ny + (y + lo[1])) * nx + lo[2];
            const uint8_t *m = mask + base;
            const int32_t *im = image ? image + base : NULL;
            const int32_t row_first = runs;
            first[r] = runs;
            for (Py_ssize_t x = 0; x < bx;) {
                if (!m[x]) {
                    x++;
                    continue;
                }
                const int32_t g = im ? im[x] : 0;
                const Py_ssize_t x0 = x++;
                if (!split) {
                    if (im)
                        while (x < bx && m[x] && im[x] == g)
                            x++;
                    else
                        while (x < bx && m[x])
                            x++;
                }
                start[runs] = (int32_t)x0;
                end[runs] = (int32_t)(x - 1);
                level[runs] = g;
                parent[runs] = runs;
                runs++;
            }
            if (runs == row_first)
                continue;
            for (int p = 0; p < np; p++) {
                const Py_ssize_t pz = z + prev[p][0], py = y + prev[p][1];
                if (pz < 0 || py < 0 || py >= by)
                    continue;
                const Py_ssize_t pr = pz * by + py;
                int32_t j = first[pr];
                const int32_t j_end = first[pr + 1];
                for (int32_t i = row_first; i < runs && j < j_end; i++) {
                    const int32_t a = start[i] - reach, b = end[i] + reach, g = level[i];
                    while (j < j_end && end[j] < a)
                        j++;
                    int32_t rv = -1; /* the root of run i's zone, once looked up */
                    for (int32_t k = j; k < j_end && start[k] <= b; k++) {
                        if (level[k] != g)
                            continue;
                        if (rv < 0)
                            rv = run_root(parent, i);
                        if (parent[k] == rv)
                            continue; /* (a parent that is the root: already in the zone) */
                        const int32_t rk = run_root(parent, k);
                        if (rk < rv) {
                            parent[rv] = rk;
                            rv = rk;
                        } else if (rv < rk)
                            parent[rk] = rv;
                    }
                }
            }
        }
    first[rows] = runs;
    Py_ssize_t zones = 0;
    if (!levels) {
        for (int32_t i = 0; i < runs; i++)
            zones += parent[i] == i;
    } else {
        /* In run order, a run's parent is smaller and already points to its root; the
         * zone number of a root is kept in `start` (no longer needed once it is passed). */
        for (int32_t i = 0; i < runs; i++) {
            const int32_t length = end[i] - start[i] + 1;
            const int32_t p = parent[i];
            if (p == i) {
                levels[zones] = level[i];
                sizes[zones] = length;
                start[i] = (int32_t)zones;
                zones++;
            } else {
                const int32_t root = parent[p];
                parent[i] = root;
                sizes[start[root]] += length;
            }
        }
    }
    free(first), free(start), free(end), free(level), free(parent);
    return zones;
}

/* label_zones for short runs. In noisy images (filtered CT images binned finely) runs are
 * mostly 1-4 voxels long, and label_zone_runs spends its time in the unpredictable branches
 * of its scans over the neighbouring rows' runs. This labelling keeps the runs as the
 * union-find nodes (numbered in memory order, a zone's root its smallest run) but finds
 * their neighbours voxel by voxel, with comparisons the compiler vectorizes:
 *
 * The 13 neighbours scanned before a voxel are its left neighbour (in its run when of its
 * gray level) and those at x - 1, x, x + 1 in the rows A (z, y - 1), B0 (z - 1, y - 1),
 * B1 (z - 1, y) and B2 (z - 1, y + 1). Two of them that touch each other and have the
 * voxel's gray level are in one zone already (the later one joined the earlier when it was
 * scanned), so the voxel only joins one of each group of touching matches. A and B0 touch
 * each other like the cells of one row (any two cells at most one column apart touch), so
 * the matches in AB = A | B0, B1 and B2 form a 3x3 window in which touching is
 * 8-connectivity, and a table gives each window's groups (window_joins). Most voxels join
 * none (no match, or all their matches touch the left neighbour), and nearly every join
 * merges two zones.
 *
 * Each row is labelled in three passes: the match bits of its voxels, against copies of the
 * kept rows' gray levels holding a level absent from the mask outside it (so a match needs
 * no mask test); its runs (numbers and sizes) and the voxels that join, without branches
 * but the mask's; then those joins, union by smaller root, the sizes added into the root.
 * The zones are the roots in run order, the order of their first voxels. Memory: 4 bytes
 * per voxel of the box, and the kept rows. Returns the number of zones, -1 when out of
 * memory, or -4 when that level outside the mask (INT32_MIN) occurs inside it. */

/* The cells of m that are 8-connected to s (within m) in a 3x3 window of cells, bit
 * 3 * row + column. */
static uint32_t window_grow(uint32_t s, uint32_t m)
{
    for (;;) {
        uint32_t d = s | ((s << 1) & 0666u) | ((s >> 1) & 0333u); /* (none into the next row) */
        d = (d | (d << 3) | (d >> 3)) & m;
        if (d == s)
            return s;
        s = d;
    }
}

/* For each window of matches (bits 0-8: rows AB, B1, B2) with or without a matching left
 * neighbour (bit 9), the cells to join, one per group of touching matches, as nibbles
 * holding cell + 1. The left neighbour touches all of columns 0 and 1: the groups it
 * touches are in the voxel's zone already. At most 4 groups (the corners). */
static void window_joins(uint16_t table[1024])
{
    for (uint32_t w = 0; w < 1024; w++) {
        const uint32_t m = w & 0777u;
        uint32_t rest = w & 01000u ? m & ~window_grow(m & 0333u, m) : m, joins = 0;
        for (int n = 0; rest; n++) {
            const uint32_t seed = rest & (0u - rest);
            uint32_t cell = 0;
            while (!(seed >> cell & 1u))
                cell++;
            joins |= (cell + 1) << (4 * n);
            rest &= ~window_grow(seed, m);
        }
        table[w] = (uint16_t)joins;
    }
}

/* Nibble (cell + 1) -> the cell's column, and its row among A, B0, B1, B2: an AB cell's
 * run is A's when A matches there, B0's otherwise (the row is 1 minus A's match bit). */
static const uint8_t join_col[10] = {0, 0, 1, 2, 0, 1, 2, 0, 1, 2};
static const uint8_t join_row[10] = {0, 1, 1, 1, 2, 2, 2, 3, 3, 3};
static const uint8_t join_ab[10] = {0, 1, 1, 1, 0, 0, 0, 0, 0, 0};

static Py_ssize_t label_zone_window(const int32_t *image, const uint8_t *mask, const Py_ssize_t *shape,
                                    int skip_dim, const Py_ssize_t lo[3], const Py_ssize_t hi[3],
                                    int32_t *levels, int64_t *sizes)
{
    const Py_ssize_t ny = shape[1], nx = shape[2];
    const Py_ssize_t bz = hi[0] - lo[0], by = hi[1] - lo[1], bx = hi[2] - lo[2];
    const Py_ssize_t cap = bz * by * bx;
    const int32_t out = INT32_MIN; /* the gray level of the kept rows outside the mask */
    /* The rows A, B0, B1, B2 as (dz, dy); one across the dimension that does not connect
     * reads as a row outside the mask, like one outside the box. */
    static const int row_dz[4] = {0, -1, -1, -1}, row_dy[4] = {-1, -1, 0, 1};
    int connects[4];
    for (int p = 0; p < 4; p++)
        connects[p] = !((skip_dim == 0 && row_dz[p]) || (skip_dim == 1 && row_dy[p]));
    /* x not connecting: column x only and no left neighbour (every voxel its own run). */
    const uint32_t allow = skip_dim == 2 ? 04222u : 017777u;
    /* The kept rows: the current one and the by + 1 before (one when slices do not
     * connect), each padded with a voxel outside the mask at both ends, and a row wholly
     * outside it. */
    const Py_ssize_t ring = (bz > 1 && skip_dim != 0) ? by + 2 : 2, stride = bx + 2;
    int32_t *parent = (int32_t *)malloc(sizeof(int32_t) * (size_t)(cap + 1)); /* + 1: written ahead */
    /* Each run's gray level and size (its zone's once a root) go to the output arrays, which
     * hold an entry per voxel of the image and are compacted in place at the end: no more
     * fresh memory to fault in. Counting zones only, they go to scratch arrays. */
    int32_t *level = levels ? levels : (int32_t *)malloc(sizeof(int32_t) * (size_t)cap);
    int64_t *size = levels ? sizes : (int64_t *)malloc(sizeof(int64_t) * (size_t)cap);
    int32_t *ids = (int32_t *)malloc(sizeof(int32_t) * (size_t)((ring + 1) * stride)); /* runs, -1 outside */
    int32_t *lvs = (int32_t *)malloc(sizeof(int32_t) * (size_t)((ring + 1) * stride)); /* levels */
    uint32_t *bits = (uint32_t *)malloc(sizeof(uint32_t) * (size_t)bx);
    int32_t *joining = (int32_t *)malloc(sizeof(int32_t) * (size_t)bx);
    uint16_t table[1024];
    if (!parent || !level || !size || !ids || !lvs || !bits || !joining) {
        free(parent), free(ids), free(lvs), free(bits), free(joining);
        if (!levels)
            free(level), free(size);
        return -1;
    }
    window_joins(table);
    int32_t *out_ids = ids + ring * stride + 1, *out_lvs = lvs + ring * stride + 1;
    for (Py_ssize_t x = -1; x <= bx; x++)
        out_ids[x] = -1, out_lvs[x] = out;
    int32_t runs = 0, clash = 0;
    for (Py_ssize_t z = 0; z < bz && !clash; z++)
        for (Py_ssize_t y = 0; y < by; y++) {
            const Py_ssize_t r = z * by + y, base = ((z + lo[0]) * ny + (y + lo[1])) * nx + lo[2];
            const uint8_t *m = mask + base;
            int32_t *id = ids + (r % ring) * stride + 1, *lv = lvs + (r % ring) * stride + 1;
            id[-1] = id[bx] = -1;
            lv[-1] = lv[bx] = out;
            if (image) {
                const int32_t *im = image + base;
                for (Py_ssize_t x = 0; x < bx; x++) {
                    const int32_t v = im[x], inside = m[x] != 0;
                    lv[x] = inside ? v : out;
                    clash |= inside & (v == out);
                }
                if (clash)
                    break;
            } else
                for (Py_ssize_t x = 0; x < bx; x++)
                    lv[x] = m[x] ? 0 : out;
            const int32_t *row_id[4], *row_lv[4];
            for (int p = 0; p < 4; p++) {
                const Py_ssize_t pz = z + row_dz[p], py = y + row_dy[p];
                if (!connects[p] || pz < 0 || py < 0 || py >= by) {
                    row_id[p] = out_ids, row_lv[p] = out_lvs;
                    continue;
                }
                const Py_ssize_t o = ((r + row_dz[p] * by + row_dy[p]) % ring) * stride + 1;
                row_id[p] = ids + o, row_lv[p] = lvs + o;
            }
            /* Match bits: 0-2 AB at x - 1, x, x + 1, 3-5 B1, 6-8 B2, 9 left, 10-12 A. */
            const int32_t *la = row_lv[0], *lb0 = row_lv[1], *lb1 = row_lv[2], *lb2 = row_lv[3];
            for (Py_ssize_t x = 0; x < bx; x++) {
                const int32_t g = lv[x];
                const uint32_t a = (uint32_t)(la[x - 1] == g) | (uint32_t)(la[x] == g) << 1 | (uint32_t)(la[x + 1] == g) << 2;
                const uint32_t b0 = (uint32_t)(lb0[x - 1] == g) | (uint32_t)(lb0[x] == g) << 1 | (uint32_t)(lb0[x + 1] == g) << 2;
                const uint32_t b1 = (uint32_t)(lb1[x - 1] == g) | (uint32_t)(lb1[x] == g) << 1 | (uint32_t)(lb1[x + 1] == g) << 2;
                const uint32_t b2 = (uint32_t)(lb2[x - 1] == g) | (uint32_t)(lb2[x] == g) << 1 | (uint32_t)(lb2[x + 1] == g) << 2;
                const uint32_t left = lv[x - 1] == g;
                bits[x] = ((a | b0) | b1 << 3 | b2 << 6 | left << 9 | a << 10) & allow;
            }
            /* Runs: a voxel whose left neighbour does not match starts one. The next run's
             * parent is written ahead, and its size and level at every voxel. */
            Py_ssize_t start = 0;
            int32_t n = 0;
            for (Py_ssize_t x = 0; x < bx; x++) {
                if (!m[x]) {
                    id[x] = -1;
                    continue;
                }
                const uint32_t b = bits[x];
                const int32_t fresh = !(b & 01000u);
                parent[runs] = runs;
                runs += fresh;
                const int32_t run = runs - 1;
                start = fresh ? x : start;
                id[x] = run;
                size[run] = x - start + 1;
                level[run] = lv[x];
                joining[n] = (int32_t)x;
                n += table[b & 01777u] != 0;
            }
            /* Joins, in x order: a run's first one finds it still its own root. */
            int32_t rv = -1, last = -1; /* the root of run `last`'s zone */
            for (int32_t j = 0; j < n; j++) {
                const Py_ssize_t x = joining[j];
                const uint32_t b = bits[x];
                const int32_t run = id[x];
                rv = run == last ? rv : run;
                last = run;
                uint32_t cells = table[b & 01777u];
                do {
                    const uint32_t c = cells & 15u, col = join_col[c];
                    const int32_t k = row_id[join_row[c] - ((b >> (10 + col)) & join_ab[c])][x - 1 + (Py_ssize_t)col];
                    int32_t rk = parent[parent[k]]; /* (trees rarely get deeper) */
                    if (parent[rk] != rk)
                        rk = run_root(parent, rk);
                    const int32_t low = rk < rv ? rk : rv, high = rk < rv ? rv : rk;
                    const int64_t moved = rk != rv ? size[high] : 0;
                    parent[high] = low;
                    size[low] += moved;
                    rv = low;
                    cells >>= 4;
                } while (cells);
            }
        }
    Py_ssize_t zones = 0;
    if (clash)
        zones = -4;
    else if (!levels) {
        for (int32_t i = 0; i < runs; i++)
            zones += parent[i] == i;
    } else
        for (int32_t i = 0; i < runs; i++) { /* (zones <= i; without branches) */
            levels[zones] = level[i];
            sizes[zones] = size[i];
            zones += parent[i] == i;
        }
    free(parent), free(ids), free(lvs), free(bits), free(joining);
    if (!levels)
        free(level), free(size);
    return zones;
}

/* Voxels per run, on average, from which label_zone_runs is the faster: its work goes by
 * runs, label_zone_window's by voxels. */
#define LONG_RUNS 12

/* Whether the runs along x in 64 rows spread over the mask's box (all, in a smaller box)
 * hold LONG_RUNS voxels or more on average. */
static int runs_are_long(const int32_t *image, const uint8_t *mask, const Py_ssize_t *shape, int skip_dim,
                         const Py_ssize_t lo[3], const Py_ssize_t hi[3])
{
    if (skip_dim == 2)
        return 0; /* single voxels */
    const Py_ssize_t ny = shape[1], nx = shape[2], by = hi[1] - lo[1], bx = hi[2] - lo[2];
    const Py_ssize_t rows = (hi[0] - lo[0]) * by, step = rows / 64 + 1;
    Py_ssize_t voxels = 0, runs = 0;
    for (Py_ssize_t r = step / 2; r < rows; r += step) {
        const Py_ssize_t base = ((r / by + lo[0]) * ny + (r % by + lo[1])) * nx + lo[2];
        const uint8_t *m = mask + base;
        const int32_t *im = image ? image + base : NULL;
        for (Py_ssize_t x = 0; x < bx; x++) {
            voxels += m[x] != 0;
            runs += m[x] && (x == 0 || !m[x - 1] || (im && im[x] != im[x - 1]));
        }
    }
    return voxels >= LONG_RUNS * runs;
}

/* Labels all zones: by runs within the mask's box (label_zone_window for short runs), or
 * voxel by voxel for a box too large for int32 run numbers. Returns the number of zones,
 * or -1 when out of memory. */
static Py_ssize_t label_zones(const int32_t *image, const uint8_t *mask, const Py_ssize_t *shape,
                              int skip_dim, int32_t *levels, int64_t *sizes)
{
    Py_ssize_t lo[3], hi[3];
    if (!mask_box(mask, shape, lo, hi))
        return 0;
    const Py_ssize_t bz = hi[0] - lo[0], by = hi[1] - lo[1], bx = hi[2] - lo[2];
    if (bx >= INT32_MAX || by >= INT32_MAX / bx || bz >= (INT32_MAX - 1) / (by * bx))
        return label_zones_voxels(image, mask, shape, skip_dim, levels, sizes);
    Py_ssize_t zones = -4;
    if (!runs_are_long(image, mask, shape, skip_dim, lo, hi))
        zones = label_zone_window(image, mask, shape, skip_dim, lo, hi, levels, sizes);
    if (zones == -4) /* (also when the image holds INT32_MIN inside the mask) */
        zones = label_zone_runs(image, mask, shape, skip_dim, lo, hi, levels, sizes);
    return zones;
}

static PyObject *glszm_zones(PyObject *self, PyObject *args)
{
    PyObject *image_obj, *mask_obj, *levels_obj, *sizes_obj;
    Py_ssize_t shape[3];
    int skip_dim;
    Py_buffer image, mask, levels, sizes;
    Held held = {{NULL}, 0};
    if (!PyArg_ParseTuple(args, "OO(nnn)iOO:glszm_zones", &image_obj, &mask_obj,
                          &shape[0], &shape[1], &shape[2], &skip_dim, &levels_obj, &sizes_obj))
        return NULL;
    if (shape[0] < 0 || shape[1] < 0 || shape[2] < 0) {
        PyErr_SetString(PyExc_ValueError, "glszm_zones: negative shape");
        return NULL;
    }
    const Py_ssize_t n = shape[0] * shape[1] * shape[2];
    Py_ssize_t zones = -3; /* -3: a buffer was refused (error set); -2: sizes do not match */
    if (hold(&held, &image, image_obj, 4, "image (int32)", 0) == 0 &&
        hold(&held, &mask, mask_obj, 1, "mask (uint8)", 0) == 0 &&
        hold(&held, &levels, levels_obj, 4, "levels (int32)", 1) == 0 &&
        hold(&held, &sizes, sizes_obj, 8, "sizes (int64)", 1) == 0) {
        zones = -2;
        if (image.len / 4 == n && mask.len == n && levels.len / 4 >= n && sizes.len / 8 >= n) {
            Py_BEGIN_ALLOW_THREADS
            zones = label_zones((const int32_t *)image.buf, (const uint8_t *)mask.buf, shape, skip_dim,
                                (int32_t *)levels.buf, (int64_t *)sizes.buf);
            Py_END_ALLOW_THREADS
        }
    }
    release_held(&held);
    if (failed(zones, "glszm_zones: buffer sizes do not match the shape") < 0)
        return NULL;
    return PyLong_FromSsize_t(zones);
}


/* ---- shared by glcm, glrlm and ngtdm ---------------------------------------------- */

typedef struct {
    Py_buffer image, mask, angles, out;
    Held held;
    Py_ssize_t nz, ny, nx, na;
} Inputs;

/* Buffers for image (int32), mask (uint8), angles (int32, Na x 3) and the output (double,
 * per_angle * Na + fixed entries, zeroed here); gray levels in the mask must be 1..Ng. */
static int acquire(Inputs *in, PyObject *image, PyObject *mask, const Py_ssize_t *shape, PyObject *angles,
                   PyObject *out, int Ng, Py_ssize_t per_angle, Py_ssize_t fixed)
{
    if (Ng < 1) {
        PyErr_SetString(PyExc_ValueError, "Ng must be at least 1");
        return -1;
    }
    if (hold(&in->held, &in->image, image, 4, "image (int32)", 0) < 0 ||
        hold(&in->held, &in->mask, mask, 1, "mask (uint8)", 0) < 0 ||
        hold(&in->held, &in->angles, angles, 4, "angles (int32)", 0) < 0 ||
        hold(&in->held, &in->out, out, 8, "out (float64)", 1) < 0)
        return -1;
    in->nz = shape[0];
    in->ny = shape[1];
    in->nx = shape[2];
    in->na = in->angles.len / 12;
    const Py_ssize_t n = in->nz * in->ny * in->nx, out_len = per_angle * in->na + fixed;
    if (in->nz < 0 || in->ny < 0 || in->nx < 0 || in->image.len / 4 != n || in->mask.len != n ||
        in->angles.len % 12 || in->out.len / 8 < out_len) {
        PyErr_SetString(PyExc_ValueError, "buffer sizes do not match the shape");
        return -1;
    }
    const int32_t *img = (const int32_t *)in->image.buf;
    const uint8_t *msk = (const uint8_t *)in->mask.buf;
    /* Whether any mask voxel is outside 1..Ng (without branches, so it vectorises), then
     * which is the first. */
    int bad = 0;
    for (Py_ssize_t i = 0; i < n; i++)
        bad |= (msk[i] != 0) & ((uint32_t)img[i] - 1u >= (uint32_t)Ng);
    for (Py_ssize_t i = 0; bad && i < n; i++)
        if (msk[i] && (img[i] < 1 || img[i] > Ng)) {
            PyErr_Format(PyExc_IndexError, "gray level %d outside 1..%d inside the mask", (int)img[i], Ng);
            return -1;
        }
    const int32_t *ang = (const int32_t *)in->angles.buf;
    for (Py_ssize_t a = 0; a < in->na; a++) {
        const Py_ssize_t reach_of[3] = {in->nz, in->ny, in->nx};
        int moves = 0;
        for (int d = 0; d < 3; d++) {
            if (ang[3 * a + d] <= -reach_of[d] || ang[3 * a + d] >= reach_of[d]) {
                PyErr_SetString(PyExc_ValueError, "an angle reaches past the image");
                return -1;
            }
            moves |= ang[3 * a + d] != 0;
        }
        if (!moves) {
            PyErr_SetString(PyExc_ValueError, "an angle does not move");
            return -1;
        }
    }
    memset(in->out.buf, 0, (size_t)out_len * sizeof(double));
    return 0;
}

#define MAX_ANGLES 1024

/* The mask's box padded by the reach of the angles, where GLCM and NGTDM look for
 * neighbours without bounds checks: every neighbour of a box voxel along a used angle is
 * inside the padded box, and 0 (not in the mask) when outside the image or the box. An
 * angle that moves at least a box's extent in some dimension never joins two mask voxels
 * and is not used (nothing to count); the others reach at most extent - 1 beyond the box. */
typedef struct {
    Py_ssize_t lo[3], b[3];  /* the box: first voxel and extents (z, y, x) */
    Py_ssize_t pad[3], p[3]; /* padding per side and padded extents */
    Py_ssize_t nu;           /* used angles: their indices and offsets in the padded box */
    Py_ssize_t used[MAX_ANGLES], off[MAX_ANGLES];
} Padded;

/* Fills `pb` for the mask of `in`; returns 0 for an empty mask (or no usable angle). */
static int padded_box(const Inputs *in, Padded *pb)
{
    const Py_ssize_t shape[3] = {in->nz, in->ny, in->nx};
    const int32_t *ang = (const int32_t *)in->angles.buf;
    Py_ssize_t hi[3];
    if (!mask_box((const uint8_t *)in->mask.buf, shape, pb->lo, hi))
        return 0;
    for (int d = 0; d < 3; d++) {
        pb->b[d] = hi[d] - pb->lo[d];
        pb->pad[d] = 0;
    }
    pb->nu = 0;
    for (Py_ssize_t a = 0; a < in->na; a++) {
        int usable = 1;
        for (int d = 0; d < 3; d++) {
            const Py_ssize_t v = ang[3 * a + d] < 0 ? -(Py_ssize_t)ang[3 * a + d] : ang[3 * a + d];
            usable &= v < pb->b[d];
        }
        if (!usable)
            continue;
        for (int d = 0; d < 3; d++) {
            const Py_ssize_t v = ang[3 * a + d] < 0 ? -(Py_ssize_t)ang[3 * a + d] : ang[3 * a + d];
            if (v > pb->pad[d]) pb->pad[d] = v;
        }
        pb->used[pb->nu++] = a;
    }
    for (int d = 0; d < 3; d++)
        pb->p[d] = pb->b[d] + 2 * pb->pad[d];
    for (Py_ssize_t u = 0; u < pb->nu; u++) {
        const int32_t *o = ang + 3 * pb->used[u];
        pb->off[u] = ((Py_ssize_t)o[0] * pb->p[1] + o[1]) * pb->p[2] + o[2];
    }
    return pb->nu > 0;
}

/* Index in the padded box of box voxel (z, y, 0). */
static inline Py_ssize_t padded_row(const Padded *pb, Py_ssize_t z, Py_ssize_t y)
{
    return ((z + pb->pad[0]) * pb->p[1] + (y + pb->pad[1])) * pb->p[2] + pb->pad[2];
}

/* The padded box as one compact array: flag | gray level for mask voxels, 0 elsewhere.
 * Returns NULL when out of memory. */
#define DEFINE_PADDED_FILL(T, NAME)                                                                    \
    static T *NAME(const Inputs *in, const Padded *pb, T flag)                                         \
    {                                                                                                  \
        const int32_t *img = (const int32_t *)in->image.buf;                                           \
        const uint8_t *msk = (const uint8_t *)in->mask.buf;                                            \
        T *lab = (T *)calloc((size_t)(pb->p[0] * pb->p[1] * pb->p[2]), sizeof(T));                     \
        if (!lab)                                                                                      \
            return NULL;                                                                               \
        for (Py_ssize_t z = 0; z < pb->b[0]; z++)                                                      \
            for (Py_ssize_t y = 0; y < pb->b[1]; y++) {                                                \
                const Py_ssize_t src = ((z + pb->lo[0]) * in->ny + (y + pb->lo[1])) * in->nx + pb->lo[2]; \
                const int32_t *im = img + src;                                                         \
                const uint8_t *m = msk + src;                                                          \
                T *l = lab + padded_row(pb, z, y);                                                     \
                for (Py_ssize_t x = 0; x < pb->b[2]; x++)                                              \
                    l[x] = (T)((T)(flag | (T)im[x]) * (T)(m[x] != 0));                                 \
            }                                                                                          \
        return lab;                                                                                    \
    }

DEFINE_PADDED_FILL(uint8_t, padded_u8)
DEFINE_PADDED_FILL(uint16_t, padded_u16)
DEFINE_PADDED_FILL(uint32_t, padded_u32)
DEFINE_PADDED_FILL(uint64_t, padded_u64)

/* ---- GLCM: glcm[i-1, j-1, a] counts voxel pairs (gray level i at v, j at v + angle a) -- */

/* Counts of a group of G angles go to compact tables tab[g][i * W + j] (W = Ng + 1, level 0:
 * not in the mask), incremented for every box voxel without branches or edge checks; a
 * group's tables (at most about 1 MB, up to GROUP angles) stay in the cache, where the
 * double matrix of a volume (megabytes, the angles of a pair interleaved) did not, and the
 * G increments per voxel are independent. Each group walks the compact image once.
 * Tables are added into the matrix before a count could pass 2^32 - 1. Gray levels that
 * make a table larger than TABLE_MAX, or than the box (clearing and reading the tables
 * would cost more than they save), are counted straight into the matrix. */
#define TABLE_BYTES (1 << 20)
#define TABLE_MAX ((size_t)1 << 26)
#define SEGMENT ((Py_ssize_t)1 << 30)

/* Adds the G tables of angles `used` into the matrix. */
static void glcm_add(double *glcm, const uint32_t *tab, Py_ssize_t G, const Py_ssize_t *used, int Ng,
                     Py_ssize_t na)
{
    const Py_ssize_t W = (Py_ssize_t)Ng + 1, WW = W * W;
    for (Py_ssize_t i = 1; i < W; i++)
        for (Py_ssize_t j = 1; j < W; j++) {
            double *e = glcm + ((i - 1) * Ng + (j - 1)) * na;
            for (Py_ssize_t g = 0; g < G; g++) {
                const uint32_t k = tab[g * WW + i * W + j];
                if (k) e[used[g]] += (double)k;
            }
        }
}

/* Counts one row's pairs for a group of G (1 to GROUP) angles, table g at tab + g * W * W;
 * written out for each G, so that tables and neighbours stay in registers. */
#define GROUP 4
#define GLCM_CASE(K)                                                                                   \
    case K:                                                                                            \
        for (Py_ssize_t x = x0; x < x1; x++) {                                                         \
            const Py_ssize_t i = (Py_ssize_t)c[x] * W;                                                 \
            for (int g = 0; g < K; g++)                                                                \
                t[g][i + n[g][x]]++;                                                                   \
        }                                                                                              \
        break;
#define DEFINE_GLCM_ROW(T, NAME)                                                                       \
    static inline void NAME(uint32_t *tab, const T *c, const Py_ssize_t *off, Py_ssize_t G,            \
                            Py_ssize_t W, Py_ssize_t x0, Py_ssize_t x1)                                \
    {                                                                                                  \
        uint32_t *t[GROUP];                                                                            \
        const T *n[GROUP];                                                                             \
        for (Py_ssize_t g = 0; g < GROUP; g++) {                                                       \
            t[g] = tab + (g < G ? g : 0) * W * W;                                                      \
            n[g] = c + off[g < G ? g : 0];                                                             \
        }                                                                                              \
        switch (G) {                                                                                   \
            GLCM_CASE(1)                                                                               \
            GLCM_CASE(2)                                                                               \
            GLCM_CASE(3)                                                                               \
            GLCM_CASE(4)                                                                               \
        }                                                                                              \
    }

DEFINE_GLCM_ROW(uint8_t, glcm_walk_u8_row)
DEFINE_GLCM_ROW(uint16_t, glcm_walk_u16_row)
DEFINE_GLCM_ROW(uint32_t, glcm_walk_u32_row)

#define DEFINE_GLCM_WALK(T, NAME)                                                                      \
    static int NAME(const Inputs *in, const Padded *pb, const T *lab, int Ng)                          \
    {                                                                                                  \
        double *glcm = (double *)in->out.buf;                                                          \
        const Py_ssize_t na = in->na, W = (Py_ssize_t)Ng + 1, WW = W * W;                              \
        const Py_ssize_t bz = pb->b[0], by = pb->b[1], bx = pb->b[2];                                  \
        if ((size_t)WW * sizeof(uint32_t) > TABLE_MAX || WW > bz * by * bx) { /* into the matrix */   \
            for (Py_ssize_t z = 0; z < bz; z++)                                                        \
                for (Py_ssize_t y = 0; y < by; y++) {                                                  \
                    const T *c = lab + padded_row(pb, z, y);                                           \
                    for (Py_ssize_t x = 0; x < bx; x++) {                                              \
                        if (!c[x]) continue;                                                           \
                        double *row = glcm + (Py_ssize_t)(c[x] - 1) * Ng * na;                         \
                        for (Py_ssize_t u = 0; u < pb->nu; u++) {                                      \
                            const T j = c[x + pb->off[u]];                                             \
                            if (j) row[(Py_ssize_t)(j - 1) * na + pb->used[u]] += 1;                   \
                        }                                                                              \
                    }                                                                                  \
                }                                                                                      \
            return 0;                                                                                  \
        }                                                                                              \
        Py_ssize_t gmax = TABLE_BYTES / (WW * (Py_ssize_t)sizeof(uint32_t));                           \
        if (gmax < 1) gmax = 1;                                                                        \
        if (gmax > GROUP) gmax = GROUP;                                                                \
        if (gmax > pb->nu) gmax = pb->nu;                                                              \
        uint32_t *tab = (uint32_t *)malloc((size_t)(gmax * WW) * sizeof(uint32_t));                    \
        if (!tab)                                                                                      \
            return -1;                                                                                 \
        const Py_ssize_t groups = (pb->nu + gmax - 1) / gmax; /* of sizes differing by 1 at most */  \
        for (Py_ssize_t k = 0, u0 = 0, G; k < groups; k++, u0 += G) {                                  \
            G = (pb->nu - u0) / (groups - k);                                                          \
            const Py_ssize_t *off = pb->off + u0;                                                      \
            memset(tab, 0, (size_t)(G * WW) * sizeof(uint32_t));                                       \
            Py_ssize_t pending = 0; /* voxels counted since the tables were added */                   \
            for (Py_ssize_t z = 0; z < bz; z++)                                                        \
                for (Py_ssize_t y = 0; y < by; y++)                                                    \
                    for (Py_ssize_t x0 = 0; x0 < bx; x0 += SEGMENT) {                                  \
                        const Py_ssize_t x1 = bx - x0 < SEGMENT ? bx : x0 + SEGMENT;                   \
                        if (pending + (x1 - x0) > (Py_ssize_t)UINT32_MAX) { /* before a count wraps */ \
                            glcm_add(glcm, tab, G, pb->used + u0, Ng, na);                             \
                            memset(tab, 0, (size_t)(G * WW) * sizeof(uint32_t));                       \
                            pending = 0;                                                               \
                        }                                                                              \
                        const T *c = lab + padded_row(pb, z, y);                                       \
                        NAME##_row(tab, c, off, G, W, x0, x1);                                         \
                        pending += x1 - x0;                                                            \
                    }                                                                                  \
            glcm_add(glcm, tab, G, pb->used + u0, Ng, na);                                             \
        }                                                                                              \
        free(tab);                                                                                     \
        return 0;                                                                                      \
    }

DEFINE_GLCM_WALK(uint8_t, glcm_walk_u8)
DEFINE_GLCM_WALK(uint16_t, glcm_walk_u16)
DEFINE_GLCM_WALK(uint32_t, glcm_walk_u32)

/* Within the mask's padded box, on a compact 1, 2 or 4 byte image (0 outside the mask).
 * Counts are exact in any order. Returns -1 when out of memory. */
static int glcm_fill(const Inputs *in, int Ng)
{
    Padded pb;
    if (!padded_box(in, &pb))
        return 0; /* no pairs: the matrix stays 0 */
    int status = -1;
    if (Ng < 256) {
        uint8_t *lab = padded_u8(in, &pb, 0);
        if (lab) status = glcm_walk_u8(in, &pb, lab, Ng);
        free(lab);
    } else if (Ng < 65536) {
        uint16_t *lab = padded_u16(in, &pb, 0);
        if (lab) status = glcm_walk_u16(in, &pb, lab, Ng);
        free(lab);
    } else {
        uint32_t *lab = padded_u32(in, &pb, 0);
        if (lab) status = glcm_walk_u32(in, &pb, lab, Ng);
        free(lab);
    }
    return status;
}

/* ---- NGTDM: per gray level i: [voxels, sum of |i - mean of their neighbours|, i] ------- */

/* Mask voxels hold (1 << K) | level, other voxels 0, so one integer sum over neighbours
 * gives how many are in the mask (from bit K up) and the sum of their levels (below bit
 * K), for a whole row at once. Integer sums are exact in any order, so they equal
 * pyradiomics' running double sums; the quotients and absolute differences are
 * pyradiomics' double arithmetic, computed for a row at once, then added to the gray
 * levels' sums voxel by voxel in ascending index order, as pyradiomics adds them.
 *
 * When the angles are every offset of a box but 0 (distances 1..d: 26 neighbours in 3D,
 * 8 in a plane), a voxel's neighbours are its box minus itself, and box sums are
 * separable: sums along x of each row, of those along y for each plane (a ring of the
 * planes a box spans), and of those planes along z, from the image and mask directly.
 * Other angles add each angle's row of a padded compact copy of the mask's box. */

/* The differences of a row, 4 voxels at a time (SSE2, part of x86-64), the same double
 * operations as the scalar loop (ngtdm_row): exact conversions, correctly rounded
 * quotients and differences, the sign cleared, 0 without neighbours. Returns how many
 * voxels it did. */
#if defined(__SSE2__)
#include <emmintrin.h>
static Py_ssize_t ngtdm_fast_u32(double *restrict diff, const uint32_t *restrict sum, const uint32_t *restrict c,
                                 Py_ssize_t n, int K)
{
    const __m128i low = _mm_set1_epi32((int)((1u << K) - 1)), shift = _mm_cvtsi32_si128(K);
    const __m128d sign = _mm_set1_pd(-0.0);
    Py_ssize_t x = 0;
    for (; x + 4 <= n; x += 4) {
        const __m128i s = _mm_loadu_si128((const __m128i *)(sum + x));
        const __m128i count = _mm_srl_epi32(s, shift), none = _mm_cmpeq_epi32(count, _mm_setzero_si128());
        __m128i divisor = _mm_sub_epi32(count, none); /* count, or 1 when none */
        __m128i total = _mm_and_si128(s, low);
        __m128i level = _mm_and_si128(_mm_loadu_si128((const __m128i *)(c + x)), low);
        __m128i zero64 = _mm_unpacklo_epi32(none, none);
        for (int h = 0; h < 2; h++) {
            const __m128d mean = _mm_div_pd(_mm_cvtepi32_pd(total), _mm_cvtepi32_pd(divisor));
            const __m128d d = _mm_andnot_pd(sign, _mm_sub_pd(_mm_cvtepi32_pd(level), mean));
            _mm_storeu_pd(diff + x + 2 * h, _mm_andnot_pd(_mm_castsi128_pd(zero64), d));
            divisor = _mm_srli_si128(divisor, 8);
            total = _mm_srli_si128(total, 8);
            level = _mm_srli_si128(level, 8);
            zero64 = _mm_unpackhi_epi32(none, none);
        }
    }
    return x;
}
#else
static Py_ssize_t ngtdm_fast_u32(double *diff, const uint32_t *sum, const uint32_t *c, Py_ssize_t n, int K)
{
    return 0;
}
#endif
static Py_ssize_t ngtdm_fast_u64(double *diff, const uint64_t *sum, const uint64_t *c, Py_ssize_t n, int K)
{
    return 0; /* the scalar loop */
}

#define DEFINE_NGTDM(T, S, SUF)                                                                        \
    static __attribute__((noinline)) void ngtdm_add_##SUF(T *restrict sum, const T *restrict a,        \
                                                          Py_ssize_t n)                                \
    {                                                                                                  \
        for (Py_ssize_t x = 0; x < n; x++)                                                             \
            sum[x] += a[x];                                                                            \
    }                                                                                                  \
    /* One row of the mask's box packed: (1 << K) | level in the mask, else 0. */                      \
    static void ngtdm_pack_##SUF(T *restrict row, const int32_t *restrict im, const uint8_t *restrict m, \
                                 Py_ssize_t n, T flag)                                                 \
    {                                                                                                  \
        for (Py_ssize_t x = 0; x < n; x++)                                                             \
            row[x] = (T)((flag | (T)im[x]) * (T)(m[x] != 0));                                          \
    }                                                                                                  \
    /* Differences for a row from its neighbours' sums `sum` and its packed voxels `c`; then      \
     * added, in order, for the voxels in the mask. */                                                 \
    static void ngtdm_row_##SUF(double *ngtdm, double *restrict diff, const T *restrict sum,          \
                                const T *restrict c, Py_ssize_t n, int K)                              \
    {                                                                                                  \
        const T low = ((T)1 << K) - 1;                                                                 \
        for (Py_ssize_t x = ngtdm_fast_##SUF(diff, sum, c, n, K); x < n; x++) {                        \
            const S count = (S)(sum[x] >> K), total = (S)(sum[x] & low), level = (S)(c[x] & low);     \
            const double mean = (double)total / (double)(count + (count == 0));                        \
            diff[x] = fabs((double)level - mean) * (double)(count != 0); /* times 1, or 0 */          \
        }                                                                                              \
        for (Py_ssize_t x = 0; x < n; x++) /* in order */                                              \
            if (c[x]) {                                                                                \
                double *e = ngtdm + (Py_ssize_t)((c[x] & low) - 1) * 3;                                \
                e[0] += 1;                                                                             \
                e[1] += diff[x];                                                                       \
            }                                                                                          \
    }                                                                                                  \
    /* Any angles: on the padded box (lab). */                                                         \
    static int ngtdm_angles_##SUF(const Inputs *in, const Padded *pb, int K)                           \
    {                                                                                                  \
        double *ngtdm = (double *)in->out.buf;                                                         \
        const Py_ssize_t bz = pb->b[0], by = pb->b[1], bx = pb->b[2];                                  \
        T *lab = padded_##SUF(in, pb, (T)1 << K);                                                      \
        T *sum = (T *)malloc((size_t)bx * sizeof(T));                                                  \
        double *diff = (double *)malloc((size_t)bx * sizeof(double));                                  \
        int status = -1;                                                                               \
        if (lab && sum && diff) {                                                                      \
            for (Py_ssize_t z = 0; z < bz; z++)                                                        \
                for (Py_ssize_t y = 0; y < by; y++) {                                                  \
                    const T *c = lab + padded_row(pb, z, y);                                           \
                    memcpy(sum, c + pb->off[0], (size_t)bx * sizeof(T));                               \
                    for (Py_ssize_t u = 1; u < pb->nu; u++)                                            \
                        ngtdm_add_##SUF(sum, c + pb->off[u], bx);                                      \
                    ngtdm_row_##SUF(ngtdm, diff, sum, c, bx, K);                                       \
                }                                                                                      \
            status = 0;                                                                                \
        }                                                                                              \
        free(lab);                                                                                     \
        free(sum);                                                                                     \
        free(diff);                                                                                    \
        return status;                                                                                 \
    }                                                                                                  \
    /* A box of offsets (the padding) but 0: box sums minus the voxel itself. */                       \
    static int ngtdm_box_##SUF(const Inputs *in, const Padded *pb, int K)                              \
    {                                                                                                  \
        double *ngtdm = (double *)in->out.buf;                                                         \
        const int32_t *img = (const int32_t *)in->image.buf;                                           \
        const uint8_t *msk = (const uint8_t *)in->mask.buf;                                            \
        const Py_ssize_t bz = pb->b[0], by = pb->b[1], bx = pb->b[2];                                  \
        const Py_ssize_t pz = pb->pad[0], py = pb->pad[1], px = pb->pad[2];                            \
        const Py_ssize_t R = 2 * pz + 1, plane = by * bx;                                              \
        const T flag = (T)1 << K;                                                                      \
        T *ring = (T *)malloc((size_t)(R * plane) * sizeof(T)); /* plane sums over x and y */          \
        T *xs = (T *)malloc((size_t)((by + 2 * py) * bx) * sizeof(T)); /* row sums over x */           \
        T *prow = (T *)calloc((size_t)(bx + 2 * px), sizeof(T));    /* a row, padded along x */        \
        T *sum = (T *)malloc((size_t)bx * sizeof(T)), *c = (T *)malloc((size_t)bx * sizeof(T));       \
        double *diff = (double *)malloc((size_t)bx * sizeof(double));                                  \
        int status = -1;                                                                               \
        if (!ring || !xs || !prow || !sum || !c || !diff)                                              \
            goto done;                                                                                 \
        for (Py_ssize_t zp = 0; zp < bz + 2 * pz; zp++) {                                              \
            const Py_ssize_t zb = zp - pz; /* the plane's z in the box */                              \
            T *q = ring + (zp % R) * plane;                                                            \
            if (zb < 0 || zb >= bz)                                                                    \
                memset(q, 0, (size_t)plane * sizeof(T));                                               \
            else {                                                                                     \
                for (Py_ssize_t yp = 0; yp < by + 2 * py; yp++) {                                      \
                    T *xr = xs + yp * bx;                                                              \
                    const Py_ssize_t yb = yp - py;                                                     \
                    if (yb < 0 || yb >= by) {                                                          \
                        memset(xr, 0, (size_t)bx * sizeof(T));                                         \
                        continue;                                                                      \
                    }                                                                                  \
                    const Py_ssize_t src = ((zb + pb->lo[0]) * in->ny + (yb + pb->lo[1])) * in->nx + pb->lo[2]; \
                    ngtdm_pack_##SUF(prow + px, img + src, msk + src, bx, flag);                       \
                    memcpy(xr, prow, (size_t)bx * sizeof(T));                                          \
                    for (Py_ssize_t k = 1; k <= 2 * px; k++)                                           \
                        ngtdm_add_##SUF(xr, prow + k, bx);                                             \
                }                                                                                      \
                for (Py_ssize_t y = 0; y < by; y++) {                                                  \
                    memcpy(q + y * bx, xs + y * bx, (size_t)bx * sizeof(T));                           \
                    for (Py_ssize_t k = 1; k <= 2 * py; k++)                                           \
                        ngtdm_add_##SUF(q + y * bx, xs + (y + k) * bx, bx);                            \
                }                                                                                      \
            }                                                                                          \
            if (zp < 2 * pz)                                                                           \
                continue;                                                                              \
            /* the ring holds the planes around box plane zp - 2 pz */                                 \
            const Py_ssize_t z = zp - 2 * pz;                                                          \
            for (Py_ssize_t y = 0; y < by; y++) {                                                      \
                memcpy(sum, ring + y * bx, (size_t)bx * sizeof(T));                                    \
                for (Py_ssize_t k = 1; k < R; k++)                                                     \
                    ngtdm_add_##SUF(sum, ring + k * plane + y * bx, bx);                               \
                const Py_ssize_t src = ((z + pb->lo[0]) * in->ny + (y + pb->lo[1])) * in->nx + pb->lo[2]; \
                ngtdm_pack_##SUF(c, img + src, msk + src, bx, flag);                                   \
                for (Py_ssize_t x = 0; x < bx; x++) /* not the voxel itself */                         \
                    sum[x] -= c[x];                                                                    \
                ngtdm_row_##SUF(ngtdm, diff, sum, c, bx, K);                                           \
            }                                                                                          \
        }                                                                                              \
        status = 0;                                                                                    \
    done:                                                                                              \
        free(ring);                                                                                    \
        free(xs);                                                                                      \
        free(prow);                                                                                    \
        free(sum);                                                                                     \
        free(c);                                                                                       \
        free(diff);                                                                                    \
        return status;                                                                                 \
    }

DEFINE_NGTDM(uint32_t, int32_t, u32)
DEFINE_NGTDM(uint64_t, int64_t, u64)

/* Whether the used angles are every offset of the padding's box but 0, each once. */
static int box_of_offsets(const Inputs *in, const Padded *pb)
{
    const int32_t *ang = (const int32_t *)in->angles.buf;
    const Py_ssize_t wz = 2 * pb->pad[0] + 1, wy = 2 * pb->pad[1] + 1, wx = 2 * pb->pad[2] + 1;
    if (wz * wy * wx - 1 != pb->nu) /* nu <= MAX_ANGLES, so the box is small */
        return 0;
    uint8_t seen[MAX_ANGLES + 1] = {0};
    for (Py_ssize_t u = 0; u < pb->nu; u++) {
        const int32_t *o = ang + 3 * pb->used[u];
        const Py_ssize_t k = ((o[0] + pb->pad[0]) * wy + (o[1] + pb->pad[1])) * wx + (o[2] + pb->pad[2]);
        if (seen[k]++)
            return 0;
    }
    return 1;
}

/* Returns -1 when out of memory. */
static int ngtdm_fill(const Inputs *in, int Ng)
{
    double *ngtdm = (double *)in->out.buf;
    for (int gl = 0; gl < Ng; gl++)
        ngtdm[gl * 3 + 2] = gl + 1;
    Padded pb;
    if (!padded_box(in, &pb)) {
        /* no neighbours in the mask: each mask voxel adds 1 and a difference of 0 */
        const uint8_t *msk = (const uint8_t *)in->mask.buf;
        const int32_t *img = (const int32_t *)in->image.buf;
        const Py_ssize_t n = in->nz * in->ny * in->nx;
        for (Py_ssize_t i = 0; i < n; i++)
            if (msk[i])
                ngtdm[(img[i] - 1) * 3] += 1;
        return 0;
    }
    /* Bits for the count of voxels summed (at most nu + 1, with the voxel itself) above
     * bits for the sum of their levels: 32 bits in all when enough, else 64. */
    int cbits = 1;
    while (((Py_ssize_t)1 << cbits) <= pb.nu + 1)
        cbits++;
    const int box = box_of_offsets(in, &pb);
    if ((uint64_t)(pb.nu + 1) * (uint64_t)Ng < ((uint64_t)1 << (32 - cbits)))
        return box ? ngtdm_box_u32(in, &pb, 32 - cbits) : ngtdm_angles_u32(in, &pb, 32 - cbits);
    /* nu < 2^10, Ng < 2^31: the sum of levels needs at most 42 bits */
    return box ? ngtdm_box_u64(in, &pb, 63 - cbits) : ngtdm_angles_u64(in, &pb, 63 - cbits);
}

/* ---- GLRLM: glrlm[i-1, length-1, a] counts runs of gray level i along angle a ---------- */

/* Whether some line along (dz, dy, dx) (pointing to higher indices) holds two mask
 * voxels: pyradiomics keeps an angle only then. Needed only when every run has length 1
 * (a longer run already answers it). Returns -1 when out of memory. */
static int line_with_two(const uint8_t *msk, Py_ssize_t nz, Py_ssize_t ny, Py_ssize_t nx, int dz, int dy, int dx)
{
    const Py_ssize_t n = nz * ny * nx, step = ((Py_ssize_t)dz * ny + dy) * nx + dx;
    uint8_t *seen = (uint8_t *)malloc((size_t)(n > 0 ? n : 1)); /* a mask voxel at or before, on the line */
    if (!seen)
        return -1;
    int found = 0;
    for (Py_ssize_t z = 0; z < nz && !found; z++)
        for (Py_ssize_t y = 0; y < ny; y++) {
            const int back_zy = INSIDE(z, -dz, nz) && INSIDE(y, -dy, ny);
            for (Py_ssize_t x = 0; x < nx; x++) {
                const Py_ssize_t v = (z * ny + y) * nx + x;
                const int before = back_zy && INSIDE(x, -dx, nx) && seen[v - step];
                found |= msk[v] && before;
                seen[v] = msk[v] || before;
            }
        }
    free(seen);
    return found;
}

/* Further steps a line from coordinate c can take by d within 0..n-1 (d = 0: no limit). */
static inline Py_ssize_t steps_left(Py_ssize_t c, int d, Py_ssize_t n)
{
    if (d == 1) return n - 1 - c;
    if (d == -1) return c;
    if (d > 0) return (n - 1 - c) / d;
    if (d < 0) return c / -d;
    return PY_SSIZE_T_MAX;
}

/* Runs of one angle over the gray levels `lab` of a box (0 outside the mask): every line
 * along (dz, dy, dx) is walked from its first voxel, keeping the row of the counts for the
 * current run's length, and each run is counted at its end into counts[length * W + level]
 * (level 0: runs outside the mask, not wanted). The update is unconditional, adding 0
 * inside a run, so the walk does not branch on the image (about 4x faster than a branch,
 * or than indexing by a running length, on a 3D volume). Returns the longest run. */
#define DEFINE_RUN_WALK(T, NAME)                                                                       \
    static Py_ssize_t NAME(const T *lab, Py_ssize_t nz, Py_ssize_t ny, Py_ssize_t nx, int dz, int dy, \
                           int dx, int64_t *counts, Py_ssize_t W)                                     \
    {                                                                                                  \
        const Py_ssize_t step = ((Py_ssize_t)dz * ny + dy) * nx + dx;                                  \
        int64_t *top = counts; /* the row of the longest run */                                        \
        for (Py_ssize_t z = 0; z < nz; z++)                                                            \
            for (Py_ssize_t y = 0; y < ny; y++) {                                                      \
                Py_ssize_t xa, xb; /* the x of the lines that start in this row */                     \
                if (!(INSIDE(z, -dz, nz) && INSIDE(y, -dy, ny)))                                       \
                    xa = 0, xb = nx;                                                                   \
                else if (dx > 0)                                                                       \
                    xa = 0, xb = dx < nx ? dx : nx;                                                    \
                else if (dx < 0)                                                                       \
                    xa = nx + dx > 0 ? nx + dx : 0, xb = nx;                                           \
                else                                                                                   \
                    continue;                                                                          \
                Py_ssize_t lzy = steps_left(z, dz, nz), ly = steps_left(y, dy, ny);                    \
                if (ly < lzy) lzy = ly;                                                                \
                for (Py_ssize_t x = xa; x < xb; x++) {                                                 \
                    Py_ssize_t last = steps_left(x, dx, nx);                                           \
                    if (lzy < last) last = lzy;                                                        \
                    const T *p = lab + (z * ny + y) * nx + x;                                          \
                    int64_t *row = counts; /* the counts of runs as long as the current one */         \
                    T prev = 0;                                                                        \
                    for (Py_ssize_t k = 0; k <= last; k++, p += step) {                                \
                        const T g = *p;                                                                \
                        const int same = g == prev;                                                    \
                        row[prev] += !same;                                                            \
                        top = row > top ? row : top;                                                   \
                        row = same ? row + W : counts + W;                                             \
                        prev = g;                                                                      \
                    }                                                                                  \
                    row[prev]++;                                                                       \
                    top = row > top ? row : top;                                                       \
                }                                                                                      \
            }                                                                                          \
        return (top - counts) / W;                                                                     \
    }

DEFINE_RUN_WALK(uint8_t, run_walk_u8)
DEFINE_RUN_WALK(uint16_t, run_walk_u16)
DEFINE_RUN_WALK(int32_t, run_walk_i32)

/* A run is the same set of voxels walked either way, so each angle is oriented to point to
 * higher indices. Within the box of the mask (lines outside it hold no mask voxel), the
 * gray levels are copied into one compact array, 0 outside the mask, and every line of
 * each angle is walked from its start (run_walk). Counts go to a compact integer table
 * per angle, length-major (the double matrix of a volume is megabytes, and scattered
 * increments into it missed the cache), copied into the matrix afterwards.
 * Returns -1 when out of memory. */
static int glrlm_fill(const Inputs *in, int Ng, Py_ssize_t Nr)
{
    const int32_t *img = (const int32_t *)in->image.buf, *ang = (const int32_t *)in->angles.buf;
    const uint8_t *msk = (const uint8_t *)in->mask.buf;
    double *glrlm = (double *)in->out.buf;
    const Py_ssize_t nz = in->nz, ny = in->ny, nx = in->nx, na = in->na;
    const Py_ssize_t shape[3] = {nz, ny, nx};
    Py_ssize_t lo[3], hi[3];
    if (!mask_box(msk, shape, lo, hi))
        return 0; /* no runs: every angle dropped, the matrix stays 0 */
    const Py_ssize_t bz = hi[0] - lo[0], by = hi[1] - lo[1], bx = hi[2] - lo[2], bn = bz * by * bx;
    const int width = Ng < 256 ? 1 : Ng < 65536 ? 2 : 4;
    void *lab = malloc((size_t)bn * (size_t)width);
    const Py_ssize_t W = (Py_ssize_t)Ng + 1; /* levels 0..Ng, lengths 0..Nr */
    int64_t *counts = (int64_t *)calloc((size_t)W * (size_t)(Nr + 1), sizeof(int64_t));
    if (!lab || !counts) {
        free(lab);
        free(counts);
        return -1;
    }
    for (Py_ssize_t z = 0; z < bz; z++)
        for (Py_ssize_t y = 0; y < by; y++) {
            const Py_ssize_t src = ((z + lo[0]) * ny + (y + lo[1])) * nx + lo[2], dst = (z * by + y) * bx;
            const int32_t *im = img + src;
            const uint8_t *m = msk + src;
            if (width == 1) {
                uint8_t *l = (uint8_t *)lab + dst;
                for (Py_ssize_t x = 0; x < bx; x++)
                    l[x] = (uint8_t)((uint8_t)im[x] * (m[x] != 0));
            } else if (width == 2) {
                uint16_t *l = (uint16_t *)lab + dst;
                for (Py_ssize_t x = 0; x < bx; x++)
                    l[x] = (uint16_t)((uint16_t)im[x] * (m[x] != 0));
            } else {
                int32_t *l = (int32_t *)lab + dst;
                for (Py_ssize_t x = 0; x < bx; x++)
                    l[x] = im[x] * (m[x] != 0);
            }
        }
    int status = 0;
    for (Py_ssize_t a = 0; a < na; a++) {
        int dz = ang[3 * a], dy = ang[3 * a + 1], dx = ang[3 * a + 2];
        if (dz < 0 || (dz == 0 && (dy < 0 || (dy == 0 && dx < 0))))
            dz = -dz, dy = -dy, dx = -dx;
        Py_ssize_t longest;
        if (width == 1)
            longest = run_walk_u8((const uint8_t *)lab, bz, by, bx, dz, dy, dx, counts, W);
        else if (width == 2)
            longest = run_walk_u16((const uint16_t *)lab, bz, by, bx, dz, dy, dx, counts, W);
        else
            longest = run_walk_i32((const int32_t *)lab, bz, by, bx, dz, dy, dx, counts, W);
        /* pyradiomics keeps an angle only when some line holds two mask voxels: certainly
         * when a run is longer than 1, else looked for when there is a run at all. */
        int longer = 0, single = 0;
        for (Py_ssize_t len = 2; len <= longest && !longer; len++)
            for (Py_ssize_t gl = 1; gl <= Ng; gl++)
                longer |= counts[len * W + gl] != 0;
        for (Py_ssize_t gl = 1; gl <= Ng && !longer; gl++)
            single |= counts[W + gl] != 0;
        int keep = longer;
        if (!keep && single) {
            keep = line_with_two(msk, nz, ny, nx, dz, dy, dx);
            if (keep < 0) {
                status = -1;
                break;
            }
        }
        for (Py_ssize_t len = 1; len <= longest; len++)
            for (Py_ssize_t gl = 1; gl <= Ng && keep; gl++) {
                const int64_t c = counts[len * W + gl];
                if (c)
                    glrlm[((gl - 1) * Nr + len - 1) * na + a] = (double)c;
            }
        memset(counts, 0, sizeof(int64_t) * (size_t)W * (size_t)(longest + 1));
    }
    free(lab);
    free(counts);
    return status;
}

/* glcm/glrlm/ngtdm(image, mask, shape, angles, Ng, [Nr,] out) -> None */
static PyObject *matrix(PyObject *args, int kind)
{
    PyObject *image, *mask, *angles, *out;
    Py_ssize_t shape[3], Nr = 0;
    int Ng, ok = 0;
    Inputs in;
    memset(&in, 0, sizeof in);
    if (kind == 1) {
        if (!PyArg_ParseTuple(args, "OO(nnn)OinO:glrlm", &image, &mask, &shape[0], &shape[1], &shape[2],
                              &angles, &Ng, &Nr, &out))
            return NULL;
        if (Nr < 1) {
            PyErr_SetString(PyExc_ValueError, "Nr must be at least 1");
            return NULL;
        }
    } else if (!PyArg_ParseTuple(args, kind ? "OO(nnn)OiO:ngtdm" : "OO(nnn)OiO:glcm", &image, &mask,
                                 &shape[0], &shape[1], &shape[2], &angles, &Ng, &out))
        return NULL;
    const Py_ssize_t per_angle = kind == 0 ? (Py_ssize_t)Ng * Ng : kind == 1 ? (Py_ssize_t)Ng * Nr : 0;
    if (acquire(&in, image, mask, shape, angles, out, Ng, per_angle, kind == 2 ? (Py_ssize_t)Ng * 3 : 0) == 0) {
        if (in.na > MAX_ANGLES)
            PyErr_SetString(PyExc_ValueError, "too many angles");
        else if (kind == 1 && Nr < (in.nz > in.ny ? (in.nz > in.nx ? in.nz : in.nx) : (in.ny > in.nx ? in.ny : in.nx)))
            PyErr_SetString(PyExc_ValueError, "Nr is shorter than the longest line");
        else {
            int status = 0;
            Py_BEGIN_ALLOW_THREADS
            if (kind == 0) status = glcm_fill(&in, Ng);
            else if (kind == 1) status = glrlm_fill(&in, Ng, Nr);
            else status = ngtdm_fill(&in, Ng);
            Py_END_ALLOW_THREADS
            if (status < 0) PyErr_NoMemory();
            else ok = 1;
        }
    }
    release_held(&in.held);
    if (!ok) return NULL;
    Py_RETURN_NONE;
}

static PyObject *glcm(PyObject *self, PyObject *args) { return matrix(args, 0); }
static PyObject *glrlm(PyObject *self, PyObject *args) { return matrix(args, 1); }
static PyObject *ngtdm(PyObject *self, PyObject *args) { return matrix(args, 2); }

/* ---- GLCM diagonals and marginals: p_{x+y}, p_{x-y}, p_x, p_y ------------------------ */

/* sums[k-2, a] = sum of P[i, j, a] over gray levels g_i + g_j = k, diffs[k, a] over
 * |g_i - g_j| = k, px[i, a] over j and py[j, a] over i, each added in row-major (i, j)
 * order starting from 0. That is numpy's order when there are several angles: boolean
 * indexing gathers a diagonal in row-major order and numpy sums it with one running sum
 * per angle; P.sum(2) and P.sum(1) run over j (resp. i) in ascending order whatever P's
 * layout, again one running sum per angle. (A single angle would be summed pairwise, so
 * the caller keeps numpy for that case.) Returns -1 for a gray level outside 1..Ng. */
static int diagonals_fill(const double *P, const int64_t *grey, Py_ssize_t n, Py_ssize_t na, int64_t Ng,
                          int j_outer, double *sums, double *diffs, double *px, double *py)
{
    for (Py_ssize_t i = 0; i < n; i++)
        if (grey[i] < 1 || grey[i] > Ng)
            return -1;
    memset(sums, 0, sizeof(double) * (size_t)((2 * Ng - 1) * na));
    memset(diffs, 0, sizeof(double) * (size_t)(Ng * na));
    memset(px, 0, sizeof(double) * (size_t)(n * na));
    memset(py, 0, sizeof(double) * (size_t)(n * na));
    for (Py_ssize_t i = 0; i < n; i++)
        for (Py_ssize_t j = 0; j < n; j++) {
            const double *p = P + (j_outer ? j * n + i : i * n + j) * na;
            double *s = sums + (grey[i] + grey[j] - 2) * na;
            double *d = diffs + (grey[i] > grey[j] ? grey[i] - grey[j] : grey[j] - grey[i]) * na;
            double *x = px + i * na, *y = py + j * na;
            for (Py_ssize_t a = 0; a < na; a++) {
                s[a] += p[a];
                d[a] += p[a];
                x[a] += p[a];
                y[a] += p[a];
            }
        }
    return 0;
}

/* glcm_diagonals(P, grey, na, Ng, j_outer, sums, diffs, px, py) -> None; P in memory order,
 * j_outer when its columns (j) are outermost in memory. */
static PyObject *glcm_diagonals(PyObject *self, PyObject *args)
{
    PyObject *P_obj, *grey_obj, *sums_obj, *diffs_obj, *px_obj, *py_obj;
    Py_ssize_t na;
    long long Ng;
    int j_outer;
    Py_buffer P, grey, sums, diffs, px, py;
    Held held = {{NULL}, 0};
    int status = -3; /* -3: a buffer was refused (error set); -2: sizes do not match */
    if (!PyArg_ParseTuple(args, "OOnLpOOOO:glcm_diagonals", &P_obj, &grey_obj, &na, &Ng, &j_outer, &sums_obj,
                          &diffs_obj, &px_obj, &py_obj))
        return NULL;
    if (hold(&held, &P, P_obj, 8, "P (float64)", 0) == 0 &&
        hold(&held, &grey, grey_obj, 8, "grey (int64)", 0) == 0 &&
        hold(&held, &sums, sums_obj, 8, "sums (float64)", 1) == 0 &&
        hold(&held, &diffs, diffs_obj, 8, "diffs (float64)", 1) == 0 &&
        hold(&held, &px, px_obj, 8, "px (float64)", 1) == 0 &&
        hold(&held, &py, py_obj, 8, "py (float64)", 1) == 0) {
        const Py_ssize_t n = grey.len / 8;
        status = -2;
        if (na >= 1 && Ng >= 1 && P.len / 8 == n * n * na && sums.len / 8 == (2 * Ng - 1) * na &&
            diffs.len / 8 == Ng * na && px.len / 8 == n * na && py.len / 8 == n * na) {
            Py_BEGIN_ALLOW_THREADS
            status = diagonals_fill((const double *)P.buf, (const int64_t *)grey.buf, n, na, (int64_t)Ng, j_outer,
                                    (double *)sums.buf, (double *)diffs.buf, (double *)px.buf, (double *)py.buf);
            Py_END_ALLOW_THREADS
        }
    }
    release_held(&held);
    if (status == -1) { /* (diagonals_fill's -1: a gray level out of range) */
        PyErr_SetString(PyExc_IndexError, "glcm_diagonals: a gray level outside 1..Ng");
        return NULL;
    }
    if (failed(status, "glcm_diagonals: buffer sizes do not match") < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- binning: numpy.digitize of the mask voxels ---------------------------------------- */

/* out[i] = the number of edges <= values[i] for mask voxels (numpy.digitize with increasing
 * edges, i.e. searchsorted(edges, v, side="right")), 0 outside the mask. The arithmetic
 * guess from the first edge and the width is only a starting point: the index is then moved
 * until the comparisons with the actual edges hold, so the result is exact. Returns -1 for a
 * NaN (numpy orders NaN after every edge; the caller leaves that case to numpy). */
static int digitize_fill(const double *values, const uint8_t *mask, Py_ssize_t n, const double *edges,
                         Py_ssize_t ne, double width, int64_t *out)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!mask[i]) {
            out[i] = 0;
            continue;
        }
        const double v = values[i];
        if (v != v)
            return -1;
        double guess = (v - edges[0]) / width + 1.0;
        Py_ssize_t k = guess < 0.0 ? 0 : guess > (double)ne ? ne : (Py_ssize_t)guess;
        while (k > 0 && edges[k - 1] > v)
            k--;
        while (k < ne && edges[k] <= v)
            k++;
        out[i] = k;
    }
    return 0;
}

/* digitize(values, mask, edges, width, out) -> True, or False when a NaN was met */
static PyObject *digitize(PyObject *self, PyObject *args)
{
    PyObject *values_obj, *mask_obj, *edges_obj, *out_obj;
    double width;
    Py_buffer values, mask, edges, out;
    Held held = {{NULL}, 0};
    int status = -3;
    if (!PyArg_ParseTuple(args, "OOOdO:digitize", &values_obj, &mask_obj, &edges_obj, &width, &out_obj))
        return NULL;
    if (hold(&held, &values, values_obj, 8, "values (float64)", 0) == 0 &&
        hold(&held, &mask, mask_obj, 1, "mask (uint8)", 0) == 0 &&
        hold(&held, &edges, edges_obj, 8, "edges (float64)", 0) == 0 &&
        hold(&held, &out, out_obj, 8, "out (int64)", 1) == 0) {
        const Py_ssize_t n = values.len / 8;
        status = -2;
        if (mask.len == n && out.len / 8 == n && edges.len >= 8 && width > 0) {
            Py_BEGIN_ALLOW_THREADS
            status = digitize_fill((const double *)values.buf, (const uint8_t *)mask.buf, n,
                                   (const double *)edges.buf, edges.len / 8, width, (int64_t *)out.buf);
            Py_END_ALLOW_THREADS
        }
    }
    release_held(&held);
    if (failed(status < -1 ? status : 0, "digitize: buffer sizes do not match, or no edges, or width <= 0") < 0) /* -1: a NaN / an empty angle */
        return NULL;
    return PyBool_FromLong(status == 0);
}

/* ---- per-angle sums of a dense block ------------------------------------------------- */

/* out[a] = 0 + mem[a] + mem[na + a] + mem[2 na + a] + ... in memory order: what numpy's
 * sum over every axis but the last does for an array laid out densely with the last axis
 * (several angles) innermost. numpy then iterates in memory order with the angles as its
 * inner loop, one running sum per angle, starting from the identity 0. */
/* max_mode: out[a] = the largest mem[k * na + a] as numpy's maximum reduces (from the first
 * element; a NaN wins and stays). */
static PyObject *angle_reduce(PyObject *args, int max_mode)
{
    PyObject *mem_obj, *out_obj;
    Py_buffer mem, out;
    Held held = {{NULL}, 0};
    int status = -3;
    if (!PyArg_ParseTuple(args, max_mode ? "OO:angle_max" : "OO:angle_sums", &mem_obj, &out_obj))
        return NULL;
    if (hold(&held, &mem, mem_obj, 8, "mem (float64)", 0) == 0 &&
        hold(&held, &out, out_obj, 8, "out (float64)", 1) == 0) {
        const Py_ssize_t na = out.len / 8, n = mem.len / 8;
        status = -2;
        if (na >= 1 && n % na == 0 && (!max_mode || n > 0)) {
            const double *m = (const double *)mem.buf;
            double *o = (double *)out.buf;
            Py_BEGIN_ALLOW_THREADS
            if (max_mode) {
                for (Py_ssize_t a = 0; a < na; a++)
                    o[a] = m[a];
                for (Py_ssize_t k = na; k < n; k += na)
                    for (Py_ssize_t a = 0; a < na; a++)
                        o[a] = (o[a] >= m[k + a] || o[a] != o[a]) ? o[a] : m[k + a];
            } else {
                for (Py_ssize_t a = 0; a < na; a++)
                    o[a] = 0.0;
                for (Py_ssize_t k = 0; k < n; k += na)
                    for (Py_ssize_t a = 0; a < na; a++)
                        o[a] += m[k + a];
            }
            Py_END_ALLOW_THREADS
            status = 0;
        }
    }
    release_held(&held);
    if (failed(status, "angle_sums/angle_max: the block is not a whole number of angle rows") < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *angle_sums(PyObject *self, PyObject *args) { return angle_reduce(args, 0); }
static PyObject *angle_max(PyObject *self, PyObject *args) { return angle_reduce(args, 1); }

/* ---- GLCM: normalised symmetric matrix, means and joint entropy ------------------------ */

/* out (n x n x na, in memory order: j outermost when j_outer) = (c[g_i, g_j, a] + c[g_j, g_i, a])
 * / total[a], from the counts c (Ng x Ng x na) of the gray levels grey that occur: what
 * pyradiomics' deletion of the empty levels, symmetric sum and normalisation give. Every
 * value is an exact integer until the one division, so the result does not depend on any
 * order. Returns -1 when an angle has no pair (pyradiomics then deletes it: left to it). */
static int normalise_fill(const double *c, const int64_t *grey, Py_ssize_t n, Py_ssize_t na, int64_t Ng,
                          int j_outer, double *out)
{
    double total[MAX_ANGLES];
    for (Py_ssize_t a = 0; a < na; a++)
        total[a] = 0.0;
    for (Py_ssize_t k = 0; k < Ng * Ng * na; k += na)
        for (Py_ssize_t a = 0; a < na; a++)
            total[a] += c[k + a];
    for (Py_ssize_t a = 0; a < na; a++) {
        if (total[a] == 0.0)
            return -1;
        total[a] *= 2.0;
    }
    for (Py_ssize_t o = 0; o < n; o++)
        for (Py_ssize_t q = 0; q < n; q++) {
            const int64_t gi = j_outer ? grey[q] : grey[o], gj = j_outer ? grey[o] : grey[q];
            const double *cij = c + ((gi - 1) * Ng + gj - 1) * na, *cji = c + ((gj - 1) * Ng + gi - 1) * na;
            double *dst = out + (o * n + q) * na;
            for (Py_ssize_t a = 0; a < na; a++)
                dst[a] = (cij[a] + cji[a]) / total[a];
        }
    return 0;
}

/* glcm_normalise(counts, grey, na, Ng, j_outer, out) -> bool (False: an empty angle) */
static PyObject *glcm_normalise(PyObject *self, PyObject *args)
{
    PyObject *c_obj, *grey_obj, *out_obj;
    Py_ssize_t na;
    long long Ng;
    int j_outer;
    Py_buffer c, grey, out;
    Held held = {{NULL}, 0};
    int status = -3;
    if (!PyArg_ParseTuple(args, "OOnLpO:glcm_normalise", &c_obj, &grey_obj, &na, &Ng, &j_outer, &out_obj))
        return NULL;
    if (hold(&held, &c, c_obj, 8, "counts (float64)", 0) == 0 &&
        hold(&held, &grey, grey_obj, 8, "grey (int64)", 0) == 0 &&
        hold(&held, &out, out_obj, 8, "out (float64)", 1) == 0) {
        const Py_ssize_t n = grey.len / 8;
        status = -2;
        int levels_ok = 1;
        for (Py_ssize_t i = 0; i < n; i++)
            levels_ok &= ((const int64_t *)grey.buf)[i] >= 1 && ((const int64_t *)grey.buf)[i] <= Ng;
        if (na >= 1 && na <= MAX_ANGLES && Ng >= 1 && levels_ok && c.len / 8 == Ng * Ng * na &&
            out.len / 8 == n * n * na) {
            Py_BEGIN_ALLOW_THREADS
            status = normalise_fill((const double *)c.buf, (const int64_t *)grey.buf, n, na, (int64_t)Ng, j_outer,
                                    (double *)out.buf);
            Py_END_ALLOW_THREADS
        }
    }
    release_held(&held);
    if (failed(status < -1 ? status : 0, "glcm_normalise: buffer sizes or gray levels do not match") < 0) /* -1: a NaN / an empty angle */
        return NULL;
    return PyBool_FromLong(status == 0);
}

/* ux[a], uy[a], hxy[a]: sums over (i, j) of g_i * P, g_j * P and P * L in P's memory order
 * (j outermost when j_outer), from 0: numpy's sums of pyradiomics' products i * P, j * P
 * and P * log2(P + eps), which have P's layout (L, numpy's log2, is passed in). */
static PyObject *glcm_means(PyObject *self, PyObject *args)
{
    PyObject *P_obj, *L_obj, *grey_obj, *ux_obj, *uy_obj, *hxy_obj;
    int j_outer;
    Py_buffer P, L, grey, ux, uy, hxy;
    Held held = {{NULL}, 0};
    int status = -3;
    if (!PyArg_ParseTuple(args, "OOOpOOO:glcm_means", &P_obj, &L_obj, &grey_obj, &j_outer, &ux_obj, &uy_obj, &hxy_obj))
        return NULL;
    if (hold(&held, &P, P_obj, 8, "P (float64)", 0) == 0 && hold(&held, &L, L_obj, 8, "L (float64)", 0) == 0 &&
        hold(&held, &grey, grey_obj, 8, "grey (float64)", 0) == 0 &&
        hold(&held, &ux, ux_obj, 8, "ux (float64)", 1) == 0 && hold(&held, &uy, uy_obj, 8, "uy (float64)", 1) == 0 &&
        hold(&held, &hxy, hxy_obj, 8, "hxy (float64)", 1) == 0) {
        const Py_ssize_t n = grey.len / 8, na = ux.len / 8;
        status = -2;
        if (na >= 1 && P.len == L.len && P.len / 8 == n * n * na && uy.len / 8 == na && hxy.len / 8 == na) {
            const double *p = (const double *)P.buf, *l = (const double *)L.buf, *g = (const double *)grey.buf;
            double *x = (double *)ux.buf, *y = (double *)uy.buf, *h = (double *)hxy.buf;
            Py_BEGIN_ALLOW_THREADS
            for (Py_ssize_t a = 0; a < na; a++)
                x[a] = y[a] = h[a] = 0.0;
            for (Py_ssize_t o = 0; o < n; o++)
                for (Py_ssize_t q = 0; q < n; q++) {
                    const double gi = j_outer ? g[q] : g[o], gj = j_outer ? g[o] : g[q];
                    const Py_ssize_t k = (o * n + q) * na;
                    for (Py_ssize_t a = 0; a < na; a++) {
                        x[a] += gi * p[k + a];
                        y[a] += gj * p[k + a];
                        h[a] += p[k + a] * l[k + a];
                    }
                }
            Py_END_ALLOW_THREADS
            status = 0;
        }
    }
    release_held(&held);
    if (failed(status, "glcm_means: buffer sizes do not match") < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- GLCM feature sums ------------------------------------------------------------------
 * pyradiomics sums products of P with weights over (i, j). numpy lays a product out as P when
 * the weight does not span both gray level axes (then it sums in P's memory order), and in
 * row-major (i, j) order when it does (a C-ordered operand wins a conflict of layouts); it
 * sums per angle from 0. Every product is formed as pyradiomics forms it, element by element. */

/* Row-major sums. rows of out (7 x na): sum P * T2[k], P * T3[k], P * T4[k] (k = g_i + g_j - 2,
 * the cluster terms), P * (g_i * g_j), P * |g_i - g_j|^2, P * L, pxpy * L (L and pxpy C-ordered
 * n x n x na). */
static void glcm_row_major(const double *P, int j_outer, const double *g, Py_ssize_t n, Py_ssize_t na,
                           const double *T2, const double *T3, const double *T4, const double *pxpy,
                           const double *L, double *out)
{
    double *ct = out, *cs = out + na, *cp = out + 2 * na, *ac = out + 3 * na, *con = out + 4 * na;
    double *h1 = out + 5 * na, *h2 = out + 6 * na;
    for (Py_ssize_t a = 0; a < 7 * na; a++)
        out[a] = 0.0;
    for (Py_ssize_t i = 0; i < n; i++)
        for (Py_ssize_t j = 0; j < n; j++) {
            const double *p = P + (j_outer ? j * n + i : i * n + j) * na;
            const Py_ssize_t k = ((Py_ssize_t)g[i] + (Py_ssize_t)g[j] - 2) * na, c = (i * n + j) * na;
            const double w_ac = g[i] * g[j], d = fabs(g[i] - g[j]), w_con = d * d;
            for (Py_ssize_t a = 0; a < na; a++) {
                const double pa = p[a];
                ct[a] += pa * T2[k + a];
                cs[a] += pa * T3[k + a];
                cp[a] += pa * T4[k + a];
                ac[a] += pa * w_ac;
                con[a] += pa * w_con;
                h1[a] += pa * L[c + a];
                h2[a] += pxpy[c + a] * L[c + a];
            }
        }
}

/* Memory-order sums. rows of out (4 x na): sum P * P, P * (g_i - ux)^2, P * (g_j - uy)^2,
 * (P * (g_i - ux)) * (g_j - uy). */
static void glcm_memory_order(const double *P, int j_outer, const double *g, Py_ssize_t n, Py_ssize_t na,
                              const double *ux, const double *uy, double *out)
{
    double *ene = out, *sx = out + na, *sy = out + 2 * na, *cor = out + 3 * na;
    for (Py_ssize_t a = 0; a < 4 * na; a++)
        out[a] = 0.0;
    for (Py_ssize_t o = 0; o < n; o++)
        for (Py_ssize_t q = 0; q < n; q++) {
            const double gi = j_outer ? g[q] : g[o], gj = j_outer ? g[o] : g[q];
            const double *p = P + (o * n + q) * na;
            for (Py_ssize_t a = 0; a < na; a++) {
                const double pa = p[a], di = gi - ux[a], dj = gj - uy[a];
                ene[a] += pa * pa;
                sx[a] += pa * (di * di);
                sy[a] += pa * (dj * dj);
                cor[a] += (pa * di) * dj;
            }
        }
}

/* glcm_feature_sums(P, j_outer, grey, T2, T3, T4, pxpy, L, ux, uy, row_major_out, memory_out) */
static PyObject *glcm_feature_sums(PyObject *self, PyObject *args)
{
    PyObject *o[11];
    int j_outer;
    Py_buffer P, g, T2, T3, T4, pxpy, L, ux, uy, rm, mo;
    Held held = {{NULL}, 0};
    int status = -3;
    if (!PyArg_ParseTuple(args, "OpOOOOOOOOOO:glcm_feature_sums", &o[0], &j_outer, &o[1], &o[2], &o[3], &o[4],
                          &o[5], &o[6], &o[7], &o[8], &o[9], &o[10]))
        return NULL;
    if (hold(&held, &P, o[0], 8, "P (float64)", 0) == 0 && hold(&held, &g, o[1], 8, "grey (float64)", 0) == 0 &&
        hold(&held, &T2, o[2], 8, "T2 (float64)", 0) == 0 && hold(&held, &T3, o[3], 8, "T3 (float64)", 0) == 0 &&
        hold(&held, &T4, o[4], 8, "T4 (float64)", 0) == 0 && hold(&held, &pxpy, o[5], 8, "pxpy (float64)", 0) == 0 &&
        hold(&held, &L, o[6], 8, "L (float64)", 0) == 0 && hold(&held, &ux, o[7], 8, "ux (float64)", 0) == 0 &&
        hold(&held, &uy, o[8], 8, "uy (float64)", 0) == 0 && hold(&held, &rm, o[9], 8, "row_major (float64)", 1) == 0 &&
        hold(&held, &mo, o[10], 8, "memory (float64)", 1) == 0) {
        const Py_ssize_t n = g.len / 8, na = ux.len / 8;
        status = -2;
        const double *gv = (const double *)g.buf;
        Py_ssize_t K = 0; /* the cluster tables cover every g_i + g_j - 2 */
        int ok = na >= 1 && n >= 1 && P.len / 8 == n * n * na && pxpy.len == P.len && L.len == P.len &&
                 uy.len == ux.len && rm.len / 8 == 7 * na && mo.len / 8 == 4 * na && T3.len == T2.len &&
                 T4.len == T2.len && T2.len % (8 * na) == 0;
        if (ok) {
            K = T2.len / 8 / na;
            for (Py_ssize_t i = 0; i < n; i++)
                ok &= gv[i] >= 1 && gv[i] == (double)(Py_ssize_t)gv[i] && 2 * (Py_ssize_t)gv[i] - 2 < K;
        }
        if (ok) {
            Py_BEGIN_ALLOW_THREADS
            glcm_row_major((const double *)P.buf, j_outer, gv, n, na, (const double *)T2.buf, (const double *)T3.buf,
                           (const double *)T4.buf, (const double *)pxpy.buf, (const double *)L.buf, (double *)rm.buf);
            glcm_memory_order((const double *)P.buf, j_outer, gv, n, na, (const double *)ux.buf,
                              (const double *)uy.buf, (double *)mo.buf);
            Py_END_ALLOW_THREADS
            status = 0;
        }
    }
    release_held(&held);
    if (failed(status, "glcm_feature_sums: buffer sizes or gray levels do not match") < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* count_parts(mask, shape) -> the number of fully connected parts of a uint8 mask (26
 * neighbours in 3D, 8 in a single slice): the zones of an image of one gray level. */
static PyObject *count_parts(PyObject *self, PyObject *args)
{
    PyObject *mask_obj;
    Py_ssize_t shape[3];
    Py_buffer mask;
    Held held = {{NULL}, 0};
    Py_ssize_t parts = -3;
    if (!PyArg_ParseTuple(args, "O(nnn):count_parts", &mask_obj, &shape[0], &shape[1], &shape[2]))
        return NULL;
    if (shape[0] < 0 || shape[1] < 0 || shape[2] < 0) {
        PyErr_SetString(PyExc_ValueError, "count_parts: negative shape");
        return NULL;
    }
    if (hold(&held, &mask, mask_obj, 1, "mask (uint8)", 0) == 0) {
        parts = -2;
        if (mask.len == shape[0] * shape[1] * shape[2]) {
            Py_BEGIN_ALLOW_THREADS
            parts = label_zones(NULL, (const uint8_t *)mask.buf, shape, -1, NULL, NULL);
            Py_END_ALLOW_THREADS
        }
    }
    release_held(&held);
    if (failed(parts, "count_parts: the mask does not match the shape") < 0)
        return NULL;
    return PyLong_FromSsize_t(parts);
}

/* ---- first-order sums in numpy's pairwise order ------------------------------------------
 * numpy adds a contiguous float64 row pairwise: runs of up to 128 values in 8 interleaved
 * accumulators, longer runs split in two halves (the first a multiple of 8 long), a run
 * shorter than 8 added in turn to -0.0; the reduction then adds that to its starting 0.
 * first_order_sums reproduces that order for several element-wise terms of the voxel
 * values at once (the same splits serve all), so each equals numpy's sum of the array
 * pyradiomics builds for it. */

#define FO_TERMS 4
typedef struct {
    double mean, shift, p10, p90;
} FOParams;

/* The terms of voxel value x: (x + shift)^2, |x - mean|, (x - mean)^2, and x when it lies
 * within [p10, p90] (else 0; kept is 1 then), each as pyradiomics' numpy expression forms it. */
static inline void fo_terms(double x, const FOParams *p, double *t, int *kept)
{
    const double s = x + p->shift, d = x - p->mean;
    *kept = !((x - p->p10) < 0 || (x - p->p90) > 0);
    t[0] = s * s;
    t[1] = fabs(d);
    t[2] = d * d;
    t[3] = *kept ? x : 0.0;
}

static void fo_pairwise(const double *x, Py_ssize_t n, const FOParams *p, double *out, int64_t *kept_count)
{
    double t[FO_TERMS];
    int kept;
    if (n < 8) {
        for (int k = 0; k < FO_TERMS; k++)
            out[k] = -0.0;
        for (Py_ssize_t i = 0; i < n; i++) {
            fo_terms(x[i], p, t, &kept);
            *kept_count += kept;
            for (int k = 0; k < FO_TERMS; k++)
                out[k] += t[k];
        }
    } else if (n <= 128) {
        double r[FO_TERMS][8];
        for (int j = 0; j < 8; j++) {
            fo_terms(x[j], p, t, &kept);
            *kept_count += kept;
            for (int k = 0; k < FO_TERMS; k++)
                r[k][j] = t[k];
        }
        Py_ssize_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) {
                fo_terms(x[i + j], p, t, &kept);
                *kept_count += kept;
                for (int k = 0; k < FO_TERMS; k++)
                    r[k][j] += t[k];
            }
        for (int k = 0; k < FO_TERMS; k++)
            out[k] = ((r[k][0] + r[k][1]) + (r[k][2] + r[k][3])) + ((r[k][4] + r[k][5]) + (r[k][6] + r[k][7]));
        for (; i < n; i++) {
            fo_terms(x[i], p, t, &kept);
            *kept_count += kept;
            for (int k = 0; k < FO_TERMS; k++)
                out[k] += t[k];
        }
    } else {
        Py_ssize_t n2 = n / 2;
        n2 -= n2 % 8;
        double a[FO_TERMS], b[FO_TERMS];
        fo_pairwise(x, n2, p, a, kept_count);
        fo_pairwise(x + n2, n - n2, p, b, kept_count);
        for (int k = 0; k < FO_TERMS; k++)
            out[k] = a[k] + b[k];
    }
}

/* The robust term: |x - robust_mean| for values within [p10, p90], else 0. */
static inline double robust_term(double x, const FOParams *p, double robust_mean)
{
    return ((x - p->p10) < 0 || (x - p->p90) > 0) ? 0.0 : fabs(x - robust_mean);
}

static double robust_pairwise(const double *x, Py_ssize_t n, const FOParams *p, double m)
{
    if (n < 8) {
        double res = -0.0;
        for (Py_ssize_t i = 0; i < n; i++)
            res += robust_term(x[i], p, m);
        return res;
    } else if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++)
            r[j] = robust_term(x[j], p, m);
        Py_ssize_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++)
                r[j] += robust_term(x[i + j], p, m);
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++)
            res += robust_term(x[i], p, m);
        return res;
    }
    Py_ssize_t n2 = n / 2;
    n2 -= n2 % 8;
    return robust_pairwise(x, n2, p, m) + robust_pairwise(x + n2, n - n2, p, m);
}

/* first_order_sums(x, mean, shift, p10, p90) -> (energy, abs_dev, sq_dev, kept_sum, kept, robust_abs_dev):
 * numpy's sums (0 + pairwise) of the terms above over the voxel values x (float64, no NaN);
 * robust_abs_dev is taken about kept_sum / kept, as numpy's nanmean gives that mean. */
static PyObject *first_order_sums(PyObject *self, PyObject *args)
{
    PyObject *x_obj;
    FOParams p;
    Py_buffer x;
    if (!PyArg_ParseTuple(args, "Odddd:first_order_sums", &x_obj, &p.mean, &p.shift, &p.p10, &p.p90))
        return NULL;
    if (get_buffer(x_obj, &x, 8, "x (float64)", 0) < 0)
        return NULL;
    const Py_ssize_t n = x.len / 8;
    double sums[FO_TERMS] = {0.0, 0.0, 0.0, 0.0}, robust = 0.0;
    int64_t kept = 0;
    Py_BEGIN_ALLOW_THREADS
    if (n > 0) {
        double part[FO_TERMS];
        fo_pairwise((const double *)x.buf, n, &p, part, &kept);
        for (int k = 0; k < FO_TERMS; k++)
            sums[k] = 0.0 + part[k];
        if (kept > 0)
            robust = 0.0 + robust_pairwise((const double *)x.buf, n, &p, sums[3] / (double)kept);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&x);
    return Py_BuildValue("ddddLd", sums[0], sums[1], sums[2], sums[3], (long long)kept, robust);
}

/* ---- GLRLM features: every sum over gray levels and run lengths, in numpy's order ------- */

/* The sums pyradiomics' GLRLM features take over the gray level axis, the run length axis
 * or both, per angle: numpy reduces a non-innermost axis of an array whose angle axis is
 * innermost (Na > 1, dense, C order) by adding its rows in order, so each angle's sum is a
 * running sum over the positions in memory order; each term is the element-wise expression
 * pyradiomics writes, evaluated left to right (x ** 2 is x * x, numpy's square). Rows of
 * out (each Na wide): 0 SRE, 1 LRE, 2 GLN, 3 RLN, 4 Np (for RP), 5 LGLRE, 6 HGLRE,
 * 7 SRLGLE, 8 SRHGLE, 9 LRLGLE, 10 LRHGLE, 11 GLV, 12 RV (GLNN and RLNN divide the GLN and
 * RLN sums). */
enum { GLRLM_SUMS = 13 };

static void glrlm_sums_fill(const double *P, int j_outer, const double *pr, const double *pg, const double *iv,
                            const double *jv, const double *Nr, Py_ssize_t ng, Py_ssize_t nr, Py_ssize_t na,
                            double *out)
{
    for (Py_ssize_t k = 0; k < GLRLM_SUMS * na; k++)
        out[k] = 0.0;
    double *sre = out, *lre = out + na, *gln = out + 2 * na, *rln = out + 3 * na, *np_ = out + 4 * na;
    double *lglre = out + 5 * na, *hglre = out + 6 * na, *srlgle = out + 7 * na, *srhgle = out + 8 * na;
    double *lrlgle = out + 9 * na, *lrhgle = out + 10 * na, *glv = out + 11 * na, *rv = out + 12 * na;
    for (Py_ssize_t m = 0; m < nr; m++) {
        const double j = jv[m], j2 = j * j;
        for (Py_ssize_t a = 0; a < na; a++) {
            const double x = pr[m * na + a];
            sre[a] += x / j2;
            lre[a] += x * j2;
            rln[a] += x * x;
            np_[a] += x * j;
        }
    }
    for (Py_ssize_t n = 0; n < ng; n++) {
        const double i2 = iv[n] * iv[n];
        for (Py_ssize_t a = 0; a < na; a++) {
            const double x = pg[n * na + a];
            gln[a] += x * x;
            lglre[a] += x / i2;
            hglre[a] += x * i2;
        }
    }
    /* SRHGLE and LRLGLE scale P by one broadcast vector at a time, so numpy's result keeps
     * P's layout and the sum walks P's memory order (run lengths outermost when j_outer). */
    const Py_ssize_t outer = j_outer ? nr : ng, inner = j_outer ? ng : nr;
    for (Py_ssize_t o = 0; o < outer; o++)
        for (Py_ssize_t k = 0; k < inner; k++) {
            const Py_ssize_t n = j_outer ? k : o, m = j_outer ? o : k;
            const double i2 = iv[n] * iv[n], j2 = jv[m] * jv[m];
            const double *row = P + (o * inner + k) * na;
            for (Py_ssize_t a = 0; a < na; a++) {
                srhgle[a] += (row[a] * i2) / j2;
                lrlgle[a] += (row[a] * j2) / i2;
            }
        }
    /* SRLGLE and LRHGLE combine P with a (1, Ng, Nr, 1) product of the two weight vectors,
     * laid out in C order: where P's layout differs numpy's result is in C order, and the
     * sum walks gray levels outermost. */
    for (Py_ssize_t n = 0; n < ng; n++)
        for (Py_ssize_t m = 0; m < nr; m++) {
            const double i2 = iv[n] * iv[n], j2 = jv[m] * jv[m];
            const double *row = P + (j_outer ? m * ng + n : n * nr + m) * na;
            for (Py_ssize_t a = 0; a < na; a++) {
                srlgle[a] += row[a] / (i2 * j2);
                lrhgle[a] += row[a] * (j2 * i2);
            }
        }
    /* GLV and RV: the normalised marginals' means, then the variances about them. */
    double mean[MAX_ANGLES];
    for (Py_ssize_t a = 0; a < na; a++)
        mean[a] = 0.0;
    for (Py_ssize_t n = 0; n < ng; n++)
        for (Py_ssize_t a = 0; a < na; a++)
            mean[a] += (pg[n * na + a] / Nr[a]) * iv[n];
    for (Py_ssize_t n = 0; n < ng; n++)
        for (Py_ssize_t a = 0; a < na; a++) {
            const double d = iv[n] - mean[a];
            glv[a] += (pg[n * na + a] / Nr[a]) * (d * d);
        }
    for (Py_ssize_t a = 0; a < na; a++)
        mean[a] = 0.0;
    for (Py_ssize_t m = 0; m < nr; m++)
        for (Py_ssize_t a = 0; a < na; a++)
            mean[a] += (pr[m * na + a] / Nr[a]) * jv[m];
    for (Py_ssize_t m = 0; m < nr; m++)
        for (Py_ssize_t a = 0; a < na; a++) {
            const double d = jv[m] - mean[a];
            rv[a] += (pr[m * na + a] / Nr[a]) * (d * d);
        }
}

/* glrlm_feature_sums(P, j_outer, pr, pg, ivector, jvector, Nr, out): P in memory order
 * (Nr x Ng x Na when j_outer, else Ng x Nr x Na), pr (Nr x Na), pg (Ng x Na), ivector (Ng),
 * jvector (Nr), Nr (Na) float64, C order; out (13 x Na). */
static PyObject *glrlm_feature_sums(PyObject *self, PyObject *args)
{
    PyObject *objs[7];
    Py_buffer views[7];
    Held held = {{NULL}, 0};
    int status = -3, j_outer;
    if (!PyArg_ParseTuple(args, "OpOOOOOO:glrlm_feature_sums", &objs[0], &j_outer, &objs[1], &objs[2], &objs[3],
                          &objs[4], &objs[5], &objs[6]))
        return NULL;
    const char *names[7] = {"P", "pr", "pg", "ivector", "jvector", "Nr", "out"};
    int ok = 1;
    for (int k = 0; k < 7 && ok; k++)
        ok = hold(&held, &views[k], objs[k], 8, names[k], k == 6) == 0;
    if (ok) {
        const Py_ssize_t ng = views[3].len / 8, nr = views[4].len / 8, na = views[5].len / 8;
        status = -2;
        if (na >= 1 && na <= MAX_ANGLES && views[0].len / 8 == ng * nr * na && views[1].len / 8 == nr * na &&
            views[2].len / 8 == ng * na && views[6].len / 8 == GLRLM_SUMS * na) {
            Py_BEGIN_ALLOW_THREADS
            glrlm_sums_fill((const double *)views[0].buf, j_outer, (const double *)views[1].buf,
                            (const double *)views[2].buf, (const double *)views[3].buf,
                            (const double *)views[4].buf, (const double *)views[5].buf, ng, nr, na,
                            (double *)views[6].buf);
            Py_END_ALLOW_THREADS
            status = 0;
        }
    }
    release_held(&held);
    if (failed(status, "glrlm_feature_sums: arrays of mismatched sizes") < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"glszm_zones", glszm_zones, METH_VARARGS,
     "glszm_zones(image, mask, shape, skip_dim, levels, sizes) -> number of zones\n\n"
     "Labels the gray-level zones of a 3D int32 image inside a uint8 mask (26-connected; "
     "skip_dim 0-2 excludes that dimension from connectivity, -1 none) and writes each "
     "zone's gray level and voxel count into levels (int32) and sizes (int64)."},
    {"count_parts", count_parts, METH_VARARGS,
     "count_parts(mask, shape) -> the number of fully connected parts of a uint8 mask"},
    {"first_order_sums", first_order_sums, METH_VARARGS,
     "first_order_sums(x, mean, shift, p10, p90) -> (energy, abs_dev, sq_dev, kept_sum, kept, robust_abs_dev): "
     "pyradiomics' first-order sums, each in numpy's pairwise order"},
    {"glcm", glcm, METH_VARARGS,
     "glcm(image, mask, shape, angles, Ng, out): pyradiomics' GLCM counts, out[i-1, j-1, a]"},
    {"glrlm", glrlm, METH_VARARGS,
     "glrlm(image, mask, shape, angles, Ng, Nr, out): pyradiomics' GLRLM counts, out[i-1, length-1, a]"},
    {"ngtdm", ngtdm, METH_VARARGS,
     "ngtdm(image, mask, shape, angles, Ng, out): pyradiomics' NGTDM, out[i-1] = [count, sum |diff|, i]"},
    {"glcm_diagonals", glcm_diagonals, METH_VARARGS,
     "glcm_diagonals(P, grey, na, Ng, sums, diffs, px, py): p_{x+y}, p_{x-y}, p_x and p_y of a "
     "normalised GLCM (n x n x na, gray levels grey), summed in numpy's order for several angles"},
    {"digitize", digitize, METH_VARARGS,
     "digitize(values, mask, edges, width, out) -> bool: numpy.digitize of the mask voxels "
     "(increasing edges about width apart) into out (int64, 0 outside the mask); False when "
     "a NaN was met (out is then incomplete)"},
    {"glcm_normalise", glcm_normalise, METH_VARARGS,
     "glcm_normalise(counts, grey, na, Ng, j_outer, out) -> bool: pyradiomics' normalised symmetric "
     "GLCM of the gray levels that occur, in memory order; False when an angle has no pair"},
    {"glcm_means", glcm_means, METH_VARARGS,
     "glcm_means(P, L, grey, j_outer, ux, uy, hxy): sums of g_i P, g_j P and P L in P's memory order"},
    {"glcm_feature_sums", glcm_feature_sums, METH_VARARGS,
     "glcm_feature_sums(P, j_outer, grey, T2, T3, T4, pxpy, L, ux, uy, row_major, memory): the sums of "
     "pyradiomics' GLCM features, each in numpy's order (see the source)"},
    {"angle_max", angle_max, METH_VARARGS,
     "angle_max(mem, out): out[a] = numpy's maximum of mem[k * na + a] over k"},
    {"angle_sums", angle_sums, METH_VARARGS,
     "angle_sums(mem, out): out[a] = sum of mem[k * na + a] over k, in memory order from 0"},
    {"glrlm_feature_sums", glrlm_feature_sums, METH_VARARGS,
     "glrlm_feature_sums(P, j_outer, pr, pg, ivector, jvector, Nr, out): the GLRLM features' sums per angle, "
     "in numpy's order"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels",
                                    "Compiled kernels of the frd extraction engine.", -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
