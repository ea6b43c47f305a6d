"""A twin's deep copy (what Bytewax takes of every state at an epoch end) is a pickle round trip
since issue 10, part TWIN4: an equal, independent twin; and the largest deviations are found
without sorting all of them, in the order the full stable sort gave."""

from __future__ import annotations

import copy
import pickle
import random

from tests.factories import feature_stream, metadata, windows
from twin_models.twin import AssetTwin, TwinConfig
from twin_models.twin_window import largest


def test_a_deep_copy_is_an_equal_independent_twin() -> None:
    twin = AssetTwin(metadata(), TwinConfig(warmup_windows=10))
    fvs = windows(feature_stream(80, seed=4, fault_from=60))
    for fv in fvs[:40]:
        twin.update(fv)
    before = pickle.dumps(twin)
    twin_copy = copy.deepcopy(twin)
    assert twin_copy is not twin and twin_copy.detector is not twin.detector
    # what a resume from the recovery store gives (a pickle round trip: strings that the original
    # shares with attribute names are not interned in it, so its bytes are compared with that)
    assert pickle.dumps(twin_copy) == pickle.dumps(pickle.loads(before))
    copied_snaps = [twin_copy.update(fv) for fv in fvs[40:]]
    assert pickle.dumps(twin) == before  # the copy's learning did not touch the original
    assert [twin.update(fv) for fv in fvs[40:]] == copied_snaps


def test_the_largest_deviations_are_the_stable_sorts_first_items() -> None:
    rng = random.Random(1)
    for _ in range(2000):
        n = rng.randint(0, 40)
        devs = {f"f{i}": rng.choice([0.0, -0.0, 1.0, -1.0, 2.5, -2.5, rng.gauss(0, 3)]) for i in range(n)}
        k = rng.randint(1, 8)
        want = sorted(devs.items(), key=lambda kv: abs(kv[1]), reverse=True)[:k]
        assert largest(devs, k) == want
