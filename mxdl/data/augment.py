"""On-the-fly augmentation for the HDF5 pipeline, with the book's settings as defaults.

One random affine transform per image (rotation, width/height shift, shear,
zoom) plus an optional horizontal flip; edges are filled with the nearest
pixel, as Keras's ``fill_mode="nearest"``. Labels are never touched.
"""
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentSettings:
    rotation: float = 30.0     # degrees, +/-
    shift: float = 0.1         # fraction of width and height, +/-
    shear: float = 0.2         # shear angle in radians, +/- (Keras's shear_range unit is degrees
                               # in recent versions; the book's 0.2 is tiny either way)
    zoom: float = 0.2          # scale in [1 - zoom, 1 + zoom]
    flip: bool = True

    @classmethod
    def none(cls):
        return cls(0.0, 0.0, 0.0, 0.0, False)


def random_affine_matrices(n, h, w, s, rng):
    """``n`` random 2x3 affine matrices for H x W images, drawn in one call per parameter so a
    batch's draws do not depend on how many threads then apply them."""
    angle = np.deg2rad(rng.uniform(-s.rotation, s.rotation, n))
    shear = rng.uniform(-s.shear, s.shear, n)
    zx, zy = rng.uniform(1 - s.zoom, 1 + s.zoom, (2, n))
    tx, ty = rng.uniform(-s.shift, s.shift, n) * w, rng.uniform(-s.shift, s.shift, n) * h
    cos, sin = np.cos(angle), np.sin(angle)
    # rotation @ shear @ diag(zx, zy), written out per element for all n at once
    a, b = cos, cos * -np.sin(shear) - sin * np.cos(shear)
    c, d = sin, sin * -np.sin(shear) + cos * np.cos(shear)
    lin = np.stack([np.stack([a * zx, b * zy], -1), np.stack([c * zx, d * zy], -1)], 1)
    center = np.array([w / 2, h / 2])
    offset = center - lin @ center + np.stack([tx, ty], -1)
    return np.concatenate([lin, offset[:, :, None]], 2)


@dataclass
class Draws:
    """One batch's random transforms: a matrix (or None) and a mirror flag per image."""
    matrices: object
    flips: np.ndarray

    @classmethod
    def for_batch(cls, n, h, w, settings, rng):
        warp = settings.rotation or settings.shift or settings.shear or settings.zoom
        matrices = random_affine_matrices(n, h, w, settings, rng) if warp else None
        return cls(matrices, (rng.uniform(0, 1, n) < 0.5) & settings.flip)

    def apply(self, i, image):
        """Image ``i`` of the batch, transformed; same shape and dtype out."""
        h, w = image.shape[:2]
        out = image
        if self.matrices is not None:
            out = cv2.warpAffine(image, self.matrices[i], (w, h), flags=cv2.INTER_LINEAR,
                                 borderMode=cv2.BORDER_REPLICATE).reshape(image.shape)
        return out[:, ::-1] if self.flips[i] else out


def augment(image, settings, rng):
    """Randomly transform one H x W x C image; same shape and dtype out."""
    return np.ascontiguousarray(Draws.for_batch(1, *image.shape[:2], settings, rng).apply(0, image))
