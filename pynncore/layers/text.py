"""Text preprocessing layers: StringLookup, TextVectorization and Hashing (Keras 3 semantics).

They map strings to integer indices (or to one-hot, multi-hot, count and tf-idf vectors) and
have no trainable weights. pynncore models take float32 inputs, so the string layers run on
the data before the model, as Keras allows: ``ids = vectorizer(texts); model.fit(ids, y)``
(Hashing of numbers can also sit inside a model). Vocabularies and idf weights are part of
the layer config as plain JSON lists.

Hashing and the OOV buckets of StringLookup use FarmHash ``Fingerprint64`` of the UTF-8
bytes (integers hashed as their decimal strings), as TensorFlow's
``to_hash_bucket_fast`` does; the salted SipHash variant is not supported. HashedCrossing
combines the per-feature hashes with ``FingerprintCat64`` as TensorFlow's
``sparse.cross_hashed`` does.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

import numpy as np

from pynncore.layers.base import KerasTensor
from pynncore.layers.preprocessing import (
    _check_mode,
    _check_sparse,
    _document_rows,
    _encode,
    _encoded_shape,
    _IndexLayer,
    _IndexLookup,
)

__all__ = ["HashedCrossing", "Hashing", "StringLookup", "TextVectorization"]

# Keras's punctuation class (every ASCII punctuation character), removed by
# standardize="strip_punctuation" and "lower_and_strip_punctuation".
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
# tf.strings.split splits on ASCII whitespace only; tf.strings.lower lowercases ASCII only.
_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


# -- FarmHash Fingerprint64 --------------------------------------------------------------------

_M = (1 << 64) - 1  # arithmetic is modulo 2**64
_K0 = 0xC3A5C85C97CB3127
_K1 = 0xB492B66FBE98F273
_K2 = 0x9AE16A3B2F90404F


def _f64(s, i):
    return int.from_bytes(s[i : i + 8], "little")


def _f32(s, i):
    return int.from_bytes(s[i : i + 4], "little")


def _rot(v, r):
    return ((v >> r) | (v << (64 - r))) & _M


def _mix(v):
    return v ^ (v >> 47)


def _len16(u, v, mul):
    a = ((u ^ v) * mul) & _M
    a ^= a >> 47
    b = ((v ^ a) * mul) & _M
    b ^= b >> 47
    return (b * mul) & _M


def _len0to16(s, n):
    if n >= 8:
        mul = _K2 + n * 2
        a = (_f64(s, 0) + _K2) & _M
        b = _f64(s, n - 8)
        c = (_rot(b, 37) * mul + a) & _M
        d = ((_rot(a, 25) + b) * mul) & _M
        return _len16(c, d, mul)
    if n >= 4:
        mul = _K2 + n * 2
        return _len16((n + (_f32(s, 0) << 3)) & _M, _f32(s, n - 4), mul)
    if n > 0:
        y = (s[0] + (s[n >> 1] << 8)) & 0xFFFFFFFF
        z = (n + (s[n - 1] << 2)) & 0xFFFFFFFF
        return (_mix(((y * _K2) ^ (z * _K0)) & _M) * _K2) & _M
    return _K2


def _head(s, n, ka):
    """The mix of the first 16 and last 16 bytes shared by the 17-32 and 33-64 byte cases:
    ``(mul, a, u, v)``."""
    mul = _K2 + n * 2
    a = (_f64(s, 0) * ka) & _M
    b = _f64(s, 8)
    c = (_f64(s, n - 8) * mul) & _M
    d = (_f64(s, n - 16) * _K2) & _M
    return mul, a, (_rot((a + b) & _M, 43) + _rot(c, 30) + d) & _M, (a + _rot((b + _K2) & _M, 18) + c) & _M


def _len17to32(s, n):
    mul, _, u, v = _head(s, n, _K1)
    return _len16(u, v, mul)


def _len33to64(s, n):
    mul, a, y, v = _head(s, n, _K2)
    z = _len16(y, v, mul)
    e = (_f64(s, 16) * mul) & _M
    f = _f64(s, 24)
    g = ((y + _f64(s, n - 32)) * mul) & _M
    h = ((z + _f64(s, n - 24)) * mul) & _M
    return _len16((_rot((e + f) & _M, 43) + _rot(g, 30) + h) & _M, (e + _rot((f + a) & _M, 18) + g) & _M, mul)


def _weak32(s, i, a, b):
    w, x, y, z = _f64(s, i), _f64(s, i + 8), _f64(s, i + 16), _f64(s, i + 24)
    a = (a + w) & _M
    b = _rot((b + a + z) & _M, 21)
    c = a
    a = (a + x + y) & _M
    b = (b + _rot(a, 44)) & _M
    return (a + z) & _M, (b + c) & _M


def _fingerprint64(s: bytes) -> int:
    """FarmHash ``Fingerprint64`` (``farmhashna::Hash64``) of a byte string, as an unsigned
    64-bit integer: the hash of ``tf.strings.to_hash_bucket_fast`` and so of Keras's
    Hashing layer and of StringLookup's OOV buckets."""
    n = len(s)
    if n <= 16:
        return _len0to16(s, n)
    if n <= 32:
        return _len17to32(s, n)
    if n <= 64:
        return _len33to64(s, n)
    seed = 81
    x = seed
    y = (seed * _K1 + 113) & _M
    z = (_mix((y * _K2 + 113) & _M) * _K2) & _M
    v0 = v1 = w0 = w1 = 0
    x = (x * _K2 + _f64(s, 0)) & _M
    end = ((n - 1) // 64) * 64
    last64 = end + ((n - 1) & 63) - 63
    i = 0
    while True:
        x = (_rot((x + y + v0 + _f64(s, i + 8)) & _M, 37) * _K1) & _M
        y = (_rot((y + v1 + _f64(s, i + 48)) & _M, 42) * _K1) & _M
        x ^= w1
        y = (y + v0 + _f64(s, i + 40)) & _M
        z = (_rot((z + w0) & _M, 33) * _K1) & _M
        v0, v1 = _weak32(s, i, (v1 * _K1) & _M, (x + w0) & _M)
        w0, w1 = _weak32(s, i + 32, (z + w1) & _M, (y + _f64(s, i + 16)) & _M)
        z, x = x, z
        i += 64
        if i == end:
            break
    mul = _K1 + ((z & 0xFF) << 1)
    i = last64
    w0 = (w0 + ((n - 1) & 63)) & _M
    v0 = (v0 + w0) & _M
    w0 = (w0 + v0) & _M
    x = (_rot((x + y + v0 + _f64(s, i + 8)) & _M, 37) * mul) & _M
    y = (_rot((y + v1 + _f64(s, i + 48)) & _M, 42) * mul) & _M
    x ^= (w1 * 9) & _M
    y = (y + v0 * 9 + _f64(s, i + 40)) & _M
    z = (_rot((z + w0) & _M, 33) * mul) & _M
    v0, v1 = _weak32(s, i, (v1 * mul) & _M, (x + w0) & _M)
    w0, w1 = _weak32(s, i + 32, (z + w1) & _M, (y + _f64(s, i + 16)) & _M)
    z, x = x, z
    return _len16((_len16(v0, w0, mul) + _mix(y) * _K0 + z) & _M, (_len16(v1, w1, mul) + x) & _M, mul)


def _hash_buckets(keys: np.ndarray, buckets: int) -> np.ndarray:
    """``Fingerprint64(key) mod buckets`` of each UTF-8 string of ``keys`` (int64, same shape)."""
    uniq, inverse = np.unique(keys.reshape(-1), return_inverse=True)
    hashed = np.array([_fingerprint64(str(k).encode("utf-8")) % buckets for k in uniq], dtype=np.int64)
    return hashed[inverse].reshape(keys.shape)


def _string_array(who: str, x: Any, encoding: str) -> np.ndarray:
    """``x`` (a string, a nested list of strings, or an array of str, bytes or objects) as a
    numpy unicode array; bytes are decoded with ``encoding``."""
    try:
        arr = np.asarray(x)
    except ValueError:
        raise ValueError(f"{who}: expected a rectangular array or nested list of strings. Received: a ragged list") from None
    if arr.dtype.kind == "U":
        return arr
    if arr.size == 0 and arr.dtype.kind in "fO":
        return arr.astype("U1")
    if arr.dtype.kind == "S":
        return np.char.decode(arr, encoding)
    if arr.dtype.kind == "O":
        flat = arr.reshape(-1)
        bad = [v for v in flat if not isinstance(v, (str, bytes))]
        if bad:
            raise TypeError(f"{who}: expected strings (str or bytes). Received: {type(bad[0]).__name__} value {bad[0]!r}")
        return np.array([v.decode(encoding) if isinstance(v, bytes) else v for v in flat]).reshape(arr.shape)
    raise TypeError(f"{who}: expected strings (str or bytes). Received: dtype={arr.dtype}")


def _is_data_list(inputs: Any) -> bool:
    return isinstance(inputs, (list, tuple)) and not any(isinstance(t, KerasTensor) for t in inputs)


class StringLookup(_IndexLookup):
    """Maps strings to contiguous indices in a vocabulary given or learned by ``adapt``
    (Keras 3 ``StringLookup``), or indices back to strings (``invert=True``).

    Index layout (``output_mode="int"``): ``0`` is the mask token when ``mask_token`` is
    set, then ``num_oov_indices`` OOV indices (a string outside the vocabulary goes to
    ``Fingerprint64(utf8) mod num_oov_indices``, as Keras's FarmHash bucketing), then the
    vocabulary in order. In
    the encoding modes the mask token has no index and contributes nothing. ``adapt`` orders
    tokens by decreasing count, ties by decreasing token (code point order), and keeps at
    most ``max_tokens`` indices in all; with ``output_mode="tf_idf"`` it learns
    ``idf = log(1 + documents / (1 + documents containing the token))`` (each row of the data
    is a document, each element of a rank-1 array is one), and the OOV index gets the mean
    idf. The vocabulary and idf weights are saved in the layer's config.

    Args:
        max_tokens: maximum vocabulary size, mask and OOV indices included (None: no limit).
        num_oov_indices: number of OOV indices (0: an OOV input is an error).
        mask_token: string that stands for padding (None: no mask).
        oov_token: string returned by ``invert=True`` for an OOV index.
        vocabulary: list of strings (optionally starting with the mask and OOV tokens).
        idf_weights: with ``output_mode="tf_idf"`` and a vocabulary, one weight per entry.
        invert: map indices to strings (``output_mode="int"`` only).
        output_mode: ``"int"``, ``"one_hot"``, ``"multi_hot"``, ``"count"`` or ``"tf_idf"``.
        pad_to_max_tokens: encodings have ``max_tokens`` entries instead of the vocabulary size.
        sparse: only False.
        encoding: text encoding of bytes inputs.

    Call arguments:
        inputs: strings (str, bytes or object array, or a nested list), any shape (rank <= 2
            for multi_hot, count and tf_idf); integer indices for ``invert=True``.

    Returns:
        int64 indices of the input's shape (a unicode array of strings for ``invert``), or a
        float32 encoding.

    Raises:
        ValueError: for a repeated token, a misplaced mask/OOV token, an OOV string with
            ``num_oov_indices=0``, or a call with no vocabulary.
        TypeError: for inputs that are not strings.

    Example:
        >>> StringLookup(vocabulary=["a", "b", "c", "d"])([["a", "c", "d"], ["d", "z", "b"]])
        array([[1, 3, 4],
               [4, 0, 2]])
    """

    _no_token = ""
    _token_kind = "strings"
    _vocabulary_kinds = "USO"

    def __init__(
        self,
        max_tokens: Optional[int] = None,
        num_oov_indices: int = 1,
        mask_token: Optional[str] = None,
        oov_token: str = "[UNK]",
        vocabulary: Any = None,
        idf_weights: Any = None,
        invert: bool = False,
        output_mode: str = "int",
        pad_to_max_tokens: bool = False,
        sparse: bool = False,
        encoding: str = "utf-8",
        **kwargs: Any,
    ):
        if not isinstance(encoding, str):
            raise TypeError(f"StringLookup: encoding must be a string. Received: encoding={encoding!r}")
        "".encode(encoding)  # an unknown encoding raises LookupError here
        self.encoding = encoding
        super().__init__(
            max_tokens, num_oov_indices, mask_token, oov_token, vocabulary, idf_weights,
            invert, output_mode, sparse, pad_to_max_tokens, **kwargs,
        )

    def _special_token(self, name: str, token: Any) -> Optional[str]:
        if isinstance(token, bytes):
            token = token.decode(self.encoding)
        if token is not None and not isinstance(token, str):
            raise TypeError(f"{self._who()}: {name} must be a string or None. Received: {name}={token!r}")
        return token

    def __call__(self, inputs: Any, training: Optional[bool] = None, **kwargs: Any) -> Any:
        if _is_data_list(inputs):
            inputs = np.asarray(inputs) if self.invert else _string_array(self._who(), inputs, self.encoding)
        return super().__call__(inputs, training=training, **kwargs)

    def _check_input(self, x: Any) -> np.ndarray:
        arr = np.asarray(x)
        if self.invert:
            return arr
        return _string_array(self._who(), arr, self.encoding)

    def _as_tokens(self, x: Any) -> np.ndarray:
        return _string_array(self._who(), x, self.encoding)

    def _python_token(self, token: Any) -> Any:
        return None if token is None else str(token)

    def _oov_index(self, x: np.ndarray) -> np.ndarray:
        if self.num_oov_indices <= 1:
            return np.zeros(x.shape, np.int64)
        return _hash_buckets(x, self.num_oov_indices)

    def _adapt_batches(self, data: Any, steps: Optional[int]) -> list:
        if isinstance(data, (str, bytes, list, tuple, np.ndarray)) or not hasattr(data, "__iter__"):
            return [(data, True)]
        return [(b[0] if isinstance(b, tuple) else b, False) for i, b in enumerate(data) if steps is None or i < steps]

    def get_config(self) -> dict:
        config = super().get_config()
        config["encoding"] = self.encoding
        return config


_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")
_TEXT_MODES = ("int", "multi_hot", "count", "tf_idf")


class TextVectorization(_IndexLayer):
    """Turns strings into sequences of token indices or into multi-hot, count or tf-idf
    vectors (Keras 3 ``TextVectorization``).

    Each string is standardized (``"lower"``: ASCII letters lowercased, as
    ``tf.strings.lower``; ``"strip_punctuation"``: ASCII punctuation removed with Keras's
    regex; ``"lower_and_strip_punctuation"``: both), split into tokens (``"whitespace"``:
    on runs of ASCII whitespace; ``"character"``: into code points; None: the whole string
    is one token), optionally extended with ngrams (joined by a space, all ngrams of each
    width in turn), then looked up in the vocabulary. Index 0 is padding (the empty
    string), index 1 the OOV token ``"[UNK]"``. ``adapt`` learns the vocabulary (most
    frequent first, ties by decreasing token) and, for ``"tf_idf"``, the idf weights, with
    each string a document.

    Args:
        max_tokens: maximum vocabulary size, padding and OOV included (None: no limit).
        standardize: None, ``"lower"``, ``"strip_punctuation"``,
            ``"lower_and_strip_punctuation"``, or a callable taking and returning a numpy
            array of strings (not serializable).
        split: None, ``"whitespace"``, ``"character"``, or a callable taking a 1-D numpy
            array of strings and returning one list of tokens per string (not serializable).
        ngrams: None, an integer n (ngrams 1..n) or a tuple of widths.
        output_mode: ``"int"``, ``"multi_hot"``, ``"count"`` or ``"tf_idf"``.
        output_sequence_length: with ``"int"``, pad (with 0) or cut every sequence to this
            length; None pads to the longest sequence of the batch.
        pad_to_max_tokens: encodings have ``max_tokens`` entries.
        vocabulary: list of strings (optionally starting with ``""`` and ``"[UNK]"``).
        idf_weights: with ``"tf_idf"`` and a vocabulary, one weight per entry.
        sparse, ragged: only False.
        encoding: text encoding of bytes inputs.

    Call arguments:
        inputs: strings ``(N,)`` or ``(N, 1)`` (a list of strings is accepted).

    Returns:
        int64 array ``(N, T)``, or float32 ``(N, vocabulary_size)`` (``max_tokens`` with
        ``pad_to_max_tokens``).

    Raises:
        ValueError: for unknown options, an input of another shape, a call before the
            vocabulary is set, or ``get_config`` with a callable standardize or split.

    Example:
        >>> layer = TextVectorization(output_sequence_length=4)
        >>> layer.adapt(["foo bar", "bar baz", "baz bada boom"])
        >>> layer([["foo qux bar"], ["qux baz"]])
        array([[4, 1, 3, 0],
               [1, 2, 0, 0]])
    """

    def __init__(
        self,
        max_tokens: Optional[int] = None,
        standardize: Any = "lower_and_strip_punctuation",
        split: Any = "whitespace",
        ngrams: Any = None,
        output_mode: str = "int",
        output_sequence_length: Optional[int] = None,
        pad_to_max_tokens: bool = False,
        vocabulary: Any = None,
        idf_weights: Any = None,
        sparse: bool = False,
        ragged: bool = False,
        encoding: str = "utf-8",
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        who = f"TextVectorization '{self.name}'"
        if not (standardize is None or callable(standardize) or standardize in _STANDARDIZE):
            raise ValueError(
                f"{who}: standardize must be None, a callable or one of {list(_STANDARDIZE)}. Received: standardize={standardize!r}"
            )
        if not (split is None or callable(split) or split in _SPLIT):
            raise ValueError(f"{who}: split must be None, a callable or one of {list(_SPLIT)}. Received: split={split!r}")
        if isinstance(ngrams, list):
            ngrams = tuple(ngrams)
        ok = lambda n: isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= 1  # noqa: E731
        if not (ngrams is None or ok(ngrams) or (isinstance(ngrams, tuple) and ngrams and all(ok(n) for n in ngrams))):
            raise ValueError(f"{who}: ngrams must be None, an integer >= 1 or a tuple of them. Received: ngrams={ngrams!r}")
        if output_mode == "tf-idf":
            output_mode = "tf_idf"
        output_mode = _check_mode(who, output_mode, _TEXT_MODES)
        if output_sequence_length is not None:
            if not ok(output_sequence_length):
                raise ValueError(
                    f"{who}: output_sequence_length must be an integer >= 1 or None. "
                    f"Received: output_sequence_length={output_sequence_length!r}"
                )
            if output_mode != "int":
                raise ValueError(
                    f"{who}: output_sequence_length needs output_mode='int'. Received: output_mode={output_mode!r}"
                )
        _check_sparse(who, sparse)
        if ragged:
            raise ValueError(f"{who}: only dense outputs are supported, expected ragged=False. Received: ragged={ragged!r}")
        self.standardize = standardize
        self.split = split
        self.ngrams = None if ngrams is None else (int(ngrams) if ok(ngrams) else tuple(int(n) for n in ngrams))
        self._widths = None if ngrams is None else (tuple(range(1, self.ngrams + 1)) if isinstance(self.ngrams, int) else self.ngrams)
        self.output_mode = output_mode
        self.output_sequence_length = None if output_sequence_length is None else int(output_sequence_length)
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.sparse = False
        self.ragged = False
        self.encoding = encoding
        self.max_tokens = max_tokens
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens,
            mask_token="",
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            output_mode=output_mode,
            pad_to_max_tokens=pad_to_max_tokens,
            encoding=encoding,
            name=f"{self.name}_lookup",
        )

    # -- text to tokens ------------------------------------------------------------------------

    def _who(self) -> str:
        return f"TextVectorization '{self.name}'"

    def _standardize(self, strings: np.ndarray) -> np.ndarray:
        if callable(self.standardize):
            out = _string_array(self._who(), self.standardize(strings), self.encoding)
            if out.shape != strings.shape:
                raise ValueError(
                    f"{self._who()}: the standardize callable must keep the input's shape {strings.shape}. "
                    f"Received: shape={out.shape}"
                )
            return out
        flat = [str(s) for s in strings.reshape(-1)]
        if self.standardize in ("lower", "lower_and_strip_punctuation"):
            flat = [s.translate(_ASCII_LOWER) for s in flat]
        if self.standardize in ("strip_punctuation", "lower_and_strip_punctuation"):
            flat = [_PUNCTUATION.sub("", s) for s in flat]
        return np.array(flat, dtype=str).reshape(strings.shape) if flat else strings

    def _tokenize(self, x: Any) -> list:
        """The token list of each input string (one list per row)."""
        who = self._who()
        strings = _string_array(who, x, self.encoding)
        if strings.ndim == 0:
            strings = strings.reshape(1)
        strings = self._standardize(strings)
        if self.split is None:
            rows = [list(r) for r in strings.reshape(strings.shape[0], -1)] if strings.ndim > 1 else [[s] for s in strings]
        else:
            if strings.ndim > 1:
                if strings.ndim != 2 or strings.shape[1] != 1:
                    raise ValueError(
                        f"{who}: to split strings the input must be (N,) or (N, 1). Received: shape={strings.shape}"
                    )
                strings = strings[:, 0]
            if callable(self.split):
                rows = [[str(t) for t in r] for r in self.split(strings)]
                if len(rows) != strings.shape[0]:
                    raise ValueError(
                        f"{who}: the split callable must return one token list per string ({strings.shape[0]}). "
                        f"Received: {len(rows)}"
                    )
            elif self.split == "whitespace":
                rows = [[t for t in _WHITESPACE.split(str(s)) if t] for s in strings]
            else:
                rows = [list(str(s)) for s in strings]
        if self._widths is not None:
            rows = [[" ".join(r[i : i + n]) for n in self._widths for i in range(len(r) - n + 1)] for r in rows]
        return rows

    @staticmethod
    def _padded(rows: list, length: Optional[int] = None) -> np.ndarray:
        """Token lists as an ``(N, L)`` unicode array padded with the empty string."""
        width = max([len(r) for r in rows] + [0]) if length is None else length
        out = np.full((len(rows), width), "", dtype=object)
        for i, r in enumerate(rows):
            r = r[:width]
            out[i, : len(r)] = r
        return out.astype(str) if out.size else np.zeros(out.shape, "U1")

    # -- vocabulary ----------------------------------------------------------------------------

    def adapt(self, data: Any, batch_size: Any = None, steps: Optional[int] = None) -> None:
        """Learns the vocabulary (and for ``"tf_idf"`` the idf weights) from ``data``: a
        list or array of strings, or an iterable of such batches (``steps`` of them)."""
        if isinstance(data, (str, bytes, list, tuple, np.ndarray)) or not hasattr(data, "__iter__"):
            batches = [data]
        else:
            batches = [b[0] if isinstance(b, tuple) else b for i, b in enumerate(data) if steps is None or i < steps]
        docs = [_document_rows(self._padded(self._tokenize(b)), False) for b in batches]
        self._lookup_layer._learn(docs)

    def set_vocabulary(self, vocabulary: Any, idf_weights: Any = None) -> None:
        """Sets the vocabulary (and idf weights for ``"tf_idf"``), see StringLookup."""
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights)

    def get_vocabulary(self, include_special_tokens: bool = True) -> list:
        """The tokens in index order (``""`` and ``"[UNK]"`` first unless
        ``include_special_tokens=False``)."""
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self) -> int:
        """Number of indices, padding and OOV included."""
        return self._lookup_layer.vocabulary_size()

    # -- calling -------------------------------------------------------------------------------

    def __call__(self, inputs: Any, training: Optional[bool] = None, **kwargs: Any) -> Any:
        if _is_data_list(inputs):
            inputs = _string_array(self._who(), inputs, self.encoding)
        return super().__call__(inputs, training=training, **kwargs)

    def _check_input(self, x: Any) -> np.ndarray:
        return _string_array(self._who(), x, self.encoding)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if self.output_mode == "int":
            return (input_shape[0], self.output_sequence_length)
        return (input_shape[0], self._lookup_layer._depth())

    def forward(self, x: Any, training: bool = False) -> tuple:
        if self._lookup_layer._tokens is None:
            raise ValueError(f"{self._who()}: no vocabulary yet; pass vocabulary= or call adapt() first")
        rows = self._tokenize(x)
        tokens = self._padded(rows, self.output_sequence_length if self.output_mode == "int" else None)
        y, _ = self._lookup_layer.forward(tokens)
        return y, np.shape(x)

    def get_config(self) -> dict:
        for name in ("standardize", "split"):
            if callable(getattr(self, name)):
                raise ValueError(
                    f"{self._who()}: a callable {name} cannot be saved in the config; "
                    f"use one of the built-in {name} options or rebuild the layer in code. "
                    f"Received: {name}={getattr(self, name)!r}"
                )
        config = super().get_config()
        vocabulary, idf_weights = self._lookup_layer._vocabulary_config()
        config.update(
            max_tokens=self.max_tokens,
            standardize=self.standardize,
            split=self.split,
            ngrams=list(self.ngrams) if isinstance(self.ngrams, tuple) else self.ngrams,
            output_mode=self.output_mode,
            output_sequence_length=self.output_sequence_length,
            pad_to_max_tokens=self.pad_to_max_tokens,
            vocabulary=vocabulary,
            idf_weights=idf_weights,
            sparse=self.sparse,
            ragged=self.ragged,
            encoding=self.encoding,
        )
        return config


_HASH_MODES = ("int", "one_hot", "multi_hot", "count")


class Hashing(_IndexLayer):
    """Hashes strings or integers into ``num_bins`` buckets (Keras 3 ``Hashing``).

    A value goes to bucket ``Fingerprint64(v) mod num_bins`` (FarmHash of the UTF-8 bytes;
    integers are hashed as their decimal strings, floats are first truncated to integers, as
    TensorFlow's ``to_hash_bucket_fast`` after ``as_string``). With ``mask_value`` (and
    ``num_bins > 1``) that value goes to bucket 0 and the others to
    ``1 + Fingerprint64(v) mod (num_bins - 1)``.

    Args:
        num_bins: number of buckets, mask bucket included (>= 1).
        mask_value: value mapped to bucket 0 (a string, or a number for numeric input).
        salt: only None; Keras's salted SipHash64 is not supported.
        output_mode: ``"int"``, ``"one_hot"``, ``"multi_hot"`` or ``"count"``.
        sparse: only False.

    Call arguments:
        inputs: strings (str, bytes or objects, or a nested list) or numbers, any shape
            (rank <= 2 for multi_hot and count).

    Returns:
        int64 bucket indices of the input's shape, or a float32 encoding.

    Raises:
        ValueError: for num_bins < 1, a salt, an unknown output_mode or non-finite numbers.
        TypeError: for inputs that are neither strings nor numbers.

    Example:
        >>> Hashing(num_bins=3)([["A"], ["B"], ["C"], ["D"], ["E"]])
        array([[1],
               [0],
               [1],
               [1],
               [2]])
    """

    def __init__(
        self,
        num_bins: int,
        mask_value: Any = None,
        salt: Any = None,
        output_mode: str = "int",
        sparse: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        who = f"Hashing '{self.name}'"
        if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 1:
            raise ValueError(f"{who}: num_bins must be an integer >= 1. Received: num_bins={num_bins!r}")
        if salt is not None:
            raise ValueError(
                f"{who}: salted hashing (SipHash64) is not supported, expected salt=None. Received: salt={salt!r}"
            )
        if isinstance(mask_value, bytes):
            mask_value = mask_value.decode("utf-8")
        if mask_value is not None and (isinstance(mask_value, bool) or not isinstance(mask_value, (str, int, float, np.integer, np.floating))):
            raise TypeError(f"{who}: mask_value must be a string, a number or None. Received: mask_value={mask_value!r}")
        self.output_mode = _check_mode(who, output_mode, _HASH_MODES)
        _check_sparse(who, sparse)
        self.num_bins = int(num_bins)
        self.mask_value = mask_value.item() if isinstance(mask_value, (np.integer, np.floating)) else mask_value
        self.salt = None
        self.sparse = False

    def __call__(self, inputs: Any, training: Optional[bool] = None, **kwargs: Any) -> Any:
        if _is_data_list(inputs):
            inputs = np.asarray(inputs)
        return super().__call__(inputs, training=training, **kwargs)

    def _check_input(self, x: Any) -> np.ndarray:
        arr = np.asarray(x)
        if arr.dtype.kind in "biuf":
            return arr
        return _string_array(f"Hashing '{self.name}'", arr, "utf-8")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if self.output_mode == "int":
            return tuple(input_shape)
        return _encoded_shape(input_shape, self.output_mode, self.num_bins)

    def forward(self, x: Any, training: bool = False) -> tuple:
        who = f"Hashing '{self.name}'"
        arr = self._check_input(x)
        numeric = arr.dtype.kind in "biuf"
        if numeric:
            if arr.dtype.kind == "f" and not np.isfinite(arr).all():
                raise ValueError(f"{who}: expected finite numbers or strings. Received: NaN or infinite values")
            keys = arr.astype(np.int64).astype(str)
        else:
            keys = arr
        buckets = self.num_bins
        mask = None
        if self.mask_value is not None and buckets > 1:
            buckets -= 1
            if numeric == (not isinstance(self.mask_value, str)):
                mask = arr == self.mask_value
        idx = _hash_buckets(keys, buckets)
        if mask is not None:
            idx = np.where(mask, 0, idx + 1)
        if self.output_mode == "int":
            return idx, arr.shape
        return _encode(idx, self.output_mode, self.num_bins, who), arr.shape

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            num_bins=self.num_bins, mask_value=self.mask_value, salt=self.salt, output_mode=self.output_mode, sparse=self.sparse
        )
        return config


_CROSS_MODES = ("int", "one_hot")
_CROSS_KEY = 0xDECAFCAFFE  # TensorFlow's default hash key of sparse.cross_hashed
_CAT_MUL = 0xC6A4A7935BD1E995


def _shift_mix(v: int) -> int:
    return v ^ (v >> 47)


def _fingerprint_cat64(fp1: int, fp2: int) -> int:
    """TensorFlow's ``FingerprintCat64``: an order-dependent combination of two 64-bit fingerprints."""
    result = fp1 ^ _CAT_MUL
    result ^= (_shift_mix((fp2 * _CAT_MUL) & _M) * _CAT_MUL) & _M
    result = (result * _CAT_MUL) & _M
    result = (_shift_mix(result) * _CAT_MUL) & _M
    return _shift_mix(result)


def _feature_hashes(values: np.ndarray) -> list:
    """The 64-bit value each feature contributes to a cross: ``Fingerprint64`` of the UTF-8
    bytes of a string, the two's complement bits of an integer."""
    flat = values.reshape(-1)
    if values.dtype.kind == "U":
        uniq, inverse = np.unique(flat, return_inverse=True)
        hashed = [_fingerprint64(str(k).encode("utf-8")) for k in uniq]
        return [hashed[i] for i in inverse.reshape(-1)]
    return [int(v) & _M for v in flat.astype(np.int64)]


class HashedCrossing(_IndexLayer):
    """Crosses categorical features with the hashing trick (Keras 3 ``HashedCrossing``).

    Each sample's features ``f_1, ..., f_k`` go to bin
    ``FingerprintCat64(...FingerprintCat64(0xDECAFCAFFE, h(f_1))..., h(f_k)) mod num_bins``,
    where ``h`` is FarmHash ``Fingerprint64`` of the UTF-8 bytes for a string and the value's
    64 bits for an integer: the bins of TensorFlow's ``sparse.cross_hashed``, which Keras
    uses. Floats with integer values (the inputs of a pynncore model) count as integers.

    Args:
        num_bins: number of hash bins (>= 1).
        output_mode: ``"int"`` (bin indices) or ``"one_hot"``.
        sparse: only False.

    Call arguments:
        inputs: a list or tuple of at least two features of equal shape ``()``, ``(N,)`` or
            ``(N, 1)``, each strings or integers.

    Returns:
        int64 bins of the features' shape, or float32 one-hot vectors ``(N, num_bins)``
        (``(num_bins,)`` for scalar features).

    Raises:
        ValueError: num_bins < 1, an unknown output_mode, sparse=True, fewer than two
            features, features of other shapes or of unequal shapes, non-integer numbers.
        TypeError: a feature that is neither strings nor numbers.

    Example:
        >>> HashedCrossing(num_bins=5)((np.array(["A", "B", "A", "B", "A"]), np.array([101, 101, 101, 102, 102])))
        array([1, 4, 1, 1, 3])
    """

    def __init__(self, num_bins: int, output_mode: str = "int", sparse: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        who = f"HashedCrossing '{self.name}'"
        if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 1:
            raise ValueError(f"{who}: num_bins must be an integer >= 1. Received: num_bins={num_bins!r}")
        if output_mode not in _CROSS_MODES:
            raise ValueError(f"{who}: output_mode must be one of {list(_CROSS_MODES)}. Received: output_mode={output_mode!r}")
        _check_sparse(who, sparse)
        self.num_bins = int(num_bins)
        self.output_mode = output_mode
        self.sparse = False

    def _who(self) -> str:
        return f"HashedCrossing '{self.name}'"

    def _check_features(self, inputs: Any) -> list:
        who = self._who()
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{who}: expected a list or tuple of features. Received: inputs of type {type(inputs).__name__}")
        if len(inputs) < 2:
            raise ValueError(f"{who}: expected at least two features. Received: {len(inputs)} feature(s)")
        feats = []
        for i, x in enumerate(inputs):
            arr = np.asarray(x)
            if arr.dtype.kind == "f":
                if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
                    raise ValueError(f"{who}: numeric feature {i} must hold integers. Received: non-integer values")
                arr = arr.astype(np.int64)
            elif arr.dtype.kind == "b":
                raise TypeError(f"{who}: feature {i} must be strings or integers. Received: dtype=bool")
            elif arr.dtype.kind not in "iu":
                arr = _string_array(f"{who}: feature {i}", arr, "utf-8")
            feats.append(arr)
        shape = feats[0].shape
        if len(shape) > 2 or (len(shape) == 2 and shape[-1] != 1):
            raise ValueError(f"{who}: features must have shape (), (batch_size,) or (batch_size, 1). Received: shape={shape}")
        for i, f in enumerate(feats[1:], 1):
            if f.shape != shape:
                raise ValueError(f"{who}: all features must have equal shapes. Received: shapes {shape} and {f.shape} (feature {i})")
        return feats

    def __call__(self, inputs: Any, training: Optional[bool] = None, **kwargs: Any) -> Any:
        if _is_data_list(inputs):
            self._check_call_kwargs(kwargs)
            feats = self._check_features(inputs)
            self._maybe_build([(None,) + f.shape[1:] for f in feats])
            y, _ = self.forward(feats, training=bool(training))
            return y
        return super().__call__(inputs, training=training, **kwargs)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        who = self._who()
        if not isinstance(input_shape, list) or len(input_shape) < 2:
            raise ValueError(f"{who}: expected a list of at least two feature shapes. Received: input_shape={input_shape}")
        shape = tuple(input_shape[0])
        if self.output_mode == "int":
            return shape
        return _encoded_shape(shape, "one_hot", self.num_bins)

    def forward(self, x: Any, training: bool = False) -> tuple:
        feats = self._check_features(x)
        shape = feats[0].shape
        columns = [_feature_hashes(f) for f in feats]
        bins = []
        for row in zip(*columns):
            h = _CROSS_KEY
            for v in row:
                h = _fingerprint_cat64(h, v)
            bins.append(h % self.num_bins)
        idx = np.array(bins, dtype=np.int64).reshape(shape)
        ctx = [f.shape for f in feats]
        if self.output_mode == "int":
            return idx, ctx
        out = _encode(idx, "one_hot", self.num_bins, self._who())
        return (out[0] if not shape else out), ctx

    def backward(self, ctx: Any, dy: np.ndarray, need_dx: bool = True) -> Any:
        # Bins are not differentiable: every feature gets a zero gradient.
        return [np.zeros(s, np.float32) for s in ctx] if need_dx else None

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(num_bins=self.num_bins, output_mode=self.output_mode, sparse=self.sparse)
        return config
