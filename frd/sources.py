"""Image sets that are already in memory: numpy arrays, torch tensors, SimpleITK images.

:func:`load_source` turns any set a user may give — a folder, a zip, a list of files, or
images in memory — into :class:`~frd.inputs.ImageItem` objects; in-memory images become
items that carry their pixels (:class:`Pixels`), which go to the extraction workers as
they are, never through files. The rules:

* a sequence (list or tuple) holds one image per element: a 2-D array is a 2D image, a 3-D
  array a volume (depth first, as SimpleITK gives arrays); SimpleITK images keep their
  spacing, origin and direction;
* one stacked array or tensor holds a set: ``N×H×W`` (2D images), ``N×C×H×W`` when its
  second axis has 1, 3 or 4 entries (grayscale, RGB, RGBA — colour becomes luminance with
  the weights used for colour PNGs), otherwise ``N×D×H×W`` (volumes); ``N×1×D×H×W`` is a
  set of volumes. Give volumes of 1, 3 or 4 slices as a list of 3-D arrays;
* plain arrays have a spacing of 1 mm on every axis unless :class:`ArraySet` gives one
  (PNG and JPEG files have 1 mm too, so an array holding exactly a PNG's pixels gives
  exactly that PNG's features);
* torch tensors are read with ``.detach().cpu().numpy()`` (torch is never imported here);
  float16/bfloat16 become float32, booleans uint8;
* masks are given the same way, one per image, of the same shape.

An array's cache key hashes its bytes, dtype, shape, spacing, origin and direction, so a
reference evaluated again is not extracted again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from .errors import InputError, MaskMismatch
from .inputs import ImageItem, load_set

LUMINANCE_WEIGHTS = (0.299, 0.587, 0.114)  # as frd.imageio converts colour files


@dataclass(frozen=True, eq=False)
class Pixels:
    """An image in memory: its array (depth, height, width order) and geometry."""

    array: np.ndarray
    spacing: tuple[float, ...]  # x, y[, z], as SimpleITK orders it
    origin: tuple[float, ...] | None = None
    direction: tuple[float, ...] | None = None
    colour: bool = False  # the last axis holds RGB(A) channels

    @property
    def nbytes(self) -> int:
        return int(self.array.nbytes)

    @property
    def shape(self) -> tuple[int, ...]:
        """The spatial shape (without colour channels)."""
        return tuple(self.array.shape[:-1] if self.colour else self.array.shape)

    def digest(self) -> str:
        """SHA-256 of everything that defines the image: bytes, dtype, shape, geometry."""
        h = hashlib.sha256()
        h.update(
            repr(
                (self.array.dtype.str, self.array.shape, self.spacing, self.origin, self.direction, self.colour)
            ).encode()
        )
        h.update(np.ascontiguousarray(self.array).data)
        return h.hexdigest()

    def image(self, float32: bool = True):
        """The SimpleITK image (float32 for images, stored type for masks)."""
        import SimpleITK as sitk

        array = self.array.astype(np.float32, copy=False) if float32 and not self.colour else self.array
        image = sitk.GetImageFromArray(np.ascontiguousarray(array), isVector=self.colour)
        image.SetSpacing(self.spacing)
        if self.origin is not None:
            image.SetOrigin(self.origin)
        if self.direction is not None:
            image.SetDirection(self.direction)
        return image


@dataclass(frozen=True)
class ArraySet:
    """In-memory images with their geometry: ``frd.compare(ArraySet(volumes, spacing=(0.7, 0.7, 2.0)), ...)``.

    ``images`` and ``masks`` follow the module's rules; ``spacing`` (x, y[, z] in mm)
    applies to every image; ``names`` name them in results (default ``image 0``, ...).
    """

    images: Any
    masks: Any = None
    spacing: tuple[float, ...] | None = None
    names: tuple[str, ...] | None = None


def is_in_memory(source) -> bool:
    """Whether ``source`` is a set of in-memory images (not paths)."""
    if isinstance(source, ArraySet) or _is_image_object(source):
        return True
    if isinstance(source, (list, tuple)) and source:
        return all(_is_image_object(x) for x in source)
    return False


def load_source(source, masks=None) -> list[ImageItem]:
    """The images of any set — files (see :func:`frd.inputs.load_set`) or in memory."""
    if not is_in_memory(source):
        if masks is not None and is_in_memory(masks):
            raise InputError("masks in memory need images in memory; give the images as arrays too")
        return load_set(source, masks)
    if isinstance(source, ArraySet):
        if masks is not None and source.masks is not None:
            raise InputError("masks are given twice: in the ArraySet and as an argument")
        return _items(source.images, source.masks if masks is None else masks, source.spacing, source.names)
    return _items(source, masks, None, None)


def _is_image_object(x) -> bool:
    return isinstance(x, np.ndarray) or _is_tensor(x) or _is_sitk(x)


def _is_tensor(x) -> bool:
    return type(x).__module__.split(".")[0] == "torch" and hasattr(x, "detach")


def _is_sitk(x) -> bool:
    return type(x).__name__ == "Image" and type(x).__module__.startswith("SimpleITK")


def _items(images, masks, spacing, names) -> list[ImageItem]:
    pixels = _split(images, spacing, "image")
    if names is not None and len(names) != len(pixels):
        raise InputError(f"{len(names)} names for {len(pixels)} images")
    names = tuple(names) if names is not None else tuple(f"image {i}" for i in range(len(pixels)))
    if len(set(names)) != len(names):
        raise InputError("two in-memory images have the same name")
    mask_pixels = _split(masks, spacing, "mask", float_ok=True) if masks is not None else None
    if mask_pixels is not None and len(mask_pixels) != len(pixels):
        raise InputError(f"{len(mask_pixels)} masks for {len(pixels)} images: give one mask per image")
    items = []
    for i, (name, image) in enumerate(zip(names, pixels)):
        mask = None
        if mask_pixels is not None:
            m = mask_pixels[i]
            if m.shape != image.shape:
                raise MaskMismatch(f"the mask of {name} has the shape {m.shape}, the image {image.shape}")
            if m.spacing != image.spacing and _is_plain(m):
                m = Pixels(m.array, image.spacing, image.origin, image.direction)
            mask = ImageItem(name=f"{name} (mask)", files=(f"{name} (mask)",), pixels=m)
        items.append(ImageItem(name=name, files=(name,), mask=mask, pixels=image))
    return items


def _is_plain(p: Pixels) -> bool:
    return p.origin is None and p.direction is None


def _split(source, spacing, what: str, float_ok: bool = True) -> list[Pixels]:
    """One Pixels per image of ``source`` (a sequence, or one stacked array/tensor)."""
    if isinstance(source, (list, tuple)):
        return [_one(x, spacing, f"{what} {i}") for i, x in enumerate(source)]
    if _is_sitk(source):
        return [_from_sitk(source)]
    array = _as_array(source, what)
    if array.ndim == 2:
        raise InputError(f"a single 2-D array is one {what}, not a set: give a list of arrays or an N×H×W stack")
    if array.ndim == 3:
        return [_plain(a, spacing, f"{what} {i}") for i, a in enumerate(array)]
    if array.ndim == 4:
        if array.shape[1] == 1:
            return [_plain(a[0], spacing, f"{what} {i}") for i, a in enumerate(array)]
        if array.shape[1] in (3, 4):  # N×C×H×W colour
            return [_colour(np.moveaxis(a, 0, -1), spacing, f"{what} {i}") for i, a in enumerate(array)]
        return [_plain(a, spacing, f"{what} {i}") for i, a in enumerate(array)]
    if array.ndim == 5 and array.shape[1] == 1:
        return [_plain(a[0], spacing, f"{what} {i}") for i, a in enumerate(array)]
    raise InputError(
        f"a stack of {what}s must be N×H×W, N×C×H×W (C = 1, 3 or 4), N×D×H×W or N×1×D×H×W, not of shape {array.shape}"
    )


def _one(x, spacing, name: str) -> Pixels:
    if _is_sitk(x):
        return _from_sitk(x)
    array = _as_array(x, name)
    if array.ndim not in (2, 3):
        raise InputError(f"{name}: an image in a list must be 2-D (H×W) or 3-D (D×H×W), not of shape {array.shape}")
    return _plain(array, spacing, name)


def _as_array(x, what: str) -> np.ndarray:
    if _is_tensor(x):
        x = x.detach()
        if str(x.dtype) in ("torch.float16", "torch.bfloat16"):
            x = x.float()
        x = x.cpu().numpy()
    array = np.asarray(x)
    if array.dtype == bool:
        array = array.astype(np.uint8)
    elif array.dtype == np.float16:
        array = array.astype(np.float32)
    if array.dtype.kind not in "uif":
        raise InputError(f"{what}: images must hold real numbers, not {array.dtype}")
    return array


def _plain(array: np.ndarray, spacing, name: str) -> Pixels:
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]  # one slice: a 2D image, as the reference treats it
    spacing = tuple(float(s) for s in spacing) if spacing is not None else (1.0,) * array.ndim
    if len(spacing) != array.ndim:
        raise InputError(f"{name}: a spacing of {len(spacing)} values for a {array.ndim}-D image")
    return Pixels(np.array(array, copy=True), spacing)  # a copy: later changes by the caller do not leak in


def _colour(array: np.ndarray, spacing, name: str) -> Pixels:
    spacing = tuple(float(s) for s in spacing) if spacing is not None else (1.0, 1.0)
    if len(spacing) != 2:
        raise InputError(f"{name}: a spacing of {len(spacing)} values for a 2-D colour image")
    return Pixels(np.array(array, copy=True), spacing, colour=True)


def _from_sitk(image) -> Pixels:
    import SimpleITK as sitk

    colour = image.GetNumberOfComponentsPerPixel() > 1
    return Pixels(
        sitk.GetArrayFromImage(image),
        tuple(image.GetSpacing()),
        tuple(image.GetOrigin()),
        tuple(image.GetDirection()),
        colour=colour,
    )
