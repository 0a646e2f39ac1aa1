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


# Ranges of the options many families share; Gluon layers take any value and fail later, far away.
_RANGES = {"dropout": (0.0, 1.0, "in [0, 1)"), "conv_dropout": (0.0, 1.0, "in [0, 1)"),
           "bn_momentum": (0.0, 1.0, "in [0, 1)"), "bn_epsilon": (1e-12, float("inf"), "above 0")}


def _check_values(name, classes, options):
    if not (isinstance(classes, int) and classes >= 1):
        raise UserError(f"model '{name}': classes must be a positive integer, got {classes!r}")
    for key, value in options.items():
        if key in _RANGES:
            low, high, text = _RANGES[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value < high:
                raise UserError(f"model '{name}': option {key} must be a number {text}, got {value!r}")


def get_model(name, classes=1000, **options):
    """Return a new (uninitialized) HybridBlock for ``name``."""
    _load_families()
    builder = _MODELS[_check(name.lower())]
    _check_values(name, classes, options)
    try:
        net = builder(classes=classes, **options)
    except TypeError as err:
        raise UserError(f"model '{name}' does not take these options: {err}") from None
    except (ValueError, AssertionError) as err:  # a builder or Gluon layer refusing an option's value
        raise UserError(f"model '{name}' with options {options}: {str(err).splitlines()[0]}") from None
    net.model_name = name.lower()  # what load_pretrained looks up a gluoncv counterpart by
    return net


def _load_families():
    # Importing a family module runs its @register_model decorators.
    from . import alexnet, googlenet, resnet, small, squeezenet, vgg  # noqa: F401
