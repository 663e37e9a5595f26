"""Weight initializers with Keras 3 names, defaults, aliases and fan rules.

An initializer is called with a shape and returns a new numpy array::

    init = GlorotUniform(seed=0)
    kernel = init((784, 128))          # float32, C-contiguous

Fans follow Keras (:func:`compute_fans`): a Dense kernel ``(in, out)`` has
``fan_in = in, fan_out = out``; a convolution kernel ``(kh, kw, in, out)`` multiplies both by
the receptive field ``kh * kw``.

Seeds: an initializer built with an integer `seed` returns the same values every time it is
called with the same shape (Keras 3 behaviour). An unseeded one draws from the library's
global generator, so each call gives new values and :func:`pynncore.utils.set_random_seed`
makes a whole run reproducible.
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import numpy as np

from pynncore import _lookup as _identifiers
from pynncore.utils.rng import make_generator

__all__ = [
    "Constant",
    "GlorotNormal",
    "GlorotUniform",
    "HeNormal",
    "HeUniform",
    "Identity",
    "IdentityInitializer",
    "Initializer",
    "LecunNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "OrthogonalInitializer",
    "RandomNormal",
    "RandomUniform",
    "TruncatedNormal",
    "VarianceScaling",
    "Zeros",
    "compute_fans",
    "deserialize",
    "get",
    "serialize",
]

# Standard deviation of a unit normal truncated to [-2, 2]; dividing by it makes a
# truncated draw have the requested standard deviation.
_TRUNCATED_STD = 0.87962566103423978


def _check_shape(shape: Any, who: str) -> tuple[int, ...]:
    if isinstance(shape, numbers.Integral) and not isinstance(shape, bool):
        shape = (shape,)
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(
            f"{who}: expected `shape` to be a tuple of non-negative integers. Received: shape={shape!r}"
        ) from None
    for d in dims:
        if isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 0:
            raise ValueError(
                f"{who}: expected `shape` to be a tuple of non-negative integers. Received: shape={shape!r}"
            )
    return tuple(int(d) for d in dims)


def _check_float_dtype(dtype: Any, who: str) -> np.dtype:
    dt = np.dtype("float32" if dtype is None else dtype)
    if dt.kind != "f":
        raise ValueError(f"{who}: expected a floating-point dtype. Received: dtype={dtype!r}")
    return dt


def _check_number(value: Any, name: str, who: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{who}: expected `{name}` to be a finite number. Received: {name}={value!r}")
    return float(value)


def _check_seed(seed: Any, who: str) -> int | None:
    if seed is None:
        return None
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"{who}: expected `seed` to be None or a non-negative integer. Received: seed={seed!r}")
    return int(seed)


def compute_fans(shape: tuple[int, ...]) -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` for a weight shape, with Keras's rules.

    - ``()``: ``(1, 1)``;
    - ``(n,)``: ``(n, n)``;
    - ``(in, out)``: ``(in, out)``;
    - ``(*spatial, in, out)``: ``(in * r, out * r)`` with ``r = prod(spatial)``, the
      receptive field of a convolution kernel ``(k, in, out)`` or ``(kh, kw, in, out)``.

    Example:
        >>> compute_fans((3, 3, 16, 32))
        (144, 288)
    """
    shape = tuple(shape)
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    receptive = 1
    for d in shape[:-2]:
        receptive *= int(d)
    return int(shape[-2]) * receptive, int(shape[-1]) * receptive


class Initializer:
    """Base class: a callable ``(shape, dtype) -> ndarray`` with a config.

    Subclasses implement ``__call__`` and ``get_config``; ``from_config`` builds a new one
    from the dict ``get_config`` returned.
    """

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        raise NotImplementedError(f"{type(self).__name__} must implement __call__(shape, dtype)")

    def get_config(self) -> dict[str, Any]:
        """Return the constructor arguments as a JSON-friendly dict."""
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        """Build an initializer from the dict that :meth:`get_config` returned."""
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """Fills with 0.

    Example:
        >>> Zeros()((2,)).tolist()
        [0.0, 0.0]
    """

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        return np.zeros(_check_shape(shape, "Zeros"), dtype=np.dtype(dtype or "float32"))


class Ones(Initializer):
    """Fills with 1.

    Example:
        >>> Ones()((2,)).tolist()
        [1.0, 1.0]
    """

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        return np.ones(_check_shape(shape, "Ones"), dtype=np.dtype(dtype or "float32"))


class Constant(Initializer):
    """Fills with `value` (a number, or an array broadcastable to the requested shape).

    Args:
        value: the fill value.

    Raises:
        ValueError: a non-numeric `value`, or (at call time) one that does not broadcast to
            the shape.

    Example:
        >>> Constant(0.5)((2,)).tolist()
        [0.5, 0.5]
    """

    def __init__(self, value: float | Any = 0.0) -> None:
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"Constant: expected a numeric `value`. Received: value={value!r}")
        self.value = value

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        shape = _check_shape(shape, "Constant")
        try:
            out = np.broadcast_to(np.asarray(self.value, dtype=np.dtype(dtype or "float32")), shape)
        except ValueError:
            raise ValueError(
                f"Constant: value of shape {np.shape(self.value)} cannot fill a weight of shape {shape}"
            ) from None
        return np.array(out, order="C")

    def get_config(self) -> dict[str, Any]:
        value = self.value
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        return {"value": value}


class Identity(Initializer):
    """``gain`` times the identity matrix; only for 2-D shapes (rectangular is allowed).

    Args:
        gain: the multiplier.

    Example:
        >>> Identity()((2, 2)).tolist()
        [[1.0, 0.0], [0.0, 1.0]]
    """

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = _check_number(gain, "gain", "Identity")

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        shape = _check_shape(shape, "Identity")
        if len(shape) != 2:
            raise ValueError(
                "Identity: the identity initializer only fills 2-D weights. "
                f"Received: shape={shape} of rank {len(shape)}"
            )
        dt = _check_float_dtype(dtype, "Identity")
        return (self.gain * np.eye(shape[0], shape[1], dtype=np.float64)).astype(dt)

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


IdentityInitializer = Identity


class _RandomInitializer(Initializer):
    """Shared seed handling: a seeded initializer repeats itself, an unseeded one does not."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = _check_seed(seed, type(self).__name__)

    def _generator(self) -> np.random.Generator:
        return make_generator(self.seed)

    def _draw(self, shape: tuple[int, ...]) -> np.ndarray:  # float64 samples of `shape`
        raise NotImplementedError

    def __call__(self, shape: tuple[int, ...], dtype: Any = "float32") -> np.ndarray:
        who = type(self).__name__
        shape = _check_shape(shape, who)
        dt = _check_float_dtype(dtype, who)
        return np.asarray(self._draw(shape), dtype=dt, order="C")

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


def _truncated_normal(rng: np.random.Generator, shape: tuple[int, ...], mean: float, stddev: float) -> np.ndarray:
    """Normal samples with anything beyond two standard deviations drawn again."""
    out = rng.standard_normal(shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 2.0
    return mean + stddev * out


class RandomNormal(_RandomInitializer):
    """Samples from a normal distribution.

    Args:
        mean: mean of the distribution.
        stddev: standard deviation.
        seed: ``None`` (draw from the global generator) or an integer (repeatable).

    Example:
        >>> RandomNormal(stddev=1.0, seed=0)((2, 3)).shape
        (2, 3)
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean = _check_number(mean, "mean", "RandomNormal")
        self.stddev = _check_number(stddev, "stddev", "RandomNormal")
        super().__init__(seed)

    def _draw(self, shape: tuple[int, ...]) -> np.ndarray:
        return self._generator().normal(self.mean, self.stddev, shape)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}


class TruncatedNormal(_RandomInitializer):
    """Samples from a normal distribution, redrawing values more than 2 `stddev` from `mean`.

    The result's standard deviation is therefore about ``0.88 * stddev``.

    Args:
        mean: mean of the distribution.
        stddev: standard deviation before truncation.
        seed: ``None`` or an integer.

    Example:
        >>> bool(abs(TruncatedNormal(stddev=1.0, seed=0)((1000,))).max() <= 2.0)
        True
    """

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) -> None:
        self.mean = _check_number(mean, "mean", "TruncatedNormal")
        self.stddev = _check_number(stddev, "stddev", "TruncatedNormal")
        super().__init__(seed)

    def _draw(self, shape: tuple[int, ...]) -> np.ndarray:
        return _truncated_normal(self._generator(), shape, self.mean, self.stddev)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "mean": self.mean, "stddev": self.stddev}


class RandomUniform(_RandomInitializer):
    """Samples uniformly from ``[minval, maxval)``.

    Args:
        minval: lower bound (inclusive).
        maxval: upper bound (exclusive).
        seed: ``None`` or an integer.

    Example:
        >>> w = RandomUniform(0.0, 1.0, seed=0)((100,))
        >>> bool((w >= 0).all() and (w < 1).all())
        True
    """

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) -> None:
        self.minval = _check_number(minval, "minval", "RandomUniform")
        self.maxval = _check_number(maxval, "maxval", "RandomUniform")
        if self.maxval < self.minval:
            raise ValueError(f"RandomUniform: expected minval <= maxval. Received: minval={minval}, maxval={maxval}")
        super().__init__(seed)

    def _draw(self, shape: tuple[int, ...]) -> np.ndarray:
        return self._generator().uniform(self.minval, self.maxval, shape)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "minval": self.minval, "maxval": self.maxval}


class VarianceScaling(_RandomInitializer):
    """Samples with variance ``scale / n``, where `n` is a fan of the weight shape.

    ``n`` is ``fan_in`` (``mode="fan_in"``), ``fan_out`` or their mean (``"fan_avg"``), at
    least 1 (see :func:`compute_fans`). Distributions:

    - ``"truncated_normal"`` (``"normal"`` is an alias): a normal truncated at two standard
      deviations, scaled so that the truncated samples have ``stddev = sqrt(scale / n)``;
    - ``"untruncated_normal"``: a normal with ``stddev = sqrt(scale / n)``;
    - ``"uniform"``: uniform on ``[-limit, limit]``, ``limit = sqrt(3 * scale / n)``.

    Args:
        scale: a positive float.
        mode: ``"fan_in"``, ``"fan_out"`` or ``"fan_avg"``.
        distribution: see above.
        seed: ``None`` or an integer.

    Raises:
        ValueError: a non-positive `scale`, or an unknown `mode` or `distribution`.

    Example:
        >>> VarianceScaling(2.0, "fan_in", "uniform", seed=0)((64, 32)).shape
        (64, 32)
    """

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")

    def __init__(
        self,
        scale: float = 1.0,
        mode: str = "fan_in",
        distribution: str = "truncated_normal",
        seed: int | None = None,
    ) -> None:
        who = type(self).__name__
        scale = _check_number(scale, "scale", who)
        if scale <= 0:
            raise ValueError(f"{who}: expected `scale` > 0. Received: scale={scale}")
        if mode not in self._MODES:
            raise ValueError(f"{who}: expected `mode` to be one of {list(self._MODES)}. Received: mode={mode!r}")
        dist = distribution.lower() if isinstance(distribution, str) else distribution
        if dist == "normal":
            dist = "truncated_normal"
        if dist not in self._DISTRIBUTIONS:
            raise ValueError(
                f"{who}: expected `distribution` to be one of {list(self._DISTRIBUTIONS)} (or 'normal'). "
                f"Received: distribution={distribution!r}"
            )
        self.scale = scale
        self.mode = mode
        self.distribution = dist
        super().__init__(seed)

    def _variance(self, shape: tuple[int, ...]) -> float:
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        return self.scale / max(1.0, n)

    def _draw(self, shape: tuple[int, ...]) -> np.ndarray:
        variance = self._variance(shape)
        rng = self._generator()
        if self.distribution == "truncated_normal":
            return _truncated_normal(rng, shape, 0.0, math.sqrt(variance) / _TRUNCATED_STD)
        if self.distribution == "untruncated_normal":
            return rng.normal(0.0, math.sqrt(variance), shape)
        limit = math.sqrt(3.0 * variance)
        return rng.uniform(-limit, limit, shape)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "scale": self.scale, "mode": self.mode, "distribution": self.distribution}


class _FixedVarianceScaling(VarianceScaling):
    """A named VarianceScaling preset whose only argument is the seed."""

    _preset: tuple[float, str, str] = (1.0, "fan_in", "truncated_normal")

    def __init__(self, seed: int | None = None) -> None:
        scale, mode, distribution = self._preset
        super().__init__(scale=scale, mode=mode, distribution=distribution, seed=seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


class GlorotUniform(_FixedVarianceScaling):
    """Glorot (Xavier) uniform: ``U(-limit, limit)``, ``limit = sqrt(6 / (fan_in + fan_out))``.

    The default kernel initializer of Dense, convolution and recurrent layers.

    Args:
        seed: ``None`` or an integer.
    """

    _preset = (1.0, "fan_avg", "uniform")


class GlorotNormal(_FixedVarianceScaling):
    """Glorot (Xavier) normal: truncated normal with ``stddev = sqrt(2 / (fan_in + fan_out))``.

    Args:
        seed: ``None`` or an integer.
    """

    _preset = (1.0, "fan_avg", "truncated_normal")


class HeUniform(_FixedVarianceScaling):
    """He uniform: ``U(-limit, limit)``, ``limit = sqrt(6 / fan_in)``.

    Args:
        seed: ``None`` or an integer.
    """

    _preset = (2.0, "fan_in", "uniform")


class HeNormal(_FixedVarianceScaling):
    """He normal: truncated normal with ``stddev = sqrt(2 / fan_in)``.

    Args:
        seed: ``None`` or an integer.
    """

    _preset = (2.0, "fan_in", "truncated_normal")


class LecunUniform(_FixedVarianceScaling):
    """LeCun uniform: ``U(-limit, limit)``, ``limit = sqrt(3 / fan_in)``.

    Args:
        seed: ``None`` or an integer.
    """

    _preset = (1.0, "fan_in", "uniform")


class LecunNormal(_FixedVarianceScaling):
    """LeCun normal: truncated normal with ``stddev = sqrt(1 / fan_in)``.

    Args:
        seed: ``None`` or an integer.
    """

    _preset = (1.0, "fan_in", "truncated_normal")


class Orthogonal(_RandomInitializer):
    """A (semi-)orthogonal matrix times `gain`, from the QR decomposition of a normal matrix.

    The shape is viewed as a matrix ``(prod(shape[:-1]), shape[-1])``: with at least as many
    rows as columns the columns are orthonormal, otherwise the rows are. Signs are fixed
    with the diagonal of ``R`` so the result is uniformly distributed (Haar measure).

    Args:
        gain: multiplier of the orthogonal matrix.
        seed: ``None`` or an integer.

    Raises:
        ValueError: (at call time) a shape of rank < 2.

    Example:
        >>> import numpy as np
        >>> q = Orthogonal(seed=0)((4, 4))
        >>> bool(np.allclose(q.T @ q, np.eye(4), atol=1e-6))
        True
    """

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        self.gain = _check_number(gain, "gain", "Orthogonal")
        super().__init__(seed)

    def _draw(self, shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) < 2:
            raise ValueError(
                "Orthogonal: the weight to initialize must be at least 2-D. "
                f"Received: shape={shape} of rank {len(shape)}"
            )
        rows = math.prod(shape[:-1])
        cols = shape[-1]
        a = self._generator().standard_normal((max(rows, cols), min(rows, cols)))
        if a.size == 0:
            return np.zeros(shape)
        q, r = np.linalg.qr(a)
        signs = np.sign(np.diag(r))
        signs[signs == 0] = 1.0
        q = q * signs
        if rows < cols:
            q = q.T
        return self.gain * q.reshape(shape)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "gain": self.gain}


OrthogonalInitializer = Orthogonal


def _snake(name: str) -> str:
    out = []
    for i, ch in enumerate(name):
        if ch.isupper() and i and not name[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)


_CLASSES: tuple[type[Initializer], ...] = (
    Constant,
    GlorotNormal,
    GlorotUniform,
    HeNormal,
    HeUniform,
    Identity,
    LecunNormal,
    LecunUniform,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    TruncatedNormal,
    VarianceScaling,
    Zeros,
)

_REGISTRY: dict[str, type[Initializer]] = {}
for _cls in _CLASSES:
    _REGISTRY[_cls.__name__] = _cls
    _REGISTRY[_snake(_cls.__name__)] = _cls
_REGISTRY.update(
    {
        "IdentityInitializer": Identity,
        "identity_initializer": Identity,
        "OrthogonalInitializer": Orthogonal,
        "orthogonal_initializer": Orthogonal,
        "uniform": RandomUniform,
        "normal": RandomNormal,
        "one": Ones,
        "zero": Zeros,
    }
)


def serialize(initializer: Initializer) -> dict[str, Any]:
    """Return ``{"class_name": ..., "config": ...}`` for a built-in or registered initializer."""
    if not isinstance(initializer, Initializer):
        raise TypeError(f"initializers.serialize: expected an Initializer. Received: {initializer!r}")
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


def _lookup(name: str, custom_objects: dict[str, Any] | None) -> type[Initializer]:
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"Unknown initializer: {name!r}. Valid names are: {', '.join(sorted(_REGISTRY))}") from None


def deserialize(config: dict[str, Any], custom_objects: dict[str, Any] | None = None) -> Initializer:
    """Build an initializer from ``{"class_name": ..., "config": {...}}``.

    Raises:
        ValueError: a dict without ``class_name``, or an unknown class name.
    """
    if not isinstance(config, dict) or "class_name" not in config:
        raise ValueError(f"initializers.deserialize: expected a dict with a 'class_name' key. Received: {config!r}")
    cls = _lookup(config["class_name"], custom_objects)
    return cls.from_config(dict(config.get("config") or {}))


def get(identifier: Any) -> Initializer | Callable[..., Any] | None:
    """Resolve an initializer from a name, a config dict, a class or an instance.

    Names are Keras's: class names (``"GlorotUniform"``), their snake_case forms
    (``"glorot_uniform"``, ``"he_normal"``, ``"zeros"``, ...) and the aliases ``"uniform"``,
    ``"normal"``, ``"one"``, ``"zero"``, ``"orthogonal"``, ``"identity"``. A class is
    instantiated with its defaults; an instance or any other callable is returned as is.

    Args:
        identifier: ``None``, a string, a dict, an :class:`Initializer` class or a callable.

    Returns:
        An initializer (a new instance for strings, dicts and classes), or ``None``.

    Raises:
        ValueError: an unknown name (the message lists the valid ones) or an identifier
            that is none of the above.

    Example:
        >>> get("he_normal")
        HeNormal(seed=None)
    """
    return _identifiers.get(identifier, _REGISTRY, Initializer, deserialize, "initializer")
