"""The ``deployment-agent`` command: the doit graph of :mod:`.graph`, on any manifest.

    deployment-agent deploy path/to/experiment_manifest.json --title "Churn API" --version 1.0.0
    deployment-agent serve path/to/experiment_manifest.json
    deployment-agent containerize path/to/experiment_manifest.json
    deployment-agent doit path/to/experiment_manifest.json list     # any doit command
    deployment-agent ray deploy path/to/experiment_manifest.json    # to a Ray cluster

doit stays the engine: each command runs tasks of the same graph as the repository's
``dodo.py``, with its state (doit's database, the plan, the bento store) in the build
folder beside the deployment, so a second run does nothing.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import __version__
from .contract.settings_schema import BY_ARGUMENT

# Subcommand -> the doit tasks it runs.
COMMANDS: dict[str, tuple[str, list[str]]] = {
    "deploy": ("validate, compile, generate, build the bento, serve it in an environment "
               "made only from its locked wheels and check every endpoint",
               ["validate", "compile", "generate", "bento", "wheelhouse", "smoke"]),
    "generate": ("validate, compile and generate the deployment folder only",
                 ["validate", "compile", "generate"]),
    "serve": ("serve the built service in the foreground (Ctrl-C stops it)", ["serve"]),
    "containerize": ("build the image offline: base image, wheelhouse, image",
                     ["containerize"]),
}
RAY_ACTIONS = ("write", "deploy", "status", "scale", "rollback")
# Options of the build commands -> the settings keyword they set.
OPTIONS: dict[str, tuple[str, type, str]] = {
    "--title": ("api_title", str, "API title"),
    "--version": ("api_version", str, "API version (the image tag)"),
    "--port": ("port", int, "HTTP port"),
    "--workers": ("workers", int, "worker processes"),
    "--runtime": ("runtime", str, "serving runtime: bentoml or uvicorn"),
    "--model-runtime": ("model_runtime", str, "model runtime: auto, onnx or native"),
    "--registry": ("registry", str, "image registry prefix"),
    "--drift-threshold": ("drift_threshold", float, "PSI that sets drift_detected"),
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deployment-agent",
        description="Turn a trained model's experiment manifest into a tested prediction "
                    "service (FastAPI served by BentoML), as an incremental doit build.")
    parser.add_argument("-V", "--tool-version", action="version",
                        version=f"deployment-agent {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    for name, (help_text, _) in COMMANDS.items():
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _build_options(sub)
    raw = commands.add_parser("doit", help="run any doit command on the graph (list, info, "
                              "forget, clean, ...)")
    _build_options(raw)
    raw.add_argument("doit_args", nargs=argparse.REMAINDER, help="doit's own arguments")
    report = commands.add_parser(
        "report", help="an HTML report of the model after deployment: drift per feature "
        "and realized quality over time, from the inference log, the feedback and the "
        "manifest's reference sample (Evidently, in an environment of its own), written to "
        "report.html in the build folder")
    _build_options(report)
    report.add_argument("--log-dir", required=True,
                        help="the service's INFERENCE_LOG_DIR (its volume's folder)")
    report.add_argument("--database-url", help="FEEDBACK_DATABASE_URL, when the prediction "
                        "store is not the SQLite file in --log-dir")
    ray = commands.add_parser(
        "ray", help="the Ray Serve target: write it (Serve app and config, node "
        "environment, code package, RayService), deploy it to a cluster and wait for every "
        "replica (a version that is not healthy is rolled back by itself), show its status, "
        "scale it, roll it back")
    ray.add_argument("action", choices=RAY_ACTIONS)
    _build_options(ray)
    ray.add_argument("--address", help="the cluster's dashboard URL (default "
                     "RAY_DASHBOARD_ADDRESS, else http://127.0.0.1:8265)")
    ray.add_argument("--replicas", type=int, help="deploy: a fixed count; scale: the new one")
    ray.add_argument("--timeout", type=float, help="seconds to wait for health (default "
                     "ray.rollout_timeout_seconds)")
    ray.add_argument("--set", dest="env", action="append", default=[], metavar="NAME=VALUE",
                     help="deploy: a service setting for the new version (repeatable)")
    commands.add_parser("schema", help="print the experiment manifest's JSON Schema")
    commands.add_parser("settings", help="print every setting with its default, as YAML")
    return parser


def _build_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("manifest", help="the experiment manifest (JSON) of a trained model")
    parser.add_argument("--output", help="deployment folder (default: ../deployment beside "
                        "a modeling/ folder, else deployment/ beside the manifest)")
    parser.add_argument("--build-dir", help="build state folder (default: <output>-build)")
    parser.add_argument("--settings", help="settings YAML (default: config/settings.yaml "
                        "when present)")
    for flag, (keyword, kind, help_text) in OPTIONS.items():
        assert keyword in BY_ARGUMENT, keyword
        parser.add_argument(flag, dest=keyword, type=kind, help=help_text)


def _config(args: argparse.Namespace) -> Any:
    from .graph import BuildConfig

    overrides = {keyword: getattr(args, keyword) for keyword, _, _ in OPTIONS.values()}
    return BuildConfig.create(args.manifest, args.output, args.build_dir, args.settings,
                              **overrides)


def run_doit(config: Any, doit_args: Sequence[str]) -> int:
    """Run doit with the graph of ``config`` as its task loader."""
    from doit.cmd_base import ModuleTaskLoader
    from doit.doit_cmd import DoitMain

    from .graph import make_tasks

    namespace = {**make_tasks(config), "DOIT_CONFIG": config.doit_config}
    return int(DoitMain(ModuleTaskLoader(namespace)).run(list(doit_args)))


def ray_command(config: Any, args: argparse.Namespace) -> int:
    """Write the Ray target (doit's ``ray`` task), or run one of its cluster actions."""
    from .contract.errors import DeploymentAgentError
    from .release import ray_deploy

    written = run_doit(config, ["run", "ray"])
    if written or args.action == "write":
        return written
    env = dict(item.split("=", 1) for item in args.env if "=" in item)
    bad = [item for item in args.env if "=" not in item]
    if bad:
        print(f"--set takes NAME=VALUE: {', '.join(bad)}", file=sys.stderr)
        return 2
    layout, options = config.layout, {"address": args.address, "timeout": args.timeout}
    try:
        if args.action == "deploy":
            print(ray_deploy.deploy(layout, env=env, replicas=args.replicas, **options))
        elif args.action == "scale":
            if not args.replicas:
                print("scale needs --replicas N", file=sys.stderr)
                return 2
            print(ray_deploy.scale(layout, args.replicas, **options))
        elif args.action == "rollback":
            print(ray_deploy.rollback(layout, **options))
        else:
            print(ray_deploy.status(layout, args.address))
    except DeploymentAgentError as exc:
        print(f"ray {args.action} failed: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``deployment-agent`` console script."""
    args = _parser().parse_args(argv)
    if args.command == "schema":
        from .contract.manifest import manifest_json_schema

        print(json.dumps(manifest_json_schema(), indent=2))
        return 0
    if args.command == "settings":
        from .contract.settings import defaults_yaml

        print(defaults_yaml(), end="")
        return 0
    config = _config(args)
    if args.command == "report":
        return run_doit(config, ["run", "report", "--log-dir", args.log_dir,
                                 *(["--database-url", args.database_url]
                                   if args.database_url else [])])
    if args.command == "doit":
        return run_doit(config, args.doit_args)
    if args.command == "ray":
        return ray_command(config, args)
    return run_doit(config, ["run", *COMMANDS[args.command][1]])


if __name__ == "__main__":
    sys.exit(main())
