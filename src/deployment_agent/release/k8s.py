"""Write and validate the Kubernetes kustomize base of a deployment (``doit k8s``).

The base holds a Deployment (probes on /health and /health/ready, requests equal to
limits, a locked-down security context, a writable /tmp, API keys from a Secret volume,
settings from a ConfigMap), a Service, a HorizontalPodAutoscaler, a PodDisruptionBudget,
a NetworkPolicy, a ServiceMonitor and a PrometheusRule. Beside the base, not in it, a KServe
InferenceService runs the same image as a custom predictor on a cluster with KServe. The
image is named by digest once ``doit push`` has pushed it, by tag before.

Everything is checked offline before the folder is swapped in: the core kinds with
kubernetes-validate's bundled schemas (strict: an unknown field is an error), the two
Prometheus Operator kinds and the InferenceService with the schemas shipped in this package
(the InferenceService's is KServe's CRD schema, made strict by ``scripts/crd_schema.py``),
and the whole base with ``kubectl kustomize``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from ..contract.errors import BuildError
from ..generate.files import staging_dir, swap_in
from ..generate.monitoring import rules_document
from ..generate.render import environment, render
from ..plan import records
from ..plan.layout import Layout
from ..plan.planner import read_context
from ..resources import SUFFIX, package_path, templates_dir

KUBERNETES_VERSION = "1.32.0"
CRD_SCHEMAS = {"ServiceMonitor": "monitoring.coreos.com_v1_servicemonitor.json",
               "PrometheusRule": "monitoring.coreos.com_v1_prometheusrule.json",
               "InferenceService": "serving.kserve.io_v1beta1_inferenceservice.json"}


def validate_documents(folder: Path) -> list[str]:
    """Every object of ``folder``'s YAML files, validated; the kinds found, in order."""
    import jsonschema
    import kubernetes_validate

    kinds = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            kind = document.get("kind")
            kinds.append(kind)
            try:
                if kind in CRD_SCHEMAS:
                    schema = json.loads(package_path("schemas", CRD_SCHEMAS[kind]).read_text())
                    jsonschema.validate(document, schema)
                else:
                    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
            except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as exc:
                raise BuildError(f"{path.name}: {kind} is invalid: {exc.message}") from None
            except kubernetes_validate.SchemaNotFoundError:
                raise BuildError(f"{path.name}: {kind} is invalid: no such kind in Kubernetes "
                                 f"{KUBERNETES_VERSION} nor among {sorted(CRD_SCHEMAS)}") \
                    from None
    return kinds


def kustomize(folder: Path) -> str:
    """``kubectl kustomize``: the base must render."""
    if shutil.which("kubectl") is None:
        raise BuildError("kubectl is not installed; it renders the kustomize base. Fix: "
                         "install the kubectl client (it includes kustomize)")
    result = subprocess.run(["kubectl", "kustomize", str(folder)], capture_output=True,
                            text=True)
    if result.returncode != 0:
        raise BuildError(f"kubectl kustomize {folder} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def image_reference(layout: Layout, context: Any) -> str:
    """The pushed digest when this image was pushed, else its tag."""
    if records.exists(layout, records.Push):
        pushed = records.read(layout, records.Push)
        if pushed.image == context.image.ref:
            return pushed.reference
    return str(context.image.ref)


def inference_log_mb(context: Any) -> int:
    """The inference log volume's size limit: its files' bound, plus room for the SQLite
    store and the file being written."""
    bound = next(s.value for s in context.service_settings if s.env == "INFERENCE_LOG_MAX_MB")
    return int(bound) + 256


def write(layout: Layout) -> dict[str, Any]:
    """Render, validate and swap in the kustomize base; return what it holds."""
    context = read_context(layout)
    env = environment(records.read(layout, records.Generated).serving)
    values = {**{name: getattr(context, name) for name in type(context).model_fields},
              "image_reference": image_reference(layout, context),
              "alert_rules": rules_document(context),
              "inference_log_mb": inference_log_mb(context)}
    staging = staging_dir(layout.k8s)
    try:
        for template in sorted((templates_dir() / "k8s").glob(f"*{SUFFIX}")):
            target = staging / template.name.removesuffix(SUFFIX)
            target.write_text(render(env, f"k8s/{template.name}", values), encoding="utf-8")
        kinds = validate_documents(staging)
        rendered = kustomize(staging)
        swap_in(staging, layout.k8s)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return {"folder": str(layout.k8s), "kinds": kinds, "image": values["image_reference"],
            "objects": rendered.count("\n---\n") + 1}
