// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MiaAuction} from "../../contracts/MiaAuction.sol";
import {IMiaAuction} from "../../contracts/interfaces/IMiaAuction.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";
import {TestBase} from "./utils/TestBase.sol";
import {QMIAHarness} from "../../contracts/test/QMIAHarness.sol";
import {ReportSigning} from "./utils/ReportSigning.sol";
import {AuctionHandlerBase, IMintableToken} from "./handlers/AuctionHandlerBase.sol";

/// @notice Drives many interleaved Q-MIA auctions with random actors. Every action is guarded so that it
///         is valid when it runs (the invariant config fails on any revert: a legitimate call that
///         reverts, e.g. a withdrawal, would mean stuck funds). Ghost counters record violations of
///         per-settlement properties; the invariants assert they stay zero.
contract MiaHandler is AuctionHandlerBase {
    uint256 internal constant N_ORACLES = 3;

    constructor(MiaAuction auction_, TestToken token_, QMIAHarness harness_)
        AuctionHandlerBase(auction_, IMintableToken(address(token_)), harness_, "actor", false)
    {}

    // ----------------------------------------------------------------- actions

    function createAuction(
        uint256 actorSeed,
        bool useToken,
        uint128 budget,
        uint128 deposit,
        uint8 threshold,
        uint8 maxProviders,
        uint64 durations
    ) external {
        if (auctionIds.length >= MAX_AUCTIONS) return;
        // Mostly finish the current auction before opening another (so runs reach settlement).
        if (auctionIds.length > 0 && (actorSeed >> 8) % 4 != 0) {
            IMiaAuction.Phase ph = auction.phase(auctionIds[auctionIds.length - 1]);
            if (ph != IMiaAuction.Phase.Settled && ph != IMiaAuction.Phase.Cancelled && ph != IMiaAuction.Phase.Expired)
            {
                return;
            }
        }
        address buyer = actors[actorSeed % N_ACTORS];
        address asset = useToken ? address(token) : ETH;
        budget = uint128(1 + budget % 100 ether);
        uint64 t = uint64(vm.getBlockTimestamp());
        IMiaAuction.AuctionParams memory p;
        p.asset = asset;
        p.budget = budget;
        p.commitDeadline = t + 1 hours + (durations & 0xffff);
        p.revealDeadline = p.commitDeadline + 1 hours + ((durations >> 16) & 0xffff);
        p.scoringDeadline = p.revealDeadline + 1 hours + ((durations >> 32) & 0xffff);
        p.maxProviders = uint32(1 + maxProviders % N_ACTORS);
        p.deposit = uint128(auction.minimumDeposit(budget, p.maxProviders) + deposit % 1 ether);
        p.threshold = uint8(1 + threshold % N_ORACLES);
        _committee(p, N_ORACLES);
        _fund(asset, buyer, budget);
        bytes memory ret =
            _as(buyer, address(auction), useToken ? 0 : budget, abi.encodeCall(MiaAuction.createAuction, (p)));
        auctionIds.push(abi.decode(ret, (uint256)));
        ++calls["create"];
    }

    function commit(uint256 auctionSeed, uint256 actorSeed, uint96 cost, bytes32 salt) external {
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (!ok || auction.phase(id) != IMiaAuction.Phase.Commit) return;
        IMiaAuction.Auction memory a = auction.getAuction(id);
        address who = actors[actorSeed % N_ACTORS];
        if (auction.getBid(id, who).index != 0 || a.nCommitted >= a.maxProviders) return;
        (bytes memory data, uint256 value) = _prepareCommit(id, who, cost, salt);
        _as(who, address(auction), value, data);
        ++calls["commit"];
    }

    /// Reveals for a committed, unrevealed provider (the first from a random start). Providers that
    /// are never picked before the deadline simply forfeit.
    function reveal(uint256 auctionSeed, uint256 actorSeed) external {
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (!ok || auction.phase(id) != IMiaAuction.Phase.Reveal) return;
        address[] memory committed = auction.providersOf(id);
        for (uint256 k = 0; k < committed.length; ++k) {
            address candidate = committed[(actorSeed % committed.length + k) % committed.length];
            if (!auction.getBid(id, candidate).revealed) {
                _reveal(id, candidate);
                return;
            }
        }
    }

    /// Random-valued reports (q ∈ [0, 1], Δ ∈ [-2, 10], some exactly 0) from 1..3 oracles that have not
    /// posted yet; once all three have posted the chunk is aggregated (at once if posted together).
    function submitScores(uint256 auctionSeed, uint256 scoreSeed, uint8 countSeed, uint8 firstOracle) external {
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (!ok || auction.phase(id) != IMiaAuction.Phase.Scoring) return;
        (address[] memory providers, bytes32[] memory roots) = auction.revealedProviders(id);
        if (providers.length == 0) return;
        uint256 posters = auction.scoreChunkOf(id, 0).posters;
        uint256[N_ORACLES] memory pick;
        uint256 k = 0;
        uint256 want = 1 + countSeed % N_ORACLES;
        for (uint256 r = 0; r < N_ORACLES && k < want; ++r) {
            uint256 o = (firstOracle + r) % N_ORACLES;
            if (posters & (1 << o) == 0) pick[k++] = o;
        }
        if (k == 0) return;
        uint256[] memory slots = new uint256[](k);
        IMiaAuction.ScoreReport[] memory reports = new IMiaAuction.ScoreReport[](k);
        for (uint256 r = 0; r < k; ++r) {
            slots[r] = pick[r];
            reports[r] = ReportSigning.randomReport(id, providers, roots, scoreSeed, pick[r]);
        }
        bytes[] memory sigs = _signAndRecord(id, 0, reports, slots);
        auction.postReports(id, 0, reports, sigs);
        _tryFinalize(id);
        ++calls["submitScores"];
    }

    /// Aggregates chunk 0 when the rule allows: all three posted, or the window closed with a quorum.
    function _tryFinalize(uint256 id) internal {
        IMiaAuction.Phase ph = auction.phase(id);
        if (ph != IMiaAuction.Phase.Scoring && ph != IMiaAuction.Phase.Expired) return;
        if (auction.getAuction(id).nRevealed == 0) return;
        IMiaAuction.ScoreChunk memory c = auction.scoreChunkOf(id, 0);
        if (c.finalized || c.count == 0) return;
        (bool allowed, uint256[][] memory w) = _finalizable(id, 0);
        if (!allowed) return;
        (address[] memory providers,) = auction.revealedProviders(id);
        auction.finalizeScores(id, 0, providers, w);
        ++calls["finalize"];
    }

    function settle(uint256 auctionSeed) external {
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (!ok) return;
        _tryFinalize(id);
        if (!_settleable(id)) return;
        Expected memory e = _expected(id);
        vm.recordLogs();
        auction.settle(id);
        _checkPayments(id, e, vm.getRecordedLogs());
        ++calls["settle"];
    }

    function cancel(uint256 auctionSeed, uint256 actorSeed) external {
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (!ok) return;
        address caller = actors[actorSeed % N_ACTORS];
        if (!_mayCancel(id, caller)) {
            _tryFinalize(id); // a quorum at the deadline: the auction must be aggregated, not cancelled
            return;
        }
        _as(caller, address(auction), 0, abi.encodeCall(MiaAuction.cancel, (id)));
        ++calls["cancel"];
    }

    /// Credits back a deposit that is due (revealed; weight > 0 after settlement, any after a cancel).
    function refundDeposit(uint256 auctionSeed, uint256 actorSeed) public {
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (!ok) return;
        address who = actors[actorSeed % N_ACTORS];
        if (!_refundDue(id, who)) return;
        auction.refundDeposit(id, who);
        ++ghostRefunded[id];
        ++calls["refundDeposit"];
    }

    /// A griefer forces value into the auction without calling it (see `_forceSend`).
    function forceSend(bool useToken, uint64 amount) external {
        _forceSend(useToken, 1 + amount % 1 ether);
    }

    function withdraw(uint256 actorSeed, bool useToken) external {
        _withdraw(actors[actorSeed % N_ACTORS], useToken ? address(token) : ETH);
    }

    /// A small random step (up to 30 min; phases last at least an hour) or, one time in four, a
    /// jump to the next deadline of an auction, so phases advance but usually not past the action
    /// that belongs in them.
    function warp(uint256 auctionSeed, uint32 step) external {
        uint256 t = vm.getBlockTimestamp();
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (step % 4 == 0 && ok) {
            t = _nextDeadline(id, t);
        } else {
            t += 1 + step % 30 minutes;
        }
        vm.warp(t);
        ++calls["warp"];
    }

    // ----------------------------------------------------------------- helpers

    /// The latest auction three times in four, otherwise a random one of the last three.
    function _pick(uint256 seed) internal view override returns (uint256 id, bool ok) {
        uint256 n = auctionIds.length;
        if (n == 0) return (0, false);
        uint256 back = seed % 4 == 0 ? (seed >> 2) % (n < 3 ? n : 3) : 0;
        return (auctionIds[n - 1 - back], true);
    }
}

/// @notice Escrow invariants of SPEC §3 under random interleavings of every action.
/// @dev Default profile: 64 runs × depth 32 (foundry.toml [invariant]); `FOUNDRY_PROFILE=long` runs
///      many more (see foundry.toml).
contract EscrowInvariantTest is TestBase {
    MiaAuction internal auction;
    TestToken internal token;
    MiaHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        auction = MiaAuction(deploy("MiaAuction.sol:MiaAuction"));
        token = TestToken(deploy("TestToken.sol:TestToken", abi.encode("Test Token", "TST")));
        QMIAHarness qmia = QMIAHarness(deploy("QMIAHarness.sol:QMIAHarness"));
        handler = MiaHandler(
            deploy("EscrowInvariant.t.sol:MiaHandler", abi.encode(address(auction), address(token), address(qmia)))
        );

        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](10);
        selectors[0] = MiaHandler.createAuction.selector;
        selectors[1] = MiaHandler.commit.selector;
        selectors[2] = MiaHandler.reveal.selector;
        selectors[3] = MiaHandler.submitScores.selector;
        selectors[4] = MiaHandler.settle.selector;
        selectors[5] = MiaHandler.cancel.selector;
        selectors[6] = MiaHandler.withdraw.selector;
        selectors[7] = MiaHandler.warp.selector;
        selectors[8] = MiaHandler.refundDeposit.selector;
        selectors[9] = MiaHandler.forceSend.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// The contract's balance of each asset covers everything it owes; the surplus is exactly what
    /// griefers forced in (SELFDESTRUCT, plain transfers), which no accounting ever counts.
    function invariant_escrowBalanceEqualsTotalOwed() public view {
        uint256 eth = auction.totalOwed(address(0)) + handler.ghostForced(address(0));
        uint256 tok = auction.totalOwed(address(token)) + handler.ghostForced(address(token));
        vm.assertEq(address(auction).balance, eth, "ETH balance == totalOwed + forced surplus");
        vm.assertEq(token.balanceOf(address(auction)), tok, "token balance == totalOwed + forced surplus");
    }

    /// totalOwed is exactly the sum of withdrawable credits plus what auctions still hold (open: budget
    /// and every deposit; ended: the deposits due but not yet refunded): no wei is unaccounted for.
    function invariant_totalOwedIsCreditsPlusOpenEscrow() public view {
        address[2] memory assets = [address(0), address(token)];
        for (uint256 x = 0; x < 2; ++x) {
            uint256 sum = 0;
            for (uint256 i = 0; i < 6; ++i) {
                sum += auction.credits(assets[x], handler.actors(i));
            }
            uint256 n = handler.auctionCount();
            for (uint256 k = 0; k < n; ++k) {
                uint256 id = handler.auctionIds(k);
                IMiaAuction.Auction memory a = auction.getAuction(id);
                if (a.asset != assets[x]) continue;
                // deposits still held for their providers: refundable ones once ended, all while open
                if (a.status == IMiaAuction.Status.Settled) {
                    sum += uint256(auction.settlementProgress(id).eligible - handler.ghostRefunded(id)) * a.deposit;
                } else if (a.status == IMiaAuction.Status.Cancelled) {
                    sum += uint256(a.nRevealed - handler.ghostRefunded(id)) * a.deposit;
                } else {
                    sum += uint256(a.budget) + uint256(a.nCommitted) * a.deposit;
                }
            }
            vm.assertEq(auction.totalOwed(assets[x]), sum, "totalOwed == credits + open escrow");
        }
    }

    /// Weak budget balance: Σ payments ≤ budget, for every settled auction.
    function invariant_paymentsWithinBudget() public view {
        vm.assertEq(handler.ghostOverBudget(), 0, "no settlement over budget");
        uint256 n = handler.auctionCount();
        for (uint256 k = 0; k < n; ++k) {
            uint256 id = handler.auctionIds(k);
            vm.assertLe(handler.ghostCash(id), auction.getAuction(id).budget, "paid <= budget");
        }
    }

    /// Individual rationality, and payments are exactly Q-MIA's.
    function invariant_noWinnerPaidBelowBid() public view {
        vm.assertEq(handler.ghostUnderpaid(), 0, "IR");
        vm.assertEq(handler.ghostReferenceMismatch(), 0, "Payment == QMIA.settle, every winner paid");
        vm.assertEq(handler.ghostPaidTwice(), 0, "no winner paid twice");
        vm.assertEq(handler.ghostTransferMismatch(), 0, "withdraw pays exactly the credit");
    }

    /// A scripted walk through the handler: proves each action does something (so the random runs
    /// are not vacuous) and that the invariants hold along a complete auction.
    function test_handlerWalkthrough() public {
        handler.createAuction(0, false, 10 ether, 0.1 ether, 1, 5, 0);
        handler.createAuction(1, true, 20 ether, 0.2 ether, 2, 5, 0);
        for (uint256 i = 0; i < 6; ++i) {
            handler.commit(0, i, uint96((i + 1) * 1 ether), bytes32(i + 1));
            handler.commit(4, i, uint96((i + 2) * 1 ether), bytes32(i + 7)); // seed 4: the older auction
        }
        handler.warp(0, 0);
        for (uint256 i = 0; i < 5; ++i) {
            handler.reveal(0, i);
            handler.reveal(4, i);
        }
        handler.warp(0, 0);
        handler.submitScores(0, 42, 2, 0);
        handler.submitScores(4, 43, 2, 1);
        handler.settle(0);
        handler.settle(4);
        for (uint256 i = 0; i < 6; ++i) {
            handler.refundDeposit(0, i);
            handler.refundDeposit(4, i);
        }
        for (uint256 i = 0; i < 6; ++i) {
            handler.withdraw(i, false);
            handler.withdraw(i, true);
        }
        vm.assertEq(handler.calls("create"), 2, "created");
        vm.assertEq(handler.calls("commit"), 12, "committed");
        vm.assertEq(handler.calls("reveal"), 10, "revealed");
        vm.assertEq(handler.calls("submitScores"), 2, "scored");
        vm.assertEq(handler.calls("settle"), 2, "settled");
        vm.assertGt(handler.calls("withdraw"), 0, "withdrew");
        vm.assertGt(handler.calls("refundDeposit"), 0, "deposits refunded");
        vm.assertGt(handler.ghostCash(1), 0, "auction 1 paid winners");
        vm.assertGt(handler.ghostCash(2), 0, "auction 2 paid winners");
        invariant_escrowBalanceEqualsTotalOwed();
        invariant_totalOwedIsCreditsPlusOpenEscrow();
        invariant_paymentsWithinBudget();
        invariant_noWinnerPaidBelowBid();
        vm.assertEq(address(auction).balance, 0, "ETH drained");
        vm.assertEq(token.balanceOf(address(auction)), 0, "tokens drained");
    }
}
