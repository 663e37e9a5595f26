"""Hypothesis profiles for the property tests in this folder.

The default ``ci`` profile runs few examples so the suite stays fast. Set
``PYNNCORE_FUZZ_EXAMPLES=2000`` (any number) to run that many examples per property, e.g.
``PYNNCORE_FUZZ_EXAMPLES=2000 pytest tests/reliability -k fuzz``.
"""

from __future__ import annotations

import os

try:
    from hypothesis import HealthCheck, settings
except ImportError:  # the property tests skip themselves
    settings = None

if settings is not None:
    _common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], derandomize=False)
    settings.register_profile("ci", max_examples=12, **_common)
    settings.register_profile("fuzz", max_examples=int(os.environ.get("PYNNCORE_FUZZ_EXAMPLES", "500") or 500), **_common)
    settings.load_profile("fuzz" if os.environ.get("PYNNCORE_FUZZ_EXAMPLES") else "ci")
