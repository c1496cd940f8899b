"""web3.py clients for each role (buyer, provider, oracle, auditor, MUT holder) and the chain plumbing
under them: connections, deployment, a local node, reorg-safe events."""
