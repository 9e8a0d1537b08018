"""Shared test set-up: Hypothesis profiles, chosen by HYPOTHESIS_PROFILE (default ``dev``).

``ci`` extends Hypothesis's built-in CI profile (derandomized, no deadline) and is sized to fit
the CI budget; ``dev`` is quick for local runs; ``thorough`` is for long campaigns.
"""

import os
from pathlib import Path

from hypothesis import HealthCheck, settings

CONFORMANCE = Path(__file__).parent / "conformance"

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                      HealthCheck.data_too_large])
settings.register_profile("ci", parent=settings.get_profile("ci"), max_examples=60, **_common)
settings.register_profile("dev", max_examples=30, **_common)
settings.register_profile("thorough", max_examples=2000, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))
