"""Package a deployment: bento, base image, wheelhouse, image, registry (every docker call)."""
