"""Deployment targets: the embedded chain (default), a project-managed anvil node, or any RPC URL."""

from deploy.networks import NETWORKS, connect
from deploy.deployer import Deployment, deploy_mia

__all__ = ["NETWORKS", "Deployment", "connect", "deploy_mia"]
