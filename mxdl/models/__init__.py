"""The model zoo: Gluon HybridBlocks built by name.

>>> from mxdl.models import get_model, list_models
>>> net = get_model("minivggnet", classes=10)
>>> net.initialize()
>>> report = load_pretrained(net, "minivggnet.params")   # or a gluoncv model-zoo file
"""
from .pretrained import LoadReport, load_pretrained  # noqa: F401
from .registry import get_model, list_models, native_input, register_model  # noqa: F401
