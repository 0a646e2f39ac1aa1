"""Export scikit-learn's 8x8 handwritten digits (1,797 real images) as a class-per-folder tree.

This is the embedded default dataset: it ships inside scikit-learn, so the
README's main job needs no download. Pixel values 0..16 are scaled to 0..255
and written as lossless grayscale PNGs, ``OUT/<digit>/<index>.png``.
"""
import os

import cv2
import numpy as np

from mxdl.fileio import atomic_write_bytes


def export_digits(out):
    from sklearn.datasets import load_digits
    digits = load_digits()
    images = np.clip(np.rint(digits.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    for label in range(10):
        os.makedirs(os.path.join(out, str(label)), exist_ok=True)
    for i, (image, label) in enumerate(zip(images, digits.target)):
        path = os.path.join(out, str(label), f"{i:04d}.png")
        if not os.path.isfile(path):
            ok, buf = cv2.imencode(".png", image)
            atomic_write_bytes(path, buf.tobytes())
    return len(images)
