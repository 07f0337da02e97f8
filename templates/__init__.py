"""The deployment's templates, package data of ``deployment_agent`` (``deployment_agent.templates``
in the wheel): ``common/``, ``serving/<runtime>/`` and ``k8s/``. No code lives here."""
