"""Generate the deployment folder: render, escape, check, swap in atomically."""
