"""Invitation allowlists: the root depends only on the set of addresses, every member's proof verifies the way
the contract's `MerkleProof.verifyCalldata` does (sorted pairs), and outsiders or bad files fail by name."""

from __future__ import annotations

import pytest
from conftest import new_account

from mia.protocol.errors import MiaError
from mia.protocol.merkle import verify_proof
from mia.sdk.allowlist import Allowlist, NotOnAllowlist, allowlist_leaf, load_allowlist


@pytest.mark.parametrize("n", [1, 2, 3, 8, 13])
def test_every_member_proves_membership_and_order_does_not_matter(n):
    members = [new_account().address for _ in range(n)]
    allow = Allowlist(members)
    assert Allowlist(reversed(members)).root == allow.root
    assert Allowlist(m.lower() for m in members).root == allow.root  # checksum or not: the same address
    for m in members:
        assert verify_proof(allow.root, allowlist_leaf(m), allow.proof(m))
    outsider = new_account().address
    with pytest.raises(NotOnAllowlist, match=outsider):
        allow.proof(outsider)
    assert not verify_proof(allow.root, allowlist_leaf(outsider), allow.proof(members[0]))


def test_allowlist_file(tmp_path):
    a, b = new_account().address, new_account().address
    path = tmp_path / "invited.txt"
    path.write_text(f"# invited providers\n{a}\n\n{b.lower()}  # second\n")
    assert load_allowlist(path).root == Allowlist([a, b]).root
    path.write_text(f"{a}\nnot-an-address\n")
    with pytest.raises(MiaError, match="line 2: not an address"):
        load_allowlist(path)
    with pytest.raises(MiaError, match="cannot read allowlist"):
        load_allowlist(tmp_path / "missing.txt")
    path.write_text("# nobody\n")
    with pytest.raises(MiaError, match="at least one provider"):
        load_allowlist(path)
