// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {MiaAuction} from "../../../contracts/MiaAuction.sol";
import {IMiaAuction} from "../../../contracts/interfaces/IMiaAuction.sol";
import {ForceSend} from "../../../contracts/test/ForceSend.sol";
import {QMIAHarness} from "../../../contracts/test/QMIAHarness.sol";
import {Vm, VM} from "../utils/Vm.sol";
import {ReportSigning} from "../utils/ReportSigning.sol";
import {ReentrantActor} from "../utils/ReentrantActor.sol";

/// @notice The payment token of an invariant run: any ERC-20 the handler can mint.
interface IMintableToken is IERC20 {
    function mint(address to, uint256 amount) external;
}

/// @notice What every auction invariant handler shares: the actors (buyers and providers, optionally one
///         re-entrant contract), the oracle keys, the auctions created, the lifecycle steps (commit,
///         reveal, signed reports, finalization, settlement with every Payment checked against the
///         mechanism harness, refunds, withdrawals), and the adversaries (forced sends, a token that may
///         fail). Each suite picks which of them it drives and how it picks auctions.
/// @dev Ghost counters record violations; the suites' invariants assert they stay zero.
abstract contract AuctionHandlerBase {
    Vm internal constant vm = VM;
    address internal constant ETH = address(0);
    uint256 internal constant N_ACTORS = 6;
    uint256 internal constant MAX_AUCTIONS = 6;
    uint256 internal constant MAX_COMMITTEE = 7; // the largest committee drawn: f = 2, n = 7
    uint256 internal constant WAD = 1e18;

    MiaAuction public immutable auction;
    IMintableToken public immutable token;
    QMIAHarness public immutable harness;
    /// The re-entrant contract actor (actors[N_ACTORS - 1]), or address(0) when the suite has none.
    ReentrantActor public immutable reentrant;
    uint256[MAX_COMMITTEE] internal oraclePk = [uint256(0xA1), 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7];
    address[N_ACTORS] public actors;
    uint256[] public auctionIds;

    struct Opening {
        uint256 cost;
        bytes32 salt;
        bytes32 root;
    }

    /// What the harness says a settlement must pay, per revealed provider.
    struct Expected {
        address[] revealed;
        uint256[] cash;
        uint256[] mut;
        bool[] won;
    }

    mapping(uint256 auctionId => mapping(address provider => Opening)) internal openings;
    mapping(uint256 auctionId => mapping(address provider => bool)) internal paidOnce;
    /// Weights of every posted report, per chunk and committee slot (what `finalizeScores` must be given).
    mapping(uint256 auctionId => mapping(uint256 chunk => mapping(uint256 slot => uint256[]))) internal postedWeights;

    // Ghost state
    mapping(uint256 auctionId => uint256) public ghostCash;
    mapping(uint256 auctionId => uint256) public ghostMut;
    mapping(uint256 auctionId => uint256) public ghostPayments;
    mapping(address mut => uint256) public ghostMinted;
    mapping(uint256 auctionId => uint256) public ghostRefunded; // deposits credited back by refundDeposit
    mapping(address asset => uint256) public ghostForced; // sent to the auction outside its functions
    uint256 public ghostReferenceMismatch; // a Payment differing from the harness, or a winner unpaid
    uint256 public ghostUnderpaid; // cash + MUT below the winner's bid
    uint256 public ghostPaidTwice;
    uint256 public ghostOverBudget; // Σ cash > cash escrow or Σ cash + MUT > budget
    uint256 public ghostTransferMismatch; // a withdrawal or claim that paid other than what was owed
    uint256 public ghostBadTokenAccepted; // a misbehaving-token call that did not revert cleanly
    mapping(bytes32 action => uint256) public calls; // coverage counters

    /// @param actorTag Seeds the actors' addresses (each suite its own).
    /// @param withReentrant Whether the last actor is a contract that re-enters every payer.
    constructor(
        MiaAuction auction_,
        IMintableToken token_,
        QMIAHarness harness_,
        string memory actorTag,
        bool withReentrant
    ) {
        auction = auction_;
        token = token_;
        harness = harness_;
        ReentrantActor r = withReentrant ? new ReentrantActor(address(auction_)) : ReentrantActor(payable(0));
        reentrant = r;
        for (uint256 i = 0; i < N_ACTORS; ++i) {
            actors[i] = address(uint160(uint256(keccak256(abi.encode(actorTag, i)))));
        }
        if (withReentrant) actors[N_ACTORS - 1] = address(r);
    }

    function auctionCount() external view returns (uint256) {
        return auctionIds.length;
    }

    // ----------------------------------------------------------------- policy hooks

    /// Which auction an action acts on.
    function _pick(uint256 seed) internal view virtual returns (uint256 id, bool ok);

    /// Whether the payment token refuses transfers right now (a suite with a failing token overrides).
    function _tokenFailing() internal view virtual returns (bool) {
        return false;
    }

    // ----------------------------------------------------------------- lifecycle steps

    /// `n` committee members (the first n oracle keys) and their encryption keys, in slot order.
    function _committee(IMiaAuction.AuctionParams memory p, uint256 n) internal view {
        p.oracles = new address[](n);
        p.oracleEncryptionKeys = new bytes32[](n);
        for (uint256 o = 0; o < n; ++o) {
            p.oracles[o] = vm.addr(oraclePk[o]);
            p.oracleEncryptionKeys[o] = bytes32(o + 1);
        }
        p.taskHash = keccak256(abi.encode("task", auctionIds.length));
        p.methodId = 1;
    }

    /// Records `who`'s opening (cost below 60 ether) and funds its deposit; returns the `commit` call.
    function _prepareCommit(uint256 id, address who, uint256 cost, bytes32 salt)
        internal
        returns (bytes memory data, uint256 value)
    {
        IMiaAuction.Auction memory a = auction.getAuction(id);
        Opening memory op = Opening(cost % 60 ether, salt, keccak256(abi.encode("data", who, salt)));
        openings[id][who] = op;
        bytes32 c = auction.commitmentOf(id, who, op.cost, op.salt, op.root);
        _fund(a.asset, who, a.deposit);
        return (abi.encodeCall(MiaAuction.commit, (id, c)), a.asset == ETH ? a.deposit : 0);
    }

    /// `who` opens its commitment.
    function _reveal(uint256 id, address who) internal {
        Opening memory op = openings[id][who];
        _as(who, address(auction), 0, abi.encodeCall(MiaAuction.reveal, (id, op.cost, op.salt, op.root)));
        ++calls["reveal"];
    }

    /// Signs `reports[r]` with member `slots[r]`'s key and records the weights it implies.
    function _signAndRecord(uint256 id, uint256 chunk, IMiaAuction.ScoreReport[] memory reports, uint256[] memory slots)
        internal
        returns (bytes[] memory sigs)
    {
        sigs = new bytes[](reports.length);
        for (uint256 r = 0; r < reports.length; ++r) {
            uint256 o = slots[r];
            sigs[r] = ReportSigning.sign(oraclePk[o], auction.scoreReportDigest(reports[r]));
            uint256[] storage w = postedWeights[id][chunk][o];
            for (uint256 j = 0; j < reports[r].q.length; ++j) {
                w.push(harness.weight(reports[r].q[j], reports[r].delta[j]));
            }
        }
    }

    /// Whether `chunk` may be aggregated now (all n posted, or the window closed with a quorum), and the
    /// posted reports' weights in committee-slot order.
    function _finalizable(uint256 id, uint256 chunk) internal view returns (bool allowed, uint256[][] memory w) {
        IMiaAuction.Phase ph = auction.phase(id);
        IMiaAuction.Auction memory a = auction.getAuction(id);
        IMiaAuction.ScoreChunk memory c = auction.scoreChunkOf(id, chunk);
        allowed = c.count == a.nOracles || (ph == IMiaAuction.Phase.Expired && c.count >= a.threshold);
        w = new uint256[][](c.count);
        uint256 t = 0;
        for (uint256 o = 0; o < a.nOracles; ++o) {
            if (c.posters & (1 << o) != 0) w[t++] = postedWeights[id][chunk][o];
        }
    }

    /// Whether the auction may be settled now: scored, or nobody revealed and the reveal phase is over.
    function _settleable(uint256 id) internal view returns (bool) {
        IMiaAuction.Phase ph = auction.phase(id);
        if (ph == IMiaAuction.Phase.Scored) return true;
        bool nobody = auction.getAuction(id).nRevealed == 0;
        return nobody && (ph == IMiaAuction.Phase.Scoring || ph == IMiaAuction.Phase.Expired);
    }

    /// Whether `caller` may cancel now: anyone once cancellable, the buyer before any commit.
    function _mayCancel(uint256 id, address caller) internal view returns (bool) {
        IMiaAuction.Auction memory a = auction.getAuction(id);
        bool buyerEarly = caller == a.buyer && a.nCommitted == 0 && auction.phase(id) == IMiaAuction.Phase.Commit;
        return auction.cancellable(id) || buyerEarly;
    }

    /// Whether `who`'s deposit is due: revealed, not refunded, and the auction cancelled or settled with
    /// `who`'s weight > 0.
    function _refundDue(uint256 id, address who) internal view returns (bool) {
        IMiaAuction.Auction memory a = auction.getAuction(id);
        IMiaAuction.Bid memory b = auction.getBid(id, who);
        bool ended = a.status == IMiaAuction.Status.Cancelled
            || (a.status == IMiaAuction.Status.Settled && auction.weightOf(id, who) > 0);
        return ended && b.revealed && !b.depositRefunded && a.deposit > 0;
    }

    /// The auction's next deadline after `t` (or one second on, once all have passed).
    function _nextDeadline(uint256 id, uint256 t) internal view returns (uint256) {
        IMiaAuction.Auction memory a = auction.getAuction(id);
        if (t < a.commitDeadline) return a.commitDeadline;
        if (t < a.revealDeadline) return a.revealDeadline;
        if (t < a.scoringDeadline) return a.scoringDeadline;
        return t + 1;
    }

    /// `who` withdraws its whole credit; it must receive exactly that (unless the token fails: then the
    /// call must revert cleanly and the credit survive).
    function _withdraw(address who, address asset) internal {
        uint256 credit = auction.credits(asset, who);
        if (credit == 0) return;
        uint256 before = _balance(asset, who);
        (bool done,) =
            _asUnlessTokenFails(who, address(auction), 0, abi.encodeCall(MiaAuction.withdraw, (asset)), asset != ETH);
        if (!done) {
            if (auction.credits(asset, who) != credit) ++ghostBadTokenAccepted; // the credit must survive
            return;
        }
        if (_balance(asset, who) - before != credit || auction.credits(asset, who) != 0) ++ghostTransferMismatch;
        ++calls["withdraw"];
    }

    // ----------------------------------------------------------------- adversaries

    /// A griefer forces value into the auction without calling it: ETH by SELFDESTRUCT in a
    /// constructor, tokens by a plain transfer. Nothing may change but a surplus nobody can withdraw.
    function _forceSend(bool useToken, uint256 amount) internal {
        if (useToken) {
            token.mint(address(this), amount);
            token.transfer(address(auction), amount);
            ghostForced[address(token)] += amount;
        } else {
            vm.deal(address(this), address(this).balance + amount);
            new ForceSend{value: amount}(payable(address(auction)));
            ghostForced[ETH] += amount;
        }
        ++calls["forceSend"];
    }

    // ----------------------------------------------------------------- settlement checks

    /// The harness's settlement of the stored revealed bids and median weights, split as the auction's
    /// mechanism splits it.
    function _expected(uint256 id) internal view returns (Expected memory e) {
        (e.revealed,) = auction.revealedProviders(id);
        uint256 n = e.revealed.length;
        uint256[] memory bids = new uint256[](n);
        uint256[] memory weights = new uint256[](n);
        for (uint256 j = 0; j < n; ++j) {
            bids[j] = auction.getBid(id, e.revealed[j]).cost;
            weights[j] = auction.weightOf(id, e.revealed[j]);
        }
        IMiaAuction.Auction memory a = auction.getAuction(id);
        if (a.mechanism == IMiaAuction.Mechanism.QMIA) {
            (e.cash, e.won) = harness.settle(bids, weights, a.budget);
            e.mut = new uint256[](n);
        } else if (a.mechanism == IMiaAuction.Mechanism.Fairshare) {
            (e.cash, e.won) = harness.fairshare(bids, weights, a.rho, a.budget);
            e.mut = new uint256[](n);
        } else {
            uint256 liquidity = a.mechanism == IMiaAuction.Mechanism.MUT ? 0 : a.liquidity;
            (e.cash, e.mut, e.won) = harness.mixed(bids, weights, a.budget, liquidity);
        }
    }

    /// Checks every Payment in `logs` against `e`; once the auction is settled, that every winner was paid
    /// and the totals stay within the cash escrow and the budget.
    function _checkPayments(uint256 id, Expected memory e, Vm.Log[] memory logs) internal {
        IMiaAuction.Auction memory a = auction.getAuction(id);
        for (uint256 k = 0; k < logs.length; ++k) {
            if (logs[k].emitter != address(auction) || logs[k].topics[0] != IMiaAuction.Payment.selector) continue;
            if (uint256(logs[k].topics[1]) != id) ++ghostReferenceMismatch;
            address to = address(uint160(uint256(logs[k].topics[2])));
            (uint256 cash, uint256 minted) = abi.decode(logs[k].data, (uint256, uint256));
            if (paidOnce[id][to]) ++ghostPaidTwice;
            paidOnce[id][to] = true;
            ghostCash[id] += cash;
            ghostMut[id] += minted;
            ++ghostPayments[id];
            if (minted > 0) ghostMinted[a.mutToken] += minted;
            if (cash + minted < auction.getBid(id, to).cost) ++ghostUnderpaid;
            bool found = false;
            for (uint256 j = 0; j < e.revealed.length; ++j) {
                if (e.revealed[j] != to) continue;
                found = true;
                if (!e.won[j] || e.cash[j] != cash || e.mut[j] != minted) ++ghostReferenceMismatch;
            }
            if (!found) ++ghostReferenceMismatch;
        }
        if (a.status != IMiaAuction.Status.Settled) return;
        uint256 winners = 0;
        for (uint256 j = 0; j < e.won.length; ++j) {
            if (e.won[j]) ++winners;
        }
        if (ghostPayments[id] != winners) ++ghostReferenceMismatch;
        if (ghostCash[id] > a.cashEscrow || ghostCash[id] + ghostMut[id] > a.budget) ++ghostOverBudget;
        ++calls["settled"];
    }

    // ----------------------------------------------------------------- calls and funds

    /// Makes `who` call `target` (through `execute` for the contract actor); returns the raw outcome.
    function _call(address who, address target, uint256 value, bytes memory data)
        internal
        returns (bool ok, bytes memory ret)
    {
        if (who == address(reentrant)) {
            return address(reentrant).call(abi.encodeCall(reentrant.execute, (target, value, data)));
        }
        vm.prank(who);
        return target.call{value: value}(data);
    }

    /// `_call` that bubbles any revert.
    function _as(address who, address target, uint256 value, bytes memory data) internal returns (bytes memory ret) {
        bool ok;
        (ok, ret) = _call(who, target, value, data);
        if (!ok) {
            assembly ("memory-safe") {
                revert(add(ret, 0x20), mload(ret))
            }
        }
    }

    /// `_as`, unless the call would move the payment token while it is failing: then the call must
    /// revert with SafeERC20FailedOperation(token) and leave every balance and the escrow untouched
    /// (a violation is counted otherwise), and `done` is false.
    function _asUnlessTokenFails(address who, address target, uint256 value, bytes memory data, bool movesToken)
        internal
        returns (bool done, bytes memory ret)
    {
        if (!movesToken || !_tokenFailing()) return (true, _as(who, target, value, data));
        uint256 whoBefore = token.balanceOf(who);
        uint256 targetBefore = token.balanceOf(target);
        uint256 owedBefore = auction.totalOwed(address(token));
        uint256 countBefore = auction.auctionCount();
        bool ok;
        (ok, ret) = _call(who, target, value, data);
        bytes memory expected = abi.encodeWithSignature("SafeERC20FailedOperation(address)", address(token));
        bool moved = token.balanceOf(who) != whoBefore || token.balanceOf(target) != targetBefore
            || auction.totalOwed(address(token)) != owedBefore || auction.auctionCount() != countBefore;
        if (ok || keccak256(ret) != keccak256(expected) || moved) ++ghostBadTokenAccepted;
        ++calls["tokenFailureRejected"];
        return (false, ret);
    }

    /// Gives `who` `amount` of `asset` (and, for the token, an unlimited approval of the auction).
    function _fund(address asset, address who, uint256 amount) internal {
        if (asset == ETH) {
            vm.deal(who, who.balance + amount);
        } else {
            token.mint(who, amount);
            _as(who, address(token), 0, abi.encodeCall(IERC20.approve, (address(auction), type(uint256).max)));
        }
    }

    function _balance(address asset, address who) internal view returns (uint256) {
        return asset == ETH ? who.balance : IERC20(asset).balanceOf(who);
    }
}
