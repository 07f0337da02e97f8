"""Deploy the Ray target to a cluster, safely: wait, judge, roll back by myself.

I speak Ray Serve's REST API on the cluster's dashboard (what ``serve deploy`` and ``serve
status`` speak): ``PUT /api/serve/applications/`` applies a config, ``GET`` reports every
application, deployment and replica. A code or settings change reaches the replicas as a
new ``runtime_env`` (a new package, new ``env_vars``), which Serve rolls out replica by
replica; nothing goes through ``user_config``, which reaches every replica at once.

:func:`deploy` applies the new version, then waits until Serve reports it running with
every replica healthy (health is the model's readiness). If Serve reports it failed, or
it is not healthy within ``ray.rollout_timeout_seconds``, I apply the previous version
again, wait until it is back on every replica, and fail with the new version's reason.
Other applications on the cluster are left as they are. Every attempt is recorded in the
deployment's Ray history (``<deployment>_ray_history.json``): what :func:`rollback` goes
back to.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import yaml

from ..contract.errors import DeploymentAgentError
from ..generate.files import write_if_changed
from ..plan.layout import Layout

API = "/api/serve/applications/"
DEFAULT_ADDRESS = "http://127.0.0.1:8265"
FAILED = ("DEPLOY_FAILED", "UNHEALTHY")
POLL_SECONDS = 1.0


class RolloutFailed(DeploymentAgentError):
    """A new version did not become healthy; the previous one was (or was not) restored."""


def dashboard_address(address: str | None = None) -> str:
    """The cluster's dashboard URL: given, else RAY_DASHBOARD_ADDRESS (as ``serve``
    reads it), else RAY_ADDRESS when it is a URL, else the local default."""
    found = address or os.environ.get("RAY_DASHBOARD_ADDRESS") or (
        os.environ.get("RAY_ADDRESS", "") if os.environ.get("RAY_ADDRESS", "").startswith(
            ("http://", "https://")) else "") or DEFAULT_ADDRESS
    return found.rstrip("/")


class Cluster:
    """I am one Ray cluster's Serve REST API."""

    def __init__(self, address: str | None = None, timeout: float = 30.0) -> None:
        """I keep the dashboard's address."""
        self.address = dashboard_address(address)
        self.client = httpx.Client(base_url=self.address, timeout=timeout)

    def details(self) -> dict[str, Any]:
        """Every application, deployment, replica and proxy, as Serve reports them."""
        try:
            response = self.client.get(API)
        except httpx.HTTPError as exc:
            raise DeploymentAgentError(
                f"no Ray dashboard answers at {self.address} ({exc}). Fix: start the cluster "
                "(runbook section 10) or pass --address / set RAY_DASHBOARD_ADDRESS") from None
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]

    def apply(self, config: dict[str, Any]) -> None:
        """I apply a whole Serve config (every application on the cluster)."""
        response = self.client.put(API, json=config)
        if response.status_code >= 400:
            raise DeploymentAgentError(f"Ray Serve refused the config ({response.status_code})"
                                       f": {response.text[-2000:]}")


def version_of(app: Mapping[str, Any]) -> str:
    """A version's name: its code package, and a digest of its settings when it has any."""
    runtime_env = app.get("runtime_env") or {}
    package = Path(str(runtime_env.get("working_dir", "?"))).stem
    env_vars = runtime_env.get("env_vars") or {}
    if not env_vars:
        return package
    digest = hashlib.sha256(json.dumps(env_vars, sort_keys=True).encode()).hexdigest()[:8]
    return f"{package}+env-{digest}"


def code_and_settings(app: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """What makes a version: its package and its settings (empty ones as none)."""
    runtime_env = app.get("runtime_env") or {}
    return str(runtime_env.get("working_dir")), dict(runtime_env.get("env_vars") or {})


def whole_config(details: Mapping[str, Any], generated: Mapping[str, Any],
                 app: dict[str, Any]) -> dict[str, Any]:
    """The config to apply: ``app`` in place of the running one of its name, the other
    applications as they run, the proxy and HTTP options as generated."""
    others = [dict(a["deployed_app_config"]) for name, a in
              (details.get("applications") or {}).items()
              if name != app["name"] and a.get("deployed_app_config")]
    return {key: value for key, value in generated.items() if key != "applications"} | {
        "applications": [*others, app]}


def replica_states(app: Mapping[str, Any]) -> Counter[str]:
    """How many replicas of the application are in each state."""
    return Counter(replica["state"] for deployment in app["deployments"].values()
                   for replica in deployment.get("replicas", []))


def judge(details: Mapping[str, Any], app: Mapping[str, Any], since: float
          ) -> tuple[str, str]:
    """``("healthy" | "failed" | "waiting", why)`` for ``app`` applied at ``since``."""
    found = (details.get("applications") or {}).get(app["name"])
    if found is None or found.get("last_deployed_time_s", 0) < since - 1:
        return "waiting", "Serve has not taken the config yet"
    if code_and_settings(found.get("deployed_app_config") or {}) != code_and_settings(app):
        return "waiting", "another config is being applied"
    deployments = found.get("deployments") or {}
    reasons = [f"{name}: {d['status']}: {d.get('message') or ''}".strip()
               for name, d in deployments.items() if d["status"] in FAILED]
    if found["status"] in FAILED or reasons:
        return "failed", "; ".join([found.get("message") or found["status"], *reasons])
    states = replica_states(found)
    targets = sum(d.get("target_num_replicas", 0) for d in deployments.values())
    if (found["status"] == "RUNNING" and deployments and
            all(d["status"] == "HEALTHY" for d in deployments.values()) and
            states == Counter({"RUNNING": targets})):
        return "healthy", f"{targets} replicas running"
    # Serve's own words while it retries a replica (the error a failing replica raised):
    # the reason a deploy gives when its time runs out first.
    said = [f"{name}: {d['message']}" for name, d in deployments.items() if d.get("message")]
    return "waiting", "; ".join([f"{found['status']}, replicas {dict(states)}", *said])


def wait(cluster: Cluster, app: Mapping[str, Any], since: float, timeout: float
         ) -> tuple[str, str, float]:
    """I poll until ``app`` is healthy or failed, or ``timeout`` passes: the verdict, why,
    and the seconds it took."""
    started = time.monotonic()
    verdict, why = "waiting", ""
    while time.monotonic() - started < timeout:
        verdict, why = judge(cluster.details(), app, since)
        if verdict != "waiting":
            break
        time.sleep(POLL_SECONDS)
    else:
        verdict, why = "failed", f"not healthy within {timeout:.0f} s ({why})"
    return verdict, why, round(time.monotonic() - started, 1)


def read_history(layout: Layout) -> list[dict[str, Any]]:
    """Every version deployed to Ray from this folder, oldest first."""
    if not layout.ray_history.is_file():
        return []
    return json.loads(layout.ray_history.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def remember(layout: Layout, app: Mapping[str, Any], outcome: str, reason: str,
             seconds: float, address: str) -> None:
    """I append one attempt to the Ray history."""
    history = read_history(layout)
    history.append({"version": version_of(app), "outcome": outcome, "reason": reason,
                    "seconds": seconds, "cluster": address,
                    "deployed_at": datetime.datetime.now(datetime.UTC).isoformat(
                        timespec="seconds"), "app_config": app})
    write_if_changed(layout.ray_history, json.dumps(history, indent=2, ensure_ascii=False)
                     + "\n")


def generated_config(layout: Layout) -> dict[str, Any]:
    """The Serve config ``doit ray`` wrote."""
    path = layout.ray / "serve_config.yaml"
    if not path.is_file():
        raise DeploymentAgentError(f"{path} does not exist. Fix: run `doit ray` (or "
                                   "`deployment-agent ray write <manifest>`) first")
    return yaml.safe_load(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def with_changes(app: dict[str, Any], env: Mapping[str, str] | None = None,
                 replicas: int | None = None) -> dict[str, Any]:
    """``app`` with service settings (``env``) added to its ``env_vars`` and a fixed
    replica count, when given."""
    app = json.loads(json.dumps(app))
    if env:
        runtime_env = app.setdefault("runtime_env", {})
        runtime_env["env_vars"] = {**(runtime_env.get("env_vars") or {}), **env}
    if replicas is not None:
        for deployment in app.get("deployments", []):
            deployment.pop("autoscaling_config", None)
            deployment["num_replicas"] = replicas
    return app


def roll_out(layout: Layout, cluster: Cluster, generated: Mapping[str, Any],
             app: dict[str, Any], timeout: float) -> str:
    """I apply ``app`` and wait for it; on failure I restore the version that ran before
    (when one did) and raise :class:`RolloutFailed` with the reason."""
    details = cluster.details()
    running = (details.get("applications") or {}).get(app["name"])
    previous = running.get("deployed_app_config") if running else None
    since = time.time()
    cluster.apply(whole_config(details, generated, app))
    verdict, why, seconds = wait(cluster, app, since, timeout)
    if verdict == "healthy":
        remember(layout, app, "healthy", why, seconds, cluster.address)
        return f"{version_of(app)} healthy on {cluster.address} in {seconds} s: {why}"
    remember(layout, app, "failed", why, seconds, cluster.address)
    if not previous:
        raise RolloutFailed(f"{version_of(app)} did not become healthy: {why}. Nothing ran "
                            "before it, so nothing was restored")
    since = time.time()
    cluster.apply(whole_config(cluster.details(), generated, previous))
    back, back_why, back_seconds = wait(cluster, previous, since, timeout)
    remember(layout, previous, "restored" if back == "healthy" else "restore failed",
             back_why, back_seconds, cluster.address)
    raise RolloutFailed(
        f"{version_of(app)} did not become healthy: {why}. "
        + (f"{version_of(previous)} restored on every replica in {back_seconds} s"
           if back == "healthy" else
           f"restoring {version_of(previous)} failed too: {back_why}"))


def deploy(layout: Layout, address: str | None = None, env: Mapping[str, str] | None = None,
           replicas: int | None = None, timeout: float | None = None) -> str:
    """I deploy the generated Ray target (with ``env`` settings and ``replicas`` when
    given) and wait for it; a failed version is rolled back by itself."""
    generated = generated_config(layout)
    app = with_changes(generated["applications"][0], env, replicas)
    return roll_out(layout, Cluster(address), generated, app,
                    timeout or default_timeout(layout))


def scale(layout: Layout, replicas: int, address: str | None = None,
          timeout: float | None = None) -> str:
    """I change the running version's replica count (the same code and settings)."""
    cluster = Cluster(address)
    generated = generated_config(layout)
    name = generated["applications"][0]["name"]
    running = (cluster.details().get("applications") or {}).get(name)
    if not running or not running.get("deployed_app_config"):
        raise DeploymentAgentError(f"{name} is not deployed on {cluster.address}. Fix: "
                                   "deploy it first")
    app = with_changes(running["deployed_app_config"], replicas=replicas)
    return roll_out(layout, cluster, generated, app, timeout or default_timeout(layout))


def rollback(layout: Layout, address: str | None = None, timeout: float | None = None) -> str:
    """I deploy the newest healthy version before the current one, and wait for it."""
    healthy = [entry for entry in read_history(layout) if entry["outcome"] in
               ("healthy", "restored")]
    current = healthy[-1]["version"] if healthy else None
    target = next((entry for entry in reversed(healthy) if entry["version"] != current),
                  None)
    if target is None:
        raise DeploymentAgentError(f"no earlier healthy version in {layout.ray_history} to "
                                   "roll back to")
    return roll_out(layout, Cluster(address), generated_config(layout),
                    target["app_config"], timeout or default_timeout(layout))


def status(layout: Layout, address: str | None = None) -> str:
    """The application's status, version, replicas by state and node, and proxies."""
    details = Cluster(address).details()
    name = generated_config(layout)["applications"][0]["name"]
    app = (details.get("applications") or {}).get(name)
    if app is None:
        return f"{name}: not deployed on {dashboard_address(address)}"
    lines = [f"{name}: {app['status']} {app.get('message') or ''}".rstrip(),
             f"version: {version_of(app.get('deployed_app_config') or {})}"]
    for deployment_name, deployment in app["deployments"].items():
        nodes = Counter((r["state"], r.get("node_ip", "?")) for r in deployment["replicas"])
        lines.append(f"{deployment_name}: {deployment['status']}, "
                     f"{deployment.get('target_num_replicas')} replicas wanted; " + ", ".join(
                         f"{count} {state} on {node}" for (state, node), count in
                         sorted(nodes.items())))
    proxies = Counter(p["status"] for p in (details.get("proxies") or {}).values())
    lines.append("proxies: " + ", ".join(f"{n} {s}" for s, n in sorted(proxies.items())))
    return "\n".join(lines)


def default_timeout(layout: Layout) -> float:
    """``ray.rollout_timeout_seconds`` of the build."""
    from ..plan.planner import read_context

    return float(read_context(layout).ray.rollout_timeout_seconds)
