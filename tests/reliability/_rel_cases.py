"""Systematic bad inputs and hostile model files, shared by the tests and the report.

``bad_input_cases()`` crosses every public entry point that takes arrays (ops, layers, models,
losses, optimizer updates) with a list of malformed arguments. Each case must end in a
``ValueError`` or ``TypeError`` whose message names the operation: never a crash, never a
silent result. ``hostile_files(folder, canary)`` writes files that would run code or exhaust
memory if the loader trusted them; a payload that ran would create the ``canary`` file.
"""

from __future__ import annotations

import json
import os
import pickle
from typing import Any, Callable

import numpy as np

CLEAR_ERRORS = (ValueError, TypeError)


def _f32(*shape: int) -> np.ndarray:
    return np.ones(shape, np.float32)


class _Weird:
    """An object that is not an array at all."""

    def __repr__(self) -> str:
        return "<weird>"


# Arguments that are not a usable float32 array, for any array parameter.
BAD_ARRAYS: list[tuple[str, Any]] = [
    ("none", None),
    ("string", "abc"),
    ("object_array", np.array([object(), object()], dtype=object)),
    ("complex", np.ones((3, 4), np.complex64)),
    ("str_array", np.array([["a", "b"]])),
    ("nested_ragged", [[1.0, 2.0], [3.0]]),
    ("scalar", np.float32(1.0)),
    ("zero_dim", np.array(1.0, np.float32)),
    ("weird_object", _Weird()),
    ("dict", {"a": 1}),
    ("datetime", np.array(["2020-01-01"], dtype="datetime64[D]")),
    ("void", np.zeros(3, dtype="V4")),
    ("rank5_empty", np.zeros((1, 1, 1, 1, 0), np.float32)),
]


def _ops_cases() -> list[tuple[str, Callable[[], Any]]]:
    from pynncore import ops

    cases: list[tuple[str, Callable[[], Any]]] = []
    good_a, good_b = _f32(3, 4), _f32(4, 5)
    for tag, bad in BAD_ARRAYS:
        cases.append((f"ops.matmul(a={tag})", lambda bad=bad: ops.matmul(bad, good_b)))
        cases.append((f"ops.matmul(b={tag})", lambda bad=bad: ops.matmul(good_a, bad)))
    cases += [
        ("ops.matmul(inner mismatch)", lambda: ops.matmul(_f32(3, 4), _f32(5, 6))),
        ("ops.matmul(rank 3)", lambda: ops.matmul(_f32(2, 3, 4), _f32(4, 5))),
        ("ops.matmul(rank 1)", lambda: ops.matmul(_f32(4), _f32(4, 5))),
        ("ops.matmul(out wrong shape)", lambda: ops.matmul(good_a, good_b, out=_f32(3, 4))),
        ("ops.matmul(out wrong dtype)", lambda: ops.matmul(good_a, good_b, out=np.ones((3, 5)))),
        ("ops.matmul(out read-only)", lambda: ops.matmul(good_a, good_b, out=_readonly(_f32(3, 5)))),
        ("ops.matmul(out strided)", lambda: ops.matmul(good_a, good_b, out=_f32(3, 10)[:, ::2])),
        ("ops.matmul(beta without out)", lambda: ops.matmul(good_a, good_b, beta=1.0)),
        ("ops.matmul(transpose mismatch)", lambda: ops.matmul(good_a, good_b, transpose_a=True)),
    ]
    acts = ["relu", "sigmoid", "tanh", "gelu", "elu", "softplus", "silu", "selu", "leaky_relu", "softmax"]
    for act in acts:
        for tag, bad in BAD_ARRAYS[:9]:
            if tag in ("scalar", "zero_dim", "nested_ragged"):
                continue
            cases.append((f"ops.activation({act}, x={tag})", lambda act=act, bad=bad: ops.activation(act, bad)))
        cases.append((f"ops.activation({act}, out shape)", lambda act=act: ops.activation(act, _f32(3, 4), out=_f32(4, 3))))
        cases.append((f"ops.activation({act}, bias shape)", lambda act=act: ops.activation(act, _f32(3, 4), bias=_f32(5))))
        cases.append((f"ops.activation_grad({act}, dy shape)", lambda act=act: _act_grad(act, _f32(3, 4), _f32(4, 3))))
    cases += [
        ("ops.activation(unknown name)", lambda: ops.activation("os.system", _f32(2))),
        ("ops.activation(name not str)", lambda: ops.activation(3, _f32(2))),
        ("ops.activation(elu alpha=nan)", lambda: ops.activation("elu", _f32(2), alpha=float("nan"))),
        ("ops.softmax(axis out of range)", lambda: ops.softmax(_f32(2, 3), axis=5)),
    ]
    loss_names = [
        "mean_squared_error",
        "mean_absolute_error",
        "huber",
        "binary_crossentropy",
        "categorical_crossentropy",
    ]
    for name in loss_names:
        for tag, bad in BAD_ARRAYS[:9]:
            cases.append((f"ops.loss({name}, y_pred={tag})", lambda n=name, bad=bad: ops.loss(n, _f32(4, 3), bad)))
            cases.append((f"ops.loss({name}, y_true={tag})", lambda n=name, bad=bad: ops.loss(n, bad, _f32(4, 3))))
        cases.append((f"ops.loss({name}, shape mismatch)", lambda n=name: ops.loss(n, _f32(4, 3), _f32(5, 3))))
        cases.append((f"ops.loss_and_grad({name}, row_scale shape)", lambda n=name: ops.loss_and_grad(n, _f32(4, 3), _f32(4, 3), row_scale=_f32(7))))
        cases.append((f"ops.loss({name}, label_smoothing=2)", lambda n=name: ops.loss(n, _f32(4, 3), _f32(4, 3), label_smoothing=2.0)))
    cases += [
        ("ops.loss(unknown)", lambda: ops.loss("__import__('os')", _f32(2, 2), _f32(2, 2))),
        ("ops.loss(huber delta=-1)", lambda: ops.loss("huber", _f32(2, 2), _f32(2, 2), delta=-1.0)),
        ("ops.loss(huber delta=inf)", lambda: ops.loss("huber", _f32(2, 2), _f32(2, 2), delta=float("inf"))),
        ("ops.loss(sparse label out of range)", lambda: ops.loss("sparse_categorical_crossentropy", np.array([0, 9]), _f32(2, 3))),
        ("ops.loss(sparse negative label)", lambda: ops.loss("sparse_categorical_crossentropy", np.array([0, -1]), _f32(2, 3))),
        ("ops.loss(sparse float labels)", lambda: ops.loss("sparse_categorical_crossentropy", np.array([0.5, 1.0]), _f32(2, 3))),
        ("ops.loss(sparse wrong count)", lambda: ops.loss("sparse_categorical_crossentropy", np.array([0, 1, 2]), _f32(2, 3))),
        ("ops.loss(mse from_logits)", lambda: ops.loss("mse", _f32(2, 2), _f32(2, 2), from_logits=True)),
    ]
    p = _f32(10)
    for tag, bad in BAD_ARRAYS[:9]:
        cases.append((f"ops.sgd_update(grads={tag})", lambda bad=bad: ops.sgd_update(_f32(10), bad)))
        cases.append((f"ops.adam_update(m={tag})", lambda bad=bad: ops.adam_update(_f32(10), _f32(10), bad, _f32(10), step=1)))
        if tag not in ("scalar", "zero_dim"):  # the sum of squares of one number is defined
            cases.append((f"ops.sum_of_squares({tag})", lambda bad=bad: ops.sum_of_squares(bad)))
    cases += [
        ("ops.sgd_update(size mismatch)", lambda: ops.sgd_update(p.copy(), _f32(9))),
        ("ops.sgd_update(params float64)", lambda: ops.sgd_update(np.ones(10), _f32(10))),
        ("ops.sgd_update(momentum without buffer)", lambda: ops.sgd_update(_f32(10), _f32(10), momentum=0.9)),
        ("ops.sgd_update(lr nan)", lambda: ops.sgd_update(_f32(10), _f32(10), learning_rate=float("nan"))),
        ("ops.adam_update(step 0)", lambda: ops.adam_update(_f32(10), _f32(10), _f32(10), _f32(10), step=0)),
        ("ops.adam_update(beta_1=2)", lambda: ops.adam_update(_f32(10), _f32(10), _f32(10), _f32(10), step=1, beta_1=2.0)),
        ("ops.adam_update(v short)", lambda: ops.adam_update(_f32(10), _f32(10), _f32(10), _f32(3), step=1)),
        ("ops.adam_update(read-only params)", lambda: ops.adam_update(_readonly(_f32(10)), _f32(10), _f32(10), _f32(10), step=1)),
        ("ops.segment_sum_of_squares(offsets past end)", lambda: ops.segment_sum_of_squares(_f32(10), np.array([0, 11]))),
        ("ops.segment_sum_of_squares(decreasing)", lambda: ops.segment_sum_of_squares(_f32(10), np.array([0, 6, 3]))),
        ("ops.segment_sum_of_squares(negative)", lambda: ops.segment_sum_of_squares(_f32(10), np.array([-1, 3]))),
    ]
    return cases


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _act_grad(act: str, x: np.ndarray, dy: np.ndarray) -> Any:
    from pynncore import ops

    if act == "softmax":
        return ops.activation_grad(act, y=x, dy=dy)
    return ops.activation_grad(act, x=x, y=x, dy=dy)


def _model_cases() -> list[tuple[str, Callable[[], Any]]]:
    import pynncore
    from pynncore import layers

    def fitted() -> Any:
        pynncore.utils.set_random_seed(0)
        m = pynncore.Sequential([layers.Dense(4, activation="relu", input_dim=3), layers.Dense(2)])
        m.compile(optimizer="adam", loss="mse")
        return m

    cases: list[tuple[str, Callable[[], Any]]] = []
    for tag, bad in BAD_ARRAYS:
        cases.append((f"Sequential.predict(x={tag})", lambda bad=bad: fitted().predict(bad, verbose=0)))
        cases.append((f"Sequential.__call__(x={tag})", lambda bad=bad: fitted()(bad)))
        cases.append((f"Sequential.fit(y={tag})", lambda bad=bad: fitted().fit(_f32(4, 3), bad, verbose=0)))
        cases.append((f"Dense.__call__(x={tag})", lambda bad=bad: layers.Dense(3)(bad)))
    cases += [
        ("predict(wrong features)", lambda: fitted().predict(_f32(2, 5), verbose=0)),
        ("predict(rank 1)", lambda: fitted().predict(_f32(3), verbose=0)),
        ("predict(batch_size=0)", lambda: fitted().predict(_f32(2, 3), batch_size=0, verbose=0)),
        ("predict(batch_size=-3)", lambda: fitted().predict(_f32(2, 3), batch_size=-3, verbose=0)),
        ("predict(batch_size=1.5)", lambda: fitted().predict(_f32(2, 3), batch_size=1.5, verbose=0)),
        ("fit(x nan)", lambda: fitted().fit(np.full((4, 3), np.nan, np.float32), _f32(4, 2), verbose=0)),
        ("fit(y inf)", lambda: fitted().fit(_f32(4, 3), np.full((4, 2), np.inf, np.float32), verbose=0)),
        ("fit(sample count mismatch)", lambda: fitted().fit(_f32(4, 3), _f32(5, 2), verbose=0)),
        ("fit(empty)", lambda: fitted().fit(_f32(0, 3), _f32(0, 2), verbose=0)),
        ("fit(epochs=-1)", lambda: fitted().fit(_f32(4, 3), _f32(4, 2), epochs=-1, verbose=0)),
        ("fit(validation_split=1.5)", lambda: fitted().fit(_f32(4, 3), _f32(4, 2), validation_split=1.5, verbose=0)),
        ("fit(sample_weight negative)", lambda: fitted().fit(_f32(4, 3), _f32(4, 2), sample_weight=-np.ones(4), verbose=0)),
        ("fit(sample_weight shape)", lambda: fitted().fit(_f32(4, 3), _f32(4, 2), sample_weight=np.ones(3), verbose=0)),
        ("set_weights(count)", lambda: fitted().set_weights([_f32(3, 4)])),
        ("set_weights(shape)", lambda: fitted().set_weights([_f32(4, 3), _f32(4), _f32(4, 2), _f32(2)])),
        ("set_weights(strings)", lambda: fitted().set_weights([np.array([["a"] * 4] * 3), _f32(4), _f32(4, 2), _f32(2)])),
        ("Dense(units=0)", lambda: layers.Dense(0)),
        ("Dense(units=-1)", lambda: layers.Dense(-1)),
        ("Dense(units=2.5)", lambda: layers.Dense(2.5)),
        ("Dense(units='8')", lambda: layers.Dense("8")),
        ("Dense(activation='os.system')", lambda: layers.Dense(3, activation="os.system")),
        ("Dropout(rate=1.0)", lambda: layers.Dropout(1.0)),
        ("Dropout(rate=-0.1)", lambda: layers.Dropout(-0.1)),
        ("Dropout(rate=nan)", lambda: layers.Dropout(float("nan"))),
        ("compile(loss='nope')", lambda: fitted().compile(optimizer="adam", loss="nope")),
        ("compile(optimizer='nope')", lambda: fitted().compile(optimizer="nope", loss="mse")),
        ("Sequential(add non-layer)", lambda: pynncore.Sequential([42])),
        ("Sequential(duplicate layer)", lambda: _dup()),
        ("Sequential(predict empty model)", lambda: pynncore.Sequential().predict(_f32(2, 3), verbose=0)),
        ("set_num_threads(0)", lambda: pynncore.set_num_threads(0)),
        ("set_num_threads('2')", lambda: pynncore.set_num_threads("2")),
    ]
    return cases


def _dup() -> Any:
    import pynncore
    from pynncore import layers

    d = layers.Dense(2)
    return pynncore.Sequential([d, d])


def bad_input_cases() -> list[tuple[str, Callable[[], Any]]]:
    """(name, thunk) pairs; each thunk must raise ValueError or TypeError."""
    return _ops_cases() + _model_cases()


def run_bad_input(thunk: Callable[[], Any]) -> str:
    """'clear' when the call raised ValueError/TypeError, else what happened."""
    try:
        thunk()
    except CLEAR_ERRORS as exc:
        return "clear" if str(exc) else "empty message"
    except Exception as exc:  # noqa: BLE001 -- classified for the report
        return f"unclear {type(exc).__name__}: {exc}"
    return "no error"


# ---------------------------------------------------------------------------------------------
# Hostile files


class _Payload:
    """Pickling this object yields a pickle that would create the canary file when loaded."""

    def __init__(self, canary: str) -> None:
        self.canary = canary

    def __reduce__(self) -> tuple:
        return (os.system, (f"touch {self.canary}",))


def _st_file(header: Any, data: bytes = b"", raw_header: bytes | None = None, length: int | None = None) -> bytes:
    raw = raw_header if raw_header is not None else json.dumps(header).encode()
    n = len(raw) if length is None else length
    return n.to_bytes(8, "little") + raw + data


def _model_meta(model_json: Any, extra: dict | None = None) -> dict:
    meta = {"format": "pynncore.model", "format_version": "1", "model": model_json if isinstance(model_json, str) else json.dumps(model_json)}
    meta.update(extra or {})
    return meta


def _dense_spec(**config: Any) -> dict:
    base = {"name": "d", "units": 2, "input_shape": [3]}
    base.update(config)
    return {"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "Dense", "config": base}]}}


def hostile_files(folder: str, canary: str) -> list[tuple[str, str]]:
    """Writes hostile files into `folder`; returns (name, path) pairs."""
    from pynncore import _safetensors

    out: list[tuple[str, str]] = []

    def put(name: str, ext: str, content: bytes) -> None:
        path = os.path.join(folder, f"{len(out):03d}_{name}{ext}")
        with open(path, "wb") as f:
            f.write(content)
        out.append((name, path))

    def put_st(name: str, metadata: dict, tensors: dict | None = None) -> None:
        # checksummed like pynncore's own files, so the loader's later checks are reached
        put(name, ".pnc", _safetensors.save_bytes(tensors or {}, metadata, checksum=True))

    payload = pickle.dumps(_Payload(canary))
    for proto in (0, 2, 4, 5):
        put(f"pickle_protocol{proto}", ".keras", pickle.dumps(_Payload(canary), protocol=proto))
    put("pickle_as_safetensors", ".safetensors", payload)
    put("pickle_as_pnc", ".pnc", payload)
    put("pickle_after_valid_length", ".pnc", len(payload).to_bytes(8, "little") + payload)
    put("zip_like_keras_archive", ".keras", b"PK\x03\x04" + payload)
    put("torch_style_pickle", ".pt", b"\x80\x02" + payload)
    put("empty", ".pnc", b"")
    put("seven_bytes", ".pnc", b"\x01" * 7)
    put("header_len_2pow63", ".pnc", (2**63).to_bytes(8, "little") + b"{}")
    put("header_len_max", ".pnc", b"\xff" * 8 + b"{}")
    put("header_len_past_end", ".pnc", _st_file({}, length=10_000))
    put("header_len_99MB_claimed", ".pnc", _st_file({}, length=99_000_000))
    put("header_not_json", ".pnc", _st_file(None, raw_header=b"cos\nsystem\n(S'x'\ntR."))
    put("header_json_list", ".pnc", _st_file([1, 2, 3]))
    put("header_nan_shape", ".pnc", _st_file(None, raw_header=b'{"w":{"dtype":"F32","shape":[NaN],"data_offsets":[0,4]}}', data=b"\0" * 4))
    put("header_inf_offsets", ".pnc", _st_file(None, raw_header=b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,Infinity]}}', data=b"\0" * 4))
    put("header_huge_shape", ".pnc", _st_file({"w": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 4]}}, data=b"\0" * 4))
    put("header_negative_shape", ".pnc", _st_file({"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, data=b"\0" * 4))
    put("header_offsets_overlap", ".pnc", _st_file({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, data=b"\0" * 12))
    put("header_object_dtype", ".pnc", _st_file({"w": {"dtype": "O", "shape": [1], "data_offsets": [0, 8]}}, data=b"\0" * 8))
    deep = "[" * 100_000 + "]" * 100_000
    put("header_deeply_nested", ".pnc", _st_file(None, raw_header=('{"__metadata__":{"a":"b"},"x":' + deep + "}").encode()))
    put("header_duplicate_keys", ".pnc", _st_file(None, raw_header=b'{"__metadata__":{"format":"pynncore.model"},"__metadata__":{"format":"x"}}'))
    for cls in ("os.system", "builtins.eval", "builtins.exec", "subprocess.Popen", "posix.system", "__import__", "pickle.loads", "numpy.load"):
        spec = {"class_name": cls, "config": {"command": f"touch {canary}", "source": f"open({canary!r}, 'w')"}}
        put_st(f"class_{cls}", _model_meta(spec))
        put_st(f"nested_class_{cls}", _model_meta({"class_name": "Sequential", "config": {"name": "s", "layers": [spec]}}))
    put_st("activation_eval", _model_meta(_dense_spec(activation=f"__import__('os').system('touch {canary}')")))
    put_st("initializer_os_system", _model_meta(_dense_spec(kernel_initializer={"class_name": "os.system", "config": {"command": f"touch {canary}"}})))
    put_st("regularizer_builtins_eval", _model_meta(_dense_spec(kernel_regularizer={"class_name": "builtins.eval", "config": {"source": f"open({canary!r},'w')"}})))
    put_st("model_json_deeply_nested", _model_meta("[" * 200_000 + "]" * 200_000))
    depth = 3000
    nested = '{"class_name":"Sequential","config":{"name":"s","layers":[' * depth
    nested += '{"class_name":"Dense","config":{"units":1}}' + "]}}" * depth
    put_st("model_sequential_nested_3000", _model_meta(nested))
    put_st("model_nan_units", _model_meta('{"class_name":"Sequential","config":{"name":"s","layers":[{"class_name":"Dense","config":{"name":"d","units":NaN,"input_shape":[3]}}]}}'))
    put_st("model_nan_input_shape", _model_meta('{"class_name":"Sequential","config":{"name":"s","layers":[{"class_name":"Dense","config":{"name":"d","units":2,"input_shape":[NaN]}}]}}'))
    put_st("model_inf_input_shape", _model_meta('{"class_name":"Sequential","config":{"name":"s","layers":[{"class_name":"Dense","config":{"name":"d","units":2,"input_shape":[Infinity]}}]}}'))
    put_st("model_huge_units", _model_meta(_dense_spec(units=10**15)))
    put_st("model_negative_input_shape", _model_meta(_dense_spec(input_shape=[-5])))
    put_st("model_string_units", _model_meta(_dense_spec(units="os.system")))
    put_st("model_config_not_object", _model_meta({"class_name": "Sequential", "config": "import os"}))
    put_st("model_layers_not_list", _model_meta({"class_name": "Sequential", "config": {"name": "s", "layers": 5}}))
    put_st("model_class_name_list", _model_meta({"class_name": ["os", "system"], "config": {}}))
    put_st("model_not_json", _model_meta("cos\nsystem\n(S'touch x'\ntR."))
    put_st("model_missing", {"format": "pynncore.model", "format_version": "1"})
    put_st("wrong_format", {"format": "pt"})
    put("model_without_checksum", ".pnc", _safetensors.save_bytes({}, _model_meta(_dense_spec())))
    put_st("compile_os_system", _model_meta(_dense_spec(), {"compile": json.dumps({"optimizer": {"class_name": "os.system", "config": {}}, "loss": "mse"})}), {"weights/0000/d/kernel": np.zeros((3, 2), np.float32), "weights/0001/d/bias": np.zeros(2, np.float32)})
    put_st("compile_loss_eval", _model_meta(_dense_spec(), {"compile": json.dumps({"optimizer": "adam", "loss": {"class_name": "builtins.eval", "config": {}}})}), {"weights/0000/d/kernel": np.zeros((3, 2), np.float32), "weights/0001/d/bias": np.zeros(2, np.float32)})
    put_st("weights_wrong_shape", _model_meta(_dense_spec()), {"weights/0000/d/kernel": np.zeros((300, 2), np.float32), "weights/0001/d/bias": np.zeros(2, np.float32)})
    put_st("weights_missing", _model_meta(_dense_spec()), {"weights/0000/d/kernel": np.zeros((3, 2), np.float32)})
    return out


def load_hostile(path: str) -> str:
    """'clear' when loading `path` raised ValueError/TypeError (or loaded nothing dangerous)."""
    import pynncore

    try:
        pynncore.load_model(path)
    except CLEAR_ERRORS as exc:
        return "clear" if str(exc) else "empty message"
    except Exception as exc:  # noqa: BLE001
        return f"unclear {type(exc).__name__}: {str(exc)[:200]}"
    return "loaded"


# ---------------------------------------------------------------------------------------------
# Deterministic training


def deterministic_training_hash(threads: int, optimizer: Any = None, epochs: int = 2) -> str:
    """SHA-256 of the weights after training a fixed model on fixed data at `threads` threads.

    Sizes are chosen so every kernel runs threaded at 2 threads (GEMMs over 2 MFLOP,
    activations over 128k elements, optimizer arena and gradient norms over 64k elements).
    """
    import hashlib

    import pynncore
    from pynncore import layers, optimizers

    pynncore.set_num_threads(threads)
    pynncore.utils.set_random_seed(1234)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((768, 64)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 768)]
    model = pynncore.Sequential(
        [
            layers.Dense(512, activation="gelu", input_dim=64),
            layers.Dropout(0.1),
            layers.Dense(256, activation="tanh"),
            layers.Dense(10, activation="softmax"),
        ]
    )
    if optimizer is None:
        optimizer = optimizers.Adam(learning_rate=1e-3, global_clipnorm=0.5)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=256, verbose=0)
    h = hashlib.sha256()
    for w in model.get_weights():
        h.update(np.ascontiguousarray(w).tobytes())
    return h.hexdigest()
