/* One level of the stationary (undecimated) wavelet transform along one axis of a float64
 * array, value for value what PyWavelets 1.8/1.9 computes in pywt.swtn / swt_axis: both the
 * low-pass ("a") and the high-pass ("d") output of one input, in a single pass.
 *
 * What has to match, and why it is done the way it is done here:
 *
 * - PyWavelets filters every line along the axis with its periodised, step-1 convolution:
 *   output o of a line of length N is the sum over the filter taps j of
 *   filter[j] * x[(o + Fe/2 - j) mod N], where the filter is the wavelet's decomposition
 *   filter upsampled for the level (tap m of the original filter sits at j = m * fstep,
 *   fstep = 2^(level - 1), the Fe = F * fstep entries in between are +0.0).
 * - Floating-point addition is not associative, so the order of the terms matters, and
 *   PyWavelets does not always add them in tap order. With i = o + Fe/2:
 *     i <  N: the taps j = 0, fstep, 2 fstep, ... in increasing order;
 *     i >= N: first every j from i - N down to 0 (step 1, so with fstep > 1 the zero
 *             entries in between are multiplied and added too), then the multiples of
 *             fstep from i - N + 1 upwards.
 *   Every sum starts from +0.0 and the products are added one at a time, so that a sum
 *   of negative zeros comes out as +0.0, and zero taps times inf/NaN give NaN, exactly as
 *   in PyWavelets. The lists of (tap, position) terms of every output are built once per
 *   call (they depend only on N, the filter length and fstep) and then replayed.
 * - The lines themselves are independent, so the order in which lines and outputs are
 *   visited is free: eight neighbouring outputs are accumulated side by side in SIMD
 *   registers (GCC vector extensions, SSE2 on baseline x86-64), each lane seeing exactly
 *   its own sequence of products and additions. Along the last axis the lanes are eight
 *   consecutive outputs of a row that need no wrap-around (they share one term list);
 *   along any other axis they are the same output of eight neighbouring lines.
 * - Where two NaNs can meet in an addition, PyWavelets' operand order decides which one
 *   survives; that is reproduced too (see add1/add2 below).
 * - PyWavelets' wheels are built for baseline x86-64 (no fused multiply-add instructions
 *   in its extension modules), so this file must be compiled with -ffp-contract=off and
 *   without -march flags: each product is rounded before it is added.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

/* Lines of a non-last axis visited together, so that the input rows an output reads stay
 * in cache for the next output. */
#define BLOCK 256

typedef struct {
    Py_ssize_t *first; /* terms of output o are first[o] .. first[o + 1] - 1 */
    Py_ssize_t *tap;   /* index into the upsampled filter */
    Py_ssize_t *pos;   /* index into the line */
} Schedule;

static Py_ssize_t wrap(Py_ssize_t k, Py_ssize_t n)
{
    Py_ssize_t r = k % n;
    return r < 0 ? r + n : r;
}

static void schedule_free(Schedule *s)
{
    free(s->first);
    free(s->tap);
    free(s->pos);
}

/* The terms of every output of a line of length n, in PyWavelets' order (see the top). */
static int schedule_build(Schedule *s, Py_ssize_t n, Py_ssize_t fe, Py_ssize_t fstep)
{
    const Py_ssize_t half = fe / 2;
    const Py_ssize_t most = fe + fe / fstep; /* bound on the terms of one output */
    s->first = malloc((size_t)(n + 1) * sizeof(Py_ssize_t));
    s->tap = malloc((size_t)(n * most) * sizeof(Py_ssize_t));
    s->pos = malloc((size_t)(n * most) * sizeof(Py_ssize_t));
    if (!s->first || !s->tap || !s->pos) {
        schedule_free(s);
        return -1;
    }
    Py_ssize_t t = 0;
    for (Py_ssize_t o = 0; o < n; o++) {
        const Py_ssize_t i = o + half;
        s->first[o] = t;
        Py_ssize_t j = 0;
        if (i >= n) {
            /* the part that reaches past the end of the line, nearest tap last */
            for (Py_ssize_t k = i - n; k >= 0; k--) {
                s->tap[t] = k;
                s->pos[t++] = wrap(i - k, n);
            }
            j = i - n + 1;
            j += (fstep - j % fstep) % fstep; /* next non-zero tap */
        }
        for (; j < fe; j += fstep) {
            s->tap[t] = j;
            s->pos[t++] = wrap(i - j, n);
        }
    }
    s->first[n] = t;
    return 0;
}

/* Adding one product to a running sum. PyWavelets' compiled loop keeps the sum as the
 * first operand of the addition, and on x86 a sum of two NaNs is the first one: when the
 * sum is already NaN it stays that NaN (same sign and payload) whatever the product is.
 * C leaves the order of the operands to the compiler, so where two NaNs can meet, that
 * rule is written out (keep = 1); where they cannot, the plain sum is the same and faster.
 * A product is NaN only if its input value is NaN, or infinite times a zero tap, so on
 * input without NaN or infinity the plain sum is exact (keep = 0). */
typedef double v2d __attribute__((vector_size(16)));
typedef double v2d_unaligned __attribute__((vector_size(16), aligned(8)));
typedef long long v2i __attribute__((vector_size(16)));

#define INLINE static inline __attribute__((always_inline))

INLINE double add1(double s, double p, const int keep)
{
    return (keep && s != s) ? s : s + p;
}

INLINE v2d add2(v2d s, v2d p, const int keep)
{
    const v2d t = s + p;
    if (!keep)
        return t;
    const v2i nan = s != s; /* all ones where the sum is NaN */
    return (v2d)(((v2i)t & ~nan) | ((v2i)s & nan));
}

INLINE v2d load2(const double *p) { return *(const v2d_unaligned *)p; }
INLINE void store2(double *p, v2d v) { *(v2d_unaligned *)p = v; }

/* Eight neighbouring outputs (lanes) of both filters: for each term t in order, the
 * products tap * base[off[t] + lane] are added to the lane's sums, which stay in
 * registers; the lanes are independent, so each gets exactly its own sequence. */
INLINE void lanes8(const double *restrict base, const Py_ssize_t *restrict off,
                   const Py_ssize_t *restrict tap, Py_ssize_t count,
                   const double *restrict flo, const double *restrict fhi,
                   double *restrict a, double *restrict d, const int keep)
{
    const v2d zero = {0.0, 0.0};
    v2d a0 = zero, a1 = zero, a2 = zero, a3 = zero;
    v2d d0 = zero, d1 = zero, d2 = zero, d3 = zero;
    for (Py_ssize_t t = 0; t < count; t++) {
        const double *x = base + off[t];
        const v2d wa = {flo[tap[t]], flo[tap[t]]}, wd = {fhi[tap[t]], fhi[tap[t]]};
        const v2d x0 = load2(x), x1 = load2(x + 2), x2 = load2(x + 4), x3 = load2(x + 6);
        a0 = add2(a0, wa * x0, keep);
        a1 = add2(a1, wa * x1, keep);
        a2 = add2(a2, wa * x2, keep);
        a3 = add2(a3, wa * x3, keep);
        d0 = add2(d0, wd * x0, keep);
        d1 = add2(d1, wd * x1, keep);
        d2 = add2(d2, wd * x2, keep);
        d3 = add2(d3, wd * x3, keep);
    }
    store2(a, a0), store2(a + 2, a1), store2(a + 4, a2), store2(a + 6, a3);
    store2(d, d0), store2(d + 2, d1), store2(d + 4, d2), store2(d + 6, d3);
}

/* One output of both filters, the same sequence as a lane of lanes8. */
INLINE void lane1(const double *restrict base, const Py_ssize_t *restrict off,
                  const Py_ssize_t *restrict tap, Py_ssize_t count,
                  const double *restrict flo, const double *restrict fhi,
                  double *restrict a, double *restrict d, const int keep)
{
    double sa = 0.0, sd = 0.0;
    for (Py_ssize_t t = 0; t < count; t++) {
        const double v = base[off[t]];
        sa = add1(sa, flo[tap[t]] * v, keep);
        sd = add1(sd, fhi[tap[t]] * v, keep);
    }
    *a = sa;
    *d = sd;
}

/* Lines along the last axis: rows of n contiguous values. Outputs o in
 * [inner_lo, inner_hi) have i = o + Fe/2 < n and i - (last tap) >= 0: all their non-zero
 * taps in increasing order and no wrap-around, one term list shared by all of them
 * (`inner_off`, `inner_tap`), eight neighbouring outputs at a time. The outputs near the
 * ends replay their own schedule. */
INLINE void rows_pass(const double *restrict src, double *restrict lo, double *restrict hi,
                      Py_ssize_t rows, Py_ssize_t n, const double *restrict flo,
                      const double *restrict fhi, const Schedule *s, Py_ssize_t inner_lo,
                      Py_ssize_t inner_hi, const Py_ssize_t *inner_off,
                      const Py_ssize_t *inner_tap, Py_ssize_t inner_count, const int keep)
{
    for (Py_ssize_t r = 0; r < rows; r++) {
        const double *restrict x = src + r * n;
        double *restrict a = lo + r * n;
        double *restrict d = hi + r * n;
        for (Py_ssize_t o = 0; o < n; o++) {
            if (o == inner_lo && inner_lo < inner_hi) {
                o = inner_hi - 1;
                continue;
            }
            const Py_ssize_t t0 = s->first[o];
            lane1(x, s->pos + t0, s->tap + t0, s->first[o + 1] - t0, flo, fhi, a + o, d + o,
                  keep);
        }
        Py_ssize_t o = inner_lo;
        for (; o + 8 <= inner_hi; o += 8)
            lanes8(x + o, inner_off, inner_tap, inner_count, flo, fhi, a + o, d + o, keep);
        for (; o < inner_hi; o++)
            lane1(x + o, inner_off, inner_tap, inner_count, flo, fhi, a + o, d + o, keep);
    }
}

/* Lines along any other axis: element k of line (r, c) at src[(r * n + k) * stride + c].
 * Neighbouring lines are contiguous; eight of them are computed side by side, within a
 * block of BLOCK lines so that the rows the terms read stay in cache from one output to
 * the next. `off` holds the schedule's positions times the stride. */
INLINE void lines_pass(const double *restrict src, double *restrict lo, double *restrict hi,
                       Py_ssize_t outer, Py_ssize_t n, Py_ssize_t stride,
                       const double *restrict flo, const double *restrict fhi,
                       const Schedule *s, const Py_ssize_t *off, const int keep)
{
    for (Py_ssize_t r = 0; r < outer; r++) {
        const double *restrict plane = src + r * n * stride;
        for (Py_ssize_t c0 = 0; c0 < stride; c0 += BLOCK) {
            const Py_ssize_t c1 = stride - c0 < BLOCK ? stride : c0 + BLOCK;
            for (Py_ssize_t o = 0; o < n; o++) {
                double *restrict a = lo + (r * n + o) * stride;
                double *restrict d = hi + (r * n + o) * stride;
                const Py_ssize_t t0 = s->first[o], count = s->first[o + 1] - t0;
                Py_ssize_t c = c0;
                for (; c + 8 <= c1; c += 8)
                    lanes8(plane + c, off + t0, s->tap + t0, count, flo, fhi, a + c, d + c,
                           keep);
                for (; c < c1; c++)
                    lane1(plane + c, off + t0, s->tap + t0, count, flo, fhi, a + c, d + c,
                          keep);
            }
        }
    }
}

static void rows_plain(const double *src, double *lo, double *hi, Py_ssize_t rows,
                       Py_ssize_t n, const double *flo, const double *fhi, const Schedule *s,
                       Py_ssize_t inner_lo, Py_ssize_t inner_hi, const Py_ssize_t *inner_off,
                       const Py_ssize_t *inner_tap, Py_ssize_t inner_count)
{
    rows_pass(src, lo, hi, rows, n, flo, fhi, s, inner_lo, inner_hi, inner_off, inner_tap,
              inner_count, 0);
}

static void rows_keep(const double *src, double *lo, double *hi, Py_ssize_t rows,
                      Py_ssize_t n, const double *flo, const double *fhi, const Schedule *s,
                      Py_ssize_t inner_lo, Py_ssize_t inner_hi, const Py_ssize_t *inner_off,
                      const Py_ssize_t *inner_tap, Py_ssize_t inner_count)
{
    rows_pass(src, lo, hi, rows, n, flo, fhi, s, inner_lo, inner_hi, inner_off, inner_tap,
              inner_count, 1);
}

static void lines_plain(const double *src, double *lo, double *hi, Py_ssize_t outer,
                        Py_ssize_t n, Py_ssize_t stride, const double *flo, const double *fhi,
                        const Schedule *s, const Py_ssize_t *off)
{
    lines_pass(src, lo, hi, outer, n, stride, flo, fhi, s, off, 0);
}

static void lines_keep(const double *src, double *lo, double *hi, Py_ssize_t outer,
                       Py_ssize_t n, Py_ssize_t stride, const double *flo, const double *fhi,
                       const Schedule *s, const Py_ssize_t *off)
{
    lines_pass(src, lo, hi, outer, n, stride, flo, fhi, s, off, 1);
}

/* Whether every value is finite (then no product can be NaN). */
static int all_finite(const double *x, Py_ssize_t count)
{
    /* v - v is 0 for finite v and NaN for inf/NaN; NaNs propagate through the sums */
    double acc[4] = {0.0, 0.0, 0.0, 0.0};
    Py_ssize_t k = 0;
    for (; k + 4 <= count; k += 4)
        for (int l = 0; l < 4; l++)
            acc[l] += x[k + l] - x[k + l];
    for (; k < count; k++)
        acc[0] += x[k] - x[k];
    return acc[0] == 0.0 && acc[1] == 0.0 && acc[2] == 0.0 && acc[3] == 0.0;
}

/* Runs the pass for the layout; -1 if out of memory. */
static int run(const double *src, double *lo, double *hi, Py_ssize_t outer, Py_ssize_t n,
               Py_ssize_t stride, const double *flo, const double *fhi, Py_ssize_t fe,
               Py_ssize_t fstep)
{
    Schedule s = {NULL, NULL, NULL};
    if (schedule_build(&s, n, fe, fstep) < 0)
        return -1;
    const int keep = !all_finite(src, outer * n * stride);
    const Py_ssize_t terms = s.first[n];
    Py_ssize_t *off = malloc((size_t)(terms + fe) * sizeof(Py_ssize_t));
    Py_ssize_t *tap = malloc((size_t)fe * sizeof(Py_ssize_t));
    if (!off || !tap) {
        free(off);
        free(tap);
        schedule_free(&s);
        return -1;
    }
    if (stride == 1) {
        const Py_ssize_t half = fe / 2, last_tap = fe - fstep;
        Py_ssize_t inner_lo = last_tap > half ? last_tap - half : 0;
        Py_ssize_t inner_hi = n - half;
        if (inner_hi < inner_lo)
            inner_hi = inner_lo = 0;
        Py_ssize_t count = 0;
        for (Py_ssize_t j = 0; j < fe; j += fstep, count++) {
            tap[count] = j;
            off[count] = half - j; /* output o reads x[o + half - j] */
        }
        (keep ? rows_keep : rows_plain)(src, lo, hi, outer, n, flo, fhi, &s, inner_lo, inner_hi,
                                        off, tap, count);
    } else if (stride > 1) {
        for (Py_ssize_t t = 0; t < terms; t++)
            off[t] = s.pos[t] * stride;
        (keep ? lines_keep : lines_plain)(src, lo, hi, outer, n, stride, flo, fhi, &s, off);
    }
    free(off);
    free(tap);
    schedule_free(&s);
    return 0;
}

/* A C-contiguous float64 buffer of exactly `count` values. */
static int get_doubles(PyObject *obj, Py_buffer *view, Py_ssize_t count, const char *name,
                       int writable)
{
    int flags = PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0);
    if (PyObject_GetBuffer(obj, view, flags) < 0)
        return -1;
    const char *f = view->format ? view->format : "B";
    if (f[0] == '<' || f[0] == '=' || f[0] == '@')
        f++;
    if (view->itemsize != 8 || strcmp(f, "d") != 0 || view->len != count * 8) {
        PyErr_Format(PyExc_ValueError, "swt_axis: %s must hold %zd float64 values", name,
                     count);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* swt_axis(src, (outer, n, stride), lo, hi, dec_lo, dec_hi, fstep) */
static PyObject *swt_axis(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *src_obj, *lo_obj, *hi_obj, *flo_obj, *fhi_obj;
    Py_ssize_t outer, n, stride, fstep;
    if (!PyArg_ParseTuple(args, "O(nnn)OOOOn", &src_obj, &outer, &n, &stride, &lo_obj, &hi_obj,
                          &flo_obj, &fhi_obj, &fstep))
        return NULL;
    if (outer < 0 || n < 1 || stride < 0 || fstep < 1 || (n % (2 * fstep)) != 0) {
        PyErr_SetString(PyExc_ValueError,
                        "swt_axis: the line length must be a positive multiple of 2 * fstep");
        return NULL;
    }
    Py_buffer flo_v;
    if (PyObject_GetBuffer(flo_obj, &flo_v, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    const Py_ssize_t taps = flo_v.len / 8;
    PyBuffer_Release(&flo_v);
    if (taps < 1 || taps > ((Py_ssize_t)1 << 20) / fstep) {
        PyErr_SetString(PyExc_ValueError, "swt_axis: bad filter length");
        return NULL;
    }
    const Py_ssize_t total = outer * n * stride;
    Py_buffer views[5];
    PyObject *objs[5] = {src_obj, lo_obj, hi_obj, flo_obj, fhi_obj};
    const Py_ssize_t counts[5] = {total, total, total, taps, taps};
    const char *names[5] = {"src", "lo", "hi", "dec_lo", "dec_hi"};
    int held = 0;
    for (; held < 5; held++)
        if (get_doubles(objs[held], &views[held], counts[held], names[held],
                        held == 1 || held == 2) < 0)
            break;
    int status = held == 5 ? 0 : -2;
    if (status == 0) {
        const double *src = views[0].buf, *flo0 = views[3].buf, *fhi0 = views[4].buf;
        double *lo = views[1].buf, *hi = views[2].buf;
        const Py_ssize_t fe = taps * fstep;
        Py_BEGIN_ALLOW_THREADS
        /* The upsampled filters, zeros (+0.0) between the taps as PyWavelets builds them. */
        double *flo = calloc((size_t)fe, sizeof(double));
        double *fhi = calloc((size_t)fe, sizeof(double));
        if (!flo || !fhi) {
            status = -1;
        } else {
            for (Py_ssize_t m = 0; m < taps; m++) {
                flo[m * fstep] = flo0[m];
                fhi[m * fstep] = fhi0[m];
            }
            if (run(src, lo, hi, outer, n, stride, flo, fhi, fe, fstep) < 0)
                status = -1;
        }
        free(flo);
        free(fhi);
        Py_END_ALLOW_THREADS
    }
    while (held > 0)
        PyBuffer_Release(&views[--held]);
    if (status == -1)
        return PyErr_NoMemory();
    if (status != 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"swt_axis", swt_axis, METH_VARARGS,
     "swt_axis(src, (outer, n, stride), lo, hi, dec_lo, dec_hi, fstep): one level of "
     "PyWavelets' stationary wavelet transform along one axis of a C-contiguous float64 array "
     "seen as (outer, n, stride); writes the approximation into lo and the detail into hi "
     "(both float64, same size). fstep = 2**(level - 1)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wavelet",
                                    "PyWavelets' stationary wavelet transform, the same values",
                                    -1, methods};

PyMODINIT_FUNC PyInit__wavelet(void) { return PyModule_Create(&module); }
