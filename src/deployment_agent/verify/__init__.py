"""Verify a deployment: run it as a real server and check every endpoint."""
