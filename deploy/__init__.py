"""Deployment targets: the embedded chain (default), a project-managed anvil node, or any RPC URL."""

from deploy.deployer import Deployment, deploy_mia
from deploy.networks import NETWORKS, connect

__all__ = ["NETWORKS", "Deployment", "connect", "deploy_mia"]
