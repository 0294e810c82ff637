"""Noise levels in the papers' units: VP level, EDM sigma and flow (interpolant) time."""

import math

import pytest
import torch

from noisesearch.errors import InputError
from noisesearch.processes.levels import UNITS, convert, from_vp, require_level, to_vp


@pytest.mark.parametrize("vp, edm, flow", [
    (0.0, 0.0, 0.0),
    (2**-0.5, 1.0, 0.5),  # EDM's sigma = 1 is the midpoint of the flow path
    (1.0, math.inf, 1.0),  # pure noise
])
def test_known_points(vp, edm, flow):
    assert to_vp(edm, "edm") == pytest.approx(vp) and to_vp(flow, "flow") == pytest.approx(vp)
    assert from_vp(vp, "edm") == pytest.approx(edm) and from_vp(vp, "flow") == pytest.approx(flow)
    assert convert(edm, "edm", "flow") == pytest.approx(flow)


def test_flow_time_066_is_vp_level_089_and_t_089_is_0992():
    assert to_vp(0.66, "flow") == pytest.approx(0.889, abs=1e-3)
    assert from_vp(0.89, "flow") == pytest.approx(0.661, abs=1e-3)
    assert to_vp(0.89, "flow") == pytest.approx(0.9924, abs=1e-4)


def test_the_definitions_hold_on_the_paths_themselves():
    # x = x0 + s eps scaled by 1/sqrt(1 + s^2) and x = (1 - t) x0 + t eps scaled by 1/sqrt((1-t)^2 + t^2)
    # are the VP path sqrt(1 - l^2) x0 + l eps with the same level l
    for s in (0.05, 0.5, 1.0, 3.0, 80.0):
        level = to_vp(s, "edm")
        assert s / math.sqrt(1 + s * s) == pytest.approx(level)
        assert 1 / math.sqrt(1 + s * s) == pytest.approx(math.sqrt(1 - level * level))
        t = convert(s, "edm", "flow")
        assert t / (1 - t) == pytest.approx(s)  # same signal-to-noise ratio


@pytest.mark.parametrize("unit", UNITS)
def test_round_trips_and_monotone(unit):
    levels = torch.linspace(0, 1, 1001, dtype=torch.float64)
    there = from_vp(levels, unit)
    assert there.dtype == torch.float64 and there.shape == levels.shape
    assert (there.diff() > 0).all()
    assert torch.allclose(to_vp(there, unit), levels, atol=1e-12)
    for level in (0.0, 0.003, 0.25, 0.7, 0.99, 1.0):
        assert isinstance(from_vp(level, unit), float)
        assert to_vp(from_vp(level, unit), unit) == pytest.approx(level, abs=1e-12)


def test_edges():
    assert from_vp(torch.tensor([1.0]), "edm").isinf().all()
    assert to_vp(torch.tensor([math.inf, 0.0]), "edm").tolist() == [1.0, 0.0]
    assert from_vp(1.0, "flow") == 1.0 and to_vp(1.0, "flow") == 1.0 and to_vp(0.0, "flow") == 0.0


def test_unknown_unit_names_the_valid_ones():
    for call in (lambda: to_vp(0.5, "sigma"), lambda: from_vp(0.5, "sigma")):
        with pytest.raises(InputError, match="unknown noise-level unit 'sigma'; valid: vp, edm, flow"):
            call()


def test_ranges_per_unit():
    require_level("x", 5.0, "edm")  # EDM sigma can exceed 1
    require_level("x", math.inf, "edm")
    for unit in ("vp", "flow"):
        with pytest.raises(InputError, match=r"`x` in unit .* must be in \[0, 1\], got 1.5"):
            require_level("x", 1.5, unit)
    with pytest.raises(InputError, match=r"must be in \(0, inf\)"):
        require_level("x", 0.0, "edm", zero=False, top=False)
