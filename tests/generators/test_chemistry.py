from __future__ import annotations

import numpy as np
import pytest

from generators.gflownet.chemistry import ChargeRules, smact_valid
from loop.errors import ConfigError


def test_smact_validity() -> None:
    assert smact_valid({"Na": 1, "Cl": 1})
    assert not smact_valid({"Na": 2, "Cl": 1})
    assert smact_valid({"Ba": 1, "F": 2}) and not smact_valid({"Ba": 1, "F": 1})
    assert smact_valid({"Fe": 3})  # one element
    assert smact_valid({"Cu": 1, "Zn": 1})  # an alloy


def test_charge_rules_vectorised() -> None:
    rules = ChargeRules(["Ba", "F", "O"])
    got = rules.valid(np.array([[1, 2, 0], [1, 0, 1], [1, 1, 0], [0, 0, 0], [2, 2, 1]]))
    assert got.tolist() == [True, True, False, False, True]


def test_unknown_element_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="Xx"):
        ChargeRules(["Na", "Xx"])
