"""Release a built image: push it to a registry by digest, and describe it for Kubernetes."""
