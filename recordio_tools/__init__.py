"""recordio_tools: pack image datasets into RecordIO and HDF5 shards (``mxdl-pack``)."""
from mxdl import __version__  # noqa: F401  (one version for the whole distribution)
