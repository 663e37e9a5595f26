"""The training fast path: a train step through a chain of Dense layers in two native calls.

``Trainer`` tries :func:`train_step` for every batch. It applies when the model's graph is a
single chain of Dense layers with native activations (the MLP case) and the batch is a float32
2-D array without sample weights: the forward pass runs in one call
(``_core.dense_chain_train_forward``), the loss in Python exactly as in the general path, and
the backward pass with every weight gradient in a second call
(``_core.dense_chain_train_backward``). The kernels are the ones the layers use, in the same
order, so the numbers are those of the layer-by-layer path. Anything else (other layers,
activity regularizers, masks, custom activations, several inputs or outputs) returns None and
the general path runs.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pynncore import _core, _inference


class _Plan:
    __slots__ = ("nodes", "n_nodes", "steps", "var_key", "overwrite")

    def __init__(self, nodes: Any, steps: Optional[list]):
        self.nodes = nodes
        self.n_nodes = len(nodes)
        self.steps = steps
        self.var_key: Any = None
        self.overwrite = False


def _plan(model: Any) -> Optional[list]:
    steps = _inference._plan(model)
    if steps is None:
        return None
    from pynncore.layers.core import Dense

    layers = set()
    for s in steps:
        d = s.dense
        # Activation and Dropout layers, activity penalties and a layer called twice in the
        # chain (its gradients add up) take the general path.
        if s.act_layer is not None or type(d) is not Dense or d.activity_regularizer is not None or id(d) in layers:
            return None
        layers.add(id(d))
    dense_nodes = [n for n in model._nodes[1:]]
    if len(dense_nodes) != len(steps) or any(id(n.layer) not in layers for n in dense_nodes):
        return None  # a Dropout somewhere in the chain
    return steps


def train_step(trainer: Any, x: np.ndarray, y: Any) -> Optional[float]:
    """One optimizer step on ``(x, y)`` through the fast path; returns the loss, or None when
    the model or batch needs the general path (nothing has been changed then)."""
    model = trainer.model
    if not (type(x) is np.ndarray and x.ndim == 2 and x.dtype == np.float32 and x.flags.c_contiguous and x.shape[0]):
        return None
    nodes = model.__dict__.get("_nodes")
    if nodes is None:
        return None
    plan = model.__dict__.get("_training_plan")
    if plan is None or plan.nodes is not nodes or plan.n_nodes != len(nodes):
        plan = _Plan(nodes, _plan(model))
        model._training_plan = plan
    steps = plan.steps
    if steps is None:
        return None
    layer_args, grads, written = [], [], []
    for s in steps:
        d = s.dense
        if d.activation is not s.act:  # replaced since the plan was made
            model._training_plan = None
            return None
        bias = d.bias.value if d.use_bias else None
        layer_args.append((d.kernel.value, bias, *s.act_args))
    if x.shape[1] != layer_args[0][0].shape[0]:
        return None
    opt = trainer.optimizer
    with trainer._compiled_trainable():
        for s in steps:
            d = s.dense
            if d.trainable and d.kernel.trainable:
                kb = d.bias.grad if d.use_bias and d.bias.trainable else None
                grads.append((d.kernel.grad, kb))
                written.append(d.kernel)
                if kb is not None:
                    written.append(d.bias)
            else:
                grads.append((None, None))
        # The backward call may overwrite the gradients instead of adding to zeros when it
        # writes exactly the optimizer's variables.
        key = (tuple(id(v) for v in opt.variables), tuple(id(v) for v in written))
        if plan.var_key != key:
            plan.var_key = key
            plan.overwrite = len(written) == len(opt.variables) and {id(v) for v in written} == {id(v) for v in opt.variables}
        hs, zs = _core.dense_chain_train_forward(x, layer_args)
        pred = hs[-1]
        loss, (dy,) = trainer._losses_and_grads([y], [pred], None, with_grad=True)
        dy = np.ascontiguousarray(dy, dtype=np.float32)
        if dy is pred or np.may_share_memory(dy, pred):
            dy = dy.copy()
        if not plan.overwrite:
            opt.zero_grad()
        _core.dense_chain_train_backward(x, layer_args, hs, zs, dy, grads, not plan.overwrite)
    return trainer._finish_train_batch(loss, [y], [pred], None, x.shape[0])
