"""StringLookup and TextVectorization: the examples of Keras 3's documentation, an independent
pure-Python reference (vocabulary order, lookups, encodings, tf-idf), config and model
save/load, use in front of an Embedding + GRU model, and bad input.

Keras 3's own StringLookup and TextVectorization need TensorFlow; the tests that compare
against them directly run only where it is installed."""

from __future__ import annotations

import collections
import json
import math
import string

import numpy as np
import pytest

import pynncore
from pynncore import layers
from pynncore.saving import deserialize_layer, serialize_layer

WORDS = ["apple", "bob", "cat", "dog", "egg", "fig", "gum", "hat", "ice", "jam"]


# -- independent reference ----------------------------------------------------------------------


def _ref_vocabulary(tokens, max_tokens=None, specials=()):
    """Most frequent first, ties by decreasing token; special tokens dropped; truncated so
    that the whole vocabulary has at most max_tokens entries."""
    counts = collections.Counter(t for t in tokens if t not in specials)
    ordered = sorted(counts, key=lambda t: (counts[t], t), reverse=True)
    if max_tokens is not None:
        ordered = ordered[: max_tokens - len(specials)]
    return ordered


def _ref_index(token, vocab, mask=None, num_oov=1):
    start = (mask is not None) + num_oov
    if mask is not None and token == mask:
        return 0
    if token in vocab:
        return vocab.index(token) + start
    return int(mask is not None)


def _ref_encode(rows, vocab, mode, num_oov=1, idf=None, depth=None):
    """multi_hot / count / tf_idf of token lists (no mask index; OOV index 0)."""
    depth = depth or len(vocab) + num_oov
    out = np.zeros((len(rows), depth))
    for i, row in enumerate(rows):
        for t in row:
            if t == "":
                continue
            j = vocab.index(t) + num_oov if t in vocab else 0
            out[i, j] = 1.0 if mode == "multi_hot" else out[i, j] + 1.0
    if mode == "tf_idf":
        out = out * np.pad(idf, (0, depth - len(idf)))
    return out


def _ref_idf(docs, vocab):
    n = len(docs)
    w = [math.log(1 + n / (1 + sum(t in set(d) for d in docs))) for t in vocab]
    return np.array([np.mean(w)] + w)


def _ref_tokens(text, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None):
    if standardize in ("lower", "lower_and_strip_punctuation"):
        text = "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)
    if standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
        text = "".join(c for c in text if c not in string.punctuation)
    if split == "whitespace":
        toks = [t for t in text.replace("\t", " ").replace("\n", " ").split(" ") if t]
    elif split == "character":
        toks = list(text)
    else:
        toks = [text]
    if ngrams is None:
        return toks
    widths = range(1, ngrams + 1) if isinstance(ngrams, int) else ngrams
    return [" ".join(toks[i : i + n]) for n in widths for i in range(len(toks) - n + 1)]


def _random_texts(rng, n, punct=True):
    texts = []
    for _ in range(n):
        words = [WORDS[i] for i in rng.integers(0, len(WORDS), rng.integers(0, 7))]
        words = [w.upper() if rng.random() < 0.2 else w for w in words]
        if punct:
            words = [w + rng.choice([",", ".", "!", "", "", "'s"]) for w in words]
        texts.append(" ".join(words) + ("\t" if rng.random() < 0.2 else ""))
    return texts


# -- StringLookup -------------------------------------------------------------------------------


def test_string_lookup_keras_documentation_examples():
    vocab = ["a", "b", "c", "d"]
    data = [["a", "c", "d"], ["d", "z", "b"]]
    np.testing.assert_array_equal(layers.StringLookup(vocabulary=vocab)(data), [[1, 3, 4], [4, 0, 2]])
    learned = layers.StringLookup()
    learned.adapt(data)
    assert learned.get_vocabulary() == ["[UNK]", "d", "z", "c", "b", "a"]
    np.testing.assert_array_equal(learned(data), [[5, 3, 1], [1, 2, 4]])
    two_oov = layers.StringLookup(vocabulary=vocab, num_oov_indices=2)
    np.testing.assert_array_equal(two_oov([["a", "c", "d"], ["m", "z", "b"]]), [[2, 4, 5], [0, 1, 3]])
    one_hot = layers.StringLookup(vocabulary=vocab, output_mode="one_hot")(["a", "b", "c", "d", "z"])
    np.testing.assert_array_equal(one_hot, np.eye(5)[[1, 2, 3, 4, 0]])
    multi = [["a", "c", "d", "d"], ["d", "z", "b", "z"]]
    np.testing.assert_array_equal(
        layers.StringLookup(vocabulary=vocab, output_mode="multi_hot")(multi), [[0, 1, 0, 1, 1], [1, 0, 1, 0, 1]]
    )
    np.testing.assert_array_equal(
        layers.StringLookup(vocabulary=vocab, output_mode="count")(multi), [[0, 1, 0, 1, 2], [2, 0, 1, 0, 1]]
    )
    tfidf = layers.StringLookup(output_mode="tf_idf")
    tfidf.set_vocabulary(vocab, idf_weights=[0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tfidf(multi), [[0, 0.25, 0, 0.6, 0.8], [1.0, 0, 0.75, 0, 0.4]], rtol=1e-6)
    tfidf.set_vocabulary(["[UNK]"] + vocab, idf_weights=[0.9, 0.25, 0.75, 0.6, 0.4])
    np.testing.assert_allclose(tfidf(multi), [[0, 0.25, 0, 0.6, 0.8], [1.8, 0, 0.75, 0, 0.4]], rtol=1e-6)
    inv = layers.StringLookup(vocabulary=vocab, invert=True)
    np.testing.assert_array_equal(inv([[1, 3, 4], [4, 0, 2]]), [["a", "c", "d"], ["d", "[UNK]", "b"]])
    masked = layers.StringLookup(vocabulary=vocab, mask_token="")
    assert masked.get_vocabulary() == ["", "[UNK]", "a", "b", "c", "d"]
    np.testing.assert_array_equal(masked([["a", "c", ""], ["d", "z", "b"]]), [[2, 4, 0], [5, 1, 3]])
    inv_masked = layers.StringLookup(vocabulary=vocab, mask_token="", invert=True)
    np.testing.assert_array_equal(inv_masked([[2, 4, 0], [5, 1, 3]]), [["a", "c", ""], ["d", "[UNK]", "b"]])


@pytest.mark.parametrize("mask", [None, "[PAD]"])
@pytest.mark.parametrize("max_tokens", [None, 4, 7])
def test_string_lookup_adapt_with_ties_and_max_tokens_matches_reference(rng, mask, max_tokens):
    # small alphabet: many ties in the counts
    data = rng.choice(WORDS[:7] + ["[UNK]", "[PAD]"], size=(12, 5))
    layer = layers.StringLookup(max_tokens=max_tokens, mask_token=mask)
    layer.adapt(data)
    specials = ("[UNK]",) if mask is None else ("[PAD]", "[UNK]")
    vocab = _ref_vocabulary(data.reshape(-1).tolist(), max_tokens, specials)
    assert layer.get_vocabulary() == list(specials) + vocab
    assert layer.get_vocabulary(include_special_tokens=False) == vocab
    assert layer.vocabulary_size() == len(specials) + len(vocab)
    x = rng.choice(WORDS + ["zzz", "[PAD]"], size=(4, 6))
    want = [[_ref_index(t, vocab, mask) for t in row] for row in x.tolist()]
    np.testing.assert_array_equal(layer(x), want)
    np.testing.assert_array_equal(layer(x.tolist()), want)  # nested lists
    np.testing.assert_array_equal(layer(x.astype(object)), want)
    np.testing.assert_array_equal(layer(np.char.encode(x, "utf-8")), want)  # bytes
    inv = layers.StringLookup(vocabulary=vocab, mask_token=mask, invert=True)
    np.testing.assert_array_equal(inv(layer(x)), np.where(np.isin(x, vocab) | (x == mask), x, "[UNK]"))


def test_string_lookup_tie_rule_is_decreasing_token():
    layer = layers.StringLookup()
    layer.adapt(np.array(["b", "a", "c", "a", "b", "c", "d", "É", "e"]))
    assert layer.get_vocabulary() == ["[UNK]", "c", "b", "a", "É", "e", "d"]


@pytest.mark.parametrize("mode", ["one_hot", "multi_hot", "count", "tf_idf"])
def test_string_lookup_output_modes_match_reference(rng, mode):
    docs = rng.choice(WORDS[:6], size=(9, 4))
    layer = layers.StringLookup(output_mode=mode, mask_token="", max_tokens=6)
    layer.adapt(docs)
    vocab = layer.get_vocabulary(include_special_tokens=False)
    assert vocab == _ref_vocabulary(docs.reshape(-1).tolist(), 6, ("[UNK]",))
    x = rng.choice(WORDS[:8] + [""], size=(5, 4))
    out = layer(x)
    assert out.dtype == np.float32
    if mode == "one_hot":
        want = np.zeros((5, 4, 6))
        for (i, j), t in np.ndenumerate(x):
            if t != "":
                want[i, j, vocab.index(t) + 1 if t in vocab else 0] = 1.0
    else:
        idf = _ref_idf(docs.tolist(), vocab) if mode == "tf_idf" else None
        want = _ref_encode(x.tolist(), vocab, mode, idf=idf)
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-7)
    assert layer.compute_output_shape((None, 4)) == ((None, 4, 6) if mode == "one_hot" else (None, 6))


def test_string_lookup_tf_idf_adapt_rank1_is_one_document_per_element():
    layer = layers.StringLookup(output_mode="tf_idf")
    layer.adapt(np.array(["a", "a", "b"]))
    # 3 documents; "a" in 2 of them, "b" in 1
    w_a, w_b = math.log(1 + 3 / 3), math.log(1 + 3 / 2)
    # a rank-1 input is one document: [OOV, "a", "b"] weighted by idf (OOV: the mean idf)
    np.testing.assert_allclose(layer(["a", "b", "q"]), [(w_a + w_b) / 2, w_a, w_b], rtol=1e-6)
    batched = layers.StringLookup(output_mode="tf_idf")
    batched.adapt(iter([np.array(["a", "a", "b"])]))  # a rank-1 batch of an iterable: one document
    np.testing.assert_allclose(batched(["a", "a", "b"]), [0.0, 2 * math.log(1.5), math.log(1.5)], rtol=1e-6)


def test_string_lookup_pad_to_max_tokens_and_num_oov_zero():
    layer = layers.StringLookup(vocabulary=["x", "y"], max_tokens=6, pad_to_max_tokens=True, output_mode="multi_hot")
    np.testing.assert_array_equal(layer([["y", "q"]]), [[1, 0, 1, 0, 0, 0]])
    strict = layers.StringLookup(vocabulary=["x", "y"], num_oov_indices=0)
    np.testing.assert_array_equal(strict([["y", "x"]]), [[1, 0]])
    with pytest.raises(ValueError, match=r"with num_oov_indices=0 every input must be in the vocabulary\. "
                                         r"Received: tokens \['q'\] outside it"):
        strict([["y", "q"]])


def test_string_lookup_config_roundtrip_keeps_vocabulary(rng):
    for mode in ("int", "count", "tf_idf"):
        layer = layers.StringLookup(mask_token="", output_mode=mode, max_tokens=8)
        layer.adapt(rng.choice(WORDS, size=(20, 3)))
        config = json.loads(json.dumps(serialize_layer(layer)))
        assert config["config"]["vocabulary"] == layer.get_vocabulary(include_special_tokens=False)
        assert all(isinstance(t, str) for t in config["config"]["vocabulary"])
        again = deserialize_layer(config)
        assert type(again) is layers.StringLookup
        assert again.get_vocabulary() == layer.get_vocabulary()
        x = rng.choice(WORDS + ["nope", ""], size=(4, 3))
        np.testing.assert_array_equal(again(x), layer(x))
    # idf weights of the OOV index that are not the mean are kept too
    custom = layers.StringLookup(output_mode="tf_idf", vocabulary=["[UNK]", "a", "b"], idf_weights=[5.0, 1.0, 2.0])
    again = layers.StringLookup.from_config(json.loads(json.dumps(custom.get_config())))
    np.testing.assert_array_equal(again([["a", "q"]]), custom([["a", "q"]]))
    np.testing.assert_array_equal(again([["a", "q"]]), [[5.0, 1.0, 0.0]])


def test_string_lookup_errors():
    with pytest.raises(ValueError, match="num_oov_indices must be an integer >= 0. Received: num_oov_indices=-1"):
        layers.StringLookup(num_oov_indices=-1)
    with pytest.raises(ValueError, match=r"the vocabulary repeats tokens \['b'\]"):
        layers.StringLookup(vocabulary=["a", "b", "b"])
    with pytest.raises(ValueError, match="the mask token '' may only appear at index 0 of the vocabulary"):
        layers.StringLookup(vocabulary=["a", ""], mask_token="")
    with pytest.raises(ValueError, match="vocabulary must be a non-empty 1-D list of strings"):
        layers.StringLookup(vocabulary=[1, 2])
    with pytest.raises(ValueError, match="vocabulary must be a non-empty 1-D list of strings"):
        layers.StringLookup(vocabulary=[])
    with pytest.raises(ValueError, match=r"no vocabulary yet; pass vocabulary= or call adapt\(\) first"):
        layers.StringLookup()(["a"])
    with pytest.raises(TypeError, match=r"StringLookup '.*': expected strings \(str or bytes\)\. Received: dtype=int64"):
        layers.StringLookup(vocabulary=["a"])(np.array([[1, 2]]))
    with pytest.raises(TypeError, match=r"expected strings \(str or bytes\)\. Received: int value 3"):
        layers.StringLookup(vocabulary=["a"])(np.array(["a", 3], dtype=object))
    with pytest.raises(ValueError, match="expected a rectangular array or nested list of strings"):
        layers.StringLookup(vocabulary=["a"])([["a", "b"], ["a"]])
    with pytest.raises(TypeError, match=r"expected integer indices\. Received: dtype=<U1"):
        layers.StringLookup(vocabulary=["a"], invert=True)(np.array(["a"]))
    with pytest.raises(ValueError, match="invert=True needs output_mode='int'"):
        layers.StringLookup(invert=True, output_mode="count")
    with pytest.raises(ValueError, match="output_mode='tf_idf' with a vocabulary needs idf_weights"):
        layers.StringLookup(vocabulary=["a"], output_mode="tf_idf")
    with pytest.raises(ValueError, match="idf_weights are only used with output_mode='tf_idf'"):
        layers.StringLookup(vocabulary=["a"], idf_weights=[1.0])
    with pytest.raises(ValueError, match=r"idf_weights must be finite numbers, one per vocabulary entry \(2\)"):
        layers.StringLookup(vocabulary=["a", "b"], idf_weights=[1.0], output_mode="tf_idf")
    with pytest.raises(ValueError, match="output_mode must be one of"):
        layers.StringLookup(output_mode="bag")
    with pytest.raises(TypeError, match="mask_token must be a string or None. Received: mask_token=0"):
        layers.StringLookup(mask_token=0)
    with pytest.raises(ValueError, match="more than max_tokens=3"):
        layers.StringLookup(vocabulary=["a", "b", "c"], max_tokens=3)
    with pytest.raises(ValueError, match="adapt found no tokens besides the mask and OOV tokens"):
        layers.StringLookup(mask_token="").adapt(["", "[UNK]"])
    with pytest.raises(ValueError, match="only dense outputs are supported"):
        layers.StringLookup(sparse=True)


def test_string_lookup_against_keras_when_tensorflow_is_installed(rng):
    pytest.importorskip("tensorflow")
    keras = pytest.importorskip("keras")
    data = rng.choice(WORDS[:6], size=(10, 4))
    for mode in ("int", "multi_hot", "count", "tf_idf"):
        ours, theirs = layers.StringLookup(output_mode=mode), keras.layers.StringLookup(output_mode=mode)
        ours.adapt(data)
        theirs.adapt(data)
        assert ours.get_vocabulary() == theirs.get_vocabulary()
        x = rng.choice(WORDS, size=(3, 4))
        np.testing.assert_allclose(ours(x), keras.ops.convert_to_numpy(theirs(x)), rtol=1e-6)


# -- TextVectorization ---------------------------------------------------------------------------


def test_text_vectorization_keras_documentation_examples():
    layer = layers.TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    layer.adapt(["foo bar", "bar baz", "baz bada boom"])
    np.testing.assert_array_equal(layer([["foo qux bar"], ["qux baz"]]), [[4, 1, 3, 0], [1, 2, 0, 0]])
    given = layers.TextVectorization(max_tokens=5000, output_sequence_length=4, vocabulary=["earth", "wind", "and", "fire"])
    assert given.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    assert given.vocabulary_size() == 6


@pytest.mark.parametrize("standardize", [None, "lower", "strip_punctuation", "lower_and_strip_punctuation"])
@pytest.mark.parametrize("ngrams", [None, 2, (1, 3)])
def test_text_vectorization_int_matches_reference(rng, standardize, ngrams):
    texts = _random_texts(rng, 30)
    layer = layers.TextVectorization(standardize=standardize, ngrams=ngrams, max_tokens=25)
    layer.adapt(texts)
    docs = [_ref_tokens(t, standardize, "whitespace", ngrams) for t in texts]
    vocab = _ref_vocabulary([t for d in docs for t in d], 25, ("", "[UNK]"))
    assert layer.get_vocabulary() == ["", "[UNK]"] + vocab
    queries = _random_texts(rng, 6)
    out = layer(np.array(queries))
    rows = [[_ref_index(t, vocab, "") for t in _ref_tokens(q, standardize, "whitespace", ngrams)] for q in queries]
    width = max(len(r) for r in rows)
    want = np.array([r + [0] * (width - len(r)) for r in rows])
    np.testing.assert_array_equal(out, want)
    assert out.dtype == np.int64
    for length in (1, 3, 12):
        fixed = layers.TextVectorization(standardize=standardize, ngrams=ngrams, vocabulary=vocab, output_sequence_length=length)
        want_fixed = np.array([(r + [0] * length)[:length] for r in rows])
        np.testing.assert_array_equal(fixed(np.array(queries)[:, None]), want_fixed)
        assert fixed.compute_output_shape((None, 1)) == (None, length)


@pytest.mark.parametrize("mode", ["multi_hot", "count", "tf_idf"])
@pytest.mark.parametrize("pad", [False, True])
def test_text_vectorization_encodings_match_reference(rng, mode, pad):
    texts = _random_texts(rng, 25)
    layer = layers.TextVectorization(output_mode=mode, max_tokens=9, pad_to_max_tokens=pad)
    layer.adapt(texts)
    docs = [_ref_tokens(t) for t in texts]
    vocab = _ref_vocabulary([t for d in docs for t in d], 9, ("[UNK]",))
    assert layer.get_vocabulary() == ["[UNK]"] + vocab
    queries = _random_texts(rng, 7) + [""]
    idf = _ref_idf(docs, vocab) if mode == "tf_idf" else None
    want = _ref_encode([_ref_tokens(q) for q in queries], vocab, mode, idf=idf, depth=9 if pad else None)
    out = layer(queries)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, want, rtol=1e-6, atol=1e-7)
    assert layer.compute_output_shape((None,)) == (None, want.shape[1])


def test_text_vectorization_split_options_and_standardize_details():
    chars = layers.TextVectorization(split="character", standardize="lower")
    chars.adapt(["abba", "Cab"])
    assert chars.get_vocabulary() == ["", "[UNK]", "b", "a", "c"]
    np.testing.assert_array_equal(chars(["cab!", "a"]), [[4, 3, 2, 1], [3, 0, 0, 0]])
    whole = layers.TextVectorization(split=None, standardize=None, vocabulary=["red car", "blue"])
    np.testing.assert_array_equal(whole(["blue", "red car", "Blue"]), [[3], [2], [1]])
    # ASCII letters only are lowercased and only ASCII whitespace splits (as tf.strings does)
    uni = layers.TextVectorization(standardize="lower")
    uni.adapt(["ÉCOLE École a\u00a0b"])
    assert uni.get_vocabulary() == ["", "[UNK]", "École", "a\u00a0b"]
    np.testing.assert_array_equal(uni([["ÉCOLE"]]), [[2]])
    punct = layers.TextVectorization(standardize="strip_punctuation", vocabulary=["Its", "ok"])
    np.testing.assert_array_equal(punct(["It's (ok)!?"]), [[2, 3]])


def test_text_vectorization_callables_work_but_cannot_be_saved():
    layer = layers.TextVectorization(standardize=lambda s: np.char.upper(s), split=lambda s: [x.split("-") for x in s])
    layer.adapt(["a-b", "b-c-b"])
    assert layer.get_vocabulary() == ["", "[UNK]", "B", "C", "A"]
    np.testing.assert_array_equal(layer(["c-a-z"]), [[3, 4, 1]])
    with pytest.raises(ValueError, match=r"TextVectorization '.*': a callable standardize cannot be saved in the config"):
        layer.get_config()
    model_free = layers.TextVectorization(split=lambda s: [x.split() for x in s], vocabulary=["a"])
    with pytest.raises(ValueError, match="a callable split cannot be saved"):
        serialize_layer(model_free)


def test_text_vectorization_config_roundtrip(rng):
    texts = _random_texts(rng, 20)
    for kwargs in (
        dict(output_sequence_length=5, ngrams=(1, 2)),
        dict(output_mode="multi_hot", max_tokens=10, pad_to_max_tokens=True),
        dict(output_mode="tf_idf", split="character", standardize="lower"),
        dict(output_mode="count", ngrams=2, standardize=None),
    ):
        layer = layers.TextVectorization(**kwargs)
        layer.adapt(texts)
        spec = json.loads(json.dumps(serialize_layer(layer)))
        again = deserialize_layer(spec)
        assert type(again) is layers.TextVectorization
        assert again.get_vocabulary() == layer.get_vocabulary()
        queries = _random_texts(rng, 5)
        np.testing.assert_array_equal(again(queries), layer(queries))
        assert again.get_config() == layer.get_config()


def test_text_vectorization_errors():
    with pytest.raises(ValueError, match=r"standardize must be None, a callable or one of"):
        layers.TextVectorization(standardize="upper")
    with pytest.raises(ValueError, match=r"split must be None, a callable or one of"):
        layers.TextVectorization(split="comma")
    with pytest.raises(ValueError, match=r"ngrams must be None, an integer >= 1 or a tuple of them. Received: ngrams=0"):
        layers.TextVectorization(ngrams=0)
    with pytest.raises(ValueError, match="output_sequence_length needs output_mode='int'"):
        layers.TextVectorization(output_mode="multi_hot", output_sequence_length=3)
    with pytest.raises(ValueError, match="output_sequence_length must be an integer >= 1 or None"):
        layers.TextVectorization(output_sequence_length=-2)
    with pytest.raises(ValueError, match="output_mode must be one of"):
        layers.TextVectorization(output_mode="one_hot")
    with pytest.raises(ValueError, match=r"no vocabulary yet; pass vocabulary= or call adapt\(\) first"):
        layers.TextVectorization()(["a b"])
    with pytest.raises(ValueError, match=r"to split strings the input must be \(N,\) or \(N, 1\). Received: shape=\(1, 2\)"):
        layers.TextVectorization(vocabulary=["a"])([["a", "b"]])
    with pytest.raises(TypeError, match=r"TextVectorization '.*': expected strings \(str or bytes\)\. Received: dtype=float64"):
        layers.TextVectorization(vocabulary=["a"])(np.ones((2, 1)))
    with pytest.raises(ValueError, match="only dense outputs are supported, expected ragged=False"):
        layers.TextVectorization(ragged=True)
    with pytest.raises(ValueError, match="max_tokens must be an integer > 1 or None"):
        layers.TextVectorization(max_tokens=1)


# -- in front of a model ------------------------------------------------------------------------


def test_text_vectorization_feeds_an_embedding_gru_model(rng, tmp_path):
    good = ["good", "great", "fine", "nice"]
    bad = ["bad", "awful", "poor", "sad"]
    filler = ["the", "movie", "was", "really", "a"]
    texts, labels = [], []
    for i in range(80):
        y = i % 2
        words = list(rng.choice(filler, 3)) + [str(rng.choice(good if y else bad))]
        rng.shuffle(words)
        texts.append(" ".join(words).capitalize() + "!")
        labels.append(y)
    vectorize = layers.TextVectorization(max_tokens=20, output_sequence_length=5)
    vectorize.adapt(texts)
    ids = vectorize(texts).astype(np.float32)
    y = np.array(labels, np.float32).reshape(-1, 1)
    model = pynncore.Sequential(
        [
            pynncore.Input((5,)),
            layers.Embedding(vectorize.vocabulary_size(), 8, mask_zero=True),
            layers.GRU(8),
            layers.Dense(1, activation="sigmoid"),
        ]
    )
    model.compile(optimizer=pynncore.optimizers.Adam(0.05), loss="binary_crossentropy", metrics=["accuracy"])
    history = model.fit(ids, y, epochs=25, batch_size=16, verbose=0)
    assert history.history["loss"][-1] < 0.5 * history.history["loss"][0]
    assert history.history["accuracy"][-1] > 0.9
    # the vectorizer and model saved and loaded give the same predictions on new text
    new = ["A good movie", "The movie was awful", "unknown words only"]
    before = model.predict(vectorize(new).astype(np.float32), verbose=0)
    path = tmp_path / "model.pnc"
    model.save(str(path))
    vec_spec = json.dumps(serialize_layer(vectorize))
    vectorize2 = deserialize_layer(json.loads(vec_spec))
    loaded = pynncore.load_model(str(path))
    np.testing.assert_array_equal(loaded.predict(vectorize2(new).astype(np.float32), verbose=0), before)


# -- Hashing ------------------------------------------------------------------------------------


def test_fingerprint64_matches_published_values():
    from pynncore.layers.text import _fingerprint64

    def signed(v):
        return v - (1 << 64) if v >> 63 else v

    # Guava's FarmHashFingerprint64Test (checked there against the C++ reference)
    assert signed(_fingerprint64(b"test")) == 8581389452482819506
    assert signed(_fingerprint64(b"test" * 8)) == -4196240717365766262
    assert signed(_fingerprint64(b"test" * 64)) == 3500507768004279527
    assert _fingerprint64(bytes([1, 1, 0, 1, 0, 0, 0, 0])) == _fingerprint64((0x0000000001000101).to_bytes(8, "little"))
    # Guava's testMultipleLengths: every length from 0 to 3200 bytes folded into one value
    mask = (1 << 64) - 1
    buf, used, h = bytearray(800 * 4), 0, 0

    def remix(h):
        h ^= h >> 41
        return (h * 949921979) & mask

    for i in range(800):
        for step in range(4):
            length = (i, i * i % used if used else 0, i * i * i % used if used else 0, used)[step]
            h = remix(h ^ _fingerprint64(bytes(buf[:length])))
            buf[used] = ord("a") + ((h & 0xFFFFF) % 26)
            used += 1
        x0, x1, x2, x3 = buf[used - 1], buf[used - 2], buf[used - 3], buf[used // 2]
        buf[((x0 << 16) + (x1 << 8) + x2) % used] ^= x3
        buf[((x1 << 16) + (x2 << 8) + x3) % used] ^= i % 256
    assert h == 0x7A1D67C50EC7E167


def test_hashing_keras_documented_outputs():
    letters = [["A"], ["B"], ["C"], ["D"], ["E"]]
    np.testing.assert_array_equal(layers.Hashing(num_bins=3)(letters), [[1], [0], [1], [1], [2]])
    np.testing.assert_array_equal(
        layers.Hashing(num_bins=3, mask_value="")([["A"], ["B"], [""], ["C"], ["D"]]), [[1], [1], [0], [2], [2]]
    )
    names = np.asarray([["omar"], ["stringer"], ["marlo"], ["wire"], ["skywalker"]])
    np.testing.assert_array_equal(layers.Hashing(num_bins=2)(names), [[0], [0], [1], [0], [0]])
    np.testing.assert_array_equal(layers.Hashing(num_bins=2)(names[:, 0].tolist()), [0, 0, 1, 0, 0])
    np.testing.assert_array_equal(layers.Hashing(num_bins=3, mask_value="")(names), [[1], [1], [2], [1], [1]])
    np.testing.assert_array_equal(layers.Hashing(num_bins=3, mask_value="omar")(names), [[0], [1], [2], [1], [1]])
    np.testing.assert_array_equal(layers.Hashing(num_bins=1)(letters), np.zeros((5, 1)))
    ints = np.asarray([[0], [1], [2], [3], [4]])
    np.testing.assert_array_equal(layers.Hashing(num_bins=3)(ints), [[1], [0], [1], [0], [2]])
    np.testing.assert_array_equal(layers.Hashing(num_bins=3)([0, 1, 2, 3, 4]), [1, 0, 1, 0, 2])
    np.testing.assert_array_equal(layers.Hashing(num_bins=3)((0, 1, 2, 3, 4)), [1, 0, 1, 0, 2])
    np.testing.assert_array_equal(
        layers.Hashing(num_bins=3, output_mode="one_hot")(np.array([0, 1, 2, 3, 4])), np.eye(3)[[1, 0, 1, 0, 2]]
    )
    np.testing.assert_array_equal(layers.Hashing(num_bins=3, output_mode="multi_hot")(np.array([[0, 1, 2, 3, 4]])), [[1, 1, 1]])


def test_hashing_numbers_strings_bytes_and_modes_agree(rng):
    values = rng.integers(-1000, 1000, size=(6, 5))
    as_text = values.astype(str)
    layer = layers.Hashing(num_bins=7)
    want = layer(as_text)
    np.testing.assert_array_equal(layer(values), want)
    np.testing.assert_array_equal(layer(values.astype(np.float32) + 0.25 * np.sign(values)), want)  # truncated
    np.testing.assert_array_equal(layer(np.char.encode(as_text, "utf-8")), want)
    np.testing.assert_array_equal(layer(as_text.astype(object)), want)
    assert want.dtype == np.int64 and want.min() >= 0 and want.max() < 7
    count = layers.Hashing(num_bins=7, output_mode="count")(values)
    np.testing.assert_array_equal(count, [np.bincount(r, minlength=7) for r in want])
    multi = layers.Hashing(num_bins=7, output_mode="multi_hot")(values)
    np.testing.assert_array_equal(multi, np.minimum(count, 1))
    masked = layers.Hashing(num_bins=7, mask_value=int(values[0, 0]))(values)
    np.testing.assert_array_equal(masked, np.where(values == values[0, 0], 0, 1 + layers.Hashing(num_bins=6)(values)))
    for mode, shape in (("int", (None, 5)), ("one_hot", (None, 5, 7)), ("multi_hot", (None, 7)), ("count", (None, 7))):
        assert layers.Hashing(7, output_mode=mode).compute_output_shape((None, 5)) == shape


def test_hashing_in_a_model_and_config_roundtrip(rng, tmp_path):
    x = rng.integers(0, 50, size=(12, 4)).astype(np.float32)
    layer = layers.Hashing(11, mask_value=0, output_mode="count")
    again = layers.Hashing.from_config(json.loads(json.dumps(layer.get_config())))
    np.testing.assert_array_equal(again(x), layer(x))
    model = pynncore.Sequential([pynncore.Input((4,)), layer, layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.fit(x, np.ones((12, 1), np.float32), epochs=2, verbose=0)
    path = tmp_path / "m.pnc"
    model.save(str(path))
    np.testing.assert_array_equal(pynncore.load_model(str(path)).predict(x, verbose=0), model.predict(x, verbose=0))


def test_hashing_errors():
    with pytest.raises(ValueError, match="num_bins must be an integer >= 1. Received: num_bins=0"):
        layers.Hashing(0)
    with pytest.raises(ValueError, match=r"salted hashing \(SipHash64\) is not supported, expected salt=None"):
        layers.Hashing(3, salt=133)
    with pytest.raises(ValueError, match="output_mode must be one of"):
        layers.Hashing(3, output_mode="tf_idf")
    with pytest.raises(ValueError, match="only dense outputs are supported"):
        layers.Hashing(3, sparse=True)
    with pytest.raises(TypeError, match=r"mask_value must be a string, a number or None"):
        layers.Hashing(3, mask_value=[1])
    with pytest.raises(ValueError, match="expected finite numbers or strings. Received: NaN or infinite values"):
        layers.Hashing(3)(np.array([[1.0, np.nan]]))
    with pytest.raises(TypeError, match=r"Hashing '.*': expected strings \(str or bytes\)\. Received: dict value"):
        layers.Hashing(3)(np.array([{}, "a"], dtype=object))
