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

# The errors of the steps that failed in this process, as raised (the Python API re-raises
# the first, with its class; doit only keeps their text).
FAILED: list[Exception] = []


def guarded(step: Callable[..., str], *args: Any) -> Callable[[], TaskFailed | None]:
    """A doit python-action running ``step(*args)``: its summary is printed, our errors
    become a clean task failure."""

    def action() -> TaskFailed | None:
        from .contract.errors import DeploymentAgentError

        try:
            print(step(*args))
        except DeploymentAgentError as exc:
            FAILED.append(exc)
            return TaskFailed(str(exc))
        return None

    action.__name__ = step.__name__
    return action


def report_action(layout: Layout) -> Callable[[str, str], TaskFailed | None]:
    """A doit python-action drawing the report from its task's ``--log-dir`` and
    ``--database-url`` parameters; our errors become a clean task failure."""

    def action(log_dir: str, database_url: str) -> TaskFailed | None:
        from .contract.errors import DeploymentAgentError
        from .report.build import write_report

        try:
            print(write_report(layout, Path(log_dir or "/data/inference-log"),
                               database_url or None, layout.report))
        except DeploymentAgentError as exc:
            FAILED.append(exc)
            return TaskFailed(str(exc))
        return None

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
    "bento": Step("package.bento:build", lambda r, _: f"bento {r.tag} in {r.path}"),
    "base_image": Step("package.base_image:ensure_for", lambda r, _: f"base image {r}"),
    "wheelhouse": Step("package.wheelhouse:build_for", lambda r, _: f"wheelhouse: {r}"),
    "containerize": Step("package.image:build",
                         lambda r, _: f"image {r.image}: {r.size_bytes / 1e6:.0f} MB, "
                                      f"built in {r.build_seconds} s"),
    "push": Step("release.registry:push",
                 lambda r, _: f"pushed {r.image} as {r.reference}"),
    "k8s": Step("release.k8s:write",
                lambda r, _: f"kustomize base in {r['folder']}: {len(r['kinds'])} objects "
                             f"validated ({', '.join(r['kinds'])}), image {r['image']}"),
    "smoke": Step("verify.smoke:smoke", lambda message, _: message),
    "ray": Step("release.ray:write",
                lambda r, _: f"Ray Serve target in {r['folder']}, validated (Serve's schema, "
                             f"KubeRay's RayService CRD, ruff); code package "
                             f"{r['package_uri']}"),
}


def run_step(name: str, layout: Layout) -> str:
    """Run the step of task ``name`` on ``layout``; its one-line summary."""
    return STEPS[name](layout)


def serve_step(layout: Layout) -> str:
    """Serve the build in the foreground with the image's entrypoint (Ctrl-C stops it)."""
    from .package.bento import bentoml_env
    from .plan import records
    from .plan.runtime import SERVING

    bento = records.read(layout, records.Bento)
    serving = SERVING[records.read(layout, records.Generated).serving]
    root = serving.service_root(layout.deployment.resolve(), Path(bento.path))
    subprocess.run([sys.executable, "-m", "api.serve"], cwd=root,
                   env=bentoml_env(layout.bento_store), check=False)
    return f"stopped serving {bento.tag}"


def export_step(layout: Layout, folder: Path) -> str:
    """Export the build's bento into ``folder``; say where."""
    from .package.bento import export

    return f"bento exported to {export(layout, folder)}"


def schema_step(path: str) -> str:
    from .contract.manifest import manifest_json_schema

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(manifest_json_schema(), indent=2) + "\n")
    return f"wrote {path}"


# --- up-to-date checks: standard library only (they run on every doit invocation) ----


def _inputs(layout: Layout) -> list[Path] | None:
    """The files the manifest names (the model, a recommender's catalogue, the reference
    sample), or None when the manifest cannot say."""
    try:
        manifest = json.loads(layout.manifest.read_text(encoding="utf-8"))
        named = [manifest["model_path"]]
        if isinstance(manifest.get("recommendation"), dict):
            named.append(manifest["recommendation"]["catalog_path"])
        if manifest.get("reference_path"):
            named.append(manifest["reference_path"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return [Path(p) if Path(p).is_absolute() else layout.manifest.parent / p
            for p in named if isinstance(p, str)]


def _signature(files: list[Path] | None) -> str | None:
    """The files' paths, sizes and modification times (None when one is not a file)."""
    parts = []
    for path in files or []:
        try:
            found = path.stat()
        except OSError:
            return None
        if not stat.S_ISREG(found.st_mode):
            return None
        parts.append(f"{path}:{found.st_size}:{found.st_mtime_ns}")
    return ";".join(parts) if files else None


def remember_model(layout: Layout) -> Callable[[], dict[str, Any]]:
    """A doit action saving the model's (and catalogue's) signature among validate's
    values."""

    def remember() -> dict[str, Any]:
        return {"model": _signature(_inputs(layout))}

    return remember


def model_unchanged(layout: Layout) -> Callable[[Any, dict[str, Any]], bool]:
    """Up to date while the model file (and a recommender's catalogue) are the ones
    validate planned with: the same size and time as validate saw (no read), else the same
    checksums as the plan recorded (their paths are inside the manifest, so they cannot be
    static file_deps)."""

    def check(task: Any, values: dict[str, Any]) -> bool:
        from .hashing import sha256_file

        files = _inputs(layout)
        signature = _signature(files)
        if signature is None or files is None or not layout.context_file.is_file():
            return False  # validate reports the missing file
        if signature == values.get("model"):
            return True
        try:
            context = layout.read_json(layout.context_file)
            model = context["model"]
            recorded = [model["sha256"], *([model["catalogue"]["sha256"]]
                                           if model.get("catalogue") else []),
                        *([context["reference"]["sha256"]] if context.get("reference")
                          else [])]
        except (ValueError, KeyError, TypeError):
            return False  # validate reports the problem
        return len(recorded) == len(files) and all(
            sha256_file(path) == digest for path, digest in zip(files, recorded, strict=True))

    return check


def remember_file(path: Path) -> Callable[[], dict[str, Any]]:
    """A doit action saving the sha256 of a file the task wrote among its values."""

    def remember() -> dict[str, Any]:
        from .hashing import sha256_file

        return {"written": sha256_file(path) if path.is_file() else None}

    return remember


def file_unchanged(path: Path) -> Callable[[Any, dict[str, Any]], bool]:
    """Up to date while ``path`` is still the file the task wrote (not replaced since)."""

    def check(task: Any, values: dict[str, Any]) -> bool:
        from .hashing import sha256_file

        return path.is_file() and values.get("written") == sha256_file(path)

    return check


def records_agree(record: Path, source: Path, keys: dict[str, str],
                  exists: Callable[[dict[str, Any]], bool] = lambda _: True
                  ) -> Callable[[], bool]:
    """Up to date while ``record[key] == source[source_key]`` for every pair of ``keys``
    (what the step made is what its input now names: a tag, an image reference, an image
    id), and ``exists(record)``."""

    def check() -> bool:
        if not record.is_file() or not source.is_file():
            return False
        built = json.loads(record.read_text())
        wanted = json.loads(source.read_text())
        return all(built.get(key) == wanted.get(source_key) for key, source_key in
                   keys.items()) and exists(built)

    return check


def base_image_current(layout: Layout) -> Callable[[], bool]:
    """Up to date while the base image exists (and, if built here, with today's packages)."""

    def check() -> bool:
        from .package.base_image import current

        return layout.context_file.is_file() and current(
            layout.read_json(layout.context_file)["image"]["base_image"])

    return check
