"""Typed stub of the native extension module pynncore._core."""

from collections.abc import Sequence
from types import NotImplementedType

import numpy as np
import numpy.typing as npt

__version__: str
cuda_built: bool
openmp_enabled: bool
threading_backend: str

def get_num_threads() -> int: ...
def set_num_threads(n: int) -> None: ...
def get_cpu_path() -> str: ...
def set_cpu_path(name: str) -> None: ...
def cpu_paths_available() -> list[str]: ...
def gemm_kernel() -> str: ...
def release_cached_buffers() -> int: ...
def cached_buffer_bytes() -> int: ...
def empty_f32(shape: Sequence[int]) -> npt.NDArray[np.float32]: ...
def count_nonfinite(x: npt.NDArray[np.float32] | npt.NDArray[np.float64]) -> int: ...
def matmul(
    a: object,
    b: object,
    transpose_a: bool = False,
    transpose_b: bool = False,
    out: npt.NDArray[np.float32] | None = None,
    alpha: float = 1.0,
    beta: float = 0.0,
) -> npt.NDArray[np.float32] | NotImplementedType: ...
def fma_peak_gflops(num_threads: int, seconds: float = 0.2) -> float: ...

# --- activations ---

def activation_forward(
    name: str,
    x: npt.NDArray[np.float32],
    out: npt.NDArray[np.float32] | None = None,
    bias: npt.NDArray[np.float32] | None = None,
    alpha: float | None = None,
    approximate: bool = False,
) -> npt.NDArray[np.float32]: ...
def activation_backward(
    name: str,
    x: npt.NDArray[np.float32] | None,
    y: npt.NDArray[np.float32] | None,
    dy: npt.NDArray[np.float32],
    dx: npt.NDArray[np.float32] | None = None,
    alpha: float | None = None,
    approximate: bool = False,
) -> npt.NDArray[np.float32]: ...
def activation_backward_needs_x(name: str) -> bool: ...
def activation_names() -> list[str]: ...
def vector_math(
    name: str, x: npt.NDArray[np.float32], out: npt.NDArray[np.float32] | None = None
) -> npt.NDArray[np.float32]: ...

# --- losses and optimizer updates ---
def loss(
    name: str,
    y_true: npt.NDArray[np.float32] | npt.NDArray[np.int32] | npt.NDArray[np.int64],
    y_pred: npt.NDArray[np.float32],
    per_sample: npt.NDArray[np.float32],
    grad: npt.NDArray[np.float32] | None = None,
    row_scale: npt.NDArray[np.float32] | None = None,
    *,
    from_logits: bool = False,
    delta: float = 1.0,
    label_smoothing: float = 0.0,
) -> None: ...
def sgd_update(
    params: npt.NDArray[np.float32],
    grads: npt.NDArray[np.float32],
    momentum_buf: npt.NDArray[np.float32] | None = None,
    *,
    learning_rate: float = 0.01,
    momentum: float = 0.0,
    nesterov: bool = False,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None: ...
def rmsprop_update(
    params: npt.NDArray[np.float32],
    grads: npt.NDArray[np.float32],
    velocity: npt.NDArray[np.float32],
    momentum_buf: npt.NDArray[np.float32] | None = None,
    average_grad: npt.NDArray[np.float32] | None = None,
    *,
    learning_rate: float = 0.001,
    rho: float = 0.9,
    momentum: float = 0.0,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None: ...
def adagrad_update(
    params: npt.NDArray[np.float32],
    grads: npt.NDArray[np.float32],
    accumulator: npt.NDArray[np.float32],
    *,
    learning_rate: float = 0.001,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None: ...
def adadelta_update(
    params: npt.NDArray[np.float32],
    grads: npt.NDArray[np.float32],
    accum_grad: npt.NDArray[np.float32],
    accum_var: npt.NDArray[np.float32],
    *,
    learning_rate: float = 0.001,
    rho: float = 0.95,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None: ...
def adam_update(
    params: npt.NDArray[np.float32],
    grads: npt.NDArray[np.float32],
    m: npt.NDArray[np.float32],
    v: npt.NDArray[np.float32],
    vhat: npt.NDArray[np.float32] | None = None,
    *,
    step: int,
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None: ...
def adamax_update(
    params: npt.NDArray[np.float32],
    grads: npt.NDArray[np.float32],
    m: npt.NDArray[np.float32],
    u: npt.NDArray[np.float32],
    *,
    step: int,
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None: ...
def nadam_update(
    params: npt.NDArray[np.float32],
    grads: npt.NDArray[np.float32],
    m: npt.NDArray[np.float32],
    v: npt.NDArray[np.float32],
    *,
    step: int,
    u_product: float,
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> float: ...
def lion_update(
    params: npt.NDArray[np.float32],
    grads: npt.NDArray[np.float32],
    m: npt.NDArray[np.float32],
    *,
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.99,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None: ...
def lamb_update(
    params: npt.NDArray[np.float32],
    grads: npt.NDArray[np.float32],
    m: npt.NDArray[np.float32],
    v: npt.NDArray[np.float32],
    offsets: npt.NDArray[np.int64],
    sizes: npt.NDArray[np.int64],
    *,
    step: int,
    learning_rate: float = 0.001,
    beta_1: float = 0.9,
    beta_2: float = 0.999,
    epsilon: float = 1e-7,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> npt.NDArray[np.float64]: ...
def ftrl_update(
    params: npt.NDArray[np.float32],
    grads: npt.NDArray[np.float32],
    accumulator: npt.NDArray[np.float32],
    linear: npt.NDArray[np.float32],
    *,
    learning_rate: float = 0.001,
    learning_rate_power: float = -0.5,
    l1_regularization_strength: float = 0.0,
    l2_regularization_strength: float = 0.0,
    l2_shrinkage_regularization_strength: float = 0.0,
    beta: float = 0.0,
    weight_decay: float = 0.0,
    grad_scale: float = 1.0,
    clip_value: float = 0.0,
) -> None: ...
def sum_of_squares(x: npt.NDArray[np.float32]) -> float: ...
def segment_sum_of_squares(
    x: npt.NDArray[np.float32], offsets: npt.NDArray[np.int64]
) -> npt.NDArray[np.float64]: ...
def optim_kernel() -> str: ...

# -- deterministic mode and fork state ------------------------------------------------------
def get_deterministic() -> bool: ...
def set_deterministic(on: bool) -> None: ...
def forked_single_threaded() -> bool: ...

# -- Dense-chain inference ---------------------------------------------------------------------
def dense_chain_forward(
    x: npt.NDArray[np.float32],
    layers: Sequence[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None, str, float | None, bool]],
    out: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]: ...
def dense_chain_train_forward(
    x: npt.NDArray[np.float32],
    layers: Sequence[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None, str, float | None, bool]],
) -> tuple[list[npt.NDArray[np.float32]], list[npt.NDArray[np.float32] | None]]: ...
def dense_chain_train_backward(
    x: npt.NDArray[np.float32],
    layers: Sequence[tuple[npt.NDArray[np.float32], npt.NDArray[np.float32] | None, str, float | None, bool]],
    hs: Sequence[npt.NDArray[np.float32]],
    zs: Sequence[npt.NDArray[np.float32] | None],
    dy: npt.NDArray[np.float32],
    grads: Sequence[tuple[npt.NDArray[np.float32] | None, npt.NDArray[np.float32] | None]],
    accumulate: bool,
) -> None: ...

# --- convolutions -------------------------------------------------------------------------------
def conv2d_forward(
    x: npt.NDArray[np.float32],
    kernel: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32] | None,
    y: npt.NDArray[np.float32],
    strides: tuple[int, int],
    dilation: tuple[int, int],
    padding: tuple[int, int],
    activation: str = "linear",
    alpha: float | None = None,
    approximate: bool = False,
) -> None: ...
def conv2d_backward(
    x: npt.NDArray[np.float32] | None,
    kernel: npt.NDArray[np.float32] | None,
    dy: npt.NDArray[np.float32],
    dx: npt.NDArray[np.float32] | None,
    dkernel: npt.NDArray[np.float32] | None,
    dbias: npt.NDArray[np.float32] | None,
    strides: tuple[int, int],
    dilation: tuple[int, int],
    padding: tuple[int, int],
    accumulate: bool = False,
    bias_dx: npt.NDArray[np.float32] | None = None,
    activation: str = "linear",
    alpha: float | None = None,
    approximate: bool = False,
) -> None: ...
def set_conv_winograd(enabled: bool) -> bool: ...
def set_conv_shifted_weights(enabled: bool) -> bool: ...

# --- pooling (NHWC) and batch normalization (channels last) ---

def pool2d_forward(
    mode: str,
    x: npt.NDArray[np.float32],
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    padding: str,
    out: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]: ...
def pool2d_backward(
    mode: str,
    dy: npt.NDArray[np.float32],
    x_shape: tuple[int, int, int, int] | list[int],
    kh: int,
    kw: int,
    sh: int,
    sw: int,
    padding: str,
    x: npt.NDArray[np.float32] | None = None,
    y: npt.NDArray[np.float32] | None = None,
    dx: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]: ...
def pool_output_size(size: int, pool: int, stride: int, padding: str) -> list[int]: ...
def batch_norm_forward_train(
    x: npt.NDArray[np.float32],
    gamma: npt.NDArray[np.float32] | None,
    beta: npt.NDArray[np.float32] | None,
    epsilon: float,
    out: npt.NDArray[np.float32] | None = None,
) -> tuple[
    npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[np.float32]
]: ...
def batch_norm_forward_infer(
    x: npt.NDArray[np.float32],
    mean: npt.NDArray[np.float32],
    variance: npt.NDArray[np.float32],
    gamma: npt.NDArray[np.float32] | None,
    beta: npt.NDArray[np.float32] | None,
    epsilon: float,
    out: npt.NDArray[np.float32] | None = None,
) -> npt.NDArray[np.float32]: ...
def batch_norm_backward(
    x: npt.NDArray[np.float32],
    dy: npt.NDArray[np.float32],
    mean: npt.NDArray[np.float32],
    inv_std: npt.NDArray[np.float32],
    gamma: npt.NDArray[np.float32] | None,
    dx: npt.NDArray[np.float32] | None = None,
    need_dx: bool = True,
) -> tuple[npt.NDArray[np.float32] | None, npt.NDArray[np.float32], npt.NDArray[np.float32]]: ...

# -- recurrent layers (cell 0 simple, 1 lstm, 2 gru) -----------------------------------------------
def rnn_forward(
    cell: int,
    activation: str,
    activation_alpha: float | None,
    recurrent_activation: str,
    recurrent_activation_alpha: float | None,
    reset_after: bool,
    x: npt.NDArray[np.float32],
    kernel: npt.NDArray[np.float32],
    recurrent_kernel: npt.NDArray[np.float32],
    bias: npt.NDArray[np.float32] | None,
    h0: npt.NDArray[np.float32] | None,
    c0: npt.NDArray[np.float32] | None,
    mask: npt.NDArray[np.bool_] | npt.NDArray[np.uint8] | None,
    rec_mask: npt.NDArray[np.float32] | None,
    return_sequences: bool,
    training: bool,
    num_threads: int = 0,
) -> tuple[npt.NDArray[np.float32] | None, ...]: ...
def rnn_backward(
    cell: int,
    activation: str,
    activation_alpha: float | None,
    recurrent_activation: str,
    recurrent_activation_alpha: float | None,
    reset_after: bool,
    x: npt.NDArray[np.float32],
    kernel: npt.NDArray[np.float32],
    recurrent_kernel: npt.NDArray[np.float32],
    mask: npt.NDArray[np.bool_] | npt.NDArray[np.uint8] | None,
    rec_mask: npt.NDArray[np.float32] | None,
    saved: npt.NDArray[np.float32],
    h_prev: npt.NDArray[np.float32],
    c_prev: npt.NDArray[np.float32] | None,
    dy: npt.NDArray[np.float32] | None,
    return_sequences: bool,
    dh: npt.NDArray[np.float32] | None,
    dc: npt.NDArray[np.float32] | None,
    dkernel: npt.NDArray[np.float32],
    drecurrent_kernel: npt.NDArray[np.float32],
    dbias: npt.NDArray[np.float32] | None,
    need_dx: bool,
    num_threads: int = 0,
) -> tuple[npt.NDArray[np.float32] | None, ...]: ...

# -- Embedding -----------------------------------------------------------------------------------
def embedding_lookup(
    table: npt.NDArray[np.float32],
    ids: npt.NDArray[np.float32] | npt.NDArray[np.int32] | npt.NDArray[np.int64],
    out: npt.NDArray[np.float32],
) -> int: ...
def embedding_grad(
    grad: npt.NDArray[np.float32],
    ids: npt.NDArray[np.float32] | npt.NDArray[np.int32] | npt.NDArray[np.int64],
    dy: npt.NDArray[np.float32],
) -> int: ...

