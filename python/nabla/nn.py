"""nabla.nn: layers, Sequential, losses and optimisers, as in C++ nabla::nn.

The layer classes (Dense, Conv2D, MaxPool2D, ReLU, ...) are made here from
nabla's layer registry (``layer_types()``): one class per registered type,
with the constructor arguments, defaults and documentation of its entry, so
a layer added to the C++ registry appears here with no binding code.
"""
import inspect as _inspect
import weakref as _weakref

from . import _core
from ._core.nn import (Adam, AdamW, BinaryCrossEntropy, CosineAnnealingLR, Layer, LayerArg, LayerType,
                       LinearWarmup, Loss, MSE, Optimizer, Parameter, RMSprop, SGD, Schedule, Sequential, StepLR,
                       _time_steps_cpp, clip_grad_norm, manual_seed, presets, resolve_model,
                       SoftmaxCrossEntropy, layer_types)

__all__ = ["Adam", "AdamW", "BinaryCrossEntropy", "CosineAnnealingLR", "Layer", "LinearWarmup", "Loss", "MSE",
           "Optimizer", "Parameter", "RMSprop", "SGD", "Schedule", "Sequential", "SoftmaxCrossEntropy", "StepLR",
           "clip_grad_norm", "layer_types", "manual_seed", "presets", "resolve_model"]

_TYPES = {"int": int, "float": float, "bool": bool}


def _make_layer_class(t):
    """One Python class for one registry entry t (a LayerType)."""
    params = []
    for a in t.args:
        default = _inspect.Parameter.empty
        if a.default is not None:
            default = _TYPES[a.type](a.default)
        params.append(_inspect.Parameter(a.name, _inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                                         annotation=_TYPES[a.type]))
    signature = _inspect.Signature(params)
    arg_types = [(a.name, a.type) for a in t.args]
    type_name = t.name

    def __init__(self, *args, **kwargs):
        try:
            bound = signature.bind(*args, **kwargs)
        except TypeError as e:
            raise TypeError(f"{type_name}{signature}: {e}") from None
        bound.apply_defaults()
        values = []
        for name, kind in arg_types:
            v = bound.arguments[name]
            if kind == "int":
                if isinstance(v, bool) or not isinstance(v, int) and not (hasattr(v, "__index__")):
                    raise TypeError(f"{type_name}: {name} must be an int, got {v!r}")
                v = int(v)
            elif kind == "bool":
                v = bool(v)
            else:
                v = float(v)
            values.append(float(v))
        Layer.__init__(self, type_name, values)

    __init__.__signature__ = _inspect.Signature(
        [_inspect.Parameter("self", _inspect.Parameter.POSITIONAL_OR_KEYWORD)] + params)
    __init__.__doc__ = f"{type_name}{signature}"
    lines = [t.doc.strip(), ""]
    if t.args:
        lines.append("Arguments:")
        for a in t.args:
            d = "" if a.default is None else f" = {_TYPES[a.type](a.default)!r}"
            lines.append(f"    {a.name} ({a.type}{d}): {a.doc}")
    else:
        lines.append("No arguments.")
    doc = "\n".join(lines)
    return type(type_name, (Layer,), {"__init__": __init__, "__doc__": doc, "__module__": __name__,
                                      "__qualname__": type_name})


def _make_residual_class(t):
    """Residual takes layers, not numbers: its own class, documented from the registry."""

    def __init__(self, body, shortcut=None):
        body = list(body) if isinstance(body, (list, tuple)) else _not_a_list("body", body)
        shortcut = [] if shortcut is None else (
            list(shortcut) if isinstance(shortcut, (list, tuple)) else _not_a_list("shortcut", shortcut))
        Layer.__init__(self, body, shortcut)
        # A layer given to the block views it: keep the block (and what owns it) alive.
        for layer in body + shortcut:
            layer._owner = self

    __init__.__doc__ = "Residual(body, shortcut=None)"
    doc = "\n".join([t.doc.strip(), "",
                     "Arguments:",
                     "    body (list of layers): the residual branch, at least one layer; the block takes them",
                     "        (each layer can belong to one model, as with Sequential.add).",
                     "    shortcut (list of layers or None): the shortcut branch; None or [] is the identity.",
                     "",
                     "Unlike C++'s nn::Residual(Sequential, Sequential), the branches are lists of new layers:",
                     "    nn.Residual([nn.Conv2D(8, 8, 3, 1, 1), nn.ReLU(), nn.Conv2D(8, 8, 3, 1, 1)])"])
    return type(t.name, (Layer,), {"__init__": __init__, "__doc__": doc, "__module__": __name__,
                                   "__qualname__": t.name})


def _not_a_list(branch, value):
    raise TypeError(f"Residual: {branch} must be a list of new nabla.nn layers (the block takes them), "
                    f"got {type(value).__name__}")


for _t in layer_types():
    globals()[_t.name] = _make_residual_class(_t) if _t.name == "Residual" else _make_layer_class(_t)
    __all__.append(_t.name)
del _t

for _c in (Adam, AdamW, BinaryCrossEntropy, CosineAnnealingLR, Layer, LayerArg, LayerType, LinearWarmup, Loss, MSE,
           Optimizer, Parameter, RMSprop, SGD, Schedule, Sequential, SoftmaxCrossEntropy, StepLR):
    _c.__module__ = __name__
del _c

# The spec and input shape of the models from_spec made: what nabla.save
# writes as metadata, so that `nabla eval --model FILE` can rebuild them.
_SPECS = _weakref.WeakKeyDictionary()


def from_spec(spec, input_shape):
    """A Sequential from a model spec, the language of `nabla train --model`
    (or a preset name: 'cnn', 'lenet', ..., see presets()),
    for samples of input_shape ((features,) or (channels, height, width)),
    checking every shape on the way::

        nabla.nn.from_spec("conv 32 3 pad 1 relu | maxpool 2 | dense 10", input_shape=(1, 28, 28))

    Grammar (layers separated by '|'): ``dense UNITS [act]``, ``conv CHANNELS
    KERNEL [stride S] [pad P] [act]``, ``maxpool KERNEL [stride S]``,
    ``flatten``, ``softmax`` and every activation of nabla's table by its
    token (``relu``, ``sigmoid``, ``tanh``, ...). A Flatten is inserted before
    a dense layer that follows images. Raises nabla.Error naming the layer and
    the offending token or shape. Weights come from the manual_seed()
    generator. nabla.save() records the spec and input shape in the file, so
    `nabla eval --model FILE` can rebuild the model.
    """
    shape = [int(d) for d in input_shape]
    spec = resolve_model(spec)
    model = _core.nn.from_spec(spec, shape)
    _SPECS[model] = (spec, tuple(shape))
    return model


def spec_of(model):
    """(spec, input_shape) of a model from_spec made, else None."""
    return _SPECS.get(model)


__all__ += ["from_spec", "spec_of"]
