"""Models: ``Sequential`` and the functional ``Model``.

A model is a graph of layer calls. ``Sequential`` is the chain case; ``Model(inputs, outputs)``
builds the graph from symbolic tensors. Training, evaluation and prediction are run by
``pynncore.Trainer``; the ``compile``/``fit``/``evaluate``/``predict`` methods delegate to it.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from pynncore import _inference
from pynncore._threading import ModelLock
from pynncore.layers.base import InputLayer, KerasTensor, Layer, Node, shape_str

__all__ = ["Model", "Sequential"]


class Model(Layer):
    """A trainable graph of layers.

    ``Model(inputs, outputs)`` with ``inputs = pynncore.Input(shape=...)`` and ``outputs`` the
    result of calling layers on it (the functional API). Each layer here takes one input
    tensor; layers with several inputs (merge layers) are not supported yet.

    Args:
        inputs: a ``KerasTensor`` from ``pynncore.Input`` (or a one-element list).
        outputs: the ``KerasTensor`` produced from it (or a one-element list).
        name: model name.

    Threads: inference (``predict``, ``model(x)``, ``predict_on_batch``, ``get_weights``,
    ``save``) may run from many threads at once. ``fit``, ``evaluate``, ``train_on_batch``,
    ``test_on_batch``, ``set_weights``, ``load_weights`` and ``compile`` hold the model
    exclusively: they wait for running predictions to finish, and predictions started
    meanwhile wait for them, so no call ever sees half-updated weights (``docs/threading.md``).
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
        if inputs is not None or outputs is not None:
            self._init_graph(inputs, outputs)

    # -- graph -------------------------------------------------------------------------------

    def _init_graph(self, inputs: Any, outputs: Any) -> None:
        ins = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        outs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
        for t in ins + outs:
            if not isinstance(t, KerasTensor):
                raise TypeError(
                    f"Model '{self.name}': inputs and outputs must be symbolic tensors from "
                    f"pynncore.Input and layer calls. Received: {type(t).__name__}"
                )
        if len(ins) != 1 or len(outs) != 1:
            raise ValueError(
                f"Model '{self.name}': this version supports one input and one output. "
                f"Received: {len(ins)} inputs, {len(outs)} outputs"
            )
        order: list = []
        seen: set = set()
        visiting: set = set()

        def visit(t: KerasTensor) -> None:
            layer, index = t._history
            node = layer._inbound_nodes[index]
            if id(node) in seen:
                return
            if id(node) in visiting:
                raise ValueError(f"Model '{self.name}': the graph has a cycle at layer '{layer.name}'")
            visiting.add(id(node))
            for parent in node.inputs:
                visit(parent)
            visiting.discard(id(node))
            seen.add(id(node))
            order.append(node)

        visit(outs[0])
        first = order[0]
        if not isinstance(first.layer, InputLayer) or first.outputs[0] is not ins[0]:
            raise ValueError(
                f"Model '{self.name}': the outputs are not computed from the given input "
                f"(the graph starts at layer '{first.layer.name}')"
            )
        by_name: dict = {}
        for node in order:
            other = by_name.setdefault(node.layer.name, node.layer)
            if other is not node.layer:
                raise ValueError(f"Model '{self.name}': two different layers are named '{node.layer.name}'")
        self._inputs, self._outputs, self._nodes = ins, outs, order
        self.built = True

    @property
    def layers(self) -> list:
        out, seen = [], set()
        for node in self._nodes:
            if id(node.layer) not in seen:
                seen.add(id(node.layer))
                out.append(node.layer)
        return out

    @property
    def inputs(self) -> list:
        return list(self._inputs)

    @property
    def outputs(self) -> list:
        return list(self._outputs)

    @property
    def input_shape(self) -> tuple:
        return self._inputs[0].shape if self._inputs else None

    @property
    def output_shape(self) -> tuple:
        return self._outputs[0].shape if self._outputs else None

    def get_layer(self, name: Optional[str] = None, index: Optional[int] = None) -> Layer:
        layers = self.layers
        if index is not None:
            return layers[index]
        for layer in layers:
            if layer.name == name:
                return layer
        raise ValueError(f"Model '{self.name}': no layer named '{name}'. Layers: {[l.name for l in layers]}")

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

    def _ensure_built(self, x: np.ndarray) -> None:
        if not self.built:
            self.build((None,) + tuple(x.shape[1:]))

    def forward(self, x: np.ndarray, training: bool = False) -> tuple:
        """Runs the graph; returns ``(y, ctx)``. In training ``ctx`` lists each call's context."""
        values = {id(self._inputs[0]): x}
        masks: dict = {}
        ctxs = []
        for node in self._nodes:
            if isinstance(node.layer, InputLayer):
                continue
            key = id(node.inputs[0])
            xin = values[key]
            mask = masks.get(key)
            y, ctx = node.layer._forward_masked(xin, training, mask)
            values[id(node.outputs[0])] = y
            out_mask = node.layer.compute_mask(xin, mask)
            if out_mask is not None:
                masks[id(node.outputs[0])] = out_mask
            if training:
                ctxs.append((node, ctx, y))
        return values[id(self._outputs[0])], (ctxs if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[np.ndarray]:
        grads = {id(self._outputs[0]): dy}
        model_input = id(self._inputs[0])
        for i in range(len(ctx) - 1, -1, -1):
            node, layer_ctx, y = ctx[i]
            g = grads.pop(id(node.outputs[0]), None)
            if g is None:
                continue
            reg = node.layer.activity_regularizer
            if reg is not None:
                g = g + reg.gradient(y)
            need = need_dx or id(node.inputs[0]) != model_input
            gin = node.layer.backward(layer_ctx, g, need_dx=need)
            if gin is not None:
                key = id(node.inputs[0])
                grads[key] = gin if key not in grads else grads[key] + gin
        return grads.get(id(self._inputs[0])) if need_dx else None

    def activity_penalty(self, ctx: Any) -> float:
        """Sum of activity-regularizer penalties on the outputs recorded in ``ctx``."""
        total = 0.0
        for node, _, y in ctx:
            reg = node.layer.activity_regularizer
            if reg is not None:
                total += float(reg(y))
        return total

    def _build_exclusive(self, x: np.ndarray) -> None:
        """Builds on first use while holding the model exclusively."""
        if not self.built:
            with self._lock.writing("build"):
                self._ensure_built(x)

    def call(self, inputs: Any, training: bool = False) -> np.ndarray:
        x = self._check_input(inputs)
        self._build_exclusive(x)
        if training:  # training-mode layers update state (BatchNormalization's moving statistics)
            with self._lock.writing("call(training=True)"):
                return self.forward(x, training=True)[0]
        lock = self._lock
        lock.acquire_read()
        try:
            return self._infer(x)
        finally:
            lock.release_read()

    def _infer(self, x: np.ndarray) -> np.ndarray:
        """Inference output for a float32 C-contiguous batch, in one native call when it can."""
        if x.ndim == 2 and x.shape[0]:
            y = _inference.run(self, x)
            if y is not None:
                return y
        return self.forward(x, training=False)[0]

    def __call__(self, inputs: Any, training: Optional[bool] = None, **kwargs: Any) -> Any:
        if isinstance(inputs, KerasTensor):
            return super().__call__(inputs, training=training, **kwargs)
        return self.call(inputs, training=bool(training))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return self.output_shape

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
            trainer.compile(optimizer=optimizer, loss=loss, metrics=metrics, weighted_metrics=weighted_metrics)
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

    def predict(self, x: Any, batch_size: Optional[int] = None, verbose: Any = "auto", steps: Any = None, callbacks: Any = None) -> np.ndarray:
        if (
            callbacks is None
            and type(x) is np.ndarray
            and x.ndim == 2
            and x.dtype == np.float32
            and x.flags.c_contiguous
            and self.built
            and (batch_size is None or (type(batch_size) is int and batch_size > 0))
            and 0 < x.shape[0] <= (batch_size or 32)
        ):  # an invalid batch_size takes the general path, which reports it
            lock = self._lock
            lock.acquire_read()
            try:
                y = _inference.run(self, x)  # one native call for chains of Dense layers
            finally:
                lock.release_read()
            if y is not None:
                return y
        from pynncore.trainer import Trainer, _as_input

        trainer = self._trainer or Trainer(self)
        x = _as_input(x, "predict")
        self._build_exclusive(x if x.shape[0] else np.zeros((1,) + x.shape[1:], np.float32))
        with self._lock.reading():
            return trainer.predict(x, batch_size=batch_size, verbose=verbose, callbacks=callbacks)

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, class_weight: Any = None, return_dict: bool = False):
        trainer = self._require_trainer("train_on_batch")
        with self._lock.writing("train_on_batch"):
            return trainer.train_on_batch(x, y, sample_weight=sample_weight, class_weight=class_weight, return_dict=return_dict)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None, return_dict: bool = False):
        trainer = self._require_trainer("test_on_batch")
        with self._lock.writing("test_on_batch"):
            return trainer.test_on_batch(x, y, sample_weight=sample_weight, return_dict=return_dict)

    def predict_on_batch(self, x: Any) -> np.ndarray:
        return self.call(x, training=False).copy()

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
            p(f"{layer.name + ' (' + type(layer).__name__ + ')':<34}{shape_str(node.outputs[0].shape):<28}{layer.count_params():>12,}")
        p("=" * line_length)
        total = self.count_params()
        trainable = int(sum(w.value.size for w in self.trainable_weights))
        p(f"Total params: {total:,}")
        p(f"Trainable params: {trainable:,}")
        p(f"Non-trainable params: {total - trainable:,}")
        p("_" * line_length)

    def get_config(self) -> dict:
        return {"name": self.name, "trainable": self.trainable}


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
        for layer in self._stack:
            try:
                layer._maybe_build(t.shape)
                out = KerasTensor(layer.compute_output_shape(t.shape), name=layer.name)
            except ValueError:
                raise
            node = Node(layer, [t], [out])
            nodes.append(node)
            t = out
        self._inputs, self._outputs, self._nodes = [self._input_layer.output], [t], nodes
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
        for i in range(len(ctx) - 1, -1, -1):
            node, layer_ctx, y = ctx[i]
            reg = node.layer.activity_regularizer
            if reg is not None:
                dy = dy + reg.gradient(y)
            dy = node.layer.backward(layer_ctx, dy, need_dx=need_dx or i > 0)
        return dy

    def get_config(self) -> dict:
        from pynncore.saving import serialize_layer

        config = {"name": self.name, "trainable": self.trainable, "layers": []}
        if self._input_layer is not None:
            config["layers"].append(serialize_layer(self._input_layer))
        config["layers"] += [serialize_layer(l) for l in self._stack]
        return config
