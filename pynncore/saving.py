"""Saving and loading models without executing anything from the file.

A model file is a safetensors file: the weights (and the optimizer state) as tensors, and in its
metadata the architecture and compile settings as JSON. Classes are looked up by name in a
registry of pynncore's layers plus those registered with ``register_keras_serializable`` (or
given as ``custom_objects``); a name that is not registered is an error naming it. Nothing
named in a file is imported or executed.
Writes go to a temporary file that is fsync'ed and renamed, so a failed save never leaves a
half-written file.
"""

from __future__ import annotations

import inspect
import json
import threading
from typing import Any, Callable, Optional

import numpy as np

from pynncore import _safetensors

__all__ = [
    "CustomObjectScope",
    "custom_object_scope",
    "deserialize_layer",
    "functional_config",
    "functional_from_config",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "load_model",
    "model_from_json",
    "model_to_json",
    "register_keras_serializable",
    "register_serializable",
    "serialize_layer",
]

FORMAT = "pynncore.model"
FORMAT_VERSION = "1"

# ``"package>name"`` -> object, as Keras's global custom objects (``get_custom_objects``).
_REGISTRY: dict = {}
# object -> its ``"package>name"`` (``get_registered_name``).
_NAMES: dict = {}
# plain class name -> class, so that a description naming a registered class without its
# package still loads.
_ALIASES: dict = {}
# the dictionaries of the active ``custom_object_scope`` blocks (per thread).
_SCOPE = threading.local()


def register_keras_serializable(package: str = "Custom", name: Optional[str] = None) -> Callable:
    """Class decorator: registers a custom class for saving and loading as ``"package>name"``.

    A model holding an instance of a registered layer class can be written with ``model.save``
    / ``model.to_json`` and read back with ``load_model`` / ``model_from_json``. Loading only
    ever uses classes registered this way (or given in ``custom_objects``); nothing named in a
    file is imported.

    Args:
        package: the package part of the registered name.
        name: the name inside the package; defaults to the class's ``__name__``.

    Returns:
        The decorator, which returns the class unchanged.

    Raises:
        TypeError: ``package`` or ``name`` is not a string.
        ValueError: the decorated class has no ``get_config`` method.

    Example:
        >>> from pynncore import layers
        >>> @register_keras_serializable("my_package")
        ... class Double(layers.Layer):
        ...     def forward(self, x, training=False):
        ...         return 2 * x, None
        >>> get_registered_name(Double)
        'my_package>Double'
    """
    if not isinstance(package, str) or not package:
        raise TypeError(f"register_keras_serializable: package must be a non-empty string. Received: package={package!r}")
    if name is not None and (not isinstance(name, str) or not name):
        raise TypeError(f"register_keras_serializable: name must be a non-empty string or None. Received: name={name!r}")

    def decorator(obj: Any) -> Any:
        class_name = name if name is not None else getattr(obj, "__name__", None)
        if not isinstance(class_name, str):
            raise TypeError(f"register_keras_serializable: expected a class or a function. Received: {obj!r}")
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError(
                f"register_keras_serializable: cannot register class {obj.__name__}, which has no get_config() method"
            )
        registered = f"{package}>{class_name}"
        _REGISTRY[registered] = obj
        _NAMES[obj] = registered
        _ALIASES.setdefault(class_name, obj)
        return obj

    return decorator


register_serializable = register_keras_serializable


def get_registered_name(obj: Any) -> str:
    """The name ``obj`` is registered under (``"package>name"``), else its ``__name__``."""
    try:
        registered = _NAMES.get(obj)
    except TypeError:  # unhashable
        registered = None
    return registered if registered is not None else obj.__name__


def _scope_objects() -> dict:
    stack = getattr(_SCOPE, "stack", None)
    return stack[-1] if stack else {}


def get_registered_object(name: str, custom_objects: Optional[dict] = None, module_objects: Optional[dict] = None) -> Any:
    """The object registered under ``name``, or None.

    Looked up, in this order, in the active ``custom_object_scope``, the registered objects
    (``get_custom_objects()``), ``custom_objects`` and ``module_objects``.
    """
    for table in (_scope_objects(), _REGISTRY, custom_objects, module_objects):
        if table and name in table:
            return table[name]
    return None


def get_custom_objects() -> dict:
    """The live dictionary of registered objects (``"package>name"`` -> object).

    Entries added to it are loadable by their key. Objects of a ``custom_object_scope`` are not
    in it.
    """
    return _REGISTRY


def _check_custom_objects(custom_objects: Any, what: str) -> dict:
    if custom_objects is None:
        return {}
    if not isinstance(custom_objects, dict):
        raise TypeError(f"{what}: custom_objects must be a dict of name -> class. Received: {type(custom_objects).__name__}")
    for key in custom_objects:
        if not isinstance(key, str):
            raise TypeError(f"{what}: custom_objects keys must be strings. Received: {key!r}")
    return dict(custom_objects)


class CustomObjectScope:
    """Context manager: the given ``{name: class}`` objects are loadable inside the block.

    Inside ``with custom_object_scope({"MyLayer": MyLayer}):`` the functions that read a model
    description (``load_model``, ``model_from_json``, ``Model.from_config``) resolve the name
    ``MyLayer`` to the class. Scopes nest; the inner one sees the outer ones' objects too.

    Args:
        custom_objects: dict of ``{name: class}`` (or None).

    Raises:
        TypeError: ``custom_objects`` is not a dict with string keys.
    """

    def __init__(self, custom_objects: Optional[dict] = None):
        self.custom_objects = _check_custom_objects(custom_objects, "custom_object_scope")

    def __enter__(self) -> "CustomObjectScope":
        stack = getattr(_SCOPE, "stack", None)
        if stack is None:
            stack = _SCOPE.stack = []
        stack.append({**(stack[-1] if stack else {}), **self.custom_objects})
        return self

    def __exit__(self, *exc: Any) -> None:
        _SCOPE.stack.pop()


custom_object_scope = CustomObjectScope


def _builtin_classes() -> dict:
    from pynncore import layers, models

    out, aliases = {}, {}
    for mod in (layers, models):
        for attr in getattr(mod, "__all__", []):
            obj = getattr(mod, attr)
            if isinstance(obj, type):
                out[obj.__name__] = obj
                aliases[attr] = obj  # Keras's alias names (Convolution2D, MaxPool2D, ...)
    return {**aliases, **out}


def _lookup(class_name: Any) -> type:
    from pynncore.layers.base import Layer

    if class_name == "Functional":
        class_name = "Model"
    if not isinstance(class_name, str):
        raise ValueError(f"model file: class names must be strings. Received: {class_name!r}")
    scope = _scope_objects()
    short = class_name.rsplit(">", 1)[-1]
    cls = (
        scope.get(class_name)
        or (scope.get(short) if short != class_name else None)
        or _builtin_classes().get(class_name)
        or _REGISTRY.get(class_name)
        or _ALIASES.get(class_name)
    )
    if cls is None:
        raise ValueError(
            f"model file: unknown layer class '{class_name}': it is not a pynncore layer or model "
            "and not a registered class. Register custom classes with "
            "pynncore.saving.register_keras_serializable() or pass them in custom_objects"
        )
    if not (isinstance(cls, type) and issubclass(cls, Layer)):
        raise ValueError(f"model file: '{class_name}' names {cls!r}, which is not a Layer class")
    return cls


def serialize_layer(layer: Any) -> dict:
    registered = _NAMES.get(type(layer))
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
    if spec["class_name"] in ("Model", "Functional"):
        return functional_from_config(cls, config)
    return cls.from_config(dict(config))


def _sequential_from_config(cls: type, config: dict) -> Any:
    from pynncore.layers.base import InputLayer

    layers = [deserialize_layer(s) for s in config.get("layers", [])]
    model = cls(name=config.get("name"))
    model._trainable = bool(config.get("trainable", True))
    for layer in layers:
        model.add(layer)
    if layers and not model.built and isinstance(layers[0], InputLayer):
        model.build((layers[0].batch_size,) + layers[0].shape)
    return model


def _tensor_ref(t: Any, local_index: dict) -> dict:
    layer, node_index, tensor_index = t._history
    node = layer._inbound_nodes[node_index]
    return {"keras_history": [layer.name, local_index[id(node)], int(tensor_index)]}


def _json_value(value: Any, where: str) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: the call argument {value!r} cannot be saved (it is not JSON data)") from None
    return value


def functional_config(model: Any) -> dict:
    """Config of a functional model: each layer with the calls made in this model.

    A call is ``{"args": [...], "kwargs": {...}}`` where tensors are written as
    ``{"keras_history": [layer_name, node_index, tensor_index]}`` and ``node_index`` counts the
    calls of that layer inside this model (a layer shared with other models keeps its own
    numbering here).
    """
    local_index: dict = {}
    calls: dict = {}
    for t in model._inputs:
        layer, node_index, _ = t._history
        local_index[id(layer._inbound_nodes[node_index])] = 0
    for node in model._nodes:
        if id(node) in local_index:  # the InputLayers of the model's inputs
            continue
        lst = calls.setdefault(id(node.layer), [])
        local_index[id(node)] = len(lst)
        lst.append(node)
    layers = []
    for layer in model.layers:
        spec = serialize_layer(layer)
        spec["name"] = layer.name
        nodes = []
        for node in calls.get(id(layer), []):
            main = [_tensor_ref(t, local_index) for t in node.inputs[: node.n_main]]
            kwargs = {k: _json_value(v, f"Model '{model.name}', layer '{layer.name}'") for k, v in node.kwargs.items()}
            for key, (is_list, idx) in node.kw_tensors.items():
                refs = [_tensor_ref(node.inputs[i], local_index) for i in idx]
                kwargs[key] = {"tensors": refs, "is_list": bool(is_list)}
            nodes.append({"args": main, "as_list": node.as_list, "kwargs": kwargs})
        spec["inbound_nodes"] = nodes
        layers.append(spec)
    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": layers,
        "input_layers": [_tensor_ref(t, local_index)["keras_history"] for t in model._inputs],
        "output_layers": [_tensor_ref(t, local_index)["keras_history"] for t in model._outputs],
        "input_keys": model._input_struct if isinstance(model._input_struct, list) else None,
        "output_keys": model._output_struct if isinstance(model._output_struct, list) else None,
        "output_is_list": model._output_struct == "list",
        "input_is_list": model._input_struct == "list",
    }


def _check_ref(ref: Any, where: str) -> tuple:
    if (
        not isinstance(ref, (list, tuple))
        or len(ref) != 3
        or not isinstance(ref[0], str)
        or not all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ref[1:])
    ):
        raise ValueError(f"model file: {where}: a tensor reference must be [layer_name, node_index, tensor_index]. Received: {ref!r}")
    return (ref[0], ref[1], ref[2])


def _unwrap_ref(item: Any, where: str) -> tuple:
    if not isinstance(item, dict) or "keras_history" not in item:
        raise ValueError(f"model file: {where}: expected a tensor {{'keras_history': [...]}}. Received: {item!r}")
    return _check_ref(item["keras_history"], where)


def functional_from_config(cls: type, config: dict) -> Any:
    """Rebuilds a functional model from ``functional_config`` output (nothing is executed)."""
    from pynncore.layers.base import InputLayer

    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError("model file: a functional model config needs a 'layers' list")
    name = config.get("name")
    layers: dict = {}
    order: list = []
    pending: dict = {}
    tensors: dict = {}
    for spec in config["layers"]:
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise ValueError(f"model file: model '{name}': each layer entry needs a 'name'. Received: {spec!r}")
        layer = deserialize_layer({"class_name": spec.get("class_name"), "config": spec.get("config", {})})
        if layer.name != spec["name"] or spec["name"] in layers:
            raise ValueError(f"model file: model '{name}': layer name '{spec['name']}' is repeated or does not match its config")
        nodes = spec.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise ValueError(f"model file: layer '{spec['name']}': inbound_nodes must be a list")
        layers[layer.name] = layer
        order.append(layer.name)
        pending[layer.name] = list(nodes)
        if isinstance(layer, InputLayer):
            if nodes:
                raise ValueError(f"model file: model '{name}': InputLayer '{layer.name}' cannot be called on tensors")
            tensors[(layer.name, 0, 0)] = layer.output
    done = {n: 0 for n in order}

    def resolve(ref: tuple) -> Any:
        return tensors.get(ref)

    progress = True
    while progress:
        progress = False
        for lname in order:
            layer = layers[lname]
            while done[lname] < len(pending[lname]):
                k = done[lname]
                node = pending[lname][k]
                where = f"layer '{lname}' call {k}"
                if not isinstance(node, dict) or not isinstance(node.get("args"), list) or not isinstance(node.get("kwargs", {}), dict):
                    raise ValueError(f"model file: {where}: a call must be {{'args': [...], 'kwargs': {{...}}}}")
                refs = [_unwrap_ref(a, where) for a in node["args"]]
                kw_refs: dict = {}
                static: dict = {}
                for key, val in node.get("kwargs", {}).items():
                    if isinstance(val, dict) and "tensors" in val:
                        if not isinstance(val["tensors"], list):
                            raise ValueError(f"model file: {where}: argument '{key}' must list tensors")
                        kw_refs[key] = ([_unwrap_ref(r, where) for r in val["tensors"]], bool(val.get("is_list")))
                    else:
                        static[key] = val
                needed = refs + [r for rs, _ in kw_refs.values() for r in rs]
                if any(resolve(r) is None for r in needed):
                    break
                args = [resolve(r) for r in refs]
                if not args:
                    raise ValueError(f"model file: {where}: a call needs at least one input tensor")
                x = args if node.get("as_list", len(args) > 1) else args[0]
                if not isinstance(x, list) and len(args) > 1:
                    raise ValueError(f"model file: {where}: several inputs must be a list call")
                for key, (rs, is_list) in kw_refs.items():
                    ts = [resolve(r) for r in rs]
                    static[key] = ts if is_list else ts[0]
                try:
                    out = layer(x, **static)
                except TypeError as exc:
                    raise ValueError(f"model file: {where}: {exc}") from None
                outs = out if isinstance(out, list) else [out]
                for i, t in enumerate(outs):
                    tensors[(lname, k, i)] = t
                done[lname] = k + 1
                progress = True
    left = [n for n in order if done[n] < len(pending[n])]
    if left:
        raise ValueError(f"model file: model '{name}': the calls of layer(s) {left} refer to tensors that are never made")

    def endpoint(ref: Any, what: str) -> Any:
        key = _check_ref(ref, f"model '{name}' {what}")
        t = tensors.get(key)
        if t is None:
            raise ValueError(f"model file: model '{name}': {what} refers to an unknown tensor {list(key)}")
        return t

    for what in ("input_layers", "output_layers"):
        if not isinstance(config.get(what), list) or not config[what]:
            raise ValueError(f"model file: model '{name}': '{what}' must be a non-empty list")
    ins = [endpoint(r, "input_layers") for r in config["input_layers"]]
    outs = [endpoint(r, "output_layers") for r in config["output_layers"]]

    def structure(ts: list, keys: Any, is_list: bool) -> Any:
        if isinstance(keys, list):
            if len(keys) != len(ts) or not all(isinstance(k, str) for k in keys):
                raise ValueError(f"model file: model '{name}': input/output keys do not match the tensors")
            return dict(zip(keys, ts))
        return list(ts) if (is_list or len(ts) > 1) else ts[0]

    model = cls(
        inputs=structure(ins, config.get("input_keys"), bool(config.get("input_is_list"))),
        outputs=structure(outs, config.get("output_keys"), bool(config.get("output_is_list"))),
        name=name,
    )
    model._trainable = bool(config.get("trainable", True))
    return model


def _weight_tensors(model: Any) -> dict:
    tensors = {}
    for i, w in enumerate(model.weights):
        # ascontiguousarray turns a 0-d weight (Attention's scale) into shape (1,); keep its shape.
        tensors[f"weights/{i:04d}/{w.path}"] = np.ascontiguousarray(w.value).reshape(w.value.shape)
    return tensors


def _set_weights_from(model: Any, tensors: dict, path: str) -> None:
    keys = sorted(k for k in tensors if k.startswith("weights/"))
    ws = model.weights
    if len(keys) != len(ws):
        raise ValueError(f"{path}: the file holds {len(keys)} weight arrays, the model has {len(ws)}")
    model.set_weights([tensors[k] for k in keys])


def _loss_spec(loss: Any) -> Any:
    if loss is None:
        return None
    return {"class_name": type(loss).__name__, "config": loss.get_config()}


def _metric_spec(metrics: Any) -> Any:
    if isinstance(metrics, dict):
        return {k: _metric_spec(v) for k, v in metrics.items()}
    if isinstance(metrics, (list, tuple)):
        return [_metric_spec(m) for m in metrics]
    if metrics is None or isinstance(metrics, str):
        return metrics
    from pynncore import metrics as metrics_module

    registered = metrics_module._REGISTRY.get(type(metrics).__name__)
    if isinstance(metrics, metrics_module.Metric) and registered is type(metrics):
        # a built-in metric keeps its arguments (IoU needs num_classes); configs that hold
        # functions are not JSON and fall back to the name
        spec = metrics_module.serialize(metrics)
        try:
            json.dumps(spec)
            return spec
        except (TypeError, ValueError):
            pass
    return getattr(metrics, "name", str(metrics))


def _compile_config(model: Any) -> Optional[dict]:
    trainer = getattr(model, "_trainer", None)
    if trainer is None or trainer.loss is None:
        return None
    loss = trainer.loss
    if isinstance(loss, dict):
        loss_cfg: Any = {"dict": {k: _loss_spec(v) for k, v in loss.items()}}
    elif isinstance(loss, list):
        loss_cfg = {"list": [_loss_spec(v) for v in loss]}
    else:
        loss_cfg = _loss_spec(loss)
    return {
        "optimizer": {"class_name": type(trainer.optimizer).__name__, "config": trainer.optimizer.get_config()},
        "loss": loss_cfg,
        "loss_weights": trainer._loss_weights_arg,
        "metrics": _metric_spec(trainer._metric_ids),
        "weighted_metrics": _metric_spec(trainer._weighted_ids),
    }


def _compile_args(cc: Any, path: str) -> dict:
    """``compile`` arguments from a saved compile config (classes looked up by name only)."""
    from pynncore import losses, optimizers

    if not isinstance(cc, dict) or "optimizer" not in cc or "loss" not in cc:
        raise ValueError(f"{path}: the compile settings are not valid")
    loss = cc["loss"]
    if isinstance(loss, dict) and "dict" in loss and isinstance(loss["dict"], dict):
        loss = {k: None if v is None else losses.get(v) for k, v in loss["dict"].items()}
    elif isinstance(loss, dict) and "list" in loss and isinstance(loss["list"], list):
        loss = [None if v is None else losses.get(v) for v in loss["list"]]
    else:
        loss = losses.get(loss)
    return {
        "optimizer": optimizers.get(cc["optimizer"]),
        "loss": loss,
        "loss_weights": cc.get("loss_weights"),
        "metrics": cc.get("metrics") or None,
        "weighted_metrics": cc.get("weighted_metrics") or None,
    }


def _state_tensors(model: Any) -> dict:
    """The weights and, once the optimizer has been built, its state."""
    tensors = _weight_tensors(model)
    trainer = getattr(model, "_trainer", None)
    if trainer is not None and trainer.optimizer is not None and trainer.optimizer._params is not None:
        for k, v in trainer.optimizer.get_state().items():
            tensors[f"optimizer/{k}"] = np.ascontiguousarray(np.asarray(v, dtype=np.float64 if k in ("iterations", "u_product") else np.float32)).reshape(-1 if np.ndim(v) else 1)
    return tensors


def _restore_optimizer(model: Any, tensors: dict) -> None:
    state = {k[len("optimizer/"):]: v for k, v in tensors.items() if k.startswith("optimizer/")}
    if state:
        opt = model.optimizer
        model._trainer._build_optimizer()
        opt.set_state({k: (v.reshape(-1)[0] if k in ("iterations", "u_product") else v) for k, v in state.items()})


TRAINING_STATE_FORMAT = FORMAT + ".training_state"


def save_training_state(model: Any, path: str, progress: dict) -> None:
    """Weights, optimizer state and ``progress`` (JSON numbers: epoch, batch) of a compiled
    model, written atomically with a checksum (``callbacks.BackupAndRestore``)."""
    meta = {"format": TRAINING_STATE_FORMAT, "format_version": FORMAT_VERSION, "progress": json.dumps(progress)}
    _safetensors.save_file(_state_tensors(model), path, metadata=meta, checksum=True)


def restore_training_state(model: Any, path: str) -> dict:
    """Loads a file written by :func:`save_training_state` into ``model`` (same architecture,
    compiled) and returns its progress dict."""
    tensors, meta = _safetensors.load_file(path)
    if not isinstance(meta, dict) or meta.get("format") != TRAINING_STATE_FORMAT:
        raise ValueError(f"{path}: not a pynncore training-state file")
    _require_checksum(meta, path)
    progress = _json_field(meta, "progress", path)
    if not isinstance(progress, dict) or not isinstance(progress.get("epoch"), int) or progress["epoch"] < 0:
        raise ValueError(f"{path}: invalid training progress {progress!r}")
    _set_weights_from(model, {k: v for k, v in tensors.items() if not k.startswith("optimizer/")}, path)
    _restore_optimizer(model, tensors)
    return progress


def _check_no_lambda(model: Any) -> None:
    """Raises before anything is written when ``model`` holds a ``Lambda`` layer (at any depth)."""
    from pynncore.layers.base import Layer
    from pynncore.layers.core import Lambda

    stack, seen = [model], set()
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if isinstance(layer, Lambda):
            raise ValueError(
                f"Lambda '{layer.name}': models with Lambda layers cannot be saved: pynncore never stores or "
                "runs Python code from model files, so Lambda functions are not saved. Write the computation "
                "as a Layer subclass registered with pynncore.saving.register_keras_serializable, or save "
                "only the weights with model.save_weights()."
            )
        inner = [getattr(layer, a, None) for a in ("layer", "forward_layer", "backward_layer")]
        stack.extend(x for x in [*(getattr(layer, "layers", None) or []), *inner] if isinstance(x, Layer))


def save_model(model: Any, path: str) -> None:
    _check_no_lambda(model)
    tensors = _state_tensors(model)
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


def _describing(fn: Callable[[], Any], where: str) -> Any:
    """Runs ``fn`` (which builds a model from a description), turning the errors a damaged or
    hostile description can cause into ``ValueError`` naming ``where``."""
    try:
        return fn()
    except RecursionError:
        raise ValueError(f"{where}: the model description is nested too deeply") from None
    except (TypeError, KeyError, AttributeError, IndexError, OverflowError) as exc:
        raise ValueError(f"{where}: invalid model description ({type(exc).__name__}: {exc})") from exc
    except MemoryError as exc:
        raise ValueError(f"{where}: the model description asks for more memory than is available ({exc})") from None


def load_model(path: str, custom_objects: Optional[dict] = None, compile: bool = True) -> Any:
    """Loads a model saved with ``model.save(path)``; weights, and compile settings and
    optimizer state when present (training resumes where it stopped).

    Nothing in the file is executed. Layer classes are pynncore's own, those registered with
    ``register_keras_serializable``, and those given in ``custom_objects`` (``{name: class}``)
    or an enclosing ``custom_object_scope``. A file that is not a pynncore model, is damaged
    (checksum, truncation), or describes an unknown class or an invalid configuration raises
    ``ValueError``; ``OSError`` only when the file cannot be read."""
    objects = _check_custom_objects(custom_objects, "load_model")
    with CustomObjectScope(objects):
        return _describing(lambda: _load_model(path, compile), str(path))


def model_to_json(model: Any, **kwargs: Any) -> str:
    """The architecture of ``model`` as a JSON string (``Model.to_json``); ``kwargs`` go to
    ``json.dumps`` (``indent=2``, for example)."""
    _check_no_lambda(model)
    return json.dumps(serialize_layer(model), **kwargs)


def model_from_json(json_string: Any, custom_objects: Optional[dict] = None) -> Any:
    """A new model (freshly initialised weights) from the JSON of ``model.to_json()``.

    Classes are looked up by name among pynncore's layers and models, the registered classes
    and ``custom_objects``; nothing named in the JSON is imported or executed.

    Args:
        json_string: the JSON text (``str``, ``bytes`` or ``bytearray``).
        custom_objects: optional dict of ``{name: class}`` for custom layers.

    Returns:
        The model, not compiled.

    Raises:
        TypeError: ``json_string`` is not text, or ``custom_objects`` is not a dict.
        ValueError: invalid JSON, an unknown or unregistered class, a description that is not
            a model, or an invalid configuration.
    """
    from pynncore.models import Model

    what = "model_from_json"
    if not isinstance(json_string, (str, bytes, bytearray)):
        raise TypeError(f"{what}: expected a JSON string. Received: {type(json_string).__name__}")
    objects = _check_custom_objects(custom_objects, what)
    spec = _json_field({"model": json_string}, "model", what)
    with CustomObjectScope(objects):
        model = _describing(lambda: deserialize_layer(spec), what)
    if not isinstance(model, Model):
        raise ValueError(f"{what}: the JSON describes a {type(model).__name__} layer, not a model")
    return model


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
        model.compile(**_compile_args(cc, path))
        _restore_optimizer(model, tensors)
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
