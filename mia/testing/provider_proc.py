"""One provider as its own process (used by the multi-process tests and the benchmark).

`python -m mia.testing.provider_proc RPC CONTRACT COMMITTEE DATASET COST_WEI VAULT AID...`
with the key in MIA_PRIVATE_KEY: uploads and commits to every auction, waits for each reveal phase,
reveals, and prints one JSON line of timings (bytes uploaded, seconds spent uploading).
"""

from __future__ import annotations

import json
import os
import sys
import time

from eth_account import Account

from mia.protocol.types import Phase
from mia.sdk.chain import Chain
from mia.sdk.dataroom import DataroomClient, deliver_dataset, load_committee, load_dataset
from mia.sdk.provider import Provider
from mia.sdk.salts import SaltVault


def main(argv: list[str]) -> int:
    rpc, contract, committee, dataset, cost, vault_path, *aids = argv
    account = Account.from_key(os.environ["MIA_PRIVATE_KEY"])
    chain = Chain.rpc(rpc)
    provider = Provider(chain, contract, account, SaltVault(vault_path, os.environ["MIA_VAULT_PASSPHRASE"]))
    records, urls = load_dataset(dataset), load_committee(committee)
    sent, upload_s = 0, 0.0
    with DataroomClient() as http:
        for aid in map(int, aids):
            t0 = time.perf_counter()
            root, receipts = deliver_dataset(provider, aid, records, urls, http=http)
            upload_s += time.perf_counter() - t0
            sent += sum(r.size for r in receipts)
            provider.commit(aid, int(cost), root)
    for aid in map(int, aids):
        while provider.phase(aid) == Phase.COMMIT:
            time.sleep(0.2)
        provider.reveal(aid)
    print(json.dumps({"provider": account.address, "bytes": sent, "upload_s": upload_s}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
