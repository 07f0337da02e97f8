"""Template context: identifiers, names and pins derived from the manifest."""

from __future__ import annotations

from deployment_agent.context import annotation, field_args, identifier, slugify
from deployment_agent.manifest import FeatureSpec


def test_feature_names_become_unique_valid_identifiers() -> None:
    taken: set[str] = set()
    names = ["mean radius", "petal length (cm)", "od280/od315", "class", "2nd feature",
             "Mean Radius", "model_config", "€"]
    idents = [identifier(n, taken) for n in names]
    assert idents == ["mean_radius", "petal_length_cm", "od280_od315", "class_",
                      "f_2nd_feature", "mean_radius_2", "model_config_", "feature"]
    assert all(i.isidentifier() for i in idents)


def test_slug_is_a_valid_bento_and_image_name() -> None:
    assert slugify("Customer Churn API") == "customer-churn-api"
    assert slugify("  Ünïcode / Model v2!! ") == "n-code-model-v2"
    assert slugify("!!!") == "model-api"


def test_annotations_and_bounds() -> None:
    spec = FeatureSpec(type="str", enum=["a", "b"], nullable=True)
    assert annotation(spec) == 'Literal["a", "b"] | None'
    # Unbounded ints are capped to the exactly representable JSON range.
    assert field_args("age", "age", FeatureSpec(type="int")) == \
        "ge=-9007199254740992, le=9007199254740992"
    assert field_args("x y", "x_y", FeatureSpec(type="float", minimum=0, description="d")) == \
        'alias="x y", ge=0.0, allow_inf_nan=False, description="d"'
