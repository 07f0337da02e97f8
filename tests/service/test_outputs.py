"""Outputs normalised for every family: shapes, numpy scalars, label types, probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from deployment_agent.service.outputs import UnreadableOutput, labels, probabilities, vector


def test_columns_become_vectors_and_other_shapes_are_refused() -> None:
    assert vector(np.array([[1], [2]]), 2, "x").tolist() == [1, 2]
    with pytest.raises(UnreadableOutput, match=r"x has shape \(2, 2\), expected \(2,\)"):
        vector(np.ones((2, 2)), 2, "x")


def test_labels_are_the_model_classes_whatever_type_the_library_returns() -> None:
    assert labels(np.array([1.0, 0.0]), [0, 1], 2) == [1, 0]
    assert labels(np.array([b"no", b"yes"], dtype=object), ["no", "yes"], 2) == ["no", "yes"]
    assert labels(np.array(["yes"]), ["no", "yes"], 1) == ["yes"]
    found = labels(np.array([[np.int64(2)]]), [1, 2], 1)
    assert found == [2] and type(found[0]) is int
    with pytest.raises(UnreadableOutput, match="predicted 7, not one of the classes"):
        labels(np.array([7]), [0, 1], 1)


def test_a_binary_positive_column_becomes_two_probabilities() -> None:
    np.testing.assert_allclose(probabilities(np.array([0.25]), 2, 1), [[0.75, 0.25]])
    with pytest.raises(UnreadableOutput, match="one column per class"):
        probabilities(np.ones((1, 2)), 3, 1)
