"""Build any model by name: ``@register_model`` on a small builder, ``get_model(name, **options)``."""
import difflib
import fnmatch

from ..errors import UserError

_MODELS = {}
_DEFAULT_INPUT = {}


def register_model(input_shape):
    """Register the decorated builder under its function name; ``input_shape`` is its native C,H,W."""
    def wrap(fn):
        if fn.__name__ in _MODELS:
            raise ValueError(f"model '{fn.__name__}' registered twice")
        _MODELS[fn.__name__] = fn
        _DEFAULT_INPUT[fn.__name__] = tuple(input_shape)
        return fn
    return wrap


def list_models(pattern="*"):
    _load_families()
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def native_input(name):
    _load_families()
    return _DEFAULT_INPUT[_check(name)]


def _check(name):
    if name not in _MODELS:
        near = difflib.get_close_matches(name, _MODELS, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(near)}?" if near else f"; choose from: {', '.join(sorted(_MODELS))}"
        raise UserError(f"unknown model '{name}'{hint}")
    return name


def get_model(name, classes=1000, **options):
    """Return a new (uninitialized) HybridBlock for ``name``."""
    _load_families()
    builder = _MODELS[_check(name.lower())]
    try:
        return builder(classes=classes, **options)
    except TypeError as err:
        raise UserError(f"model '{name}' does not take these options: {err}") from None


def _load_families():
    # Importing a family module runs its @register_model decorators.
    from . import alexnet, googlenet, resnet, small, squeezenet, vgg  # noqa: F401
