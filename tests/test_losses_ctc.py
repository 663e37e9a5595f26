"""CTC loss and decoding: a brute-force float64 reference over every alignment, PyTorch's
ctc_loss, Keras 3's CTC, ctc_loss and ctc_decode, finite-difference gradients, training of a
recurrent model with fit, configs, save/load and bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import pynncore
from pynncore import layers, losses, ops
from _gradcheck import assert_grad_close, numeric_grad


# float64 references ---------------------------------------------------------------------------


def log_softmax64(z):
    z = np.asarray(z, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def collapse(path, blank, merge=True):
    """The label sequence an alignment stands for: repeats merged, blanks dropped."""
    out, prev = [], None
    for k in path:
        if k != blank and (k != prev or not merge):
            out.append(k)
        prev = k
    return tuple(out)


def sequence_log_probs(logits, length, blank):
    """log p(sequence) of every label sequence one sample's first `length` steps can give,
    by summing over all ``C ** length`` alignments."""
    logp = log_softmax64(logits)[:length]
    c = logp.shape[1]
    totals: dict = {}
    for path in itertools.product(range(c), repeat=length):
        value = sum(logp[t, k] for t, k in enumerate(path))
        key = collapse(path, blank)
        totals[key] = np.logaddexp(totals.get(key, -np.inf), value)
    return totals


def ref_ctc(labels, label_length, logits, logit_length, blank=0):
    """-log p(labels) per sample by brute force."""
    out = []
    for i in range(len(labels)):
        target = tuple(int(v) for v in labels[i][: label_length[i]])
        totals = sequence_log_probs(logits[i], int(logit_length[i]), blank)
        out.append(-totals.get(target, -np.inf))
    return np.array(out)


def keras_style_lengths(y_true):
    return np.count_nonzero(y_true, axis=-1)


def _keras():
    return pytest.importorskip("keras")


# values against the brute-force reference -----------------------------------------------------


CASES = [
    # labels (0-padded), T, C
    ([[1, 2], [2, 2], [1, 0], [0, 0]], 4, 3),  # plain, repeated (needs a blank between), short, empty
    ([[1, 1, 1], [2, 1, 2], [3, 0, 0]], 5, 4),  # a repeated run as long as T allows, alternating
    ([[1, 2, 1, 2, 1]], 5, 3),  # as many labels as steps
    ([[1, 1, 2], [2, 2, 2], [1, 2, 3]], 3, 4),  # impossible: repeats need blanks that do not fit; exact fit
    ([[1]], 1, 2),
]


@pytest.mark.parametrize("labels,t,c", CASES)
def test_values_match_brute_force(labels, t, c, rng):
    labels = np.array(labels)
    logits = rng.standard_normal((len(labels), t, c)).astype(np.float32) * 1.5
    lengths = keras_style_lengths(labels)
    want = ref_ctc(labels, lengths, logits.astype(np.float64), np.full(len(labels), t))
    got = losses.CTC(reduction="none")(labels, logits)
    assert got.dtype == np.float32 and got.shape == (len(labels),)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(ops.ctc_loss(labels, logits, lengths, np.full(len(labels), t)), want,
                               rtol=1e-6, atol=1e-6)
    reduced = losses.CTC()(labels, logits)
    if np.isfinite(want).all():
        assert reduced == pytest.approx(float(np.sum(want) / len(want)), rel=1e-6)
    else:
        assert reduced == np.inf


def test_impossible_alignments_are_infinite_with_zero_gradient(rng):
    labels = np.array([[1, 1, 1], [1, 2, 0]])
    logits = rng.standard_normal((2, 4, 3)).astype(np.float32)  # [1, 1, 1] needs 5 steps
    per = losses.CTC(reduction="none")(labels, logits)
    assert per[0] == np.inf and np.isfinite(per[1])
    value, grad = losses.CTC(reduction="sum").value_and_grad(labels, logits)
    assert value == np.inf
    assert np.all(grad[0] == 0) and np.all(np.isfinite(grad[1])) and np.any(grad[1] != 0)
    _, alone = losses.CTC(reduction="sum").value_and_grad(labels[1:], logits[1:])
    np.testing.assert_allclose(grad[1], alone[0], rtol=1e-6, atol=1e-7)


def test_lengths_mask_index_and_empty_frames_match_brute_force(rng):
    n, t, c = 5, 5, 4
    logits = rng.standard_normal((n, t, c)).astype(np.float32)
    blank = 2
    target = np.array([[1, 3, 0], [0, 0, 1], [3, 3, -1], [1, 0, 9], [0, 1, 3]])  # after the length: padding
    target_length = np.array([2, 3, 1, 0, 3])
    output_length = np.array([5, 3, 1, 0, 4])
    got = ops.ctc_loss(target, logits, target_length, output_length, mask_index=blank)
    want = ref_ctc(target, target_length, logits.astype(np.float64), output_length, blank)
    assert want[3] == 0.0  # no frames, no labels: probability 1
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    assert ops.ctc_loss([[1]], logits[:1], [1], [0])[0] == np.inf


def test_every_step_probability_sums_to_one_over_label_sequences(rng):
    # the losses of all label sequences of length <= T exponentiate to probabilities summing to 1
    t, c = 3, 3
    logits = rng.standard_normal((1, t, c))
    seqs = [s for k in range(t + 1) for s in itertools.product(range(1, c), repeat=k)]
    total = 0.0
    for s in seqs:
        row = np.array([list(s) + [0] * (t - len(s))])
        total += np.exp(-float(losses.CTC(reduction="none")(row, logits)[0]))
    assert total == pytest.approx(1.0, rel=1e-6)


# gradients -----------------------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "mean"])
def test_gradient_matches_finite_differences(reduction, rng):
    labels = np.array([[1, 2, 0], [2, 2, 0], [0, 0, 0], [1, 2, 1]])
    logits = rng.standard_normal((4, 5, 3)).astype(np.float32)
    weight = rng.uniform(0.5, 2.0, 4).astype(np.float32)
    loss = losses.CTC(reduction=reduction)
    value, grad = loss.value_and_grad(labels, logits, sample_weight=weight)
    assert grad.dtype == np.float32 and grad.shape == logits.shape
    assert value == pytest.approx(float(loss(labels, logits, sample_weight=weight)), rel=1e-7)
    steps = np.full(4, 5)
    denom = {"sum_over_batch_size": 4.0, "sum": 1.0, "mean": float(weight.sum())}[reduction]

    def f(z):
        return float(np.sum(ref_ctc(labels, keras_style_lengths(labels), z, steps) * weight) / denom)

    assert value == pytest.approx(f(logits.astype(np.float64)), rel=1e-6)
    assert_grad_close(grad, numeric_grad(f, logits), rtol=1e-4, atol=1e-6, what="ctc")


def test_gradient_of_softmax_outputs_sums_to_zero_per_step(rng):
    labels = rng.integers(1, 5, (3, 4))
    logits = rng.standard_normal((3, 12, 5))
    _, grad = losses.CTC(reduction="sum").value_and_grad(labels, logits)
    np.testing.assert_allclose(grad.sum(axis=-1), 0.0, atol=1e-6)


# PyTorch and Keras ---------------------------------------------------------------------------


@pytest.mark.parametrize("blank", [0, 3, 5])
def test_matches_torch_ctc_loss(blank, rng):
    torch = pytest.importorskip("torch")
    n, t, c, l_max = 6, 20, 6, 8
    logits = rng.standard_normal((n, t, c)) * 2.0
    classes = np.array([k for k in range(c) if k != blank])
    target = classes[rng.integers(0, c - 1, (n, l_max))]
    target[1, :4] = target[1, 0]  # a repeated run
    target_length = np.array([8, 4, 0, 3, 8, 6])
    output_length = np.array([20, 9, 20, 3, 17, 12])  # sample 3 fits exactly only without repeats
    target[3, :3] = classes[:3]
    got = ops.ctc_loss(target, logits, target_length, output_length, mask_index=blank)
    z = torch.tensor(logits.astype(np.float32).astype(np.float64), requires_grad=True)
    want = torch.nn.functional.ctc_loss(torch.log_softmax(z, -1).transpose(0, 1), torch.tensor(target),
                                        torch.tensor(output_length), torch.tensor(target_length),
                                        blank=blank, reduction="none")
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-6)
    # the gradient of the summed loss
    want.sum().backward()
    _, grad = ops._ctc_nll(*ops._ctc_inputs(target, logits, target_length, output_length, blank, "t"),
                           want_grad=True)
    np.testing.assert_allclose(grad, z.grad.numpy(), rtol=1e-7, atol=1e-9)


def test_long_peaked_sequences_stay_finite_and_match_torch(rng):
    torch = pytest.importorskip("torch")
    n, t, c = 4, 300, 8
    logits = rng.standard_normal((n, t, c)) * 20.0  # losses in the thousands: p(labels) underflows float64
    target = rng.integers(1, c, (n, 60))
    target_length, output_length = np.array([60, 30, 1, 0]), np.array([300, 250, 300, 7])
    args = ops._ctc_inputs(target, logits, target_length, output_length, 0, "t")
    nll, grad = ops._ctc_nll(*args, want_grad=True)
    assert np.all(np.isfinite(nll)) and nll.max() > 1000 and np.all(np.isfinite(grad))  # exp(-1000) == 0.0
    z = torch.tensor(logits.astype(np.float32).astype(np.float64), requires_grad=True)
    want = torch.nn.functional.ctc_loss(torch.log_softmax(z, -1).transpose(0, 1), torch.tensor(target),
                                        torch.tensor(output_length), torch.tensor(target_length), reduction="none")
    want.sum().backward()
    np.testing.assert_allclose(nll, want.detach().numpy(), rtol=1e-10)
    np.testing.assert_allclose(grad, z.grad.numpy(), atol=1e-9)


def test_loss_matches_keras_values_and_gradients(rng):
    keras = _keras()
    torch = pytest.importorskip("torch")
    n, t, c = 7, 15, 5
    logits = (rng.standard_normal((n, t, c)) * 2).astype(np.float32)
    labels = np.zeros((n, 9), np.int64)
    for i, k in enumerate([0, 1, 4, 9, 7, 3, 8]):
        labels[i, :k] = rng.integers(1, c, k)
    labels[6, :8] = [1, 1, 1, 1, 1, 1, 1, 1]  # 8 repeats need 15 steps: fits exactly
    labels[3, :9] = [1, 2, 2, 3, 3, 4, 4, 4, 4]  # needs 15 + 1 steps: impossible
    weight = rng.uniform(0.0, 2.0, n).astype(np.float32)
    for reduction in ("sum_over_batch_size", "sum", "none"):
        theirs = keras.losses.CTC(reduction=reduction)
        ours = losses.CTC(reduction=reduction)
        for w in (None, weight):
            want = np.asarray(theirs(labels, logits, sample_weight=w))
            np.testing.assert_allclose(ours(labels, logits, sample_weight=w), want, rtol=2e-5)
    keep = np.arange(n) != 3  # Keras's gradient is NaN where the loss is infinite
    z = torch.tensor(logits[keep], requires_grad=True)
    keras.losses.CTC()(labels[keep], z, sample_weight=weight[keep]).backward()
    _, grad = losses.CTC().value_and_grad(labels[keep], logits[keep], sample_weight=weight[keep])
    assert_grad_close(grad, z.grad.numpy(), rtol=1e-4, atol=1e-6, what="keras ctc gradient")
    assert losses.CTC().get_config() == keras.losses.CTC().get_config()
    np.testing.assert_allclose(losses.ctc(labels, logits), np.asarray(keras.losses.ctc(labels, logits)), rtol=2e-5)


def test_ops_ctc_loss_matches_keras(rng):
    keras = _keras()
    n, t, c = 4, 10, 6
    logits = rng.standard_normal((n, t, c)).astype(np.float32)
    for blank in (0, 5):
        classes = np.array([k for k in range(c) if k != blank])
        target = classes[rng.integers(0, c - 1, (n, 5))]
        target_length = np.array([5, 2, 0, 4])
        output_length = np.array([10, 4, 3, 7])
        want = np.asarray(keras.ops.ctc_loss(target, logits, target_length, output_length, mask_index=blank))
        np.testing.assert_allclose(ops.ctc_loss(target, logits, target_length, output_length, mask_index=blank),
                                   want, rtol=1e-5)


@pytest.mark.parametrize("merge_repeated", [True, False])
@pytest.mark.parametrize("blank", [0, 3])
def test_greedy_decode_matches_keras(merge_repeated, blank, rng):
    keras = _keras()
    n, t, c = 6, 12, 4
    logits = rng.standard_normal((n, t, c)).astype(np.float32)
    logits[0, 2:6, 1] += 5.0  # a run of one class
    lengths = np.array([12, 12, 7, 1, 0, 5])
    decoded, scores = ops.ctc_decode(logits, lengths, merge_repeated=merge_repeated, mask_index=blank)
    want_d, want_s = keras.ops.ctc_decode(logits, lengths, merge_repeated=merge_repeated, mask_index=blank)
    assert decoded.dtype == np.int32 and decoded.shape == (1, n, t)
    assert scores.dtype == np.float32 and scores.shape == (n, 1)
    np.testing.assert_array_equal(decoded, np.asarray(want_d))
    np.testing.assert_allclose(scores, np.asarray(want_s), rtol=1e-6, atol=1e-6)
    # an independent reading of the same rule
    for i in range(n):
        best = np.argmax(logits[i, : lengths[i]], axis=-1)
        seq = list(collapse(best.tolist(), blank, merge_repeated))
        np.testing.assert_array_equal(decoded[0, i], seq + [-1] * (t - len(seq)))
        assert scores[i, 0] == pytest.approx(-logits[i, : lengths[i]].max(axis=-1).sum(), abs=1e-5)


@pytest.mark.parametrize("beam_width,top_paths", [(1, 1), (3, 2), (10, 3), (100, 1)])
def test_beam_search_matches_keras(beam_width, top_paths, rng):
    keras = _keras()
    n, t, c = 4, 7, 4
    logits = (rng.standard_normal((n, t, c)) * 1.5).astype(np.float32)
    lengths = np.array([7, 5, 1, 3])
    decoded, scores = ops.ctc_decode(logits, lengths, strategy="beam_search", beam_width=beam_width,
                                     top_paths=top_paths)
    want_d, want_s = keras.ops.ctc_decode(logits, lengths, strategy="beam_search", beam_width=beam_width,
                                          top_paths=top_paths)
    assert decoded.dtype == np.int32 and decoded.shape == (top_paths, n, t)
    assert scores.dtype == np.float32 and scores.shape == (n, top_paths)
    np.testing.assert_array_equal(decoded, np.asarray(want_d))
    np.testing.assert_allclose(scores, np.asarray(want_s), rtol=1e-5, atol=1e-5)


def test_wide_beam_search_is_exact(rng):
    # with room for every prefix, beam search ranks the label sequences by their exact probability
    n, t, c, blank, top = 3, 4, 3, 1, 4
    logits = rng.standard_normal((n, t, c)) * 2.0
    decoded, scores = ops.ctc_decode(logits, [4, 4, 2], strategy="beam_search", beam_width=64, top_paths=top,
                                     mask_index=blank)
    for i, length in enumerate([4, 4, 2]):
        ranked = sorted(sequence_log_probs(logits[i], length, blank).items(), key=lambda kv: -kv[1])
        for p in range(min(top, len(ranked))):
            seq, value = ranked[p]
            np.testing.assert_array_equal(decoded[p, i], list(seq) + [-1] * (t - len(seq)))
            assert scores[i, p] == pytest.approx(value, abs=1e-5)
        for p in range(len(ranked), top):  # fewer sequences than asked for
            assert scores[i, p] == -np.inf and np.all(decoded[p, i] == -1)
    decoded, scores = ops.ctc_decode(logits, [0, 1, 4], strategy="beam_search", top_paths=2)
    assert np.all(decoded[:, 0] == -1) and scores[0].tolist() == [0.0, -np.inf]  # no steps: the empty sequence


# training ------------------------------------------------------------------------------------


def toy_sequences(rng, n, t, vocab):
    """One-hot frames of symbols 1..vocab and silences (0); the targets are the runs of symbols."""
    sym = rng.integers(0, vocab + 1, (n, t))
    x = np.eye(vocab + 1, dtype=np.float32)[sym]
    y = np.zeros((n, t), np.int64)
    for i in range(n):
        runs = collapse(sym[i].tolist(), 0)
        y[i, : len(runs)] = runs
    return x, y


@pytest.mark.parametrize("rnn", ["GRU", "LSTM"])
def test_recurrent_model_learns_a_toy_task(rnn, rng):
    t, vocab = 8, 3
    x, y = toy_sequences(rng, 256, t, vocab)
    model = pynncore.Sequential([pynncore.Input((t, vocab + 1)),
                                 getattr(layers, rnn)(16, return_sequences=True),
                                 layers.TimeDistributed(layers.Dense(vocab + 1))])
    model.compile(optimizer=pynncore.optimizers.Adam(0.02), loss="ctc")
    history = model.fit(x, y, epochs=25, batch_size=32, verbose=0)
    values = history.history["loss"]
    assert np.all(np.isfinite(values)) and values[-1] < 0.1 * values[0]
    x_test, y_test = toy_sequences(rng, 64, t, vocab)
    decoded, _ = ops.ctc_decode(model.predict(x_test, verbose=0), np.full(64, t))
    right = [np.array_equal(decoded[0, i][decoded[0, i] >= 0], y_test[i][y_test[i] > 0]) for i in range(64)]
    assert np.mean(right) > 0.9


def test_softmax_head_trains(rng):
    # as in Keras, a softmax output is taken for logits (normalized once more); it still learns
    t, vocab = 6, 2
    x, y = toy_sequences(rng, 128, t, vocab)
    model = pynncore.Sequential([pynncore.Input((t, vocab + 1)), layers.GRU(12, return_sequences=True),
                                 layers.Dense(vocab + 1, activation="softmax")])
    model.compile(optimizer=pynncore.optimizers.Adam(0.03), loss=losses.CTC())
    values = model.fit(x, y, epochs=10, batch_size=32, verbose=0).history["loss"]
    assert np.all(np.isfinite(values)) and values[-1] < 0.8 * values[0]


# configs, aliases, save/load -----------------------------------------------------------------


def test_aliases_config_and_save_load(tmp_path, rng):
    assert type(losses.get("ctc")) is losses.CTC and type(losses.get("CTC")) is losses.CTC
    assert "CTC" in losses.__all__ and "ctc" in losses.__all__ and "ctc_loss" in ops.__all__ and "ctc_decode" in ops.__all__
    loss = losses.CTC(reduction="sum", name="seq")
    config = loss.get_config()
    assert config == {"name": "seq", "reduction": "sum"}
    again = losses.get({"class_name": "CTC", "config": config})
    assert type(again) is losses.CTC and again.get_config() == config
    assert losses.CTC().get_config() == {"name": "ctc", "reduction": "sum_over_batch_size"}
    t, vocab = 5, 2
    x, y = toy_sequences(rng, 16, t, vocab)
    model = pynncore.Sequential([pynncore.Input((t, vocab + 1)), layers.SimpleRNN(6, return_sequences=True),
                                 layers.Dense(vocab + 1)])
    model.compile(optimizer="adam", loss=loss)
    model.fit(x, y, epochs=1, verbose=0)
    path = str(tmp_path / "ctc.safetensors")
    model.save(path)
    loaded = pynncore.load_model(path)
    assert type(loaded.loss) is losses.CTC and loaded.loss.get_config() == config
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0), rel=1e-6)


# bad input -----------------------------------------------------------------------------------


def test_bad_input_raises_clear_errors():
    logits = np.zeros((2, 4, 3), np.float32)
    ctc = losses.CTC()
    with pytest.raises(ValueError, match=r"CTC 'ctc': expected logits y_pred of shape \(batch_size, max_length, "
                                         r"num_classes\). Received: y_pred.shape=\(2, 4\)"):
        ctc([[1], [2]], logits[:, :, 0])
    with pytest.raises(ValueError, match=r"expected y_true of shape \(batch_size, max_length\).*y_true.shape=\(2,\)"):
        ctc([1, 2], logits)
    with pytest.raises(ValueError, match=r"expected `y_true` with one row per sample \(2\).*y_true.shape=\(3, 1\)"):
        ctc([[1], [2], [1]], logits)
    with pytest.raises(ValueError, match=r"expected labels in \[0, 3\).*Received labels in \[1, 3\]"):
        ctc([[1, 3], [2, 0]], logits)
    with pytest.raises(ValueError, match=r"expected labels in \[0, 3\).*Received labels in \[-1, 2\]"):
        ctc([[1, -1], [2, 0]], logits)
    with pytest.raises(ValueError, match=r"labels must come first.*Received row 1: \[0, 2\]"):
        ctc([[1, 2], [0, 2]], logits)
    with pytest.raises(ValueError, match=r"expected `y_true` to hold whole numbers"):
        ctc([[1.5], [2.0]], logits)
    with pytest.raises(TypeError, match=r"expected `y_pred` to be real numbers. Received: dtype=<U1"):
        ctc([[1], [2]], np.full((2, 4, 3), "a"))
    with pytest.raises(TypeError, match=r"expected `y_true` to hold integers. Received: dtype=<U1"):
        ctc(np.full((2, 1), "a"), logits)
    with pytest.raises(ValueError, match=r"sample_weight must have one value per sample \(2\)"):
        ctc([[1], [2]], logits, sample_weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"reduction must be one of"):
        losses.CTC(reduction="avg")

    with pytest.raises(ValueError, match=r"ctc_loss: expected `output_length` in \[0, 4\] \(at most the number "
                                         r"of output timesteps\). Received values in \[4, 5\]"):
        ops.ctc_loss([[1], [2]], logits, [1, 1], [4, 5])
    with pytest.raises(ValueError, match=r"ctc_loss: expected `target_length` in \[0, 1\].*\[-1, 1\]"):
        ops.ctc_loss([[1], [2]], logits, [1, -1], [4, 4])
    with pytest.raises(ValueError, match=r"ctc_loss: expected `target_length` of shape \(2,\).*shape=\(1,\)"):
        ops.ctc_loss([[1], [2]], logits, [1], [4, 4])
    with pytest.raises(ValueError, match=r"ctc_loss: expected `output_length` of shape \(batch_size,\).*\(2, 1\)"):
        ops.ctc_loss([[1], [2]], logits, [1, 1], [[4], [4]])
    with pytest.raises(ValueError, match=r"ctc_loss: expected `mask_index` in \[0, 3\) for 3 classes. "
                                         r"Received: mask_index=3"):
        ops.ctc_loss([[1], [2]], logits, [1, 1], [4, 4], mask_index=3)
    with pytest.raises(TypeError, match=r"ctc_loss: expected `mask_index` to be an integer. Received: "
                                        r"mask_index=1.0"):
        ops.ctc_loss([[1], [2]], logits, [1, 1], [4, 4], mask_index=1.0)
    with pytest.raises(ValueError, match=r"the mask \(blank\) index 2 is padding and cannot be a label"):
        ops.ctc_loss([[1], [2]], logits, [1, 1], [4, 4], mask_index=2)
    with pytest.raises(ValueError, match=r"ctc_loss: expected `output` of shape \(batch_size, max_length, "
                                         r"num_classes\). Received: output.shape=\(4, 3\)"):
        ops.ctc_loss([[1]], logits[0], [1], [4])

    with pytest.raises(ValueError, match=r"ctc_decode: expected `strategy` 'greedy' or 'beam_search'. "
                                         r"Received: strategy='beam'"):
        ops.ctc_decode(logits, [4, 4], strategy="beam")
    with pytest.raises(ValueError, match=r"ctc_decode: expected `sequence_lengths` in \[0, 4\].*\[4, 6\]"):
        ops.ctc_decode(logits, [4, 6])
    with pytest.raises(ValueError, match=r"ctc_decode: expected `beam_width` to be a positive integer. "
                                         r"Received: beam_width=0"):
        ops.ctc_decode(logits, [4, 4], strategy="beam_search", beam_width=0)
    with pytest.raises(ValueError, match=r"ctc_decode: expected `top_paths` to be a positive integer"):
        ops.ctc_decode(logits, [4, 4], strategy="beam_search", top_paths=1.5)
    with pytest.raises(ValueError, match=r"ctc_decode: expected `inputs` of shape"):
        ops.ctc_decode(logits[0], [4])
    with pytest.raises(ValueError, match=r"ctc_decode: expected `mask_index` in \[0, 3\)"):
        ops.ctc_decode(logits, [4, 4], mask_index=-1)
