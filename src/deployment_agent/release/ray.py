"""Write and validate the Ray Serve target of a deployment (``doit ray``).

Beside the deployment, in ``../ray/``:

- ``serve_app.py``: the Serve application, wrapping the deployment's own ``api`` app (see
  its docstring: replica health is the model's readiness, every replica's metrics are
  scraped);
- ``serve_config.yaml``: replicas or autoscaling, ``max_ongoing_requests``, health checks,
  graceful shutdown, a proxy on every node, and the code package as ``working_dir``;
- ``cluster.env``: what every node starts with (the proxy mode);
- ``requirements.txt``: every node's environment, Ray pinned beside the service's pins;
- ``rayservice.yaml``: the same as a KubeRay RayService.

The code package is a zip of the deployment's ``api/`` and ``model/`` and
``serve_app.py``, written reproducibly (sorted, fixed times) into the build's
``ray-packages/`` and named by its sha256: Ray caches a package by its URI, so a new
version needs a new name, and a rollback needs the old one kept. Every node reads it from
``ray.package_url`` (by default, ``file://`` of that folder: one machine, or a folder
every node mounts). ``serve_config.yaml`` is validated with Ray Serve's own schema,
``rayservice.yaml`` with KubeRay's CRD schema made strict, ``serve_app.py`` with ruff.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import zipfile
from pathlib import Path
from typing import Any

import yaml

from ..contract.errors import BuildError
from ..generate.checks import check_python
from ..generate.files import staging_dir, swap_in
from ..generate.render import environment, render
from ..plan import records
from ..plan.layout import Layout
from ..plan.planner import read_context
from ..resources import SUFFIX, package_path, templates_dir
from ..stack import pin

PACKAGED = ("api", "model")  # the deployment's folders every replica needs
RAYSERVICE_SCHEMA = "ray.io_v1_rayservice.json"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # zip's earliest date: the same bytes on every build


def package_bytes(deployment: Path, serve_app: str) -> bytes:
    """The code package: ``api/``, ``model/`` and ``serve_app.py``, byte for byte the same
    for the same files (sorted entries, fixed times and modes, no caches)."""
    files = {"serve_app.py": serve_app.encode()}
    for folder in PACKAGED:
        for path in sorted((deployment / folder).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                files[path.relative_to(deployment).as_posix()] = path.read_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, FIXED_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return buffer.getvalue()


def store_package(layout: Layout, slug: str, version: str, data: bytes) -> Path:
    """I keep the package in the build's ``ray-packages/`` under its content's name (once:
    the same content is the same file)."""
    digest = hashlib.sha256(data).hexdigest()[:16]
    path = layout.ray_packages / f"{slug}-{version}-{digest}.zip"
    if not path.is_file():
        layout.ray_packages.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".partial")
        partial.write_bytes(data)
        os.replace(partial, path)
    return path


def package_uri(package: Path, package_url: str | None) -> str:
    """Where every node reads ``package``: under ``package_url``, else its file:// URI."""
    if package_url:
        return f"{package_url.rstrip('/')}/{package.name}"
    return package.resolve().as_uri()


def cluster_env(text: str) -> dict[str, str]:
    """The variables of ``cluster.env`` (``NAME=value`` lines; comments skipped)."""
    pairs = (line.split("=", 1) for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def unknown_fields(model: Any, data: Any, where: str = "") -> list[str]:
    """The keys of ``data`` that pydantic ``model`` does not declare, recursively: Serve's
    schema ignores them, so a misspelt option would be dropped without a word."""
    import typing

    from pydantic import BaseModel

    if not isinstance(data, dict):
        return []
    fields = {(f.alias or name): f for name, f in model.model_fields.items()}
    found = [f"{where}{key}" for key in data if key not in fields]
    for key, field in fields.items():
        value = data.get(key)
        kinds = [field.annotation, *typing.get_args(field.annotation)]
        kinds += [inner for kind in kinds for inner in typing.get_args(kind)]
        nested = next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)),
                      None)
        if nested is None or value is None:
            continue
        for i, item in enumerate(value if isinstance(value, list) else [value]):
            suffix = f"[{i}]" if isinstance(value, list) else ""
            found += unknown_fields(nested, item, f"{where}{key}{suffix}.")
    return found


def validate_serve_config(document: dict[str, Any]) -> None:
    """Ray Serve's own schema (what ``serve deploy`` checks) accepts the config, and it
    holds no field that schema does not know (Serve would ignore it)."""
    try:
        from ray.serve.schema import ServeDeploySchema
    except ImportError:
        raise BuildError("the Ray target needs Ray Serve to validate its config. Fix: pip "
                         f"install 'deployment-agent[ray]' (ray[serve]=={pin('ray')})") \
            from None
    try:
        ServeDeploySchema.model_validate(document)
    except Exception as exc:  # pydantic's ValidationError: every field named
        raise BuildError(f"serve_config.yaml is invalid for Ray Serve: {exc}") from None
    unknown = unknown_fields(ServeDeploySchema, document)
    if unknown:
        raise BuildError(f"serve_config.yaml has fields Ray Serve does not know (it would "
                         f"ignore them): {', '.join(unknown)}")


def validate_rayservice(document: dict[str, Any]) -> None:
    """KubeRay's CRD schema (strict) accepts the RayService, and its serve config parses."""
    import jsonschema

    schema = json.loads(package_path("schemas", RAYSERVICE_SCHEMA).read_text())
    try:
        jsonschema.validate(document, schema)
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path))
        raise BuildError(f"rayservice.yaml: RayService is invalid at {where}: "
                         f"{exc.message}") from None
    validate_serve_config(yaml.safe_load(document["spec"]["serveConfigV2"]))


def requirements(deployment: Path) -> list[str]:
    """The service's pinned requirements (its requirements.txt, comments left out)."""
    lines = (deployment / "requirements.txt").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def write(layout: Layout) -> dict[str, Any]:
    """Render, package, validate and swap in the Ray target; return what it holds."""
    context = read_context(layout)
    env = environment(records.read(layout, records.Generated).serving)
    values: dict[str, Any] = {
        **{name: getattr(context, name) for name in type(context).model_fields},
        "ray_version": pin("ray"), "service_requirements": requirements(layout.deployment),
        "env_vars": {}}
    staging = staging_dir(layout.ray)
    try:
        serve_app = render(env, "ray/serve_app.py.j2", values)
        (staging / "serve_app.py").write_text(serve_app, encoding="utf-8")
        # ruff formats it in place: the package holds that text
        check_python(staging, ["serve_app.py"], layout.deployment.resolve() / "ruff.toml")
        serve_app = (staging / "serve_app.py").read_text(encoding="utf-8")
        package = store_package(layout, context.api.slug, context.api.version,
                                package_bytes(layout.deployment, serve_app))
        values["package_uri"] = package_uri(package, context.ray.package_url)
        for template in sorted((templates_dir() / "ray").glob(f"*{SUFFIX}")):
            name = template.name.removesuffix(SUFFIX)
            if name in ("serve_app.py", "rayservice.yaml"):
                continue
            (staging / name).write_text(render(env, f"ray/{template.name}", values),
                                        encoding="utf-8")
        config = (staging / "serve_config.yaml").read_text(encoding="utf-8")
        validate_serve_config(yaml.safe_load(config))
        values["serve_config"] = config
        values["cluster_env"] = cluster_env((staging / "cluster.env").read_text())
        service = render(env, "ray/rayservice.yaml.j2", values)
        validate_rayservice(yaml.safe_load(service))
        (staging / "rayservice.yaml").write_text(service, encoding="utf-8")
        swap_in(staging, layout.ray)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return {"folder": str(layout.ray), "package": str(package),
            "package_uri": values["package_uri"]}
