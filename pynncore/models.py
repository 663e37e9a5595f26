"""Models: ``Sequential`` and the functional ``Model``.

A model is a graph of layer calls. ``Sequential`` is the chain case; ``Model(inputs, outputs)``
builds the graph from symbolic tensors: several inputs and outputs (a tensor, a list or a dict
of them), layers shared between calls (one set of weights whose gradients add up), merge
layers, and models called as layers. The forward pass runs the calls in topological order and
the backward pass in reverse. Training, evaluation and prediction are run by
``pynncore.Trainer``; the ``compile``/``fit``/``evaluate``/``predict`` methods delegate to it.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from pynncore import _inference
from pynncore._threading import ModelLock
from pynncore.layers.base import (
    InputLayer,
    KerasTensor,
    Layer,
    Node,
    _tensor_list,
    assert_input_compatibility,
    shape_str,
)

__all__ = ["Model", "Sequential", "clone_model", "model_from_json"]

_F32 = np.dtype(np.float32)


def _flatten_struct(value: Any, what: str, model: str) -> tuple:
    """``(list of tensors, structure)``: structure is None (one tensor), "list", or dict keys."""
    if isinstance(value, dict):
        keys = list(value)
        for k in keys:
            if not isinstance(k, str):
                raise TypeError(f"Model '{model}': {what} dict keys must be strings. Received: {k!r}")
        return [value[k] for k in keys], keys
    if isinstance(value, (list, tuple)):
        if len(value) == 1:
            return [value[0]], None
        return list(value), "list"
    return [value], None


def _activity_loss(reg: Any, y: np.ndarray) -> float:
    """A layer's activity penalty on its output ``y``, divided by the batch size as in Keras 3
    (0 for an empty batch)."""
    n = y.shape[0] if y.ndim else 1
    return float(reg(y)) / n if n else 0.0


def _activity_grad(reg: Any, y: np.ndarray) -> np.ndarray:
    """The gradient of :func:`_activity_loss` with respect to ``y``."""
    n = y.shape[0] if y.ndim else 1
    g = reg.gradient(y)
    return g / np.float32(n) if n > 1 else g


def _unique_names(names: list) -> list:
    out, seen = [], {}
    for n in names:
        if n in seen:
            seen[n] += 1
            n = f"{n}_{seen[n]}"
        seen.setdefault(n, 0)
        out.append(n)
    return out


class Model(Layer):
    """A trainable graph of layers (the Keras functional API).

    ``Model(inputs, outputs)``: ``inputs`` are ``pynncore.Input`` tensors and ``outputs`` the
    tensors computed from them by calling layers; each may be one tensor, a list or a dict
    (dict keys then name the inputs and outputs for ``fit``/``predict``). Outputs are otherwise
    named after the layers that produce them (``model.output_names``).

    Args:
        inputs: ``KerasTensor``, list or dict of them, from ``pynncore.Input``.
        outputs: ``KerasTensor``, list or dict of them, computed from ``inputs``.
        name: model name.

    Threads: inference (``predict``, ``model(x)``, ``predict_on_batch``, ``get_weights``,
    ``save``) may run from many threads at once. ``fit``, ``evaluate``, ``train_on_batch``,
    ``test_on_batch``, ``set_weights``, ``load_weights`` and ``compile`` hold the model
    exclusively: they wait for running predictions to finish, and predictions started
    meanwhile wait for them, so no call ever sees half-updated weights (``docs/threading.md``).

    Raises:
        ValueError: outputs that do not depend only on the given inputs, inputs that do not
            come from ``pynncore.Input``, two different layers with the same name.

    Example:
        >>> import pynncore
        >>> from pynncore.layers import Concatenate, Dense
        >>> a, b = pynncore.Input((3,)), pynncore.Input((2,))
        >>> h = Concatenate()([Dense(4)(a), b])
        >>> model = pynncore.Model([a, b], [Dense(1)(h), Dense(2)(h)])
        >>> [o.shape for o in model.outputs]
        [(None, 1), (None, 2)]
    """

    def __init__(self, inputs: Any = None, outputs: Any = None, name: Optional[str] = None, **kwargs: Any):
        trainable = kwargs.pop("trainable", True)
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._lock = ModelLock()
        self.optimizer = None
        self.loss = None
        self.compiled = False
        self.stop_training = False
        self._trainer = None
        self.history = None
        self._nodes: list = []
        self._inputs: list = []
        self._outputs: list = []
        self._input_struct: Any = None
        self._output_struct: Any = None
        self.input_names: list = []
        self.output_names: list = []
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError(f"Model '{self.name}': give both inputs and outputs")
            self._init_graph(inputs, outputs)

    # -- graph -------------------------------------------------------------------------------

    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        ins, in_struct = _flatten_struct(inputs, "inputs", self.name)
        outs, out_struct = _flatten_struct(outputs, "outputs", self.name)
        if not ins or not outs:
            raise ValueError(f"Model '{self.name}': expected at least one input and one output")
        for t in ins + outs:
            if not isinstance(t, KerasTensor):
                raise TypeError(
                    f"Model '{self.name}': inputs and outputs must be symbolic tensors from "
                    f"pynncore.Input and layer calls. Received: {type(t).__name__}"
                )
        for t in ins:
            if t._history is None or not isinstance(t._history[0], InputLayer):
                raise ValueError(
                    f"Model '{self.name}': every input must be a tensor made by pynncore.Input. "
                    f"Received: {t!r}"
                )
        if len({id(t) for t in ins}) != len(ins):
            raise ValueError(f"Model '{self.name}': the same Input is given twice in inputs")
        input_ids = {id(t) for t in ins}
        order: list = []
        seen: set = set()
        visiting: set = set()

        def visit(t: KerasTensor) -> None:
            if t._history is None:
                raise ValueError(f"Model '{self.name}': tensor {t!r} was not made by a layer call")
            layer, index, _ = t._history
            node = layer._inbound_nodes[index]
            if id(node) in seen:
                return
            if isinstance(layer, InputLayer):
                if id(t) not in input_ids:
                    raise ValueError(
                        f"Model '{self.name}': the outputs are not connected to the inputs: they "
                        f"depend on Input '{layer.name}', which is not one of the model's inputs"
                    )
                seen.add(id(node))
                return
            if id(node) in visiting:
                raise ValueError(f"Model '{self.name}': the graph has a cycle at layer '{layer.name}'")
            visiting.add(id(node))
            for parent in node.inputs:
                visit(parent)
            visiting.discard(id(node))
            seen.add(id(node))
            order.append(node)

        for t in outs:
            visit(t)
        by_name: dict = {}
        for layer in [t._history[0] for t in ins] + [n.layer for n in order]:
            other = by_name.setdefault(layer.name, layer)
            if other is not layer:
                raise ValueError(
                    f"Model '{self.name}': two different layers are named '{layer.name}'; "
                    "layer names must be unique within a model"
                )
        input_nodes = [t._history[0]._inbound_nodes[t._history[1]] for t in ins]
        self._inputs, self._outputs, self._nodes = ins, outs, input_nodes + order
        self._input_struct, self._output_struct = in_struct, out_struct
        self.input_names = list(in_struct) if isinstance(in_struct, list) else [t._history[0].name for t in ins]
        if isinstance(out_struct, list):
            self.output_names = list(out_struct)
        else:
            self.output_names = _unique_names([t._history[0].name for t in outs])
        self.built = True

    @property
    def layers(self) -> list:
        out, seen = [], set()
        for t in self._inputs:
            layer = t._history[0]
            if id(layer) not in seen:
                seen.add(id(layer))
                out.append(layer)
        for node in self._nodes:
            if id(node.layer) not in seen:
                seen.add(id(node.layer))
                out.append(node.layer)
        return out

    def _leaf_layers(self) -> list:
        """Every layer of the model, nested models replaced by their own layers."""
        out, seen = [], set()
        for layer in self.layers:
            inner = layer._leaf_layers() if isinstance(layer, Model) else [layer]
            for l in inner:
                if id(l) not in seen:
                    seen.add(id(l))
                    out.append(l)
        return out

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Sets the flag on the model and on every layer in it (Keras semantics)."""
        self._trainable = bool(value)
        for layer in self.layers:
            layer.trainable = value

    @property
    def inputs(self) -> list:
        return list(self._inputs)

    @property
    def outputs(self) -> list:
        return list(self._outputs)

    def _own_tensors(self, tensors: list, what: str) -> Any:
        if not tensors:
            raise AttributeError(f"Model '{self.name}' has no {what} yet: build it or give it an Input")
        return tensors[0] if len(tensors) == 1 else list(tensors)

    @property
    def input(self) -> Any:
        """The model's symbolic input (a list for several), as in Keras."""
        return self._own_tensors(self._inputs, "input")

    @property
    def output(self) -> Any:
        """The model's symbolic output (a list for several), as in Keras."""
        return self._own_tensors(self._outputs, "output")

    @property
    def input_shape(self) -> Any:
        if not self._inputs:
            return None
        return self._inputs[0].shape if len(self._inputs) == 1 else [t.shape for t in self._inputs]

    @property
    def output_shape(self) -> Any:
        if not self._outputs:
            return None
        return self._outputs[0].shape if len(self._outputs) == 1 else [t.shape for t in self._outputs]

    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> Layer:
        layers = self.layers
        if index is not None:
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"Model '{self.name}': no layer named '{name}'. Layers: {[l.name for l in layers]}")

    # -- data structures -----------------------------------------------------------------------

    def _structure_list(self, data: Any, names: list, kind: str, what: str, convert: Any) -> list:
        """Arrays for each of the model's inputs (or outputs) from an array, list or dict."""
        names = names or [kind]
        n = len(names)
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(names))
            missing = [k for k in names if k not in data]
            if unknown or missing:
                raise ValueError(
                    f"{what}: model '{self.name}' expects {kind} named {names}. Received keys "
                    f"{sorted(data)}" + (f" (unknown: {unknown})" if unknown else "") + (f" (missing: {missing})" if missing else "")
                )
            return [convert(data[k]) for k in names]
        if isinstance(data, (list, tuple)) and (n > 1 or (len(data) == 1 and isinstance(data[0], np.ndarray))):
            if len(data) != n:
                raise ValueError(
                    f"{what}: model '{self.name}' expects {n} {kind} array(s) ({', '.join(names)}). "
                    f"Received: {len(data)} arrays"
                )
            return [convert(v) for v in data]
        if n != 1:
            raise ValueError(
                f"{what}: model '{self.name}' expects {n} {kind} arrays ({', '.join(names)}) as a "
                f"list or a dict. Received: one {type(data).__name__}"
            )
        return [convert(data)]

    def _input_list(self, x: Any, what: str = "call") -> list:
        return self._structure_list(x, self.input_names, "input", what, self._check_input)

    def _pack_outputs(self, ys: list) -> Any:
        """Prediction results in the structure the outputs were given (array, list or dict)."""
        if isinstance(self._output_struct, list):
            return dict(zip(self._output_struct, ys))
        return ys[0] if len(ys) == 1 else list(ys)

    # -- weights -------------------------------------------------------------------------------

    @property
    def weights(self) -> list:
        out, seen = [], set()
        for layer in self.layers:
            for w in layer.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def trainable_weights(self) -> list:
        if not self.trainable:
            return []
        out, seen = [], set()
        for layer in self.layers:
            for w in layer.trainable_weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    @property
    def non_trainable_weights(self) -> list:
        trainable = {id(w) for w in self.trainable_weights}
        return [w for w in self.weights if id(w) not in trainable]

    def get_weights(self) -> list:
        with self._lock.reading():
            return [w.value.copy() for w in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        with self._lock.writing("set_weights"):
            self._set_weights(weights)

    def _set_weights(self, weights: Sequence[Any]) -> None:
        ws = self.weights
        weights = list(weights)
        if len(weights) != len(ws):
            raise ValueError(
                f"Model '{self.name}': expected {len(ws)} weight arrays. Received: {len(weights)}"
            )
        for var, value in zip(ws, weights):
            arr = np.asarray(value)
            if arr.shape != var.shape:
                raise ValueError(
                    f"Model '{self.name}': weight '{var.path}' expected shape {var.shape}. "
                    f"Received: shape={arr.shape}"
                )
        for var, value in zip(ws, weights):
            var.assign(value)

    def count_params(self) -> int:
        return int(sum(w.value.size for w in self.weights))

    # -- running -------------------------------------------------------------------------------

    def _ensure_built(self, x: Any) -> None:
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))

    def forward(self, x: Any, training: bool = False) -> tuple:
        """Runs the graph; returns ``(y, ctx)``.

        ``x`` is one array (one input) or a list with one array per input; ``y`` is one array
        (one output) or a list with one array per output. In training ``ctx`` lists each
        call's context for ``backward``.
        """
        xs = x if isinstance(x, (list, tuple)) else [x]
        if len(xs) != len(self._inputs):
            raise ValueError(
                f"Model '{self.name}': expected {len(self._inputs)} input arrays. Received: {len(xs)}"
            )
        values = {id(t): v for t, v in zip(self._inputs, xs)}
        masks: dict = {}
        records = []
        for node in self._nodes:
            if not node.inputs:  # an InputLayer
                continue
            arrays = [values[id(t)] for t in node.inputs]
            outs, ctx, out_masks = node.run(arrays, [masks.get(id(t)) for t in node.inputs], training)
            if len(outs) != len(node.outputs):
                raise ValueError(
                    f"Layer '{node.layer.name}': returned {len(outs)} outputs, expected {len(node.outputs)}"
                )
            for t, v, m in zip(node.outputs, outs, out_masks):
                values[id(t)] = v
                if m is not None:
                    masks[id(t)] = m
            if training:
                records.append((node, ctx, outs))
        ys = [values[id(t)] for t in self._outputs]
        return (ys[0] if len(ys) == 1 else ys), (records if training else None)

    def backward(self, ctx: Any, dy: Any, need_dx: bool = True) -> Any:
        """Backward pass in reverse topological order; gradients of shared tensors add up.

        ``dy`` is one array or a list (one per output, None for an output without a
        gradient). Returns the gradient(s) with respect to the input(s) when ``need_dx``.
        """
        dys = list(dy) if len(self._outputs) > 1 else [dy]
        grads: dict = {}
        for t, g in zip(self._outputs, dys):
            if g is not None:
                grads[id(t)] = g if id(t) not in grads else grads[id(t)] + g
        # the tensors that depend on weights training updates: only their gradients are needed
        # (with need_dx, all are)
        grad_ids: set = set()
        for node, _, _ in ctx:
            if _takes_gradients(node.layer) or any(id(t) in grad_ids for t in node.inputs):
                grad_ids.update(id(t) for t in node.outputs)
        for node, layer_ctx, outs in reversed(ctx):
            gs = [grads.pop(id(t), None) for t in node.outputs]
            reg = node.layer.activity_regularizer
            if reg is not None:
                gs = [_activity_grad(reg, o) if g is None else g + _activity_grad(reg, o) for g, o in zip(gs, outs)]
            if all(g is None for g in gs):
                continue
            need = need_dx or any(id(t) in grad_ids for t in node.inputs)
            gins = node.backprop(layer_ctx, gs, outs, need)
            for t, g in zip(node.inputs, gins):
                if g is None:
                    continue
                key = id(t)
                grads[key] = g if key not in grads else grads[key] + g
        if not need_dx:
            return None
        gx = [grads.get(id(t)) for t in self._inputs]
        return gx[0] if len(gx) == 1 else gx

    def activity_penalty(self, ctx: Any) -> float:
        """Sum of activity-regularizer penalties on the outputs recorded in ``ctx``, each divided
        by its batch size (Keras 3)."""
        total = 0.0
        for node, layer_ctx, y in ctx or ():
            reg = node.layer.activity_regularizer
            if reg is not None:
                for o in y if isinstance(y, list) else [y]:
                    total += _activity_loss(reg, o)
            if isinstance(node.layer, Model) and layer_ctx is not None:
                total += node.layer.activity_penalty(layer_ctx)
        return total

    def _build_exclusive(self, x: Any) -> None:
        """Builds on first use while holding the model exclusively."""
        if not self.built:
            with self._lock.writing("build"):
                self._ensure_built(x)

    def call(self, inputs: Any, training: bool = False) -> Any:
        xs = self._input_list(inputs, "call")
        self._build_exclusive(xs[0])
        x = xs[0] if len(xs) == 1 else xs
        if training:  # training-mode layers update state (BatchNormalization's moving statistics)
            with self._lock.writing("call(training=True)"):
                return self.forward(x, training=True)[0]
        lock = self._lock
        lock.acquire_read()
        try:
            return self._infer(x)
        finally:
            lock.release_read()

    def _fast_infer(self, x: Any) -> Optional[np.ndarray]:
        """The inference output of a float32 C-contiguous 2-D batch in one native call (a new
        array), or None when the model or the input needs the general path."""
        if not (
            type(x) is np.ndarray
            and x.ndim == 2
            and x.dtype is _F32
            and x.flags.c_contiguous
            and x.shape[0]
            and self.built
            and self._output_struct is None
        ):
            return None
        lock = self._lock
        lock.acquire_read()
        try:
            return _inference.run(self, x)
        finally:
            lock.release_read()

    def _infer(self, x: Any) -> Any:
        """Inference output for a float32 C-contiguous batch (a list of them for several
        inputs), in one native call when it can."""
        if isinstance(x, np.ndarray) and x.ndim == 2 and x.shape[0]:
            y = _inference.run(self, x)
            if y is not None:
                return y
        return self.forward(x, training=False)[0]

    def __call__(self, inputs: Any, training: Optional[bool] = None, **kwargs: Any) -> Any:
        if isinstance(inputs, dict) and inputs and all(isinstance(v, KerasTensor) for v in inputs.values()):
            inputs = self._structure_list(inputs, self.input_names, "input", f"Model '{self.name}'", lambda t: t)
        if _tensor_list(inputs) is not None:
            if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
                inputs = inputs[0]
            if self._inputs and len(_tensor_list(inputs)) != len(self._inputs):
                raise ValueError(
                    f"Model '{self.name}': expected {len(self._inputs)} input tensors. "
                    f"Received: {len(_tensor_list(inputs))}"
                )
            return super().__call__(inputs, training=training, **kwargs)
        if kwargs:
            raise TypeError(f"Model '{self.name}': unexpected call argument(s) {sorted(kwargs)}")
        if not training:
            y = self._fast_infer(inputs)
            if y is not None:
                return y
        return self.call(inputs, training=bool(training))

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = input_shape if isinstance(input_shape, list) else [input_shape]
        if len(shapes) != len(self._inputs):
            raise ValueError(
                f"Model '{self.name}': expected {len(self._inputs)} inputs. Received: {len(shapes)}"
            )
        for t, s in zip(self._inputs, shapes):
            want = t.shape
            ok = len(s) == len(want) and all(a is None or b is None or a == b for a, b in zip(want[1:], tuple(s)[1:]))
            if not ok:
                raise ValueError(
                    f"Model '{self.name}': input '{t.name}' expects shape {shape_str(want)}. "
                    f"Received: shape={shape_str(s)}"
                )
        batch = tuple(shapes[0])[0]
        outs = [(batch,) + tuple(t.shape[1:]) for t in self._outputs]
        return outs[0] if len(outs) == 1 else outs

    # -- training API (delegates to Trainer) ---------------------------------------------------

    def compile(
        self,
        optimizer: Any = "rmsprop",
        loss: Any = None,
        metrics: Any = None,
        loss_weights: Any = None,
        weighted_metrics: Any = None,
        run_eagerly: bool = False,
        steps_per_execution: int = 1,
        jit_compile: Any = "auto",
        auto_scale_loss: bool = True,
    ) -> None:
        """Configures the model for training (Keras 3 signature)."""
        from pynncore.trainer import Trainer

        with self._lock.writing("compile"):
            trainer = Trainer(self)
            trainer.compile(
                optimizer=optimizer, loss=loss, metrics=metrics, weighted_metrics=weighted_metrics, loss_weights=loss_weights
            )
            self._trainer = trainer
            self.compiled = True

    def _require_trainer(self, what: str):
        if self._trainer is None:
            raise RuntimeError(f"Model '{self.name}': call compile() before {what}()")
        return self._trainer

    def fit(self, x: Any = None, y: Any = None, **kwargs: Any):
        trainer = self._require_trainer("fit")
        with self._lock.writing("fit"):
            return trainer.fit(x, y, **kwargs)

    def evaluate(self, x: Any = None, y: Any = None, **kwargs: Any):
        trainer = self._require_trainer("evaluate")
        with self._lock.writing("evaluate"):  # the metrics' running state is shared
            return trainer.evaluate(x, y, **kwargs)

    def predict(self, x: Any, batch_size: Optional[int] = None, verbose: Any = "auto", steps: Any = None, callbacks: Any = None) -> Any:
        if (
            callbacks is None
            and type(x) is np.ndarray
            and (batch_size is None or (type(batch_size) is int and batch_size > 0))
            and x.ndim == 2
            and x.shape[0] <= (batch_size or 32)
        ):  # one batch; an invalid batch_size takes the general path, which reports it
            y = self._fast_infer(x)  # one native call for chains of Dense layers
            if y is not None:
                return y
        from pynncore.trainer import Trainer
        from pynncore.utils import dataset as _dataset

        trainer = self._trainer or Trainer(self)
        if _dataset.is_batch_source(x):
            # the first batch may build the model: hold it exclusively until it is built
            lock = self._lock.reading() if self.built else self._lock.writing("predict")
            with lock:
                return trainer.predict(x, batch_size=batch_size, verbose=verbose, callbacks=callbacks, steps=steps)
        xs = trainer._inputs(x, "predict")
        self._build_exclusive(xs[0] if xs[0].shape[0] else np.zeros((1,) + xs[0].shape[1:], np.float32))
        with self._lock.reading():
            return trainer.predict(xs if len(xs) > 1 else xs[0], batch_size=batch_size, verbose=verbose, callbacks=callbacks)

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, class_weight: Any = None, return_dict: bool = False):
        trainer = self._require_trainer("train_on_batch")
        with self._lock.writing("train_on_batch"):
            return trainer.train_on_batch(x, y, sample_weight=sample_weight, class_weight=class_weight, return_dict=return_dict)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False):
        trainer = self._require_trainer("test_on_batch")
        with self._lock.writing("test_on_batch"):
            return trainer.test_on_batch(x, y, sample_weight=sample_weight, return_dict=return_dict)

    def predict_on_batch(self, x: Any) -> Any:
        y = self._fast_infer(x)
        if y is not None:
            return y
        y = self.call(x, training=False)
        ys = [np.array(v, dtype=np.float32) for v in (y if isinstance(y, list) else [y])]
        return self._pack_outputs(ys)

    # -- files ----------------------------------------------------------------------------------

    def save(self, filepath: str, overwrite: bool = True) -> None:
        """Saves architecture, weights, compile settings and optimizer state (safetensors)."""
        import os

        from pynncore import saving

        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists and overwrite=False")
        with self._lock.reading():
            saving.save_model(self, filepath)

    def save_weights(self, filepath: str, overwrite: bool = True) -> None:
        import os

        from pynncore import saving

        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists and overwrite=False")
        with self._lock.reading():
            saving.save_weights(self, filepath)

    def load_weights(self, filepath: str) -> None:
        from pynncore import saving

        with self._lock.writing("load_weights"):
            saving.load_weights(self, filepath)

    # -- description -----------------------------------------------------------------------------

    def summary(self, print_fn: Any = None, line_length: int = 80) -> None:
        """Prints the layers, their output shapes and parameter counts."""
        p = print_fn or print
        p(f'Model: "{self.name}"')
        p("_" * line_length)
        p(f"{'Layer (type)':<34}{'Output Shape':<28}{'Param #':>12}")
        p("=" * line_length)
        for node in self._nodes:
            if isinstance(node.layer, InputLayer):
                continue
            layer = node.layer
            shape = ", ".join(shape_str(t.shape) for t in node.outputs)
            p(f"{layer.name + ' (' + type(layer).__name__ + ')':<34}{shape:<28}{layer.count_params():>12,}")
        p("=" * line_length)
        total = self.count_params()
        trainable = int(sum(w.value.size for w in self.trainable_weights))
        p(f"Total params: {total:,}")
        p(f"Trainable params: {trainable:,}")
        p(f"Non-trainable params: {total - trainable:,}")
        p("_" * line_length)

    def get_config(self) -> dict:
        """The graph in Keras's functional format: layers with their inbound nodes, and the
        input and output tensors as ``[layer_name, node_index, tensor_index]``."""
        from pynncore.saving import functional_config

        return functional_config(self)

    def to_json(self, **kwargs: Any) -> str:
        """The architecture as a JSON string (the description ``save`` stores, without weights);
        ``kwargs`` go to ``json.dumps``. ``pynncore.models.model_from_json`` rebuilds it."""
        from pynncore.saving import model_to_json

        return model_to_json(self, **kwargs)

    @classmethod
    def from_config(cls, config: dict) -> "Model":
        from pynncore.saving import functional_from_config

        return functional_from_config(cls, config)

    def export_onnx(self, filepath: str) -> None:
        """Writes the model as an ONNX graph (needs ``onnx``; see ``pynncore.onnx_export``)."""
        from pynncore.onnx_export import export_onnx

        export_onnx(self, filepath)


class Sequential(Model):
    """A linear stack of layers: ``Sequential([Dense(10, input_dim=8), Dense(1)])``.

    The model is built as soon as its input shape is known: from ``input_shape``/``input_dim``
    on the first layer, a leading ``pynncore.Input``/``InputLayer``, or the data first passed to
    ``fit``/``predict``/``model(x)``.

    Args:
        layers: list of layers (optional; use ``add``).
        name: model name.
    """

    def __init__(self, layers: Optional[Sequence[Any]] = None, name: Optional[str] = None, trainable: bool = True, **kwargs: Any):
        super().__init__(name=name, trainable=trainable, **kwargs)
        self._stack: list = []
        self._input_layer: Optional[InputLayer] = None
        self._own_nodes: list = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer: Any) -> None:
        """Appends a layer (or an ``Input`` tensor as the first entry)."""
        if isinstance(layer, KerasTensor):
            owner = layer._history[0] if layer._history else None
            if not isinstance(owner, InputLayer) or self._stack or self._input_layer is not None:
                raise ValueError(f"Sequential '{self.name}': an Input may only come first")
            self._input_layer = owner
            return
        if isinstance(layer, InputLayer):
            if self._stack or self._input_layer is not None:
                raise ValueError(f"Sequential '{self.name}': an InputLayer may only come first")
            self._input_layer = layer
            return
        if not isinstance(layer, Layer):
            raise TypeError(f"Sequential '{self.name}': expected a Layer. Received: {type(layer).__name__}")
        if any(l is layer for l in self._stack):
            raise ValueError(f"Sequential '{self.name}': layer '{layer.name}' is already in the model")
        names = {l.name for l in self._stack}
        if layer.name in names:
            raise ValueError(f"Sequential '{self.name}': duplicate layer name '{layer.name}'")
        self._stack.append(layer)
        self.built = False
        self._nodes = []
        shape = None
        if self._input_layer is not None:
            shape = (self._input_layer.batch_size,) + self._input_layer.shape
        elif self._stack[0]._input_shape_arg is not None:
            first = self._stack[0]
            shape = (first._batch_size_arg,) + tuple(first._input_shape_arg)
        if shape is not None:
            self.build(shape)

    def pop(self) -> Layer:
        if not self._stack:
            raise ValueError(f"Sequential '{self.name}': there is no layer to pop")
        layer = self._stack.pop()
        self.built = False
        self._nodes = []
        if self._stack and self._input_layer is not None:
            self.build((self._input_layer.batch_size,) + self._input_layer.shape)
        return layer

    def build(self, input_shape: tuple) -> None:
        input_shape = tuple(input_shape)
        if self._input_layer is None:
            self._input_layer = InputLayer(shape=input_shape[1:], batch_size=input_shape[0], name=f"{self.name}_input")
        t = self._input_layer.output
        if tuple(t.shape[1:]) != tuple(input_shape[1:]):
            raise ValueError(
                f"Sequential '{self.name}': expected input of shape {shape_str(t.shape)}. "
                f"Received: shape={shape_str(input_shape)}"
            )
        nodes = [self._input_layer._inbound_nodes[0]]
        for node in self._own_nodes:  # calls of an earlier build no longer count
            node.live = False
        self._own_nodes = []
        for layer in self._stack:
            if layer.input_spec is not None:
                assert_input_compatibility(layer.input_spec, t, layer.name)
            layer._maybe_build(t.shape)
            # Registered as a call of the layer, so layer.output / layer.input work and a
            # functional Model can be cut out of this one.
            out = KerasTensor(layer.compute_output_shape(t.shape), name=layer.name,
                              history=(layer, len(layer._inbound_nodes), 0))
            node = Node(layer, [t], [out])
            layer._inbound_nodes.append(node)
            self._own_nodes.append(node)
            nodes.append(node)
            t = out
        self._inputs, self._outputs, self._nodes = [self._input_layer.output], [t], nodes
        self.input_names = [self._input_layer.name]
        self.output_names = [self._stack[-1].name] if self._stack else []
        self.built = True

    @property
    def layers(self) -> list:
        return list(self._stack)

    def _ensure_built(self, x: np.ndarray) -> None:
        if not self.built:
            if not self._stack:
                raise ValueError(f"Sequential '{self.name}': the model has no layers")
            self.build((None,) + tuple(x.shape[1:]))

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        ctxs = []
        mask = None
        for node in self._nodes[1:]:
            y, ctx = node.layer._forward_masked(x, training, mask)
            mask = node.layer.compute_mask(x, mask)
            if training:
                ctxs.append((node, ctx, y))
            x = y
        return x, (ctxs if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        # upstream[i]: a layer before the i-th has weights that training updates
        upstream, seen = [], False
        for node, _, _ in ctx:
            upstream.append(seen)
            seen = seen or _takes_gradients(node.layer)
        for i in range(len(ctx) - 1, -1, -1):
            node, layer_ctx, y = ctx[i]
            reg = node.layer.activity_regularizer
            if reg is not None:
                dy = dy + _activity_grad(reg, y)
            need = need_dx or upstream[i]
            dy = node.layer.backward(layer_ctx, dy, need_dx=need)
            if not need:
                return None  # nothing before this layer takes gradients
        return dy

    def get_config(self) -> dict:
        from pynncore.saving import serialize_layer

        config = {"name": self.name, "trainable": self.trainable, "layers": []}
        if self._input_layer is not None:
            config["layers"].append(serialize_layer(self._input_layer))
        config["layers"] += [serialize_layer(l) for l in self._stack]
        return config

    @classmethod
    def from_config(cls, config: dict) -> "Sequential":
        from pynncore.saving import _sequential_from_config

        return _sequential_from_config(cls, config)


def model_from_json(json_string: Any, custom_objects: Optional[dict] = None) -> Model:
    """A new model (freshly initialised weights) from the JSON of ``model.to_json()``.

    Only pynncore's classes, registered classes and ``custom_objects`` are used; nothing named
    in the JSON is imported (see ``pynncore.saving.model_from_json``).

    Example:
        >>> from pynncore.layers import Dense
        >>> model = Sequential([Dense(2, input_shape=(3,))])
        >>> model_from_json(model.to_json()).output_shape
        (None, 2)
    """
    from pynncore.saving import model_from_json as _from_json

    return _from_json(json_string, custom_objects=custom_objects)


def _takes_gradients(layer: Layer) -> bool:
    """True when ``layer`` has weights that training updates (the trainer runs the backward
    pass with the ``trainable`` flags read at compile time)."""
    return bool(layer.trainable_weights)


def _default_clone(layer: Layer) -> Layer:
    return type(layer).from_config(layer.get_config())


def _unregistered_classes(model: Model) -> dict:
    """The model's layer classes that the description format names by their plain class name
    but that are neither pynncore's nor registered, so that cloning can read them back."""
    from pynncore import saving

    builtins = saving._builtin_classes()
    out = {}
    todo = list(model._leaf_layers())
    while todo:
        layer = todo.pop()
        cls = type(layer)
        if saving._NAMES.get(cls) is None and builtins.get(cls.__name__) is not cls:
            out.setdefault(cls.__name__, cls)
        # the layers a wrapper (TimeDistributed, Bidirectional) describes inside its config
        todo += [w for w in (getattr(layer, a, None) for a in ("layer", "forward_layer", "backward_layer")) if isinstance(w, Layer)]
    return out


def _cloner(clone_function: Any) -> Any:
    """``clone_function`` made to return one clone per original layer (shared layers stay
    shared) and checked to return a Layer."""
    if clone_function is None:
        clone_function = _default_clone
    elif not callable(clone_function):
        raise TypeError(f"clone_model: clone_function must be callable. Received: {clone_function!r}")
    cache: dict = {}

    def clone(layer: Layer) -> Layer:
        if id(layer) not in cache:
            new = clone_function(layer)
            if not isinstance(new, Layer):
                raise TypeError(
                    f"clone_model: clone_function must return a Layer. Received {type(new).__name__} "
                    f"for layer '{layer.name}'"
                )
            cache[id(layer)] = new
        return cache[id(layer)]

    return clone


def _new_input(t: KerasTensor) -> KerasTensor:
    layer = t._history[0]
    return InputLayer(shape=layer.shape, batch_size=layer.batch_size, name=layer.name).output


def _input_tensor_list(model: Model, input_tensors: Any) -> list:
    n = len(model._inputs)
    if isinstance(input_tensors, dict):
        if not isinstance(model._input_struct, list) or sorted(input_tensors) != sorted(model._input_struct):
            raise ValueError(
                f"clone_model: input_tensors must have the structure of the inputs of model "
                f"'{model.name}' ({model.input_names}). Received a dict with keys {sorted(input_tensors)}"
            )
        tensors = [input_tensors[k] for k in model._input_struct]
    elif isinstance(input_tensors, (list, tuple)):
        tensors = list(input_tensors)
    else:
        tensors = [input_tensors]
    if len(tensors) != n:
        raise ValueError(f"clone_model: model '{model.name}' has {n} input(s). Received: {len(tensors)} input_tensors")
    for t in tensors:
        if not isinstance(t, KerasTensor):
            raise TypeError(
                f"clone_model: input_tensors must be symbolic tensors (pynncore.Input). Received: {type(t).__name__}"
            )
    for old, new in zip(model._inputs, tensors):
        if len(old.shape) != len(new.shape) or any(
            a is not None and b is not None and a != b for a, b in zip(old.shape[1:], new.shape[1:])
        ):
            raise ValueError(
                f"clone_model: input '{old.name}' of model '{model.name}' has shape {shape_str(old.shape)}. "
                f"Received an input tensor of shape {shape_str(new.shape)}"
            )
    return tensors


def _clone_sequential(model: "Sequential", clone: Any, input_tensors: Any) -> "Sequential":
    new = Sequential(name=model.name, trainable=model.trainable)
    if input_tensors is not None:
        if isinstance(input_tensors, (list, tuple)):
            if len(input_tensors) != 1:
                raise ValueError(
                    f"clone_model: a Sequential model takes a single input tensor. Received: {len(input_tensors)}"
                )
            input_tensors = input_tensors[0]
        t = input_tensors
        if not isinstance(t, KerasTensor) or t._history is None or not isinstance(t._history[0], InputLayer):
            raise TypeError(
                f"clone_model: the input tensor of a Sequential model must come from pynncore.Input. Received: {t!r}"
            )
        if model._inputs:
            _input_tensor_list(model, [t])
        new.add(t)
    elif model._input_layer is not None:
        new.add(_new_input(model._input_layer.output))
    for layer in model.layers:
        new.add(clone(layer))
    return new


def _clone_functional(model: Model, clone: Any, input_tensors: Any) -> Model:
    if input_tensors is None:
        ins = [_new_input(t) for t in model._inputs]
    else:
        ins = _input_tensor_list(model, input_tensors)
    made = {id(old): new for old, new in zip(model._inputs, ins)}
    for node in model._nodes:
        if isinstance(node.layer, InputLayer):
            continue
        layer = clone(node.layer)
        x, kwargs = node.call_arguments([made[id(t)] for t in node.inputs])
        out = layer(x, **kwargs)
        outs = out if isinstance(out, list) else [out]
        if len(outs) != len(node.outputs):
            raise ValueError(
                f"clone_model: the clone of layer '{node.layer.name}' gives {len(outs)} output(s) "
                f"where the original gives {len(node.outputs)}"
            )
        for old, new in zip(node.outputs, outs):
            made[id(old)] = new
    outs = [made[id(t)] for t in model._outputs]

    def pack(ts: list, struct: Any) -> Any:
        if isinstance(struct, list):
            return dict(zip(struct, ts))
        return list(ts) if struct == "list" else ts[0]

    return Model(inputs=pack(ins, model._input_struct), outputs=pack(outs, model._output_struct), name=model.name)


def clone_model(model: Model, input_tensors: Any = None, clone_function: Any = None) -> Model:
    """A new model with the architecture of ``model`` and freshly initialised weights.

    Each layer is replaced by ``clone_function(layer)``, by default a new layer of the same
    class and config (weights are not copied, as in Keras); a layer shared between calls is
    cloned once and stays shared. A compiled model's clone is compiled with the same settings
    (a fresh optimizer).

    Args:
        model: a ``Sequential`` or functional ``Model``.
        input_tensors: optional ``pynncore.Input`` tensors (a tensor, a list, or a dict for
            dict inputs) to build the clone on; by default new inputs of the same shapes.
        clone_function: optional ``fn(layer) -> layer`` applied to every layer except inputs.

    Returns:
        The new model.

    Raises:
        TypeError: ``model`` is not a model, ``clone_function`` is not callable or returns
            something that is not a layer, or an input tensor is not symbolic.
        ValueError: ``input_tensors`` of the wrong number, structure or shape.

    Example:
        >>> from pynncore.layers import Dense
        >>> model = Sequential([Dense(2, input_shape=(3,))])
        >>> twin = clone_model(model)
        >>> twin.output_shape, twin.layers[0] is model.layers[0]
        ((None, 2), False)
    """
    if not isinstance(model, Model):
        raise TypeError(f"clone_model: expected a Sequential or functional Model. Received: {type(model).__name__}")
    from pynncore import saving

    clone = _cloner(clone_function)
    with saving.custom_object_scope(_unregistered_classes(model)):
        if isinstance(model, Sequential):
            new = _clone_sequential(model, clone, input_tensors)
        else:
            if not model._inputs:
                raise ValueError(f"clone_model: model '{model.name}' has no inputs (it is not a functional model)")
            new = _clone_functional(model, clone, input_tensors)

    cc = saving._compile_config(model)
    if cc is not None:
        new.compile(**saving._compile_args(cc, f"clone_model: model '{model.name}'"))
    return new
