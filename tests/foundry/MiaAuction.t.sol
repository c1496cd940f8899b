// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {MiaAuction} from "../../contracts/MiaAuction.sol";
import {IMiaAuction} from "../../contracts/interfaces/IMiaAuction.sol";
import {AssetTransfer} from "../../contracts/lib/AssetTransfer.sol";
import {FalseReturnToken} from "../../contracts/test/FalseReturnToken.sol";
import {FeeOnTransferToken} from "../../contracts/test/FeeOnTransferToken.sol";
import {ReentrantReceiver} from "../../contracts/test/ReentrantReceiver.sol";
import {Vm} from "./utils/Vm.sol";
import {MiaFixture} from "./utils/MiaFixture.sol";
import {ReportSigning} from "./utils/ReportSigning.sol";

/// @notice MiaAuction end to end (SPEC §3): lifecycle in ETH and in an ERC-20, EIP-712 encoding,
///         and one test per attack, each pinned to its exact custom error with nothing changed.
contract MiaAuctionTest is MiaFixture {
    // Medians of the standard 3-of-3 reports (see MiaFixture) and what Q-MIA pays on them.
    // w = q·Δ/1e18 = (1.8e18, 2e18, 0.9e18); b = (1e18, 2e18, 4e18); B = 1e19.
    // φ = (0.556, 1, 4.44) → order 0,1,2. k=2: 2e18·3.8e18 = 7.6e36 ≤ 1e19·2e18 ✓;
    // k=3: 4e18·4.7e18 = 18.8e36 > 1e19·0.9e18 ✗ → winners {0, 1}.
    // p_0: others 1 (φ 1), 2 (φ 4.44): r=1 min(1.8e18, 1e19) = 1.8e18; r=2 min(8e18, ⌊1e19·1.8/3.8⌋) =
    //      4736842105263157894; r=3 min(∞, ⌊1e19·1.8/4.7⌋ = 3.83e18) → 4736842105263157894.
    // p_1: others 0 (φ .556), 2: r=1 min(⌊2e18·1e18/1.8e18⌋ = 1.11e18, 1e19); r=2 min(8.89e18,
    //      ⌊1e19·2/3.8⌋ = 5263157894736842105); r=3 min(∞, 4.26e18) → 5263157894736842105.
    uint256 internal constant PAY_0 = 4736842105263157894;
    uint256 internal constant PAY_1 = 5263157894736842105;
    uint256[3] internal medQ = [uint256(0.9e18), 0.5e18, 0.9e18];
    int256[3] internal medDelta = [int256(2e18), 4e18, 1e18];

    // =====================================================================================
    // Lifecycle
    // =====================================================================================

    function test_lifecycle_eth() public {
        uint256 id = _lcCreate(ETH);
        _lcCommit(id, ETH);
        _lcReveal(id, ETH);
        _lcScore(id);
        uint256 refund = _lcSettle(id, ETH);
        _lcWithdraw(ETH, refund);
    }

    function test_lifecycle_token() public {
        address asset = address(token);
        uint256 id = _lcCreate(asset);
        _lcCommit(id, asset);
        _lcReveal(id, asset);
        _lcScore(id);
        uint256 refund = _lcSettle(id, asset);
        _lcWithdraw(asset, refund);
    }

    // One step per function, each called from both lifecycle tests: with a single call site the
    // Yul inliner would merge all steps into one huge function, which solc-js needs ~15 s more to
    // optimize.

    /// Create: the budget is escrowed in the same transaction.
    function _lcCreate(address asset) internal returns (uint256 id) {
        id = _create(asset);
        vm.assertEq(id, 1, "first id");
        vm.assertEq(_balance(asset, address(auction)), BUDGET, "budget escrowed");
        vm.assertEq(auction.totalOwed(asset), BUDGET, "budget owed");
        vm.assertEq(_balance(asset, buyer), 0, "buyer paid the budget");
        vm.assertEq(uint256(auction.phase(id)), uint256(IMiaAuction.Phase.Commit), "commit phase");
        _assertEscrow();
    }

    /// Commit: a fixed deposit each.
    function _lcCommit(uint256 id, address asset) internal {
        for (uint256 i = 0; i < 4; ++i) {
            bytes32 c = _commitment(id, i);
            _fund(asset, provider[i], DEPOSIT);
            vm.expectEmit(true, true, false, true, address(auction));
            emit IMiaAuction.BidCommitted(id, provider[i], c, uint32(i + 1));
            vm.prank(provider[i]);
            auction.commit{value: asset == ETH ? DEPOSIT : 0}(id, c);
            vm.assertEq(_balance(asset, address(auction)), BUDGET + (i + 1) * DEPOSIT, "deposit escrowed");
            vm.assertEq(
                auction.getBid(id, provider[i]).datasetRoot,
                c,
                "commitment stored (in the root's slot until the reveal)"
            );
            _assertEscrow();
        }
    }

    /// Reveal (provider 3 never reveals): the deposit stays in escrow until the auction ends.
    function _lcReveal(uint256 id, address asset) internal {
        vm.warp(COMMIT_END);
        vm.assertEq(uint256(auction.phase(id)), uint256(IMiaAuction.Phase.Reveal), "reveal phase");
        for (uint256 i = 0; i < 3; ++i) {
            vm.expectEmit(true, true, false, true, address(auction));
            emit IMiaAuction.BidRevealed(id, provider[i], cost[i], _salt(id, i), _root(i));
            _reveal(id, i);
            vm.assertEq(auction.credits(asset, provider[i]), 0, "deposit held until the auction ends");
            IMiaAuction.Bid memory bid = auction.getBid(id, provider[i]);
            vm.assertTrue(bid.revealed, "revealed");
            vm.assertEq(uint256(bid.cost), cost[i], "cost stored");
            _assertEscrow();
        }
    }

    /// Scoring: 3 signed reports relayed by a third party; medians stored.
    function _lcScore(uint256 id) internal {
        vm.warp(REVEAL_END);
        vm.assertEq(uint256(auction.phase(id)), uint256(IMiaAuction.Phase.Scoring), "scoring phase");
        (IMiaAuction.ScoreReport[] memory reports, bytes[] memory sigs) = _signed(id, _members(0, 1, 2));
        vm.expectEmit(true, true, true, true, address(auction));
        emit IMiaAuction.ReportPosted(
            id,
            oracle[0],
            0,
            ReportSigning.digest(reports[0], chainId0, address(auction)),
            reports[0].transcriptHash,
            reports[0].deadline,
            reports[0].q,
            reports[0].delta,
            sigs[0]
        );
        vm.expectEmit(true, false, false, true, address(auction));
        emit IMiaAuction.ScoresFinalized(id, 1, 1);
        vm.prank(relayer);
        auction.postReports(id, 0, reports, sigs);
        vm.assertEq(uint256(auction.phase(id)), uint256(IMiaAuction.Phase.Scored), "scored");
        for (uint256 j = 0; j < 3; ++j) {
            // The median of the three weights equals q·Δ of the medians here: 1.8, 2.0, 0.9.
            vm.assertEq(auction.weightOf(id, provider[j]), qmia.weight(medQ[j], medDelta[j]), "median weight");
        }
        _assertEscrow();
    }

    /// Settle: every Payment equals the Q-MIA output (and the hand computation above).
    function _lcSettle(uint256 id, address asset) internal returns (uint256 refund) {
        (uint256[] memory expected, bool[] memory won) = _expectedPayments();
        vm.assertEq(expected[0], PAY_0, "hand-computed p_0");
        vm.assertEq(expected[1], PAY_1, "hand-computed p_1");
        vm.assertFalse(won[2], "provider 2 loses");
        vm.recordLogs();
        vm.prank(relayer);
        auction.settle(id);
        Vm.Log[] memory logs = vm.getRecordedLogs();
        uint256 totalPaid = _checkPaymentLogs(logs, id, expected, won);
        vm.assertEq(totalPaid, PAY_0 + PAY_1, "total paid");
        refund = BUDGET - totalPaid + DEPOSIT; // unspent budget + provider 3's forfeited deposit
        _checkSettledLog(logs, id, 2, totalPaid, DEPOSIT, refund);
        vm.assertEq(uint256(auction.phase(id)), uint256(IMiaAuction.Phase.Settled), "settled");
        // every revealer has weight > 0: anyone may credit each deposit back, once
        for (uint256 i = 0; i < 3; ++i) {
            vm.expectEmit(true, true, false, true, address(auction));
            emit IMiaAuction.DepositRefunded(id, provider[i], DEPOSIT);
            vm.prank(relayer);
            auction.refundDeposit(id, provider[i]);
        }
        for (uint256 i = 0; i < 4; ++i) {
            vm.expectRevert(abi.encodeWithSelector(IMiaAuction.DepositNotRefundable.selector, id, provider[i]));
            auction.refundDeposit(id, provider[i]); // refunded already, or (3) never revealed
        }
        vm.assertEq(auction.credits(asset, provider[0]), DEPOSIT + PAY_0, "credit 0");
        vm.assertEq(auction.credits(asset, provider[1]), DEPOSIT + PAY_1, "credit 1");
        vm.assertEq(auction.credits(asset, provider[2]), DEPOSIT, "credit 2: deposit only");
        vm.assertEq(auction.credits(asset, provider[3]), 0, "non-revealer forfeits");
        vm.assertEq(auction.credits(asset, buyer), refund, "buyer refund");
        _assertEscrow();
    }

    /// Q-MIA on the revealed costs and the median weights.
    function _expectedPayments() internal view returns (uint256[] memory expected, bool[] memory won) {
        uint256[] memory bids = new uint256[](3);
        uint256[] memory weights = new uint256[](3);
        for (uint256 j = 0; j < 3; ++j) {
            bids[j] = cost[j];
            weights[j] = qmia.weight(medQ[j], medDelta[j]);
        }
        return qmia.settle(bids, weights, BUDGET);
    }

    /// Withdraw: pull payments, exact amounts, escrow kept after each.
    function _lcWithdraw(address asset, uint256 refund) internal {
        address[4] memory payees = [provider[0], provider[1], provider[2], buyer];
        for (uint256 k = 0; k < payees.length; ++k) {
            _withdrawAndCheck(asset, payees[k]);
        }
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.NothingToWithdraw.selector, asset, provider[3]));
        vm.prank(provider[3]);
        auction.withdraw(asset);
        vm.assertEq(_balance(asset, address(auction)), 0, "contract drained");
        vm.assertEq(auction.totalOwed(asset), 0, "nothing owed");
        vm.assertEq(_balance(asset, provider[0]), DEPOSIT + PAY_0, "provider 0 net");
        vm.assertEq(_balance(asset, buyer), refund, "buyer net");
    }

    function _withdrawAndCheck(address asset, address who) internal {
        uint256 credit = auction.credits(asset, who);
        uint256 before = _balance(asset, who);
        vm.expectEmit(true, true, false, true, address(auction));
        emit IMiaAuction.Withdrawal(asset, who, credit);
        vm.prank(who);
        auction.withdraw(asset);
        vm.assertEq(_balance(asset, who) - before, credit, "paid the credit");
        vm.assertEq(auction.credits(asset, who), 0, "credit cleared");
        _assertEscrow();
    }

    function _checkPaymentLogs(Vm.Log[] memory logs, uint256 id, uint256[] memory expected, bool[] memory won)
        internal
        view
        returns (uint256 total)
    {
        uint256 seen = 0; // Payment events
        for (uint256 k = 0; k < logs.length; ++k) {
            if (logs[k].emitter != address(auction) || logs[k].topics[0] != IMiaAuction.Payment.selector) continue;
            vm.assertEq(uint256(logs[k].topics[1]), id, "payment auction id");
            address to = address(uint160(uint256(logs[k].topics[2])));
            (uint256 amount, uint256 mutAmount) = abi.decode(logs[k].data, (uint256, uint256));
            vm.assertEq(mutAmount, 0, "cash Q-MIA mints no MUT");
            bool matched = false;
            for (uint256 j = 0; j < expected.length; ++j) {
                if (provider[j] != to) continue;
                vm.assertTrue(won[j], "only winners are paid");
                vm.assertEq(amount, expected[j], "Payment == QMIA output");
                vm.assertGe(amount, cost[j], "IR");
                matched = true;
            }
            vm.assertTrue(matched, "payment to a known provider");
            total += amount;
            ++seen;
        }
        uint256 winners = 0;
        for (uint256 j = 0; j < won.length; ++j) {
            if (won[j]) ++winners;
        }
        vm.assertEq(seen, winners, "one Payment per winner");
    }

    function _checkSettledLog(
        Vm.Log[] memory logs,
        uint256 id,
        uint256 winners,
        uint256 totalPaid,
        uint256 forfeited,
        uint256 refund
    ) internal pure {
        bool found = false;
        for (uint256 k = 0; k < logs.length; ++k) {
            if (logs[k].topics[0] != IMiaAuction.AuctionSettled.selector) continue;
            vm.assertEq(uint256(logs[k].topics[1]), id, "settled id");
            vm.assertEq(
                logs[k].data, abi.encode(winners, totalPaid, uint256(0), forfeited, refund), "AuctionSettled data"
            );
            found = true;
        }
        vm.assertTrue(found, "AuctionSettled emitted");
    }

    /// k = 2 of 3, and only oracles 1 and 0 post (in that order): at the scoring deadline the chunk is
    /// aggregated over both. With an even number of reports the median is the lower middle WEIGHT.
    /// Weights: oracle 0 (1.8, 2.0, 1.0), oracle 1 (2.4, 0, 0.2) -> lower middles (1.8, 0, 0.2): provider
    /// 1's harmful data (Δ < 0 for oracle 1) gives w = 0 and it cannot win.
    /// Order 0 (φ 0.556), 2 (φ 20). k=2: 4e18·2.0e18 = 8e36 > 1e19·0.2e18 ✗ → winner {0}.
    /// p_0: other 2: r=1 min(⌊1.8e18·4e18/0.2e18⌋ = 3.6e19, ⌊1e19·1.8/1.8⌋ = 1e19) = 1e19;
    ///      r=2 min(∞, ⌊1e19·1.8/2.0⌋) < 1e19 → p_0 = 1e19, the whole budget.
    function test_twoOfThree_lowerMedian() public {
        uint256 id = _toScoring(ETH);
        (IMiaAuction.ScoreReport[] memory reports, bytes[] memory sigs) = _signed(id, _members(1, 0));
        auction.postReports(id, 0, reports, sigs);
        vm.assertEq(uint256(auction.phase(id)), uint256(IMiaAuction.Phase.Scoring), "2 of 3: window still open");
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.ChunkNotFinalizable.selector, 0, 2, THRESHOLD));
        auction.finalizeScores(id, 0, reports[0].providers, new uint256[][](2));
        vm.warp(SCORING_END);
        _finalize(id, 0, reports, sigs);
        vm.assertEq(auction.weightOf(id, provider[0]), 1.8e18, "lower middle w0");
        vm.assertEq(auction.weightOf(id, provider[1]), 0, "lower middle w1");
        vm.assertEq(auction.weightOf(id, provider[2]), 0.2e18, "lower middle w2");
        auction.settle(id);
        auction.refundDeposit(id, provider[0]);
        auction.refundDeposit(id, provider[2]);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.DepositNotRefundable.selector, id, provider[1]));
        auction.refundDeposit(id, provider[1]); // weight 0: forfeited to the buyer
        vm.assertEq(auction.credits(ETH, provider[0]), DEPOSIT + BUDGET, "p_0 = B");
        vm.assertEq(auction.credits(ETH, provider[1]), 0, "w = 0 cannot win and forfeits its deposit");
        vm.assertEq(auction.credits(ETH, provider[2]), DEPOSIT, "loser");
        vm.assertEq(auction.credits(ETH, buyer), 2 * DEPOSIT, "buyer: the forfeited deposits only");
        _assertEscrow();
    }

    /// Nobody reveals: settle is possible in the scoring window and refunds budget + all deposits.
    function test_settle_nobodyRevealed() public {
        uint256 id = _create(ETH);
        _commit(id, 0);
        _commit(id, 1);
        vm.warp(REVEAL_END);
        vm.expectEmit(true, false, false, true, address(auction));
        emit IMiaAuction.AuctionSettled(id, 0, 0, 0, 2 * DEPOSIT, BUDGET + 2 * DEPOSIT);
        auction.settle(id);
        vm.assertEq(auction.credits(ETH, buyer), BUDGET + 2 * DEPOSIT, "buyer gets everything");
        _assertEscrow();
        vm.prank(buyer);
        auction.withdraw(ETH);
        vm.assertEq(address(auction).balance, 0, "drained");
    }

    // =====================================================================================
    // EIP-712 and commitment encodings
    // =====================================================================================

    /// A fixed vector produced by eth-account 0.14 (`encode_typed_data` + `Account.sign_message`, key 0xA1)
    /// for domain {name "mia", version "1", chainId 1, verifyingContract 0x1111…1111}. Pins the hand-written
    /// encoding (and therefore the contract's, see the next test) to what the Python SDK signs.
    function test_digest_pinnedToEthAccountVector() public pure {
        IMiaAuction.ScoreReport memory r;
        r.auctionId = 7;
        r.round = 1;
        r.providers = new address[](2);
        r.providers[0] = 0x2222222222222222222222222222222222222222;
        r.providers[1] = 0x3333333333333333333333333333333333333333;
        r.q = new uint256[](2);
        (r.q[0], r.q[1]) = (0.9e18, 1e18);
        r.delta = new int256[](2);
        (r.delta[0], r.delta[1]) = (int256(2e18), -0.5e18);
        r.datasetRoots = new bytes32[](2);
        (r.datasetRoots[0], r.datasetRoots[1]) = (keccak256("root-a"), keccak256("root-b"));
        r.methodId = 3;
        r.transcriptHash = keccak256("transcript");
        r.deadline = 1700000000;
        bytes32 d = ReportSigning.digest(r, 1, 0x1111111111111111111111111111111111111111);
        vm.assertEq(d, 0x3b5f040edb75118cd0c913f7830220ee66d1ed3b6ee8cbefe8de369a3820ed06, "eth-account digest");
        vm.assertEq(
            ReportSigning.sign(0xA1, d),
            hex"7b8ec297c4842531c18eddd3c22f4889394267d41f4c48f1975f37d4e86c72b5"
            hex"1e2d8c698ac2683fd97227ca098a39be629ab74bef144355adf25fbebe1b82141b",
            "eth-account signature (RFC 6979)"
        );
        vm.assertEq(vm.addr(0xA1), 0xd2431CA38735C2fd438e2cAa23F094191D89675b, "signer address");
    }

    function test_digest_contractMatchesIndependentEncoding() public {
        vm.assertEq(
            auction.SCORE_REPORT_TYPEHASH(), keccak256(bytes(ReportSigning.SCORE_REPORT_TYPE)), "typehash string"
        );
        (, string memory name, string memory version, uint256 chainId, address verifying, bytes32 salt,) =
            auction.eip712Domain();
        vm.assertEq(keccak256(bytes(name)), keccak256("mia"), "domain name");
        vm.assertEq(keccak256(bytes(version)), keccak256("1"), "domain version");
        vm.assertEq(chainId, chainId0, "domain chain id");
        vm.assertEq(verifying, address(auction), "domain contract");
        vm.assertEq(salt, bytes32(0), "no salt");

        uint256 id = _toScoring(ETH);
        for (uint256 o = 0; o < 3; ++o) {
            IMiaAuction.ScoreReport memory r = _report(id, o, REPORT_DEADLINE);
            vm.assertEq(auction.scoreReportDigest(r), ReportSigning.digest(r, chainId0, address(auction)), "digest");
        }
    }

    function testFuzz_digestMatchesIndependentEncoding(
        uint256 auctionId,
        uint32 round,
        address[3] memory providers,
        uint256[3] memory q,
        int256[3] memory delta,
        bytes32[3] memory roots,
        uint32 methodId,
        bytes32 transcript,
        uint64 deadline,
        uint8 n
    ) public view {
        n = uint8(bound(n, 0, 3));
        IMiaAuction.ScoreReport memory r;
        r.auctionId = auctionId;
        r.round = round;
        r.providers = new address[](n);
        r.q = new uint256[](n);
        r.delta = new int256[](n);
        r.datasetRoots = new bytes32[](n);
        for (uint256 j = 0; j < n; ++j) {
            (r.providers[j], r.q[j], r.delta[j], r.datasetRoots[j]) = (providers[j], q[j], delta[j], roots[j]);
        }
        r.methodId = methodId;
        r.transcriptHash = transcript;
        r.deadline = deadline;
        vm.assertEq(auction.scoreReportDigest(r), ReportSigning.digest(r, chainId0, address(auction)), "digest");
    }

    function test_commitment_encoding() public {
        uint256 id = _create(ETH);
        vm.assertEq(
            auction.commitmentOf(id, provider[0], cost[0], _salt(id, 0), _root(0)),
            keccak256(abi.encode(chainId0, address(auction), id, provider[0], cost[0], _salt(id, 0), _root(0))),
            "SPEC 3.2 commitment"
        );
    }

    // =====================================================================================
    // Attacks on commit / reveal
    // =====================================================================================

    /// Front-running by copying: the copier pays a deposit for a commitment it can never open,
    /// because the commitment binds the sender. Its deposit is forfeited to the buyer.
    function test_attack_copiedCommitmentCannotBeRevealed() public {
        uint256 id = _create(ETH);
        _commit(id, 0);
        bytes32 copied = auction.getBid(id, provider[0]).datasetRoot; // the seal, before the reveal
        vm.deal(attacker, DEPOSIT);
        vm.prank(attacker);
        auction.commit{value: DEPOSIT}(id, copied);
        _commit(id, 1);
        _commit(id, 2);
        vm.warp(COMMIT_END);

        bytes32 s0 = _salt(id, 0);
        bytes32 r0 = _root(0);
        uint256 c0 = cost[0];
        bytes32 before = _state(id);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.CommitmentMismatch.selector, attacker));
        vm.prank(attacker);
        auction.reveal(id, c0, s0, r0);
        vm.assertEq(_state(id), before, "nothing changed");

        for (uint256 i = 0; i < 3; ++i) {
            _reveal(id, i);
        }
        vm.warp(REVEAL_END);
        _submitStandard(id);
        auction.settle(id);
        vm.assertEq(auction.credits(ETH, attacker), 0, "copier forfeits its deposit");
        vm.assertEq(auction.credits(ETH, buyer), BUDGET - PAY_0 - PAY_1 + DEPOSIT, "buyer gets it");
        _assertEscrow();
    }

    /// Knowing a provider's opening does not let anyone else reveal it.
    function test_attack_revealForSomeoneElse() public {
        uint256 id = _create(ETH);
        _commit(id, 0);
        vm.warp(COMMIT_END);
        (uint256 c0, bytes32 s0, bytes32 r0) = (cost[0], _salt(id, 0), _root(0));
        bytes32 before = _state(id);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.NotCommitted.selector, attacker));
        vm.prank(attacker);
        auction.reveal(id, c0, s0, r0);
        vm.assertEq(_state(id), before, "nothing changed");
        vm.assertFalse(auction.getBid(id, provider[0]).revealed, "victim still unrevealed");
        _reveal(id, 0); // the owner still can
        vm.assertTrue(auction.getBid(id, provider[0]).revealed, "victim revealed");
    }

    function test_attack_wrongOpening() public {
        uint256 id = _create(ETH);
        _commit(id, 0);
        vm.warp(COMMIT_END);
        (uint256 c0, bytes32 s0, bytes32 r0) = (cost[0], _salt(id, 0), _root(0));
        bytes32 before = _state(id);
        bytes memory err = abi.encodeWithSelector(IMiaAuction.CommitmentMismatch.selector, provider[0]);

        vm.expectRevert(err);
        vm.prank(provider[0]);
        auction.reveal(id, c0, bytes32(uint256(s0) ^ 1), r0); // wrong salt
        vm.expectRevert(err);
        vm.prank(provider[0]);
        auction.reveal(id, c0 + 1, s0, r0); // wrong cost (cannot raise the bid after seeing others)
        vm.expectRevert(err);
        vm.prank(provider[0]);
        auction.reveal(id, c0 - 1, s0, r0); // nor lower it
        vm.expectRevert(err);
        vm.prank(provider[0]);
        auction.reveal(id, c0, s0, keccak256("other data")); // wrong dataset root
        vm.assertEq(_state(id), before, "nothing changed");
    }

    function test_attack_revealLate() public {
        uint256 id = _create(ETH);
        _commit(id, 0);
        (uint256 c0, bytes32 s0, bytes32 r0) = (cost[0], _salt(id, 0), _root(0));
        vm.warp(REVEAL_END);
        bytes32 before = _state(id);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.WrongPhase.selector, id, IMiaAuction.Phase.Scoring));
        vm.prank(provider[0]);
        auction.reveal(id, c0, s0, r0);
        vm.assertEq(_state(id), before, "nothing changed");
        vm.warp(SCORING_END);
        before = _state(id);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.WrongPhase.selector, id, IMiaAuction.Phase.Expired));
        vm.prank(provider[0]);
        auction.reveal(id, c0, s0, r0);
        vm.assertEq(_state(id), before, "nothing changed");
    }

    function test_attack_revealEarlyAndCommitLate() public {
        uint256 id = _create(ETH);
        _commit(id, 0);
        (uint256 c0, bytes32 s0, bytes32 r0) = (cost[0], _salt(id, 0), _root(0));
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.WrongPhase.selector, id, IMiaAuction.Phase.Commit));
        vm.prank(provider[0]);
        auction.reveal(id, c0, s0, r0);

        vm.warp(COMMIT_END);
        bytes32 c1 = _commitment(id, 1);
        vm.deal(provider[1], DEPOSIT);
        bytes32 before = _state(id);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.WrongPhase.selector, id, IMiaAuction.Phase.Reveal));
        vm.prank(provider[1]);
        auction.commit{value: DEPOSIT}(id, c1);
        vm.assertEq(_state(id), before, "nothing changed");
    }

    // =====================================================================================
    // Attacks on score reports
    // =====================================================================================

    function _expectSubmitReverts(
        uint256 id,
        IMiaAuction.ScoreReport[] memory reports,
        bytes[] memory sigs,
        bytes memory err
    ) internal {
        bytes32 before = _state(id);
        vm.expectRevert(err);
        vm.prank(relayer);
        auction.postReports(id, 0, reports, sigs);
        vm.assertEq(_state(id), before, "nothing changed");
        vm.assertEq(uint256(auction.phase(id)), uint256(IMiaAuction.Phase.Scoring), "still scoring");
    }

    function test_attack_reportByNonMember() public {
        uint256 id = _toScoring(ETH);
        (IMiaAuction.ScoreReport[] memory reports, bytes[] memory sigs) = _signed(id, _members(0, 1));
        sigs[1] = _signReport(OUTSIDER_PK, reports[1]);
        _expectSubmitReverts(
            id, reports, sigs, abi.encodeWithSelector(IMiaAuction.NotOracle.selector, vm.addr(OUTSIDER_PK))
        );
    }

    function test_attack_sameOracleTwice() public {
        uint256 id = _toScoring(ETH);
        (IMiaAuction.ScoreReport[] memory reports, bytes[] memory sigs) = _signed(id, _members(0, 0));
        _expectSubmitReverts(
            id, reports, sigs, abi.encodeWithSelector(IMiaAuction.AlreadyPosted.selector, oracle[0], 0)
        );
        // Also with a different report signed by the same key.
        (reports, sigs) = _signed(id, _members(0, 1));
        sigs[1] = _signReport(oraclePk[0], reports[1]);
        _expectSubmitReverts(
            id, reports, sigs, abi.encodeWithSelector(IMiaAuction.AlreadyPosted.selector, oracle[0], 0)
        );
        // And in a later call, after the first report was recorded: the first one stands.
        (reports, sigs) = _signed(id, _members(0, 1));
        IMiaAuction.ScoreReport[] memory one = new IMiaAuction.ScoreReport[](1);
        bytes[] memory oneSig = new bytes[](1);
        (one[0], oneSig[0]) = (reports[0], sigs[0]);
        auction.postReports(id, 0, one, oneSig);
        one[0] = _report(id, 1, REPORT_DEADLINE);
        oneSig[0] = _signReport(oraclePk[0], one[0]);
        _expectSubmitReverts(id, one, oneSig, abi.encodeWithSelector(IMiaAuction.AlreadyPosted.selector, oracle[0], 0));
    }

    function test_attack_highSMalleatedSignature() public {
        uint256 id = _toScoring(ETH);
        (IMiaAuction.ScoreReport[] memory reports, bytes[] memory sigs) = _signed(id, _members(0, 1));
        bytes memory twin = ReportSigning.highS(sigs[1]);
        // The twin is a valid secp256k1 signature by the same oracle …
        vm.assertEq(ReportSigning.recover(auction.scoreReportDigest(reports[1]), twin), oracle[1], "same signer");
        // … but high-s is rejected.
        sigs[1] = twin;
        _expectSubmitReverts(id, reports, sigs, abi.encodeWithSelector(IMiaAuction.InvalidSignature.selector, 1));
        // Malformed signatures too.
        sigs[1] = new bytes(64);
        _expectSubmitReverts(id, reports, sigs, abi.encodeWithSelector(IMiaAuction.InvalidSignature.selector, 1));
        sigs[1] = new bytes(65);
        _expectSubmitReverts(id, reports, sigs, abi.encodeWithSelector(IMiaAuction.InvalidSignature.selector, 1));
    }

    /// A report for auction 2 (same providers, same dataset roots, same committee) replayed on auction 1.
    function test_attack_replayFromAnotherAuction() public {
        uint256 id1 = _create(ETH);
        uint256 id2 = _create(ETH);
        for (uint256 i = 0; i < 4; ++i) {
            _commit(id1, i);
            _commit(id2, i);
        }
        vm.warp(COMMIT_END);
        for (uint256 i = 0; i < 3; ++i) {
            _reveal(id1, i);
            _reveal(id2, i);
        }
        vm.warp(REVEAL_END);
        (IMiaAuction.ScoreReport[] memory reports, bytes[] memory sigs) = _signed(id2, _members(0, 1));
        _expectSubmitReverts(
            id1, reports, sigs, abi.encodeWithSelector(IMiaAuction.ReportAuctionMismatch.selector, 0, id2)
        );
        // The reports are fine where they belong.
        _postAndFinalize(id2, reports, sigs);
        vm.assertEq(uint256(auction.phase(id2)), uint256(IMiaAuction.Phase.Scored), "accepted on auction 2");
    }

    /// Same auction id, same committee, but signed for another MiaAuction deployment: over this
    /// contract's domain the signature recovers an unrelated address.
    function test_attack_replayFromAnotherDeployment() public {
        MiaAuction other = _deployAuction();
        uint256 otherId = _createWith(other, ETH, BUDGET, DEPOSIT);
        uint256 id = _toScoring(ETH);
        vm.assertEq(otherId, id, "same auction id in both deployments");

        IMiaAuction.ScoreReport[] memory reports = new IMiaAuction.ScoreReport[](2);
        bytes[] memory sigs = new bytes[](2);
        for (uint256 k = 0; k < 2; ++k) {
            reports[k] = _report(id, k, REPORT_DEADLINE);
            bytes32 foreign = other.scoreReportDigest(reports[k]);
            vm.assertEq(foreign, ReportSigning.digest(reports[k], chainId0, address(other)), "foreign digest");
            sigs[k] = ReportSigning.sign(oraclePk[k], foreign);
        }
        address recovered = ReportSigning.recover(auction.scoreReportDigest(reports[0]), sigs[0]);
        vm.assertTrue(recovered != oracle[0] && recovered != address(0), "recovers a stranger");
        _expectSubmitReverts(id, reports, sigs, abi.encodeWithSelector(IMiaAuction.NotOracle.selector, recovered));
    }

    /// Signed for this very contract address but another chain id (e.g. a fork or a same-address
    /// deployment elsewhere).
    function test_attack_replayFromAnotherChain() public {
        uint256 id = _toScoring(ETH);
        IMiaAuction.ScoreReport[] memory reports = new IMiaAuction.ScoreReport[](2);
        bytes[] memory sigs = new bytes[](2);
        vm.chainId(chainId0 + 1);
        for (uint256 k = 0; k < 2; ++k) {
            reports[k] = _report(id, k, REPORT_DEADLINE);
            bytes32 foreign = auction.scoreReportDigest(reports[k]);
            vm.assertEq(foreign, ReportSigning.digest(reports[k], chainId0 + 1, address(auction)), "other-chain digest");
            sigs[k] = ReportSigning.sign(oraclePk[k], foreign);
        }
        vm.chainId(chainId0);
        bytes32 home = auction.scoreReportDigest(reports[0]);
        vm.assertEq(home, ReportSigning.digest(reports[0], chainId0, address(auction)), "home digest");
        address recovered = ReportSigning.recover(home, sigs[0]);
        vm.assertTrue(recovered != oracle[0] && recovered != address(0), "recovers a stranger");
        _expectSubmitReverts(id, reports, sigs, abi.encodeWithSelector(IMiaAuction.NotOracle.selector, recovered));
    }

    function test_attack_expiredReport() public {
        uint256 id = _toScoring(ETH);
        vm.warp(REVEAL_END + 100);
        IMiaAuction.ScoreReport[] memory reports = new IMiaAuction.ScoreReport[](2);
        bytes[] memory sigs = new bytes[](2);
        reports[0] = _report(id, 0, REPORT_DEADLINE);
        reports[1] = _report(id, 1, REVEAL_END + 99); // expired one second ago
        sigs[0] = _signReport(oraclePk[0], reports[0]);
        sigs[1] = _signReport(oraclePk[1], reports[1]);
        _expectSubmitReverts(
            id, reports, sigs, abi.encodeWithSelector(IMiaAuction.ReportExpired.selector, 1, REVEAL_END + 99)
        );
        // A deadline equal to the block time is still valid.
        reports[1] = _report(id, 1, REVEAL_END + 100);
        sigs[1] = _signReport(oraclePk[1], reports[1]);
        _postAndFinalize(id, reports, sigs);
        vm.assertEq(uint256(auction.phase(id)), uint256(IMiaAuction.Phase.Scored), "accepted at the deadline");
    }

    function test_attack_scoreOutOfBounds() public {
        uint256 id = _toScoring(ETH);
        IMiaAuction.ScoreReport[] memory reports = new IMiaAuction.ScoreReport[](2);
        bytes[] memory sigs = new bytes[](2);
        reports[0] = _report(id, 0, REPORT_DEADLINE);
        sigs[0] = _signReport(oraclePk[0], reports[0]);

        // q > 1.0
        reports[1] = _report(id, 1, REPORT_DEADLINE);
        reports[1].q[2] = 1e18 + 1;
        sigs[1] = _signReport(oraclePk[1], reports[1]);
        _expectSubmitReverts(id, reports, sigs, abi.encodeWithSelector(IMiaAuction.ScoreOutOfBounds.selector, 1, 2));
        // Δ > 1e36
        reports[1] = _report(id, 1, REPORT_DEADLINE);
        reports[1].delta[0] = 1e36 + 1;
        sigs[1] = _signReport(oraclePk[1], reports[1]);
        _expectSubmitReverts(id, reports, sigs, abi.encodeWithSelector(IMiaAuction.ScoreOutOfBounds.selector, 1, 0));
        // Δ < -1e36 (in the first report)
        reports[0].delta[1] = -1e36 - 1;
        sigs[0] = _signReport(oraclePk[0], reports[0]);
        _expectSubmitReverts(id, reports, sigs, abi.encodeWithSelector(IMiaAuction.ScoreOutOfBounds.selector, 0, 1));

        // The bounds themselves are accepted.
        reports[0] = _report(id, 0, REPORT_DEADLINE);
        reports[1] = _report(id, 1, REPORT_DEADLINE);
        for (uint256 k = 0; k < 2; ++k) {
            reports[k].q[0] = 1e18;
            reports[k].delta[0] = 1e36;
            reports[k].delta[1] = -1e36;
            sigs[k] = _signReport(oraclePk[k], reports[k]);
        }
        _postAndFinalize(id, reports, sigs);
        vm.assertEq(auction.weightOf(id, provider[0]), 1e36, "max weight stored");
        auction.settle(id);
        _assertEscrow();
    }

    function test_attack_reportsNotMatchingTheAuction() public {
        uint256 id = _toScoring(ETH);
        (IMiaAuction.ScoreReport[] memory reports, bytes[] memory sigs) = _signed(id, _members(0, 1));

        // No report / signatures that do not pair up.
        bytes[] memory oneSig = new bytes[](1);
        oneSig[0] = sigs[0];
        _expectSubmitReverts(
            id, new IMiaAuction.ScoreReport[](0), new bytes[](0), abi.encodeWithSelector(IMiaAuction.NoReports.selector)
        );
        _expectSubmitReverts(
            id, reports, oneSig, abi.encodeWithSelector(IMiaAuction.SignatureCountMismatch.selector, 2, 1)
        );

        // A report that leaves out a revealed provider.
        IMiaAuction.ScoreReport memory bad = _report(id, 1, REPORT_DEADLINE);
        bad.providers[2] = provider[3]; // the non-revealer instead of provider 2
        reports[0] = bad;
        sigs[0] = _signReport(oraclePk[1], bad);
        _expectSubmitReverts(id, reports, sigs, abi.encodeWithSelector(IMiaAuction.ProviderMismatch.selector, 0, 2));

        // Wrong dataset root.
        bad = _report(id, 0, REPORT_DEADLINE);
        bad.datasetRoots[1] = keccak256("not what was revealed");
        reports[0] = bad;
        sigs[0] = _signReport(oraclePk[0], bad);
        _expectSubmitReverts(id, reports, sigs, abi.encodeWithSelector(IMiaAuction.DatasetRootMismatch.selector, 0, 1));

        // Wrong method / round.
        bad = _report(id, 0, REPORT_DEADLINE);
        bad.methodId = METHOD + 1;
        reports[0] = bad;
        sigs[0] = _signReport(oraclePk[0], bad);
        _expectSubmitReverts(
            id, reports, sigs, abi.encodeWithSelector(IMiaAuction.ReportMethodMismatch.selector, 0, METHOD + 1)
        );
        bad = _report(id, 0, REPORT_DEADLINE);
        bad.round = 2;
        reports[0] = bad;
        sigs[0] = _signReport(oraclePk[0], bad);
        _expectSubmitReverts(id, reports, sigs, abi.encodeWithSelector(IMiaAuction.ReportRoundMismatch.selector, 0, 2));
    }

    function test_postReports_wrongPhase() public {
        uint256 id = _create(ETH);
        _commit(id, 0);
        vm.warp(COMMIT_END);
        _reveal(id, 0);
        (IMiaAuction.ScoreReport[] memory reports, bytes[] memory sigs) = _signed(id, _members(0, 1));
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.WrongPhase.selector, id, IMiaAuction.Phase.Reveal));
        auction.postReports(id, 0, reports, sigs);
        vm.warp(REVEAL_END);
        _postAndFinalize(id, reports, sigs);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.WrongPhase.selector, id, IMiaAuction.Phase.Scored));
        auction.postReports(id, 0, reports, sigs);
    }

    // =====================================================================================
    // Settlement and withdrawal attacks
    // =====================================================================================

    function test_attack_settleTwice() public {
        uint256 id = _toScoring(ETH);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.WrongPhase.selector, id, IMiaAuction.Phase.Scoring));
        auction.settle(id); // not before scores (someone revealed)
        _submitStandard(id);
        auction.settle(id);
        bytes32 before = _state(id);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.WrongPhase.selector, id, IMiaAuction.Phase.Settled));
        vm.prank(attacker);
        auction.settle(id);
        vm.assertEq(_state(id), before, "nothing changed");
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.CannotCancel.selector, id, IMiaAuction.Phase.Settled));
        auction.cancel(id);
    }

    function test_attack_withdrawTwice() public {
        uint256 id = _toScoring(address(token));
        _submitStandard(id);
        auction.settle(id);
        uint256 credit = auction.credits(address(token), provider[0]);
        vm.prank(provider[0]);
        auction.withdraw(address(token));
        vm.assertEq(token.balanceOf(provider[0]), credit, "paid once");
        bytes32 before = _state(id);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.NothingToWithdraw.selector, address(token), provider[0]));
        vm.prank(provider[0]);
        auction.withdraw(address(token));
        // Credits are per asset: nothing in ETH either.
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.NothingToWithdraw.selector, ETH, provider[0]));
        vm.prank(provider[0]);
        auction.withdraw(ETH);
        vm.assertEq(_state(id), before, "nothing changed");
        vm.assertEq(token.balanceOf(provider[0]), credit, "still paid once");
        _assertEscrow();
    }

    /// A contract provider that re-enters `withdraw` from its receive hook is paid exactly once.
    function test_attack_reentrantReceiverPaidOnce() public {
        ReentrantReceiver rr = ReentrantReceiver(payable(deploy("ReentrantReceiver.sol:ReentrantReceiver")));
        uint256 id = _create(ETH);
        (uint256 rrCost, bytes32 salt, bytes32 root) = (1 ether, keccak256("rr salt"), keccak256("rr data"));
        bytes32 c = auction.commitmentOf(id, address(rr), rrCost, salt, root);
        vm.deal(address(this), DEPOSIT);
        rr.execute{value: DEPOSIT}(address(auction), DEPOSIT, abi.encodeCall(MiaAuction.commit, (id, c)));
        _commit(id, 1);
        vm.warp(COMMIT_END);
        rr.execute(address(auction), 0, abi.encodeCall(MiaAuction.reveal, (id, rrCost, salt, root)));
        _reveal(id, 1);
        vm.warp(REVEAL_END);
        _submitStandard(id); // rr gets provider 0's standard scores, provider 1 its own
        auction.settle(id);
        auction.refundDeposit(id, address(rr));
        _assertEscrow();
        uint256 credit = auction.credits(ETH, address(rr));
        vm.assertEq(credit, DEPOSIT + PAY_0, "rr won p_0 (same bids and weights as the lifecycle)");

        bytes memory withdrawCall = abi.encodeCall(MiaAuction.withdraw, (ETH));
        // Bubbling mode: the re-entry fails inside the payout, so the payout itself fails; no change.
        rr.configure(address(auction), withdrawCall, true);
        bytes32 before = _state(id);
        vm.expectRevert(abi.encodeWithSelector(AssetTransfer.EthTransferFailed.selector, address(rr), credit));
        rr.execute(address(auction), 0, withdrawCall);
        vm.assertEq(_state(id), before, "nothing changed");
        vm.assertEq(auction.credits(ETH, address(rr)), credit, "credit kept");

        // Swallowing mode: the payout succeeds, the nested withdraw is refused by the guard.
        rr.configure(address(auction), withdrawCall, false);
        uint256 contractBefore = address(auction).balance;
        rr.execute(address(auction), 0, withdrawCall);
        vm.assertEq(address(rr).balance, credit, "paid exactly once");
        vm.assertEq(contractBefore - address(auction).balance, credit, "contract paid once");
        vm.assertEq(rr.reentryAttempts(), 1, "re-entry attempted");
        vm.assertEq(rr.reentrySuccesses(), 0, "re-entry refused");
        vm.assertEq(auction.credits(ETH, address(rr)), 0, "credit cleared");
        _assertEscrow();

        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.NothingToWithdraw.selector, ETH, address(rr)));
        rr.execute(address(auction), 0, withdrawCall);
        vm.assertEq(address(rr).balance, credit, "still paid once");
    }

    // =====================================================================================
    // Misbehaving tokens
    // =====================================================================================

    function test_falseReturnToken_createCommitAndWithdraw() public {
        FalseReturnToken bad = FalseReturnToken(deploy("FalseReturnToken.sol:FalseReturnToken"));
        IMiaAuction.AuctionParams memory p = _params(address(bad), BUDGET, DEPOSIT);
        bad.mint(buyer, BUDGET);
        vm.prank(buyer);
        bad.approve(address(auction), type(uint256).max);

        // create: transferFrom returns false → SafeERC20 reverts, no auction, nothing moved
        bad.setFailing(true);
        bytes32 before = _state(0);
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(bad)));
        vm.prank(buyer);
        auction.createAuction(p);
        vm.assertEq(_state(0), before, "nothing changed");
        vm.assertEq(bad.balanceOf(buyer), BUDGET, "buyer kept the tokens");

        bad.setFailing(false);
        vm.prank(buyer);
        uint256 id = auction.createAuction(p);

        // commit: deposit transfer returns false
        bad.setFailing(true);
        bad.mint(provider[0], DEPOSIT);
        vm.prank(provider[0]);
        bad.approve(address(auction), type(uint256).max);
        bytes32 c = _commitment(id, 0);
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(bad)));
        vm.prank(provider[0]);
        auction.commit(id, c);
        vm.assertEq(auction.getAuction(id).nCommitted, 0, "no commit recorded");

        // withdraw: transfer returns false → revert, credit kept
        vm.prank(buyer);
        auction.cancel(id); // buyer, before any commitment
        vm.assertEq(auction.credits(address(bad), buyer), BUDGET, "refund credited");
        vm.expectRevert(abi.encodeWithSelector(SafeERC20.SafeERC20FailedOperation.selector, address(bad)));
        vm.prank(buyer);
        auction.withdraw(address(bad));
        vm.assertEq(auction.credits(address(bad), buyer), BUDGET, "credit kept");
        vm.assertEq(auction.totalOwed(address(bad)), BUDGET, "still owed");
        vm.assertEq(bad.balanceOf(address(auction)), BUDGET, "escrow intact");

        bad.setFailing(false);
        vm.prank(buyer);
        auction.withdraw(address(bad));
        vm.assertEq(bad.balanceOf(buyer), BUDGET, "refunded");
        vm.assertEq(bad.balanceOf(address(auction)), auction.totalOwed(address(bad)), "escrow");
        vm.assertEq(auction.totalOwed(address(bad)), 0, "nothing owed");
    }

    function test_feeOnTransferToken_rejected() public {
        FeeOnTransferToken fee = FeeOnTransferToken(deploy("FeeOnTransferToken.sol:FeeOnTransferToken"));
        IMiaAuction.AuctionParams memory p = _params(address(fee), BUDGET, DEPOSIT);
        fee.mint(buyer, BUDGET);
        vm.prank(buyer);
        fee.approve(address(auction), type(uint256).max);
        bytes32 before = _state(0);
        vm.expectRevert(
            abi.encodeWithSelector(AssetTransfer.TokenAmountMismatch.selector, BUDGET, BUDGET - BUDGET / 100)
        );
        vm.prank(buyer);
        auction.createAuction(p);
        vm.assertEq(_state(0), before, "nothing changed");
        vm.assertEq(fee.balanceOf(address(auction)), 0, "nothing held");
        vm.assertEq(auction.totalOwed(address(fee)), 0, "nothing owed");
    }

    // =====================================================================================
    // Timeouts and cancellation
    // =====================================================================================

    function test_cancel_oraclesMissDeadline_eth() public {
        _cancelAfterTimeout(ETH);
    }

    function test_cancel_oraclesMissDeadline_token() public {
        _cancelAfterTimeout(address(token));
    }

    function _cancelAfterTimeout(address asset) internal {
        uint256 id = _toScoring(asset);
        vm.warp(SCORING_END - 1);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.CannotCancel.selector, id, IMiaAuction.Phase.Scoring));
        vm.prank(relayer);
        auction.cancel(id);

        vm.warp(SCORING_END);
        vm.assertEq(uint256(auction.phase(id)), uint256(IMiaAuction.Phase.Expired), "expired");
        (IMiaAuction.ScoreReport[] memory reports, bytes[] memory sigs) = _signed(id, _members(0, 1));
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.WrongPhase.selector, id, IMiaAuction.Phase.Expired));
        auction.postReports(id, 0, reports, sigs);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.WrongPhase.selector, id, IMiaAuction.Phase.Expired));
        auction.settle(id);

        // Anyone cancels: budget + the non-revealer's deposit to the buyer.
        vm.expectEmit(true, true, false, true, address(auction));
        emit IMiaAuction.AuctionCancelled(id, relayer, DEPOSIT, BUDGET + DEPOSIT);
        vm.prank(relayer);
        auction.cancel(id);
        vm.assertEq(uint256(auction.phase(id)), uint256(IMiaAuction.Phase.Cancelled), "cancelled");
        vm.assertEq(auction.credits(asset, buyer), BUDGET + DEPOSIT, "buyer: budget + forfeited deposit");
        for (uint256 i = 0; i < 3; ++i) {
            auction.refundDeposit(id, provider[i]); // on cancel every revealer, whatever its data
            vm.assertEq(auction.credits(asset, provider[i]), DEPOSIT, "revealers keep their deposits");
        }
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.DepositNotRefundable.selector, id, provider[3]));
        auction.refundDeposit(id, provider[3]);
        vm.assertEq(auction.credits(asset, provider[3]), 0, "non-revealer forfeits");
        _assertEscrow();

        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.CannotCancel.selector, id, IMiaAuction.Phase.Cancelled));
        auction.cancel(id);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.WrongPhase.selector, id, IMiaAuction.Phase.Cancelled));
        auction.settle(id);

        address[4] memory payees = [buyer, provider[0], provider[1], provider[2]];
        for (uint256 k = 0; k < payees.length; ++k) {
            _withdrawAndCheck(asset, payees[k]);
        }
        vm.assertEq(_balance(asset, address(auction)), 0, "contract ends with zero balance");
        vm.assertEq(auction.totalOwed(asset), 0, "nothing owed");
    }

    function test_cancel_byBuyerBeforeCommits() public {
        uint256 id = _create(ETH);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.CannotCancel.selector, id, IMiaAuction.Phase.Commit));
        vm.prank(attacker);
        auction.cancel(id);
        vm.prank(buyer);
        auction.cancel(id);
        vm.assertEq(auction.credits(ETH, buyer), BUDGET, "budget back");
        _assertEscrow();

        uint256 id2 = _create(ETH);
        _commit(id2, 0);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.CannotCancel.selector, id2, IMiaAuction.Phase.Commit));
        vm.prank(buyer);
        auction.cancel(id2); // not once someone has committed
    }

    // =====================================================================================
    // Creation checks
    // =====================================================================================

    function test_create_validation() public {
        IMiaAuction.AuctionParams memory p = _params(ETH, BUDGET, DEPOSIT);
        vm.deal(buyer, 100 ether);
        vm.startPrank(buyer);

        vm.expectRevert(abi.encodeWithSelector(AssetTransfer.WrongPaymentValue.selector, BUDGET, BUDGET - 1));
        auction.createAuction{value: BUDGET - 1}(p);

        // Schedule: each deadline strictly after the one before, the first in the future.
        p.commitDeadline = uint64(block.timestamp);
        vm.expectRevert(
            abi.encodeWithSelector(IMiaAuction.CommitDeadlineNotInFuture.selector, p.commitDeadline, block.timestamp)
        );
        auction.createAuction{value: BUDGET}(p);

        p = _params(ETH, BUDGET, DEPOSIT);
        p.revealDeadline = p.commitDeadline;
        vm.expectRevert(
            abi.encodeWithSelector(
                IMiaAuction.RevealDeadlineNotAfterCommit.selector, p.commitDeadline, p.revealDeadline
            )
        );
        auction.createAuction{value: BUDGET}(p);

        p = _params(ETH, BUDGET, DEPOSIT);
        p.scoringDeadline = p.revealDeadline - 1;
        vm.expectRevert(
            abi.encodeWithSelector(
                IMiaAuction.ScoringDeadlineNotAfterReveal.selector, p.revealDeadline, p.scoringDeadline
            )
        );
        auction.createAuction{value: BUDGET}(p);

        // Committee: size, keys, addresses; the quorum is bounded by the fault-tolerance rule.
        p = _params(ETH, BUDGET, DEPOSIT);
        p.threshold = 4;
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.InvalidFaultTolerance.selector, 3, 0, 4));
        auction.createAuction{value: BUDGET}(p);

        p = _params(ETH, BUDGET, DEPOSIT);
        p.threshold = 0;
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.InvalidFaultTolerance.selector, 3, 0, 0));
        auction.createAuction{value: BUDGET}(p);

        p = _params(ETH, BUDGET, DEPOSIT);
        p.oracles = new address[](0);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.CommitteeSizeOutOfRange.selector, 0, 32));
        auction.createAuction{value: BUDGET}(p);

        p = _params(ETH, BUDGET, DEPOSIT);
        p.oracles = new address[](33);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.CommitteeSizeOutOfRange.selector, 33, 32));
        auction.createAuction{value: BUDGET}(p);

        p = _params(ETH, BUDGET, DEPOSIT);
        p.oracleEncryptionKeys = new bytes32[](2);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.EncryptionKeyCountMismatch.selector, 3, 2));
        auction.createAuction{value: BUDGET}(p);

        p = _params(ETH, BUDGET, DEPOSIT);
        p.oracles[2] = p.oracles[0];
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.DuplicateOracle.selector, p.oracles[0]));
        auction.createAuction{value: BUDGET}(p);

        p = _params(ETH, BUDGET, DEPOSIT);
        p.oracles[1] = address(0);
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.ZeroOracleAddress.selector, 1));
        auction.createAuction{value: BUDGET}(p);

        // Committee policy: n >= 3f+1 and 2f+1 <= k <= n-f.
        p = _params(ETH, BUDGET, DEPOSIT);
        p.faultTolerance = 1; // n = 3 < 4
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.InvalidFaultTolerance.selector, 3, 1, THRESHOLD));
        auction.createAuction{value: BUDGET}(p);

        // The buyer on its own committee.
        p = _params(ETH, BUDGET, DEPOSIT);
        p.oracles[1] = buyer;
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.BuyerOnCommittee.selector, buyer));
        auction.createAuction{value: BUDGET}(p);

        p = _params(ETH, BUDGET, DEPOSIT);
        p.scoreChunk = 251;
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.ScoreChunkTooLarge.selector, 251, 250));
        auction.createAuction{value: BUDGET}(p);

        p = _params(ETH, 0, DEPOSIT);
        vm.expectRevert(IMiaAuction.ZeroBudget.selector);
        auction.createAuction(p);

        p = _params(ETH, BUDGET, DEPOSIT);
        p.maxProviders = 0;
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.MaxProvidersOutOfRange.selector, 0, 1000));
        auction.createAuction{value: BUDGET}(p);

        p = _params(ETH, BUDGET, DEPOSIT);
        p.maxProviders = 1001;
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.MaxProvidersOutOfRange.selector, 1001, 1000));
        auction.createAuction{value: BUDGET}(p);

        // Mechanism terms: λ at most 1 (Mixed-MIA), ρ positive (Fairshare).
        p = _params(ETH, BUDGET, DEPOSIT);
        p.mechanism = IMiaAuction.Mechanism.MixedMIA;
        p.liquidity = 1e18 + 1;
        vm.expectRevert(abi.encodeWithSelector(IMiaAuction.LiquidityAboveOne.selector, 1e18 + 1));
        auction.createAuction{value: BUDGET}(p);

        p = _params(ETH, BUDGET, DEPOSIT);
        p.mechanism = IMiaAuction.Mechanism.Fairshare;
        vm.expectRevert(IMiaAuction.ZeroRho.selector);
        auction.createAuction{value: BUDGET}(p);

        p = _params(address(token), BUDGET, DEPOSIT);
        vm.expectRevert(abi.encodeWithSelector(AssetTransfer.WrongPaymentValue.selector, 0, 1));
        auction.createAuction{value: 1}(p);
        vm.stopPrank();

        vm.assertEq(auction.auctionCount(), 0, "nothing created");
        _assertEscrow();
    }
}
