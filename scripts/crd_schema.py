"""Turn a CustomResourceDefinition's schema into the JSON Schema `doit k8s` validates with.

Usage: python scripts/crd_schema.py CRD.yaml VERSION SOURCE OUT.json

I take the served version's ``openAPIV3Schema`` as the CRD defines it, without its
``status`` (a manifest never writes it), and make it strict the way the API server is with
``kubectl apply --validate=strict``: an object with declared properties accepts no other
field unless it says ``x-kubernetes-preserve-unknown-fields``, and an int-or-string field
takes an integer or a string. SOURCE (the repository, commit and path the CRD came from)
is recorded in the schema's description.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import yaml


def strict(node: Any) -> Any:
    """I close every object schema that lists its properties, recursively."""
    if isinstance(node, list):
        return [strict(item) for item in node]
    if not isinstance(node, dict):
        return node
    found = {key: strict(value) for key, value in node.items()}
    if "properties" in found and "additionalProperties" not in found and \
            not found.get("x-kubernetes-preserve-unknown-fields"):
        found["additionalProperties"] = False
    if found.pop("x-kubernetes-int-or-string", False):
        found["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    return found


def main() -> None:
    """I write the schema of one version of one CRD."""
    crd_path, version, source, out = sys.argv[1:5]
    crd = yaml.safe_load(Path(crd_path).read_text(encoding="utf-8"))
    served = next(v for v in crd["spec"]["versions"] if v["name"] == version)
    schema = served["schema"]["openAPIV3Schema"]
    schema["properties"].pop("status", None)
    group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
    document = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": f"{kind} ({group}/{version})",
        "description": f"The CRD's openAPIV3Schema from {source}, strict (see "
                       "scripts/crd_schema.py); status left out.",
        **strict(schema),
    }
    document["required"] = sorted({*document.get("required", []), "apiVersion", "kind",
                                   "metadata", "spec"})
    document["properties"]["apiVersion"] = {"const": f"{group}/{version}"}
    document["properties"]["kind"] = {"const": kind}
    Path(out).write_text(json.dumps(document, separators=(",", ":"), sort_keys=True) + "\n",
                         encoding="utf-8")


if __name__ == "__main__":
    main()
