"""Plan a deployment: inspect the model, resolve the runtimes, build the typed context."""
