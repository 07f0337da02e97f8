"""The recommender, as Python: the catalogue is read as declared, neighbours and scored items
come ranked as the model ranks them, exclusions and k are honoured."""

from __future__ import annotations

import csv
from pathlib import Path

import lightgbm
import numpy as np
import pytest
from sklearn.neighbors import NearestNeighbors

from deployment_agent.service import scoring_sklearn
from deployment_agent.service.predictor import Predictor
from deployment_agent.service.recommender import (
    CatalogueError,
    Query,
    Recommender,
    read_catalogue,
)
from deployment_agent.service.spec import Catalogue, Column, ModelSpec

VECTOR = tuple(Column(f"v{i}", "float", "float64") for i in range(4))
ITEM = (Column("price", "float", "float64"), Column("fresh", "bool", "bool"))
QUERY = (Column("budget", "float", "float64"),)


def write_catalogue(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def catalogue_spec(strategy: str, columns: tuple[Column, ...], metric: str = "euclidean",
                   item_id_type: str = "str") -> Catalogue:
    return Catalogue(file="catalogue.csv", sha256="0" * 64, item_id="id",
                     item_id_type=item_id_type, columns=columns, strategy=strategy,
                     max_k=50, default_k=5, metric=metric)


def test_the_catalogue_is_read_by_declared_types_and_bad_cells_are_named(
        tmp_path: Path) -> None:
    path = write_catalogue(tmp_path / "items.csv", ["id", "price", "fresh"],
                           [[1, "2.5", "true"], [2, "", "0"]])
    items = read_catalogue(path, catalogue_spec("scorer", ITEM, item_id_type="int"))
    assert items.ids == [1, 2] and items.rows == [(2.5, True), (None, False)]
    bad = write_catalogue(tmp_path / "bad.csv", ["id", "price", "fresh"], [["a", "x", "1"]])
    with pytest.raises(CatalogueError, match=r"bad.csv line 2, column 'price': 'x' is not a "
                                             "float"):
        read_catalogue(bad, catalogue_spec("scorer", ITEM))
    missing = write_catalogue(tmp_path / "m.csv", ["id", "price"], [["a", "1"]])
    with pytest.raises(CatalogueError, match=r"lacks the columns \['fresh'\]"):
        read_catalogue(missing, catalogue_spec("scorer", ITEM))
    twice = write_catalogue(tmp_path / "t.csv", ["id", "price", "fresh"],
                            [["a", "1", "1"], ["a", "2", "0"]])
    with pytest.raises(CatalogueError, match="not unique"):
        read_catalogue(twice, catalogue_spec("scorer", ITEM))


def test_neighbours_are_the_models_kneighbors_without_the_item_and_the_excluded(
        tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(40, 4)).round(6)
    model = NearestNeighbors(metric="cosine").fit(vectors)
    path = write_catalogue(tmp_path / "items.csv", ["id", *[c.name for c in VECTOR]],
                           [[f"i{n}", *v] for n, v in enumerate(vectors.tolist())])
    spec = catalogue_spec("neighbors", VECTOR, metric="cosine")
    model_spec = ModelSpec(family="sklearn", task="recommendation", columns=VECTOR,
                           catalogue=spec)
    recommender = Recommender(Predictor(scoring_sklearn.Scorer(model, model_spec), model_spec),
                              read_catalogue(path, spec), spec)
    distances, indices = model.kneighbors(vectors[:1], n_neighbors=6)
    expected = [f"i{i}" for i in indices[0].tolist() if i != 0][:3]
    answer = recommender.recommend([Query(None, "i0", 3, frozenset())])[0]
    assert [item["item_id"] for item in answer["items"]] == expected
    assert answer["items"][0]["score"] == pytest.approx(1 - distances[0][1])
    excluded = recommender.recommend([Query(tuple(vectors[0]), None, 3,
                                            frozenset({expected[0]}))])[0]
    assert expected[0] not in [item["item_id"] for item in excluded["items"]]
    assert len(excluded["items"]) == 3
    assert recommender.unknown(["i1", "nope"]) == ["nope"]


def test_a_rankers_top_k_are_its_highest_scored_items(tmp_path: Path) -> None:
    """LGBMRanker scores (query, item) rows: the answer is its own ranking of the items."""
    rng = np.random.default_rng(1)
    prices = rng.uniform(1, 100, 30).round(2)
    fresh = rng.integers(0, 2, 30).astype(bool)
    budgets = rng.uniform(1, 100, 50)
    rows = np.array([[b, p, f] for b in budgets for p, f in zip(prices, fresh, strict=True)])
    relevance = ((rows[:, 1] <= rows[:, 0]) * 2 + rows[:, 2]).astype(int)
    model = lightgbm.LGBMRanker(n_estimators=30, verbose=-1, min_child_samples=5).fit(
        rows, relevance, group=[30] * 50)
    path = write_catalogue(tmp_path / "items.csv", ["id", "price", "fresh"],
                           [[f"p{i}", p, str(f).lower()] for i, (p, f) in
                            enumerate(zip(prices.tolist(), fresh.tolist(), strict=True))])
    spec = catalogue_spec("scorer", ITEM)
    model_spec = ModelSpec(family="sklearn", task="recommendation", columns=QUERY + ITEM,
                           catalogue=spec)
    recommender = Recommender(Predictor(scoring_sklearn.Scorer(model, model_spec), model_spec),
                              read_catalogue(path, spec), spec)
    queries = [Query((40.0,), None, 4, frozenset()), Query((80.0,), None, 2,
                                                           frozenset({"p0"}))]
    answers = recommender.recommend(queries)
    for query, answer in zip(queries, answers, strict=True):
        assert query.row is not None
        scores = model.predict(np.array([[query.row[0], p, f] for p, f in
                                         zip(prices, fresh, strict=True)]))
        order = [f"p{i}" for i in np.argsort(-scores, kind="stable")
                 if f"p{i}" not in query.exclude][:query.k]
        assert [item["item_id"] for item in answer["items"]] == order
        assert [item["score"] for item in answer["items"]] == sorted(
            (item["score"] for item in answer["items"]), reverse=True)
