"""Product recommender: the seed's second example ("Product Recommender API").

Factorises a seeded synthetic user x product purchase matrix with TruncatedSVD, so that
every product gets an 8-dimensional taste vector, and fits NearestNeighbors (cosine) on
those vectors. The catalogue (``recommender_items.csv``) lists every product, in the order
the neighbours were fitted on, with its vector, name and category. A query is a vector
in the same space (a user's tastes, or one product's); the service answers with the k
nearest products. Writes ``artifacts/modeling/recommender.json`` (or into the folder given
as the first argument), beside the churn example's manifest.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from pathlib import Path

import numpy as np
from sklearn.decomposition import TruncatedSVD
from sklearn.neighbors import NearestNeighbors

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from experiment import feature_stats, write_experiment  # noqa: E402

FACTORS = [f"taste_{i}" for i in range(8)]
CATEGORIES = ["books", "garden", "kitchen", "music", "outdoor", "toys"]


def make_purchases(users: int = 1500, products: int = 240, seed: int = 7
                   ) -> tuple[np.ndarray, list[str]]:
    """Purchases driven by hidden tastes: users buy more from the categories they like."""
    rng = np.random.default_rng(seed)
    category = rng.integers(0, len(CATEGORIES), products)
    liking = rng.dirichlet(np.full(len(CATEGORIES), 0.4), users)
    odds = liking[:, category] * rng.gamma(2.0, 1.0, products)
    purchases = (rng.random((users, products)) < np.clip(odds * 0.6, 0, 0.9)).astype(float)
    return purchases, [CATEGORIES[c] for c in category]


def main(out_dir: Path) -> None:
    purchases, categories = make_purchases()
    svd = TruncatedSVD(n_components=len(FACTORS), random_state=0).fit(purchases)
    items = (svd.components_.T * svd.singular_values_).round(6)  # product vectors
    users = svd.transform(purchases).round(6)  # user vectors, the queries' space
    model = NearestNeighbors(metric="cosine").fit(items)
    out_dir.mkdir(parents=True, exist_ok=True)
    catalogue = out_dir / "recommender_items.csv"
    with catalogue.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["item_id", "name", "category", *FACTORS])
        for i, (vector, category) in enumerate(zip(items, categories, strict=True)):
            writer.writerow([f"P{i:04d}", f"{category.title()} product {i}", category,
                             *vector.tolist()])
    hits = 0  # how often a user's nearest product is one they bought
    _, nearest = model.kneighbors(users[:300], n_neighbors=1)
    hits = sum(purchases[u, nearest[u, 0]] > 0 for u in range(300))
    write_experiment(out_dir, model, "sklearn", {
        "experiment_id": "recommender-svd-knn-001",
        "model_name": "product_recommender",
        "model_version": "1.0.0",
        "task": "recommendation",
        "recommendation": {
            "strategy": "neighbors",
            "catalog_path": catalogue.name,
            "catalog_sha256": hashlib.sha256(catalogue.read_bytes()).hexdigest(),
            "item_id": "item_id",
            "item_id_type": "str",
            "max_k": 50,
            "default_k": 10,
        },
        "input_schema": {name: {"type": "float", "minimum": -100, "maximum": 100,
                                "description": f"Taste factor {i} (TruncatedSVD component)"}
                         for i, name in enumerate(FACTORS)},
        "example_input": dict(zip(FACTORS, users[0].tolist(), strict=True)),
        "metrics": {"explained_variance": round(float(svd.explained_variance_ratio_.sum()), 4),
                    "hit_rate_at_1": round(hits / 300, 4)},
        "feature_stats": feature_stats(dict(zip(FACTORS, users.T, strict=True))),
    }, name="recommender")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("artifacts/modeling"))
