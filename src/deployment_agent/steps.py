"""The actions and up-to-date checks of the doit tasks (:mod:`.graph` only declares them).

Each step imports its stage lazily, so that loading the task graph stays cheap, and
returns a one-line summary. :func:`guarded` turns our errors (which name the problem and
the fix) into doit failures, printed without a traceback.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Callable
from importlib import import_module
from pathlib import Path
from typing import Any, NamedTuple

from doit.exceptions import TaskFailed

from .plan.layout import Layout


def guarded(step: Callable[..., str], *args: Any) -> Callable[[], TaskFailed | None]:
    """A doit python-action running ``step(*args)``: its summary is printed, our errors
    become a clean task failure."""

    def action() -> TaskFailed | None:
        from .contract.errors import DeploymentAgentError

        try:
            print(step(*args))
        except DeploymentAgentError as exc:
            return TaskFailed(str(exc))
        return None

    action.__name__ = step.__name__
    return action


def validate_step(layout: Layout, settings_file: str | None, overrides: dict[str, Any]) -> str:
    from .contract.settings import load_settings
    from .plan.planner import plan

    context = plan(layout, load_settings(settings_file, **overrides))
    return (f"{layout.manifest}: valid ({len(context.features)} features, "
            f"{context.model.estimator}); plan in {layout.context_file}")


class Step(NamedTuple):
    """One doit action: a stage's function, called with the build's layout, and how to say
    in one line what it did."""

    target: str  # "<module under deployment_agent>:<function>"
    summary: Callable[[Any, Layout], str]

    def __call__(self, layout: Layout) -> str:
        module, function = self.target.split(":")
        result = getattr(import_module(f"deployment_agent.{module}"), function)(layout)
        return self.summary(result, layout)


STEPS: dict[str, Step] = {
    "compile": Step("compile.compiler:compile_model",
                    lambda r, _: f"model runtime: {r['runtime']} ({r['reason']})"),
    "generate": Step("generate.generator:generate",
                     lambda m, layout: f"generated {len(m['files'])} files in "
                                       f"{layout.deployment} (bento {m['bento_tag']})"),
    "bento": Step("package.bento:build", lambda r, _: f"bento {r['tag']} in {r['path']}"),
    "base_image": Step("package.base_image:ensure_for", lambda r, _: f"base image {r}"),
    "wheelhouse": Step("package.wheelhouse:build_for", lambda r, _: f"wheelhouse {r}"),
    "containerize": Step("package.image:build",
                         lambda r, _: f"image {r['image']}: {r['size_bytes'] / 1e6:.0f} MB, "
                                      f"built in {r['build_seconds']} s"),
    "push": Step("release.registry:push",
                 lambda r, _: f"pushed {r['image']} as {r['reference']}"),
    "k8s": Step("release.k8s:write",
                lambda r, _: f"kustomize base in {r['folder']}: {len(r['kinds'])} objects "
                             f"validated ({', '.join(r['kinds'])}), image {r['image']}"),
    "smoke": Step("verify.smoke:smoke", lambda message, _: message),
}


def run_step(name: str, layout: Layout) -> str:
    """Run the step of task ``name`` on ``layout``; its one-line summary."""
    return STEPS[name](layout)


def serve_step(layout: Layout) -> str:
    """Serve the build in the foreground with the image's entrypoint (Ctrl-C stops it)."""
    from .package.bento import bentoml_env
    from .plan.runtime import SERVING

    bento = layout.read_json(layout.bento_record)
    serving = SERVING[layout.read_json(layout.context_file)["runtimes"]["serving"]]
    root = serving.service_root(layout.deployment.resolve(), Path(bento["path"]))
    subprocess.run([sys.executable, "-m", "api.serve"], cwd=root,
                   env=bentoml_env(layout.bento_store), check=False)
    return f"stopped serving {bento['tag']}"


def schema_step(path: str) -> str:
    from .contract.manifest import manifest_json_schema

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(manifest_json_schema(), indent=2) + "\n")
    return f"wrote {path}"


# --- up-to-date checks: standard library only (they run on every doit invocation) ----


def _model(layout: Layout) -> Path | None:
    """The model file the manifest names, or None when the manifest cannot say."""
    try:
        model = Path(json.loads(layout.manifest.read_text(encoding="utf-8"))["model_path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return model if model.is_absolute() else layout.manifest.parent / model


def _signature(model: Path | None) -> str | None:
    """A model file's path, size and modification time (None when it is not a file)."""
    try:
        found = model.stat() if model else None
    except OSError:
        return None
    if found is None or not stat.S_ISREG(found.st_mode):
        return None
    return f"{model}:{found.st_size}:{found.st_mtime_ns}"


def remember_model(layout: Layout) -> Callable[[], dict[str, Any]]:
    """A doit action saving the model's signature among validate's values."""

    def remember() -> dict[str, Any]:
        return {"model": _signature(_model(layout))}

    return remember


def model_unchanged(layout: Layout) -> Callable[[Any, dict[str, Any]], bool]:
    """Up to date while the model file is the one validate planned with: the same size and
    time as validate saw (no read), else the same checksum as the plan recorded (its path
    is inside the manifest, so it cannot be a static file_dep)."""

    def check(task: Any, values: dict[str, Any]) -> bool:
        from .hashing import sha256_file

        model = _model(layout)
        signature = _signature(model)
        if signature is None or not layout.context_file.is_file():
            return False  # validate reports the missing file
        if signature == values.get("model"):
            return True
        try:
            recorded = layout.read_json(layout.context_file)["model"]["sha256"]
        except (ValueError, KeyError, TypeError):
            return False  # validate reports the problem
        return sha256_file(model) == recorded

    return check


def records_agree(record: Path, key: str, source: Path, source_key: str,
                  exists: Callable[[dict[str, Any]], bool] = lambda _: True
                  ) -> Callable[[], bool]:
    """Up to date while ``record[key] == source[source_key]`` and ``exists(record)``."""

    def check() -> bool:
        if not record.is_file() or not source.is_file():
            return False
        built = json.loads(record.read_text())
        return built.get(key) == json.loads(source.read_text()).get(source_key) and \
            exists(built)

    return check


def docker_image_present(image: Callable[[], str | None]) -> Callable[[], bool]:
    """Up to date while the image named by ``image()`` exists locally."""

    def check() -> bool:
        from .package.docker import image_exists

        name = image()
        return name is not None and image_exists(name)

    return check


def base_image_current(layout: Layout) -> Callable[[], bool]:
    """Up to date while the base image exists (and, if built here, with today's packages)."""

    def check() -> bool:
        from .package.base_image import current

        return layout.context_file.is_file() and current(
            layout.read_json(layout.context_file)["image"]["base_image"])

    return check
