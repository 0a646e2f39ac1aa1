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


def random_affine_matrix(h, w, s, rng):
    angle = np.deg2rad(rng.uniform(-s.rotation, s.rotation))
    shear = rng.uniform(-s.shear, s.shear)
    zx, zy = rng.uniform(1 - s.zoom, 1 + s.zoom, size=2)
    tx, ty = rng.uniform(-s.shift, s.shift) * w, rng.uniform(-s.shift, s.shift) * h
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    shr = np.array([[1, -np.sin(shear)], [0, np.cos(shear)]])
    lin = rot @ shr @ np.diag([zx, zy])
    center = np.array([w / 2, h / 2])
    offset = center - lin @ center + [tx, ty]
    return np.hstack([lin, offset[:, None]])


def augment(image, settings, rng):
    """Randomly transform one H x W x C image; same shape and dtype out."""
    h, w = image.shape[:2]
    out = image
    if settings.rotation or settings.shift or settings.shear or settings.zoom:
        m = random_affine_matrix(h, w, settings, rng)
        out = cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        out = out.reshape(image.shape)
    if settings.flip and rng.rand() < 0.5:
        out = out[:, ::-1]
    return np.ascontiguousarray(out)
