"""I wire the deployment's one app (``api.main:app``), which the servers import.

I am copied into every deployment as ``api/main.py``, beside the modules I name: the
generated ``settings.py`` and ``schemas.py``, the model family's ``scoring.py`` and the
serving runtime's ``runtime_patches.py``. Everything else is :func:`app.create_app`'s.
"""

from __future__ import annotations

from . import runtime_patches, schemas, scoring  # type: ignore[attr-defined]
from .app import create_app
from .settings import SERVICE_ROOT, get_settings  # type: ignore[import-not-found]
from .spec import load_spec

app = create_app(get_settings(), load_spec(), schemas, scoring, runtime_patches.PATCHES,
                 SERVICE_ROOT)
