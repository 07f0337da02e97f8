"""The runbook's section templates, package data of ``deployment_agent``
(``deployment_agent.runbook`` in the wheel), rendered in file-name order. No code lives
here."""
