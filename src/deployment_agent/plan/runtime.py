"""The runtime seam: every choice that depends on how the service runs lives here.

Two independent axes:

- the **serving runtime** (``deployment.docker.runtime``): ``bentoml`` serves the bento
  under BentoML's process manager and is containerized by ``bentoml containerize``;
  ``uvicorn`` serves the same FastAPI app under uvicorn's, from the deployment folder's
  own Dockerfile, without BentoML;
- the **model runtime** (``deployment.model.runtime``, resolved by the ``compile`` step):
  ``native`` loads the model file with its own library (scikit-learn, XGBoost, LightGBM,
  CatBoost); ``onnx`` runs an ONNX file (the verified conversion, or the model itself when
  it is one) with ONNX Runtime, without the model's library in the image.

Each runtime names the template folder that overlays the common templates, the packages
it adds to ``requirements.txt``, and how its image is built. No other module branches on a
runtime's name.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..hashing import sha256_text
from ..stack import pin

# What every generated service imports, whatever its runtimes. uvicorn's fast HTTP parser
# and event loop: with plain h11, small responses meet delayed ACKs (/health ~40 ms).
# The inference log builds CloudEvents with their SDK (and posts them with Python's own
# http.client) and compresses its files with zstandard; its prediction store is SQLite
# (Python's own) unless the build names a PostgreSQL database (POSTGRES_DRIVER, then).
SERVING_STACK = ("fastapi", "uvicorn", "httptools", "uvloop", "pydantic", "pydantic-settings",
                 "prometheus-client", "python-json-logger", "limits", "msgspec",
                 "annotated-types", "numpy", "cloudevents", "zstandard")
POSTGRES_DRIVER = ("psycopg", "psycopg-binary")


@dataclass(frozen=True)
class Runtime:
    """A choice of how the service runs: its name, its label for people, the packages it
    adds to requirements.txt. Its templates overlay the common ones (``serving/<name>`` or
    ``models/<name>``)."""

    name: str
    label: str
    packages: tuple[str, ...]


@dataclass(frozen=True)
class ServingRuntime(Runtime):
    """How the service is run and packaged."""

    # The image's build context: the bento (BentoML's containerize) or the deployment folder.
    builds_from_bento: bool = False

    def service_root(self, deployment: Path, bento: Path | None) -> Path:
        """Where ``python -m api.serve`` runs, as in the image: the bento's ``src/`` or the
        deployment folder."""
        return bento / "src" if self.builds_from_bento and bento is not None else deployment


@dataclass(frozen=True)
class ModelRuntime(Runtime):
    """How the model is loaded and scored inside the service."""

    # It serves an ONNX file (the compile step's conversion, or the model itself) with
    # ONNX Runtime, rather than the model file with the model's own library.
    onnx: bool = False

    def served_file(self, trained: str) -> str:
        """The model file's path inside the deployment."""
        return "model/model.onnx" if self.onnx else trained

    def family(self, trained_family: str) -> str:
        """The scoring module's family: the trained model's, or onnx."""
        return "onnx" if self.onnx else trained_family


BENTOML = ServingRuntime("bentoml", "BentoML", ("bentoml", "kantoku"), builds_from_bento=True)
UVICORN = ServingRuntime("uvicorn", "uvicorn", ())
# The model's own libraries come from the model file (plan.dependencies), not from here.
NATIVE = ModelRuntime("native", "the model's own library", ())
ONNX = ModelRuntime("onnx", "ONNX Runtime", ("onnxruntime",), onnx=True)

SERVING: dict[str, ServingRuntime] = {r.name: r for r in (BENTOML, UVICORN)}
MODELS: dict[str, ModelRuntime] = {r.name: r for r in (NATIVE, ONNX)}
# The libraries each family's scoring module imports (beyond what the file references).
FAMILY_MODULES: dict[str, tuple[str, ...]] = {
    "sklearn": ("joblib", "numpy"), "skops": ("skops", "numpy"),
    "xgboost": ("xgboost", "numpy"), "lightgbm": ("lightgbm", "numpy"),
    "catboost": ("catboost", "numpy"), "onnx": ("onnxruntime", "numpy"),
}
def family_modules(family: str) -> tuple[str, ...]:
    """The modules the scoring module of ``family`` imports."""
    return FAMILY_MODULES[family]


def requirements(serving: ServingRuntime, model: ModelRuntime,
                 model_pins: dict[str, str], postgres: bool = False) -> list[str]:
    """Pinned requirement lines of a service.

    The model's own libraries (``model_pins``: what its file references, with their
    dependencies, at the versions it was trained and verified with) win over the versions
    this generator declares for the rest (:mod:`deployment_agent.stack`); an ONNX runtime
    needs none of them. ``postgres``: the prediction store is a PostgreSQL database, whose
    driver the service then needs.
    """
    drivers = POSTGRES_DRIVER if postgres else ()
    pins = {name: pin(name) for name in (*SERVING_STACK, *serving.packages, *model.packages,
                                         *drivers)}
    if not model.onnx:
        pins.update(model_pins)
    return [f"{name}=={pins[name]}" for name in sorted(pins)]


def wheelhouse_image(requirement_lines: list[str]) -> str:
    """The tag of the wheelhouse image that satisfies ``requirement_lines`` (their hash)."""
    return f"deployment-agent/wheelhouse:{sha256_text(chr(10).join(requirement_lines))[:12]}"
