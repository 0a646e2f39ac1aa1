"""mxdl: image-classifier training on MXNet 1.9 / Gluon, one CPU to GPU clusters."""
__version__ = "0.1.0"
