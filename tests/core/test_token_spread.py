"""token_spread: the collapse check printed by scripts/probe_grounding.py."""

import pytest
import torch

from slicevlm.vision.token_spread import token_spread


def test_identical_tokens_have_no_spread():
    tokens = torch.randn(1, 1, 8).expand(4, 5, 8)  # one vector for every volume and position
    spread = token_spread(tokens)
    assert spread.across_volumes == pytest.approx(0, abs=1e-6)
    assert spread.across_positions == pytest.approx(0, abs=1e-6)
    assert spread.norm == pytest.approx(float(tokens[0, 0].norm()), rel=1e-6)


def test_spread_separates_volumes_from_positions():
    common = torch.zeros(8)
    common[0] = 10.0
    per_volume = torch.zeros(3, 1, 8)
    per_volume[:, 0, 1] = torch.tensor([-1.0, 0.0, 1.0])  # volumes differ along axis 1 only
    tokens = (common + per_volume).expand(3, 6, 8)  # every position of a volume the same
    spread = token_spread(tokens)
    assert spread.across_positions == pytest.approx(0, abs=1e-6)
    expected = (2 / 3) / float(tokens.norm(dim=-1).mean())  # mean |deviation| = (1 + 0 + 1) / 3
    assert spread.across_volumes == pytest.approx(expected, rel=1e-5)

    positions = torch.zeros(1, 6, 8)
    positions[0, :, 2] = torch.arange(6.0) - 2.5  # now positions differ, identically in each volume
    spread = token_spread(common + positions.expand(3, 6, 8))
    assert spread.across_volumes == pytest.approx(0, abs=1e-6)
    assert spread.across_positions > 0.1


def test_one_volume_is_refused():
    with pytest.raises(ValueError, match="B ≥ 2"):
        token_spread(torch.randn(1, 4, 8))
