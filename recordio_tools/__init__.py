"""recordio_tools: pack image datasets into RecordIO and HDF5 shards (``mxdl-pack``)."""
__version__ = "0.1.0"
