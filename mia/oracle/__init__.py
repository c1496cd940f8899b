"""One oracle of an auction committee as a long-running service.

`api` (HTTP: keys, encrypted uploads, signed reports and transcripts), `watcher` (follows the chain
and drives each auction the oracle serves), `relay` (gathers peers' signed reports and submits them
once), `worker` (decrypts, values, signs), `dataroom` (checks uploads), `store` (persisted state),
`keys` (the oracle's X25519 and Ed25519 key pair), `service` (wiring and the `mia oracle serve` entry).
"""
