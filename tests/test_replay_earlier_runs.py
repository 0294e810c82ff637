"""Run folders written by noisesearch 0.1.0 still replay exactly.

``tests/data/runs_0.1.0/`` holds searches written by version 0.1.0 (config.json,
results.jsonl, the winners' noises and images; the extra particles of smc removed): random
search with and without cheap search steps, eps-greedy's zero-order variant and smc on
digits, and search over paths on the Gaussian mixture (its winners follow a path with
re-noisings). Replaying regenerates every winner from its noises alone and must give the
recorded score and, for images, the recorded PNG bytes.
"""

from pathlib import Path

import pytest

from noisesearch.replay import replay

RUNS = Path(__file__).parent / "data" / "runs_0.1.0"


@pytest.mark.parametrize("name", ["digits-random", "digits-random-search-steps", "digits-zero-order-steps",
                                  "digits-smc", "gmm-paths"])
def test_run_folders_of_version_0_1_0_replay_exactly(name):
    replayed = replay(RUNS / name)
    assert len(replayed) >= 2
    for r in replayed:
        assert r.score == r.recorded, (r.condition, r.score, r.recorded)
        assert r.image_identical is (None if name.startswith("gmm") else True)
        assert r.ok
