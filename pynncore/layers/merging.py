"""Merge layers: combine a list of tensors into one (Keras 3 names and semantics).

``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum`` and ``Minimum`` work elementwise
with numpy broadcasting between the inputs (the batch dimensions must agree);
``Concatenate(axis)`` joins along an axis; ``Dot(axes, normalize)`` takes the dot product of two
tensors along the given axes, per sample. Each is called on a list of tensors:

    >>> import numpy as np
    >>> from pynncore.layers import Add
    >>> Add()([np.ones((2, 3)), np.ones((2, 3))]).shape
    (2, 3)

Masks: a merged mask is the logical AND of the input masks (missing masks count as all true);
``Concatenate`` along the time axis concatenates them instead.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

import numpy as np

from pynncore.layers.base import Layer, shape_str

__all__ = ["Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply", "Subtract"]


def _sum_to_shape(g: np.ndarray, shape: tuple) -> np.ndarray:
    """Sums a broadcast gradient back to ``shape`` (the inverse of numpy broadcasting)."""
    if g.shape == tuple(shape):
        return g
    lead = g.ndim - len(shape)
    if lead:
        g = g.sum(axis=tuple(range(lead)))
    axes = tuple(i for i, d in enumerate(shape) if d == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def _and_masks(xs: Sequence[np.ndarray], masks: Any) -> Optional[np.ndarray]:
    if masks is None:
        return None
    masks = list(masks)
    if all(m is None for m in masks):
        return None
    ref = next(np.asarray(m, bool) for m in masks if m is not None)
    out = np.ones(ref.shape, bool)
    for m in masks:
        if m is not None:
            out = out & np.asarray(m, bool)
    return out


class _Merge(Layer):
    """Base of the elementwise merge layers."""

    supports_masking = True
    _exactly: Optional[int] = None

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)

    def _check_list(self, shapes: Any) -> list:
        kind = type(self).__name__
        if not isinstance(shapes, (list, tuple)) or not shapes or not all(isinstance(s, (list, tuple)) for s in shapes):
            raise ValueError(f"{kind} '{self.name}': expected to be called on a list of tensors. Received: {shapes!r}")
        if self._exactly is not None and len(shapes) != self._exactly:
            raise ValueError(
                f"{kind} '{self.name}': expected exactly {self._exactly} inputs. Received: {len(shapes)} inputs"
            )
        return [tuple(s) for s in shapes]

    def _broadcast_shape(self, shapes: list) -> tuple:
        kind = type(self).__name__
        out: list = []
        rank = max(len(s) for s in shapes)
        for axis in range(rank):
            dim: Any = 1
            for s in shapes:
                k = axis - (rank - len(s))
                if k < 0:
                    continue
                d = s[k]
                if d is None:
                    dim = None if dim in (1, None) else dim
                elif d != 1:
                    if dim not in (1, None) and dim != d:
                        raise ValueError(
                            f"{kind} '{self.name}': inputs must have the same shape or shapes that "
                            f"broadcast. Received: shapes={[shape_str(s) for s in shapes]}"
                        )
                    dim = d
            out.append(dim)
        return tuple(out)

    def build(self, input_shape: Any) -> None:
        shapes = self._check_list(input_shape)
        self._broadcast_shape(shapes)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return self._broadcast_shape(self._check_list(input_shape))

    def _arrays(self, xs: Any) -> list:
        if not isinstance(xs, (list, tuple)):
            raise ValueError(
                f"{type(self).__name__} '{self.name}': expected a list of arrays. Received: {type(xs).__name__}"
            )
        arrs = [np.asarray(x, dtype=np.float32) for x in xs]
        self._check_list([a.shape for a in arrs])
        self._broadcast_shape([a.shape for a in arrs])
        return arrs

    def compute_mask(self, x: Any, mask: Any = None) -> Optional[np.ndarray]:
        return _and_masks(x, mask)

    def get_config(self) -> dict:
        return super().get_config()


class Add(_Merge):
    """Sum of the inputs: ``Add()([a, b, ...])``."""

    def forward(self, xs: Any, training: bool = False) -> tuple:
        arrs = self._arrays(xs)
        y = arrs[0]
        for a in arrs[1:]:
            y = y + a
        y = np.ascontiguousarray(y, dtype=np.float32)
        return y, ([a.shape for a in arrs] if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[list]:
        if not need_dx:
            return None
        return [_sum_to_shape(dy, s).astype(np.float32, copy=True) for s in ctx]


class Subtract(_Merge):
    """Difference of two inputs: ``Subtract()([a, b])`` is ``a - b``."""

    _exactly = 2

    def forward(self, xs: Any, training: bool = False) -> tuple:
        a, b = self._arrays(xs)
        return np.ascontiguousarray(a - b, dtype=np.float32), ((a.shape, b.shape) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[list]:
        if not need_dx:
            return None
        sa, sb = ctx
        return [_sum_to_shape(dy, sa).astype(np.float32, copy=True), (-_sum_to_shape(dy, sb)).astype(np.float32)]


class Multiply(_Merge):
    """Elementwise product of the inputs: ``Multiply()([a, b, ...])``."""

    def forward(self, xs: Any, training: bool = False) -> tuple:
        arrs = self._arrays(xs)
        y = arrs[0]
        for a in arrs[1:]:
            y = y * a
        return np.ascontiguousarray(y, dtype=np.float32), (arrs if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[list]:
        if not need_dx:
            return None
        arrs = ctx
        out = []
        for i, a in enumerate(arrs):
            g = dy
            for j, b in enumerate(arrs):
                if j != i:
                    g = g * b
            out.append(_sum_to_shape(np.asarray(g, np.float32), a.shape).astype(np.float32, copy=True))
        return out


class Average(_Merge):
    """Elementwise mean of the inputs: ``Average()([a, b, ...])``."""

    def forward(self, xs: Any, training: bool = False) -> tuple:
        arrs = self._arrays(xs)
        y = arrs[0]
        for a in arrs[1:]:
            y = y + a
        y = np.ascontiguousarray(y * np.float32(1.0 / len(arrs)), dtype=np.float32)
        return y, ([a.shape for a in arrs] if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[list]:
        if not need_dx:
            return None
        scale = np.float32(1.0 / len(ctx))
        return [(_sum_to_shape(dy, s) * scale).astype(np.float32) for s in ctx]


class _Extremum(_Merge):
    """Elementwise maximum or minimum; the gradient goes to the first input holding it."""

    _op = staticmethod(np.maximum)

    def forward(self, xs: Any, training: bool = False) -> tuple:
        arrs = self._arrays(xs)
        y = arrs[0]
        for a in arrs[1:]:
            y = self._op(y, a)
        y = np.ascontiguousarray(y, dtype=np.float32)
        return y, ((arrs, y) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[list]:
        if not need_dx:
            return None
        arrs, y = ctx
        taken = np.zeros(y.shape, bool)
        out = []
        for a in arrs:
            hit = (np.broadcast_to(a, y.shape) == y) & ~taken
            taken |= hit
            out.append(_sum_to_shape(np.where(hit, dy, np.float32(0)), a.shape).astype(np.float32, copy=True))
        return out


class Maximum(_Extremum):
    """Elementwise maximum of the inputs: ``Maximum()([a, b, ...])``."""

    _op = staticmethod(np.maximum)


class Minimum(_Extremum):
    """Elementwise minimum of the inputs: ``Minimum()([a, b, ...])``."""

    _op = staticmethod(np.minimum)


class Concatenate(_Merge):
    """Joins the inputs along ``axis`` (default the last); other dimensions must agree.

    Args:
        axis: the axis to join along (counting the batch axis as 0; negative from the end).
    """

    def __init__(self, axis: int = -1, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
            raise TypeError(f"Concatenate '{self.name}': axis must be an integer. Received: {axis!r}")
        self.axis = int(axis)

    def _axis(self, rank: int) -> int:
        axis = self.axis + rank if self.axis < 0 else self.axis
        if not 1 <= axis < rank:
            raise ValueError(
                f"Concatenate '{self.name}': axis={self.axis} is out of range for inputs of rank {rank} "
                "(the batch axis cannot be joined)"
            )
        return axis

    def _out_shape(self, shapes: list) -> tuple:
        ranks = {len(s) for s in shapes}
        if len(ranks) != 1:
            raise ValueError(
                f"Concatenate '{self.name}': inputs must have the same rank. "
                f"Received: shapes={[shape_str(s) for s in shapes]}"
            )
        rank = ranks.pop()
        axis = self._axis(rank)
        out = list(shapes[0])
        for i in range(rank):
            if i == axis:
                dims = [s[i] for s in shapes]
                out[i] = None if any(d is None for d in dims) else int(sum(dims))
                continue
            known = {s[i] for s in shapes if s[i] is not None}
            if i > 0 and len(known) > 1:
                raise ValueError(
                    f"Concatenate '{self.name}': inputs must match in every axis but the "
                    f"concatenation axis {self.axis}. Received: shapes={[shape_str(s) for s in shapes]}"
                )
            out[i] = known.pop() if len(known) == 1 else None
        return tuple(out)

    def build(self, input_shape: Any) -> None:
        self._out_shape(self._check_list(input_shape))
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return self._out_shape(self._check_list(input_shape))

    def forward(self, xs: Any, training: bool = False) -> tuple:
        if not isinstance(xs, (list, tuple)):
            raise ValueError(f"Concatenate '{self.name}': expected a list of arrays. Received: {type(xs).__name__}")
        arrs = [np.asarray(x, dtype=np.float32) for x in xs]
        self._out_shape(self._check_list([a.shape for a in arrs]))
        axis = self._axis(arrs[0].ndim)
        y = np.concatenate(arrs, axis=axis)
        return y, ((axis, [a.shape[axis] for a in arrs]) if training else None)

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[list]:
        if not need_dx:
            return None
        axis, sizes = ctx
        cuts = np.cumsum(sizes)[:-1]
        return [np.ascontiguousarray(p) for p in np.split(dy, cuts, axis=axis)]

    def compute_mask(self, x: Any, mask: Any = None) -> Optional[np.ndarray]:
        if mask is None or all(m is None for m in mask):
            return None
        arrs = list(x)
        axis = self._axis(np.ndim(arrs[0]))
        if axis == 1 and np.ndim(arrs[0]) >= 2:
            parts = [np.ones(np.shape(a)[:2], bool) if m is None else np.asarray(m, bool) for a, m in zip(arrs, mask)]
            return np.concatenate(parts, axis=1)
        return _and_masks(arrs, mask)

    def get_config(self) -> dict:
        config = super().get_config()
        config["axis"] = self.axis
        return config


def _l2_normalize(x: np.ndarray, axis: int) -> tuple:
    """``x / max(||x||, 1e-7)`` along ``axis`` (Keras's ``normalize`` with its epsilon)."""
    raw = np.sqrt(np.sum(np.square(x, dtype=np.float64), axis=axis, keepdims=True))
    clipped = raw < 1e-7
    norm = np.maximum(raw, 1e-7)
    return (x / norm).astype(np.float32), norm, clipped


def _l2_normalize_grad(dy: np.ndarray, y: np.ndarray, norm: np.ndarray, clipped: np.ndarray, axis: int) -> np.ndarray:
    proj = np.sum(dy.astype(np.float64) * y, axis=axis, keepdims=True)
    g = np.where(clipped, dy / norm, (dy - y * proj) / norm)
    return g.astype(np.float32)


class Dot(Layer):
    """Per-sample dot product of two tensors along ``axes``.

    For inputs ``(N, d)`` and ``(N, d)`` the output is ``(N, 1)``; in general the contracted
    axes are removed and the remaining axes of the first input are followed by those of the
    second (Keras's ``batch_dot``).

    Args:
        axes: an integer (the same axis of both inputs) or a pair ``(axis_a, axis_b)``;
            the batch axis is 0, negative values count from the end.
        normalize: L2-normalize both inputs along the contracted axes first, so that the
            result is the cosine similarity.
    """

    supports_masking = True

    def __init__(self, axes: Any, normalize: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        if isinstance(axes, (list, tuple)):
            if len(axes) != 2 or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
                raise ValueError(
                    f"Dot '{self.name}': axes must be an integer or a pair of integers. Received: {axes!r}"
                )
            axes = (int(axes[0]), int(axes[1]))
        elif isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
            axes = int(axes)
        else:
            raise ValueError(f"Dot '{self.name}': axes must be an integer or a pair of integers. Received: {axes!r}")
        self.axes = axes
        self.normalize = bool(normalize)

    def _resolve(self, shapes: Any) -> tuple:
        if (
            not isinstance(shapes, (list, tuple))
            or len(shapes) != 2
            or not all(isinstance(s, (list, tuple)) for s in shapes)
        ):
            raise ValueError(f"Dot '{self.name}': expected to be called on a list of 2 tensors. Received: {shapes!r}")
        s1, s2 = tuple(shapes[0]), tuple(shapes[1])
        if len(s1) < 2 or len(s2) < 2:
            raise ValueError(
                f"Dot '{self.name}': inputs must have a batch axis and at least one more. "
                f"Received: shapes={[shape_str(s1), shape_str(s2)]}"
            )
        ax = self.axes if isinstance(self.axes, tuple) else (self.axes, self.axes)
        a1 = ax[0] % len(s1) if ax[0] < 0 else ax[0]
        a2 = ax[1] % len(s2) if ax[1] < 0 else ax[1]
        if not (1 <= a1 < len(s1) and 1 <= a2 < len(s2)):
            raise ValueError(
                f"Dot '{self.name}': axes={self.axes} out of range for shapes "
                f"{shape_str(s1)} and {shape_str(s2)} (the batch axis 0 cannot be contracted)"
            )
        if s1[a1] is not None and s2[a2] is not None and s1[a1] != s2[a2]:
            raise ValueError(
                f"Dot '{self.name}': the contracted dimensions differ: {s1[a1]} (axis {a1} of "
                f"{shape_str(s1)}) and {s2[a2]} (axis {a2} of {shape_str(s2)})"
            )
        if s1[0] is not None and s2[0] is not None and s1[0] != s2[0]:
            raise ValueError(f"Dot '{self.name}': batch sizes differ: {shape_str(s1)} and {shape_str(s2)}")
        return a1, a2

    def build(self, input_shape: Any) -> None:
        self._resolve(input_shape)
        self.built = True

    def compute_output_shape(self, input_shape: Any) -> tuple:
        a1, a2 = self._resolve(input_shape)
        s1, s2 = tuple(input_shape[0]), tuple(input_shape[1])
        rest = [d for i, d in enumerate(s1) if i not in (0, a1)] + [d for i, d in enumerate(s2) if i not in (0, a2)]
        return (s1[0],) + (tuple(rest) if rest else (1,))

    def forward(self, xs: Any, training: bool = False) -> tuple:
        if not isinstance(xs, (list, tuple)):
            raise ValueError(f"Dot '{self.name}': expected a list of 2 arrays. Received: {type(xs).__name__}")
        x1, x2 = (np.asarray(x, dtype=np.float32) for x in xs) if len(xs) == 2 else (None, None)
        if x1 is None:
            raise ValueError(f"Dot '{self.name}': expected a list of 2 arrays. Received: {len(xs)} arrays")
        a1, a2 = self._resolve([x1.shape, x2.shape])
        n1 = n2 = c1 = c2 = None
        if self.normalize:
            x1, n1, c1 = _l2_normalize(x1, a1)
            x2, n2, c2 = _l2_normalize(x2, a2)
        a = np.moveaxis(x1, a1, -1)
        b = np.moveaxis(x2, a2, 1)
        batch, k = a.shape[0], a.shape[-1]
        r1, r2 = a.shape[1:-1], b.shape[2:]
        p, q = int(np.prod(r1)), int(np.prod(r2))
        a3 = np.ascontiguousarray(a).reshape(batch, p, k)
        b3 = np.ascontiguousarray(b).reshape(batch, k, q)
        y = np.matmul(a3, b3).reshape((batch,) + r1 + r2 if (r1 or r2) else (batch, 1))
        ctx = (a3, b3, x1.shape, x2.shape, a1, a2, (x1, n1, c1), (x2, n2, c2)) if training else None
        return np.ascontiguousarray(y, dtype=np.float32), ctx

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Optional[list]:
        if not need_dx:
            return None
        a3, b3, s1, s2, a1, a2, norm1, norm2 = ctx
        batch, p, k = a3.shape
        q = b3.shape[2]
        g = np.asarray(dy, np.float32).reshape(batch, p, q)
        da = np.matmul(g, b3.transpose(0, 2, 1))  # (batch, p, k)
        db = np.matmul(a3.transpose(0, 2, 1), g)  # (batch, k, q)
        m1 = list(s1)
        m1.append(m1.pop(a1))
        m2 = list(s2)
        m2.insert(1, m2.pop(a2))
        dx1 = np.moveaxis(da.reshape(m1), -1, a1)
        dx2 = np.moveaxis(db.reshape(m2), 1, a2)
        if self.normalize:
            y1, n1, c1 = norm1
            y2, n2, c2 = norm2
            dx1 = _l2_normalize_grad(dx1, y1, n1, c1, a1)
            dx2 = _l2_normalize_grad(dx2, y2, n2, c2, a2)
        return [np.ascontiguousarray(dx1, dtype=np.float32), np.ascontiguousarray(dx2, dtype=np.float32)]

    def compute_mask(self, x: Any, mask: Any = None) -> Optional[np.ndarray]:
        return None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(axes=list(self.axes) if isinstance(self.axes, tuple) else self.axes, normalize=self.normalize)
        return config
