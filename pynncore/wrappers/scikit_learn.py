"""scikit-learn estimators around pynncore models.

Two families, one implementation underneath:

* ``SKLearnClassifier`` / ``SKLearnRegressor`` follow Keras 3's ``keras.wrappers``:
  ``SKLearnClassifier(model, warm_start=False, model_kwargs=None, fit_kwargs=None)`` where
  ``model`` is a compiled ``pynncore.Model`` (cloned with fresh weights before each fit unless
  ``warm_start``) or a callable ``model(X=X, y=y, **model_kwargs)`` returning one.
* ``KerasClassifier`` / ``KerasRegressor`` follow the classic Keras 2 wrapper:
  ``KerasClassifier(build_fn=create_model, epochs=10, batch_size=32, optimizer="adam")``. Each
  keyword goes where its name is accepted: to ``build_fn`` when ``build_fn`` takes it, to
  ``model.fit`` when it is a ``fit`` argument, to ``model.predict`` when it is a ``predict``
  argument (``verbose`` and ``batch_size`` go to both), so ``GridSearchCV`` can search over model
  and training settings alike.

Fitted estimators have ``model_`` (the trained ``pynncore.Model``), ``history_`` (its
``History.history`` dict), ``n_features_in_``, ``n_outputs_`` and, for classifiers,
``classes_``. Classifiers take any labels (strings, integers, ...) and give them back from
``predict``; ``predict_proba`` is ``(N, n_classes)``, also for a binary problem solved by a
one-unit sigmoid output. ``score`` is accuracy for classifiers and R^2 for regressors.

How the labels reach the network: a model with one output unit on a two-class problem is
trained on 0/1 targets ``(N, 1)``; a model with one unit per class on one-hot targets, or on
class indices when its loss is ``sparse_categorical_crossentropy``. A callable ``model`` sees
the one-hot targets (Keras 3 does the same), so ``y.shape[1]`` tells it how many classes there
are.

Pickling (``joblib``, ``n_jobs=-1``) stores every pynncore model the estimator holds in
pynncore's own model format (architecture as JSON, weights as safetensors, compile settings),
in memory: no layer object is pickled and unpickling runs no code from the data. The
optimizer's slots are not stored, so a warm-started fit after unpickling restarts them.
"""

from __future__ import annotations

import copy
import inspect
import json
from typing import Any, Callable, Optional

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils.multiclass import check_classification_targets, type_of_target
    from sklearn.utils.validation import check_is_fitted

    try:
        from sklearn.utils.validation import validate_data as _validate_data
    except ImportError:  # scikit-learn < 1.6

        def _validate_data(estimator: Any, X: Any, y: Any = "no_validation", reset: bool = True, **kw: Any) -> Any:
            return estimator._validate_data(X, y, reset=reset, **kw)

    _SKLEARN_ERROR: Optional[str] = None
except ImportError as exc:  # the classes stay importable; using them raises
    _SKLEARN_ERROR = str(exc)

    class BaseEstimator:  # type: ignore[no-redef]
        pass

    class ClassifierMixin:  # type: ignore[no-redef]
        pass

    class RegressorMixin:  # type: ignore[no-redef]
        pass


__all__ = ["KerasClassifier", "KerasRegressor", "SKLearnClassifier", "SKLearnRegressor"]


def _require_sklearn(name: str) -> None:
    if _SKLEARN_ERROR is not None:
        raise ImportError(
            f"{name} needs scikit-learn, which could not be imported ({_SKLEARN_ERROR}). "
            "Install it with: pip install scikit-learn"
        )


# -- models in pynncore's own format ---------------------------------------------------------


def _describable(model: Any) -> bool:
    """Whether pynncore's model format can rebuild ``model`` from its config."""
    from pynncore.models import Sequential

    if isinstance(model, Sequential):
        return True
    config = model.get_config()
    return isinstance(config, dict) and "layers" in config


def _compile_into(model: Any, cc: Optional[dict]) -> None:
    if cc is None:
        return
    from pynncore import losses, optimizers

    model.compile(
        optimizer=optimizers.get(cc["optimizer"]),
        loss=losses.get(cc["loss"]),
        metrics=cc.get("metrics") or None,
    )


def _clone_model(model: Any) -> Any:
    """A new model with the same architecture and compile settings and fresh weights."""
    from pynncore import saving

    if not _describable(model):
        # The format cannot describe this graph; an independent copy keeps the given weights.
        return copy.deepcopy(model)
    spec = json.loads(json.dumps(saving.serialize_layer(model)))
    clone = saving.deserialize_layer(spec)
    _compile_into(clone, saving._compile_config(model))
    return clone


def _dump_model(model: Any) -> bytes:
    """``model`` as bytes of pynncore's model format (safetensors; no pickle)."""
    from pynncore import _safetensors, saving

    if not _describable(model):
        raise TypeError(
            f"cannot pickle model '{model.name}' ({type(model).__name__}): pynncore's model format "
            "cannot describe it, and models are never pickled as Python objects"
        )
    meta = {
        "format": saving.FORMAT,
        "format_version": saving.FORMAT_VERSION,
        "model": json.dumps(saving.serialize_layer(model)),
    }
    cc = saving._compile_config(model)
    if cc is not None:
        meta["compile"] = json.dumps(cc)
    tensors = saving._weight_tensors(model) if model.built else {}
    return _safetensors.save_bytes(tensors, metadata=meta)


def _load_model(data: bytes) -> Any:
    from pynncore import _safetensors, saving

    tensors, meta = _safetensors.load_bytes(bytes(data))
    if meta.get("format") != saving.FORMAT or "model" not in meta:
        raise ValueError("unpickling: the stored model is not in pynncore's model format")
    model = saving.deserialize_layer(json.loads(meta["model"]))
    if model.built:
        saving._set_weights_from(model, {k: np.array(v) for k, v in tensors.items()}, "pickled model")
    _compile_into(model, json.loads(meta["compile"]) if "compile" in meta else None)
    return model


def _without_models(kwargs: Any) -> Any:
    """``kwargs`` with callbacks detached from the model they last ran on (a callback keeps a
    reference to its model, which would otherwise be pickled with it)."""
    if not isinstance(kwargs, dict) or not isinstance(kwargs.get("callbacks"), (list, tuple)):
        return kwargs
    detached = []
    for cb in kwargs["callbacks"]:
        if getattr(cb, "_model", None) is not None:
            cb = copy.copy(cb)
            cb._model = None
        detached.append(cb)
    return {**kwargs, "callbacks": detached}


class _StoredModel:
    """A model held as bytes of pynncore's model format inside a pickle."""

    def __init__(self, data: bytes):
        self.data = data


def _check_model(model: Any, where: str) -> Any:
    from pynncore.models import Model

    if not isinstance(model, Model):
        raise TypeError(
            f"{where}: expected a compiled pynncore Model. Received: an object of type "
            f"{type(model).__name__}"
        )
    if getattr(model, "_trainer", None) is None or model.loss is None:
        raise ValueError(
            f"{where}: the model '{model.name}' must be compiled with a loss "
            "(model.compile(optimizer, loss)) before the wrapper can fit it"
        )
    return model


def _arg_names(fn: Callable) -> tuple:
    """(named parameters, whether ``fn`` takes ``**kwargs``)."""
    params = inspect.signature(fn).parameters.values()
    names = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    return names, any(p.kind == p.VAR_KEYWORD for p in params)


def _trainer_args(method: str) -> set:
    from pynncore.trainer import Trainer

    names, _ = _arg_names(getattr(Trainer, method))
    return names - {"self", "x", "y"}


# -- shared fitting and prediction -----------------------------------------------------------


class _WrapperBase(BaseEstimator):
    """The fit/predict machinery shared by both families; subclasses supply the model."""

    def _build_model(self, X: np.ndarray, y: np.ndarray) -> Any:
        raise NotImplementedError

    def _fit_args(self, kwargs: dict) -> dict:
        raise NotImplementedError

    def _predict_args(self, kwargs: dict) -> dict:
        return dict(kwargs)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = True
        tags.input_tags.allow_nan = False
        return tags

    def _check_X(self, X: Any, reset: bool) -> np.ndarray:
        X = _validate_data(self, X, reset=reset, dtype="numeric", allow_nd=True)
        return np.ascontiguousarray(X, dtype=np.float32)

    def fit(self, X: Any, y: Any, **kwargs: Any) -> "_WrapperBase":
        """Trains a model on ``X`` ``(N, ...)`` and ``y``; ``kwargs`` go to ``model.fit``.

        Returns:
            self.
        """
        _require_sklearn(type(self).__name__)
        X, y = self._check_xy(X, y)
        X = np.ascontiguousarray(X, dtype=np.float32)
        y_builder = self._encode_target(y)
        where = f"{type(self).__name__}.fit"
        if getattr(self, "warm_start", False) and hasattr(self, "model_"):
            model = self.model_
        else:
            model = _check_model(self._build_model(X, y_builder), where)
        if not model.built:
            model.build((None,) + X.shape[1:])
        target = self._target_for(model, y_builder)
        history = model.fit(X, target, **self._fit_args(kwargs))
        self.model_ = model
        self.history_ = dict(getattr(history, "history", {}) or {})
        return self

    def _raw_predict(self, X: Any, kwargs: dict) -> np.ndarray:
        check_is_fitted(self, "model_")
        X = self._check_X(X, reset=False)
        out = self.model_.predict(X, **self._predict_args(kwargs))
        return np.asarray(out, dtype=np.float64).reshape(X.shape[0], -1)

    # Models are pickled in pynncore's format, never as layer objects.
    def __getstate__(self) -> dict:
        from pynncore.models import Model

        state = dict(super().__getstate__())
        for key, value in state.items():
            if isinstance(value, Model):
                state[key] = _StoredModel(_dump_model(value))
        for key in ("fit_kwargs", "_sk_params"):
            if key in state:
                state[key] = _without_models(state[key])
        params = state.get("_sk_params")
        if isinstance(params, dict):
            state["_sk_params"] = {
                k: _StoredModel(_dump_model(v)) if isinstance(v, Model) else v for k, v in params.items()
            }
        return state

    def __setstate__(self, state: dict) -> None:
        state = dict(state)
        for key, value in state.items():
            if isinstance(value, _StoredModel):
                state[key] = _load_model(value.data)
        params = state.get("_sk_params")
        if isinstance(params, dict):
            state["_sk_params"] = {
                k: _load_model(v.data) if isinstance(v, _StoredModel) else v for k, v in params.items()
            }
        super().__setstate__(state)


class _ClassifierCore:
    """Label encoding and class predictions."""

    _accepts_one_hot = False

    def _check_xy(self, X: Any, y: Any) -> tuple:
        multi = self._accepts_one_hot and np.ndim(y) == 2 and np.shape(y)[1] > 1
        X, y = _validate_data(self, X, y, dtype="numeric", allow_nd=True, multi_output=multi)
        return X, y

    def _encode_target(self, y: np.ndarray) -> np.ndarray:
        name = type(self).__name__
        if y.ndim == 2:  # one-hot targets (classic wrapper): the columns are the classes
            if not np.isin(y, (0, 1)).all() or not (y.sum(axis=1) == 1).all():
                raise ValueError(
                    f"{name}: a 2-D y must be one-hot (one 1 per row). Received: shape={y.shape}"
                )
            self.classes_ = np.arange(y.shape[1])
            index = np.argmax(y, axis=1)
        else:
            check_classification_targets(y)
            kind = type_of_target(y)
            if kind not in ("binary", "multiclass"):
                raise ValueError(f"{name}: only binary and multiclass targets are supported. Received: {kind}")
            self.classes_, index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"{name}: Classifier can't train when only one class is present.")
        self.n_outputs_ = 1
        return np.eye(len(self.classes_), dtype=np.float32)[index]

    def _target_for(self, model: Any, one_hot: np.ndarray) -> np.ndarray:
        from pynncore.losses import SparseCategoricalCrossentropy

        units = model.output_shape[-1]
        k = one_hot.shape[1]
        index = np.argmax(one_hot, axis=1)
        if units == 1 and k == 2:
            return index.astype(np.float32).reshape(-1, 1)
        if units == k:
            if isinstance(model.loss, SparseCategoricalCrossentropy):
                return index.astype(np.int64)
            return one_hot
        raise ValueError(
            f"{type(self).__name__}: model '{model.name}' has {units} output units, but y holds {k} "
            f"classes (expected {k} units, or 1 unit for 2 classes)"
        )

    def predict_proba(self, X: Any, **kwargs: Any) -> np.ndarray:
        """Class probabilities ``(N, n_classes)``, columns in the order of ``classes_``."""
        out = self._raw_predict(X, kwargs)
        if out.shape[1] == 1 and len(self.classes_) == 2:
            p = np.clip(out[:, 0], 0.0, 1.0)
            return np.stack([1.0 - p, p], axis=1)
        return out

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        """The most probable class of each sample, as one of the labels seen in ``fit``."""
        proba = _ClassifierCore.predict_proba(self, X, **kwargs)
        return self.classes_[np.argmax(proba, axis=1)]


class _RegressorCore:
    """Targets ``(N,)`` or ``(N, n_outputs)``; predictions in the same shape."""

    def _check_xy(self, X: Any, y: Any) -> tuple:
        return _validate_data(self, X, y, dtype="numeric", allow_nd=True, multi_output=True, y_numeric=True)

    def _encode_target(self, y: np.ndarray) -> np.ndarray:
        self._y_1d = y.ndim == 1
        y2 = np.asarray(y, dtype=np.float32).reshape(y.shape[0], -1)
        self.n_outputs_ = y2.shape[1]
        return y2

    def _target_for(self, model: Any, y: np.ndarray) -> np.ndarray:
        return y

    def predict(self, X: Any, **kwargs: Any) -> np.ndarray:
        """Predicted targets, ``(N,)`` when fitted on a 1-D ``y``, else ``(N, n_outputs)``."""
        out = self._raw_predict(X, kwargs)
        return out[:, 0] if self._y_1d and out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


# -- Keras 3 style ---------------------------------------------------------------------------


class _SKLBase(_WrapperBase):
    """``model, warm_start, model_kwargs, fit_kwargs`` as in Keras 3's ``keras.wrappers``.

    Args:
        model: a compiled ``pynncore.Model`` (a copy with fresh weights is trained, unless
            ``warm_start``), or a callable ``model(X=X, y=y, **model_kwargs)`` returning one.
        warm_start: when True, ``fit`` continues training the model of the previous fit (or,
            the first time, the given model instance itself).
        model_kwargs: keyword arguments for a callable ``model``.
        fit_kwargs: keyword arguments for ``model.fit`` (``epochs``, ``batch_size``,
            ``verbose``, ...); those passed to ``fit`` itself take precedence.
    """

    def __init__(self, model: Any, warm_start: bool = False, model_kwargs: Optional[dict] = None, fit_kwargs: Optional[dict] = None):
        _require_sklearn(type(self).__name__)
        self.model = model
        self.warm_start = warm_start
        self.model_kwargs = model_kwargs
        self.fit_kwargs = fit_kwargs

    def __sklearn_clone__(self) -> "_SKLBase":
        # A model instance is shared, not copied: fit trains a fresh clone of it anyway.
        params = self.get_params(deep=False)
        return type(self)(**{k: v if k == "model" else copy.deepcopy(v) for k, v in params.items()})

    @property
    def epoch_(self) -> int:
        """Number of epochs run by the last fit."""
        return len(getattr(self, "history_", {}).get("loss", []))

    def _build_model(self, X: np.ndarray, y: np.ndarray) -> Any:
        from pynncore.models import Model

        where = f"{type(self).__name__}.fit"
        if isinstance(self.model, Model):
            return self.model if self.warm_start else _clone_model(self.model)
        if not callable(self.model):
            raise TypeError(
                f"{where}: `model` must be a compiled pynncore Model or a callable returning one. "
                f"Received: an object of type {type(self.model).__name__}"
            )
        model = self.model(X=X, y=y, **(self.model_kwargs or {}))
        if not isinstance(model, Model):
            raise TypeError(
                f"{where}: the `model` callable {getattr(self.model, '__name__', self.model)!r} must "
                f"return a compiled pynncore Model. Received: an object of type {type(model).__name__}"
            )
        return model

    def _fit_args(self, kwargs: dict) -> dict:
        return {**(self.fit_kwargs or {}), **kwargs}

    def _predict_args(self, kwargs: dict) -> dict:
        return {"verbose": 0}


class SKLearnClassifier(ClassifierMixin, _ClassifierCore, _SKLBase):
    """scikit-learn classifier around a pynncore model (Keras 3's ``SKLearnClassifier``).

    Args:
        model: a compiled ``pynncore.Model``, or a callable ``model(X=X, y=y, **model_kwargs)``
            returning one; ``y`` is one-hot ``(N, n_classes)``.
        warm_start, model_kwargs, fit_kwargs: see the module description.

    Attributes:
        model_, history_, classes_, n_features_in_, n_outputs_.

    Raises:
        TypeError: ``model`` is not a Model, or the callable returns something else.
        ValueError: a target that is not binary or multiclass, or an output size that does not
            fit the number of classes.

    Example:
        >>> from pynncore import Sequential, layers
        >>> def build(X, y):
        ...     m = Sequential([layers.Dense(y.shape[1], activation="softmax", input_dim=X.shape[1])])
        ...     m.compile("adam", "categorical_crossentropy")
        ...     return m
        >>> clf = SKLearnClassifier(build, fit_kwargs={"epochs": 5, "verbose": 0})
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities ``(N, n_classes)``, columns in the order of ``classes_``."""
        return _ClassifierCore.predict_proba(self, X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each sample, as one of the labels seen in ``fit``."""
        return _ClassifierCore.predict(self, X)


class SKLearnRegressor(RegressorMixin, _RegressorCore, _SKLBase):
    """scikit-learn regressor around a pynncore model (Keras 3's ``SKLearnRegressor``).

    Args:
        model: a compiled ``pynncore.Model``, or a callable ``model(X=X, y=y, **model_kwargs)``
            returning one; ``y`` is ``(N, n_outputs)`` (a 1-D target becomes one column).
        warm_start, model_kwargs, fit_kwargs: see the module description.

    Attributes:
        model_, history_, n_features_in_, n_outputs_.
    """

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, ``(N,)`` when fitted on a 1-D ``y``, else ``(N, n_outputs)``."""
        return _RegressorCore.predict(self, X)


# -- classic (Keras 2) style -----------------------------------------------------------------

_RESERVED = {"build_fn", "fit", "predict", "predict_proba", "score", "get_params", "set_params", "sk_params"}


class _ClassicBase(_WrapperBase):
    """``build_fn`` plus ``**sk_params``, routed by name to ``build_fn``, ``fit`` and ``predict``.

    Args:
        build_fn: a callable returning a compiled ``pynncore.Model`` (its keyword arguments can
            be set as ``sk_params``); None to use the subclass's own ``__call__``.
        **sk_params: arguments of ``build_fn``, of ``model.fit`` (``epochs``, ``batch_size``,
            ``verbose``, ``validation_split``, ...) or of ``model.predict``.

    Raises:
        ValueError: an ``sk_params`` name that neither ``build_fn``, ``fit`` nor ``predict``
            accepts.
    """

    def __init__(self, build_fn: Optional[Callable] = None, **sk_params: Any):
        _require_sklearn(type(self).__name__)
        self.build_fn = build_fn
        self._sk_params = dict(sk_params)
        self._check_params(self._sk_params)

    # get_params/set_params over build_fn + sk_params (scikit-learn clones from these).
    def get_params(self, deep: bool = True) -> dict:
        return {"build_fn": self.build_fn, **self._sk_params}

    def set_params(self, **params: Any) -> "_ClassicBase":
        if "build_fn" in params:
            self.build_fn = params.pop("build_fn")
        self._check_params(params)
        self._sk_params.update(params)
        return self

    @property
    def sk_params(self) -> dict:
        return dict(self._sk_params)

    def __getattr__(self, name: str) -> Any:
        params = self.__dict__.get("_sk_params")
        if params is not None and name in params:
            return params[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def _builder(self) -> Callable:
        if self.build_fn is None:
            if not callable(self):
                raise TypeError(f"{type(self).__name__}: build_fn is None and the class defines no __call__")
            return self.__call__
        if not callable(self.build_fn):
            raise TypeError(
                f"{type(self).__name__}: build_fn must be a callable returning a compiled pynncore "
                f"Model. Received: an object of type {type(self.build_fn).__name__}"
            )
        return self.build_fn

    def _check_params(self, params: dict) -> None:
        bad = sorted(set(params) & _RESERVED)
        if bad:
            raise ValueError(f"{type(self).__name__}: {bad[0]!r} cannot be used as a parameter name")
        try:
            names, any_kw = _arg_names(self._builder())
        except TypeError:  # an unusable build_fn is reported by fit
            names, any_kw = set(), True
        legal = names | _trainer_args("fit") | _trainer_args("predict") | _trainer_args("evaluate")
        for key in params:
            if key not in legal and not any_kw:
                raise ValueError(
                    f"{type(self).__name__}: {key!r} is not a legal parameter: it is an argument of "
                    "neither build_fn nor model.fit/predict/evaluate"
                )

    def _build_model(self, X: np.ndarray, y: np.ndarray) -> Any:
        fn = self._builder()
        names, any_kw = _arg_names(fn)
        routed = _trainer_args("fit") | _trainer_args("predict") | _trainer_args("evaluate")
        kwargs = {k: v for k, v in self._sk_params.items() if k in names or (any_kw and k not in routed)}
        model = fn(**kwargs)
        from pynncore.models import Model

        if not isinstance(model, Model):
            raise TypeError(
                f"{type(self).__name__}.fit: build_fn {getattr(fn, '__name__', fn)!r} must return a "
                f"compiled pynncore Model. Received: an object of type {type(model).__name__}"
            )
        return model

    def _fit_args(self, kwargs: dict) -> dict:
        names = _trainer_args("fit")
        return {**{k: v for k, v in self._sk_params.items() if k in names}, **kwargs}

    def _predict_args(self, kwargs: dict) -> dict:
        names = _trainer_args("predict")
        return {**{k: v for k, v in self._sk_params.items() if k in names}, **kwargs}


class KerasClassifier(ClassifierMixin, _ClassifierCore, _ClassicBase):
    """scikit-learn classifier with the classic Keras wrapper's ``(build_fn, **sk_params)``.

    Labels may be any values (given back by ``predict``) or one-hot rows ``(N, n_classes)``.
    See ``_ClassicBase`` for how ``sk_params`` are routed.

    Example:
        >>> from pynncore import Sequential, layers
        >>> def create_model(optimizer="adam"):
        ...     m = Sequential([layers.Dense(3, activation="softmax", input_dim=4)])
        ...     m.compile(optimizer, "sparse_categorical_crossentropy")
        ...     return m
        >>> clf = KerasClassifier(build_fn=create_model, epochs=5, batch_size=16, verbose=0)
    """

    _accepts_one_hot = True

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.poor_score = True
        return tags


class KerasRegressor(RegressorMixin, _RegressorCore, _ClassicBase):
    """scikit-learn regressor with the classic Keras wrapper's ``(build_fn, **sk_params)``;
    ``score`` is R^2."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.regressor_tags.poor_score = True
        return tags
