"""Saving and loading models without executing anything from the file.

A model file is a safetensors file: the weights (and the optimizer state) as tensors, and in its
metadata the architecture and compile settings as JSON. Classes are looked up by name in a
registry of pynncore's layers plus those registered with ``register_serializable``; a name that
is not registered is an error naming it. Nothing named in a file is imported or executed.
Writes go to a temporary file that is fsync'ed and renamed, so a failed save never leaves a
half-written file.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

import numpy as np

from pynncore import _safetensors

__all__ = ["load_model", "register_serializable", "serialize_layer", "deserialize_layer"]

FORMAT = "pynncore.model"
FORMAT_VERSION = "1"

_REGISTRY: dict = {}


def register_serializable(package: str = "Custom", name: Optional[str] = None) -> Callable:
    """Class decorator: makes a custom layer loadable by name (``package>name``)."""

    def wrap(cls: type) -> type:
        _REGISTRY[f"{package}>{name or cls.__name__}"] = cls
        _REGISTRY.setdefault(name or cls.__name__, cls)
        return cls

    return wrap


def _builtin_classes() -> dict:
    from pynncore import layers, models

    out = {}
    for mod in (layers, models):
        for attr in getattr(mod, "__all__", []):
            obj = getattr(mod, attr)
            if isinstance(obj, type):
                out[obj.__name__] = obj
    return out


def _lookup(class_name: Any) -> type:
    if not isinstance(class_name, str):
        raise ValueError(f"model file: class names must be strings. Received: {class_name!r}")
    cls = _builtin_classes().get(class_name) or _REGISTRY.get(class_name)
    if cls is None:
        raise ValueError(
            f"model file: unknown layer class '{class_name}'. Register custom classes with "
            "pynncore.saving.register_serializable() before loading"
        )
    return cls


def serialize_layer(layer: Any) -> dict:
    registered = next((k for k, v in _REGISTRY.items() if v is type(layer) and ">" in k), None)
    return {"class_name": registered or type(layer).__name__, "config": layer.get_config()}


def deserialize_layer(spec: Any) -> Any:
    if not isinstance(spec, dict) or "class_name" not in spec:
        raise ValueError(f"model file: a layer entry must be {{'class_name', 'config'}}. Received: {spec!r}")
    cls = _lookup(spec["class_name"])
    config = spec.get("config", {})
    if not isinstance(config, dict):
        raise ValueError(f"model file: config of '{spec['class_name']}' must be an object")
    if spec["class_name"] == "Sequential" or getattr(cls, "__name__", "") == "Sequential":
        return _sequential_from_config(cls, config)
    return cls.from_config(dict(config))


def _sequential_from_config(cls: type, config: dict) -> Any:
    from pynncore.layers.base import InputLayer

    layers = [deserialize_layer(s) for s in config.get("layers", [])]
    model = cls(name=config.get("name"), trainable=config.get("trainable", True))
    for layer in layers:
        model.add(layer)
    if layers and not model.built and isinstance(layers[0], InputLayer):
        model.build((layers[0].batch_size,) + layers[0].shape)
    return model


def _weight_tensors(model: Any) -> dict:
    tensors = {}
    for i, w in enumerate(model.weights):
        tensors[f"weights/{i:04d}/{w.path}"] = np.ascontiguousarray(w.value)
    return tensors


def _set_weights_from(model: Any, tensors: dict, path: str) -> None:
    keys = sorted(k for k in tensors if k.startswith("weights/"))
    ws = model.weights
    if len(keys) != len(ws):
        raise ValueError(f"{path}: the file holds {len(keys)} weight arrays, the model has {len(ws)}")
    model.set_weights([tensors[k] for k in keys])


def _compile_config(model: Any) -> Optional[dict]:
    trainer = getattr(model, "_trainer", None)
    if trainer is None or trainer.loss is None:
        return None
    return {
        "optimizer": {"class_name": type(trainer.optimizer).__name__, "config": trainer.optimizer.get_config()},
        "loss": {"class_name": type(trainer.loss).__name__, "config": trainer.loss.get_config()},
        "metrics": [m if isinstance(m, str) else getattr(m, "name", str(m)) for m in trainer._metric_ids],
    }


def save_model(model: Any, path: str) -> None:
    tensors = _weight_tensors(model)
    trainer = getattr(model, "_trainer", None)
    if trainer is not None and trainer.optimizer is not None and trainer.optimizer._params is not None:
        for k, v in trainer.optimizer.get_state().items():
            tensors[f"optimizer/{k}"] = np.ascontiguousarray(np.asarray(v, dtype=np.float64 if k in ("iterations", "u_product") else np.float32)).reshape(-1 if np.ndim(v) else 1)
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": json.dumps(serialize_layer(model)),
    }
    cc = _compile_config(model)
    if cc is not None:
        meta["compile"] = json.dumps(cc)
    _safetensors.save_file(tensors, path, metadata=meta, checksum=True)


def _json_field(meta: dict, key: str, path: str) -> Any:
    """A JSON document from the metadata: strict JSON (no NaN/Infinity), bounded nesting."""
    try:
        return json.loads(meta[key], parse_constant=_reject_json_constant)
    except KeyError:
        raise ValueError(f"{path}: the model description is missing (no '{key}' entry)") from None
    except (json.JSONDecodeError, TypeError) as exc:
        raise ValueError(f"{path}: the '{key}' entry is not valid JSON ({exc})") from None
    except RecursionError:
        raise ValueError(f"{path}: the '{key}' entry is nested too deeply") from None


def _reject_json_constant(name: str) -> Any:
    raise ValueError(f"model file: the description holds {name}, which is not valid JSON")


def load_model(path: str, compile: bool = True) -> Any:
    """Loads a model saved with ``model.save(path)``; weights, and compile settings and
    optimizer state when present (training resumes where it stopped).

    Nothing in the file is executed. A file that is not a pynncore model, is damaged
    (checksum, truncation), or describes an unknown class or an invalid configuration raises
    ``ValueError``; ``OSError`` only when the file cannot be read."""
    try:
        return _load_model(path, compile)
    except RecursionError:
        raise ValueError(f"{path}: the model description is nested too deeply") from None
    except (TypeError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        raise ValueError(f"{path}: invalid model description ({type(exc).__name__}: {exc})") from exc
    except MemoryError as exc:
        raise ValueError(f"{path}: the model description asks for more memory than is available ({exc})") from None


def _load_model(path: str, compile: bool) -> Any:
    tensors, meta = _safetensors.load_file(path)
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a pynncore model file (metadata format={meta.get('format') if isinstance(meta, dict) else None!r})")
    _require_checksum(meta, path)
    spec = _json_field(meta, "model", path)
    model = deserialize_layer(spec)
    if not model.built:
        raise ValueError(f"{path}: the saved model has no input shape, so its weights cannot be restored")
    _set_weights_from(model, tensors, path)
    if compile and "compile" in meta:
        cc = _json_field(meta, "compile", path)
        from pynncore import losses, optimizers

        model.compile(optimizer=optimizers.get(cc["optimizer"]), loss=losses.get(cc["loss"]), metrics=cc.get("metrics") or None)
        state = {k[len("optimizer/"):]: v for k, v in tensors.items() if k.startswith("optimizer/")}
        if state:
            opt = model.optimizer
            opt.build(model.trainable_weights)
            model._trainer._built_for = hash(tuple(id(v) for v in model.trainable_weights))
            opt.set_state({k: (v.reshape(-1)[0] if k in ("iterations", "u_product") else v) for k, v in state.items()})
    return model


def save_weights(model: Any, path: str) -> None:
    _safetensors.save_file(
        _weight_tensors(model), path, metadata={"format": FORMAT + ".weights", "format_version": FORMAT_VERSION}, checksum=True
    )


def _require_checksum(meta: dict, path: str) -> None:
    """pynncore writes a checksum into every model and weights file, and the reader verifies
    it; a pynncore file without one has been damaged (for instance in the checksum's name)."""
    if _safetensors.CHECKSUM_KEY not in meta:
        raise ValueError(
            f"{path}: the file says it is a pynncore file ({meta.get('format')!r}) but carries no "
            f"'{_safetensors.CHECKSUM_KEY}' checksum: it is damaged or was not written by pynncore"
        )


def load_weights(model: Any, path: str) -> None:
    tensors, meta = _safetensors.load_file(path)
    if meta.get("format") in (FORMAT, FORMAT + ".weights"):
        _require_checksum(meta, path)
    if not model.built:
        raise ValueError(f"load_weights: build the model (give it an input shape) before loading {path}")
    _set_weights_from(model, tensors, path)
