"""The inference fast path: a model that is a chain of Dense layers runs in one native call.

``Model.predict``, ``predict_on_batch`` and ``model(x)`` on a 2-D float32 batch first try
:func:`run`. It works for graphs whose layers after the input are, in a single chain, Dense
layers with a native activation, Activation layers that follow a linear Dense, and Dropout
(the identity at inference). Anything else (other layers, custom activation callables,
masks, inputs of another shape) returns None and the caller takes the general path, which
gives the same numbers and the layer-specific error messages.

The chain's structure is cached on the model and rebuilt when its graph changes or a layer's
activation is replaced; weights are read from their variables at every call, so
``set_weights``, ``load_weights`` and training are always seen.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pynncore import _core
from pynncore.activations import ActivationFunction


class _Step:
    __slots__ = ("dense", "act_layer", "act", "act_args")

    def __init__(self, dense: Any, act_layer: Any, act: ActivationFunction):
        self.dense = dense
        self.act_layer = act_layer
        self.act = act
        kw = act._kernel_kw
        self.act_args = (act.name, kw.get("alpha"), bool(kw.get("approximate", False)))


def _native(act: Any) -> bool:
    return type(act) is ActivationFunction


def _plan(model: Any) -> Optional[list]:
    from pynncore.layers.base import InputLayer
    from pynncore.layers.core import Activation, Dense, Dropout

    nodes = model._nodes
    steps: list = []
    prev_out = None
    for node in nodes:
        layer = node.layer
        if len(node.outputs) != 1:
            return None
        if isinstance(layer, InputLayer):
            if prev_out is not None:
                return None
            prev_out = node.outputs[0]
            continue
        if len(node.inputs) != 1:
            return None
        if prev_out is None or node.inputs[0] is not prev_out:
            return None
        prev_out = node.outputs[0]
        kind = type(layer)
        if kind is Dense:
            if not _native(layer.activation) or layer.kernel is None:
                return None
            steps.append(_Step(layer, None, layer.activation))
        elif kind is Activation:
            if not steps or steps[-1].act.name != "linear" or steps[-1].act_layer is not None:
                return None
            if not _native(layer.activation):
                return None
            last = steps[-1]
            steps[-1] = _Step(last.dense, layer, layer.activation)
        elif kind is Dropout:
            continue
        else:
            return None
    if not steps or prev_out is not model._outputs[0] or len(model._outputs) != 1:
        return None
    return steps


def run(model: Any, x: np.ndarray) -> Optional[np.ndarray]:
    """``model``'s inference output for the float32 C-contiguous 2-D batch ``x``, or None."""
    cached = model.__dict__.get("_inference_plan")
    nodes = model.__dict__.get("_nodes")
    if nodes is None:
        return None
    if cached is None or cached[0] is not nodes or cached[2] != len(nodes):
        cached = (nodes, _plan(model), len(nodes))
        model._inference_plan = cached
    steps = cached[1]
    if steps is None:
        return None
    args = []
    for s in steps:
        dense = s.dense
        current = (s.act_layer or dense).activation
        if current is not s.act:
            model._inference_plan = None
            return run(model, x)
        bias = dense.bias
        args.append((dense.kernel.value, None if bias is None else bias.value, *s.act_args))
    if x.shape[1] != args[0][0].shape[0]:
        return None
    return _core.dense_chain_forward(x, args)
