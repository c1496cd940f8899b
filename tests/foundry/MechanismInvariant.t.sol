// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MiaAuction} from "../../contracts/MiaAuction.sol";
import {IMiaAuction} from "../../contracts/interfaces/IMiaAuction.sol";
import {AssetTransfer} from "../../contracts/lib/AssetTransfer.sol";
import {OrderEntry, OrderEntryLib} from "../../contracts/lib/OrderEntry.sol";
import {MarginalUtilityToken} from "../../contracts/token/MarginalUtilityToken.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";
import {FeeOnTransferToken} from "../../contracts/test/FeeOnTransferToken.sol";
import {FalseReturnToken} from "../../contracts/test/FalseReturnToken.sol";
import {QMIAHarness} from "../../contracts/test/QMIAHarness.sol";
import {TestBase} from "./utils/TestBase.sol";
import {ReportSigning} from "./utils/ReportSigning.sol";
import {ReentrantActor} from "./utils/ReentrantActor.sol";
import {AuctionHandlerBase, IMintableToken} from "./handlers/AuctionHandlerBase.sol";

/// @notice Drives auctions of every mechanism (Q-MIA, Mixed-MIA with random λ, MUT, Fairshare with
///         random ρ) in ETH and a token, scored one-shot or in chunks and settled one-shot or in chunks
///         (random sizes, random callers, resumed across calls), with MUT revenue deposits, transfers
///         and claims on the minted MUTs. One provider is a contract that re-enters every payer.
///         Auctions in fee-on-transfer and false-returning tokens are attempted and must revert, and the
///         payment token itself starts and stops returning false at random: every call that would move
///         it meanwhile must revert and change nothing, and what was owed is paid once it recovers.
/// @dev Every legitimate call is made only when valid and must succeed (fail_on_revert); calls that
///      must fail go through try/catch and count a violation if they do not. Ghost counters record
///      per-settlement violations; the invariants assert they stay zero.
contract MechanismHandler is AuctionHandlerBase {
    FeeOnTransferToken public immutable feeToken;
    FalseReturnToken public immutable falseToken;
    address[] public muts;

    /// Committee slots of the corrupted minority (at most f of them) of each auction.
    mapping(uint256 auctionId => uint256) public corrupt;

    // Ghost state beyond the shared settlement and transfer checks
    mapping(address mut => uint256) public mutAuction; // the one auction that created (and mints) each MUT
    uint256 public ghostBadRefund; // a refund of a forfeited / unrevealed / repeated deposit that succeeded
    mapping(address mut => uint256) public ghostDeposited;
    mapping(address mut => uint256) public ghostDeposits; // number of deposits (bounds rounding dust)
    uint256 public ghostOutsideHonestRange; // an aggregated weight outside the honest posted weights' range
    uint256 public ghostGriefAccepted; // a wrong finalization or settlement prefix that was accepted

    /// `token_` is the payment token; it can start and stop returning false at any time (`setTokenFailing`).
    constructor(MiaAuction auction_, FalseReturnToken token_, QMIAHarness harness_)
        AuctionHandlerBase(auction_, IMintableToken(address(token_)), harness_, "mechanism actor", true)
    {
        feeToken = new FeeOnTransferToken();
        falseToken = new FalseReturnToken();
        falseToken.setFailing(true);
    }

    function _tokenFailing() internal view override returns (bool) {
        return FalseReturnToken(address(token)).failing();
    }

    function mutCount() external view returns (uint256) {
        return muts.length;
    }

    // ----------------------------------------------------------------- actions

    /// Creates an auction with a random mechanism, asset, budget, deposit, committee threshold and
    /// schedule. λ is 0, 1 or random; ρ is random; the model id is one of two, yet every MUT/Mixed
    /// auction gets its own token (no auction can mint into another's).
    function createAuction(uint256 seed, uint128 budget, uint128 deposit, uint64 liquidity, uint128 rho) public {
        if (auctionIds.length >= MAX_AUCTIONS) return;
        address buyer = actors[seed % N_ACTORS];
        IMiaAuction.AuctionParams memory p = _params(seed, budget, deposit);
        p.mechanism = IMiaAuction.Mechanism((seed >> 8) % 4);
        uint256 l = (seed >> 16) % 4;
        p.liquidity = l == 0 ? 0 : l == 1 ? uint64(WAD) : uint64(liquidity % (WAD + 1));
        p.rho = uint128(1 + rho % 20e18);
        p.modelId = bytes32((seed >> 24) % 2);
        p.asset = (seed >> 32) % 2 == 0 ? ETH : address(token);
        uint256 escrow = p.budget; // Q-MIA and Fairshare escrow B; the MIA family floor(λ·B)
        if (p.mechanism == IMiaAuction.Mechanism.MixedMIA) escrow = harness.cashEscrow(p.budget, p.liquidity);
        if (p.mechanism == IMiaAuction.Mechanism.MUT) escrow = 0;
        _fund(p.asset, buyer, escrow);
        (bool done, bytes memory ret) = _asUnlessTokenFails(
            buyer,
            address(auction),
            p.asset == ETH ? escrow : 0,
            abi.encodeCall(MiaAuction.createAuction, (p)),
            p.asset != ETH && escrow > 0
        );
        if (!done) return;
        if (buyer == address(reentrant)) ret = abi.decode(ret, (bytes));
        uint256 id = abi.decode(ret, (uint256));
        auctionIds.push(id);
        // A corrupted minority of up to f members.
        uint256 bad = uint8(seed >> 88) % (p.faultTolerance + 1);
        for (uint256 k = 0; k < bad; ++k) {
            corrupt[id] |= 1 << (uint8(seed >> (96 + 8 * k)) % p.oracles.length);
        }
        address mut = auction.getAuction(id).mutToken;
        if (mut != address(0)) {
            if (_knownMut(mut)) ++ghostReferenceMismatch; // a MUT shared by two auctions
            muts.push(mut);
            mutAuction[mut] = id;
        }
        ++calls["create"];
    }

    /// Up to three random actors commit to the picked auction.
    function commit(uint256 auctionSeed, uint256 actorSeed, uint96 cost, bytes32 salt) public {
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (!ok || auction.phase(id) != IMiaAuction.Phase.Commit) return;
        for (uint256 k = 0; k < 1 + actorSeed % 3; ++k) {
            IMiaAuction.Auction memory a = auction.getAuction(id);
            address who = actors[(actorSeed >> 8) % N_ACTORS];
            actorSeed = uint256(keccak256(abi.encode(actorSeed)));
            if (auction.getBid(id, who).index != 0 || a.nCommitted >= a.maxProviders) continue;
            salt = keccak256(abi.encode(salt, k));
            (bytes memory data, uint256 value) = _prepareCommit(id, who, cost, salt);
            cost = uint96(uint256(keccak256(abi.encode(cost))));
            (bool done,) = _asUnlessTokenFails(who, address(auction), value, data, a.asset != ETH && a.deposit > 0);
            if (done) ++calls["commit"];
        }
    }

    /// Each committed, unrevealed provider reveals with probability about 3/4; the rest forfeit.
    function reveal(uint256 auctionSeed, uint256 seed) public {
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (!ok || auction.phase(id) != IMiaAuction.Phase.Reveal) return;
        address[] memory committed = auction.providersOf(id);
        for (uint256 k = 0; k < committed.length; ++k) {
            address who = committed[k];
            if (auction.getBid(id, who).revealed || (seed >> (2 * k)) % 4 == 0) continue;
            _reveal(id, who);
        }
    }

    /// A random relayer posts, for a random available scoring chunk, a random subset (in random order) of
    /// the reports of members that have not posted yet. Honest members' reports are fixed per (auction,
    /// chunk, member); the corrupted minority (<= f members, chosen at creation) report arbitrary extremes.
    /// When the rule allows, the chunk is aggregated (by a random caller) and checked against the honest
    /// members' range.
    function postReports(uint256 auctionSeed, uint256 seed) public {
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (!ok || auction.phase(id) != IMiaAuction.Phase.Scoring) return;
        IMiaAuction.Auction memory a = auction.getAuction(id);
        if (a.nRevealed == 0) return;
        uint256 chunk = _availableChunk(id, a, seed);
        IMiaAuction.ScoreChunk memory c = auction.scoreChunkOf(id, chunk);
        if (c.finalized) return;
        uint256 n = a.nOracles;
        uint256[] memory pick = new uint256[](n);
        uint256 k = 0;
        uint256 start = (seed >> 8) % n;
        for (uint256 r = 0; r < n; ++r) {
            uint256 o = (start + r * (1 + 2 * ((seed >> 16) % 3))) % n; // a random walk over the slots
            if (c.posters & (1 << o) != 0 || (seed >> (24 + r)) % 3 == 0) continue;
            bool seen = false;
            for (uint256 t = 0; t < k; ++t) {
                if (pick[t] == o) seen = true;
            }
            if (!seen) pick[k++] = o;
        }
        if (k == 0) return;
        _post(id, chunk, pick, k, actors[(seed >> 40) % N_ACTORS]);
        _tryFinalize(id, chunk, seed >> 48);
    }

    /// Aggregates a random chunk when the rule allows it (after a wrong attempt by a griefer, which must
    /// fail: the weights of a chosen subset of the posted reports, or a posted report's weights altered).
    function finalize(uint256 auctionSeed, uint256 seed) public {
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (!ok) return;
        IMiaAuction.Auction memory a = auction.getAuction(id);
        if (a.nRevealed == 0) return;
        _tryFinalize(id, seed % ((a.nRevealed + a.scoreChunk - 1) / a.scoreChunk), seed >> 8);
    }

    /// The lowest chunk with no report yet, or (at random) an earlier one with reports still missing.
    function _availableChunk(uint256 id, IMiaAuction.Auction memory a, uint256 seed) internal view returns (uint256) {
        uint256 chunks = (a.nRevealed + a.scoreChunk - 1) / a.scoreChunk;
        uint256 c = 0;
        while (c + 1 < chunks && auction.scoreChunkOf(id, c).count > 0) {
            ++c;
        }
        return seed % 2 == 0 ? c : (seed >> 1) % (c + 1);
    }

    /// Member `o`'s report for one chunk: honest members report pseudo-random but fixed values, corrupted
    /// ones extremes (q ∈ {0, 1}, Δ ∈ {-1e36, 1e36, random}) chosen to drag the aggregate.
    function _reportOf(uint256 id, uint256 chunk, uint256 o) internal view returns (IMiaAuction.ScoreReport memory r) {
        IMiaAuction.Auction memory a = auction.getAuction(id);
        (address[] memory revealed, bytes32[] memory roots) = auction.revealedProviders(id);
        uint256 from = chunk * a.scoreChunk;
        uint256 len = revealed.length - from < a.scoreChunk ? revealed.length - from : a.scoreChunk;
        address[] memory providers = new address[](len);
        bytes32[] memory chunkRoots = new bytes32[](len);
        for (uint256 j = 0; j < len; ++j) {
            (providers[j], chunkRoots[j]) = (revealed[from + j], roots[from + j]);
        }
        r = ReportSigning.randomReport(id, providers, chunkRoots, uint256(keccak256(abi.encode("honest", id))), o);
        if (corrupt[id] & (1 << o) == 0) return r;
        for (uint256 j = 0; j < len; ++j) {
            uint256 h = uint256(keccak256(abi.encode("corrupt", id, o, providers[j])));
            r.q[j] = h % 3 == 0 ? (h >> 8) % (WAD + 1) : (h % 3 == 1 ? WAD : 0);
            r.delta[j] = h % 5 < 2 ? int256(1e36) : (h % 5 < 4 ? -1e36 : int256((h >> 80) % 1e30));
        }
    }

    function _post(uint256 id, uint256 chunk, uint256[] memory pick, uint256 k, address relayer) internal {
        IMiaAuction.ScoreReport[] memory reports = new IMiaAuction.ScoreReport[](k);
        uint256[] memory slots = new uint256[](k);
        for (uint256 r = 0; r < k; ++r) {
            slots[r] = pick[r];
            reports[r] = _reportOf(id, chunk, pick[r]);
        }
        bytes[] memory sigs = _signAndRecord(id, chunk, reports, slots);
        bool wasScored = auction.scoreChunkOf(id, chunk).finalized;
        _as(relayer, address(auction), 0, abi.encodeCall(MiaAuction.postReports, (id, chunk, reports, sigs)));
        ++calls["postReports"];
        if (!wasScored && auction.scoreChunkOf(id, chunk).finalized) _checkAggregate(id, chunk, reports[0].providers);
    }

    /// Aggregates `chunk` if the rule allows, after a griefer's wrong finalization that must revert.
    function _tryFinalize(uint256 id, uint256 chunk, uint256 seed) internal {
        IMiaAuction.Phase ph = auction.phase(id);
        if (ph != IMiaAuction.Phase.Scoring && ph != IMiaAuction.Phase.Expired) return;
        IMiaAuction.ScoreChunk memory c = auction.scoreChunkOf(id, chunk);
        if (c.finalized || c.count == 0) return;
        (bool allowed, uint256[][] memory w) = _finalizable(id, chunk);
        address[] memory providers = _reportOf(id, chunk, 0).providers;
        address caller = actors[seed % N_ACTORS];
        // The griefer: drop one posted report (a chosen subset), or alter one posted weight.
        if (c.count > 1 || w[0].length > 0) {
            uint256[][] memory bad;
            if (c.count > 1 && seed % 2 == 0) {
                bad = new uint256[][](c.count - 1);
                uint256 skip = (seed >> 8) % c.count;
                for (uint256 r = 0; r + 1 < c.count; ++r) {
                    bad[r] = w[r < skip ? r : r + 1];
                }
            } else {
                bad = new uint256[][](c.count);
                for (uint256 r = 0; r < c.count; ++r) {
                    bad[r] = w[r];
                }
                uint256 victim = (seed >> 8) % c.count;
                uint256[] memory altered = new uint256[](w[victim].length);
                for (uint256 j = 0; j < altered.length; ++j) {
                    altered[j] = w[victim][j];
                }
                altered[(seed >> 16) % altered.length] += 1;
                bad[victim] = altered;
            }
            (bool grief,) = _call(
                caller, address(auction), 0, abi.encodeCall(MiaAuction.finalizeScores, (id, chunk, providers, bad))
            );
            if (grief) ++ghostGriefAccepted;
            ++calls["griefFinalize"];
        }
        if (!allowed) {
            (bool early,) =
                _call(caller, address(auction), 0, abi.encodeCall(MiaAuction.finalizeScores, (id, chunk, providers, w)));
            if (early) ++ghostGriefAccepted;
            return;
        }
        _as(caller, address(auction), 0, abi.encodeCall(MiaAuction.finalizeScores, (id, chunk, providers, w)));
        ++calls["finalize"];
        _checkAggregate(id, chunk, providers);
    }

    /// Every provider's aggregated weight lies within [min, max] of the honest posted weights for it.
    function _checkAggregate(uint256 id, uint256 chunk, address[] memory providers) internal {
        IMiaAuction.Auction memory a = auction.getAuction(id);
        IMiaAuction.ScoreChunk memory c = auction.scoreChunkOf(id, chunk);
        uint256 honestPosted = 0;
        for (uint256 j = 0; j < providers.length; ++j) {
            uint256 lo = type(uint256).max;
            uint256 hi = 0;
            for (uint256 o = 0; o < a.nOracles; ++o) {
                if (c.posters & (1 << o) == 0 || corrupt[id] & (1 << o) != 0) continue;
                uint256 w = postedWeights[id][chunk][o][j];
                if (w < lo) lo = w;
                if (w > hi) hi = w;
                if (j == 0) ++honestPosted;
            }
            uint256 agg = auction.weightOf(id, providers[j]);
            if (agg < lo || agg > hi) ++ghostOutsideHonestRange;
        }
        if (honestPosted <= a.faultTolerance) ++ghostOutsideHonestRange; // quorum must imply > f honest
        ++calls["aggregateChecked"];
    }

    /// A griefer submits a wrong settlement prefix: a skipped entry, two entries swapped, an entry
    /// that is not eligible, or a correct chunk followed by a foreign one. Every one must revert.
    function griefOrder(uint256 auctionSeed, uint256 seed) public {
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (!ok || auction.phase(id) != IMiaAuction.Phase.Scored) return;
        uint256[] memory entries = _order(id);
        IMiaAuction.Progress memory g = auction.settlementProgress(id);
        uint256 left = entries.length - g.ordered;
        if (left == 0) return;
        uint256 kind = seed % 4;
        uint256[] memory wrong;
        if (kind == 0 && left >= 2) {
            // skip the true next entry
            uint256 k = 1 + (seed >> 8) % (left - 1);
            wrong = new uint256[](k);
            for (uint256 j = 0; j < k; ++j) {
                wrong[j] = OrderEntry.wrap(entries[g.ordered + 1 + j]).index();
            }
        } else if (kind == 1 && left >= 2) {
            wrong = new uint256[](2); // swapped
            (wrong[0], wrong[1]) =
            (OrderEntry.wrap(entries[g.ordered + 1]).index(), OrderEntry.wrap(entries[g.ordered]).index());
        } else if (kind == 2) {
            wrong = new uint256[](1); // an index that is not eligible (or out of range)
            wrong[0] = _ineligibleIndex(id, seed >> 8);
        } else {
            if (left < 2) return;
            wrong = new uint256[](2); // the true next entry, then one that skips ahead
            wrong[0] = OrderEntry.wrap(entries[g.ordered]).index();
            wrong[1] = OrderEntry.wrap(entries[g.ordered + 2 < entries.length ? g.ordered + 2 : g.ordered]).index();
            if (g.ordered + 2 >= entries.length) return;
        }
        (bool accepted,) = _call(
            actors[(seed >> 32) % N_ACTORS],
            address(auction),
            0,
            abi.encodeCall(MiaAuction.orderForSettlement, (id, wrong))
        );
        if (accepted) ++ghostGriefAccepted;
        ++calls["griefOrder"];
    }

    function _ineligibleIndex(uint256 id, uint256 seed) internal view returns (uint256) {
        address[] memory committed = auction.providersOf(id);
        for (uint256 k = 0; k < committed.length; ++k) {
            uint256 i = (seed + k) % committed.length;
            if (auction.weightOf(id, committed[i]) == 0) return i + 1;
        }
        return committed.length + 1 + seed % 3; // out of range (or 0 when seed % 3 wraps)
    }

    /// Settles the picked auction: one-shot (if no chunk was paid yet) or 1-3 chunked steps
    /// (order a random-size chunk, or pay up to a random number of winners), by a random caller.
    function settle(uint256 auctionSeed, uint256 seed) public {
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (!ok || !_settleable(id)) return;
        address caller = actors[(seed >> 8) % N_ACTORS];
        if (auction.settlementProgress(id).paid == 0 && seed % 3 == 0) {
            _settleStep(id, caller, true, seed);
            return;
        }
        for (uint256 step = 0; step < 1 + (seed >> 16) % 3 && _settleable(id); ++step) {
            _settleStep(id, caller, false, seed >> (24 + 8 * step));
        }
    }

    function cancel(uint256 auctionSeed, uint256 actorSeed) public {
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (!ok) return;
        address caller = actors[actorSeed % N_ACTORS];
        if (!_mayCancel(id, caller)) return;
        _as(caller, address(auction), 0, abi.encodeCall(MiaAuction.cancel, (id)));
        ++calls["cancel"];
    }

    /// A random caller asks for a random actor's deposit back in the picked auction. It must succeed
    /// exactly when the actor revealed, has not been refunded, and the auction was cancelled or settled
    /// with the actor's weight > 0; otherwise revert and move nothing.
    function refundDeposit(uint256 auctionSeed, uint256 actorSeed) public {
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (!ok) return;
        _refund(id, actors[actorSeed % N_ACTORS], actors[(actorSeed >> 8) % N_ACTORS]);
    }

    function _refund(uint256 id, address who, address caller) internal {
        IMiaAuction.Auction memory a = auction.getAuction(id);
        bool due = _refundDue(id, who);
        uint256 before = auction.credits(a.asset, who);
        (bool done,) = _call(caller, address(auction), 0, abi.encodeCall(MiaAuction.refundDeposit, (id, who)));
        if (done != due || auction.credits(a.asset, who) != before + (done ? a.deposit : 0)) ++ghostBadRefund;
        if (done) {
            ++ghostRefunded[id];
            ++calls["refundDeposit"];
        }
    }

    function withdraw(uint256 actorSeed, bool useToken) public {
        _withdraw(actors[actorSeed % N_ACTORS], useToken ? address(token) : ETH);
    }

    /// A random actor deposits revenue (ETH or token, per the MUT's asset) into a minted MUT.
    function depositRevenue(uint256 mutSeed, uint256 actorSeed, uint256 amount) public {
        if (muts.length == 0) return;
        MarginalUtilityToken mut = MarginalUtilityToken(muts[mutSeed % muts.length]);
        if (mut.totalSupply() == 0) return;
        address who = actors[actorSeed % N_ACTORS];
        address asset = mut.asset();
        amount = 1 + amount % 50 ether;
        _fund(asset, who, amount);
        if (asset != ETH) {
            _as(who, asset, 0, abi.encodeWithSignature("approve(address,uint256)", address(mut), amount));
        }
        (bool done,) = _asUnlessTokenFails(
            who,
            address(mut),
            asset == ETH ? amount : 0,
            abi.encodeCall(MarginalUtilityToken.depositRevenue, (amount)),
            asset != ETH
        );
        if (!done) return;
        ghostDeposited[address(mut)] += amount;
        ++ghostDeposits[address(mut)];
        ++calls["depositRevenue"];
    }

    /// A holder claims its revenue share; it must receive exactly what `claimable` said.
    function claim(uint256 mutSeed, uint256 actorSeed) public {
        if (muts.length == 0) return;
        _claim(MarginalUtilityToken(muts[mutSeed % muts.length]), actors[actorSeed % N_ACTORS]);
    }

    /// A holder moves some MUT to another actor (entitlements must follow correctly).
    function transferMut(uint256 mutSeed, uint256 fromSeed, uint256 toSeed, uint256 amount) public {
        if (muts.length == 0) return;
        MarginalUtilityToken mut = MarginalUtilityToken(muts[mutSeed % muts.length]);
        address from = actors[fromSeed % N_ACTORS];
        uint256 bal = mut.balanceOf(from);
        if (bal == 0) return;
        _as(from, address(mut), 0, abi.encodeCall(mut.transfer, (actors[toSeed % N_ACTORS], amount % (bal + 1))));
        ++calls["transferMut"];
    }

    /// An auction in a fee-on-transfer or false-returning token: creation must revert with the
    /// expected error and move nothing.
    function createBadTokenAuction(uint256 seed, uint128 budget) public {
        bool fee = seed % 2 == 0;
        address asset = fee ? address(feeToken) : address(falseToken);
        address buyer = actors[(seed >> 8) % (N_ACTORS - 1)];
        IMiaAuction.AuctionParams memory p = _params(seed, budget, 0);
        p.budget = uint128(200 + budget % 100 ether); // cash escrow ≥ 100, so the 1% fee is at least one unit
        p.deposit = uint128(auction.minimumDeposit(p.budget, p.maxProviders));
        p.asset = asset;
        // A mechanism that escrows cash (an all-MUT auction escrows nothing, so no token moves at all).
        uint256 m = (seed >> 16) % 3;
        p.mechanism = m == 0
            ? IMiaAuction.Mechanism.QMIA
            : m == 1 ? IMiaAuction.Mechanism.MixedMIA : IMiaAuction.Mechanism.Fairshare;
        p.liquidity = uint64(WAD / 2);
        p.rho = 1e18;
        if (fee) feeToken.mint(buyer, p.budget);
        else falseToken.mint(buyer, p.budget);
        vm.prank(buyer);
        FeeOnTransferToken(asset).approve(address(auction), type(uint256).max);
        uint256 count = auction.auctionCount();
        uint256 buyerBalance = FeeOnTransferToken(asset).balanceOf(buyer);
        vm.prank(buyer);
        try auction.createAuction(p) returns (uint256) {
            ++ghostBadTokenAccepted;
        } catch (bytes memory err) {
            bytes4 expected = fee
                ? AssetTransfer.TokenAmountMismatch.selector
                : bytes4(keccak256("SafeERC20FailedOperation(address)"));
            bool moved = FeeOnTransferToken(asset).balanceOf(address(auction)) != 0
                || FeeOnTransferToken(asset).balanceOf(buyer) != buyerBalance || auction.auctionCount() != count
                || auction.totalOwed(asset) != 0;
            if (err.length < 4 || bytes4(err) != expected || moved) ++ghostBadTokenAccepted;
        }
        ++calls[fee ? bytes32("feeTokenRejected") : bytes32("falseTokenRejected")];
    }

    /// The payment token starts (one call in four) or stops returning false, as a deployed token may
    /// mid-life. While it fails, every call that would move it must revert with SafeERC20's error and
    /// change nothing; what is owed stays owed and is paid once the token recovers (see `sweep`).
    function setTokenFailing(uint8 x) public {
        FalseReturnToken(address(token)).setFailing(x % 4 == 0);
        ++calls["tokenFailing"];
    }

    /// Moves time: a small step, or a jump to the picked auction's next deadline.
    function warp(uint256 auctionSeed, uint32 step) public {
        uint256 t = vm.getBlockTimestamp();
        (uint256 id, bool ok) = _pick(auctionSeed);
        if (step % 2 == 0 && ok) {
            t = _nextDeadline(id, t);
        } else {
            t += 1 + step % 30 minutes;
        }
        vm.warp(t);
        ++calls["warp"];
    }

    /// Takes an auction (a new one half the time) through 1-5 phases in one call: commit, reveal,
    /// score, settle, withdraw. Keeps short runs reaching settlement and MUT minting.
    function drive(uint256 seed, uint128 budget, uint128 deposit, uint64 liquidity, uint128 rho) public {
        if (seed % 2 == 0) createAuction(seed >> 1, budget, deposit, liquidity, rho);
        (uint256 id, bool ok) = _pick(0);
        if (!ok) return;
        for (uint256 s = 0; s < 1 + (seed >> 40) % 5; ++s) {
            uint256 h = uint256(keccak256(abi.encode(seed, s)));
            IMiaAuction.Phase ph = auction.phase(id);
            if (ph == IMiaAuction.Phase.Commit) {
                commit(0, h, uint96(h >> 128), bytes32(h));
                commit(0, h >> 32, uint96(h >> 96), bytes32(h >> 1));
            } else if (ph == IMiaAuction.Phase.Reveal) {
                reveal(0, h);
            } else if (ph == IMiaAuction.Phase.Scoring && auction.getAuction(id).nRevealed > 0) {
                for (uint256 it = 0; it < 16 && auction.phase(id) == IMiaAuction.Phase.Scoring; ++it) {
                    postReports(0, h);
                    h = uint256(keccak256(abi.encode(h)));
                }
                if (auction.phase(id) == IMiaAuction.Phase.Scoring) {
                    vm.warp(auction.getAuction(id).scoringDeadline);
                    _finalizeAll(id, h);
                }
                continue;
            } else if (_settleable(id)) {
                while (_settleable(id)) {
                    settle(0, h);
                    h = uint256(keccak256(abi.encode(h)));
                }
                continue;
            } else if (ph == IMiaAuction.Phase.Expired) {
                _finalizeAll(id, h);
                cancel(0, h);
            } else {
                for (uint256 i = 0; i < N_ACTORS; ++i) {
                    _refund(id, actors[i], actors[(i + 1) % N_ACTORS]);
                    _withdraw(actors[i], auction.getAuction(id).asset);
                }
                return;
            }
            vm.warp(_nextDeadline(id, vm.getBlockTimestamp()));
        }
        ++calls["drive"];
    }

    /// End of a run: every auction is brought to its end (settled or cancelled), every actor withdraws
    /// and claims everything. Afterwards nothing may remain but MUT rounding dust.
    function sweep() external {
        FalseReturnToken(address(token)).setFailing(false);
        uint256 latest = vm.getBlockTimestamp();
        for (uint256 k = 0; k < auctionIds.length; ++k) {
            uint256 d = auction.getAuction(auctionIds[k]).scoringDeadline;
            if (d > latest) latest = d;
        }
        vm.warp(latest + 1);
        for (uint256 k = 0; k < auctionIds.length; ++k) {
            uint256 id = auctionIds[k];
            uint256 h = id;
            // Liveness: whatever was posted, the auction is either aggregated (every chunk reached the
            // quorum) or cancellable; either way it ends.
            if (auction.phase(id) == IMiaAuction.Phase.Expired) {
                _finalizeAll(id, h);
                if (auction.cancellable(id)) auction.cancel(id);
            }
            while (_settleable(id)) {
                _settleStep(id, actors[h % N_ACTORS], false, h);
                h = uint256(keccak256(abi.encode(h)));
            }
        }
        for (uint256 k = 0; k < auctionIds.length; ++k) {
            for (uint256 i = 0; i < N_ACTORS; ++i) {
                _refund(auctionIds[k], actors[i], actors[0]);
            }
        }
        for (uint256 i = 0; i < N_ACTORS; ++i) {
            _withdraw(actors[i], ETH);
            _withdraw(actors[i], address(token));
            for (uint256 m = 0; m < muts.length; ++m) {
                _claim(MarginalUtilityToken(muts[m]), actors[i]);
            }
        }
    }

    // ----------------------------------------------------------------- helpers

    /// Aggregates every chunk the rule allows (anyone may; a random caller does).
    function _finalizeAll(uint256 id, uint256 seed) internal {
        IMiaAuction.Auction memory a = auction.getAuction(id);
        uint256 chunks = (a.nRevealed + a.scoreChunk - 1) / a.scoreChunk;
        for (uint256 c = 0; c < chunks; ++c) {
            _tryFinalize(id, c, uint256(keccak256(abi.encode(seed, c))));
        }
    }

    /// The latest auction three times in four, otherwise any (seed >> 2 auctions back, modulo).
    function _pick(uint256 seed) internal view override returns (uint256 id, bool ok) {
        uint256 n = auctionIds.length;
        if (n == 0) return (0, false);
        uint256 back = seed % 4 == 3 ? (seed >> 2) % n : 0;
        return (auctionIds[n - 1 - back], true);
    }

    function _knownMut(address mut) internal view returns (bool) {
        for (uint256 m = 0; m < muts.length; ++m) {
            if (muts[m] == mut) return true;
        }
        return false;
    }

    function _params(uint256 seed, uint128 budget, uint128 deposit)
        internal
        view
        returns (IMiaAuction.AuctionParams memory p)
    {
        uint64 t = uint64(vm.getBlockTimestamp());
        p.budget = uint128(1 + budget % 100 ether);
        p.commitDeadline = t + 1 hours + uint64(seed % 1 hours);
        p.revealDeadline = p.commitDeadline + 1 hours;
        p.scoringDeadline = p.revealDeadline + 1 hours;
        p.maxProviders = uint32(1 + uint8(seed >> 40) % N_ACTORS);
        // the minimum for open slots (1% of B over all of them), plus a random extra
        p.deposit = uint128(auction.minimumDeposit(p.budget, p.maxProviders) + deposit % 1 ether);
        // Committee policy: f in {0, 1, 2}, n in [3f+1, 7], quorum k in [2f+1, n-f]; chunks of 1-4 providers.
        uint256 f = uint8(seed >> 56) % 3;
        uint256 n = 3 * f + 1 + uint8(seed >> 64) % (MAX_COMMITTEE - 3 * f);
        p.faultTolerance = uint8(f);
        p.threshold = uint8(2 * f + 1 + uint8(seed >> 48) % (n - 3 * f));
        p.scoreChunk = uint16(1 + uint8(seed >> 80) % 4);
        _committee(p, n);
    }

    function _claim(MarginalUtilityToken mut, address who) internal {
        uint256 owed = mut.claimable(who);
        if (owed == 0) return;
        address asset = mut.asset();
        uint256 before = _balance(asset, who);
        (bool done,) =
            _asUnlessTokenFails(who, address(mut), 0, abi.encodeCall(MarginalUtilityToken.claim, ()), asset != ETH);
        if (!done) {
            if (mut.claimable(who) != owed) ++ghostBadTokenAccepted; // the entitlement must survive
            return;
        }
        if (_balance(asset, who) - before != owed || mut.claimable(who) != 0) ++ghostTransferMismatch;
        ++calls["claim"];
    }

    /// One settlement step by `caller`: `settle`, or the next `orderForSettlement` chunk, or a
    /// `settleChunk` paying a random number of winners. Checks every Payment it emits.
    function _settleStep(uint256 id, address caller, bool oneShot, uint256 seed) internal {
        Expected memory e = _expected(id);
        IMiaAuction.Progress memory g = auction.settlementProgress(id);
        vm.recordLogs();
        if (oneShot) {
            _as(caller, address(auction), 0, abi.encodeCall(MiaAuction.settle, (id)));
            ++calls["settle"];
        } else {
            uint256[] memory entries = _order(id);
            if (g.ordered < entries.length) {
                uint256 k = 1 + seed % (entries.length - g.ordered);
                uint256[] memory indices = new uint256[](k);
                for (uint256 j = 0; j < k; ++j) {
                    indices[j] = OrderEntry.wrap(entries[g.ordered + j]).index();
                }
                _as(caller, address(auction), 0, abi.encodeCall(MiaAuction.orderForSettlement, (id, indices)));
                ++calls["orderForSettlement"];
            } else {
                uint256 maxPayments = seed % 5 == 0 ? type(uint256).max - g.paid : 1 + (seed >> 8) % 3;
                _as(caller, address(auction), 0, abi.encodeCall(MiaAuction.settleChunk, (id, entries, maxPayments)));
                ++calls["settleChunk"];
            }
        }
        _checkPayments(id, e, vm.getRecordedLogs());
    }

    /// The settlement order `mia.sdk.chunked` builds: eligible providers (weight > 0) ascending in
    /// b/w, ties by commit index; one packed `OrderEntry` per provider.
    function _order(uint256 id) internal view returns (uint256[] memory entries) {
        address[] memory committed = auction.providersOf(id);
        uint256[] memory idx = new uint256[](committed.length);
        uint256[] memory bids = new uint256[](committed.length + 1);
        uint256[] memory ws = new uint256[](committed.length + 1);
        uint256 m = 0;
        for (uint256 i = 0; i < committed.length; ++i) {
            IMiaAuction.Bid memory bid = auction.getBid(id, committed[i]);
            uint256 w = auction.weightOf(id, committed[i]);
            if (!bid.revealed || w == 0) continue;
            // insertion: b_new/w_new < b_j/w_j  <=>  b_new·w_j < b_j·w_new (earlier index wins ties)
            uint256 j = m;
            while (j > 0 && uint256(bid.cost) * ws[j - 1] < bids[j - 1] * w) {
                (idx[j], bids[j], ws[j]) = (idx[j - 1], bids[j - 1], ws[j - 1]);
                --j;
            }
            (idx[j], bids[j], ws[j]) = (i + 1, bid.cost, w);
            ++m;
        }
        entries = new uint256[](m);
        uint256 running = 0;
        for (uint256 s = 0; s < m; ++s) {
            running += ws[s];
            entries[s] = OrderEntry.unwrap(OrderEntryLib.pack(idx[s], bids[s], running));
        }
    }
}

/// @notice Escrow, budget, payment and MUT invariants over every mechanism and settlement path.
/// @dev Many short sequences (3,400 runs x depth 12 per invariant, inline config below; ~10,200 runs
///      in all) of actions that each make real progress (`drive` runs an auction through up to five
///      phases in one call);
///      `afterInvariant` ends every auction, withdraws and claims for everyone, and checks nothing of
///      any ended auction is stuck. `FOUNDRY_PROFILE=long` runs 500 x 200 per invariant instead.
contract MechanismInvariantTest is TestBase {
    address internal constant ETH = address(0);
    MiaAuction internal auction;
    FalseReturnToken internal token;
    MechanismHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        auction = MiaAuction(deploy("MiaAuction.sol:MiaAuction"));
        token = FalseReturnToken(deploy("FalseReturnToken.sol:FalseReturnToken"));
        QMIAHarness harness = QMIAHarness(deploy("QMIAHarness.sol:QMIAHarness"));
        handler = MechanismHandler(
            deploy(
                "MechanismInvariant.t.sol:MechanismHandler",
                abi.encode(address(auction), address(token), address(harness))
            )
        );
        targetContract(address(handler));
        bytes4[] memory selectors = new bytes4[](17);
        selectors[0] = MechanismHandler.createAuction.selector;
        selectors[14] = MechanismHandler.finalize.selector;
        selectors[15] = MechanismHandler.griefOrder.selector;
        selectors[1] = MechanismHandler.commit.selector;
        selectors[2] = MechanismHandler.reveal.selector;
        selectors[3] = MechanismHandler.postReports.selector;
        selectors[4] = MechanismHandler.settle.selector;
        selectors[5] = MechanismHandler.cancel.selector;
        selectors[6] = MechanismHandler.withdraw.selector;
        selectors[7] = MechanismHandler.depositRevenue.selector;
        selectors[8] = MechanismHandler.claim.selector;
        selectors[9] = MechanismHandler.transferMut.selector;
        selectors[10] = MechanismHandler.createBadTokenAuction.selector;
        selectors[11] = MechanismHandler.warp.selector;
        selectors[12] = MechanismHandler.drive.selector;
        selectors[13] = MechanismHandler.setTokenFailing.selector;
        selectors[16] = MechanismHandler.refundDeposit.selector;
        targetSelector(FuzzSelector({addr: address(handler), selectors: selectors}));
    }

    /// Escrow conservation: per asset, balance == totalOwed == Σ credits + what open auctions hold
    /// (cash escrow λ·B, B or 0 by mechanism, plus unrevealed deposits).
    /// forge-config: default.invariant.runs = 3400
    /// forge-config: default.invariant.depth = 12
    /// forge-config: long.invariant.runs = 500
    /// forge-config: long.invariant.depth = 200
    function invariant_escrowConservation() public view {
        address[2] memory assets = [ETH, address(token)];
        for (uint256 x = 0; x < 2; ++x) {
            address asset = assets[x];
            uint256 owed = auction.totalOwed(asset);
            uint256 held = asset == ETH ? address(auction).balance : token.balanceOf(address(auction));
            vm.assertEq(held, owed, "balance == totalOwed");
            uint256 sum = 0;
            for (uint256 i = 0; i < 6; ++i) {
                sum += auction.credits(asset, handler.actors(i));
            }
            uint256 n = handler.auctionCount();
            for (uint256 k = 0; k < n; ++k) {
                uint256 id = handler.auctionIds(k);
                IMiaAuction.Auction memory a = auction.getAuction(id);
                if (a.asset != asset) continue;
                // deposits still held for their providers: refundable ones once ended, all while open
                if (a.status == IMiaAuction.Status.Settled) {
                    sum += uint256(auction.settlementProgress(id).eligible - handler.ghostRefunded(id)) * a.deposit;
                    continue;
                }
                if (a.status == IMiaAuction.Status.Cancelled) {
                    sum += uint256(a.nRevealed - handler.ghostRefunded(id)) * a.deposit;
                    continue;
                }
                vm.assertEq(a.cashEscrow, _cashEscrow(a), "cash escrow by mechanism");
                sum += uint256(a.cashEscrow) + uint256(a.nCommitted) * a.deposit;
            }
            vm.assertEq(owed, sum, "totalOwed == credits + open escrow");
        }
    }

    /// Every settlement: payments equal the harness's (cash and MUT), nobody paid twice or below its
    /// bid, Σ cash ≤ cash escrow and Σ cash + MUT ≤ budget; every withdrawal and claim paid exactly
    /// what was owed; no re-entry succeeded; misbehaving tokens were rejected cleanly.
    /// forge-config: default.invariant.runs = 3400
    /// forge-config: default.invariant.depth = 12
    /// forge-config: long.invariant.runs = 500
    /// forge-config: long.invariant.depth = 200
    function invariant_settlementsMatchReference() public view {
        vm.assertEq(handler.ghostReferenceMismatch(), 0, "Payment == harness settlement");
        vm.assertEq(handler.ghostUnderpaid(), 0, "no winner paid below its bid");
        vm.assertEq(handler.ghostPaidTwice(), 0, "no winner paid twice");
        vm.assertEq(handler.ghostOverBudget(), 0, "cash <= escrow, cash + MUT <= budget");
        vm.assertEq(handler.ghostTransferMismatch(), 0, "withdraw/claim pay exactly what is owed");
        vm.assertEq(handler.ghostBadTokenAccepted(), 0, "misbehaving-token calls revert and move nothing");
        vm.assertEq(handler.ghostBadRefund(), 0, "refundDeposit succeeds exactly when the deposit is due");
        vm.assertEq(ReentrantActor(payable(handler.actors(5))).reentrySuccesses(), 0, "no re-entry succeeds");
        uint256 n = handler.auctionCount();
        for (uint256 k = 0; k < n; ++k) {
            uint256 id = handler.auctionIds(k);
            IMiaAuction.Auction memory a = auction.getAuction(id);
            vm.assertLe(handler.ghostCash(id), a.cashEscrow, "cash paid <= cash escrow");
            vm.assertLe(handler.ghostCash(id) + handler.ghostMut(id), a.budget, "cash + MUT <= budget");
            IMiaAuction.Progress memory g = auction.settlementProgress(id);
            vm.assertEq(g.totalCash, handler.ghostCash(id), "progress cash == sum of Payment cash");
            vm.assertEq(g.totalMut, handler.ghostMut(id), "progress MUT == sum of Payment MUT");
        }
    }

    /// Byzantine-robust scoring: whatever a corrupted minority (<= f members) reports and whichever
    /// subsets, orders and timing relayers choose, every provider's aggregated weight lies within
    /// [min, max] of the honest members' posted weights for it; no griefer's wrong finalization
    /// (a chosen subset, altered weights, too early) or wrong settlement prefix is ever accepted.
    /// forge-config: default.invariant.runs = 3400
    /// forge-config: default.invariant.depth = 12
    /// forge-config: long.invariant.runs = 500
    /// forge-config: long.invariant.depth = 200
    function invariant_aggregateWithinHonestRange() public view {
        vm.assertEq(handler.ghostOutsideHonestRange(), 0, "aggregate within the honest range");
        vm.assertEq(handler.ghostGriefAccepted(), 0, "no wrong finalization or settlement prefix accepted");
    }

    /// Each MUT: totalSupply == Σ minted; the pool holds exactly the unclaimed revenue, which covers
    /// every holder's claimable share.
    /// forge-config: default.invariant.runs = 3400
    /// forge-config: default.invariant.depth = 12
    /// forge-config: long.invariant.runs = 500
    /// forge-config: long.invariant.depth = 200
    function invariant_mutSupplyAndPool() public view {
        uint256 m = handler.mutCount();
        for (uint256 k = 0; k < m; ++k) {
            MarginalUtilityToken mut = MarginalUtilityToken(handler.muts(k));
            vm.assertEq(mut.totalSupply(), handler.ghostMinted(address(mut)), "MUT supply == sum minted");
            uint256 id = handler.mutAuction(address(mut));
            vm.assertEq(mut.auctionId(), id, "one MUT per auction");
            vm.assertEq(mut.totalSupply(), handler.ghostMut(id), "MUT supply == its own auction's MUT payments");
            vm.assertLe(mut.totalSupply(), mut.maxSupply(), "MUT supply <= cap stated at creation");
            vm.assertEq(mut.maxSupply(), auction.getAuction(id).budget, "cap == the auction's budget");
            vm.assertEq(mut.totalDeposited(), handler.ghostDeposited(address(mut)), "deposits recorded");
            address asset = mut.asset();
            uint256 pool = asset == ETH ? address(mut).balance : TestToken(asset).balanceOf(address(mut));
            vm.assertEq(pool, mut.unclaimed(), "pool == deposited - claimed");
            uint256 claimable = 0;
            for (uint256 i = 0; i < 6; ++i) {
                claimable += mut.claimable(handler.actors(i));
            }
            vm.assertGe(pool, claimable, "pool >= sum claimable");
        }
    }

    /// No funds stuck: once every auction has ended and everyone has withdrawn and claimed, the
    /// auction holds nothing and owes nothing, and each MUT pool keeps only rounding dust.
    function afterInvariant() public {
        handler.sweep();
        invariant_settlementsMatchReference();
        invariant_mutSupplyAndPool();
        invariant_aggregateWithinHonestRange();
        vm.assertEq(address(auction).balance, 0, "no ETH stuck");
        vm.assertEq(token.balanceOf(address(auction)), 0, "no tokens stuck");
        vm.assertEq(auction.totalOwed(ETH), 0, "nothing owed in ETH");
        vm.assertEq(auction.totalOwed(address(token)), 0, "nothing owed in tokens");
        uint256 n = handler.auctionCount();
        for (uint256 k = 0; k < n; ++k) {
            IMiaAuction.Status s = auction.getAuction(handler.auctionIds(k)).status;
            vm.assertTrue(s == IMiaAuction.Status.Settled || s == IMiaAuction.Status.Cancelled, "every auction ended");
        }
        uint256 m = handler.mutCount();
        for (uint256 k = 0; k < m; ++k) {
            MarginalUtilityToken mut = MarginalUtilityToken(handler.muts(k));
            for (uint256 i = 0; i < 6; ++i) {
                vm.assertEq(mut.claimable(handler.actors(i)), 0, "everything claimed");
            }
            // Each deposit leaves under one unit per holder of rounding dust.
            vm.assertLe(mut.unclaimed(), handler.ghostDeposits(address(mut)) * 6, "only rounding dust left");
        }
    }

    /// A scripted run through the handler: every mechanism and settlement path is reached and does
    /// something (so the random runs are not vacuous), and the invariants hold along the way.
    function test_handlerWalkthrough() public {
        // seed bits: buyer (0-7), mechanism (8-15), λ choice (16-23), model (24-31), asset (32-39),
        // maxProviders (40-47, 6 = every actor), threshold (48-55).
        uint256 t0 = vm.getBlockTimestamp(); // commit deadlines fall in [t0 + 1h, t0 + 2h)
        uint256 six = uint256(5) << 40;
        // Committees: f = 1 (n = 4, k = 3, one corrupted member, chunks of 2) for the first three;
        // f = 2 (n = 7, k = 5, two corrupted members, chunks of 3) for the Q-MIA auction.
        uint256 f1 = (uint256(1) << 56) | (uint256(1) << 80) | (uint256(1) << 88) | (uint256(2) << 96);
        uint256 f2 =
            (uint256(2) << 56) | (uint256(2) << 80) | (uint256(2) << 88) | (uint256(6) << 96) | (uint256(3) << 104);
        handler.createAuction(f1 | six | (1 << 8) | (2 << 16), 50 ether, 0.1 ether, 0.4e18, 0); // Mixed, λ 0.4, ETH
        handler.createAuction(f1 | six | (2 << 8) | (1 << 32) | 1, 40 ether, 0, 0, 0); // MUT, token
        handler.createAuction(f1 | six | (3 << 8) | 2, 30 ether, 0.2 ether, 0, 3e18); // Fairshare ρ 3, ETH
        handler.createAuction(f2 | six | 3, 20 ether, 0.3 ether, 0, 0); // Q-MIA, ETH, the contract actor buys
        for (uint256 k = 0; k < 4; ++k) {
            vm.assertGt(handler.corrupt(handler.auctionIds(k)), 0, "a corrupted minority");
        }
        for (uint256 back = 0; back < 4; ++back) {
            uint256 pick = back == 0 ? 0 : 3 | (back << 2);
            for (uint256 i = 0; i < 6; ++i) {
                handler.commit(pick, (i << 8), uint96((i + 1) * 2 ether), bytes32(i + back));
            }
        }
        vm.warp(t0 + 2 hours); // every auction in Reveal
        for (uint256 back = 0; back < 4; ++back) {
            handler.reveal(back == 0 ? 0 : 3 | (back << 2), 0x5554); // all but the first committed
        }
        vm.warp(t0 + 3 hours); // every auction in Scoring
        for (uint256 back = 0; back < 4; ++back) {
            uint256 pick = back == 0 ? 0 : 3 | (back << 2);
            vm.assertTrue(auction.phase(handler.auctionIds(3 - back)) == IMiaAuction.Phase.Scoring, "scoring");
            for (uint256 it = 0; auction.phase(handler.auctionIds(3 - back)) == IMiaAuction.Phase.Scoring; ++it) {
                vm.assertLt(it, 200, "scoring progresses");
                handler.postReports(pick, uint256(keccak256(abi.encode(back, it))));
            }
        }
        handler.settle(0, 0); // one-shot (seed % 3 == 0) for the newest auction
        for (uint256 back = 1; back < 4; ++back) {
            vm.assertTrue(auction.phase(handler.auctionIds(3 - back)) == IMiaAuction.Phase.Scored, "scored");
            for (uint256 s = 1; auction.phase(handler.auctionIds(3 - back)) != IMiaAuction.Phase.Settled; ++s) {
                vm.assertLt(s, 50, "chunked settlement progresses");
                for (uint256 g = 0; g < 4; ++g) {
                    handler.griefOrder(3 | (back << 2), g | (s << 8)); // wrong prefixes between honest chunks
                }
                handler.settle(3 | (back << 2), (s * 3 + 1) | (uint256(1) << 16)); // chunked
            }
        }
        handler.setTokenFailing(0); // the token starts returning false: its deposit is refused, ETH's goes in
        for (uint256 m = 0; m < handler.mutCount(); ++m) {
            handler.depositRevenue(m, 0, 5 ether);
        }
        vm.assertEq(handler.calls("tokenFailureRejected"), 1, "revenue deposit in a failing token refused");
        handler.setTokenFailing(1); // recovered
        for (uint256 m = 0; m < handler.mutCount(); ++m) {
            handler.depositRevenue(m, 0, 7 ether + m);
            handler.transferMut(m, 1, 2, 1e18);
            handler.depositRevenue(m, 1, 3 ether);
        }
        handler.setTokenFailing(4); // fails again: token-MUT claims are refused and stay claimable
        for (uint256 i = 0; i < 6; ++i) {
            for (uint256 m = 0; m < handler.mutCount(); ++m) {
                handler.claim(m, i);
            }
        }
        vm.assertGt(handler.calls("tokenFailureRejected"), 1, "claims in a failing token refused");
        vm.assertEq(handler.ghostBadTokenAccepted(), 0, "nothing moved while the token failed");
        handler.setTokenFailing(5);
        for (uint256 i = 0; i < 6; ++i) {
            handler.withdraw(i, false);
            handler.withdraw(i, true);
            for (uint256 m = 0; m < handler.mutCount(); ++m) {
                handler.claim(m, i);
            }
        }
        handler.createBadTokenAuction(0, 1 ether);
        handler.createBadTokenAuction(1, 1 ether);

        vm.assertEq(handler.calls("create"), 4, "created");
        vm.assertGt(handler.calls("postReports"), 7, "reports posted chunk by chunk");
        vm.assertGt(handler.calls("aggregateChecked"), 7, "every chunk checked against the honest range");
        vm.assertGt(handler.calls("griefOrder"), 4, "griefers tried wrong settlement prefixes");
        vm.assertGt(handler.calls("griefFinalize"), 0, "griefers tried wrong finalizations");
        vm.assertEq(handler.calls("settle"), 1, "one-shot settlement");
        vm.assertGt(handler.calls("orderForSettlement"), 2, "ordered in chunks");
        vm.assertGt(handler.calls("settleChunk"), 2, "settled in chunks");
        vm.assertEq(handler.calls("settled"), 4, "all four settled");
        vm.assertEq(handler.mutCount(), 2, "Mixed and MUT auctions minted two MUTs");
        for (uint256 k = 0; k < 4; ++k) {
            vm.assertGt(handler.ghostPayments(handler.auctionIds(k)), 0, "every auction paid winners");
        }
        vm.assertGt(handler.ghostMinted(handler.muts(0)) + handler.ghostMinted(handler.muts(1)), 0, "MUT minted");
        vm.assertGt(handler.calls("claim"), 2, "holders claimed revenue");
        vm.assertEq(handler.calls("feeTokenRejected"), 1, "fee-on-transfer auction rejected");
        vm.assertEq(handler.calls("falseTokenRejected"), 1, "false-returning auction rejected");
        ReentrantActor actor = ReentrantActor(payable(handler.actors(5)));
        vm.assertGt(actor.reentryAttempts(), 0, "the contract actor was paid and tried to re-enter");
        invariant_escrowConservation();
        invariant_settlementsMatchReference();
        invariant_mutSupplyAndPool();
        afterInvariant();
    }

    function _cashEscrow(IMiaAuction.Auction memory a) internal pure returns (uint256) {
        if (a.mechanism == IMiaAuction.Mechanism.Fairshare) return a.budget;
        return (uint256(a.budget) * a.liquidity) / 1e18;
    }
}
