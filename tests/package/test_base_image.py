"""The locally built base image is rebuilt when it was built with another package list."""

from __future__ import annotations

from deployment_agent.package.base_image import PACKAGES, outdated


def test_only_images_built_here_with_other_packages_are_outdated() -> None:
    today = {"Config": {"Labels": {"org.deployment-agent.base": "local",
                                   "org.deployment-agent.packages": ",".join(PACKAGES)}}}
    older = {"Config": {"Labels": {"org.deployment-agent.base": "local",
                                   "org.deployment-agent.packages": "python3,python3-venv"}}}
    pulled = {"Config": {"Labels": None}}
    assert not outdated(today) and outdated(older) and not outdated(pulled)
    assert "binutils" in PACKAGES  # the image build strips native libraries with it
