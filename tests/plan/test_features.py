"""Feature planning: safe identifiers, effective bounds, example values."""

from __future__ import annotations

import keyword

from deployment_agent.contract.manifest import FeatureSpec
from deployment_agent.plan.features import JSON_SAFE_INT, bounds, example_value, identifier


def test_feature_names_become_unique_valid_identifiers() -> None:
    taken: set[str] = set()
    names = ["mean radius", "petal length (cm)", "od280/od315", "class", "2nd feature",
             "Mean Radius", "model_config", "€", "row", "match", "x" * 200, "年齢", ".l", "I", "O"]
    idents = [identifier(n, taken) for n in names]
    assert idents[:10] == ["mean_radius", "petal_length_cm", "od280_od315", "class_",
                           "f_2nd_feature", "mean_radius_2", "model_config_", "feature",
                           "row_", "match_"]
    assert idents[10] == "x" * 40 and idents[11] == "feature_2"
    # ruff's E741 rejects the ambiguous name "l"; "I" and "O" are lowercased first.
    assert idents[12:] == ["l_", "i", "o"]
    assert all(i.isidentifier() and i.isascii() and not keyword.iskeyword(i) for i in idents)
    assert len(set(idents)) == len(idents)


def test_unbounded_ints_are_capped_to_what_json_holds_exactly() -> None:
    assert bounds(FeatureSpec(type="int")) == (-JSON_SAFE_INT, JSON_SAFE_INT)
    assert bounds(FeatureSpec(type="int", minimum=0)) == (0, JSON_SAFE_INT)
    assert bounds(FeatureSpec(type="float")) == (None, None)


def test_example_values_respect_the_bounds() -> None:
    assert example_value(FeatureSpec(type="int", minimum=5, maximum=9), None) == 7
    assert example_value(FeatureSpec(type="int", minimum=10), {"mean": 3.2}) == 10
    assert example_value(FeatureSpec(type="float", maximum=-2.0), None) == -2.0
    assert example_value(FeatureSpec(type="str", enum=["b", "a"]), None) == "b"
