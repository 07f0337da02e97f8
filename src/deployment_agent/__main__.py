"""`python -m deployment_agent`: the same as the `deployment-agent` command."""

from .cli import main

raise SystemExit(main())
