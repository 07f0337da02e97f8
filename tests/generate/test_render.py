"""Template overlays: each serving runtime's files replace or add to the common ones."""

from __future__ import annotations

from deployment_agent.resources import copied_paths, outputs, scoring_module, template_files


def test_each_runtime_renders_its_own_files() -> None:
    bento = outputs("bentoml")
    uvicorn = outputs("uvicorn")
    assert "docker/Dockerfile.template" in bento
    assert ".dockerignore" in uvicorn and ".dockerignore" in bento
    assert "docker/Dockerfile.template" not in uvicorn
    for files in (bento, uvicorn):
        assert {"api/__init__.py", "api/schemas.py", "api/settings.py", "runbook.md",
                "Dockerfile", "monitoring/alerts.yml", "monitoring/dashboard.json"} <= set(files)
        assert not [f for f in files if "_partials" in f or f.startswith("runbook/")]
        python = [f for f in files if f.endswith(".py")]
        assert sorted(python) == ["api/__init__.py", "api/schemas.py", "api/settings.py"]


def test_the_service_modules_are_copied_and_the_family_picks_the_scoring() -> None:
    assert scoring_module("skops") == "scoring_sklearn"
    assert scoring_module("xgboost") == "scoring_xgboost"
    plain = copied_paths("scoring_onnx", "uvicorn", recommends=False)
    assert plain["api/scoring.py"] == "service/scoring_onnx.py"
    assert plain["api/serve.py"] == "service/serve_uvicorn.py"
    assert plain["api/runtime_patches.py"] == "service/patches_uvicorn.py"
    assert {"api/main.py", "api/app.py", "service.py", "docker/slim_rootfs.py"} <= set(plain)
    assert "api/recommender.py" not in plain
    bento = copied_paths("scoring_sklearn", "bentoml", recommends=True)
    assert bento["api/recommender.py"] == "service/recommender.py"
    assert bento["api/runtime_patches.py"] == "service/patches_bentoml.py"


def test_every_template_is_package_data() -> None:
    names = {p.name for p in template_files()}
    assert {"schemas.py.j2", "09_kubernetes.md.j2", "deployment.yaml.j2"} <= names
