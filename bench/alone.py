"""One section of the bench run alone (``python -m bench.<section>``): the churn example
trained afresh, and the section's figures merged into results.json (the other sections
keep the run they came from), its targets and RESULTS.md rewritten."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import report, targets

BENCH = Path(__file__).resolve().parent


def trained_churn(scratch: Path) -> Path:
    """The churn example trained into ``scratch``; its experiment manifest."""
    subprocess.run([sys.executable, str(BENCH.parent / "examples/churn/train.py"),
                    str(scratch / "modeling")], check=True, capture_output=True)
    return scratch / "modeling" / "experiment_manifest.json"


def merge(section: str, figures: dict[str, Any]) -> None:
    """``figures`` become results.json's ``section``; targets and RESULTS.md follow."""
    results = json.loads((BENCH / "results.json").read_text())
    results[section] = figures
    results["targets"] = targets.targets(results)
    (BENCH / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (BENCH / "RESULTS.md").write_text(report.markdown(results))
