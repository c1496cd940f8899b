"""One oracle of an auction committee as a long-running service.

`api` (HTTP: keys, encrypted uploads, signed reports and transcripts), `watcher` (follows the chain
and drives each auction the oracle serves), `relay` (each member posts its own report; who aggregates
when), `worker` (decrypts, values, signs), `scoring` / `text_scoring` (value, quantise, transcript,
sign), `dataroom` (checks uploads), `limits` and `reads` (bounded work for strangers), `store`
(persisted state), `keys` (the oracle's X25519 and Ed25519 key pair), `service` (wiring and the
`mia oracle serve` entry).
"""
