/* Cubic B-spline resampling of a 3D image, value for value what ITK 5.4's
 * ResampleImageFilter computes with a BSplineInterpolateImageFunction of order 3, an
 * identity transform and a default pixel value of 0 (SimpleITK's sitk.Resample with
 * sitkBSpline, as pyradiomics' resampleImage calls it) — the same arithmetic in the same
 * order, without ITK's per-point overhead (a heap-allocated weights matrix, N-dimensional
 * index bookkeeping and virtual calls for each of the 64 neighbours of every point).
 *
 * 1. Coefficients (BSplineDecompositionImageFilter): the image is copied, then filtered
 *    along x, y and z in turn, each line by the gain, a causal and an anti-causal
 *    recursion with the pole sqrt(3) - 2, mirror boundaries; the causal start is the sum
 *    of the first `horizon` terms (tolerance 1e-10), or the closed form on short lines.
 *    A dimension of size 1 is left as it is.
 * 2. Positions (LinearThreadedGenerateData): for each output line, the continuous input
 *    index of its first point and of the point one past its end are computed through the
 *    output's index-to-physical matrix and the input's physical-to-index matrix (passed
 *    in exactly as ITK holds them); every point is start + alpha * (end - start), with
 *    alpha = x / width.
 * 3. Evaluation (BSplineInterpolateImageFunction::EvaluateAtContinuousIndexInternal):
 *    outside [-0.5, size - 0.5) in some dimension, the default value 0; otherwise the
 *    support starts at floor((float)index) - 1 (ITK rounds through float there), the cubic
 *    weights are ITK's expressions, indices are mirrored at the borders, and the 64
 *    products weight_x * weight_y * weight_z * coefficient are added x fastest.
 *
 * Compiled without floating-point contraction (no fused multiply-add), as ITK's wheels.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOLERANCE 1e-10

typedef struct {
    double *data;          /* coefficients, z-major like the numpy array */
    Py_ssize_t n[3];       /* sizes along x, y, z (ITK's order) */
    Py_ssize_t stride[3];  /* element strides along x, y, z */
    int finite;            /* whether every coefficient is finite */
} Volume;

/* BSplineDecompositionImageFilter::DataToCoefficients1D on LINES lines of `length` at once,
 * element k of line j at b[k * LINES + j]: each line gets exactly ITK's operations in ITK's
 * order; lines are interleaved only so that their recursions (each step waiting on the
 * previous one) run side by side. Unused lanes hold zeros. */
#define LINES 8

static void coefficients_1d(double *b, Py_ssize_t length, double z, unsigned long horizon)
{
    double c0 = 1.0;
    c0 = c0 * (1.0 - z) * (1.0 - 1.0 / z);
    for (Py_ssize_t i = 0; i < length * LINES; i++)
        b[i] *= c0;
    /* SetInitialCausalCoefficient */
    double sum[LINES];
    double zn = z;
    if ((Py_ssize_t)horizon < length) {
        for (int j = 0; j < LINES; j++)
            sum[j] = b[j];
        for (unsigned int n = 1; n < horizon; ++n) {
            for (int j = 0; j < LINES; j++)
                sum[j] += zn * b[n * LINES + j];
            zn *= z;
        }
        for (int j = 0; j < LINES; j++)
            b[j] = sum[j];
    } else {
        const double iz = 1.0 / z;
        double z2n = pow(z, (double)(length - 1L));
        for (int j = 0; j < LINES; j++)
            sum[j] = b[j] + z2n * b[(length - 1L) * LINES + j];
        z2n *= z2n * iz;
        for (unsigned int n = 1; n <= (unsigned int)(length - 2); ++n) {
            for (int j = 0; j < LINES; j++)
                sum[j] += (zn + z2n) * b[n * LINES + j];
            zn *= z;
            z2n *= iz;
        }
        for (int j = 0; j < LINES; j++)
            b[j] = sum[j] / (1.0 - zn * zn);
    }
    for (Py_ssize_t n = 1; n < length; n++)
        for (int j = 0; j < LINES; j++)
            b[n * LINES + j] += z * b[(n - 1) * LINES + j];
    /* SetInitialAntiCausalCoefficient */
    for (int j = 0; j < LINES; j++)
        b[(length - 1) * LINES + j] =
            (z / (z * z - 1.0)) * (z * b[(length - 2) * LINES + j] + b[(length - 1) * LINES + j]);
    for (Py_ssize_t n = length - 2; 0 <= n; n--)
        for (int j = 0; j < LINES; j++)
            b[n * LINES + j] = z * (b[(n + 1) * LINES + j] - b[n * LINES + j]);
}

/* The coefficients, in place: along x, then y, then z (a dimension of 1 is left as is). */
static int decompose(Volume *v)
{
    const double z = sqrt(3.0) - 2.0;
    const unsigned long horizon = (unsigned long)ceil(log(TOLERANCE) / log(fabs(z)));
    Py_ssize_t longest = v->n[0] > v->n[1] ? v->n[0] : v->n[1];
    if (v->n[2] > longest)
        longest = v->n[2];
    double *block = (double *)malloc(sizeof(double) * (size_t)LINES * (size_t)(longest > 0 ? longest : 1));
    if (!block)
        return -1;
    for (int d = 0; d < 3; d++) {
        const Py_ssize_t length = v->n[d], step = v->stride[d];
        if (length == 1)
            continue;
        /* the lines along d, numbered by the other two dimensions' indices */
        const int a = d == 0 ? 1 : 0, c = d == 2 ? 1 : 2;
        const Py_ssize_t lines = v->n[a] * v->n[c];
        for (Py_ssize_t first = 0; first < lines; first += LINES) {
            const int count = (int)(lines - first < LINES ? lines - first : LINES);
            double *start[LINES];
            for (int j = 0; j < count; j++) {
                const Py_ssize_t line = first + j;
                start[j] = v->data + (line % v->n[a]) * v->stride[a] + (line / v->n[a]) * v->stride[c];
            }
            for (Py_ssize_t k = 0; k < length; k++)
                for (int j = 0; j < LINES; j++)
                    block[k * LINES + j] = j < count ? start[j][k * step] : 0.0;
            coefficients_1d(block, length, z, horizon);
            for (Py_ssize_t k = 0; k < length; k++)
                for (int j = 0; j < count; j++)
                    start[j][k * step] = block[k * LINES + j];
        }
    }
    free(block);
    return 0;
}

/* ImageBase::TransformIndexToPhysicalPoint then TransformPhysicalPointToContinuousIndex
 * (the identity transform in between). */
static void continuous_index(const double *out_origin, const double *to_physical, const double *in_origin,
                             const double *to_index, const Py_ssize_t index[3], double out[3])
{
    double point[3], v[3];
    for (int i = 0; i < 3; i++) {
        point[i] = out_origin[i];
        for (int j = 0; j < 3; j++)
            point[i] += to_physical[3 * i + j] * (double)index[j];
    }
    for (int k = 0; k < 3; k++)
        v[k] = point[k] - in_origin[k];
    for (int r = 0; r < 3; r++) {
        double sum = 0.0;
        for (int c = 0; c < 3; c++)
            sum += to_index[3 * r + c] * v[c];
        out[r] = sum;
    }
}

/* The support and weights of one point (DetermineRegionOfSupport, SetInterpolationWeights,
 * ApplyMirrorBoundaryConditions): per dimension, four element offsets and four weights. */
typedef struct {
    double w[3][4];
    Py_ssize_t e[3][4];
} Support;

static void support(const Volume *v, const double x[3], Support *s)
{
    for (int n = 0; n < 3; n++) {
        const long first = (long)floorf((float)x[n] + 0.0f) - 1;
        const double t = x[n] - (double)(first + 1);
        s->w[n][3] = (1.0 / 6.0) * t * t * t;
        s->w[n][0] = (1.0 / 6.0) + 0.5 * t * (t - 1.0) - s->w[n][3];
        s->w[n][2] = t + s->w[n][0] - 2.0 * s->w[n][3];
        s->w[n][1] = 1.0 - s->w[n][0] - s->w[n][2] - s->w[n][3];
        const long end = (long)v->n[n] - 1;
        for (int k = 0; k < 4; k++) {
            long i = first + k;
            if (v->n[n] == 1) {
                i = 0;
            } else {
                if (i < 0)
                    i = 0 + (0 - i);
                if (i >= end)
                    i = end - (i - end);
            }
            s->e[n][k] = (Py_ssize_t)i * v->stride[n];
        }
    }
}

/* EvaluateAtContinuousIndexInternal for BATCH points (unused ones have zero weights and
 * offsets): each point's 64 terms ((w_x * w_y) * w_z) * coefficient — ITK's running product
 * of the weights from 1.0 — are added in ITK's order (x fastest, from 0.0) into its own sum;
 * the points are interleaved only so that their additions, each waiting on the previous
 * one, overlap in the CPU. */
#define BATCH 8

static void evaluate(const Volume *v, const Support *s, double *out)
{
    double wxy[BATCH][16], sum[BATCH];
    for (int j = 0; j < BATCH; j++) {
        sum[j] = 0.0;
        for (int ky = 0; ky < 4; ky++)
            for (int kx = 0; kx < 4; kx++)
                wxy[j][ky * 4 + kx] = s[j].w[0][kx] * s[j].w[1][ky];
    }
    for (int kz = 0; kz < 4; kz++) {
        /* A term whose z weight is exactly 0 is a signed zero when its coefficient is
         * finite, and adding a signed zero leaves a sum that started at +0.0 unchanged (it
         * is never -0.0): a 2D image's single slice has one such z weight in four. */
        int zero = v->finite;
        for (int j = 0; j < BATCH && zero; j++)
            zero = s[j].w[2][kz] == 0.0;
        if (zero)
            continue;
        for (int ky = 0; ky < 4; ky++) {
            const double *row[BATCH];
            for (int j = 0; j < BATCH; j++)
                row[j] = v->data + s[j].e[1][ky] + s[j].e[2][kz];
            for (int kx = 0; kx < 4; kx++)
                for (int j = 0; j < BATCH; j++)
                    sum[j] += (wxy[j][ky * 4 + kx] * s[j].w[2][kz]) * row[j][s[j].e[0][kx]];
        }
    }
    for (int j = 0; j < BATCH; j++)
        out[j] = sum[j];
}

static int get_doubles(PyObject *obj, Py_buffer *view, Py_ssize_t count, const char *what, int writable)
{
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | (writable ? PyBUF_WRITABLE : 0)) < 0)
        return -1;
    if (view->itemsize != sizeof(double) || !view->format || strcmp(view->format, "d") != 0 ||
        (count >= 0 && view->len != count * (Py_ssize_t)sizeof(double))) {
        PyErr_Format(PyExc_ValueError, "%s: expected %zd float64 values", what, count);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* bspline(image, shape, out, out_shape, out_origin, to_physical, in_origin, to_index)
 * image: float64 (nz, ny, nx), modified in place (it becomes the coefficients);
 * out: float64 (oz, oy, ox); to_physical, to_index: 3x3 row-major; origins: 3. */
static PyObject *bspline(PyObject *self, PyObject *args)
{
    PyObject *image_obj, *out_obj, *out_origin_obj, *to_physical_obj, *in_origin_obj, *to_index_obj;
    Py_ssize_t nz, ny, nx, oz, oy, ox;
    if (!PyArg_ParseTuple(args, "O(nnn)O(nnn)OOOO", &image_obj, &nz, &ny, &nx, &out_obj, &oz, &oy, &ox,
                          &out_origin_obj, &to_physical_obj, &in_origin_obj, &to_index_obj))
        return NULL;
    if (nz < 1 || ny < 1 || nx < 1 || oz < 0 || oy < 0 || ox < 0) {
        PyErr_SetString(PyExc_ValueError, "bspline: bad sizes");
        return NULL;
    }
    Py_buffer image, out, out_origin, to_physical, in_origin, to_index;
    Py_buffer *views[6] = {&image, &out, &out_origin, &to_physical, &in_origin, &to_index};
    PyObject *objs[6] = {image_obj, out_obj, out_origin_obj, to_physical_obj, in_origin_obj, to_index_obj};
    const Py_ssize_t counts[6] = {nz * ny * nx, oz * oy * ox, 3, 9, 3, 9};
    const char *names[6] = {"image", "out", "out_origin", "to_physical", "in_origin", "to_index"};
    int held = 0;
    for (; held < 6; held++)
        if (get_doubles(objs[held], views[held], counts[held], names[held], held < 2) < 0)
            break;
    int status = held == 6 ? 0 : -3;
    if (status == 0) {
        Volume v = {(double *)image.buf, {nx, ny, nz}, {1, nx, nx * ny}, 1};
        const double *o_origin = (const double *)out_origin.buf, *A = (const double *)to_physical.buf;
        const double *i_origin = (const double *)in_origin.buf, *M = (const double *)to_index.buf;
        double *dst = (double *)out.buf;
        const double lo[3] = {0 - 0.5, 0 - 0.5, 0 - 0.5};
        const double hi[3] = {(double)(nx - 1) + 0.5, (double)(ny - 1) + 0.5, (double)(nz - 1) + 0.5};
        Py_BEGIN_ALLOW_THREADS
        if (decompose(&v) < 0) {
            status = -1;
        } else {
            for (Py_ssize_t i = 0; i < nz * ny * nx && v.finite; i++)
                v.finite = isfinite(v.data[i]);
            for (Py_ssize_t z = 0; z < oz; z++)
                for (Py_ssize_t y = 0; y < oy; y++) {
                    const Py_ssize_t first[3] = {0, y, z}, past[3] = {ox, y, z};
                    double start[3], end[3], span[3];
                    continuous_index(o_origin, A, i_origin, M, first, start);
                    continuous_index(o_origin, A, i_origin, M, past, end);
                    for (int i = 0; i < 3; i++)
                        span[i] = end[i] - start[i];
                    double *row = dst + (z * oy + y) * ox;
                    Support batch[BATCH];
                    Py_ssize_t where[BATCH];
                    int count = 0;
                    for (Py_ssize_t x = 0; x <= ox; x++) {
                        if (x < ox) {
                            const double alpha = (double)(x - 0) / (double)ox;
                            double at[3];
                            int inside = 1;
                            for (int i = 0; i < 3; i++) {
                                at[i] = start[i];
                                at[i] += alpha * span[i];
                                if (!(at[i] >= lo[i] && at[i] < hi[i]))
                                    inside = 0;
                            }
                            if (!inside) {
                                row[x] = 0.0; /* the default pixel value */
                                continue;
                            }
                            support(&v, at, &batch[count]);
                            where[count++] = x;
                        }
                        if (count == BATCH || (x == ox && count > 0)) {
                            double values[BATCH];
                            for (int j = count; j < BATCH; j++)
                                memset(&batch[j], 0, sizeof(Support));
                            evaluate(&v, batch, values);
                            for (int j = 0; j < count; j++)
                                row[where[j]] = values[j];
                            count = 0;
                        }
                    }
                }
        }
        Py_END_ALLOW_THREADS
    }
    while (held > 0)
        PyBuffer_Release(views[--held]);
    if (status == -1)
        return PyErr_NoMemory();
    if (status != 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"bspline", bspline, METH_VARARGS,
     "bspline(image, shape, out, out_shape, out_origin, to_physical, in_origin, to_index): ITK's cubic "
     "B-spline resampling of a float64 volume (the image array becomes its coefficients)."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_resample",
                                    "ITK's cubic B-spline resampling, the same values", -1, methods};

PyMODINIT_FUNC PyInit__resample(void) { return PyModule_Create(&module); }
