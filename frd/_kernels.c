/* Compiled kernels of the frd extraction engine (frd/engine.py).
 *
 * glszm_zones: every gray-level zone of a 3D image in one pass. A zone is a set of
 * connected mask voxels with the same gray level, connected through the 26 neighbours of
 * a voxel (or the 8 in-plane ones when one dimension is excluded, pyradiomics' force2D),
 * exactly the zones pyradiomics' C code grows for its GLSZM. pyradiomics stores them in
 * a dense gray levels x largest-zone-size matrix; the engine only needs, per zone, its
 * gray level and its size, and counts those pairs itself.
 *
 * Arrays are passed through the buffer protocol (numpy arrays, C-contiguous), so the
 * module needs Python's headers only. The work runs without the GIL.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* Grows all zones; returns the number found, or -1 when out of memory. */
static Py_ssize_t grow_zones(const int32_t *image, const uint8_t *mask, const Py_ssize_t *shape,
                             int skip_dim, int32_t *levels, int64_t *sizes)
{
    const Py_ssize_t nz = shape[0], ny = shape[1], nx = shape[2];
    const Py_ssize_t n = nz * ny * nx, plane = ny * nx;
    uint8_t *done = (uint8_t *)malloc((size_t)n);
    Py_ssize_t *stack = (Py_ssize_t *)malloc(sizeof(Py_ssize_t) * (size_t)(n > 0 ? n : 1));
    Py_ssize_t zones = 0;
    if (!done || !stack) {
        free(done);
        free(stack);
        return -1;
    }
    memset(done, 0, (size_t)n);
    /* Offsets of a dimension excluded from connectivity are held at 0. */
    const int lo_z = skip_dim == 0 ? 0 : -1, hi_z = skip_dim == 0 ? 0 : 1;
    const int lo_y = skip_dim == 1 ? 0 : -1, hi_y = skip_dim == 1 ? 0 : 1;
    const int lo_x = skip_dim == 2 ? 0 : -1, hi_x = skip_dim == 2 ? 0 : 1;

    for (Py_ssize_t seed = 0; seed < n; seed++) {
        if (!mask[seed] || done[seed])
            continue;
        const int32_t level = image[seed];
        Py_ssize_t top = 0;
        int64_t size = 0;
        stack[top++] = seed;
        done[seed] = 1;
        while (top > 0) {
            const Py_ssize_t k = stack[--top];
            const Py_ssize_t z = k / plane, y = (k % plane) / nx, x = k % nx;
            size++;
            for (int dz = lo_z; dz <= hi_z; dz++) {
                const Py_ssize_t zz = z + dz;
                if (zz < 0 || zz >= nz)
                    continue;
                for (int dy = lo_y; dy <= hi_y; dy++) {
                    const Py_ssize_t yy = y + dy;
                    if (yy < 0 || yy >= ny)
                        continue;
                    const Py_ssize_t row = zz * plane + yy * nx;
                    for (int dx = lo_x; dx <= hi_x; dx++) {
                        const Py_ssize_t xx = x + dx;
                        if (xx < 0 || xx >= nx)
                            continue;
                        const Py_ssize_t j = row + xx;
                        if (!done[j] && mask[j] && image[j] == level) {
                            done[j] = 1;
                            stack[top++] = j;
                        }
                    }
                }
            }
        }
        levels[zones] = level;
        sizes[zones] = size;
        zones++;
    }
    free(done);
    free(stack);
    return zones;
}

static PyObject *glszm_zones(PyObject *self, PyObject *args)
{
    PyObject *image_obj, *mask_obj, *levels_obj, *sizes_obj;
    Py_ssize_t shape[3];
    int skip_dim;
    Py_buffer image, mask, levels, sizes;
    if (!PyArg_ParseTuple(args, "OO(nnn)iOO:glszm_zones", &image_obj, &mask_obj,
                          &shape[0], &shape[1], &shape[2], &skip_dim, &levels_obj, &sizes_obj))
        return NULL;
    if (shape[0] < 0 || shape[1] < 0 || shape[2] < 0) {
        PyErr_SetString(PyExc_ValueError, "glszm_zones: negative shape");
        return NULL;
    }
    const Py_ssize_t n = shape[0] * shape[1] * shape[2];
    if (get_buffer(image_obj, &image, 4, "image (int32)", 0) < 0)
        return NULL;
    if (get_buffer(mask_obj, &mask, 1, "mask (uint8)", 0) < 0) {
        PyBuffer_Release(&image);
        return NULL;
    }
    if (get_buffer(levels_obj, &levels, 4, "levels (int32)", 1) < 0) {
        PyBuffer_Release(&image);
        PyBuffer_Release(&mask);
        return NULL;
    }
    if (get_buffer(sizes_obj, &sizes, 8, "sizes (int64)", 1) < 0) {
        PyBuffer_Release(&image);
        PyBuffer_Release(&mask);
        PyBuffer_Release(&levels);
        return NULL;
    }
    Py_ssize_t zones = -2;
    if (image.len / 4 == n && mask.len == n && levels.len / 4 >= n && sizes.len / 8 >= n) {
        Py_BEGIN_ALLOW_THREADS
        zones = grow_zones((const int32_t *)image.buf, (const uint8_t *)mask.buf, shape, skip_dim,
                           (int32_t *)levels.buf, (int64_t *)sizes.buf);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&image);
    PyBuffer_Release(&mask);
    PyBuffer_Release(&levels);
    PyBuffer_Release(&sizes);
    if (zones == -2) {
        PyErr_SetString(PyExc_ValueError, "glszm_zones: buffer sizes do not match the shape");
        return NULL;
    }
    if (zones == -1)
        return PyErr_NoMemory();
    return PyLong_FromSsize_t(zones);
}

static PyMethodDef methods[] = {
    {"glszm_zones", glszm_zones, METH_VARARGS,
     "glszm_zones(image, mask, shape, skip_dim, levels, sizes) -> number of zones\n\n"
     "Labels the gray-level zones of a 3D int32 image inside a uint8 mask (26-connected; "
     "skip_dim 0-2 excludes that dimension from connectivity, -1 none) and writes each "
     "zone's gray level and voxel count into levels (int32) and sizes (int64)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_kernels",
                                    "Compiled kernels of the frd extraction engine.", -1, methods};

PyMODINIT_FUNC PyInit__kernels(void) { return PyModule_Create(&module); }
