"""What every layer shares: shipped contract artifacts, on-chain constants, enums and structs, errors,
and the wire formats the contract checks (commitments, Merkle roots, score reports, order entries)."""
