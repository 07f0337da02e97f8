"""Validate experiment manifests: the contract between modelling and deployment.

:class:`ExperimentManifest` is the single definition of the contract: it validates
manifests and is exported as JSON Schema (``docs/experiment_manifest.schema.json``).
:func:`load_manifest` turns every failure into a :class:`ManifestError` that names the
field and the fix.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from ..hashing import sha256_file
from .errors import ManifestError
from .text import check_text

FeatureType = Literal["int", "float", "bool", "str"]
# How the model file is stored, and so which library loads it.
ModelType = Literal["sklearn", "skops", "xgboost", "lightgbm", "catboost", "onnx"]
MODEL_TYPES: dict[str, str] = {
    "sklearn": "a joblib or pickle file of any scikit-learn-compatible estimator",
    "skops": "the safe skops format of one",
    "xgboost": "XGBoost's own model file (.json or .ubj, Booster.save_model)",
    "lightgbm": "LightGBM's text model file (Booster.save_model)",
    "catboost": "CatBoost's own model file (.cbm, save_model)",
    "onnx": "an ONNX model exported by the modelling step",
}
Task = Literal["classification", "regression", "anomaly_detection", "recommendation"]


class FeatureSpec(BaseModel):
    """One input feature: its JSON type and the constraints the service enforces."""

    model_config = ConfigDict(extra="forbid")

    type: FeatureType = Field(description='JSON type: "int", "float", "bool" or "str".')
    minimum: float | None = Field(None, description="Inclusive lower bound (int, float).")
    maximum: float | None = Field(None, description="Inclusive upper bound (int, float).")
    enum: list[str | int] | None = Field(
        None, min_length=1, description="Closed set of allowed values (str, int)."
    )
    nullable: bool = Field(False, description="Whether null is accepted (the model imputes).")
    description: str | None = Field(None, description="Shown in the OpenAPI docs.")

    @model_validator(mode="after")
    def _constraints_fit_type(self) -> FeatureSpec:
        numeric = self.type in ("int", "float")
        if not numeric and (self.minimum is not None or self.maximum is not None):
            raise ValueError(f"minimum/maximum apply to int and float features, not {self.type}")
        if self.minimum is not None and self.maximum is not None and self.minimum > self.maximum:
            raise ValueError(f"minimum {self.minimum} is greater than maximum {self.maximum}")
        if self.enum is not None:
            if self.type not in ("str", "int"):
                raise ValueError(f"enum applies to str and int features, not {self.type}")
            wanted = str if self.type == "str" else int
            wrong = [v for v in self.enum if type(v) is not wanted]
            if wrong:
                raise ValueError(f"enum values {wrong!r} are not of type {self.type}")
            if len(set(self.enum)) != len(self.enum):
                raise ValueError("enum values must be distinct")
            _check_texts("enum value", [v for v in self.enum if isinstance(v, str)])
        if self.description:
            _check_texts("description", [self.description], multiline=True)
        return self


def _check_texts(what: str, values: list[str], multiline: bool = False) -> None:
    """Refuse text that no renderer can write faithfully (see :mod:`.text`)."""
    for value in values:
        problem = check_text(value, multiline)
        if problem:
            raise ValueError(f"{what} {value!r}: {problem}. Fix: remove or replace that "
                             "character")


class Bins(BaseModel):
    """A numeric distribution: inner bin edges (ascending) and the share of each bin."""

    model_config = ConfigDict(extra="forbid")

    edges: list[float] = Field(min_length=1, description="Inner edges, ascending: n-1 of them "
                                                         "for n bins (deciles: 9).")
    fractions: list[Annotated[float, Field(ge=0)]] = Field(
        description="Share of training values in each bin: len(edges) + 1 numbers summing to 1.")

    @model_validator(mode="after")
    def _consistent(self) -> Bins:
        if any(b <= a for a, b in zip(self.edges, self.edges[1:], strict=False)):
            raise ValueError("bins.edges must be strictly ascending")
        if len(self.fractions) != len(self.edges) + 1:
            raise ValueError(f"bins.fractions needs {len(self.edges) + 1} numbers (one per "
                             f"bin), got {len(self.fractions)}")
        if abs(sum(self.fractions) - 1) > 1e-3:
            raise ValueError(f"bins.fractions sum to {sum(self.fractions):.4f}, not 1")
        return self


def _frequencies_sum_to_one(value: dict[str, float] | None) -> dict[str, float] | None:
    if value is not None:
        if any(v < 0 for v in value.values()):
            raise ValueError("frequencies must not be negative")
        if abs(sum(value.values()) - 1) > 1e-3:
            raise ValueError(f"frequencies sum to {sum(value.values()):.4f}, not 1")
    return value


class FeatureStatistics(BaseModel):
    """Training statistics of one feature: the drift monitor's reference."""

    model_config = ConfigDict(extra="forbid")

    mean: float | None = None
    std: float | None = Field(None, ge=0)
    min: float | None = None
    max: float | None = None
    null_rate: float | None = Field(None, ge=0, le=1)
    bins: Bins | None = Field(None, description="Numeric features: decile edges and shares.")
    frequencies: dict[str, float] | None = Field(
        None, description='Categorical features: value (as a string; "true"/"false" for '
                          "bools) -> share of training rows.")

    _sum_to_one = field_validator("frequencies")(_frequencies_sum_to_one)


class PredictionStatistics(BaseModel):
    """The training distribution of the model's predictions."""

    model_config = ConfigDict(extra="forbid")

    bins: Bins | None = Field(None, description="Regression: decile edges and shares.")
    frequencies: dict[str, float] | None = Field(
        None, description="Classification: class label (as a string) -> share.")

    _sum_to_one = field_validator("frequencies")(_frequencies_sum_to_one)


def _expand_short_type(value: Any) -> Any:
    """Accept ``"int"`` as shorthand for ``{"type": "int"}`` (unknown names fail on .type)."""
    return {"type": value} if isinstance(value, str) else value


def _expand_short_types(value: Any) -> Any:
    """A schema's features with their shorthand types expanded."""
    if isinstance(value, dict):
        return {k: _expand_short_type(v) for k, v in value.items()}
    return value


class AnomalySpec(BaseModel):
    """How an anomaly detector's score becomes a decision (task ``anomaly_detection``)."""

    model_config = ConfigDict(extra="forbid")

    threshold: float | None = Field(
        None, description="is_anomaly is anomaly_score < threshold. Default 0: the model's "
                          "own cut (decision_function's sign, as its predict() uses); "
                          "required for a model with score_samples only.")
    expected_rate: float | None = Field(
        None, gt=0, lt=1, description="Share of anomalies expected in live traffic (the "
                                      "alert's baseline); default: the model's numeric "
                                      "contamination, else 0.1.")


class RecommendationSpec(BaseModel):
    """A recommender: its item catalogue and how items are ranked (task
    ``recommendation``)."""

    model_config = ConfigDict(extra="forbid")

    strategy: Literal["neighbors", "scorer"] = Field(
        description='"neighbors": the model has kneighbors() and was fitted on the '
                    "catalogue's item vectors, row by row (the vector columns are "
                    'input_schema\'s); "scorer": the model scores query features '
                    "(input_schema) followed by the item features (item_features), one row "
                    "per catalogue item, and the top k by score are returned.")
    catalog_path: str = Field(
        min_length=1, description="CSV file of the item catalogue (header row; one row per "
                                  "item), relative to the manifest's folder, or absolute.")
    catalog_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        None, description="sha256 of the catalogue file, checked like model_sha256.")
    item_id: str = Field("item_id", min_length=1,
                         description="The catalogue's column of item identifiers.")
    item_id_type: Literal["int", "str"] = Field("str", description="Type of the item ids.")
    item_features: dict[Annotated[str, Field(min_length=1)], FeatureSpec] = Field(
        default_factory=dict,
        description='Scorer: the catalogue columns the model reads after the query features, '
                    'in order (name -> "int" | "float" | "bool" | "str" or a FeatureSpec).')
    max_k: int = Field(100, ge=1, le=10_000, description="Most items one request may ask for.")
    default_k: int = Field(10, ge=1, description="Items returned when a request names no k.")

    _short_types = field_validator("item_features", mode="before")(_expand_short_types)

    @model_validator(mode="after")
    def _consistent(self) -> RecommendationSpec:
        _check_texts("item feature name", [*self.item_features, self.item_id])
        if self.default_k > self.max_k:
            raise ValueError(f"default_k {self.default_k} is greater than max_k {self.max_k}")
        if self.strategy == "scorer" and not self.item_features:
            raise ValueError("item_features: a scorer needs the catalogue columns it reads")
        if self.strategy == "neighbors" and self.item_features:
            raise ValueError("item_features: the neighbors strategy reads input_schema's "
                             "columns from the catalogue; leave item_features out")
        return self




class ExperimentManifest(BaseModel):
    """What the modelling step records about a trained model.

    Unknown top-level fields are kept (and passed to the templates), so newer modelling
    steps can add information without breaking older deployment agents.
    """

    model_config = ConfigDict(extra="allow", protected_namespaces=())

    model_path: str = Field(
        min_length=1, description="Model file, relative to the manifest's folder, or absolute."
    )
    model_type: ModelType = Field(
        description="; ".join(f'"{name}": {what}' for name, what in MODEL_TYPES.items()) + "."
    )
    input_schema: dict[
        Annotated[str, Field(min_length=1)], Annotated[FeatureSpec, Field()]
    ] = Field(
        min_length=1,
        description='Feature name -> "int" | "float" | "bool" | "str", or a FeatureSpec object.'
        " Order matters: it is the column order the model was trained on.",
    )
    experiment_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    task: Task | None = Field(
        None, description="Default: classification when there are classes, "
                          "anomaly_detection for an outlier detector, else regression.")
    anomaly: AnomalySpec | None = Field(None, description="task anomaly_detection only.")
    recommendation: RecommendationSpec | None = Field(
        None, description="task recommendation: required.")
    target: str | None = None
    classes: list[str | int] | None = Field(None, min_length=1)
    output_schema: dict[str, Any] | None = None
    metrics: dict[str, float] | None = None
    framework_versions: dict[str, str] | None = None
    model_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = None
    feature_stats: dict[str, FeatureStatistics] | None = Field(
        None, description="Per-feature training statistics: the drift reference.")
    prediction_stats: PredictionStatistics | None = Field(
        None, description="Training distribution of the predictions: the drift reference of "
                          "the model's output.")
    example_input: dict[str, Any] | None = Field(
        None, description="A valid request body, shown in the docs and used for self-checks."
    )
    reference_path: str | None = Field(
        None, description="A sample of training or test rows with their target (CSV with a "
                          "header, or Parquet): the report's reference for drift and "
                          "quality.")
    reference_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        None, description="sha256 of the reference sample, checked like model_sha256.")
    created_at: str | None = None

    _source: Path = PrivateAttr(default=Path("."))

    _short_types = field_validator("input_schema", mode="before")(_expand_short_types)

    @field_validator("input_schema")
    @classmethod
    def _printable_names(cls, value: dict[str, FeatureSpec]) -> dict[str, FeatureSpec]:
        _check_texts("feature name", list(value))
        return value

    @field_validator("model_name", "model_version", "target", "experiment_id")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        if value is not None:
            _check_texts("value", [value])
        return value

    @field_validator("classes")
    @classmethod
    def _printable_classes(cls, value: list[str | int] | None) -> list[str | int] | None:
        if value is not None:
            _check_texts("class label", [v for v in value if isinstance(v, str)])
            if len({str(v) for v in value}) != len(value):
                raise ValueError("class labels must be distinct (also as strings)")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ExperimentManifest:
        if self.task in ("regression", "anomaly_detection", "recommendation") and self.classes:
            raise ValueError(f"classes are given but task is {self.task}")
        if self.task == "recommendation" and self.recommendation is None:
            raise ValueError("recommendation: task recommendation needs a recommendation "
                             "section")
        if self.recommendation is not None and self.task != "recommendation":
            raise ValueError('recommendation: this section needs "task": "recommendation"')
        if self.anomaly is not None and self.task not in (None, "anomaly_detection"):
            raise ValueError('anomaly: this section needs "task": "anomaly_detection"')
        if self.recommendation is not None:
            clash = sorted(set(self.recommendation.item_features) & set(self.input_schema))
            if clash:
                raise ValueError(f"recommendation.item_features {clash} are also query "
                                 "features in input_schema: name each column once")
        if self.example_input is not None:
            missing = [n for n in self.input_schema if n not in self.example_input]
            extra = [n for n in self.example_input if n not in self.input_schema]
            if missing or extra:
                raise ValueError(
                    f"example_input does not match input_schema (missing {missing}, "
                    f"unknown {extra})"
                )
        return self

    @property
    def source(self) -> Path:
        """The manifest file this was loaded from."""
        return self._source

    def resolve(self, relative: str) -> Path:
        """A path the manifest names, resolved against the manifest's folder."""
        path = Path(relative)
        return path if path.is_absolute() else (self._source.parent / path).resolve()

    @property
    def model_file(self) -> Path:
        """Absolute path of the model file (``model_path`` resolved against the manifest)."""
        return self.resolve(self.model_path)

    @property
    def reference_file(self) -> Path | None:
        """Absolute path of the reference sample, else None."""
        return self.resolve(self.reference_path) if self.reference_path else None

    @property
    def catalog_file(self) -> Path | None:
        """Absolute path of a recommender's item catalogue, else None."""
        return self.resolve(self.recommendation.catalog_path) if self.recommendation else None


# What to do about an error, by the name of the field it is in.
FIXES: dict[str, str] = {
    "model_path": 'set "model_path" to the model file, relative to the manifest or absolute',
    "model_type": 'set "model_type" to one of ' + ", ".join(
        f'"{name}" ({what})' for name, what in MODEL_TYPES.items()),
    "input_schema": 'set "input_schema" to {"feature": "int" | "float" | "bool" | "str", ...}'
    " with at least one feature",
    "type": 'use one of "int", "float", "bool", "str"',
    "task": 'use "classification", "regression", "anomaly_detection" or "recommendation" '
            '(with a "recommendation" section), or leave it out',
    "recommendation": 'give {"strategy": "neighbors" | "scorer", "catalog_path": "items.csv",'
                      ' "item_id": "item_id", ...} (see docs/experiment_manifest.schema.json)',
    "strategy": 'use "neighbors" (a model with kneighbors) or "scorer" (a model that scores '
                "query x item rows)",
    "catalog_path": "set it to the item catalogue (CSV), relative to the manifest or absolute",
    "catalog_sha256": "use the 64 lowercase hex digits printed by `sha256sum CATALOG_FILE`",
    "item_features": 'list the catalogue columns the scorer reads: {"price": "float", ...}',
    "max_k": "a whole number from 1 to 10000",
    "default_k": "a whole number from 1 to max_k",
    "anomaly": 'give {"threshold": number} or leave it out',
    "threshold": "a number: is_anomaly is anomaly_score < threshold",
    "model_sha256": "use the 64 lowercase hex digits printed by `sha256sum MODEL_FILE`",
    "classes": "list the class labels in the order of the model's classes_",
    "enum": "list the allowed values, each of the feature's type",
    "minimum": "bounds are numbers, minimum <= maximum, on int/float features only",
    "maximum": "bounds are numbers, minimum <= maximum, on int/float features only",
    "metrics": "use a flat object of metric name -> number",
    "reference_path": "set it to a CSV or Parquet sample of rows with their target, relative "
                      "to the manifest or absolute",
    "reference_sha256": "use the 64 lowercase hex digits printed by `sha256sum REFERENCE_FILE`",
    "framework_versions": 'use {"scikit-learn": "1.9.1", ...} with string versions',
    "example_input": "give one value for every input_schema feature, and nothing else",
    "feature_stats": 'per feature: mean, std, min, max, null_rate, bins {"edges", '
                     '"fractions"} or frequencies {"value": share}',
    "bins": "9 ascending inner edges and 10 fractions summing to 1 (deciles)",
    "frequencies": "shares between 0 and 1 that sum to 1",
}


def _field_path(loc: tuple[str | int, ...]) -> str:
    """``('input_schema', 'a b', 'type')`` -> ``input_schema["a b"].type``."""
    text = ""
    for i, part in enumerate(loc):
        if isinstance(part, int) or (i and loc[i - 1] == "input_schema"):
            text += f"[{json.dumps(part)}]"
        elif re.fullmatch(r"[A-Za-z_]\w*", str(part)) and text:
            text += f".{part}"
        else:
            text += str(part) if not text else f"[{json.dumps(part)}]"
    return text or "(top level)"


def _describe(error: dict[str, Any]) -> str:
    """One validation error as 'field: problem. Fix: ...'."""
    loc = tuple(p for p in error["loc"] if p not in ("function-after", "[key]"))
    msg = error["msg"].removeprefix("Value error, ")
    if error["type"] == "literal_error" and loc and loc[-1] == "type":
        msg = f"unknown type {error['input']!r}"
    elif error["type"] == "missing":
        msg = "required field is missing"
    elif error["type"] == "extra_forbidden":
        msg = f"unknown key {loc[-1]!r} in a feature spec"
    if error["type"] == "extra_forbidden":
        fix = "feature specs take type, minimum, maximum, enum, nullable, description"
    elif loc[:1] == ("input_schema",) and len(loc) == 2:
        fix = "minimum/maximum go on int/float features, enum on str/int, values of that type"
    elif loc:
        fix = FIXES.get(str(loc[-1])) or FIXES.get(str(loc[0]))
    else:  # model-level check: the message names the field
        fix = next((f for name, f in FIXES.items() if msg.startswith(name)), None)
    if "Fix:" in msg:
        fix = None
    return f"{_field_path(loc)}: {msg}" + (f". Fix: {fix}" if fix else "")


def parse_manifest(data: Any, source: Path) -> ExperimentManifest:
    """Validate already-parsed JSON; raise :class:`ManifestError` listing every problem."""
    if not isinstance(data, dict):
        raise ManifestError(
            str(source), ["the top level must be a JSON object. Fix: wrap the fields in {...}"]
        )
    try:
        manifest = ExperimentManifest.model_validate(data)
    except ValidationError as exc:
        raise ManifestError(str(source), [_describe(e) for e in exc.errors()]) from None
    manifest._source = source.resolve()
    return manifest


def load_manifest(path: str | Path) -> ExperimentManifest:
    """Read, parse and validate a manifest, then check its model file and sha256."""
    source = Path(path)
    if not source.is_file():
        raise ManifestError(
            str(source),
            [
                "file not found. Fix: run the modelling step first (for the example: "
                "`doit train_example`), or point to a manifest with "
                "`doit manifest=PATH` / DEPLOYMENT_AGENT_MANIFEST=PATH"
            ],
        )
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        where = f" at line {exc.lineno} column {exc.colno}" if hasattr(exc, "lineno") else ""
        raise ManifestError(
            str(source), [f"not valid JSON{where}: {exc}. Fix: correct the JSON syntax"]
        ) from None
    manifest = parse_manifest(data, source)
    check_model_file(manifest)
    return manifest


def _checked_file(manifest: ExperimentManifest, field: str, path: Path,
                  expected: str | None, what: str) -> str:
    """Check that a file the manifest names exists and matches its recorded sha256."""
    if not path.is_file():
        raise ManifestError(
            str(manifest.source),
            [f"{field}: {what} {path} not found. Fix: correct {field} (relative paths are "
             "resolved against the manifest's folder)"])
    actual = sha256_file(path)
    if expected and expected != actual:
        digest = field.replace("_path", "_sha256")
        raise ManifestError(
            str(manifest.source),
            [f"{digest}: {path} has sha256 {actual}, the manifest says {expected}. Fix: the "
             f"{what} was changed or replaced; restore the trained file or re-run the "
             "modelling step"])
    return actual


def check_model_file(manifest: ExperimentManifest) -> str:
    """Check the model file (and a recommender's catalogue) exist and match their sha256;
    return the model's sha256."""
    actual = _checked_file(manifest, "model_path", manifest.model_file, manifest.model_sha256,
                           "model file")
    if manifest.recommendation is not None and manifest.catalog_file is not None:
        _checked_file(manifest, "recommendation.catalog_path", manifest.catalog_file,
                      manifest.recommendation.catalog_sha256, "catalogue file")
    if manifest.reference_file is not None:
        _checked_file(manifest, "reference_path", manifest.reference_file,
                      manifest.reference_sha256, "reference sample")
        _check_reference_columns(manifest, manifest.reference_file)
    return actual


def _check_reference_columns(manifest: ExperimentManifest, path: Path) -> None:
    """A CSV reference sample's header names every feature (and the target, when the
    manifest names one); a Parquet file's columns are checked by the report."""
    if path.suffix.lower() != ".csv":
        if path.suffix.lower() != ".parquet":
            raise ManifestError(str(manifest.source), [
                f"reference_path: {path.name} is neither .csv nor .parquet. Fix: "
                f"{FIXES['reference_path']}"])
        return
    import csv

    with path.open(newline="", encoding="utf-8") as stream:
        header = next(csv.reader(stream), [])
    wanted = [*manifest.input_schema, *([manifest.target] if manifest.target else [])]
    missing = [name for name in wanted if name not in header]
    if missing:
        raise ManifestError(str(manifest.source), [
            f"reference_path: {path.name} lacks the columns {missing[:10]}. Fix: write the "
            "sample with a header naming every input_schema feature and the target"])


def manifest_json_schema() -> dict[str, Any]:
    """The manifest contract as JSON Schema (draft 2020-12)."""
    schema = ExperimentManifest.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Experiment manifest"
    return schema
