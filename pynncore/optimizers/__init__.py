"""Optimizers with Keras 3 update rules and defaults, each one fused native update per step.

At ``build`` an optimizer gathers every trainable weight of the model into one flat float32
buffer (the weights' ``value`` arrays become views into it) and their gradients into another;
its state (moments, accumulators) is flat too. A step is then one native call over all
parameters, with gradient clipping by value fused into it. ``clipnorm`` scales each weight's
gradient by its own norm, ``global_clipnorm`` all of them by the global norm, as in Keras.

``Adafactor`` and ``Muon`` are the exceptions: their rules work on per-weight shapes (factored
second moments; Newton-Schulz iterations on 2-D weights), so their updates are vectorized numpy
passes per weight over the same flat parameter and gradient buffers. ``ScheduleFreeAdamW`` is
one vectorized numpy pass over the whole flat buffers. ``LossScaleOptimizer`` wraps any of them
(dynamic loss scaling; it shares the inner optimizer's buffers).

With ``use_ema=True`` an optimizer also keeps an exponential moving average of the weights
(Keras 3 semantics) in one more flat buffer of the same layout, updated after every step in one
pass over all parameters and saved and restored with the rest of the state.
"""

from __future__ import annotations

import math
import numbers
import re
from typing import Any, Optional, Sequence

import numpy as np

from pynncore import _core, _memory
from pynncore.optimizers import schedules
from pynncore.optimizers.schedules import LearningRateSchedule

__all__ = [
    "SGD",
    "Adadelta",
    "Adafactor",
    "Adagrad",
    "Adam",
    "AdamW",
    "Adamax",
    "Ftrl",
    "Lamb",
    "Lion",
    "LossScaleOptimizer",
    "Muon",
    "Nadam",
    "Optimizer",
    "RMSprop",
    "ScheduleFreeAdamW",
    "get",
    "schedules",
]


class Optimizer:
    """Base class.

    Args:
        learning_rate: float or a ``LearningRateSchedule``.
        weight_decay: decoupled weight decay ``p -= lr * weight_decay * p`` (None: off).
        clipnorm: clip each weight's gradient to this norm.
        clipvalue: clip every gradient element to ``[-clipvalue, clipvalue]``.
        global_clipnorm: clip all gradients together to this global norm.
        use_ema: keep an exponential moving average (EMA) of the weights. After each step,
            ``average = m * average + (1 - m) * weight`` with ``m = ema_momentum``, except on
            the first step (``iterations == 0``), where ``m = 0`` and the average starts at
            the weights. ``model.fit`` ends by writing the averages into the weights
            (:meth:`finalize_variable_values`), as Keras does.
        ema_momentum: the EMA momentum, in ``[0, 1]`` (checked when ``use_ema`` is on).
        ema_overwrite_frequency: with ``use_ema``, every this many iterations the weights are
            overwritten with their averages (None: only at the end of ``fit``).
        name: name of the optimizer.

    Raises:
        ValueError: ``ema_momentum`` outside ``[0, 1]`` or ``ema_overwrite_frequency`` not a
            positive integer (with ``use_ema``).
    """

    _slots: tuple = ()

    def __init__(
        self,
        learning_rate: Any = 0.001,
        weight_decay: Optional[float] = None,
        clipnorm: Optional[float] = None,
        clipvalue: Optional[float] = None,
        global_clipnorm: Optional[float] = None,
        use_ema: bool = False,
        ema_momentum: float = 0.99,
        ema_overwrite_frequency: Optional[int] = None,
        loss_scale_factor: Any = None,
        gradient_accumulation_steps: Any = None,
        name: Optional[str] = None,
        **kwargs: Any,
    ):
        if kwargs:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) {sorted(kwargs)}")
        if clipnorm is not None and global_clipnorm is not None:
            raise ValueError(f"{type(self).__name__}: set clipnorm or global_clipnorm, not both")
        for arg, val in (("clipnorm", clipnorm), ("clipvalue", clipvalue), ("global_clipnorm", global_clipnorm)):
            if val is not None and not float(val) > 0:
                raise ValueError(f"{type(self).__name__}: {arg} must be > 0. Received: {val}")
        self.use_ema = bool(use_ema)
        self.ema_momentum, self.ema_overwrite_frequency = _check_ema(
            type(self).__name__, self.use_ema, ema_momentum, ema_overwrite_frequency
        )
        self.name = name or type(self).__name__.lower()
        self._learning_rate = self._check_lr(learning_rate)
        self.weight_decay = None if weight_decay is None else float(weight_decay)
        self.clipnorm = None if clipnorm is None else float(clipnorm)
        self.clipvalue = None if clipvalue is None else float(clipvalue)
        self.global_clipnorm = None if global_clipnorm is None else float(global_clipnorm)
        self.iterations = 0
        self.variables: list = []
        self._params = self._grads = None
        self._offsets: list = []
        self._constrained: list = []
        self._state: dict = {}

    # -- learning rate -----------------------------------------------------------------------------

    def _check_lr(self, lr: Any) -> Any:
        if isinstance(lr, LearningRateSchedule):
            return lr
        if callable(lr):
            return lr
        try:
            value = float(lr)
        except (TypeError, ValueError):
            raise TypeError(f"{type(self).__name__}: learning_rate must be a float or a schedule. Received: {lr!r}") from None
        if not value >= 0 or math.isinf(value):
            raise ValueError(f"{type(self).__name__}: learning_rate must be a finite number >= 0. Received: {lr!r}")
        return value

    @property
    def learning_rate(self) -> float:
        """The current learning rate (a schedule is evaluated at ``iterations``)."""
        lr = self._learning_rate
        return float(lr(self.iterations)) if callable(lr) else float(lr)

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        self._learning_rate = self._check_lr(value)

    # -- state ---------------------------------------------------------------------------------------

    def build(self, variables: Sequence[Any]) -> None:
        """Moves the variables' values and gradients into flat buffers and creates the state."""
        variables = list(variables)
        # Every weight starts on a cache line; the gaps stay zero in the parameters, the
        # gradients and the state, so every update rule leaves them at zero.
        offsets = []
        total = 0
        for v in variables:
            offsets.append(total)
            total += _memory.padded(v.value.size)
        params = _memory.zeros(total)
        grads = _memory.zeros(total)
        self.variables = variables
        self._constrained = [v for v in variables if getattr(v, "constraint", None) is not None]
        self._offsets = offsets
        self._params, self._grads = params, grads
        self._bind_variables(copy_values=True)
        self._state = {}
        for slot in self._active_slots():
            init = self._slot_init(slot)
            buf = _memory.zeros(total)
            if init:
                for o, v in zip(offsets, variables):
                    buf[o : o + v.value.size] = init
            self._state[slot] = buf
        if self.use_ema:
            # zeros, as in Keras: the first step sets the averages to the weights
            self._state["average"] = _memory.zeros(total)

    def _bind_variables(self, copy_values: bool) -> None:
        """Points every variable's ``value`` and ``grad`` at its slice of the flat buffers."""
        for o, v in zip(self._offsets, self.variables):
            n = v.value.size
            if copy_values:
                self._params[o : o + n] = v.value.reshape(-1)
            v.value = self._params[o : o + n].reshape(v.value.shape)
            v.grad = self._grads[o : o + n].reshape(v.value.shape)

    def _is_bound(self) -> bool:
        """True when every variable's ``value`` is still its slice of the flat parameters."""
        base = self._params.ctypes.data
        return all(v.value.ctypes.data == base + 4 * o for o, v in zip(self._offsets, self.variables))

    def _compact(self, flat: np.ndarray) -> np.ndarray:
        """The weights' elements of a flat buffer, without the alignment gaps."""
        return np.concatenate([flat[o : o + v.value.size] for o, v in zip(self._offsets, self.variables)]) \
            if self.variables else flat[:0].copy()

    def _active_slots(self) -> tuple:
        return self._slots

    def _slot_init(self, slot: str) -> float:
        return 0.0

    def zero_grad(self) -> None:
        if self._grads is not None:
            self._grads.fill(0.0)

    def _prepare_grads(self) -> float:
        """Applies clipnorm (per weight) and returns the global gradient scale."""
        if self.clipnorm is not None:
            for v in self.variables:
                norm = math.sqrt(float(_core.sum_of_squares(v.grad.reshape(-1))))
                if norm > self.clipnorm:
                    v.grad *= np.float32(self.clipnorm / norm)
        if self.global_clipnorm is not None:
            norm = math.sqrt(float(_core.sum_of_squares(self._grads)))
            if norm > self.global_clipnorm:
                return self.global_clipnorm / norm
        return 1.0

    def apply(self) -> None:
        """One update of every variable from its ``grad``."""
        if self._params is None:
            raise RuntimeError(f"{self.name}: build(variables) must be called before apply()")
        scale = self._prepare_grads()
        lr = self.learning_rate
        first_step = self.iterations == 0
        self.iterations += 1
        self._update(lr, scale, self.clipvalue or 0.0)
        if self.use_ema:
            # Keras order: update, average, periodic overwrite, then the constraints
            self._update_average(first_step)
            freq = self.ema_overwrite_frequency
            if freq is not None and self.iterations % freq == 0:
                np.copyto(self._params, self._state["average"])
        for v in self._constrained:  # projections after the update, as in Keras
            v.value[...] = v.constraint(v.value)

    def _update_average(self, first_step: bool) -> None:
        """``average = m * average + (1 - m) * params`` over the whole flat buffer, in float32
        as Keras computes it (``m = 0`` on the first step). The alignment gaps stay zero."""
        average = self._state["average"]
        m = np.float32(0.0 if first_step else self.ema_momentum)
        weighted = np.multiply(self._params, np.float32(1.0) - m)
        np.multiply(average, m, out=average)
        np.add(average, weighted, out=average)

    def _averaged(self, what: str) -> np.ndarray:
        if not self.use_ema:
            raise ValueError(f"{self.name}: {what} needs an optimizer with use_ema=True. Received: use_ema=False")
        if self._params is None:
            raise ValueError(f"{self.name}: {what} needs a built optimizer (train at least one step first)")
        return self._state["average"]

    def finalize_variable_values(self, var_list: Sequence[Any]) -> None:
        """Writes the moving averages into ``var_list`` (the trainable variables the optimizer
        was built with, as Keras takes them) when ``use_ema`` is on; does nothing otherwise.

        Raises:
            ValueError: ``var_list`` holds a different number of variables than the optimizer,
                or a variable the optimizer does not update.
        """
        if not self.use_ema:
            return
        average = self._averaged("finalize_variable_values")
        var_list = list(var_list)
        if len(var_list) != len(self.variables):
            raise ValueError(
                f"{self.name}: finalize_variable_values expected the {len(self.variables)} variables the "
                f"optimizer was built with. Received: {len(var_list)} variables"
            )
        if all(a is b for a, b in zip(var_list, self.variables)) and self._is_bound():
            np.copyto(self._params, average)
            return
        index = {id(v): i for i, v in enumerate(self.variables)}
        for v in var_list:
            i = index.get(id(v))
            if i is None:
                raise ValueError(
                    f"{self.name}: finalize_variable_values got variable {getattr(v, 'name', v)!r}, "
                    "which the optimizer does not update"
                )
            o = self._offsets[i]
            v.value[...] = average[o : o + v.value.size].reshape(v.value.shape)

    def _swap_average(self) -> None:
        """Exchanges the weights and their moving averages (``callbacks.SwapEMAWeights``)."""
        average = self._averaged("swapping in the EMA weights")
        if not self._is_bound():
            self._bind_variables(copy_values=True)
        weights = self._params.copy()
        np.copyto(self._params, average)
        np.copyto(average, weights)

    def _common(self, lr: float, grad_scale: float, clip_value: float) -> dict:
        """Keyword arguments every native update takes (decay is fused into the same pass)."""
        return {
            "learning_rate": lr,
            "weight_decay": self.weight_decay or 0.0,
            "grad_scale": grad_scale,
            "clip_value": clip_value,
        }

    def _update(self, lr: float, grad_scale: float, clip_value: float) -> None:
        raise NotImplementedError

    def get_config(self) -> dict:
        lr = self._learning_rate
        return {
            "name": self.name,
            "learning_rate": schedules.serialize(lr) if isinstance(lr, LearningRateSchedule) else lr,
            "weight_decay": self.weight_decay,
            "clipnorm": self.clipnorm,
            "clipvalue": self.clipvalue,
            "global_clipnorm": self.global_clipnorm,
            "use_ema": self.use_ema,
            "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
        }

    @classmethod
    def from_config(cls, config: dict) -> "Optimizer":
        config = dict(config)
        lr = config.get("learning_rate")
        if isinstance(lr, dict):
            config["learning_rate"] = schedules.deserialize(lr)
        return cls(**config)

    # Flat state for saving and resuming.
    def get_state(self) -> dict:
        """The iteration count and each state slot as one flat array over all weights, in
        variable order (the layout of saved files)."""
        return {"iterations": self.iterations, **{k: self._compact(v) for k, v in self._state.items()}}

    def set_state(self, state: dict) -> None:
        size = sum(v.value.size for v in self.variables)
        for k in self._state:
            if k not in state or np.shape(state[k]) != (size,):
                raise ValueError(
                    f"{self.name}: optimizer state '{k}' missing or of the wrong size "
                    f"(expected {size} values; got {np.shape(state[k]) if k in state else 'none'})"
                )
        self.iterations = int(state["iterations"])
        for k, buf in self._state.items():
            flat = np.asarray(state[k], dtype=np.float32)
            start = 0
            for o, v in zip(self._offsets, self.variables):
                n = v.value.size
                buf[o : o + n] = flat[start : start + n]
                start += n


class SGD(Optimizer):
    """Gradient descent with optional momentum and Nesterov momentum (Keras 3 rule)."""

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False, name: str = "SGD", **kwargs: Any):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0.0 <= float(momentum) <= 1.0:
            raise ValueError(f"SGD: momentum must be in [0, 1]. Received: {momentum}")
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)

    def _active_slots(self) -> tuple:
        return ("momentum",) if self.momentum > 0 else ()

    def _update(self, lr: float, grad_scale: float, clip_value: float) -> None:
        _core.sgd_update(
            self._params, self._grads, self._state.get("momentum"),
            momentum=self.momentum, nesterov=self.nesterov, **self._common(lr, grad_scale, clip_value),
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}


class RMSprop(Optimizer):
    """RMSprop (Keras 3 defaults: rho=0.9, momentum=0, epsilon=1e-7, centered=False)."""

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.9, momentum: float = 0.0, epsilon: float = 1e-7, centered: bool = False, name: str = "rmsprop", **kwargs: Any):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = float(rho), float(momentum), float(epsilon), bool(centered)

    def _active_slots(self) -> tuple:
        return ("velocity",) + (("momentum",) if self.momentum > 0 else ()) + (("average_gradient",) if self.centered else ())

    def _update(self, lr: float, grad_scale: float, clip_value: float) -> None:
        s = self._state
        _core.rmsprop_update(
            self._params, self._grads, s["velocity"], s.get("momentum"), s.get("average_gradient"),
            rho=self.rho, momentum=self.momentum, epsilon=self.epsilon, **self._common(lr, grad_scale, clip_value),
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum, "epsilon": self.epsilon, "centered": self.centered}


class Adagrad(Optimizer):
    """Adagrad (initial_accumulator_value=0.1, epsilon=1e-7)."""

    def __init__(self, learning_rate: Any = 0.001, initial_accumulator_value: float = 0.1, epsilon: float = 1e-7, name: str = "adagrad", **kwargs: Any):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.initial_accumulator_value, self.epsilon = float(initial_accumulator_value), float(epsilon)

    def _active_slots(self) -> tuple:
        return ("accumulator",)

    def _slot_init(self, slot: str) -> float:
        return self.initial_accumulator_value

    def _update(self, lr: float, grad_scale: float, clip_value: float) -> None:
        _core.adagrad_update(
            self._params, self._grads, self._state["accumulator"], epsilon=self.epsilon,
            **self._common(lr, grad_scale, clip_value),
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "initial_accumulator_value": self.initial_accumulator_value, "epsilon": self.epsilon}


class Adadelta(Optimizer):
    """Adadelta (Keras 3: learning_rate=0.001, rho=0.95, epsilon=1e-7)."""

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.95, epsilon: float = 1e-7, name: str = "adadelta", **kwargs: Any):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rho, self.epsilon = float(rho), float(epsilon)

    def _active_slots(self) -> tuple:
        return ("accumulated_grad", "accumulated_delta_var")

    def _update(self, lr: float, grad_scale: float, clip_value: float) -> None:
        s = self._state
        _core.adadelta_update(
            self._params, self._grads, s["accumulated_grad"], s["accumulated_delta_var"],
            rho=self.rho, epsilon=self.epsilon, **self._common(lr, grad_scale, clip_value),
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}


class Adam(Optimizer):
    """Adam (Keras 3: beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False)."""

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, name: str = "adam", **kwargs: Any):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = float(beta_1), float(beta_2), float(epsilon), bool(amsgrad)

    def _active_slots(self) -> tuple:
        return ("momentum", "velocity") + (("velocity_hat",) if self.amsgrad else ())

    def _update(self, lr: float, grad_scale: float, clip_value: float) -> None:
        s = self._state
        _core.adam_update(
            self._params, self._grads, s["momentum"], s["velocity"], s.get("velocity_hat"),
            step=self.iterations, beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
            **self._common(lr, grad_scale, clip_value),
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon, "amsgrad": self.amsgrad}


class AdamW(Adam):
    """Adam with decoupled weight decay (Keras 3 default weight_decay=0.004)."""

    def __init__(self, learning_rate: Any = 0.001, weight_decay: float = 0.004, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7, amsgrad: bool = False, name: str = "adamw", **kwargs: Any):
        super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon, amsgrad=amsgrad, name=name, weight_decay=weight_decay, **kwargs)


class Adamax(Optimizer):
    """Adamax (Keras 3: beta_1=0.9, beta_2=0.999, epsilon=1e-7)."""

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7, name: str = "adamax", **kwargs: Any):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)

    def _active_slots(self) -> tuple:
        return ("m", "u")

    def _update(self, lr: float, grad_scale: float, clip_value: float) -> None:
        s = self._state
        _core.adamax_update(
            self._params, self._grads, s["m"], s["u"], step=self.iterations, beta_1=self.beta_1,
            beta_2=self.beta_2, epsilon=self.epsilon, **self._common(lr, grad_scale, clip_value),
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


class Nadam(Optimizer):
    """Nadam with Keras 3's momentum schedule (beta_1=0.9, beta_2=0.999, epsilon=1e-7)."""

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7, name: str = "nadam", **kwargs: Any):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = float(beta_1), float(beta_2), float(epsilon)
        self._u_product = 1.0

    def _active_slots(self) -> tuple:
        return ("momentum", "velocity")

    def _update(self, lr: float, grad_scale: float, clip_value: float) -> None:
        s = self._state
        self._u_product = _core.nadam_update(
            self._params, self._grads, s["momentum"], s["velocity"], step=self.iterations,
            u_product=self._u_product, beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
            **self._common(lr, grad_scale, clip_value),
        )

    def get_state(self) -> dict:
        return {**super().get_state(), "u_product": np.float64(self._u_product)}

    def set_state(self, state: dict) -> None:
        super().set_state({k: v for k, v in state.items() if k != "u_product"})
        self._u_product = float(state.get("u_product", 1.0))

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


def _check_ema(owner: str, use_ema: bool, momentum: Any, frequency: Any) -> tuple:
    """``(ema_momentum, ema_overwrite_frequency)`` checked as Keras checks them (only when
    ``use_ema`` is on); ValueError naming the argument."""
    if isinstance(momentum, bool) or not isinstance(momentum, (numbers.Real, np.floating, np.integer)):
        if use_ema:
            raise ValueError(f"{owner}: ema_momentum must be a number in [0, 1]. Received: ema_momentum={momentum!r}")
        return momentum, frequency
    momentum = float(momentum)
    if use_ema and not 0.0 <= momentum <= 1.0:
        raise ValueError(f"{owner}: ema_momentum must be in the range [0, 1]. Received: ema_momentum={momentum!r}")
    if frequency is not None:
        if isinstance(frequency, bool) or not isinstance(frequency, (int, np.integer)) or frequency < 1:
            if use_ema:
                raise ValueError(
                    f"{owner}: ema_overwrite_frequency must be an integer >= 1 or None. "
                    f"Received: ema_overwrite_frequency={frequency!r}"
                )
            return momentum, frequency
        frequency = int(frequency)
    return momentum, frequency


def _check_beta(owner: str, arg: str, value: Any, *, low_open: bool = False, high_open: bool = True) -> float:
    """`value` as a float in [0, 1) (or the interval the flags select); ValueError naming `arg`."""
    beta = _as_float(owner, arg, value)
    above_low = beta > 0.0 if low_open else beta >= 0.0
    below_high = beta < 1.0 if high_open else beta <= 1.0
    if not (above_low and below_high):
        interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
        raise ValueError(f"{owner}: {arg} must be in {interval}. Received: {arg}={value!r}")
    return beta


class Lion(Optimizer):
    """Lion, sign of an interpolated momentum (Keras 3: beta_1=0.9, beta_2=0.99).

    ``c = beta_1 * m + (1 - beta_1) * g; p -= lr * sign(c); m = beta_2 * m + (1 - beta_2) * g``,
    one fused native pass over every weight per step. As in Keras, ``beta_1`` must be in
    ``(0, 1]`` (0 would make it SignSGD); ``beta_2`` in ``[0, 1]``.
    """

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.99, name: str = "lion", **kwargs: Any):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = _check_beta("Lion", "beta_1", beta_1, low_open=True, high_open=False)
        self.beta_2 = _check_beta("Lion", "beta_2", beta_2, high_open=False)

    def _active_slots(self) -> tuple:
        return ("momentum",)

    def _update(self, lr: float, grad_scale: float, clip_value: float) -> None:
        _core.lion_update(
            self._params, self._grads, self._state["momentum"], beta_1=self.beta_1,
            beta_2=self.beta_2, **self._common(lr, grad_scale, clip_value),
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2}


class Lamb(Optimizer):
    """Lamb, Adam moments scaled per weight by a trust ratio (Keras 3: beta_1=0.9,
    beta_2=0.999, epsilon=1e-7).

    Per weight: ``u = m_hat / (sqrt(v_hat) + epsilon)`` with Adam's bias-corrected moments,
    ``r = ||w|| / ||u||`` (1 when either norm is 0), ``w -= lr * r * u``. One fused native
    call per step covers every weight (the norms of each weight's slice are summed inside
    it, independently of the thread count). ``beta_1`` and ``beta_2`` must be in ``[0, 1)``.
    """

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7, name: str = "lamb", **kwargs: Any):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.beta_1 = _check_beta("Lamb", "beta_1", beta_1)
        self.beta_2 = _check_beta("Lamb", "beta_2", beta_2)
        self.epsilon = float(epsilon)
        if not self.epsilon >= 0 or math.isinf(self.epsilon):
            raise ValueError(f"Lamb: epsilon must be a finite number >= 0. Received: epsilon={epsilon!r}")
        self._segments: tuple = ()

    def _active_slots(self) -> tuple:
        return ("momentum", "velocity")

    def build(self, variables: Sequence[Any]) -> None:
        super().build(variables)
        self._segments = (
            np.asarray(self._offsets, dtype=np.int64),
            np.asarray([v.value.size for v in self.variables], dtype=np.int64),
        )

    def _update(self, lr: float, grad_scale: float, clip_value: float) -> None:
        s = self._state
        _core.lamb_update(
            self._params, self._grads, s["momentum"], s["velocity"], *self._segments,
            step=self.iterations, beta_1=self.beta_1, beta_2=self.beta_2, epsilon=self.epsilon,
            **self._common(lr, grad_scale, clip_value),
        )

    def get_config(self) -> dict:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon}


def _check_nonneg(owner: str, arg: str, value: Any) -> float:
    """`value` as a finite float >= 0; TypeError / ValueError naming `arg`."""
    x = _as_float(owner, arg, value)
    if not x >= 0 or math.isinf(x):
        raise ValueError(f"{owner}: {arg} must be a finite number >= 0. Received: {arg}={value!r}")
    return x


class Ftrl(Optimizer):
    """FTRL-Proximal (Keras 3: learning_rate_power=-0.5, initial_accumulator_value=0.1, no
    regularization, beta=0).

    Per element, with ``k = -learning_rate_power`` and the slots ``accumulator`` (starts at
    ``initial_accumulator_value``) and ``linear`` (starts at 0):
    ``a' = a + g**2``; ``linear += g + 2 * l2_shrinkage * w - (a'**k - a**k) / lr * w``;
    ``w = (clip(linear, -l1, l1) - linear) / (a'**k / lr + 2 * (l2 + beta / (2 * lr)))``.
    One fused native pass over every weight per step. ``learning_rate_power`` must be
    ``<= 0``; the accumulator value and the three strengths ``>= 0``; the learning rate
    ``> 0`` when a step runs (the rule divides by it).
    """

    _STRENGTHS = ("l1_regularization_strength", "l2_regularization_strength", "l2_shrinkage_regularization_strength")

    def __init__(
        self,
        learning_rate: Any = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
        name: str = "ftrl",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.initial_accumulator_value = _check_nonneg("Ftrl", "initial_accumulator_value", initial_accumulator_value)
        power = _as_float("Ftrl", "learning_rate_power", learning_rate_power)
        if not power <= 0 or math.isinf(power):
            raise ValueError(
                f"Ftrl: learning_rate_power must be a finite number <= 0. Received: learning_rate_power={learning_rate_power!r}"
            )
        self.learning_rate_power = power
        self.l1_regularization_strength = _check_nonneg("Ftrl", self._STRENGTHS[0], l1_regularization_strength)
        self.l2_regularization_strength = _check_nonneg("Ftrl", self._STRENGTHS[1], l2_regularization_strength)
        self.l2_shrinkage_regularization_strength = _check_nonneg("Ftrl", self._STRENGTHS[2], l2_shrinkage_regularization_strength)
        self.beta = _as_float("Ftrl", "beta", beta)
        if not math.isfinite(self.beta):
            raise ValueError(f"Ftrl: beta must be a finite number. Received: beta={beta!r}")

    def _active_slots(self) -> tuple:
        return ("accumulator", "linear")

    def _slot_init(self, slot: str) -> float:
        return self.initial_accumulator_value if slot == "accumulator" else 0.0

    def _update(self, lr: float, grad_scale: float, clip_value: float) -> None:
        s = self._state
        _core.ftrl_update(
            self._params, self._grads, s["accumulator"], s["linear"],
            learning_rate_power=self.learning_rate_power,
            l1_regularization_strength=self.l1_regularization_strength,
            l2_regularization_strength=self.l2_regularization_strength,
            l2_shrinkage_regularization_strength=self.l2_shrinkage_regularization_strength,
            beta=self.beta, **self._common(lr, grad_scale, clip_value),
        )

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "learning_rate_power": self.learning_rate_power,
            "initial_accumulator_value": self.initial_accumulator_value,
            **{k: getattr(self, k) for k in self._STRENGTHS},
            "beta": self.beta,
        }


class Adafactor(Optimizer):
    """Adafactor (Shazeer and Stern, 2018) with Keras 3's rule and defaults.

    Per weight ``p`` with gradient ``g`` (after clipping and weight decay) at step ``t``
    (1-based):

        lr_t = min(lr, 1 / sqrt(t)) with relative_step and a constant learning rate, else lr
        rho_t = min(lr_t, 1 / sqrt(t));  alpha_t = max(epsilon_2, rms(p)) * rho_t
        beta_t = 1 - t ** beta_2_decay;  s = g**2 + epsilon_1
        rank >= 2:  r = beta_t r + (1 - beta_t) mean(s, axis=-1)        shape[:-1]
                    c = beta_t c + (1 - beta_t) mean(s, axis=-2)        shape[:-2] + shape[-1:]
                    v = (r / mean(r, axis=-1))[..., None] * c[..., None, :]
        rank < 2:   v = beta_t v + (1 - beta_t) s
        u = g / sqrt(v);  p -= alpha_t * u / max(1, rms(u) / clip_threshold)

    ``rms(x) = sqrt(mean(x**2))``. Weights of rank 2 or more keep only the factors ``r`` and
    ``c`` of their second moments from step to step (factored over the last two axes); the
    full ``v`` of every weight is kept too, as Keras keeps it, in the flat ``velocity`` slot.
    The state saved with a model is ``velocity`` and the factors of all factored weights,
    concatenated in weight order (``factored_row``, ``factored_col``).

    Args:
        learning_rate: float or a ``LearningRateSchedule`` (default 0.001).
        beta_2_decay: the decay exponent of ``beta_t``, a finite number <= 0 (default -0.8).
        epsilon_1: offset of the squared gradients, a finite number >= 0 (default 1e-30).
        epsilon_2: lower bound of the weight scale, a finite number >= 0 (default 1e-3).
        clip_threshold: the update's RMS clipping threshold, a finite number > 0 (default 1.0),
            independent of ``clipnorm``, ``clipvalue`` and ``global_clipnorm``.
        relative_step: with a constant learning rate, cap it at ``1 / sqrt(t)`` (default True).
        **kwargs: the arguments of :class:`Optimizer` (``weight_decay``, ``clipnorm``,
            ``clipvalue``, ``global_clipnorm``, ``use_ema``, ``ema_momentum``,
            ``ema_overwrite_frequency``, ``name``).

    Raises:
        ValueError: an argument outside its range.
        TypeError: an argument that is not a number (``relative_step``: not a bool).

    Example:
        >>> import numpy as np
        >>> from pynncore import layers, optimizers
        >>> from pynncore.models import Sequential
        >>> model = Sequential([layers.Dense(2, input_shape=(3,))])
        >>> model.compile(optimizer=optimizers.Adafactor(), loss="mse")
        >>> round(float(model.train_on_batch(np.ones((4, 3)), np.zeros((4, 2)))), 3) >= 0
        True
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        beta_2_decay: float = -0.8,
        epsilon_1: float = 1e-30,
        epsilon_2: float = 1e-3,
        clip_threshold: float = 1.0,
        relative_step: bool = True,
        name: str = "adafactor",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        decay = _as_float("Adafactor", "beta_2_decay", beta_2_decay)
        if not decay <= 0 or math.isinf(decay):
            raise ValueError(f"Adafactor: beta_2_decay must be a finite number <= 0. Received: beta_2_decay={beta_2_decay!r}")
        self.beta_2_decay = decay
        self.epsilon_1 = _check_nonneg("Adafactor", "epsilon_1", epsilon_1)
        self.epsilon_2 = _check_nonneg("Adafactor", "epsilon_2", epsilon_2)
        threshold = _as_float("Adafactor", "clip_threshold", clip_threshold)
        if not threshold > 0 or math.isinf(threshold):
            raise ValueError(f"Adafactor: clip_threshold must be a finite number > 0. Received: clip_threshold={clip_threshold!r}")
        self.clip_threshold = threshold
        if not isinstance(relative_step, (bool, np.bool_)):
            raise TypeError(f"Adafactor: relative_step must be a bool. Received: relative_step={relative_step!r}")
        self.relative_step = bool(relative_step)
        self._factors: list = []
        self._row = self._col = None

    def _active_slots(self) -> tuple:
        return ("velocity",)

    def build(self, variables: Sequence[Any]) -> None:
        super().build(variables)
        factors, rows, cols = [], 0, 0
        for v in self.variables:
            shape = v.value.shape
            if len(shape) < 2:
                factors.append(None)
                continue
            nr = int(np.prod(shape[:-1]))
            nc = int(np.prod(shape[:-2])) * shape[-1]
            factors.append((rows, nr, cols, nc))
            rows, cols = rows + nr, cols + nc
        self._factors = factors
        self._row, self._col = _memory.zeros(rows), _memory.zeros(cols)

    def _update(self, lr: float, grad_scale: float, clip_value: float) -> None:
        f32 = np.float32
        t = f32(self.iterations)
        inv_sqrt_t = f32(1.0) / np.sqrt(t)
        lr_t = f32(lr)
        if self.relative_step and not callable(self._learning_rate):
            lr_t = min(lr_t, inv_sqrt_t)
        rho = min(lr_t, inv_sqrt_t)
        beta = f32(1.0) - np.power(t, f32(self.beta_2_decay))
        decay = f32(self.weight_decay or 0.0) * f32(lr)
        velocity = self._state["velocity"]
        for o, v, fac in zip(self._offsets, self.variables, self._factors):
            shape, n = v.value.shape, v.value.size
            p = self._params[o : o + n].reshape(shape)
            g = self._grads[o : o + n].reshape(shape)
            if grad_scale != 1.0:
                g = g * f32(grad_scale)
            if clip_value > 0 and math.isfinite(clip_value):
                g = np.clip(g, -f32(clip_value), f32(clip_value))
            if decay:
                p -= p * decay
            alpha = max(f32(self.epsilon_2), _rms(p)) * rho
            square = g * g + f32(self.epsilon_1)
            vel = velocity[o : o + n].reshape(shape)
            if fac is None:
                vel *= beta
                vel += (f32(1.0) - beta) * square
            else:
                ro, nr, co, nc = fac
                r = self._row[ro : ro + nr].reshape(shape[:-1])
                c = self._col[co : co + nc].reshape(shape[:-2] + shape[-1:])
                r[...] = beta * r + (f32(1.0) - beta) * square.mean(axis=-1)
                c[...] = beta * c + (f32(1.0) - beta) * square.mean(axis=-2)
                vel[...] = (r / r.mean(axis=-1, keepdims=True))[..., None] * c[..., None, :]
            u = g / np.sqrt(vel)
            u /= max(f32(1.0), _rms(u) / f32(self.clip_threshold))
            p -= alpha * u

    def get_state(self) -> dict:
        state = super().get_state()
        if self._row is not None:
            state.update(factored_row=self._row.copy(), factored_col=self._col.copy())
        return state

    def set_state(self, state: dict) -> None:
        for key, buf in (("factored_row", self._row), ("factored_col", self._col)):
            if buf is not None and (key not in state or np.shape(state[key]) != buf.shape):
                raise ValueError(
                    f"{self.name}: optimizer state '{key}' missing or of the wrong size "
                    f"(expected {buf.size} values; got {np.shape(state[key]) if key in state else 'none'})"
                )
        super().set_state({k: v for k, v in state.items() if k not in ("factored_row", "factored_col")})
        if self._row is not None:
            self._row[...] = np.asarray(state["factored_row"], dtype=np.float32)
            self._col[...] = np.asarray(state["factored_col"], dtype=np.float32)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta_2_decay": self.beta_2_decay,
            "epsilon_1": self.epsilon_1,
            "epsilon_2": self.epsilon_2,
            "clip_threshold": self.clip_threshold,
            "relative_step": self.relative_step,
        }


class Muon(Optimizer):
    """Muon: momentum whose update is orthogonalized by Newton-Schulz iterations, for 2-D
    weights, with an AdamW step for the others (Keras 3 rule and defaults).

    Which rule a weight gets is decided as Keras decides it: a weight whose shape is not 2-D,
    whose ``path`` contains ``"embedding"`` (any case, with ``exclude_embeddings``) or matches
    one of the regular expressions of ``exclude_layers`` (``re.search`` on the path, e.g.
    ``"dense_1/kernel"``) takes the AdamW step; every other weight the Muon step. At step ``t``
    (1-based), with gradient ``g`` after clipping:

        Muon:   m = momentum * m + g;   u = g + momentum * m (nesterov) or u = m
                O = NS(u);  p -= lr * O * sqrt(max(rows, cols)) * rms_rate   (no factor: rms_rate None)
        AdamW:  m = beta_1 m + (1 - beta_1) g;  v = beta_2 v + (1 - beta_2) g^2
                p -= lr_a sqrt(1 - beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)
                with lr_a = lr * adam_lr_ratio

    ``NS`` works on ``X = u`` (transposed when it has more rows than columns):
    ``X /= ||X||_F + 1e-7``, then ``ns_steps`` times ``A = X X^T; X = a X + (b A + c A A) X``
    with ``(a, b, c) = (muon_a, muon_b, muon_c)``, all in float32 as Keras computes it. Before
    the step, decoupled weight decay ``p -= p * wd * lr`` uses ``weight_decay`` for the Muon
    weights and ``adam_weight_decay`` for the AdamW ones (None: none). The state is the flat
    ``momentum`` of every weight and the flat ``velocity`` (zero for the Muon weights).

    Args:
        learning_rate: float or a ``LearningRateSchedule`` (default 0.001).
        adam_beta_1: AdamW's first-moment decay, in ``[0, 1)`` (default 0.9).
        adam_beta_2: AdamW's second-moment decay, in ``[0, 1)`` (default 0.999).
        adam_weight_decay: the AdamW weights' decay, a number >= 0 or None (default 0.004).
        epsilon: AdamW's denominator offset, a finite number >= 0 (default 1e-7).
        weight_decay: the Muon weights' decay, a number >= 0 or None (default 0.004).
        exclude_layers: regular expressions (strings) of weight paths that take the AdamW step.
        exclude_embeddings: weights with ``"embedding"`` in their path take the AdamW step
            (default True).
        muon_a, muon_b, muon_c: the Newton-Schulz coefficients (3.4445, -4.7750, 2.0315).
        adam_lr_ratio: the AdamW weights' learning rate over ``learning_rate``, >= 0 (default 1).
        momentum: the Muon momentum, in ``[0, 1]`` (default 0.95).
        ns_steps: the number of Newton-Schulz iterations, an integer >= 0 (default 5).
        nesterov: Nesterov-style momentum for the Muon step (default True).
        rms_rate: the update's RMS matching factor (Liu et al., 2025), a number >= 0, or None
            for no factor (default 0.2).
        **kwargs: the other arguments of :class:`Optimizer` (``clipnorm``, ``clipvalue``,
            ``global_clipnorm``, ``use_ema``, ``ema_momentum``, ``ema_overwrite_frequency``,
            ``name``).

    Raises:
        ValueError: an argument outside its range, or an ``exclude_layers`` entry that is not a
            valid regular expression.
        TypeError: an argument of the wrong type.

    Example:
        >>> import numpy as np
        >>> from pynncore import layers, optimizers
        >>> from pynncore.models import Sequential
        >>> model = Sequential([layers.Dense(4, input_shape=(3,)), layers.Dense(2, name="out")])
        >>> model.compile(optimizer=optimizers.Muon(exclude_layers=["out"]), loss="mse")
        >>> float(model.train_on_batch(np.ones((4, 3)), np.zeros((4, 2)))) >= 0
        True
    """

    def __init__(
        self,
        learning_rate: Any = 0.001,
        adam_beta_1: float = 0.9,
        adam_beta_2: float = 0.999,
        adam_weight_decay: Optional[float] = 0.004,
        epsilon: float = 1e-7,
        weight_decay: Optional[float] = 0.004,
        exclude_layers: Optional[Sequence[str]] = None,
        exclude_embeddings: bool = True,
        muon_a: float = 3.4445,
        muon_b: float = -4.7750,
        muon_c: float = 2.0315,
        adam_lr_ratio: float = 1,
        momentum: float = 0.95,
        ns_steps: int = 5,
        nesterov: bool = True,
        rms_rate: Optional[float] = 0.2,
        name: str = "muon",
        **kwargs: Any,
    ):
        owner = "Muon"
        wd = None if weight_decay is None else _check_nonneg(owner, "weight_decay", weight_decay)
        super().__init__(learning_rate=learning_rate, weight_decay=wd, name=name, **kwargs)
        self.adam_beta_1 = _check_beta(owner, "adam_beta_1", adam_beta_1)
        self.adam_beta_2 = _check_beta(owner, "adam_beta_2", adam_beta_2)
        self.adam_weight_decay = None if adam_weight_decay is None else _check_nonneg(owner, "adam_weight_decay", adam_weight_decay)
        self.epsilon = _check_nonneg(owner, "epsilon", epsilon)
        self.exclude_layers = _check_patterns(owner, "exclude_layers", exclude_layers)
        self.exclude_embeddings = _check_bool(owner, "exclude_embeddings", exclude_embeddings)
        for arg, value in (("muon_a", muon_a), ("muon_b", muon_b), ("muon_c", muon_c)):
            x = _as_float(owner, arg, value)
            if not math.isfinite(x):
                raise ValueError(f"Muon: {arg} must be a finite number. Received: {arg}={value!r}")
            setattr(self, arg, x)
        self.adam_lr_ratio = _check_nonneg(owner, "adam_lr_ratio", adam_lr_ratio)
        self.momentum = _check_beta(owner, "momentum", momentum, high_open=False)
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, (int, np.integer)) or ns_steps < 0:
            raise ValueError(f"Muon: ns_steps must be an integer >= 0. Received: ns_steps={ns_steps!r}")
        self.ns_steps = int(ns_steps)
        self.nesterov = _check_bool(owner, "nesterov", nesterov)
        self.rms_rate = None if rms_rate is None else _check_nonneg(owner, "rms_rate", rms_rate)
        self._use_adamw: list = []

    def _active_slots(self) -> tuple:
        return ("momentum", "velocity")

    def _should_use_adamw(self, variable: Any) -> bool:
        """True when ``variable`` takes the AdamW step (not 2-D, an embedding, or excluded)."""
        if len(variable.value.shape) != 2:
            return True
        path = str(getattr(variable, "path", None) or getattr(variable, "name", ""))
        if self.exclude_embeddings and "embedding" in path.lower():
            return True
        return any(re.search(pattern, path) for pattern in self.exclude_layers)

    def build(self, variables: Sequence[Any]) -> None:
        super().build(variables)
        self._use_adamw = [self._should_use_adamw(v) for v in self.variables]

    def _update(self, lr: float, grad_scale: float, clip_value: float) -> None:
        f32 = np.float32
        lr32 = f32(lr)
        t = f32(self.iterations)
        b1, b2 = f32(self.adam_beta_1), f32(self.adam_beta_2)
        adam_lr = f32(lr * self.adam_lr_ratio)
        alpha = adam_lr * np.sqrt(f32(1.0) - np.power(b2, t)) / (f32(1.0) - np.power(b1, t))
        s = self._state
        for o, v, adamw in zip(self._offsets, self.variables, self._use_adamw):
            shape, n = v.value.shape, v.value.size
            p = self._params[o : o + n].reshape(shape)
            g = _clipped_grad(self._grads[o : o + n].reshape(shape), grad_scale, clip_value)
            decay = self.adam_weight_decay if adamw else self.weight_decay
            if decay:
                p -= p * f32(decay) * lr32
            m = s["momentum"][o : o + n].reshape(shape)
            if adamw:
                vel = s["velocity"][o : o + n].reshape(shape)
                m += (g - m) * (f32(1.0) - b1)
                vel += (g * g - vel) * (f32(1.0) - b2)
                p -= m * alpha / (np.sqrt(vel) + f32(self.epsilon))
                continue
            m += g + m * f32(self.momentum - 1.0)
            u = g + f32(self.momentum) * m if self.nesterov else m
            step = lr32 * self._newton_schulz(u)
            if self.rms_rate is not None:
                step = step * np.sqrt(f32(max(shape))) * f32(self.rms_rate)
            p -= step

    def _newton_schulz(self, x: np.ndarray) -> np.ndarray:
        """The quintic Newton-Schulz approximation of the orthogonal factor of ``x`` (2-D), in
        float32 with the shorter side first, as Keras computes it."""
        f32 = np.float32
        tall = x.shape[0] > x.shape[1]
        if tall:
            x = x.T
        x = x / (f32(np.sqrt(np.sum(np.square(x, dtype=np.float32), dtype=np.float32))) + f32(1e-7))
        a, b, c = f32(self.muon_a), f32(self.muon_b), f32(self.muon_c)
        for _ in range(self.ns_steps):
            gram = x @ x.T
            x = a * x + (b * gram + (c * gram) @ gram) @ x
        return np.ascontiguousarray(x.T if tall else x)

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "adam_beta_1": self.adam_beta_1,
            "adam_beta_2": self.adam_beta_2,
            "epsilon": self.epsilon,
            "exclude_layers": list(self.exclude_layers),
            "muon_a": self.muon_a,
            "muon_b": self.muon_b,
            "muon_c": self.muon_c,
            "adam_lr_ratio": self.adam_lr_ratio,
            "momentum": self.momentum,
            "ns_steps": self.ns_steps,
            "nesterov": self.nesterov,
            "exclude_embeddings": self.exclude_embeddings,
            "adam_weight_decay": self.adam_weight_decay,
            "rms_rate": self.rms_rate,
        }


class ScheduleFreeAdamW(Optimizer):
    """Schedule-Free AdamW (Defazio et al., 2024) with Keras 3's rule and defaults.

    The weights hold ``y``, the point where gradients are taken; the ``momentum`` slot holds
    ``z``, the sequence the Adam steps move (it starts at the weights); the average ``x`` is
    recovered from both. At step ``t`` (1-based), with gradient ``g`` after clipping and the
    decoupled weight decay ``y -= y * weight_decay * lr``:

        lr_t = lr * min(t / warmup_steps, 1)   (lr_t = lr when warmup_steps is 0)
        v = beta_2 v + (1 - beta_2) g^2
        z' = z - lr_t g / (sqrt(v / (1 - beta_2^t)) + epsilon)
        x = (y - (1 - beta_1) z) / beta_1                      (from the z before the step)
        x' = (1 - 1/t) x + (1/t) z';   y' = (1 - beta_1) z' + beta_1 x'

    One vectorized float32 pass over every weight's flat buffers per step. As in Keras,
    :meth:`finalize_variable_values` only writes the EMA weights (``use_ema``): the weights
    stay at ``y`` after ``fit``. Keras's torch backend reads ``z`` after its update in the
    ``x`` line (the Variable updates in place), so its stateful ``apply`` differs from this
    rule from the second step on; its ``stateless_apply``, like the JAX and TensorFlow
    backends, follows it.

    Args:
        learning_rate: float or a ``LearningRateSchedule`` (default 0.0025).
        beta_1: the interpolation between ``z`` and ``x``, in ``(0, 1]`` (default 0.9).
        beta_2: the second-moment decay, in ``[0, 1)`` (default 0.999).
        epsilon: the denominator offset, a finite number > 0 (default 1e-8).
        warmup_steps: steps of linear learning-rate warmup from 0, an integer >= 0 (default 0).
        **kwargs: the arguments of :class:`Optimizer` (``weight_decay``, ``clipnorm``,
            ``clipvalue``, ``global_clipnorm``, ``use_ema``, ``ema_momentum``,
            ``ema_overwrite_frequency``, ``name``).

    Raises:
        ValueError: an argument outside its range.
        TypeError: an argument that is not a number.

    Example:
        >>> import numpy as np
        >>> from pynncore import layers, optimizers
        >>> from pynncore.models import Sequential
        >>> model = Sequential([layers.Dense(2, input_shape=(3,))])
        >>> model.compile(optimizer=optimizers.ScheduleFreeAdamW(warmup_steps=10), loss="mse")
        >>> float(model.train_on_batch(np.ones((4, 3)), np.zeros((4, 2)))) >= 0
        True
    """

    def __init__(
        self,
        learning_rate: Any = 0.0025,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        warmup_steps: int = 0,
        name: str = "schedule_free_adam_w",
        **kwargs: Any,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        owner = "ScheduleFreeAdamW"
        self.beta_1 = _check_beta(owner, "beta_1", beta_1, low_open=True, high_open=False)
        self.beta_2 = _check_beta(owner, "beta_2", beta_2)
        eps = _as_float(owner, "epsilon", epsilon)
        if not eps > 0 or math.isinf(eps):
            raise ValueError(f"ScheduleFreeAdamW: epsilon must be a finite number > 0. Received: epsilon={epsilon!r}")
        self.epsilon = eps
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, (int, np.integer)) or warmup_steps < 0:
            raise ValueError(f"ScheduleFreeAdamW: warmup_steps must be an integer >= 0. Received: warmup_steps={warmup_steps!r}")
        self.warmup_steps = int(warmup_steps)

    def _active_slots(self) -> tuple:
        return ("momentum", "velocity")

    def build(self, variables: Sequence[Any]) -> None:
        super().build(variables)
        np.copyto(self._state["momentum"], self._params)  # z starts at the weights

    def _update(self, lr: float, grad_scale: float, clip_value: float) -> None:
        f32 = np.float32
        one = f32(1.0)
        t = f32(self.iterations)
        b1, b2 = f32(self.beta_1), f32(self.beta_2)
        y, z, v = self._params, self._state["momentum"], self._state["velocity"]
        g = _clipped_grad(self._grads, grad_scale, clip_value)
        if self.weight_decay:
            y -= y * f32(self.weight_decay) * f32(lr)
        lr_t = f32(lr)
        if self.warmup_steps > 0:
            lr_t = lr_t * min(t / f32(self.warmup_steps), one)
        x = (y - (one - b1) * z) / b1
        v += (g * g - v) * (one - b2)
        z -= lr_t * g / (np.sqrt(v / (one - np.power(b2, t))) + f32(self.epsilon))
        weight = one / t
        x *= one - weight
        x += weight * z
        np.multiply(x, b1, out=y)
        y += (one - b1) * z

    def get_config(self) -> dict:
        return {
            **super().get_config(),
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "warmup_steps": self.warmup_steps,
        }


class LossScaleOptimizer(Optimizer):
    """Dynamic loss scaling around another optimizer (Keras 3 semantics).

    The gradients given to :meth:`apply` are those of the loss multiplied by the current
    scale (``model.fit`` and ``train_on_batch`` hand over exactly these; a custom loop takes
    its loss through :meth:`scale_loss`). Each step:

    - if every gradient is finite, they are divided by the scale and the inner optimizer
      takes its step; after ``dynamic_growth_steps`` such steps in a row the scale doubles;
    - otherwise the step is skipped (weights, inner state and ``iterations`` stay), the scale
      halves and the count of finite steps restarts.

    With a power-of-two scale, multiplying and dividing float32 gradients by it is exact, so
    with finite gradients the updates are exactly the inner optimizer's. The learning rate,
    ``iterations``, EMA and :meth:`finalize_variable_values` are the inner optimizer's. The
    state saved with a model is the inner optimizer's plus ``dynamic_scale`` and
    ``step_counter``.

    Args:
        inner_optimizer: the :class:`Optimizer` instance to wrap.
        initial_scale: the starting loss scale, a finite number > 0 (default ``2.0**15``).
        dynamic_growth_steps: finite steps between doublings, an integer >= 1 (default 2000).
        name: name of the optimizer (default ``"loss_scale_optimizer"``).
        **kwargs: as in Keras, only ``dynamic=True`` and the base optimizer arguments at their
            defaults (as older saved configs hold them) are accepted.

    Raises:
        TypeError: ``inner_optimizer`` is not an :class:`Optimizer`.
        ValueError: ``initial_scale`` or ``dynamic_growth_steps`` out of range,
            ``dynamic=False``, a base optimizer argument (set it on the inner optimizer), or an
            unknown argument.

    Example:
        >>> import numpy as np
        >>> from pynncore import layers, optimizers
        >>> from pynncore.models import Sequential
        >>> model = Sequential([layers.Dense(2, input_shape=(3,))])
        >>> opt = optimizers.LossScaleOptimizer(optimizers.Adam(), initial_scale=2.0**10)
        >>> model.compile(optimizer=opt, loss="mse")
        >>> _ = model.train_on_batch(np.ones((4, 3)), np.zeros((4, 2)))
        >>> opt.iterations, opt.dynamic_scale
        (1, 1024.0)
    """

    _BASE_DEFAULTS = {
        "weight_decay": None,
        "clipnorm": None,
        "global_clipnorm": None,
        "clipvalue": None,
        "use_ema": False,
        "ema_momentum": 0.99,
        "ema_overwrite_frequency": None,
        "loss_scale_factor": None,
        "gradient_accumulation_steps": None,
    }

    def __init__(
        self,
        inner_optimizer: Optimizer,
        initial_scale: float = 2.0**15,
        dynamic_growth_steps: int = 2000,
        name: Optional[str] = None,
        **kwargs: Any,
    ):
        if not kwargs.pop("dynamic", True):
            raise ValueError(
                "LossScaleOptimizer no longer supports dynamic=False. Instead, set loss_scale_factor "
                "directly on the inner_optimizer. Received: dynamic=False"
            )
        for arg, default in self._BASE_DEFAULTS.items():
            if arg in kwargs and kwargs.pop(arg) != default:
                raise ValueError(f"LossScaleOptimizer does not support {arg}. Instead, set {arg} on the inner_optimizer.")
        if kwargs:
            raise ValueError(f"LossScaleOptimizer does not support arguments: {', '.join(sorted(kwargs))}")
        if not isinstance(inner_optimizer, Optimizer):
            raise TypeError(
                f"LossScaleOptimizer: inner_optimizer must be a pynncore.optimizers.Optimizer. Received: {inner_optimizer!r}"
            )
        scale = _as_float("LossScaleOptimizer", "initial_scale", initial_scale)
        if not scale > 0 or math.isinf(scale):
            raise ValueError(f"LossScaleOptimizer: initial_scale must be a finite number > 0. Received: initial_scale={initial_scale!r}")
        steps = dynamic_growth_steps
        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
            raise ValueError(
                f"LossScaleOptimizer: dynamic_growth_steps must be an integer >= 1. Received: dynamic_growth_steps={steps!r}"
            )
        # Not Optimizer.__init__: the learning rate, iterations and EMA are the inner optimizer's.
        self.inner_optimizer = inner_optimizer
        self.initial_scale = scale
        self.dynamic_growth_steps = int(steps)
        self.name = name or "loss_scale_optimizer"
        self.weight_decay = self.clipnorm = self.clipvalue = self.global_clipnorm = None
        self.variables = []
        self._params = self._grads = None
        self._offsets = []
        self._constrained = []
        self._state = {}
        self.dynamic_scale = scale
        self.step_counter = 0

    @property
    def learning_rate(self) -> float:
        """The inner optimizer's learning rate (assignable)."""
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, value: Any) -> None:
        self.inner_optimizer.learning_rate = value

    @property
    def iterations(self) -> int:
        """The inner optimizer's step count (skipped steps do not count)."""
        return self.inner_optimizer.iterations

    @iterations.setter
    def iterations(self, value: int) -> None:
        self.inner_optimizer.iterations = value

    @property
    def use_ema(self) -> bool:
        return self.inner_optimizer.use_ema

    def build(self, variables: Sequence[Any]) -> None:
        inner = self.inner_optimizer
        inner.build(variables)
        # the inner optimizer's buffers, shared: every Optimizer method sees the same arrays
        self.variables, self._offsets = inner.variables, inner._offsets
        self._params, self._grads, self._state = inner._params, inner._grads, inner._state
        self.dynamic_scale = self.initial_scale
        self.step_counter = 0

    def scale_loss(self, loss: Any) -> Any:
        """``loss`` times the current scale."""
        return loss * self.dynamic_scale

    def _scale_grads(self) -> None:
        """Multiplies the gradients by the current scale: they become the gradients of the
        scaled loss, as Keras's train step computes them."""
        np.multiply(self._grads, np.float32(self.dynamic_scale), out=self._grads)

    def apply(self) -> None:
        """One step: the inner optimizer's on the unscaled gradients when all are finite, else
        none; then the scale is updated."""
        if self._params is None:
            raise RuntimeError(f"{self.name}: build(variables) must be called before apply()")
        if not np.isfinite(self._grads).all():
            self.step_counter = 0
            self.dynamic_scale *= 0.5
            return
        np.divide(self._grads, np.float32(self.dynamic_scale), out=self._grads)
        self.inner_optimizer.apply()
        if self.step_counter == self.dynamic_growth_steps - 1:
            self.step_counter = 0
            self.dynamic_scale *= 2.0
        else:
            self.step_counter += 1

    def finalize_variable_values(self, var_list: Sequence[Any]) -> None:
        self.inner_optimizer.finalize_variable_values(var_list)

    def _swap_average(self) -> None:
        self.inner_optimizer._swap_average()

    def get_state(self) -> dict:
        return {
            **self.inner_optimizer.get_state(),
            "dynamic_scale": np.float32(self.dynamic_scale),
            "step_counter": np.float32(self.step_counter),
        }

    def set_state(self, state: dict) -> None:
        own = {}
        for key in ("dynamic_scale", "step_counter"):
            value = np.asarray(state.get(key, np.empty(0)), dtype=np.float64).reshape(-1)
            if value.size != 1 or not math.isfinite(value[0]):
                raise ValueError(
                    f"{self.name}: optimizer state '{key}' missing or not one finite number "
                    f"(got {np.shape(state[key]) if key in state else 'none'})"
                )
            own[key] = float(value[0])
        if not own["dynamic_scale"] > 0 or own["step_counter"] < 0 or own["step_counter"] != int(own["step_counter"]):
            raise ValueError(f"{self.name}: optimizer state dynamic_scale must be > 0 and step_counter an integer >= 0. Received: {own}")
        self.inner_optimizer.set_state({k: v for k, v in state.items() if k not in own})
        self.dynamic_scale, self.step_counter = own["dynamic_scale"], int(own["step_counter"])

    def get_config(self) -> dict:
        inner = self.inner_optimizer
        return {
            "name": self.name,
            "inner_optimizer": {"class_name": type(inner).__name__, "config": inner.get_config()},
            "initial_scale": self.initial_scale,
            "dynamic_growth_steps": self.dynamic_growth_steps,
        }

    @classmethod
    def from_config(cls, config: dict) -> "LossScaleOptimizer":
        config = dict(config)
        if "inner_optimizer" not in config:
            raise ValueError("LossScaleOptimizer config: expected an 'inner_optimizer' entry. Received: keys " + str(sorted(config)))
        inner = get(config.pop("inner_optimizer"))
        return cls(inner, **config)


def _clipped_grad(g: np.ndarray, grad_scale: float, clip_value: float) -> np.ndarray:
    """``g`` scaled by the global clipnorm factor and clipped by value (a new array when either
    applies)."""
    if grad_scale != 1.0:
        g = g * np.float32(grad_scale)
    if clip_value > 0 and math.isfinite(clip_value):
        g = np.clip(g, -np.float32(clip_value), np.float32(clip_value))
    return g


def _check_bool(owner: str, arg: str, value: Any) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{owner}: {arg} must be a bool. Received: {arg}={value!r}")
    return bool(value)


def _check_patterns(owner: str, arg: str, value: Any) -> list:
    """``value`` (None or a list/tuple of strings) as a list of valid regular expressions."""
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{owner}: {arg} must be a list of strings. Received: {arg}={value!r}")
    for pattern in value:
        if not isinstance(pattern, str):
            raise TypeError(f"{owner}: {arg} must be a list of strings. Received: {arg}={value!r}")
        try:
            re.compile(pattern)
        except re.error as e:
            raise ValueError(f"{owner}: {arg} entry {pattern!r} is not a valid regular expression ({e})") from None
    return list(value)


def _rms(x: np.ndarray) -> np.float32:
    return np.float32(np.sqrt(np.mean(np.square(x))))


def _as_float(owner: str, arg: str, value: Any) -> float:
    """`value` as a float; TypeError naming `arg`."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{owner}: {arg} must be a float. Received: {arg}={value!r}") from None


_ALIASES = {
    "sgd": SGD,
    "rmsprop": RMSprop,
    "adagrad": Adagrad,
    "adadelta": Adadelta,
    "adam": Adam,
    "adamw": AdamW,
    "adamax": Adamax,
    "nadam": Nadam,
    "lion": Lion,
    "lamb": Lamb,
    "ftrl": Ftrl,
    "adafactor": Adafactor,
    "muon": Muon,
    "schedulefreeadamw": ScheduleFreeAdamW,
}
# wrappers need an inner optimizer: config dicts only, no string alias
_CLASSES = {c.__name__: c for c in (*_ALIASES.values(), LossScaleOptimizer)}


def get(identifier: Any) -> Optimizer:
    """Resolves a name (``"adam"``), class name, config dict, class or instance."""
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, str):
        cls = _ALIASES.get(identifier.lower()) or _CLASSES.get(identifier)
        if cls is LossScaleOptimizer:
            raise ValueError(
                "optimizer 'LossScaleOptimizer' needs an inner optimizer: pass "
                "LossScaleOptimizer(inner_optimizer) or a config dict. Received: 'LossScaleOptimizer'"
            )
        if cls is None:
            raise ValueError(f"Unknown optimizer '{identifier}'. Valid names: {', '.join(sorted(_ALIASES))}")
        return cls()
    if isinstance(identifier, dict):
        cls = _CLASSES.get(identifier.get("class_name"))
        if cls is None:
            raise ValueError(f"Unknown optimizer class {identifier.get('class_name')!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, type) and issubclass(identifier, Optimizer):
        return identifier()
    raise TypeError(f"optimizer must be a name or a pynncore.optimizers.Optimizer. Received: {identifier!r}")
