"""Layer base class, weights, and the symbolic tensors that models are built from.

A layer runs eagerly on numpy arrays (``layer(x)``) or symbolically on ``KerasTensor``s
(``layer(pynncore.Input(shape=(8,)))``), which records a node in a graph that ``Model`` runs.
Training uses ``forward``/``backward``: ``forward(x, training)`` returns the output and a
context holding what the backward pass needs, and ``backward(ctx, dy)`` adds the gradients of
the layer's weights to their ``grad`` arrays and returns the gradient with respect to its input.
Keeping the context outside the layer lets one layer appear several times in a graph.

Calling conventions (the same eagerly and in graphs):
- A layer called on one tensor gets one array: ``forward(x, training)`` returns ``(y, ctx)`` and
  ``backward(ctx, dy, need_dx)`` returns ``dx``.
- A layer called on a list of tensors (merge layers, models with several inputs) gets a list:
  ``build`` and ``compute_output_shape`` receive a list of shapes, ``forward(xs, training)`` a
  list of arrays, and ``backward`` returns a list with one gradient (or None) per input.
- A layer with several outputs returns a list of shapes from ``compute_output_shape`` and a
  list of arrays from ``forward``; its ``backward`` receives a list of output gradients (zeros
  for outputs nothing depends on).
- Keyword call arguments are passed on to ``forward``. Symbolic tensors among them (a recurrent
  layer's ``initial_state=[h, c]``) become extra inputs of the graph node; a layer routes their
  gradients back by returning ``(dx, {"initial_state": [dh, dc]})`` from ``backward`` (a layer
  that returns ``dx`` alone treats them as constants).
"""

from __future__ import annotations

import inspect
import itertools
import re
from collections import defaultdict
from typing import Any, Optional, Sequence

import numpy as np

from pynncore import _memory
from pynncore import constraints as _constraints
from pynncore import initializers as _initializers
from pynncore import regularizers as _regularizers

__all__ = ["InputLayer", "Input", "InputSpec", "KerasTensor", "Layer", "Node", "Variable", "assert_input_compatibility"]

_name_counters: dict = defaultdict(itertools.count)


def _to_snake_case(name: str) -> str:
    """Keras's default layer names: ``MaxPooling2D`` -> ``max_pooling2d``, ``GRU`` -> ``gru``."""
    s = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", s).lower()


def unique_name(base: str) -> str:
    """``dense``, ``dense_1``, ``dense_2``, ... as Keras names layers."""
    n = next(_name_counters[base])
    return base if n == 0 else f"{base}_{n}"


def shape_str(shape: Sequence[Optional[int]]) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


class Variable:
    """A weight: a float32 array, its gradient, and how it is trained.

    ``value`` and ``grad`` may be views into a model-wide flat buffer (the optimizer updates all
    weights of a model in one native call), so code must write them in place
    (``v.value[...] = x``), never rebind them; ``assign`` does that with a shape check.
    """

    __slots__ = ("name", "path", "value", "grad", "trainable", "regularizer", "constraint")

    def __init__(
        self,
        value: np.ndarray,
        name: str,
        trainable: bool = True,
        regularizer: Any = None,
        constraint: Any = None,
    ):
        self.value = _memory.copy(np.asarray(value, dtype=np.float32))
        self.grad = _memory.zeros(self.value.size).reshape(self.value.shape) if trainable else None
        self.name = name
        self.path = name
        self.trainable = trainable
        self.regularizer = regularizer
        self.constraint = constraint

    @property
    def shape(self) -> tuple:
        return self.value.shape

    def numpy(self) -> np.ndarray:
        return self.value.copy()

    def assign(self, value: Any) -> None:
        arr = np.asarray(value)
        if arr.shape != self.value.shape:
            raise ValueError(
                f"Variable '{self.path}': expected a value of shape {self.value.shape}. "
                f"Received: shape={arr.shape}"
            )
        if arr.dtype.kind not in "biuf":
            raise TypeError(f"Variable '{self.path}': expected real numbers. Received: dtype={arr.dtype}")
        self.value[...] = arr

    def __repr__(self) -> str:
        return f"<Variable path={self.path}, shape={self.value.shape}, trainable={self.trainable}>"


class KerasTensor:
    """A symbolic tensor: a shape (batch dimension None) and the layer call that made it.

    ``_history`` is ``(layer, node_index, tensor_index)``: the ``node_index``-th call of
    ``layer`` produced this tensor as its ``tensor_index``-th output.
    """

    __slots__ = ("shape", "dtype", "name", "_history")

    def __init__(self, shape: Sequence[Optional[int]], name: Optional[str] = None, history=None):
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.dtype = "float32"
        self.name = name
        if history is not None and len(history) == 2:
            history = (history[0], history[1], 0)
        self._history = history

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={shape_str(self.shape)}, name={self.name}>"


def _is_shape_list(shape: Any) -> bool:
    """True for a list (or tuple) of shapes, i.e. several outputs; False for one shape."""
    return isinstance(shape, (list, tuple)) and len(shape) > 0 and all(isinstance(s, (list, tuple)) for s in shape)


def _tensor_list(value: Any) -> Optional[list]:
    """``value`` as a list of KerasTensors when it is one or a list/tuple of them, else None."""
    if isinstance(value, KerasTensor):
        return [value]
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, KerasTensor) for v in value):
        return list(value)
    return None


class Node:
    """One call of a layer on symbolic inputs.

    ``inputs`` lists the tensors the call reads: first the ``n_main`` positional inputs, then
    the tensors passed as keyword arguments (``kw_tensors`` maps each such argument to whether
    it was a list and the positions of its tensors in ``inputs``). ``kwargs`` holds the other,
    constant keyword arguments. ``as_list``: the positional input was a list of tensors;
    ``multi_output``: the layer returned a list.
    """

    __slots__ = ("layer", "inputs", "outputs", "n_main", "as_list", "multi_output", "kwargs", "kw_tensors", "live")

    def __init__(
        self,
        layer: "Layer",
        inputs: list,
        outputs: list,
        as_list: bool = False,
        multi_output: bool = False,
        kwargs: Optional[dict] = None,
        kw_tensors: Optional[dict] = None,
        n_main: Optional[int] = None,
    ):
        self.layer = layer
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.n_main = len(self.inputs) if n_main is None else int(n_main)
        self.as_list = bool(as_list)
        self.multi_output = bool(multi_output)
        self.kwargs = dict(kwargs or {})
        self.kw_tensors = dict(kw_tensors or {})
        self.live = True  # False once the model that made it rebuilt its graph

    def call_arguments(self, arrays: list) -> tuple:
        """``(x, kwargs)`` for ``forward`` from the arrays of ``inputs`` (same order)."""
        main = arrays[: self.n_main]
        x = list(main) if self.as_list else main[0]
        kwargs = dict(self.kwargs)
        for key, (is_list, idx) in self.kw_tensors.items():
            vals = [arrays[i] for i in idx]
            kwargs[key] = vals if is_list else vals[0]
        return x, kwargs

    def run(self, arrays: list, masks: list, training: bool) -> tuple:
        """Runs the layer; returns ``(outputs as a list, ctx, output masks as a list)``."""
        layer = self.layer
        x, kwargs = self.call_arguments(arrays)
        main_masks = masks[: self.n_main]
        if self.as_list:
            mask = None if all(m is None for m in main_masks) else list(main_masks)
        else:
            mask = main_masks[0]
        y, ctx = layer._forward_masked(x, training, mask, **kwargs)
        outs = list(y) if self.multi_output else [y]
        if kwargs and layer.mask_uses_call_args:
            out_mask = layer.compute_mask(x, mask, **kwargs)
        else:
            out_mask = layer.compute_mask(x, mask)
        if self.multi_output:
            out_masks = list(out_mask) if isinstance(out_mask, (list, tuple)) else [out_mask] * len(outs)
        else:
            out_masks = [out_mask]
        return outs, ctx, out_masks

    def backprop(self, ctx: Any, grads: list, outs: list, need_dx: bool) -> list:
        """Gradients with respect to every tensor of ``inputs`` (None where there is none)."""
        layer = self.layer
        if self.multi_output:
            dy = [np.zeros_like(o) if g is None else g for g, o in zip(grads, outs)]
        else:
            dy = grads[0]
        res = layer.backward(ctx, dy, need_dx=need_dx)
        kw_grads: dict = {}
        if self.kw_tensors and isinstance(res, tuple) and len(res) == 2 and isinstance(res[1], dict):
            res, kw_grads = res
        out: list = [None] * len(self.inputs)
        if need_dx and res is not None:
            if self.as_list:
                res = list(res)
                if len(res) != self.n_main:
                    raise ValueError(
                        f"Layer '{layer.name}': backward returned {len(res)} gradients for "
                        f"{self.n_main} inputs"
                    )
                out[: self.n_main] = res
            else:
                out[0] = res
        for key, (is_list, idx) in self.kw_tensors.items():
            g = kw_grads.get(key)
            if g is None:
                continue
            g = list(g) if is_list else [g]
            for i, gi in zip(idx, g):
                out[i] = gi
        return out


def _spec_int(value: Any, arg: str) -> Optional[int]:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"InputSpec: {arg} must be a non-negative integer or None. Received: {arg}={value!r}")
    if value < 0:
        raise ValueError(f"InputSpec: {arg} must be a non-negative integer or None. Received: {arg}={value!r}")
    return int(value)


class InputSpec:
    """The rank, dtype and shape that a layer expects of each input, Keras 3 ``InputSpec``.

    A layer that sets ``self.input_spec`` (one spec, or a list with one spec or None per input)
    has every call checked against it before it runs, eagerly on arrays and symbolically on
    model tensors (``assert_input_compatibility``); a mismatch raises ``ValueError`` naming
    the layer, the input, what was expected and what came. ``None`` in ``shape`` or ``axes``
    matches any size.

    Args:
        dtype: expected dtype of the input (floating arrays count as ``"float32"``, the dtype
            layers compute in).
        shape: expected shape, batch dimension included; sets ``ndim`` to its length.
        ndim: expected rank.
        max_ndim: largest rank accepted.
        min_ndim: smallest rank accepted.
        axes: dict mapping axes (negative counts from the end) to their expected sizes.
        allow_last_axis_squeeze: with ``shape``, also accept inputs of one more rank whose last
            axis is 1, and of one less rank when the spec's last axis is 1.
        name: the input's name (shown in error messages).
        optional: whether the input may be None.

    Raises:
        TypeError: ``axes`` is not a dict with integer keys, or a rank or size is not an integer.
        ValueError: a negative rank or size, an axis in ``axes`` beyond the rank given by
            ``ndim`` or ``max_ndim``, or a ``dtype`` that is not a dtype.

    Example:
        >>> from pynncore.layers import InputSpec
        >>> InputSpec(ndim=3, axes={-1: 4})
        InputSpec(ndim=3, axes={-1: 4})
    """

    def __init__(
        self,
        dtype: Any = None,
        shape: Optional[Sequence[Optional[int]]] = None,
        ndim: Optional[int] = None,
        max_ndim: Optional[int] = None,
        min_ndim: Optional[int] = None,
        axes: Optional[dict] = None,
        allow_last_axis_squeeze: bool = False,
        name: Optional[str] = None,
        optional: bool = False,
    ):
        if dtype is not None:
            try:
                dtype = np.dtype(dtype).name
            except TypeError as exc:
                raise ValueError(f"InputSpec: dtype must be a dtype or None. Received: dtype={dtype!r}") from exc
        self.dtype = dtype
        if shape is not None:
            if not isinstance(shape, (list, tuple)):
                raise TypeError(f"InputSpec: shape must be a tuple of sizes (or None). Received: shape={shape!r}")
            self.shape = tuple(_spec_int(d, "shape entry") for d in shape)
            self.ndim = len(self.shape)
        else:
            self.shape = None
            self.ndim = _spec_int(ndim, "ndim")
        self.max_ndim = _spec_int(max_ndim, "max_ndim")
        self.min_ndim = _spec_int(min_ndim, "min_ndim")
        self.name = name
        self.optional = bool(optional)
        self.allow_last_axis_squeeze = bool(allow_last_axis_squeeze)
        axes = axes or {}
        if not isinstance(axes, dict) or not all(
            isinstance(k, (int, np.integer)) and not isinstance(k, bool) for k in axes
        ):
            raise TypeError(f"InputSpec: axes must be a dict with integer keys. Received: axes={axes!r}")
        self.axes = {int(k): (None if v is None else _spec_int(v, f"axes[{k}]")) for k, v in axes.items()}
        top = self.ndim if self.ndim is not None else self.max_ndim
        if self.axes and top is not None and max(self.axes) > top - 1:
            raise ValueError(
                f"InputSpec: axis {max(self.axes)} in axes is greater than the maximum allowed value "
                f"{top - 1} for inputs of rank {top}. Received: axes={self.axes}"
            )

    def __repr__(self) -> str:
        parts = [
            f"dtype={self.dtype}" if self.dtype else "",
            f"shape={self.shape}" if self.shape else "",
            f"ndim={self.ndim}" if self.ndim else "",
            f"max_ndim={self.max_ndim}" if self.max_ndim else "",
            f"min_ndim={self.min_ndim}" if self.min_ndim else "",
            f"axes={self.axes}" if self.axes else "",
        ]
        return f"InputSpec({', '.join(p for p in parts if p)})"

    def get_config(self) -> dict:
        return {
            "dtype": self.dtype,
            "shape": self.shape,
            "ndim": self.ndim,
            "max_ndim": self.max_ndim,
            "min_ndim": self.min_ndim,
            "axes": self.axes,
            "optional": self.optional,
        }

    @classmethod
    def from_config(cls, config: dict) -> "InputSpec":
        return cls(**config)


def _flat_specs(spec: Any) -> list:
    if isinstance(spec, (list, tuple)):
        return [s for item in spec for s in _flat_specs(item)]
    if isinstance(spec, dict):
        return [s for item in spec.values() for s in _flat_specs(item)]
    return [spec]


def assert_input_compatibility(input_spec: Any, inputs: Any, layer_name: str) -> None:
    """Raises ``ValueError`` unless ``inputs`` (an array or symbolic tensor, or a list of them)
    match ``input_spec`` (an ``InputSpec``, a list of them and None, or None), as Keras checks
    a layer's inputs: the number of inputs, then each input's rank, dtype, fixed axes and shape."""
    if not input_spec:
        return
    specs = _flat_specs(input_spec)
    xs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if len(xs) != len(specs):
        raise ValueError(
            f"Layer '{layer_name}' expects {len(specs)} input(s), but it received {len(xs)} input tensors"
        )
    for i, (x, spec) in enumerate(zip(xs, specs)):
        if spec is None or (x is None and spec.optional):
            continue
        if not isinstance(spec, InputSpec):
            raise TypeError(
                f"Layer '{layer_name}': input_spec must hold InputSpec objects or None. "
                f"Received: {type(spec).__name__}"
            )
        if x is None or isinstance(x, Layer):
            raise ValueError(
                f"Layer '{layer_name}': inputs to a layer should be tensors or arrays. Received: "
                f"{type(x).__name__} as input {i}"
            )
        if isinstance(x, KerasTensor):
            shape, dtype = x.shape, x.dtype
        else:
            arr = x if isinstance(x, np.ndarray) else np.asarray(x)
            shape = arr.shape
            # Floating inputs are computed in float32, as Keras casts them to the compute dtype.
            dtype = "float32" if arr.dtype.kind == "f" else arr.dtype.name
        ndim = len(shape)
        where = f"Input {i} with name '{spec.name}' of layer '{layer_name}' is incompatible with the layer"
        if spec.ndim is not None and not spec.allow_last_axis_squeeze and ndim != spec.ndim:
            raise ValueError(
                f"{where}: expected ndim={spec.ndim}, found ndim={ndim}. Full shape received: {shape_str(shape)}"
            )
        if spec.max_ndim is not None and ndim > spec.max_ndim:
            raise ValueError(
                f"{where}: expected max_ndim={spec.max_ndim}, found ndim={ndim}. "
                f"Full shape received: {shape_str(shape)}"
            )
        if spec.min_ndim is not None and ndim < spec.min_ndim:
            raise ValueError(
                f"{where}: expected min_ndim={spec.min_ndim}, found ndim={ndim}. "
                f"Full shape received: {shape_str(shape)}"
            )
        if spec.dtype is not None and dtype != spec.dtype:
            raise ValueError(f"{where}: expected dtype={spec.dtype}, found dtype={dtype}")
        for axis, value in spec.axes.items():
            if value is None:
                continue
            if not -ndim <= axis < ndim:
                raise ValueError(
                    f"{where}: expected axis {axis} of input shape to have value {value}, but received "
                    f"input with shape {shape_str(shape)}, which has no axis {axis}"
                )
            if shape[axis] is not None and shape[axis] != value:
                raise ValueError(
                    f"{where}: expected axis {axis} of input shape to have value {value}, but received "
                    f"input with shape {shape_str(shape)}"
                )
        if spec.shape is not None:
            spec_shape, got = spec.shape, tuple(shape)
            if spec.allow_last_axis_squeeze:
                if got and got[-1] == 1:
                    got = got[:-1]
                if spec_shape and spec_shape[-1] == 1:
                    spec_shape = spec_shape[:-1]
            if any(a is not None and b is not None and a != b for a, b in zip(spec_shape, got)):
                raise ValueError(
                    f"{where}: expected shape={shape_str(spec.shape)}, found shape={shape_str(shape)}"
                )


class Layer:
    """Base class of all layers.

    Args:
        name: unique name; defaults to the snake-case class name with a counter.
        trainable: whether the layer's weights are updated by training.
        dtype: only ``"float32"`` is supported.
        input_shape: shape of one sample (without the batch dimension), for the first layer
            of a ``Sequential`` model.
        input_dim: shorthand for ``input_shape=(input_dim,)``.
        batch_input_shape / batch_size: Keras 2 style input shape with the batch dimension.

    Subclasses implement ``build(input_shape)``, ``forward(x, training)`` returning
    ``(y, ctx)``, ``backward(ctx, dy, need_dx)``, ``compute_output_shape`` and ``get_config``.

    Masks (Keras semantics): a mask is a boolean array of shape ``(batch, timesteps)``.
    ``compute_mask(x, mask)`` gives the mask of the layer's output (by default the input mask
    when ``supports_masking`` is true, else None). A layer whose ``consumes_mask`` is true
    takes the mask as ``forward(x, training, mask=mask)``. A layer whose output mask depends on
    its keyword call arguments sets ``mask_uses_call_args`` and takes them as
    ``compute_mask(x, mask, **kwargs)``.

    ``input_spec``: None, or an ``InputSpec`` (a list of them for several inputs) that every
    call's inputs are checked against before the layer builds or runs.
    """

    supports_masking = False
    consumes_mask = False
    mask_uses_call_args = False
    input_spec: Any = None

    def __init__(
        self,
        *,
        name: Optional[str] = None,
        trainable: bool = True,
        dtype: Any = None,
        input_shape: Optional[Sequence[Optional[int]]] = None,
        input_dim: Optional[int] = None,
        batch_input_shape: Optional[Sequence[Optional[int]]] = None,
        batch_size: Optional[int] = None,
        **kwargs: Any,
    ):
        if kwargs:
            raise TypeError(
                f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}"
            )
        if dtype not in (None, "float32", np.float32) and np.dtype(dtype) != np.float32:
            raise ValueError(f"{type(self).__name__}: only dtype='float32' is supported. Received: dtype={dtype}")
        if name is not None and (not isinstance(name, str) or not name):
            raise ValueError(f"{type(self).__name__}: name must be a non-empty string. Received: {name!r}")
        self.name = name if name is not None else unique_name(_to_snake_case(type(self).__name__))
        self._trainable = bool(trainable)
        self.built = False
        self._build_input_shape = None
        self._weights: list = []
        self._inbound_nodes: list = []
        self.activity_regularizer = None
        shape = None
        if batch_input_shape is not None:
            shape = tuple(batch_input_shape)[1:]
            batch_size = tuple(batch_input_shape)[0]
        elif input_shape is not None:
            shape = tuple(input_shape)
        elif input_dim is not None:
            if int(input_dim) <= 0:
                raise ValueError(f"Layer '{self.name}': input_dim must be positive. Received: {input_dim}")
            shape = (int(input_dim),)
        self._input_shape_arg = shape
        self._batch_size_arg = batch_size

    @property
    def trainable(self) -> bool:
        """Whether training updates this layer's weights.

        A model reads it when it is compiled (Keras semantics): changing it afterwards takes
        effect at the next ``compile``.
        """
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)

    # -- weights ---------------------------------------------------------------------------

    def add_weight(
        self,
        name: str,
        shape: Sequence[int],
        initializer: Any = "glorot_uniform",
        regularizer: Any = None,
        trainable: bool = True,
        constraint: Any = None,
    ) -> Variable:
        init = _initializers.get(initializer)
        value = init(tuple(int(d) for d in shape), dtype="float32")
        var = Variable(value, name=name, trainable=trainable, regularizer=_regularizers.get(regularizer))
        var.constraint = _constraints.get(constraint)
        var.path = f"{self.name}/{name}"
        self._weights.append(var)
        return var

    @property
    def weights(self) -> list:
        return list(self._weights)

    @property
    def trainable_weights(self) -> list:
        return [w for w in self._weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list:
        if not self.trainable:
            return list(self._weights)
        return [w for w in self._weights if not w.trainable]

    def get_weights(self) -> list:
        return [w.value.copy() for w in self._weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        weights = list(weights)
        if len(weights) != len(self._weights):
            raise ValueError(
                f"Layer '{self.name}': expected {len(self._weights)} weight arrays "
                f"({', '.join(str(w.shape) for w in self._weights)}). Received: {len(weights)} arrays"
            )
        for var, value in zip(self._weights, weights):
            arr = np.asarray(value)
            if arr.shape != var.shape:
                raise ValueError(
                    f"Layer '{self.name}': weight '{var.name}' expected shape {var.shape}. "
                    f"Received: shape={arr.shape}"
                )
        for var, value in zip(self._weights, weights):
            var.assign(value)

    # -- graph tensors (Keras's layer.input / layer.output) -----------------------------------

    def _only_node(self, what: str) -> "Node":
        nodes = [n for n in self._inbound_nodes if n.live]
        if not nodes:
            raise AttributeError(
                f"Layer '{self.name}' has never been called on a symbolic input and thus has no defined {what}"
            )
        if len(nodes) > 1:
            raise AttributeError(
                f"Layer '{self.name}' has been called {len(nodes)} times (it is shared), so its {what} is "
                "ambiguous; use the tensors returned by each call"
            )
        return nodes[0]

    @property
    def input(self) -> Any:
        """The symbolic input of the layer's single call (a list for several inputs)."""
        node = self._only_node("input")
        main = node.inputs[: node.n_main]
        return list(main) if node.as_list else main[0]

    @property
    def output(self) -> Any:
        """The symbolic output of the layer's single call (a list for several outputs); use
        it to build a model from part of another: ``Model(model.input, layer.output)``."""
        node = self._only_node("output")
        return list(node.outputs) if node.multi_output else node.outputs[0]

    def count_params(self) -> int:
        return int(sum(w.value.size for w in self._weights))

    # -- shapes and building ---------------------------------------------------------------

    def build(self, input_shape: tuple) -> None:
        self.built = True

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def _maybe_build(self, input_shape: Any) -> None:
        if not self.built:
            shape = [tuple(s) for s in input_shape] if isinstance(input_shape, list) else tuple(input_shape)
            self.build(shape)
            self.built = True
            self._build_input_shape = shape

    def _check_call_shape(self, input_shape: Any) -> None:
        """Raises when a built layer with weights is called on features of another size."""
        built = self._build_input_shape
        if not self._weights or built is None or isinstance(built, list) or isinstance(input_shape, list):
            return
        if not built or not input_shape:
            return
        a, b = built[-1], input_shape[-1]
        if a is not None and b is not None and a != b:
            raise ValueError(
                f"Layer '{self.name}' was built for inputs of shape {shape_str(built)} and cannot "
                f"be called on a tensor of shape {shape_str(input_shape)}: the last dimension "
                f"must be {a}"
            )

    # -- running ---------------------------------------------------------------------------

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        """Returns ``(y, ctx)``; ``ctx`` is what ``backward`` needs (None when not training)."""
        raise NotImplementedError(f"{type(self).__name__}.forward")

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        """Adds weight gradients to ``Variable.grad``; returns dL/dx (or None if not needed)."""
        raise NotImplementedError(f"{type(self).__name__} has no backward pass")

    def compute_mask(self, x: np.ndarray, mask: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
        """The mask of this layer's output for input ``x`` carrying ``mask``."""
        return mask if self.supports_masking else None

    def _forward_masked(self, x: Any, training: bool, mask: Any, **kwargs: Any) -> tuple:
        if mask is not None and self.consumes_mask:
            return self.forward(x, training=training, mask=mask, **kwargs)
        return self.forward(x, training=training, **kwargs)

    def call(self, inputs: Any, training: bool = False) -> np.ndarray:
        y, _ = self.forward(inputs, training=training)
        return y

    def _check_call_kwargs(self, kwargs: dict) -> None:
        if not kwargs:
            return
        try:
            params = inspect.signature(self.forward).parameters
        except (TypeError, ValueError):
            return
        if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
            return
        bad = sorted(k for k in kwargs if k not in params or k in ("x", "training", "self"))
        if bad:
            raise TypeError(f"Layer '{self.name}': unexpected call argument(s) {bad}")

    def _call_symbolic(self, inputs: Any, kwargs: dict) -> Any:
        as_list = isinstance(inputs, (list, tuple))
        main = list(inputs) if as_list else [inputs]
        for t in main:
            if not isinstance(t, KerasTensor):
                raise TypeError(
                    f"Layer '{self.name}': expected symbolic tensors (pynncore.Input or layer "
                    f"outputs) in the list of inputs. Received: {type(t).__name__}"
                )
        flat = list(main)
        static: dict = {}
        kw_tensors: dict = {}
        for key, value in kwargs.items():
            tensors = _tensor_list(value)
            if tensors is None:
                static[key] = value
                continue
            idx = list(range(len(flat), len(flat) + len(tensors)))
            flat.extend(tensors)
            kw_tensors[key] = (not isinstance(value, KerasTensor), idx)
        shapes: Any = [t.shape for t in main] if as_list else main[0].shape
        if self.built:
            self._check_call_shape(shapes)
        self._maybe_build(shapes)
        out_shape = self.compute_output_shape(shapes)
        node_index = len(self._inbound_nodes)
        multi = _is_shape_list(out_shape)
        shapes_out = list(out_shape) if multi else [out_shape]
        outs = [
            KerasTensor(sh, name=self.name, history=(self, node_index, i)) for i, sh in enumerate(shapes_out)
        ]
        self._inbound_nodes.append(
            Node(self, flat, outs, as_list=as_list, multi_output=multi, kwargs=static, kw_tensors=kw_tensors, n_main=len(main))
        )
        return outs if multi else outs[0]

    def _check_input(self, x: Any, what: str = "input") -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise TypeError(
                f"Layer '{self.name}': expected a real numeric {what}. Received: dtype={arr.dtype}"
            )
        return np.ascontiguousarray(arr, dtype=np.float32)

    def __call__(self, inputs: Any, training: Optional[bool] = None, **kwargs: Any) -> Any:
        self._check_call_kwargs(kwargs)
        if self.input_spec is not None:
            assert_input_compatibility(self.input_spec, inputs, self.name)
        if _tensor_list(inputs) is not None:
            return self._call_symbolic(inputs, kwargs)
        if isinstance(inputs, (list, tuple)) and any(isinstance(t, KerasTensor) for t in inputs):
            return self._call_symbolic(inputs, kwargs)
        if isinstance(inputs, (list, tuple)):
            xs = [self._check_input(v) for v in inputs]
            self._maybe_build([(None,) + v.shape[1:] for v in xs])
            y, _ = self.forward(xs, training=bool(training), **kwargs)
            return y
        x = self._check_input(inputs)
        self._maybe_build((None,) + x.shape[1:])
        y, _ = self.forward(x, training=bool(training), **kwargs)
        return y

    # -- config ----------------------------------------------------------------------------

    def get_config(self) -> dict:
        config = {"name": self.name, "trainable": self.trainable, "dtype": "float32"}
        if self._input_shape_arg is not None:
            config["batch_input_shape"] = [self._batch_size_arg, *self._input_shape_arg]
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Layer":
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


class InputLayer(Layer):
    """The entry of a model: holds the shape of one sample."""

    def __init__(self, shape: Optional[Sequence[Optional[int]]] = None, batch_size: Optional[int] = None, name: Optional[str] = None, **kwargs: Any):
        if shape is None:
            shape = kwargs.pop("input_shape", None)
        if "batch_input_shape" in kwargs:
            bis = kwargs.pop("batch_input_shape")
            shape, batch_size = tuple(bis)[1:], tuple(bis)[0]
        if shape is None:
            raise ValueError("InputLayer: expected a `shape` argument. Received: shape=None")
        super().__init__(name=name, **kwargs)
        shape = tuple(shape)
        for d in shape:
            if d is not None and (not isinstance(d, (int, np.integer)) or d < 0):
                raise ValueError(
                    f"InputLayer '{self.name}': shape entries must be non-negative integers or None. "
                    f"Received: shape={shape}"
                )
        self.shape = tuple(None if d is None else int(d) for d in shape)
        self.batch_size = batch_size
        self.built = True
        t = KerasTensor((batch_size,) + self.shape, name=self.name, history=(self, 0, 0))
        self._inbound_nodes.append(Node(self, [], [t]))

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        return x, None

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        return dy if need_dx else None

    def get_config(self) -> dict:
        return {"name": self.name, "batch_shape": [self.batch_size, *self.shape], "dtype": "float32"}

    @classmethod
    def from_config(cls, config: dict) -> "InputLayer":
        config = dict(config)
        bs = config.pop("batch_shape", None)
        config.pop("dtype", None)
        if bs is not None:
            config["shape"] = tuple(bs[1:])
            config["batch_size"] = bs[0]
        return cls(**config)


def Input(
    shape: Optional[Sequence[Optional[int]]] = None,
    batch_size: Optional[int] = None,
    name: Optional[str] = None,
    dtype: Any = None,
    batch_shape: Optional[Sequence[Optional[int]]] = None,
) -> KerasTensor:
    """A symbolic input of a model: ``Input(shape=(784,))`` (batch dimension left out)."""
    if batch_shape is not None:
        shape, batch_size = tuple(batch_shape)[1:], tuple(batch_shape)[0]
    layer = InputLayer(shape=shape, batch_size=batch_size, name=name, dtype=dtype)
    return layer.output
