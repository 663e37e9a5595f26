"""Fused optimizer updates (pynncore.ops.*_update, _core) against Keras 3's update rules.

`ref_step` below restates each Keras 3 optimizer's `update_step` (keras/src/optimizers/*.py),
with the base optimizer's value clipping and decoupled weight decay, in float64 numpy. Every
test runs several consecutive steps from the same float32 starting state: the kernel carries
its float32 state, the reference its float64 state, and both are compared after every step.

Tolerances. A step rounds each state element a few times (u = 6e-8 each); over three steps
the float32 state drifts from the float64 one by a few ulps. State slots are compared with
rtol 2e-5 plus 2e-6 of the slot's largest magnitude (for elements near 0). Parameters are
compared more strictly, relative to how far they moved: 8 ulps of |p| (one rounding per
step, with margin) plus 1e-5 of the largest accumulated update. An update that is wrong by
more than a part in 1e5 therefore fails, however small the learning rate; every test also
checks that the parameters moved by far more than their rounding, so a kernel that skipped
the update could not pass.

PyTorch's optimizers follow the same rules once epsilon placement is made equal (PyTorch
adds epsilon after the bias correction or outside the square root where Keras does not):
those comparisons run with epsilon = 0, or with the same placement (Adadelta, NAdam with
momentum_decay = 1, which is Keras 3's 0.96**t schedule).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pytest

from pynncore import _core, ops

F32 = np.float32
SIZES = [0, 1, 7, 100003]  # 100003 elements run on two threads when the fixture asks for it
STEPS = 3
RTOL, ATOL_REL = 2e-5, 2e-6  # state slots
P_ULPS, P_UPDATE_REL = 8, 1e-5  # parameters
EPS32 = float(np.finfo(F32).eps)

# Keras 3 defaults (keras/src/optimizers/*.py).
KERAS_DEFAULTS = {
    "sgd": {"learning_rate": 0.01, "momentum": 0.0, "nesterov": False},
    "rmsprop": {"learning_rate": 0.001, "rho": 0.9, "momentum": 0.0, "epsilon": 1e-7},
    "adagrad": {"learning_rate": 0.001, "epsilon": 1e-7},
    "adadelta": {"learning_rate": 0.001, "rho": 0.95, "epsilon": 1e-7},
    "adam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "adamw": {
        "learning_rate": 0.001,
        "weight_decay": 0.004,
        "beta_1": 0.9,
        "beta_2": 0.999,
        "epsilon": 1e-7,
    },
    "adamax": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
    "nadam": {"learning_rate": 0.001, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-7},
}

# Slots whose values are non-negative (second moments, accumulators, norms).
POSITIVE_SLOTS = {"velocity", "accumulator", "accum_grad", "accum_var", "v", "vhat", "u"}
STEP_OPTIMIZERS = {"adam", "adamw", "adamax", "nadam"}


def ref_step(opt: str, p, g, s: dict, t: int, hp: dict, u_product: float = 1.0) -> float:
    """One Keras 3 step in float64: p and the slot arrays in `s` are updated in place.

    Returns the new Nadam momentum-cache product (u_product unchanged for the others).
    """
    d = {**KERAS_DEFAULTS[opt], **hp}
    lr = d["learning_rate"]
    g = g * d.get("grad_scale", 1.0)
    cv = d.get("clip_value", 0.0)
    if 0 < cv < math.inf:
        g = np.clip(g, -cv, cv)
    p -= p * d.get("weight_decay", 0.0) * lr
    eps = d.get("epsilon")
    if opt == "sgd":
        if "momentum_buf" in s:
            m = s["momentum_buf"]
            m[:] = d["momentum"] * m - lr * g
            p += d["momentum"] * m - lr * g if d["nesterov"] else m
        else:
            p -= lr * g
    elif opt == "rmsprop":
        rho, v = d["rho"], s["velocity"]
        v[:] = rho * v + (1 - rho) * g * g
        if "average_grad" in s:
            a = s["average_grad"]
            a[:] = rho * a + (1 - rho) * g
            denominator = v - a * a + eps
        else:
            denominator = v + eps
        increment = lr * g / np.sqrt(denominator)
        if "momentum_buf" in s:
            b = s["momentum_buf"]
            b[:] = d["momentum"] * b + increment
            p -= b
        else:
            p -= increment
    elif opt == "adagrad":
        acc = s["accumulator"]
        acc += g * g
        p -= lr * g / np.sqrt(acc + eps)
    elif opt == "adadelta":
        rho, ag, ax = d["rho"], s["accum_grad"], s["accum_var"]
        ag[:] = rho * ag + (1 - rho) * g * g
        delta = -np.sqrt(ax + eps) * g / np.sqrt(ag + eps)
        ax[:] = rho * ax + (1 - rho) * delta * delta
        p += lr * delta
    elif opt in ("adam", "adamw"):
        b1, b2, m, v = d["beta_1"], d["beta_2"], s["m"], s["v"]
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        m += (g - m) * (1 - b1)
        v += (g * g - v) * (1 - b2)
        if "vhat" in s:
            s["vhat"][:] = np.maximum(s["vhat"], v)
            v = s["vhat"]
        p -= m * alpha / (np.sqrt(v) + eps)
    elif opt == "adamax":
        b1, b2, m, u = d["beta_1"], d["beta_2"], s["m"], s["u"]
        m += (g - m) * (1 - b1)
        u[:] = np.maximum(b2 * u, np.abs(g))
        p -= lr * m / ((1 - b1**t) * (u + eps))
    elif opt == "nadam":
        b1, b2, m, v = d["beta_1"], d["beta_2"], s["m"], s["v"]
        u_t = b1 * (1 - 0.5 * 0.96**t)
        u_next = b1 * (1 - 0.5 * 0.96 ** (t + 1))
        prod_t = u_product * u_t
        prod_next = prod_t * u_next
        m += (g - m) * (1 - b1)
        v += (g * g - v) * (1 - b2)
        m_hat = u_next * m / (1 - prod_next) + (1 - u_t) * g / (1 - prod_t)
        v_hat = v / (1 - b2**t)
        p -= m_hat * lr / (np.sqrt(v_hat) + eps)
        return prod_t
    else:
        raise ValueError(opt)
    return u_product


@dataclass
class Variant:
    id: str
    opt: str
    slots: tuple
    hp: dict = field(default_factory=dict)


VARIANTS = [
    Variant("sgd-defaults", "sgd", ()),
    Variant("sgd-momentum", "sgd", ("momentum_buf",), {"learning_rate": 0.1, "momentum": 0.9}),
    Variant(
        "sgd-nesterov",
        "sgd",
        ("momentum_buf",),
        {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
    ),
    Variant(
        "sgd-weight-decay",
        "sgd",
        ("momentum_buf",),
        {"learning_rate": 0.05, "momentum": 0.5, "weight_decay": 0.1},
    ),
    Variant("rmsprop-defaults", "rmsprop", ("velocity",)),
    Variant(
        "rmsprop-momentum",
        "rmsprop",
        ("velocity", "momentum_buf"),
        {"learning_rate": 0.01, "momentum": 0.9, "rho": 0.8},
    ),
    Variant("rmsprop-centered", "rmsprop", ("velocity", "average_grad"), {"learning_rate": 0.01}),
    Variant(
        "rmsprop-centered-momentum-wd",
        "rmsprop",
        ("velocity", "momentum_buf", "average_grad"),
        {"learning_rate": 0.01, "momentum": 0.5, "epsilon": 1e-4, "weight_decay": 0.05},
    ),
    Variant("adagrad-defaults", "adagrad", ("accumulator",)),
    Variant("adagrad", "adagrad", ("accumulator",), {"learning_rate": 0.1, "epsilon": 1e-3}),
    Variant("adadelta-defaults", "adadelta", ("accum_grad", "accum_var")),
    Variant(
        "adadelta", "adadelta", ("accum_grad", "accum_var"), {"learning_rate": 1.0, "rho": 0.9}
    ),
    Variant("adam-defaults", "adam", ("m", "v")),
    Variant(
        "adam",
        "adam",
        ("m", "v"),
        {"learning_rate": 0.01, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3},
    ),
    Variant("adam-amsgrad", "adam", ("m", "v", "vhat"), {"learning_rate": 0.01}),
    Variant("adamw-defaults", "adamw", ("m", "v")),
    Variant(
        "adamw-amsgrad", "adamw", ("m", "v", "vhat"), {"learning_rate": 0.01, "weight_decay": 0.1}
    ),
    Variant("adamax-defaults", "adamax", ("m", "u")),
    Variant("adamax", "adamax", ("m", "u"), {"learning_rate": 0.01, "beta_2": 0.9}),
    Variant("nadam-defaults", "nadam", ("m", "v")),
    Variant(
        "nadam", "nadam", ("m", "v"), {"learning_rate": 0.01, "beta_1": 0.85, "weight_decay": 0.01}
    ),
]

TRANSFORMS = [
    pytest.param({}, id="no-transform"),
    pytest.param({"grad_scale": 0.5, "clip_value": 0.3}, id="scale-and-clip"),
]


def init_slots(variant: Variant, n: int, rng) -> dict:
    """Random float32 starting state (second moments positive), as Keras state after a while."""
    slots = {}
    for name in variant.slots:
        if name in POSITIVE_SLOTS:
            slots[name] = rng.uniform(0.5, 1.0, n).astype(F32)
        else:  # |average_grad|^2 < velocity, as a running mean and mean square always are
            slots[name] = rng.uniform(-0.3, 0.3, n).astype(F32)
    return slots


def init_params(n: int, rng) -> np.ndarray:
    """Weights of a typical layer's magnitude."""
    return (0.1 * rng.standard_normal(n)).astype(F32)


def call_update(variant: Variant, p, g, slots: dict, t: int, hp: dict, u_product: float):
    fn = getattr(ops, f"{variant.opt}_update")
    kwargs = dict(hp)
    if variant.opt in STEP_OPTIMIZERS:
        kwargs["step"] = t
    if variant.opt == "nadam":
        kwargs["u_product"] = u_product
    return fn(p, g, **slots, **kwargs)


def assert_close(got, ref, what: str, tol=None) -> None:
    """Checks got (float32) against ref (float64) elementwise within `tol`.

    The default tolerance is the one for state slots: RTOL * |ref| + ATOL_REL * max|ref|.
    """
    assert got.dtype == F32 and got.shape == ref.shape, what
    if ref.size == 0:
        return
    if tol is None:
        tol = ATOL_REL * max(1.0, float(np.abs(ref).max())) + RTOL * np.abs(ref)
    tol = np.broadcast_to(tol, ref.shape)
    err = np.abs(got.astype(np.float64) - ref)
    bad = ~(err <= tol)
    if bad.any():
        i = np.unravel_index(int(np.argmax(np.where(bad, err / tol, 0) + bad)), ref.shape)
        raise AssertionError(
            f"{what}: {int(bad.sum())} of {ref.size} elements out of tolerance; worst at"
            f" {tuple(int(k) for k in i)}: got {got[i]!r}, reference {ref[i]!r},"
            f" tolerance {tol[i]:.3g}"
        )


def assert_params_close(got, ref, start, what: str) -> None:
    """Parameters: P_ULPS ulps of |p| plus P_UPDATE_REL of the largest accumulated update."""
    if ref.size == 0:
        return assert_close(got, ref, what)
    moved = float(np.abs(ref - start).max())
    tol = P_ULPS * EPS32 * np.abs(ref) + P_UPDATE_REL * moved + 1e-30
    assert_close(got, ref, what, tol)


# Every variant without a gradient transform; the variants with explicit hyper-parameters
# also with one (the defaults variants pin Keras's default values, which the transform does
# not interact with).
RULE_CASES = [
    pytest.param(v, t.values[0], id=f"{v.id}-{t.id}")
    for v in VARIANTS
    for t in TRANSFORMS
    if t.id == "no-transform" or not v.id.endswith("-defaults")
]


@pytest.mark.parametrize("variant, transform", RULE_CASES)
def test_update_matches_keras_rule(variant, transform, cpu_path, num_threads, rng):
    assert _core.optim_kernel() == cpu_path
    hp = {**variant.hp, **transform}
    for n in SIZES:
        p = init_params(n, rng)
        slots = init_slots(variant, n, rng)
        p_ref = p.astype(np.float64)
        slots_ref = {k: v.astype(np.float64) for k, v in slots.items()}
        p_start = p_ref.copy()
        u, u_ref = 1.0, 1.0
        for t in range(1, STEPS + 1):
            g = rng.standard_normal(n, dtype=F32)
            ret = call_update(variant, p, g, slots, t, hp, u)
            u_ref = ref_step(variant.opt, p_ref, g.astype(np.float64), slots_ref, t, hp, u_ref)
            if variant.opt == "nadam":
                assert ret == pytest.approx(u_ref, rel=1e-12)
                u = ret
            else:
                assert ret is None
            what = f"{variant.id} n={n} step {t}"
            assert_params_close(p, p_ref, p_start, what + " params")
            if n < SIZES[-1] or t == STEPS:  # the large size: slots after the last step
                for k in slots:
                    assert_close(slots[k], slots_ref[k], f"{what} {k}")
        if n == SIZES[-1]:  # one element may legitimately return to its start; 1e5 cannot
            moved = np.abs(p_ref - p_start).max()
            rounding = P_ULPS * EPS32 * np.abs(p_ref).max()
            assert moved > 100 * rounding, f"{variant.id}: update too small to test ({moved})"


@pytest.mark.parametrize(
    "variant", [v for v in VARIANTS if v.opt in STEP_OPTIMIZERS], ids=lambda v: v.id
)
def test_late_steps_use_step_dependent_factors(variant, rng):
    # Bias corrections and the Nadam schedule at t = 1000 and t = 10**7 (b^t underflows to 0).
    for t, u_product in ((1000, 0.9**999 * 0.5), (10**7, 1e-300)):
        n = 33
        p = init_params(n, rng)
        slots = init_slots(variant, n, rng)
        g = rng.standard_normal(n).astype(F32)
        p_ref = p.astype(np.float64)
        slots_ref = {k: v.astype(np.float64) for k, v in slots.items()}
        ret = call_update(variant, p, g, slots, t, variant.hp, u_product)
        p_start = p_ref.copy()
        ref = ref_step(
            variant.opt, p_ref, g.astype(np.float64), slots_ref, t, variant.hp, u_product
        )
        assert_params_close(p, p_ref, p_start, f"{variant.id} t={t}")
        if variant.opt == "nadam":
            assert ret == pytest.approx(ref, rel=1e-12)


def test_keras_first_adam_step_by_hand():
    # Step 1 from zero state: m = 0.1 g, v = 0.001 g^2, alpha = lr sqrt(0.001) / 0.1,
    # so p -= lr * sqrt(0.001) / 0.1 * 0.1 g / (sqrt(0.001) |g| + 1e-7) ~ lr * sign(g).
    p = np.array([1.0, -2.0, 0.5], F32)
    g = np.array([0.5, -4.0, 0.0], F32)
    m, v = np.zeros(3, F32), np.zeros(3, F32)
    ops.adam_update(p, g, m, v, step=1, learning_rate=0.1)
    expected = [
        1.0 - 0.1 * 0.5 * math.sqrt(1e-3) / (math.sqrt(1e-3) * 0.5 + 1e-7),
        -2.0 + 0.1 * 4.0 * math.sqrt(1e-3) / (math.sqrt(1e-3) * 4.0 + 1e-7),
        0.5,
    ]
    np.testing.assert_allclose(p, expected, rtol=1e-6)
    np.testing.assert_allclose(m, [0.05, -0.4, 0.0], rtol=1e-6)
    np.testing.assert_allclose(v, [0.00025, 0.016, 0.0], rtol=1e-5)


def test_nadam_schedule_is_keras3():
    # u_t = 0.9 * (1 - 0.5 * 0.96**t): Keras 3 uses the step itself as the exponent.
    p, m, v = np.zeros(4, F32), np.zeros(4, F32), np.zeros(4, F32)
    u = 1.0
    expected = 1.0
    for t in range(1, 6):
        u = ops.nadam_update(p, np.ones(4), m, v, step=t, u_product=u)
        expected *= 0.9 * (1 - 0.5 * 0.96**t)
        assert u == pytest.approx(expected, rel=1e-14)


def test_gradient_transform_semantics():
    # clip(g * scale): +-inf clipped to the bound, NaN kept (it poisons only its own element).
    p = np.zeros(5, F32)
    g = np.array([np.inf, -np.inf, 0.2, -3.0, np.nan], F32)
    ops.sgd_update(p, g, learning_rate=1.0, grad_scale=2.0, clip_value=1.0)
    np.testing.assert_array_equal(p[:4], np.array([-1.0, 1.0, -0.4, 1.0], F32))
    assert np.isnan(p[4])
    # clip_value <= 0 and inf mean no clipping
    for cv in (0.0, -1.0, math.inf):
        p = np.zeros(2, F32)
        ops.sgd_update(p, [5.0, -7.0], learning_rate=1.0, clip_value=cv)
        np.testing.assert_array_equal(p, [-5.0, 7.0])


def test_any_shape_and_views_of_one_arena(rng):
    # params (16, 8) with flat slots of the same size; slots as disjoint views of one arena.
    arena = np.zeros(3 * 128, F32)
    m, v = arena[:128], arena[128:256]
    p = rng.standard_normal((16, 8)).astype(F32)
    g = rng.standard_normal((16, 8)).astype(F32)
    p_ref = p.astype(np.float64).reshape(-1)
    p_start = p_ref.copy()
    s_ref = {"m": np.zeros(128), "v": np.zeros(128)}
    ops.adam_update(p, g, m, v, step=1, learning_rate=0.01)
    ref_step("adam", p_ref, g.astype(np.float64).reshape(-1), s_ref, 1, {"learning_rate": 0.01})
    assert_params_close(p.reshape(-1), p_ref, p_start, "params")
    assert_close(m, s_ref["m"], "m")
    assert (arena[256:] == 0).all()


# ---------------------------------------------------------------------------------------------
# torch.optim where its rule is Keras's
# ---------------------------------------------------------------------------------------------


TORCH_CASES = [
    # (id, torch class name, torch kwargs, pynncore update, pynncore slots, pynncore kwargs)
    ("sgd", "SGD", {"lr": 0.1}, "sgd", (), {"learning_rate": 0.1}),
    (
        "sgd-momentum",
        "SGD",
        {"lr": 0.1, "momentum": 0.9},
        "sgd",
        ("momentum_buf",),
        {"learning_rate": 0.1, "momentum": 0.9},
    ),
    (
        "sgd-nesterov",
        "SGD",
        {"lr": 0.1, "momentum": 0.9, "nesterov": True},
        "sgd",
        ("momentum_buf",),
        {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True},
    ),
    (
        "rmsprop",
        "RMSprop",
        {"lr": 0.01, "alpha": 0.9, "eps": 0.0},
        "rmsprop",
        ("velocity",),
        {"learning_rate": 0.01, "epsilon": 0.0},
    ),
    (
        "rmsprop-centered-momentum",
        "RMSprop",
        {"lr": 0.01, "alpha": 0.9, "eps": 0.0, "momentum": 0.9, "centered": True},
        "rmsprop",
        ("velocity", "momentum_buf", "average_grad"),
        {"learning_rate": 0.01, "epsilon": 0.0, "momentum": 0.9},
    ),
    (
        "adagrad",
        "Adagrad",
        {"lr": 0.1, "initial_accumulator_value": 0.1, "eps": 0.0},
        "adagrad",
        ("accumulator",),
        {"learning_rate": 0.1, "epsilon": 0.0},
    ),
    (
        "adadelta",
        "Adadelta",
        {"lr": 1.0, "rho": 0.95, "eps": 1e-7},
        "adadelta",
        ("accum_grad", "accum_var"),
        {"learning_rate": 1.0},
    ),
    (
        "adam",
        "Adam",
        {"lr": 0.01, "eps": 0.0},
        "adam",
        ("m", "v"),
        {"learning_rate": 0.01, "epsilon": 0.0},
    ),
    (
        "adam-amsgrad",
        "Adam",
        {"lr": 0.01, "eps": 0.0, "amsgrad": True},
        "adam",
        ("m", "v", "vhat"),
        {"learning_rate": 0.01, "epsilon": 0.0},
    ),
    (
        "adamw",
        "AdamW",
        {"lr": 0.01, "eps": 0.0, "weight_decay": 0.1},
        "adamw",
        ("m", "v"),
        {"learning_rate": 0.01, "epsilon": 0.0, "weight_decay": 0.1},
    ),
    (
        "adamax",
        "Adamax",
        {"lr": 0.01, "eps": 0.0},
        "adamax",
        ("m", "u"),
        {"learning_rate": 0.01, "epsilon": 0.0},
    ),
    (
        "nadam",
        "NAdam",
        {"lr": 0.01, "eps": 1e-7, "momentum_decay": 1.0},
        "nadam",
        ("m", "v"),
        {"learning_rate": 0.01},
    ),
]


@pytest.mark.parametrize("case", TORCH_CASES, ids=lambda c: c[0])
def test_matches_torch_optim(case, rng):
    torch = pytest.importorskip("torch")
    _, cls, tkw, opt, slot_names, kw = case
    n = 1003
    p = rng.standard_normal(n).astype(F32)
    tp = torch.nn.Parameter(torch.from_numpy(p.copy()))
    topt = getattr(torch.optim, cls)([tp], foreach=False, **tkw)
    slots = {name: np.zeros(n, F32) for name in slot_names}
    if opt == "adagrad":
        slots["accumulator"][:] = 0.1  # Keras's initial_accumulator_value
    variant = Variant(opt, opt, slot_names, kw)
    u = 1.0
    for t in range(1, 6):
        g = rng.standard_normal(n).astype(F32)
        tp.grad = torch.from_numpy(g.copy())
        topt.step()
        ret = call_update(variant, p, g, slots, t, kw, u)
        if opt == "nadam":
            u = ret
        np.testing.assert_allclose(
            p, tp.detach().numpy(), rtol=1e-5, atol=1e-6, err_msg=f"{case[0]} step {t}"
        )
    assert np.abs(p - tp.detach().numpy()).max() < 1e-4 * np.abs(p).max()


# ---------------------------------------------------------------------------------------------
# sum of squares
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", SIZES + [65535, 65536, 1 << 20])
def test_sum_of_squares(n, cpu_path, num_threads, rng):
    x = rng.standard_normal(n).astype(F32)
    ref = math.fsum((x.astype(np.float64) ** 2).tolist())
    assert ops.sum_of_squares(x) == pytest.approx(ref, rel=1e-12, abs=0.0)
    assert _core.sum_of_squares(x) == ops.sum_of_squares(x)


def test_sum_of_squares_accumulates_in_double():
    x = np.full(1000, 1e20, F32)  # x**2 overflows float32
    assert ops.sum_of_squares(x) == pytest.approx(1000 * float(F32(1e20)) ** 2, rel=1e-12)
    x = np.concatenate([[1e4], np.ones(100000)]).astype(F32)  # float32 would drop the ones
    assert ops.sum_of_squares(x) == 1e8 + 100000
    assert ops.sum_of_squares(np.ones((3, 4), F32)) == 12.0
    assert ops.sum_of_squares([3.0, 4.0]) == 25.0


@pytest.mark.parametrize("n", [0, 7, 100003])
def test_segment_sum_of_squares(n, cpu_path, num_threads, rng):
    x = rng.standard_normal(n).astype(F32)
    cuts = np.sort(rng.integers(0, n + 1, 6))
    offsets = np.concatenate([cuts[:2], cuts[1:2], cuts[2:]])  # with an empty segment
    got = ops.segment_sum_of_squares(x, offsets)
    assert got.dtype == np.float64 and got.shape == (len(offsets) - 1,)
    x64 = x.astype(np.float64)
    ref = [float((x64[a:b] ** 2).sum()) for a, b in zip(offsets[:-1], offsets[1:])]
    np.testing.assert_allclose(got, ref, rtol=1e-12, atol=0)
    assert ops.segment_sum_of_squares(x, [0]).shape == (0,)


# ---------------------------------------------------------------------------------------------
# errors: every one raised before anything is written
# ---------------------------------------------------------------------------------------------


def _adam_arrays(n=8):
    return [np.ones(n, F32), np.ones(n, F32), np.zeros(n, F32), np.zeros(n, F32)]


def test_array_type_errors():
    p, g, m, v = _adam_arrays()
    with pytest.raises(
        TypeError,
        match="params must be a numpy.ndarray of dtype float32; got an object of type list",
    ):
        ops.adam_update([1.0] * 8, g, m, v, step=1)
    with pytest.raises(
        TypeError, match="adam_update: m must have dtype float32; got dtype float64"
    ):
        ops.adam_update(p, g, np.zeros(8), v, step=1)
    with pytest.raises(TypeError, match="vhat must have dtype float32; got dtype int32"):
        ops.adam_update(p, g, m, v, np.zeros(8, np.int32), step=1)
    with pytest.raises(TypeError, match="grads must have dtype float32; got dtype float64"):
        _core.adam_update(p, g.astype(np.float64), m, v, step=1)
    with pytest.raises(TypeError, match="grads must be a real numeric array"):
        ops.sgd_update(p, np.ones(8, complex))
    with pytest.raises(TypeError, match="x must be a real numeric array"):
        ops.sum_of_squares(["a"])
    with pytest.raises(TypeError, match="offsets must be integers"):
        ops.segment_sum_of_squares(p, [0.0, 1.0])
    with pytest.raises(TypeError, match="offsets must have dtype int64; got dtype int32"):
        _core.segment_sum_of_squares(p, np.array([0, 1], np.int32))
    assert (p == 1).all() and (m == 0).all()


def test_array_layout_errors():
    p, g, m, v = _adam_arrays()
    with pytest.raises(
        ValueError,
        match=r"v must have as many elements as params \(8, shape \(8,\)\); got 7 \(shape \(7,\)\)",
    ):
        ops.adam_update(p, g, m, np.zeros(7, F32), step=1)
    with pytest.raises(ValueError, match="grads must have as many elements as params"):
        ops.adam_update(p, np.ones(9), m, v, step=1)
    with pytest.raises(
        ValueError, match=r"params must be C-contiguous \(it is updated in place, never copied\)"
    ):
        ops.adam_update(np.ones(16, F32)[::2], g, m, v, step=1)
    ro = np.zeros(8, F32)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="m is read-only"):
        ops.adam_update(p, g, ro, v, step=1)
    with pytest.raises(ValueError, match="v shares memory with m"):
        ops.adam_update(p, g, m, m, step=1)
    arena = np.zeros(12, F32)
    with pytest.raises(ValueError, match="v shares memory with m"):
        ops.adam_update(p, g, arena[:8], arena[4:], step=1)
    with pytest.raises(ValueError, match="momentum_buf shares memory with params"):
        ops.sgd_update(p, g, p, momentum=0.9)
    with pytest.raises(ValueError, match="offsets must be 1-D with at least one entry"):
        _core.segment_sum_of_squares(p, np.zeros((0,), np.int64))
    assert (p == 1).all() and (arena == 0).all()


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda a: ops.adam_update(*a, step=0), "adam_update: step must be >= 1"),
        (lambda a: ops.adamax_update(*a, step=-3), "adamax_update: step must be >= 1.*got -3"),
        (lambda a: ops.nadam_update(*a, step=0, u_product=1.0), "step must be >= 1"),
        (lambda a: ops.nadam_update(*a, step=1, u_product=math.nan), "u_product must be a finite"),
        (
            lambda a: ops.adam_update(*a, step=1, learning_rate=math.nan),
            "learning_rate must be a finite number; got nan",
        ),
        (lambda a: ops.adam_update(*a, step=1, beta_1=1.5), r"beta_1 must be in \[0, 1\]; got 1.5"),
        (lambda a: ops.adam_update(*a, step=1, beta_2=-0.1), r"beta_2 must be in \[0, 1\]"),
        (
            lambda a: ops.adam_update(*a, step=1, epsilon=math.inf),
            "epsilon must be a finite number",
        ),
        (lambda a: ops.adam_update(*a, step=1, grad_scale=math.inf), "grad_scale must be a finite"),
        (lambda a: ops.adam_update(*a, step=1, clip_value=math.nan), "clip_value must not be NaN"),
        (
            lambda a: ops.adam_update(*a, step=1, weight_decay=math.nan),
            "weight_decay must be a finite",
        ),
        (
            lambda a: ops.sgd_update(a[0], a[1], a[2], momentum=1.5),
            r"sgd_update: momentum must be in \[0, 1\]",
        ),
        (
            lambda a: ops.sgd_update(a[0], a[1], momentum=0.9),
            "momentum=0.9 needs a momentum buffer; got none",
        ),
        (
            lambda a: ops.rmsprop_update(a[0], a[1], a[2], momentum=0.5),
            "rmsprop_update: momentum=0.5 needs a momentum buffer",
        ),
        (
            lambda a: ops.rmsprop_update(a[0], a[1], a[2], a[3], momentum=-0.5),
            "momentum must be >= 0",
        ),
        (lambda a: ops.rmsprop_update(a[0], a[1], a[2], rho=2.0), r"rho must be in \[0, 1\]"),
        (lambda a: ops.adadelta_update(*a, rho=-1.0), r"adadelta_update: rho must be in \[0, 1\]"),
        (
            lambda a: ops.adagrad_update(a[0], a[1], a[2], epsilon=math.nan),
            "adagrad_update: epsilon must be a finite",
        ),
        (
            lambda a: ops.segment_sum_of_squares(a[0], [0, 5, 3]),
            r"offsets must be non-decreasing; got offsets\[1\]=5 > offsets\[2\]=3",
        ),
        (lambda a: ops.segment_sum_of_squares(a[0], [0, 9]), r"offsets\[1\]=9 is outside \[0, 8\]"),
    ],
)
def test_hyper_parameter_errors_leave_state_untouched(call, match):
    arrays = _adam_arrays()
    before = [a.copy() for a in arrays]
    with pytest.raises(ValueError, match=match):
        call(arrays)
    for a, b in zip(arrays, before):
        np.testing.assert_array_equal(a, b)


def test_step_and_bool_arguments_are_typed():
    p, g, m, v = _adam_arrays()
    with pytest.raises(TypeError):
        ops.adam_update(p, g, m, v, step=1.5)
    with pytest.raises(TypeError):
        ops.adam_update(p, g, m, v)  # step is required
    with pytest.raises(TypeError):
        ops.nadam_update(p, g, m, v, step=1)  # u_product is required
