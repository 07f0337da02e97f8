"""The runtime seam: every choice that depends on how the service runs lives here.

Two independent axes:

- the **serving runtime** (``deployment.docker.runtime``): ``bentoml`` serves the bento
  under BentoML's process manager and is containerized by ``bentoml containerize``;
  ``uvicorn`` serves the same FastAPI app under uvicorn's, from the deployment folder's
  own Dockerfile, without BentoML;
- the **model runtime** (``deployment.model.runtime``, resolved by the ``compile`` step):
  ``sklearn`` loads the pickled or skops model with scikit-learn; ``onnx`` runs the
  verified ONNX conversion with onnxruntime, without scikit-learn in the image.

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
SERVING_STACK = ("fastapi", "uvicorn", "httptools", "uvloop", "pydantic", "pydantic-settings",
                 "prometheus-client", "python-json-logger", "limits", "orjson")


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

    # It serves the compile step's ONNX file instead of the trained model file.
    serves_compiled: bool = False

    def served_file(self, trained: str) -> str:
        """The model file's path inside the deployment."""
        return "model/model.onnx" if self.serves_compiled else trained

    def model_packages(self, model_type: str, uses_dataframe: bool) -> tuple[str, ...]:
        """The libraries the model file needs, beyond :attr:`packages`."""
        if self.serves_compiled:
            return ()
        return (*(("skops",) if model_type == "skops" else ()),
                *(("pandas",) if uses_dataframe else ()))


BENTOML = ServingRuntime("bentoml", "BentoML", ("bentoml", "kantoku"), builds_from_bento=True)
UVICORN = ServingRuntime("uvicorn", "uvicorn", ())
SKLEARN = ModelRuntime("sklearn", "scikit-learn",
                       ("scikit-learn", "numpy", "scipy", "joblib", "threadpoolctl"),
                       serves_compiled=False)
ONNX = ModelRuntime("onnx", "ONNX Runtime", ("onnxruntime", "numpy"), serves_compiled=True)

SERVING: dict[str, ServingRuntime] = {r.name: r for r in (BENTOML, UVICORN)}
MODELS: dict[str, ModelRuntime] = {r.name: r for r in (SKLEARN, ONNX)}


def requirements(serving: ServingRuntime, model: ModelRuntime, model_type: str,
                 uses_dataframe: bool, trained: dict[str, str]) -> list[str]:
    """Pinned requirement lines of a service.

    The model's own libraries are pinned to the versions it was trained with (a model is
    never scored by a scikit-learn other than the one that fitted it); everything else to
    the versions this generator declares (:mod:`deployment_agent.stack`).
    """
    trained = {k.lower(): v for k, v in trained.items()}
    names = (*SERVING_STACK, *serving.packages, *model.packages,
             *model.model_packages(model_type, uses_dataframe))
    pins = {name: (None if model.serves_compiled else trained.get(name)) or pin(name)
            for name in names}
    return [f"{name}=={pins[name]}" for name in sorted(pins)]


def wheelhouse_image(requirement_lines: list[str]) -> str:
    """The tag of the wheelhouse image that satisfies ``requirement_lines`` (their hash)."""
    return f"deployment-agent/wheelhouse:{sha256_text(chr(10).join(requirement_lines))[:12]}"
