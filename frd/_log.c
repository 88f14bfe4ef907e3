/*
 * frd._log -- Laplacian of Gaussian that matches SimpleITK's
 * LaplacianRecursiveGaussian (ITK 5.4) bit for bit, only faster.
 *
 * What ITK computes (and what this file therefore computes, operation by
 * operation, in the same order and with the same types):
 *
 *   out = 0 (float image)
 *   for each image dimension d (x, then y, then z; ITK index order):
 *       t = R2_d(input)               second-derivative recursive Gaussian
 *                                      along d; float result
 *       for each other dimension e, in increasing order:
 *           t = R0_e(t)               zero-order (smoothing) recursive
 *                                      Gaussian along e; float result
 *       out = (float)((double)out + (double)t * (1.0 / (sp_d * sp_d)))
 *
 * Every recursive pass works line by line: the line is widened to double,
 * filtered with Deriche's 4th-order causal + anti-causal recursion (double
 * coefficients, double accumulators, ITK's "edge value extends to infinity"
 * start-up), the two halves are added in double and the sum is rounded to
 * float when stored in the intermediate image.  Rounding to float between
 * passes is part of the result, so we round at exactly the same places.
 *
 * Speed comes only from scheduling, never from changing arithmetic:
 *   - BLK lines are filtered together, lane k of every loop being one line,
 *     so the compiler can use SIMD across independent lines (each lane still
 *     performs ITK's scalar sequence of IEEE double operations) and the
 *     long dependency chain of the recursion is hidden;
 *   - lines are gathered from / scattered to memory in cache friendly
 *     order (a small transpose for lines along x);
 *   - the smoothing passes run in place on one scratch volume, and the last
 *     pass of each dimension adds straight into the output (ITK's separate
 *     add step, with the same float->double->float conversions).
 * No fused multiply-add may be used (ITK's binaries do not fuse): build with
 * -ffp-contract=off; the AVX clone below never enables FMA either.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Number of lines filtered together.  16 doubles = 2 AVX registers x 2 or
 * 8 SSE2 registers; enough independent work to cover the latency of the
 * recursion's dependency chain. */
#ifndef BLK
#define BLK 16
#endif

#if !defined(FRD_NO_CLONES) && defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__)
/* An AVX version next to the baseline SSE2 one, picked at load time.  AVX
 * does not imply FMA, so the arithmetic is the same IEEE double operations. */
#define FRD_CLONES __attribute__((target_clones("avx", "default")))
#else
#define FRD_CLONES
#endif

/* ------------------------------------------------------------------ */
/* Filter coefficients                                                  */
/* ------------------------------------------------------------------ */

typedef struct {
    double n0, n1, n2, n3;     /* causal input weights             */
    double d1, d2, d3, d4;     /* feedback weights (both passes)   */
    double m1, m2, m3, m4;     /* anti-causal input weights        */
    double bn1, bn2, bn3, bn4; /* causal start-up feedback          */
    double bm1, bm2, bm3, bm4; /* anti-causal start-up feedback     */
} rcoef;

/* Deriche's fit constants for exp(-x^2/2) and its second derivative, as
 * ITK's RecursiveGaussianImageFilter uses them (index 0: Gaussian,
 * index 2: second derivative). */
static const double W1 = 0.6681, L1 = -1.3932, W2 = 2.0787, L2 = -1.3732;
static const double A1_0 = 1.3530, B1_0 = 1.8151, A2_0 = -0.3531, B2_0 = 0.0902;
static const double A1_2 = -1.3563, B1_2 = 5.2318, A2_2 = 0.3446, B2_2 = -2.2355;

typedef struct {
    double n0, n1, n2, n3, sn, dn, en;
} numer;

/* Numerator terms of the causal filter for one (A1, B1, A2, B2) set.
 * The expressions keep ITK's evaluation order (C and C++ both evaluate
 * a*b*c as (a*b)*c and "x op= e" as x = x op (e)). */
static void
numerator(double sigmad, double a1, double b1, double a2, double b2, numer *r)
{
    double sin1 = sin(W1 / sigmad);
    double sin2 = sin(W2 / sigmad);
    double cos1 = cos(W1 / sigmad);
    double cos2 = cos(W2 / sigmad);
    double e1 = exp(L1 / sigmad);
    double e2 = exp(L2 / sigmad);
    double n0, n1, n2, n3;

    n0 = a1 + a2;
    n1 = e2 * (b2 * sin2 - (a2 + 2 * a1) * cos2);
    n1 += e1 * (b1 * sin1 - (a1 + 2 * a2) * cos1);
    n2 = (a1 + a2) * cos2 * cos1;
    n2 -= b1 * cos2 * sin1 + b2 * cos1 * sin2;
    n2 *= 2 * e1 * e2;
    n2 += a2 * e1 * e1 + a1 * e2 * e2;
    n3 = e2 * e1 * e1 * (b2 * sin2 - a2 * cos2);
    n3 += e1 * e2 * e2 * (b1 * sin1 - a1 * cos1);

    r->n0 = n0;
    r->n1 = n1;
    r->n2 = n2;
    r->n3 = n3;
    r->sn = n0 + n1 + n2 + n3;
    r->dn = n1 + 2 * n2 + 3 * n3;
    r->en = n1 + 4 * n2 + 9 * n3;
}

/* order: 0 = Gaussian, 2 = second derivative.  normalize only matters for
 * order 2 (ITK multiplies by sigma^2); the zero-order filter is always
 * normalised to unit gain. */
static void
setup_coefficients(double sigma, double spacing, int order, int normalize, rcoef *c)
{
    double sigmad, cos1, cos2, e1, e2, sd, dd, ed, scale;
    double n0, n1, n2, n3, sn, sm;

    if (spacing < 0.0)
        spacing = -spacing; /* only flips odd orders, which we never use */
    sigmad = sigma / spacing;

    /* Denominator (feedback) part, shared by all orders. */
    cos1 = cos(W1 / sigmad);
    cos2 = cos(W2 / sigmad);
    e1 = exp(L1 / sigmad);
    e2 = exp(L2 / sigmad);
    c->d4 = e1 * e1 * e2 * e2;
    c->d3 = -2 * cos1 * e1 * e2 * e2;
    c->d3 += -2 * cos2 * e2 * e1 * e1;
    c->d2 = 4 * cos2 * cos1 * e1 * e2;
    c->d2 += e1 * e1 + e2 * e2;
    c->d1 = -2 * (e2 * cos2 + e1 * cos1);
    sd = 1.0 + c->d1 + c->d2 + c->d3 + c->d4;
    dd = c->d1 + 2 * c->d2 + 3 * c->d3 + 4 * c->d4;
    ed = c->d1 + 4 * c->d2 + 9 * c->d3 + 16 * c->d4;

    if (order == 0) {
        numer g;
        double alpha0;
        numerator(sigmad, A1_0, B1_0, A2_0, B2_0, &g);
        /* unit DC gain; ITK scales by (1.0 / alpha0), not divides */
        alpha0 = 2 * g.sn / sd - g.n0;
        scale = 1.0 / alpha0;
        n0 = g.n0 * scale;
        n1 = g.n1 * scale;
        n2 = g.n2 * scale;
        n3 = g.n3 * scale;
    }
    else {
        numer g, h;
        double beta, alpha2, snc, dnc, enc;
        double norm = normalize ? sigma * sigma : 1.0;
        numerator(sigmad, A1_0, B1_0, A2_0, B2_0, &g);
        numerator(sigmad, A1_2, B1_2, A2_2, B2_2, &h);
        /* mix in some Gaussian so that the kernel has zero DC response */
        beta = -(2 * h.sn - sd * h.n0) / (2 * g.sn - sd * g.n0);
        n0 = h.n0 + beta * g.n0;
        n1 = h.n1 + beta * g.n1;
        n2 = h.n2 + beta * g.n2;
        n3 = h.n3 + beta * g.n3;
        snc = h.sn + beta * g.sn;
        dnc = h.dn + beta * g.dn;
        enc = h.en + beta * g.en;
        /* second moment of the kernel, used to normalise it */
        alpha2 = enc * sd * sd - ed * snc * sd - 2 * dnc * dd * sd + 2 * dd * dd * snc;
        alpha2 /= sd * sd * sd;
        scale = norm / alpha2;
        n0 *= scale;
        n1 *= scale;
        n2 *= scale;
        n3 *= scale;
    }
    c->n0 = n0;
    c->n1 = n1;
    c->n2 = n2;
    c->n3 = n3;

    /* both orders used here are symmetric kernels */
    c->m1 = n1 - c->d1 * n0;
    c->m2 = n2 - c->d2 * n0;
    c->m3 = n3 - c->d3 * n0;
    c->m4 = -c->d4 * n0;

    /* start-up feedback: the response of the recursion to a constant signal,
     * recomputed from the final coefficients exactly as ITK does */
    sn = c->n0 + c->n1 + c->n2 + c->n3;
    sm = c->m1 + c->m2 + c->m3 + c->m4;
    sd = 1.0 + c->d1 + c->d2 + c->d3 + c->d4;
    c->bn1 = c->d1 * sn / sd;
    c->bn2 = c->d2 * sn / sd;
    c->bn3 = c->d3 * sn / sd;
    c->bn4 = c->d4 * sn / sd;
    c->bm1 = c->d1 * sm / sd;
    c->bm2 = c->d2 * sm / sd;
    c->bm3 = c->d3 * sm / sd;
    c->bm4 = c->d4 * sm / sd;
}

/* ------------------------------------------------------------------ */
/* The recursion on BLK lines at once                                  */
/* ------------------------------------------------------------------ */

/* x, y, z are n*BLK doubles, element i of line k at [i*BLK + k].  x is the
 * input; y receives the causal and z the anti-causal half.  n >= 4.
 * Every "a*b + c*d + e*f + g*h" below is ((a*b + c*d) + e*f) + g*h, and a
 * "-=" subtracts that whole sum -- the same grouping ITK's helpers use. */
FRD_CLONES static void
recurse_block(const rcoef *restrict c, const double *restrict x, double *restrict y,
              double *restrict z, Py_ssize_t n)
{
    const double n0 = c->n0, n1 = c->n1, n2 = c->n2, n3 = c->n3;
    const double d1 = c->d1, d2 = c->d2, d3 = c->d3, d4 = c->d4;
    const double m1 = c->m1, m2 = c->m2, m3 = c->m3, m4 = c->m4;
    const double bn1 = c->bn1, bn2 = c->bn2, bn3 = c->bn3, bn4 = c->bn4;
    const double bm1 = c->bm1, bm2 = c->bm2, bm3 = c->bm3, bm4 = c->bm4;
    Py_ssize_t i;
    int k;

    /* Causal pass.  Before the line, the first sample is taken to repeat
     * forever; ITK folds that into the first four outputs with the BN
     * coefficients in place of the unknown earlier outputs. */
    for (k = 0; k < BLK; k++) {
        const double v = x[k];
        const double x1 = x[BLK + k], x2 = x[2 * BLK + k], x3 = x[3 * BLK + k];
        double y0, y1, y2, y3;
        y0 = v * n0 + v * n1 + v * n2 + v * n3;
        y1 = x1 * n0 + v * n1 + v * n2 + v * n3;
        y2 = x2 * n0 + x1 * n1 + v * n2 + v * n3;
        y3 = x3 * n0 + x2 * n1 + x1 * n2 + v * n3;
        y0 -= v * bn1 + v * bn2 + v * bn3 + v * bn4;
        y1 -= y0 * d1 + v * bn2 + v * bn3 + v * bn4;
        y2 -= y1 * d1 + y0 * d2 + v * bn3 + v * bn4;
        y3 -= y2 * d1 + y1 * d2 + y0 * d3 + v * bn4;
        y[k] = y0;
        y[BLK + k] = y1;
        y[2 * BLK + k] = y2;
        y[3 * BLK + k] = y3;
    }
    for (i = 4; i < n; i++) {
        const double *xi = x + i * BLK;
        double *yi = y + i * BLK;
        for (k = 0; k < BLK; k++) {
            double acc = xi[k] * n0 + xi[k - BLK] * n1 + xi[k - 2 * BLK] * n2 + xi[k - 3 * BLK] * n3;
            acc -= yi[k - BLK] * d1 + yi[k - 2 * BLK] * d2 + yi[k - 3 * BLK] * d3 + yi[k - 4 * BLK] * d4;
            yi[k] = acc;
        }
    }

    /* Anti-causal pass, mirrored: the last sample repeats after the line. */
    {
        double *zl = z + (n - 4) * BLK;
        const double *xl = x + (n - 4) * BLK;
        for (k = 0; k < BLK; k++) {
            const double v = xl[3 * BLK + k];
            const double x2 = xl[2 * BLK + k], x1 = xl[BLK + k];
            double z3, z2, z1, z0; /* z3 = last sample ... z0 = 4th from the end */
            z3 = v * m1 + v * m2 + v * m3 + v * m4;
            z2 = v * m1 + v * m2 + v * m3 + v * m4; /* data[n-1] is v */
            z1 = x2 * m1 + v * m2 + v * m3 + v * m4;
            z0 = x1 * m1 + x2 * m2 + v * m3 + v * m4;
            z3 -= v * bm1 + v * bm2 + v * bm3 + v * bm4;
            z2 -= z3 * d1 + v * bm2 + v * bm3 + v * bm4;
            z1 -= z2 * d1 + z3 * d2 + v * bm3 + v * bm4;
            z0 -= z1 * d1 + z2 * d2 + z3 * d3 + v * bm4;
            zl[3 * BLK + k] = z3;
            zl[2 * BLK + k] = z2;
            zl[BLK + k] = z1;
            zl[k] = z0;
        }
    }
    /* z[i-1] from x[i..i+3] and z[i..i+3], for i = n-4 down to 1 */
    for (i = n - 4; i > 0; i--) {
        const double *xi = x + i * BLK;
        double *zo = z + (i - 1) * BLK;
        for (k = 0; k < BLK; k++) {
            double acc = xi[k] * m1 + xi[BLK + k] * m2 + xi[2 * BLK + k] * m3 + xi[3 * BLK + k] * m4;
            acc -= zo[BLK + k] * d1 + zo[2 * BLK + k] * d2 + zo[3 * BLK + k] * d3 + zo[4 * BLK + k] * d4;
            zo[k] = acc;
        }
    }

    /* (ITK then adds the anti-causal half z into the causal one y, in
     * double; scatter() does that sum as it stores the result.) */
}

/* ------------------------------------------------------------------ */
/* Moving lines between the volume and the block buffers               */
/* ------------------------------------------------------------------ */

/* Lines travel in "panels" of BLK lines: a panel is n rows of BLK doubles
 * (sample i of lane k at [i*BLK + k]) and a chunk is up to NPANEL panels
 * stored one after the other.  Lines that run across rows (along y or z)
 * are fetched NPANEL*BLK at a time so that every row of the volume is read
 * in long contiguous runs. */
#ifndef NPANEL
#define NPANEL 8
#endif

enum { SRC_F32 = 0, SRC_F64 = 1 };

/* Lines along numpy's last axis: cnt (<= BLK) consecutive rows of n samples
 * starting at src + base, into one panel (a small transpose). */
static void
gather_rows(const void *src, int kind, Py_ssize_t base, Py_ssize_t n, int cnt, double *restrict x)
{
    Py_ssize_t i;
    int k;
    if (cnt < BLK) /* unused lanes: zeros, filtered and then discarded */
        for (i = 0; i < n; i++)
            for (k = cnt; k < BLK; k++)
                x[i * BLK + k] = 0.0;
    if (kind == SRC_F32) {
        const float *s = (const float *)src + base;
        for (k = 0; k < cnt; k++)
            for (i = 0; i < n; i++)
                x[i * BLK + k] = (double)s[k * n + i];
    }
    else {
        const double *s = (const double *)src + base;
        for (k = 0; k < cnt; k++)
            for (i = 0; i < n; i++)
                x[i * BLK + k] = s[k * n + i];
    }
}

/* Lines across rows: sample i of line k at src + base + i*es + k, for
 * k < cnt (<= NPANEL*BLK); into consecutive panels. */
static void
gather_cols(const void *src, int kind, Py_ssize_t base, Py_ssize_t es, Py_ssize_t n, int cnt,
            double *restrict x)
{
    const Py_ssize_t panel = n * BLK;
    int np = (cnt + BLK - 1) / BLK, j, k;
    Py_ssize_t i;
    if (cnt < np * BLK)
        for (i = 0; i < n; i++)
            for (k = cnt - (np - 1) * BLK; k < BLK; k++)
                x[(np - 1) * panel + i * BLK + k] = 0.0;
    for (i = 0; i < n; i++) {
        double *xi = x + i * BLK;
        if (kind == SRC_F32) {
            const float *s = (const float *)src + base + i * es;
            for (j = 0; j < np; j++) {
                int m = cnt - j * BLK < BLK ? cnt - j * BLK : BLK;
                for (k = 0; k < m; k++)
                    xi[j * panel + k] = (double)s[j * BLK + k];
            }
        }
        else {
            const double *s = (const double *)src + base + i * es;
            for (j = 0; j < np; j++) {
                int m = cnt - j * BLK < BLK ? cnt - j * BLK : BLK;
                for (k = 0; k < m; k++)
                    xi[j * panel + k] = s[j * BLK + k];
            }
        }
    }
}

/* The value a pass stores: causal + anti-causal in double, rounded to the
 * float of the intermediate image. */
#define PASS_RESULT(idx) ((float)(y[idx] + z[idx]))

/* Store a filtered panel back as rows (inverse of gather_rows).  With
 * accumulate, the float pass result is added into the running Laplacian the
 * way ITK's add step does it: (float)((double)sum + (double)v * inv). */
static void
scatter_rows(float *dst, Py_ssize_t base, Py_ssize_t n, int cnt, const double *restrict y,
             const double *restrict z, int accumulate, double inv)
{
    float *d = dst + base;
    Py_ssize_t i;
    int k;
    for (k = 0; k < cnt; k++) {
        float *dk = d + k * n;
        if (!accumulate) {
            for (i = 0; i < n; i++)
                dk[i] = PASS_RESULT(i * BLK + k);
        }
        else {
            for (i = 0; i < n; i++) {
                float v = PASS_RESULT(i * BLK + k);
                dk[i] = (float)((double)dk[i] + (double)v * inv);
            }
        }
    }
}

/* Inverse of gather_cols, same accumulate rule as scatter_rows. */
static void
scatter_cols(float *dst, Py_ssize_t base, Py_ssize_t es, Py_ssize_t n, int cnt,
             const double *restrict y, const double *restrict z, int accumulate, double inv)
{
    const Py_ssize_t panel = n * BLK;
    int np = (cnt + BLK - 1) / BLK, j, k;
    Py_ssize_t i;
    for (i = 0; i < n; i++) {
        float *d = dst + base + i * es;
        for (j = 0; j < np; j++) {
            int m = cnt - j * BLK < BLK ? cnt - j * BLK : BLK;
            Py_ssize_t off = j * panel + i * BLK;
            if (!accumulate) {
                for (k = 0; k < m; k++)
                    d[j * BLK + k] = PASS_RESULT(off + k);
            }
            else {
                for (k = 0; k < m; k++) {
                    float v = PASS_RESULT(off + k);
                    d[j * BLK + k] = (float)((double)d[j * BLK + k] + (double)v * inv);
                }
            }
        }
    }
}

/* One recursive pass along numpy axis `axis` of an array of shape dims[nd]
 * (C order): src (float or double) -> dst (float).  src may equal dst: a
 * chunk of lines is read completely before it is written back, and lines
 * are independent of each other. */
static void
filter_axis(const rcoef *c, const void *src, int kind, float *dst, const Py_ssize_t *dims,
            int nd, int axis, int accumulate, double inv, double *work)
{
    Py_ssize_t n = dims[axis], inner = 1, outer = 1, o, k0;
    const Py_ssize_t panel = n * BLK, chunk = (Py_ssize_t)NPANEL * BLK;
    double *x = work, *y = work + NPANEL * panel, *z = work + 2 * NPANEL * panel;
    int a, j;
    for (a = 0; a < axis; a++)
        outer *= dims[a];
    for (a = axis + 1; a < nd; a++)
        inner *= dims[a];

    if (inner == 1) {
        /* lines along the contiguous axis: BLK rows at a time */
        for (o = 0; o < outer; o += BLK) {
            int cnt = (int)(outer - o < BLK ? outer - o : BLK);
            gather_rows(src, kind, o * n, n, cnt, x);
            recurse_block(c, x, y, z, n);
            scatter_rows(dst, o * n, n, cnt, y, z, accumulate, inv);
        }
    }
    else {
        /* lines across rows: neighbouring lines are contiguous in memory */
        for (o = 0; o < outer; o++) {
            for (k0 = 0; k0 < inner; k0 += chunk) {
                int cnt = (int)(inner - k0 < chunk ? inner - k0 : chunk);
                int np = (cnt + BLK - 1) / BLK;
                Py_ssize_t base = o * n * inner + k0;
                gather_cols(src, kind, base, inner, n, cnt, x);
                for (j = 0; j < np; j++)
                    recurse_block(c, x + j * panel, y + j * panel, z + j * panel, n);
                scatter_cols(dst, base, inner, n, cnt, y, z, accumulate, inv);
            }
        }
    }
}

/* The whole Laplacian.  spacing[] is in ITK order (x first); numpy axis
 * nd-1-d is ITK dimension d.  out must be zero on entry. */
static void
laplacian(const void *src, int kind, float *out, float *tmp, const Py_ssize_t *dims, int nd,
          const double *spacing, double sigma, int normalize, double *work)
{
    int d, e;
    for (d = 0; d < nd; d++) {
        rcoef c;
        int last = -1;
        double sp2 = spacing[d] * spacing[d];
        double inv = 1.0 / sp2;

        for (e = 0; e < nd; e++)
            if (e != d)
                last = e;

        setup_coefficients(sigma, spacing[d], 2, normalize, &c);
        filter_axis(&c, src, kind, tmp, dims, nd, nd - 1 - d, 0, 0.0, work);
        for (e = 0; e < nd; e++) {
            if (e == d)
                continue;
            setup_coefficients(sigma, spacing[e], 0, normalize, &c);
            if (e == last)
                filter_axis(&c, tmp, SRC_F32, out, dims, nd, nd - 1 - e, 1, inv, work);
            else
                filter_axis(&c, tmp, SRC_F32, tmp, dims, nd, nd - 1 - e, 0, 0.0, work);
        }
    }
}

/* ------------------------------------------------------------------ */
/* Python binding                                                      */
/* ------------------------------------------------------------------ */

static int
format_kind(const char *f)
{
    if (f == NULL)
        return SRC_F32 - 10; /* unformatted: reject */
    if (*f == '<' || *f == '=' || *f == '@')
        f++;
    if (f[0] == 'f' && f[1] == '\0')
        return SRC_F32;
    if (f[0] == 'd' && f[1] == '\0')
        return SRC_F64;
    return -1;
}

PyDoc_STRVAR(laplacian_doc,
"laplacian(src, out, spacing, sigma, normalize_across_scale=True)\n"
"\n"
"ITK's LaplacianRecursiveGaussian of `src` (C-contiguous float32 or float64\n"
"array, 2-D or 3-D, numpy axis order) written into `out` (C-contiguous\n"
"float32 array of the same shape, must not overlap src).  `spacing` is in\n"
"ITK order (x, y[, z]).  Every axis needs at least 4 samples.");

static PyObject *
py_laplacian(PyObject *self, PyObject *args)
{
    PyObject *srcobj, *outobj, *spobj;
    double sigma, spacing[3];
    int normalize = 1, kind, nd, i;
    Py_buffer vs, vo;
    Py_ssize_t dims[3], total = 1, maxn = 0;
    float *tmp = NULL;
    double *work = NULL;
    char *s0, *s1, *o0, *o1;

    (void)self;

    if (!PyArg_ParseTuple(args, "OOOd|p:laplacian", &srcobj, &outobj, &spobj, &sigma, &normalize))
        return NULL;
    if (PyObject_GetBuffer(srcobj, &vs, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0)
        return NULL;
    if (PyObject_GetBuffer(outobj, &vo, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&vs);
        return NULL;
    }
    kind = format_kind(vs.format);
    nd = vs.ndim;
    if (kind < 0 || vs.itemsize != (kind == SRC_F32 ? 4 : 8)) {
        PyErr_SetString(PyExc_TypeError, "src must be float32 or float64");
        goto fail;
    }
    if (format_kind(vo.format) != SRC_F32 || vo.itemsize != 4) {
        PyErr_SetString(PyExc_TypeError, "out must be float32");
        goto fail;
    }
    if ((nd != 2 && nd != 3) || vo.ndim != nd) {
        PyErr_SetString(PyExc_ValueError, "src and out must both be 2-D or 3-D");
        goto fail;
    }
    for (i = 0; i < nd; i++) {
        dims[i] = vs.shape[i];
        if (vo.shape[i] != dims[i]) {
            PyErr_SetString(PyExc_ValueError, "src and out shapes differ");
            goto fail;
        }
        if (dims[i] < 4) {
            PyErr_SetString(PyExc_ValueError, "every axis needs at least 4 samples");
            goto fail;
        }
        total *= dims[i];
        if (dims[i] > maxn)
            maxn = dims[i];
    }
    s0 = (char *)vs.buf;
    s1 = s0 + vs.len;
    o0 = (char *)vo.buf;
    o1 = o0 + vo.len;
    if (s0 < o1 && o0 < s1) {
        PyErr_SetString(PyExc_ValueError, "src and out must not overlap");
        goto fail;
    }
    {
        PyObject *seq = PySequence_Fast(spobj, "spacing must be a sequence");
        if (seq == NULL)
            goto fail;
        if (PySequence_Fast_GET_SIZE(seq) != nd) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "spacing needs one value per axis");
            goto fail;
        }
        for (i = 0; i < nd; i++) {
            spacing[i] = PyFloat_AsDouble(PySequence_Fast_GET_ITEM(seq, i));
            if (spacing[i] == -1.0 && PyErr_Occurred()) {
                Py_DECREF(seq);
                goto fail;
            }
        }
        Py_DECREF(seq);
    }
    for (i = 0; i < nd; i++) {
        /* ITK refuses spacings below 1e-8 in magnitude */
        if (!(fabs(spacing[i]) >= 1e-8) || !isfinite(spacing[i])) {
            PyErr_SetString(PyExc_ValueError, "spacing must be finite and at least 1e-8");
            goto fail;
        }
    }
    if (!(sigma > 0.0) || !isfinite(sigma)) {
        PyErr_SetString(PyExc_ValueError, "sigma must be finite and > 0");
        goto fail;
    }

    tmp = (float *)malloc((size_t)total * sizeof(float));
    work = (double *)malloc((size_t)maxn * 3 * NPANEL * BLK * sizeof(double));
    if (tmp == NULL || work == NULL) {
        PyErr_NoMemory();
        goto fail;
    }

    Py_BEGIN_ALLOW_THREADS
    memset(vo.buf, 0, (size_t)total * sizeof(float));
    laplacian(vs.buf, kind, (float *)vo.buf, tmp, dims, nd, spacing, sigma, normalize, work);
    Py_END_ALLOW_THREADS

    free(tmp);
    free(work);
    PyBuffer_Release(&vs);
    PyBuffer_Release(&vo);
    Py_RETURN_NONE;

fail:
    free(tmp);
    free(work);
    PyBuffer_Release(&vs);
    PyBuffer_Release(&vo);
    return NULL;
}

PyDoc_STRVAR(coefficients_doc,
"coefficients(sigma, spacing, order, normalize_across_scale=True) -> tuple\n"
"\n"
"The 20 recursion coefficients (N0..N3, D1..D4, M1..M4, BN1..BN4, BM1..BM4)\n"
"for order 0 (Gaussian) or 2 (second derivative); for inspection/tests.");

static PyObject *
py_coefficients(PyObject *self, PyObject *args)
{
    double sigma, spacing;
    int order, normalize = 1;
    rcoef c;
    (void)self;
    if (!PyArg_ParseTuple(args, "ddi|p:coefficients", &sigma, &spacing, &order, &normalize))
        return NULL;
    if (order != 0 && order != 2) {
        PyErr_SetString(PyExc_ValueError, "order must be 0 or 2");
        return NULL;
    }
    setup_coefficients(sigma, spacing, order, normalize, &c);
    return Py_BuildValue("(dddddddddddddddddddd)", c.n0, c.n1, c.n2, c.n3, c.d1, c.d2, c.d3, c.d4,
                         c.m1, c.m2, c.m3, c.m4, c.bn1, c.bn2, c.bn3, c.bn4, c.bm1, c.bm2, c.bm3,
                         c.bm4);
}

static PyMethodDef log_methods[] = {
    {"laplacian", py_laplacian, METH_VARARGS, laplacian_doc},
    {"coefficients", py_coefficients, METH_VARARGS, coefficients_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef log_module = {
    PyModuleDef_HEAD_INIT, "frd._log",
    "Bit-exact, faster re-implementation of ITK's LaplacianRecursiveGaussian.", -1, log_methods,
};

PyMODINIT_FUNC
PyInit__log(void)
{
    return PyModule_Create(&log_module);
}
