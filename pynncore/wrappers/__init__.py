"""Wrappers that let pynncore models work inside other libraries.

``SKLearnClassifier`` and ``SKLearnRegressor`` (Keras 3's signature) and the classic
``scikit_learn.KerasClassifier`` / ``KerasRegressor`` (``build_fn`` plus ``sk_params``) make a
pynncore model a scikit-learn estimator: usable in ``Pipeline``, ``GridSearchCV`` and
``cross_val_score``, clonable and picklable. They need scikit-learn installed.
"""

from pynncore.wrappers.scikit_learn import KerasClassifier, KerasRegressor, SKLearnClassifier, SKLearnRegressor

__all__ = ["KerasClassifier", "KerasRegressor", "SKLearnClassifier", "SKLearnRegressor"]
