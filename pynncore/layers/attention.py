"""Attention layers with Keras 3 names, arguments, weight layouts and numbers.

``Attention`` (Luong-style dot or concat scores) and ``AdditiveAttention`` (Bahdanau-style
scores) are called on ``[query, value]`` or ``[query, value, key]``:

    scores = score(query, key)                 (N, Tq, Tv)
    scores = scores - 1e9 where masked         value mask and/or causal mask
    weights = dropout(softmax(scores))         dropout in training only
    output = weights @ value                   (N, Tq, dim), zero where the query is masked

``GroupQueryAttention(head_dim, num_query_heads, num_key_value_heads)`` (Ainslie et al.,
2023) shares each key/value head among ``num_query_heads // num_key_value_heads`` query heads;
the heads of one group attend as one batched product ``(N, Hkv, r * T, S)``, so the key and value
heads are never repeated in memory and their gradients sum over the group.

``MultiHeadAttention(num_heads, key_dim)`` projects query, key and value per head with
Keras's ``EinsumDense`` kernel layouts, attends over the time axis (or over
``attention_axes`` of higher-rank inputs) and projects the heads back:

    Q = query @ Wq + bq      (N, T, H, key_dim)      Wq: (query_dim, H, key_dim)
    K = key @ Wk + bk        (N, S, H, key_dim)      Wk: (key_dim_in, H, key_dim)
    V = value @ Wv + bv      (N, S, H, value_dim)    Wv: (value_dim_in, H, value_dim)
    P = softmax(Q K^T / sqrt(key_dim), masked to -1e9)          (N, H, T, S)
    output = (dropout(P) V) @ Wo + bo                  (N, T, out)   Wo: (H, value_dim, out)

With ``attention_axes`` on inputs ``(N, d1, ..., dk, C)`` the projected tensors are
transposed to ``(batch axes, attention axes, channels)``, where the batch axes are ``N``, the
axes not attended over and the heads; the attention axes are flattened into one "time" axis of
each side, so one softmax runs over all of them, as Keras's multi-axis ``Softmax`` does.

The projections are single native GEMMs over all samples and timesteps; the per-head products
use numpy's batched ``matmul``. Every layer has an exact backward pass for all inputs and
weights.

    >>> import numpy as np
    >>> from pynncore.layers import Attention
    >>> q, v = np.ones((2, 3, 4)), np.ones((2, 5, 4))
    >>> Attention()([q, v]).shape
    (2, 3, 4)
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from pynncore import constraints as _constraints
from pynncore import ops
from pynncore import regularizers as _regularizers
from pynncore.layers.base import KerasTensor, Layer, _tensor_list, shape_str
from pynncore.layers.core import _serialize

__all__ = ["AdditiveAttention", "Attention", "GroupQueryAttention", "GroupedQueryAttention", "MultiHeadAttention"]

_LARGE = np.float32(1.0e9)


def _softmax(s: np.ndarray) -> np.ndarray:
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return (e / e.sum(axis=-1, keepdims=True)).astype(np.float32, copy=False)


def _softmax_backward(p: np.ndarray, dp: np.ndarray) -> np.ndarray:
    return p * (dp - (dp * p).sum(axis=-1, keepdims=True))


def _causal(tq: int, tv: int) -> np.ndarray:
    """``(tq, tv)`` boolean: query ``i`` may attend to key ``j <= i``."""
    return np.arange(tq)[:, None] >= np.arange(tv)[None, :]


def _check_rate(kind: str, name: str, dropout: Any) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float, np.floating, np.integer)) or not 0.0 <= float(dropout) < 1.0:
        raise ValueError(f"{kind} '{name}': dropout must be a number in [0, 1). Received: dropout={dropout!r}")
    return float(dropout)


def _check_seed(kind: str, name: str, seed: Any) -> Optional[int]:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"{kind} '{name}': seed must be a non-negative integer or None. Received: seed={seed!r}")
    return int(seed)


class _AttentionDropout:
    """Inverted dropout on attention probabilities with a generator owned by the layer."""

    def __init__(self, rate: float, seed: Optional[int]):
        from pynncore.utils import rng as _rng

        self.rate = rate
        self._gen = _rng.make_generator(seed) if seed is not None else None

    def mask(self, shape: tuple) -> np.ndarray:
        if self._gen is not None:
            gen = self._gen
        else:
            from pynncore.utils import rng as _rng

            gen = _rng.get_global_generator()
        keep = gen.random(shape, dtype=np.float32) >= self.rate
        return keep.astype(np.float32) * np.float32(1.0 / (1.0 - self.rate))


def _check_mask(kind: str, name: str, what: str, mask: Any, want: tuple) -> Optional[np.ndarray]:
    if mask is None:
        return None
    m = np.asarray(mask)
    if m.shape != want:
        raise ValueError(
            f"{kind} '{name}': expected {what} of shape {shape_str(want)}. Received: shape={shape_str(m.shape)}"
        )
    return m.astype(bool)


def _qvk_shapes(kind: str, name: str, shapes: Any, same_qk_dim: bool, any_rank: bool = False) -> list:
    """Checks ``[query, value(, key)]`` shapes: a list of 2 or 3 rank-3 shapes (with
    ``any_rank``: of one rank, 3 or more), value and key of the same length and, with
    ``same_qk_dim``, query and key of the same feature size."""
    if not isinstance(shapes, (list, tuple)) or not all(isinstance(s, (list, tuple)) for s in shapes):
        raise ValueError(
            f"{kind} '{name}': must be called on a list of inputs, namely [query, value] or "
            f"[query, value, key]. Received: {shapes!r}"
        )
    if not 2 <= len(shapes) <= 3:
        raise ValueError(
            f"{kind} '{name}': accepts a list of 2 or 3 inputs, namely [query, value] or "
            f"[query, value, key]. Received: {len(shapes)} inputs"
        )
    shapes = [tuple(s) for s in shapes]
    for what, s in zip(("query", "value", "key"), shapes):
        if any_rank and len(s) < 3:
            raise ValueError(
                f"{kind} '{name}': expected {what} of rank 3 or more (batch, ..., features). "
                f"Received: shape={shape_str(s)}"
            )
        if any_rank and len(s) != len(shapes[0]):
            raise ValueError(
                f"{kind} '{name}': expected {what} of the rank of query ({len(shapes[0])}). "
                f"Received: shape={shape_str(s)}, query shape={shape_str(shapes[0])}"
            )
        if not any_rank and len(s) != 3:
            raise ValueError(
                f"{kind} '{name}': expected {what} of rank 3 (batch, timesteps, features). "
                f"Received: shape={shape_str(s)}"
            )
    q, v = shapes[0], shapes[1]
    k = shapes[2] if len(shapes) > 2 else v
    if same_qk_dim and q[-1] is not None and k[-1] is not None and q[-1] != k[-1]:
        raise ValueError(
            f"{kind} '{name}': query and key must have the same last dimension. "
            f"Received: query shape={shape_str(q)}, key shape={shape_str(k)}"
        )
    if any(a is not None and b is not None and a != b for a, b in zip(v[1:-1], k[1:-1])):
        raise ValueError(
            f"{kind} '{name}': value and key must have the same number of timesteps (the same "
            f"shape but for the last axis). Received: value shape={shape_str(v)}, key shape={shape_str(k)}"
        )
    return shapes


def _check_attention_axes(name: str, axes: Any) -> Optional[tuple]:
    """``attention_axes`` as None or a tuple of distinct ints (an int is a tuple of one)."""
    if axes is None:
        return None
    items = (axes,) if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool) else axes
    if (
        not isinstance(items, (list, tuple))
        or not items
        or any(isinstance(a, bool) or not isinstance(a, (int, np.integer)) for a in items)
        or len(set(int(a) for a in items)) != len(items)
    ):
        raise ValueError(
            f"MultiHeadAttention '{name}': attention_axes must be None, an int or a non-empty "
            f"tuple of distinct ints. Received: attention_axes={axes!r}"
        )
    return tuple(int(a) for a in items)


def _qvk_arrays(layer: Any, xs: Any) -> tuple:
    """``(arrays, query, value, key)`` as float32 from a call's list of inputs, with the shape
    checks of ``layer._validate_shapes`` and one batch size for all."""
    kind = type(layer).__name__
    if not isinstance(xs, (list, tuple)):
        raise ValueError(
            f"{kind} '{layer.name}': must be called on a list of inputs, namely [query, value] or "
            f"[query, value, key]. Received: {type(xs).__name__}"
        )
    arrs = [np.ascontiguousarray(x, dtype=np.float32) for x in xs]
    layer._validate_shapes([a.shape for a in arrs])
    q, v = arrs[0], arrs[1]
    k = arrs[2] if len(arrs) > 2 else v
    if q.shape[0] != v.shape[0] or k.shape[0] != v.shape[0]:
        raise ValueError(
            f"{kind} '{layer.name}': query, value and key must have the same batch size. "
            f"Received: shapes={[shape_str(a.shape) for a in arrs]}"
        )
    return arrs, q, v, k


class _BaseDenseAttention(Layer):
    """Shared call, masking, softmax, dropout and backward of ``Attention`` and
    ``AdditiveAttention``; subclasses give the score function and its gradient."""

    supports_masking = True
    consumes_mask = True

    def __init__(self, dropout: float = 0.0, seed: Optional[int] = None, **kwargs: Any):
        super().__init__(**kwargs)
        kind = type(self).__name__
        self.dropout = _check_rate(kind, self.name, dropout)
        self.seed = _check_seed(kind, self.name, seed)
        self._drop = _AttentionDropout(self.dropout, self.seed)
        self._return_scores = False

    # -- validation ----------------------------------------------------------------------

    def _validate_shapes(self, shapes: Any) -> list:
        return _qvk_shapes(type(self).__name__, self.name, shapes, same_qk_dim=True)

    def build(self, input_shape: Any) -> None:
        self._validate_shapes(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = self._validate_shapes(input_shape)
        q, v = shapes[0], shapes[1]
        k = shapes[2] if len(shapes) > 2 else v
        out = (*q[:-1], v[-1])
        if self._return_scores:
            return [out, (*q[:-1], k[1])]
        return out

    def compute_mask(self, x: Any, mask: Any = None) -> Optional[np.ndarray]:
        if mask is None or not isinstance(mask, (list, tuple)) or mask[0] is None:
            return None
        return np.asarray(mask[0], bool)

    def __call__(self, inputs: Any, training: Optional[bool] = None, **kwargs: Any) -> Any:
        self._return_scores = bool(kwargs.get("return_attention_scores", False))
        try:
            return super().__call__(inputs, training=training, **kwargs)
        finally:
            self._return_scores = False

    # -- score functions (overridden) ----------------------------------------------------

    def _scores(self, q: np.ndarray, k: np.ndarray) -> tuple:
        raise NotImplementedError

    def _scores_backward(self, sctx: Any, ds: np.ndarray) -> tuple:
        raise NotImplementedError

    # -- running ---------------------------------------------------------------------------

    def forward(
        self,
        xs: Any,
        training: bool = False,
        mask: Any = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> tuple:
        kind = type(self).__name__
        arrs, q, v, k = _qvk_arrays(self, xs)
        q_mask = v_mask = None
        if mask is not None:
            if not isinstance(mask, (list, tuple)) or not 2 <= len(mask) <= 3:
                raise ValueError(
                    f"{kind} '{self.name}': mask must be a list [query_mask, value_mask]. Received: mask={mask!r}"
                )
            q_mask = _check_mask(kind, self.name, "query_mask", mask[0], q.shape[:2])
            v_mask = _check_mask(kind, self.name, "value_mask", mask[1], v.shape[:2])
        scores, sctx = self._scores(q, k)
        tq, tv = scores.shape[1], scores.shape[2]
        keep = None
        if use_causal_mask:
            keep = np.broadcast_to(_causal(tq, tv)[None], scores.shape)
            if v_mask is not None:
                keep = keep & v_mask[:, None, :]
        elif v_mask is not None:
            keep = np.broadcast_to(v_mask[:, None, :], scores.shape)
        if keep is not None:
            scores = np.where(keep, scores, scores - _LARGE)
        p = _softmax(scores)
        drop = None
        if training and self.dropout > 0.0:
            drop = self._drop.mask(p.shape)
            w = p * drop
        else:
            w = p
        out = np.matmul(w, v).astype(np.float32, copy=False)
        if q_mask is not None:
            out = np.where(q_mask[:, :, None], out, np.float32(0.0)).astype(np.float32)
        out = np.ascontiguousarray(out)
        ctx = (sctx, p, drop, w, v, q_mask, len(arrs)) if training else None
        if return_attention_scores:
            return [out, np.ascontiguousarray(w, dtype=np.float32)], ctx
        return out, ctx

    def backward(self, ctx: Any, dy: Any, need_dx: bool = True) -> Optional[list]:
        sctx, p, drop, w, v, q_mask, n_in = ctx
        if isinstance(dy, (list, tuple)):
            dout, dw_extra = np.asarray(dy[0], np.float32), np.asarray(dy[1], np.float32)
        else:
            dout, dw_extra = np.asarray(dy, np.float32), None
        if q_mask is not None:
            dout = dout * q_mask[:, :, None]
        dv = np.matmul(w.transpose(0, 2, 1), dout)
        dw = np.matmul(dout, v.transpose(0, 2, 1))
        if dw_extra is not None:
            dw = dw + dw_extra
        dp = dw * drop if drop is not None else dw
        ds = _softmax_backward(p, dp)
        dq, dk = self._scores_backward(sctx, ds)
        if not need_dx:
            return None
        if n_in == 2:
            return [dq.astype(np.float32), (dv + dk).astype(np.float32)]
        return [dq.astype(np.float32), dv.astype(np.float32), dk.astype(np.float32)]

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(dropout=self.dropout, seed=self.seed)
        return config


class Attention(_BaseDenseAttention):
    """Dot-product (Luong-style) attention.

    ``score_mode="dot"`` scores ``query @ key^T`` (times a trainable scalar ``scale`` with
    ``use_scale``); ``score_mode="concat"`` scores
    ``concat_score_weight * sum(tanh(scale * (query_i + key_j)))`` over features.

    Args:
        use_scale: create a trainable scalar ``scale`` (initialized to 1) multiplying the scores.
        score_mode: ``"dot"`` or ``"concat"`` (which adds a trainable scalar
            ``concat_score_weight`` initialized to 1).
        dropout: fraction of the attention weights dropped in training.
        seed: integer seed of the dropout generator.

    Call arguments:
        inputs: ``[query (N, Tq, dim), value (N, Tv, dv)]`` or with ``key (N, Tv, dim)`` third
            (the key defaults to the value).
        mask: ``[query_mask (N, Tq), value_mask (N, Tv)]`` booleans; masked values get no
            attention and masked query steps output zeros.
        training: apply dropout.
        return_attention_scores: also return the attention weights ``(N, Tq, Tv)``.
        use_causal_mask: query step ``i`` attends to value steps ``j <= i`` only.

    Returns:
        ``(N, Tq, dv)``, or ``[output, weights]`` with ``return_attention_scores``.

    Raises:
        ValueError: a bad ``score_mode``, inputs that are not a list of 2 or 3 rank-3 arrays,
            query and key of different feature sizes, or masks of the wrong shape.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import Attention
        >>> Attention(score_mode="concat")([np.ones((2, 3, 4)), np.ones((2, 5, 4))]).shape
        (2, 3, 4)
    """

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0, seed: Optional[int] = None, **kwargs: Any):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        if score_mode not in ("dot", "concat"):
            raise ValueError(
                f"Attention '{self.name}': invalid value for argument score_mode. Expected one of "
                f"{{'dot', 'concat'}}. Received: score_mode={score_mode!r}"
            )
        self.use_scale = bool(use_scale)
        self.score_mode = score_mode
        self.scale = None
        self.concat_score_weight = None

    def build(self, input_shape: Any) -> None:
        self._validate_shapes(input_shape)
        if self.use_scale:
            self.scale = self.add_weight("scale", (), initializer="ones")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight("concat_score_weight", (), initializer="ones")
        self.built = True

    def _scores(self, q: np.ndarray, k: np.ndarray) -> tuple:
        if self.score_mode == "dot":
            s = np.matmul(q, k.transpose(0, 2, 1))
            raw = s
            if self.scale is not None:
                s = s * self.scale.value
            return s.astype(np.float32, copy=False), (q, k, raw)
        u = q[:, :, None, :] + k[:, None, :, :]
        if self.scale is not None:
            t = np.tanh(self.scale.value * u)
        else:
            t = np.tanh(u)
        tsum = t.sum(axis=-1)
        s = self.concat_score_weight.value * tsum
        return s.astype(np.float32, copy=False), (q, k, u, t, tsum)

    def _scores_backward(self, sctx: Any, ds: np.ndarray) -> tuple:
        if self.score_mode == "dot":
            q, k, raw = sctx
            if self.scale is not None:
                a = self.scale.value
                self.scale.grad[...] += np.float32((ds * raw).sum(dtype=np.float64))
                ds = ds * a
            dq = np.matmul(ds, k)
            dk = np.matmul(ds.transpose(0, 2, 1), q)
            return dq, dk
        q, k, u, t, tsum = sctx
        c = self.concat_score_weight
        c.grad[...] += np.float32((ds * tsum).sum(dtype=np.float64))
        du = (c.value * ds)[..., None] * (1.0 - t * t)
        if self.scale is not None:
            self.scale.grad[...] += np.float32((du * u).sum(dtype=np.float64))
            du = du * self.scale.value
        return du.sum(axis=2), du.sum(axis=1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(use_scale=self.use_scale, score_mode=self.score_mode)
        return config


class AdditiveAttention(_BaseDenseAttention):
    """Additive (Bahdanau-style) attention: scores ``sum(scale * tanh(query_i + key_j))``.

    Args:
        use_scale: create a trainable ``scale`` vector of shape ``(dim,)`` (glorot-uniform
            initialized); without it the scores are ``sum(tanh(query_i + key_j))``.
        dropout: fraction of the attention weights dropped in training.
        seed: integer seed of the dropout generator.

    Call arguments, returns and errors are those of ``Attention``.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import AdditiveAttention
        >>> AdditiveAttention()([np.ones((2, 3, 4)), np.ones((2, 5, 4))]).shape
        (2, 3, 4)
    """

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, seed: Optional[int] = None, **kwargs: Any):
        super().__init__(dropout=dropout, seed=seed, **kwargs)
        self.use_scale = bool(use_scale)
        self.scale = None

    def build(self, input_shape: Any) -> None:
        shapes = self._validate_shapes(input_shape)
        if self.use_scale:
            dim = shapes[0][-1]
            if dim is None:
                raise ValueError(f"AdditiveAttention '{self.name}': the query's last dimension must be known")
            self.scale = self.add_weight("scale", (dim,), initializer="glorot_uniform")
        self.built = True

    def _scores(self, q: np.ndarray, k: np.ndarray) -> tuple:
        t = np.tanh(q[:, :, None, :] + k[:, None, :, :])
        s = (t * self.scale.value).sum(axis=-1) if self.scale is not None else t.sum(axis=-1)
        return s.astype(np.float32, copy=False), t

    def _scores_backward(self, t: Any, ds: np.ndarray) -> tuple:
        if self.scale is not None:
            self.scale.grad[...] += np.einsum("bij,bijd->d", ds, t).astype(np.float32)
            du = (ds[..., None] * self.scale.value) * (1.0 - t * t)
        else:
            du = ds[..., None] * (1.0 - t * t)
        return du.sum(axis=2), du.sum(axis=1)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(use_scale=self.use_scale)
        return config


class _ProjectedAttention(Layer):
    """Shared arguments, calling convention, projections and config of ``MultiHeadAttention``
    and ``GroupQueryAttention``: query, key and value projected per head, the heads projected
    back to the output, one set of initializers, regularizers and constraints for all."""

    supports_masking = True
    consumes_mask = True

    def _init_projections(
        self, dropout: Any, use_bias: Any, kernel_initializer: Any, bias_initializer: Any, kernel_regularizer: Any,
        bias_regularizer: Any, kernel_constraint: Any, bias_constraint: Any, seed: Any,
    ) -> None:
        kind = type(self).__name__
        self.dropout = _check_rate(kind, self.name, dropout)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = _regularizers.get(kernel_regularizer)
        self.bias_regularizer = _regularizers.get(bias_regularizer)
        self.kernel_constraint = _constraints.get(kernel_constraint)
        self.bias_constraint = _constraints.get(bias_constraint)
        self.seed = _check_seed(kind, self.name, seed)
        self._drop = _AttentionDropout(self.dropout, self.seed)
        self._return_scores = False
        self._proj: dict = {}

    def _call_inputs(self, query: Any, value: Any, key: Any) -> list:
        """``[query, value(, key)]`` from a call's arguments (or from a list as ``query``)."""
        if value is None and isinstance(query, (list, tuple)) and 2 <= len(query) <= 3:
            return list(query)
        if value is None:
            raise ValueError(f"{type(self).__name__} '{self.name}': expected a `value` input. Received: value=None")
        return [query, value] if key is None else [query, value, key]

    def _call_projected(
        self, inputs: list, training: Optional[bool], call_kwargs: dict, masks: dict, return_attention_scores: bool,
        use_causal_mask: bool,
    ) -> Any:
        """Runs the layer with the non-None ``masks`` (call arguments) and the true flags added
        to ``call_kwargs``."""
        if return_attention_scores:
            call_kwargs["return_attention_scores"] = True
        if use_causal_mask:
            call_kwargs["use_causal_mask"] = True
        symbolic = any(isinstance(t, KerasTensor) for t in inputs)
        for arg, m in masks.items():
            if m is None:
                continue
            if not symbolic and _tensor_list(m) is not None:
                raise ValueError(f"{type(self).__name__} '{self.name}': a symbolic {arg} needs symbolic inputs")
            call_kwargs[arg] = m
        self._return_scores = bool(call_kwargs.get("return_attention_scores", False))
        try:
            return Layer.__call__(self, inputs, training=training, **call_kwargs)
        finally:
            self._return_scores = False

    def _check_built_features(self, shapes: list) -> None:
        """Raises when a built layer is called on inputs of other feature sizes."""
        if not (self.built and self._proj):
            return
        v = shapes[1]
        k = shapes[2] if len(shapes) > 2 else v
        for what, s in zip(("query", "value", "key"), (shapes[0], v, k)):
            want = self._proj[what][0].shape[0]
            if s[-1] is not None and s[-1] != want:
                raise ValueError(
                    f"{type(self).__name__} '{self.name}': was built for {what} with {want} features. "
                    f"Received: shape={shape_str(s)}"
                )

    def _build_projections(self, shapes: list, specs: dict) -> None:
        """Creates the ``query``, ``key``, ``value`` and ``output`` kernels (and biases) of
        ``specs[what] = (weight name, kernel shape, bias shape)``."""
        q, v = shapes[0], shapes[1]
        k = shapes[2] if len(shapes) > 2 else v
        for what, s in (("query", q), ("value", v), ("key", k)):
            if s[-1] is None:
                raise ValueError(f"{type(self).__name__} '{self.name}': the last dimension of {what} must be known")

        def proj(name: str, shape: tuple, bias_shape: tuple) -> tuple:
            kernel = self.add_weight(
                f"{name}/kernel", shape, initializer=self.kernel_initializer,
                regularizer=self.kernel_regularizer, constraint=self.kernel_constraint,
            )
            bias = None
            if self.use_bias:
                bias = self.add_weight(
                    f"{name}/bias", bias_shape, initializer=self.bias_initializer,
                    regularizer=self.bias_regularizer, constraint=self.bias_constraint,
                )
            return kernel, bias

        self._proj = {what: proj(*specs[what]) for what in ("query", "key", "value", "output")}
        self.built = True

    def _check_call_shape(self, input_shape: Any) -> None:
        self._validate_shapes(input_shape)

    def compute_mask(self, x: Any, mask: Any = None) -> Optional[np.ndarray]:
        if mask is None or not isinstance(mask, (list, tuple)) or mask[0] is None:
            return None
        return np.asarray(mask[0], bool)

    @staticmethod
    def _project(x: np.ndarray, kernel: Any, bias: Any) -> np.ndarray:
        d = x.shape[-1]
        w = kernel.value.reshape(d, -1)
        y = ops.matmul(x.reshape(-1, d), w)
        if bias is not None:
            y += bias.value.reshape(1, -1)
        return y.reshape(x.shape[:-1] + kernel.shape[1:])

    @staticmethod
    def _project_backward(x: np.ndarray, dy: np.ndarray, kernel: Any, bias: Any, need_dx: bool) -> Optional[np.ndarray]:
        d = x.shape[-1]
        xf = x.reshape(-1, d)
        dyf = np.ascontiguousarray(dy, dtype=np.float32).reshape(xf.shape[0], -1)
        if kernel.grad is not None:
            kernel.grad.reshape(d, -1)[...] += ops.matmul(xf, dyf, transpose_a=True)
        if bias is not None and bias.grad is not None:
            bias.grad.reshape(-1)[...] += dyf.sum(axis=0)
        if not need_dx:
            return None
        return ops.matmul(dyf, kernel.value.reshape(d, -1), transpose_b=True).reshape(x.shape)

    def _attend(self, scores: np.ndarray, keep: Optional[np.ndarray], training: bool, drop_shape: tuple) -> tuple:
        """``(p, drop, w)``: the probabilities of ``scores`` (masked where ``keep`` is false),
        the dropout multiplier of shape ``drop_shape`` (None outside training) and ``p`` dropped."""
        if keep is not None:
            scores = np.where(keep, scores, -_LARGE)
        p = _softmax(scores.astype(np.float32, copy=False))
        if keep is not None:
            # As Keras's masked Softmax: a query with every key masked attends to nothing.
            p = np.where(keep, p, np.float32(0.0))
        if not (training and self.dropout > 0.0):
            return p, None, p
        drop = self._drop.mask(drop_shape)
        return p, drop, p * drop.reshape(p.shape)

    @staticmethod
    def _split_dy(dy: Any, p_shape: tuple) -> tuple:
        """``(d output, d scores or None)`` from the gradient of one or two outputs."""
        if isinstance(dy, (list, tuple)):
            return np.asarray(dy[0], np.float32), np.asarray(dy[1], np.float32).reshape(p_shape)
        return np.asarray(dy, np.float32), None

    @staticmethod
    def _attend_backward(p: np.ndarray, dw: np.ndarray, drop: Any, dp_extra: Any, keep: Any) -> np.ndarray:
        """The gradient of the masked scores from that of the dropped probabilities ``dw``
        (plus ``dp_extra`` on the returned probabilities)."""
        dp = dw * drop.reshape(dw.shape) if drop is not None else dw
        if dp_extra is not None:
            dp = dp + dp_extra
        if keep is not None:
            dp = dp * keep
        ds = _softmax_backward(p, dp)
        if keep is not None:
            ds = ds * keep
        return ds

    def _inputs_backward(self, arrs: list, dq: np.ndarray, dk: np.ndarray, dv: np.ndarray, need_dx: bool) -> Optional[list]:
        """Weight gradients of the query, key and value projections from those of their
        outputs; the input gradients (the key's added to the value's when the key is the value)."""
        q, v = arrs[0], arrs[1]
        k = arrs[2] if len(arrs) > 2 else v
        pq, pk, pv = (self._proj[x] for x in ("query", "key", "value"))
        dq = self._project_backward(q, dq, *pq, need_dx)
        dk = self._project_backward(k, dk, *pk, need_dx)
        dv = self._project_backward(v, dv, *pv, need_dx)
        if not need_dx:
            return None
        if len(arrs) == 2:
            return [dq, dv + dk]
        return [dq, dv, dk]

    def _projection_config(self) -> dict:
        return dict(
            dropout=self.dropout,
            use_bias=self.use_bias,
            kernel_initializer=_serialize(self.kernel_initializer),
            bias_initializer=_serialize(self.bias_initializer),
            kernel_regularizer=_serialize(self.kernel_regularizer),
            bias_regularizer=_serialize(self.bias_regularizer),
            kernel_constraint=_constraints.config_of(self.kernel_constraint),
            bias_constraint=_constraints.config_of(self.bias_constraint),
            seed=self.seed,
        )


class MultiHeadAttention(_ProjectedAttention):
    """Multi-head attention (Vaswani et al.) with Keras 3's weight layout.

    Weights, in ``get_weights()`` order: ``query/kernel (query_dim, num_heads, key_dim)``,
    ``query/bias (num_heads, key_dim)``, the same for ``key`` and for ``value`` (with
    ``value_dim``), ``attention_output/kernel (num_heads, value_dim, out_dim)`` and
    ``attention_output/bias (out_dim,)``; biases only with ``use_bias``.

    Args:
        num_heads: number of attention heads.
        key_dim: size of each head for query and key.
        value_dim: size of each head for value (default ``key_dim``).
        dropout: fraction of the attention probabilities dropped in training.
        use_bias: whether the projections have biases.
        output_shape: size of the output features (an int or a 1-tuple); default the query's
            last dimension.
        attention_axes: an int or a tuple of ints: the axes of the inputs attended over, as
            in Keras (negative axes count as ``axis + rank``, so ``-2`` is the last axis before
            the features). ``None`` attends over every axis between the batch and the features.
            For inputs ``(N, H, W, C)``: ``(1, 2)`` attends over all pixels, ``(2,)`` over each
            row separately.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as for ``Dense``, shared by all projections.
        seed: integer seed of the dropout generator.

    Call arguments:
        query: ``(N, T, query_dim)``, or ``(N, d1, ..., dk, query_dim)``.
        value: ``(N, S, value_dim_in)``, or of the query's rank, equal to it on the axes not
            attended over.
        key: optional, of the value's shape but for the last axis; defaults to ``value``.
        attention_mask: optional boolean ``(N, T, S)``: which keys each query attends to. For
            higher-rank inputs its shape is the scores' shape without the heads axis.
        return_attention_scores: also return the attention probabilities ``(N, H, T, S)``
            (before dropout, as Keras returns them). For higher-rank inputs: ``(N, other
            axes, H, query attention axes, key attention axes)``, as Keras orders them.
        training: apply dropout.
        use_causal_mask: query step ``i`` attends to key steps ``j <= i`` only (rank-3
            inputs only).
        Masks of ``query``, ``value`` and ``key`` (from ``Embedding(mask_zero=True)`` or
            ``Masking``) are combined with ``attention_mask`` (rank-3 inputs only).

    Returns:
        ``(N, T, out_dim)``, or ``[output, scores]`` with ``return_attention_scores``.

    Raises:
        ValueError: bad constructor arguments, inputs of rank below 3 or of different ranks,
            value and key of different lengths, ``attention_axes`` naming the batch or feature
            axis, an ``attention_mask`` of the wrong shape, or input masks or
            ``use_causal_mask`` with inputs of rank above 3.

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import MultiHeadAttention
        >>> MultiHeadAttention(2, 4)(np.ones((2, 3, 8)), np.ones((2, 5, 6))).shape
        (2, 3, 8)
    """

    def __init__(
        self,
        num_heads: int,
        key_dim: int,
        value_dim: Optional[int] = None,
        dropout: float = 0.0,
        use_bias: bool = True,
        output_shape: Any = None,
        attention_axes: Any = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        seed: Optional[int] = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        kind = "MultiHeadAttention"
        _check_positive(kind, self.name, "num_heads", num_heads)
        _check_positive(kind, self.name, "key_dim", key_dim)
        if value_dim is not None and (isinstance(value_dim, bool) or not isinstance(value_dim, (int, np.integer)) or value_dim <= 0):
            raise ValueError(
                f"{kind} '{self.name}': value_dim must be a positive integer or None. Received: value_dim={value_dim!r}"
            )
        attention_axes = _check_attention_axes(self.name, attention_axes)
        if output_shape is not None:
            shape = (output_shape,) if isinstance(output_shape, (int, np.integer)) and not isinstance(output_shape, bool) else output_shape
            if (
                not isinstance(shape, (list, tuple))
                or len(shape) != 1
                or isinstance(shape[0], bool)
                or not isinstance(shape[0], (int, np.integer))
                or shape[0] <= 0
            ):
                raise ValueError(
                    f"{kind} '{self.name}': output_shape must be a positive integer or a tuple of one. "
                    f"Received: output_shape={output_shape!r}"
                )
            output_shape = (int(shape[0]),)
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        self.value_dim = int(value_dim) if value_dim is not None else self.key_dim
        self.output_shape = output_shape
        self.attention_axes = attention_axes
        self._init_projections(
            dropout, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
            kernel_constraint, bias_constraint, seed,
        )

    # -- calling ---------------------------------------------------------------------------

    def __call__(  # type: ignore[override]
        self,
        query: Any,
        value: Any = None,
        key: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        training: Optional[bool] = None,
        use_causal_mask: bool = False,
        **kwargs: Any,
    ) -> Any:
        inputs = self._call_inputs(query, value, key)
        masks = {"attention_mask": attention_mask}
        return self._call_projected(inputs, training, dict(kwargs), masks, return_attention_scores, use_causal_mask)

    def _axes(self, rank: int) -> tuple:
        """The attended axes of rank-``rank`` inputs, normalized as Keras does (``axis + rank``
        for a negative axis); each must lie between the batch and the feature axis."""
        if self.attention_axes is None:
            return tuple(range(1, rank - 1))
        axes = tuple(a + rank if a < 0 else a for a in self.attention_axes)
        if any(not 1 <= a <= rank - 2 for a in axes) or len(set(axes)) != len(axes):
            raise ValueError(
                f"MultiHeadAttention '{self.name}': attention_axes must name distinct axes between the batch "
                f"and the feature axis of rank-{rank} inputs (1 to {rank - 2}, or -{rank - 1} to -2). "
                f"Received: attention_axes={self.attention_axes!r}"
            )
        return axes

    def _layout(self, rank: int) -> tuple:
        """``(perm, n_batch)``: the transpose of a projected ``(N, d1, ..., dk, H, C)`` tensor to
        ``(batch axes, attention axes, C)`` (batch axes in order, ending with the heads; the
        attention axes in the order given), and the number of batch axes."""
        axes = self._axes(rank)
        batch = [i for i in range(rank) if i not in axes]  # the projected rank is rank + 1
        return tuple(batch) + axes + (rank,), len(batch)

    def _validate_shapes(self, shapes: Any) -> list:
        kind = "MultiHeadAttention"
        shapes = _qvk_shapes(kind, self.name, shapes, same_qk_dim=False, any_rank=True)
        q, v = shapes[0], shapes[1]
        k = shapes[2] if len(shapes) > 2 else v
        axes = self._axes(len(q))
        for i in range(1, len(q) - 1):
            if i not in axes and q[i] is not None and v[i] is not None and q[i] != v[i]:
                raise ValueError(
                    f"{kind} '{self.name}': query and value must agree on the axes not attended over "
                    f"(axis {i}). Received: query shape={shape_str(q)}, value shape={shape_str(v)}"
                )
        self._check_built_features(shapes)
        return shapes

    def build(self, input_shape: Any) -> None:
        shapes = self._validate_shapes(input_shape)
        q, v = shapes[0], shapes[1]
        k = shapes[2] if len(shapes) > 2 else v
        h = self.num_heads
        out_dim = self.output_shape[0] if self.output_shape else q[-1]
        self._build_projections(shapes, {
            "query": ("query", (q[-1], h, self.key_dim), (h, self.key_dim)),
            "key": ("key", (k[-1], h, self.key_dim), (h, self.key_dim)),
            "value": ("value", (v[-1], h, self.value_dim), (h, self.value_dim)),
            "output": ("attention_output", (h, self.value_dim, out_dim), (out_dim,)),
        })

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = self._validate_shapes(input_shape)
        q, v = shapes[0], shapes[1]
        out = (*q[:-1], self.output_shape[0] if self.output_shape else q[-1])
        if self._return_scores:
            return [out, self._scores_shape(q, v)]
        return out

    def _scores_shape(self, q: tuple, v: tuple) -> tuple:
        """Keras's scores shape: ``(batch axes, heads, query attention axes, key attention axes)``."""
        perm, nb = self._layout(len(q))
        qp, vp = (*q[:-1], self.num_heads), (*v[:-1], self.num_heads)
        return tuple(qp[i] for i in perm[:nb]) + tuple(qp[i] for i in perm[nb:-1]) + tuple(vp[i] for i in perm[nb:-1])

    # -- running ---------------------------------------------------------------------------

    def forward(
        self,
        xs: Any,
        training: bool = False,
        mask: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> tuple:
        kind = "MultiHeadAttention"
        arrs, q, v, k = _qvk_arrays(self, xs)
        rank = q.ndim
        perm, nb = self._layout(rank)
        scores_shape = self._scores_shape(q.shape, v.shape)
        # the scores' shape without the heads axis (the last batch axis)
        mask_shape = scores_shape[: nb - 1] + scores_shape[nb:]
        n = q.shape[0]
        keep = None

        def merge(m: np.ndarray) -> None:
            nonlocal keep
            keep = m if keep is None else keep & m

        input_masks = list(mask) if isinstance(mask, (list, tuple)) else [mask]
        if rank > 3 and (use_causal_mask or any(m is not None for m in input_masks)):
            raise ValueError(
                f"{kind} '{self.name}': use_causal_mask and masks of the inputs need rank-3 inputs; "
                f"pass an attention_mask of shape {shape_str(mask_shape)} instead. "
                f"Received: query shape={shape_str(q.shape)}"
            )
        if mask is not None:
            tq, s = q.shape[1], v.shape[1]
            names = ("query mask", "value mask", "key mask")
            lens = (tq, s, s)
            for i, m in enumerate(input_masks[:3]):
                if i == 2 and len(arrs) < 3:
                    break
                m = _check_mask(kind, self.name, names[i], m, (n, lens[i]))
                if m is not None:
                    merge(m[:, :, None] if i == 0 else m[:, None, :])
        if use_causal_mask:
            merge(_causal(q.shape[1], v.shape[1])[None])
        if attention_mask is not None:
            merge(_check_mask(kind, self.name, "attention_mask", attention_mask, mask_shape))
        pq, pk, pv, po = (self._proj[w] for w in ("query", "key", "value", "output"))
        scale = np.float32(1.0 / np.sqrt(self.key_dim))
        qh, qt = _to_flat(self._project(q, *pq) * scale, perm, nb)  # (B, T, kd)
        kh, _ = _to_flat(self._project(k, *pk), perm, nb)  # (B, S, kd)
        vh, _ = _to_flat(self._project(v, *pv), perm, nb)  # (B, S, vd)
        scores = np.matmul(qh, kh.transpose(0, 2, 1))
        if keep is not None:
            keep = np.expand_dims(np.broadcast_to(keep, mask_shape), nb - 1)
            keep = np.broadcast_to(keep, scores_shape).reshape(scores.shape)
        p, drop, w = self._attend(scores, keep, training, scores_shape)
        ctxh = np.matmul(w, vh)  # (B, T, vd)
        c = _from_flat(ctxh, qt[:-1] + (self.value_dim,), perm)  # (N, ..., H, vd)
        out = self._project(c.reshape(c.shape[:-2] + (-1,)), _Flat(po[0]), po[1])
        out = np.ascontiguousarray(out, dtype=np.float32)
        ctx = None
        if training:
            ctx = (arrs, qh, kh, vh, p, drop, w, c, keep, scale, perm, nb, qt)
        if return_attention_scores:
            return [out, np.ascontiguousarray(p, dtype=np.float32).reshape(scores_shape)], ctx
        return out, ctx

    def backward(self, ctx: Any, dy: Any, need_dx: bool = True) -> Optional[list]:
        arrs, qh, kh, vh, p, drop, w, c, keep, scale, perm, nb, qt = ctx
        dout, dp_extra = self._split_dy(dy, p.shape)
        po = self._proj["output"]
        cf = c.reshape(c.shape[:-2] + (-1,))
        dc = self._project_backward(cf, dout, _Flat(po[0]), po[1], True)
        dch, _ = _to_flat(dc.reshape(c.shape), perm, nb)
        dvh = np.matmul(w.transpose(0, 2, 1), dch)
        ds = self._attend_backward(p, np.matmul(dch, vh.transpose(0, 2, 1)), drop, dp_extra, keep)
        dqh = np.matmul(ds, kh) * scale
        dkh = np.matmul(ds.transpose(0, 2, 1), qh)
        k = arrs[2] if len(arrs) > 2 else arrs[1]
        kt = tuple(k.shape[i] if i < k.ndim - 1 else self.num_heads for i in perm[:-1])
        return self._inputs_backward(
            arrs, _from_flat(dqh, qt, perm), _from_flat(dkh, kt + (self.key_dim,), perm),
            _from_flat(dvh, kt + (self.value_dim,), perm), need_dx,
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            num_heads=self.num_heads,
            key_dim=self.key_dim,
            value_dim=self.value_dim,
            output_shape=list(self.output_shape) if self.output_shape else None,
            attention_axes=self.attention_axes,
            **self._projection_config(),
        )
        return config


def _to_flat(t: np.ndarray, perm: tuple, nb: int) -> tuple:
    """A projected ``(N, d1, ..., dk, H, C)`` tensor as ``(batch, attention positions, C)``,
    and its transposed shape (for ``_from_flat``)."""
    tt = t.transpose(perm)
    shape = tt.shape
    flat = np.ascontiguousarray(tt, dtype=np.float32).reshape(int(np.prod(shape[:nb])), -1, shape[-1])
    return flat, shape


def _from_flat(flat: np.ndarray, shape: tuple, perm: tuple) -> np.ndarray:
    """The inverse of ``_to_flat``: ``(batch, positions, C)`` back to ``(N, d1, ..., dk, H, C)``."""
    return np.ascontiguousarray(flat.reshape(shape).transpose(np.argsort(perm)), dtype=np.float32)


class _Flat:
    """The output kernel ``(H, value_dim, out)`` seen by ``_project`` as ``(H * value_dim, out)``."""

    __slots__ = ("value", "grad", "shape")

    def __init__(self, var: Any):
        self.value = var.value.reshape(-1, var.shape[-1])
        self.grad = var.grad.reshape(-1, var.shape[-1]) if var.grad is not None else None
        self.shape = self.value.shape


def _check_positive(kind: str, name: str, arg: str, val: Any) -> int:
    if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val <= 0:
        raise ValueError(f"{kind} '{name}': {arg} must be a positive integer. Received: {arg}={val!r}")
    return int(val)


class GroupQueryAttention(_ProjectedAttention):
    """Grouped-query attention (Ainslie et al., 2023) with Keras 3's weight layout.

    Query heads ``u = 0 .. Hq-1`` use key/value head ``u // r`` with
    ``r = num_query_heads // num_key_value_heads``; ``num_key_value_heads=1`` is multi-query
    attention and ``num_key_value_heads=num_query_heads`` is multi-head attention:

        Q = query @ Wq + bq     (N, T, Hq, head_dim)     Wq: (query_dim, Hq, head_dim)
        K = key @ Wk + bk       (N, S, Hkv, head_dim)    Wk: (key_dim_in, Hkv, head_dim)
        V = value @ Wv + bv     (N, S, Hkv, head_dim)    Wv: (value_dim_in, Hkv, head_dim)
        P[u] = softmax(Q[u] K[u // r]^T / sqrt(head_dim), masked)          (N, Hq, T, S)
        output = concat_u(dropout(P[u]) V[u // r]) @ Wo + bo    (N, T, query_dim)
                                                                 Wo: (Hq, head_dim, query_dim)

    Weights, in ``get_weights()`` order: ``query/kernel``, ``query/bias (Hq, head_dim)``,
    ``key/kernel``, ``key/bias (Hkv, head_dim)``, ``value/kernel``, ``value/bias``,
    ``attention_output/kernel``, ``attention_output/bias (query_dim,)``; biases only with
    ``use_bias``.

    Args:
        head_dim: size of each attention head.
        num_query_heads: number of query heads.
        num_key_value_heads: number of key and value heads; must divide ``num_query_heads``.
        dropout: fraction of the attention probabilities dropped in training.
        use_bias: whether the projections have biases.
        sliding_window: None, or a positive integer ``w``: query ``i`` attends only to keys
            ``j`` with ``|i - j| < w``.
        flash_attention: None, True or False. The computation is the same for all three (the
            probabilities are always formed); as in Keras, True refuses ``dropout > 0`` and
            ``return_attention_scores``.
        kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
        kernel_constraint, bias_constraint: as for ``Dense``, shared by all projections.
        seed: integer seed of the dropout generator.

    Call arguments:
        query: ``(N, T, query_dim)``.
        value: ``(N, S, value_dim_in)``.
        key: optional ``(N, S, key_dim_in)``; defaults to ``value``.
        query_mask, value_mask, key_mask: optional booleans ``(N, T)``, ``(N, S)``, ``(N, S)``;
            default the masks the inputs carry (``Embedding(mask_zero=True)``, ``Masking``).
        attention_mask: optional boolean ``(N, T, S)``: which keys each query attends to.
        return_attention_scores: also return the attention probabilities ``(N, Hq, T, S)``
            (before dropout, as Keras returns them).
        training: apply dropout.
        use_causal_mask: query step ``i`` attends to key steps ``j <= i`` only.
        A query whose every key is masked attends to nothing (its probabilities are zero).

    Returns:
        ``(N, T, query_dim)``, or ``[output, scores]`` with ``return_attention_scores``.

    Raises:
        ValueError: bad constructor arguments (``num_query_heads`` not divisible by
            ``num_key_value_heads``), inputs that are not rank 3, value and key of different
            lengths, masks of the wrong shape, and, for symbolic inputs, query and value of
            different feature sizes (as Keras's output shape requires).

    Example:
        >>> import numpy as np
        >>> from pynncore.layers import GroupQueryAttention
        >>> GroupQueryAttention(4, 4, 2)(np.ones((2, 3, 8)), np.ones((2, 5, 8))).shape
        (2, 3, 8)
    """

    def __init__(
        self,
        head_dim: int,
        num_query_heads: int,
        num_key_value_heads: int,
        dropout: float = 0.0,
        use_bias: bool = True,
        sliding_window: Optional[int] = None,
        flash_attention: Optional[bool] = None,
        kernel_initializer: Any = "glorot_uniform",
        bias_initializer: Any = "zeros",
        kernel_regularizer: Any = None,
        bias_regularizer: Any = None,
        kernel_constraint: Any = None,
        bias_constraint: Any = None,
        seed: Optional[int] = None,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        kind = "GroupQueryAttention"
        self.head_dim = _check_positive(kind, self.name, "head_dim", head_dim)
        self.num_query_heads = _check_positive(kind, self.name, "num_query_heads", num_query_heads)
        self.num_key_value_heads = _check_positive(kind, self.name, "num_key_value_heads", num_key_value_heads)
        if self.num_query_heads % self.num_key_value_heads != 0:
            raise ValueError(
                f"{kind} '{self.name}': num_query_heads must be divisible by num_key_value_heads. "
                f"Received: num_query_heads={num_query_heads}, num_key_value_heads={num_key_value_heads}"
            )
        self.num_repeats = self.num_query_heads // self.num_key_value_heads
        self._init_projections(
            dropout, use_bias, kernel_initializer, bias_initializer, kernel_regularizer, bias_regularizer,
            kernel_constraint, bias_constraint, seed,
        )
        if sliding_window is not None:
            sliding_window = _check_positive(kind, self.name, "sliding_window", sliding_window)
        self.sliding_window = sliding_window
        if flash_attention is not None and not isinstance(flash_attention, (bool, np.bool_)):
            raise ValueError(
                f"{kind} '{self.name}': flash_attention must be None, True or False. "
                f"Received: flash_attention={flash_attention!r}"
            )
        self.flash_attention = None if flash_attention is None else bool(flash_attention)
        if self.flash_attention and self.dropout > 0.0:
            raise ValueError(
                f"{kind} '{self.name}': dropout is not supported with flash_attention=True; set dropout "
                f"to 0.0. Received: dropout={self.dropout}"
            )

    # -- calling ---------------------------------------------------------------------------

    def __call__(  # type: ignore[override]
        self,
        query: Any,
        value: Any = None,
        key: Any = None,
        query_mask: Any = None,
        value_mask: Any = None,
        key_mask: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        training: Optional[bool] = None,
        use_causal_mask: bool = False,
        **kwargs: Any,
    ) -> Any:
        if return_attention_scores and self.flash_attention:
            raise ValueError(
                f"GroupQueryAttention '{self.name}': return_attention_scores is not supported with "
                "flash_attention=True; build the layer with flash_attention=False to get the scores"
            )
        inputs = self._call_inputs(query, value, key)
        masks = {"query_mask": query_mask, "value_mask": value_mask, "key_mask": key_mask, "attention_mask": attention_mask}
        return self._call_projected(inputs, training, dict(kwargs), masks, return_attention_scores, use_causal_mask)

    def _validate_shapes(self, shapes: Any) -> list:
        shapes = _qvk_shapes("GroupQueryAttention", self.name, shapes, same_qk_dim=False)
        self._check_built_features(shapes)
        return shapes

    def build(self, input_shape: Any) -> None:
        shapes = self._validate_shapes(input_shape)
        q, v = shapes[0], shapes[1]
        k = shapes[2] if len(shapes) > 2 else v
        hq, hkv, hd = self.num_query_heads, self.num_key_value_heads, self.head_dim
        self._build_projections(shapes, {
            "query": ("query", (q[-1], hq, hd), (hq, hd)),
            "key": ("key", (k[-1], hkv, hd), (hkv, hd)),
            "value": ("value", (v[-1], hkv, hd), (hkv, hd)),
            "output": ("attention_output", (hq, hd, q[-1]), (q[-1],)),
        })

    def compute_output_shape(self, input_shape: Any) -> Any:
        shapes = self._validate_shapes(input_shape)
        q, v = shapes[0], shapes[1]
        if q[-1] is not None and v[-1] is not None and q[-1] != v[-1]:
            raise ValueError(
                f"GroupQueryAttention '{self.name}': the last dimension of query and value must be "
                f"equal. Received: query shape={shape_str(q)}, value shape={shape_str(v)}"
            )
        if self._return_scores:
            return [q, (q[0], self.num_query_heads, q[1], v[1])]
        return q

    # -- running ---------------------------------------------------------------------------

    def _keep(self, arrs: list, mask: Any, masks: dict, use_causal_mask: bool) -> Optional[np.ndarray]:
        """The boolean ``(N or 1, T, S)`` of attended (query, key) pairs, or None."""
        kind = "GroupQueryAttention"
        q, v = arrs[0], arrs[1]
        n, t, s = q.shape[0], q.shape[1], v.shape[1]
        carried = list(mask) if isinstance(mask, (list, tuple)) else [mask]
        carried += [None] * (3 - len(carried))
        if len(arrs) < 3:
            carried[2] = None
        keep = None

        def merge(m: np.ndarray) -> None:
            nonlocal keep
            keep = m if keep is None else keep & m

        for i, (arg, length) in enumerate((("query_mask", t), ("value_mask", s), ("key_mask", s))):
            m = masks[arg] if masks[arg] is not None else carried[i]
            m = _check_mask(kind, self.name, arg.replace("_", " "), m, (n, length))
            if m is not None:
                merge(m[:, :, None] if i == 0 else m[:, None, :])
        if use_causal_mask:
            merge(_causal(t, s)[None])
        if self.sliding_window is not None:
            merge((np.abs(np.arange(t)[:, None] - np.arange(s)[None, :]) < self.sliding_window)[None])
        if masks["attention_mask"] is not None:
            merge(_check_mask(kind, self.name, "attention_mask", masks["attention_mask"], (n, t, s)))
        return keep

    def forward(
        self,
        xs: Any,
        training: bool = False,
        mask: Any = None,
        query_mask: Any = None,
        value_mask: Any = None,
        key_mask: Any = None,
        attention_mask: Any = None,
        return_attention_scores: bool = False,
        use_causal_mask: bool = False,
    ) -> tuple:
        arrs, q, v, k = _qvk_arrays(self, xs)
        masks = {"query_mask": query_mask, "value_mask": value_mask, "key_mask": key_mask,
                 "attention_mask": attention_mask}
        keep = self._keep(arrs, mask, masks, use_causal_mask)
        n, t, s = q.shape[0], q.shape[1], v.shape[1]
        hq, hkv, hd = self.num_query_heads, self.num_key_value_heads, self.head_dim
        rt = self.num_repeats * t
        pq, pk, pv, po = (self._proj[w] for w in ("query", "key", "value", "output"))
        scale = np.float32(1.0 / np.sqrt(hd))
        # grouped layouts: queries (N, Hkv, r * T, hd), keys and values (N, Hkv, S, hd)
        qg = _groups(self._project(q, *pq) * scale, hkv)
        kg = np.ascontiguousarray(self._project(k, *pk).transpose(0, 2, 1, 3))
        vg = np.ascontiguousarray(self._project(v, *pv).transpose(0, 2, 1, 3))
        scores = np.matmul(qg, kg.transpose(0, 1, 3, 2))  # (N, Hkv, r * T, S)
        if keep is not None:
            keep = np.broadcast_to(keep[:, None, None], (n, hkv, self.num_repeats, t, s)).reshape(n, hkv, rt, s)
        p, drop, w = self._attend(scores, keep, training, (n, hq, t, s))
        c = _ungroup(np.matmul(w, vg), hq)  # (N, T, Hq, hd)
        out = self._project(c.reshape(n, t, hq * hd), _Flat(po[0]), po[1])
        out = np.ascontiguousarray(out, dtype=np.float32)
        ctx = (arrs, qg, kg, vg, p, drop, w, c, keep, scale) if training else None
        if return_attention_scores:
            return [out, np.ascontiguousarray(p, dtype=np.float32).reshape(n, hq, t, s)], ctx
        return out, ctx

    def backward(self, ctx: Any, dy: Any, need_dx: bool = True) -> Optional[list]:
        arrs, qg, kg, vg, p, drop, w, c, keep, scale = ctx
        dout, dp_extra = self._split_dy(dy, p.shape)
        hq, hkv = self.num_query_heads, self.num_key_value_heads
        po = self._proj["output"]
        n, t = c.shape[0], c.shape[1]
        dc = self._project_backward(c.reshape(n, t, -1), dout, _Flat(po[0]), po[1], True)
        dcg = _groups(dc.reshape(c.shape), hkv)
        dvg = np.matmul(w.transpose(0, 1, 3, 2), dcg)  # summed over the heads of each group
        ds = self._attend_backward(p, np.matmul(dcg, vg.transpose(0, 1, 3, 2)), drop, dp_extra, keep)
        dqg = np.matmul(ds, kg) * scale
        dkg = np.matmul(ds.transpose(0, 1, 3, 2), qg)
        return self._inputs_backward(
            arrs, _ungroup(dqg, hq), dkg.transpose(0, 2, 1, 3), dvg.transpose(0, 2, 1, 3), need_dx
        )

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            head_dim=self.head_dim,
            num_query_heads=self.num_query_heads,
            num_key_value_heads=self.num_key_value_heads,
            sliding_window=self.sliding_window,
            flash_attention=self.flash_attention,
            **self._projection_config(),
        )
        return config


# Keras's class name (what its saved configs hold); ``GroupQueryAttention`` is its export name.
GroupedQueryAttention = GroupQueryAttention


def _groups(x: np.ndarray, hkv: int) -> np.ndarray:
    """``(N, T, Hq, d)`` as ``(N, Hkv, r * T, d)``: the query heads of one key/value head
    (``u = g * r + j``) stacked along the rows, ``j`` major."""
    n, t, hq, d = x.shape
    return np.ascontiguousarray(x.transpose(0, 2, 1, 3), dtype=np.float32).reshape(n, hkv, (hq // hkv) * t, d)


def _ungroup(x: np.ndarray, hq: int) -> np.ndarray:
    """The inverse of ``_groups``: ``(N, Hkv, r * T, d)`` back to ``(N, T, Hq, d)``."""
    n, _, rt, d = x.shape
    return np.ascontiguousarray(x.reshape(n, hq, -1, d).transpose(0, 2, 1, 3), dtype=np.float32)
