"""I recommend items from the catalogue: the k best for a query, best first.

Two strategies, as the manifest declares:

- ``neighbors``: the model has ``kneighbors`` and was fitted on the catalogue's item
  vectors, row by row. "Items like item X" looks up X's vector in the catalogue (X itself is
  never recommended); "items for this query" takes the query's vector. The score is the
  similarity: ``1 - distance`` for the cosine metric, else ``1 / (1 + distance)``.
- ``scorer``: the model scores one row per catalogue item, the query's features followed by
  the item's, and the items come ranked by that score (a classifier's positive-class
  probability, a regressor's or ranker's value); items of equal score keep their
  catalogue order.

Excluded ids are left out before the k are taken, so an answer has k items whenever the
catalogue has that many left. I read the catalogue (a CSV file, hash-verified like the
model) at start-up with the standard library, each column by its declared type; an
unusable file stops the model from becoming ready, with the row and column named.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .answers import Answers
from .predictor import Predictor
from .spec import Catalogue as CatalogueSpec
from .spec import Column

TRUE, FALSE = frozenset({"true", "1"}), frozenset({"false", "0"})


class CatalogueError(Exception):
    """I am raised when the catalogue file cannot be read as declared."""


def parse(text: str, kind: str, where: str) -> Any:
    """I read one CSV cell as its declared type ("" is null)."""
    if text == "":
        return None
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise CatalogueError(f"{where}: {text!r} is not {'an int' if kind == 'int' else 'a float'}"
                             ) from None
    if kind == "bool":
        if text.lower() in TRUE | FALSE:
            return text.lower() in TRUE
        raise CatalogueError(f"{where}: {text!r} is not a bool (true/false)")
    return text


@dataclass(frozen=True)
class Catalogue:
    """I am the items: their ids, their rows (the columns the model reads), and where each
    id is."""

    ids: list[Any]
    rows: list[tuple[Any, ...]]
    position: dict[Any, int]


def read_catalogue(path: Path, spec: CatalogueSpec) -> Catalogue:
    """I read the catalogue CSV: a header, then one item per row."""
    columns: Sequence[Column] = spec.columns
    ids: list[Any] = []
    rows: list[tuple[Any, ...]] = []
    with path.open(newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        missing = [c for c in (spec.item_id, *(c.name for c in columns))
                   if c not in (reader.fieldnames or ())]
        if missing:
            raise CatalogueError(f"{path}: the header lacks the columns {missing}")
        for line, record in enumerate(reader, start=2):
            where = f"{path} line {line}"
            item = parse(record[spec.item_id], spec.item_id_type, f"{where}, item id")
            if item is None:
                raise CatalogueError(f"{where}: the item id is empty")
            ids.append(item)
            rows.append(tuple(parse(record[c.name], c.type, f"{where}, column {c.name!r}")
                              for c in columns))
    position = {item: i for i, item in enumerate(ids)}
    if len(position) != len(ids):
        raise CatalogueError(f"{path}: item ids are not unique")
    if not ids:
        raise CatalogueError(f"{path}: the catalogue has no items")
    return Catalogue(ids, rows, position)


@dataclass(frozen=True)
class Query:
    """I am one validated request: a query row or an item id, how many, which to leave out."""

    row: tuple[object, ...] | None
    item_id: Any
    k: int
    exclude: frozenset[Any]


class Recommender:
    """I rank the catalogue's items for queries."""

    def __init__(self, predictor: Predictor, catalogue: Catalogue, spec: CatalogueSpec) -> None:
        """I keep the model, the items and the strategy."""
        self.predictor = predictor
        self.catalogue = catalogue
        self.spec = spec

    def unknown(self, ids: Sequence[Any]) -> list[Any]:
        """I return the ids that are not in the catalogue (the web layer answers 422)."""
        return [i for i in ids if i not in self.catalogue.position]

    def recommend(self, queries: Sequence[Query]) -> Answers:
        """I answer each query with its ranked items; the drift monitor watches each
        answer's best score, and answers with fewer items than asked for are counted."""
        if self.spec.strategy == "neighbors":
            answers = self._neighbors(queries)
        else:
            answers = self._scored(queries)
        best = [a["items"][0]["score"] if a["items"] else None for a in answers]
        short = sum(len(a["items"]) < q.k for q, a in zip(queries, answers, strict=True))
        return Answers(answers, best, short)

    def _answer(self, ranked: list[tuple[Any, float]], query: Query) -> dict[str, Any]:
        """I keep the first k items that are not excluded."""
        items = [{"item_id": item, "score": score} for item, score in ranked
                 if item not in query.exclude and item != query.item_id][:query.k]
        return {"items": items}

    def _neighbors(self, queries: Sequence[Query]) -> list[dict[str, Any]]:
        """I search the nearest items of every query in one kneighbors call."""
        catalogue = self.catalogue
        vectors = [q.row if q.row is not None else catalogue.rows[catalogue.position[q.item_id]]
                   for q in queries]
        wanted = max(q.k + len(q.exclude) + (q.item_id is not None) for q in queries)
        distances, indices = self.predictor.scorer.kneighbors(  # type: ignore[attr-defined]
            vectors, min(wanted, len(catalogue.ids)))
        distances = np.asarray(distances, dtype=np.float64)
        similar = 1.0 - distances if self.spec.metric == "cosine" else 1.0 / (1.0 + distances)
        return [self._answer([(catalogue.ids[i], s) for i, s in zip(
                    row_indices, row_scores, strict=True)], query)
                for query, row_indices, row_scores in zip(
                    queries, np.asarray(indices).tolist(), similar.tolist(), strict=True)]

    def _scored(self, queries: Sequence[Query]) -> list[dict[str, Any]]:
        """I score every (query, item) pair in one model call, then rank each query's."""
        catalogue = self.catalogue
        n = len(catalogue.ids)
        pairs = [query.row + item for query in queries if query.row is not None
                 for item in catalogue.rows]
        scores = np.asarray(self.predictor.scores(pairs), dtype=np.float64).reshape(-1, n)
        answers = []
        for query, row in zip(queries, scores, strict=True):
            wanted = min(query.k + len(query.exclude), n)
            best = np.arange(n)
            if wanted < n:  # every item scoring at least the wanted-th best, ties included
                cut = np.partition(-row, wanted - 1)[wanted - 1]
                best = np.flatnonzero(-row <= cut)
            # Best first; equal scores in catalogue order, whatever the partition did.
            best = best[np.lexsort((best, -row[best]))][:wanted]
            answers.append(self._answer([(catalogue.ids[i], float(row[i]))
                                         for i in best.tolist()], query))
        return answers

    def check(self, row: tuple[object, ...]) -> dict[str, Any]:
        """I recommend for the example query and verify the answer is ranked, finite and
        of known items; I raise CatalogueError if not."""
        answer = self.recommend([Query(row, None, self.spec.default_k, frozenset())])[0]
        self._verify(answer)
        return answer

    def _verify(self, answer: dict[str, Any]) -> None:
        """I refuse an answer that is empty, unranked, or holds unknown items or scores
        that are not finite."""
        scores = [item["score"] for item in answer["items"]]
        if not scores:
            raise CatalogueError("the self-check recommended no item")
        if not all(np.isfinite(scores)) or scores != sorted(scores, reverse=True):
            raise CatalogueError(f"the self-check's scores {scores} are not finite and ranked")
        if self.unknown([item["item_id"] for item in answer["items"]]):
            raise CatalogueError("the self-check recommended items not in the catalogue")
