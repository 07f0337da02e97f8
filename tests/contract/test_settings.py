"""Settings precedence: YAML file < environment variables < Python API arguments."""

from __future__ import annotations

from pathlib import Path

import pytest

from deployment_agent.contract.errors import SettingsError
from deployment_agent.contract.settings import load_settings


def test_the_project_file_has_the_seed_values() -> None:
    settings = load_settings(environ={})
    assert (settings.api.host, settings.api.port, settings.api.workers) == ("0.0.0.0", 8000, 2)
    assert settings.docker.base_image == "python:3.11-slim"
    assert settings.docker.registry == ""
    assert settings.monitoring.enable_drift_detection is True
    assert settings.monitoring.drift_threshold == 0.1
    assert settings.api.cors.enabled is False and settings.api.cors.allow_origins == []


def test_environment_overrides_file_and_arguments_override_environment() -> None:
    env = {"PORT": "9000", "API_VERSION": "2.0.0", "ENABLE_DRIFT_DETECTION": "false"}
    settings = load_settings(environ=env)
    assert settings.api.port == 9000
    assert settings.api.version == "2.0.0"
    assert settings.monitoring.enable_drift_detection is False
    settings = load_settings(environ=env, api_version="3.0.0", port=7000)
    assert (settings.api.version, settings.api.port) == ("3.0.0", 7000)


def test_origins_enable_cors_unless_switched_off() -> None:
    settings = load_settings(environ={"CORS_ORIGINS": "https://a.example, https://b.example"})
    assert settings.api.cors.enabled is True
    assert settings.api.cors.allow_origins == ["https://a.example", "https://b.example"]
    settings = load_settings(environ={}, cors_origins=["https://a.example"], enable_cors=False)
    assert settings.api.cors.enabled is False


def test_invalid_values_are_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"deployment\.api\.port: Input should be a valid "
                                            r"integer"):
        load_settings(environ={"PORT": "eighty"})
    with pytest.raises(SettingsError, match="unknown option 'colour'"):
        load_settings(environ={}, colour="blue")
    bad = tmp_path / "settings.yaml"
    bad.write_text("deployment:\n  api:\n    prot: 80\n")
    with pytest.raises(SettingsError, match=r"deployment\.api\.prot: Extra inputs"):
        load_settings(bad, environ={})
    bad.write_text("deployment: [\n")
    with pytest.raises(SettingsError, match="invalid YAML"):
        load_settings(bad, environ={})


def test_security_is_off_by_default_and_checked_when_set() -> None:
    security = load_settings(environ={}).security
    assert (security.api_keys_file, security.rate_limit, security.tls_certfile) == \
        (None, None, None)
    settings = load_settings(environ={"RATE_LIMIT": "100/second",
                                      "API_KEYS_FILE": "/run/secrets/api_keys"})
    assert settings.security.rate_limit == "100/second"
    assert settings.security.api_keys_file == "/run/secrets/api_keys"
    with pytest.raises(SettingsError, match=r"security.rate_limit '100/fortnight' is not a rate"):
        load_settings(environ={"RATE_LIMIT": "100/fortnight"})
    with pytest.raises(SettingsError, match="set both security.tls_certfile and security."):
        load_settings(environ={"TLS_CERTFILE": "/run/secrets/cert.pem"})
    with pytest.raises(SettingsError, match=r"max_body_bytes: Input should be greater"):
        load_settings(environ={"MAX_BODY_BYTES": "10"})


def test_every_setting_is_declared_once_and_listed(tmp_path: Path) -> None:
    """The defaults listing is valid YAML that loads back to the schema's defaults, and
    names every variable; titles with control characters are refused."""
    import yaml

    from deployment_agent.contract.settings import defaults_yaml
    from deployment_agent.contract.settings_schema import SETTINGS

    listing = defaults_yaml()
    path = tmp_path / "defaults.yaml"
    path.write_text(listing)
    assert load_settings(path, environ={}).model_dump() == load_settings(
        tmp_path / "defaults.yaml", environ={}).model_dump()
    assert yaml.safe_load(listing)["deployment"]["api"]["port"] == 8000
    for setting in SETTINGS:
        if setting.env:
            assert f"{setting.env}: " in listing
    with pytest.raises(SettingsError, match="api.title: character 3 is a control"):
        load_settings(environ={}, api_title="AB\x07")


def test_the_python_api_sets_the_drift_threshold() -> None:
    assert load_settings(environ={}, drift_threshold=0.25).monitoring.drift_threshold == 0.25
    assert load_settings(environ={"DRIFT_THRESHOLD": "0.2"}).monitoring.drift_threshold == 0.2
