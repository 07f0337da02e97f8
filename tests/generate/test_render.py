"""Template overlays: each runtime's files replace or add to the common ones."""

from __future__ import annotations

from deployment_agent.resources import outputs, template_files


def test_each_runtime_renders_its_own_files() -> None:
    bento_onnx = outputs("bentoml", "onnx")
    uvicorn_sklearn = outputs("uvicorn", "sklearn")
    assert bento_onnx["api/scoring.py"] == "api/scoring.py.j2"
    assert "docker/Dockerfile.template" in bento_onnx and ".dockerignore" not in bento_onnx
    assert ".dockerignore" in uvicorn_sklearn
    assert "docker/Dockerfile.template" not in uvicorn_sklearn
    for files in (bento_onnx, uvicorn_sklearn):
        assert {"api/main.py", "api/patches.py", "api/serve.py", "runbook.md", "Dockerfile",
                "monitoring/alerts.yml", "monitoring/dashboard.json"} <= set(files)
        assert not [f for f in files if "_partials" in f or f.startswith("runbook/")]


def test_every_template_is_package_data() -> None:
    names = {p.name for p in template_files()}
    assert {"main.py.j2", "09_kubernetes.md.j2", "deployment.yaml.j2"} <= names
