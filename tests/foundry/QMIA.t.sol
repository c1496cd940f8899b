// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./utils/TestBase.sol";
import {QMIAHarness} from "../../contracts/test/QMIAHarness.sol";

/// @notice Q-MIA (SPEC §4): hand-computed examples and fuzzed properties (IR, weak budget balance,
///         prefix allocation, zero for losers, threshold payments, DSIC monotonicity).
/// @dev The fuzz tests compare the library against an independent brute-force reference written
///      here: allocation by checking every prefix position (not stopping at the first failure),
///      payments by a linear scan of max_r min(A(r), C(r)) instead of the library's binary search.
contract QMIATest is TestBase {
    uint256 internal constant MAX_N = 12;
    uint256 internal constant MAX_BID = type(uint96).max;
    uint256 internal constant MAX_WEIGHT = 1e36;
    uint256 internal constant MAX_BUDGET = type(uint128).max;

    QMIAHarness internal h;

    function setUp() public {
        h = QMIAHarness(deploy("QMIAHarness.sol:QMIAHarness"));
    }

    // =====================================================================================
    // Hand-computed examples. Notation as in SPEC §4: φ = b/w, sorted ascending (ties by index);
    // winners = longest prefix with b_k·W_k ≤ B·w_k; for a winner i with the others sorted
    // (φ'_r, prefix weights W'_r, W'_0 = 0):
    //   p_i = max_r min( A(r) = ⌊w_i·b'_r / w'_r⌋ ,  C(r) = ⌊B·w_i / (W'_{r-1} + w_i)⌋ ),
    // with A = ∞ past the last other.
    // =====================================================================================

    /// B = 100; w = (1, 1, 1); b = (10, 20, 30); φ = (10, 20, 30), order 0,1,2.
    /// Allocation: k=1: 10·1=10 ≤ 100·1 ✓; k=2: 20·2=40 ≤ 100 ✓; k=3: 30·3=90 ≤ 100 ✓ → all win.
    /// p_0: others φ' = (20, 30), W' = (0, 1, 2):
    ///      r=1 min(20, ⌊100/1⌋=100)=20; r=2 min(30, ⌊100/2⌋=50)=30; r=3 min(∞, ⌊100/3⌋=33)=33 → 33
    /// p_1: others φ' = (10, 30): r=1 min(10,100)=10; r=2 min(30,50)=30; r=3 min(∞,33)=33 → 33
    /// p_2: others φ' = (10, 20): r=1 min(10,100)=10; r=2 min(20,50)=20; r=3 min(∞,33)=33 → 33
    /// Σ = 99 ≤ 100; every p ≥ b.
    function test_example_equalWeights_allWin() public view {
        (uint256[] memory p, bool[] memory won) = h.settle(_arr(10, 20, 30), _arr(1, 1, 1), 100);
        _expect(p, won, _arr(33, 33, 33), _won(true, true, true));
    }

    /// B = 1000; w = (2, 1, 1, 0); b = (100, 200, 500, 1). Provider 3 has w = 0: never eligible.
    /// φ = (50, 200, 500), order 0,1,2.
    /// Allocation: k=1: 100·2=200 ≤ 1000·2=2000 ✓; k=2: 200·3=600 ≤ 1000·1 ✓;
    ///             k=3: 500·4=2000 > 1000·1 ✗ → winners {0, 1}.
    /// p_0 (w=2): others 1 (φ 200, w 1), 2 (φ 500, w 1); W' = (0, 1, 2):
    ///      r=1 min(⌊2·200/1⌋=400, ⌊2000/2⌋=1000)=400; r=2 min(⌊2·500/1⌋=1000, ⌊2000/3⌋=666)=666;
    ///      r=3 min(∞, ⌊2000/4⌋=500)=500 → 666
    /// p_1 (w=1): others 0 (φ 50, w 2), 2 (φ 500, w 1); W' = (0, 2, 3):
    ///      r=1 min(⌊1·100/2⌋=50, 1000)=50; r=2 min(500, ⌊1000/3⌋=333)=333; r=3 min(∞, ⌊1000/4⌋=250)=250 → 333
    /// Σ = 999 ≤ 1000. Check of p_1 as a threshold: bid 333 → φ 333 < 500, W_2 = 3, 333·3 = 999 ≤ 1000 wins;
    /// bid 334 → 1002 > 1000 loses.
    function test_example_weightedWithLoserAndZeroWeight() public view {
        uint256[] memory b = _arr4(100, 200, 500, 1);
        uint256[] memory w = _arr4(2, 1, 1, 0);
        (uint256[] memory p, bool[] memory won) = h.settle(b, w, 1000);
        uint256[] memory expected = _arr4(666, 333, 0, 0);
        bool[] memory expectedWon = new bool[](4);
        expectedWon[0] = true;
        expectedWon[1] = true;
        _expect(p, won, expected, expectedWon);

        b[1] = 333;
        (p, won) = h.settle(b, w, 1000);
        vm.assertTrue(won[1], "333 is within the threshold");
        vm.assertEq(p[1], 333, "payment does not depend on own bid");
        b[1] = 334;
        (, won) = h.settle(b, w, 1000);
        vm.assertFalse(won[1], "334 is above the threshold");
    }

    /// B = 100; w = (1, 1); b = (50, 50): a tie in φ, broken by index → order 0,1.
    /// k=1: 50 ≤ 100 ✓; k=2: 50·2 = 100 ≤ 100 ✓ → both win.
    /// p_0: other 1 (φ 50): r=1 min(50, 100)=50; r=2 min(∞, ⌊100/2⌋=50)=50 → 50; p_1 likewise 50.
    /// Σ = 100 = B exactly (the budget is spent to the wei).
    function test_example_tieSpendsWholeBudget() public view {
        (uint256[] memory p, bool[] memory won) = h.settle(_arr2(50, 50), _arr2(1, 1), 100);
        _expect(p, won, _arr2(50, 50), _won2(true, true));
    }

    /// B = 100; w = (1, 1); b = (51, 50); φ order 1,0.
    /// k=1: 50 ≤ 100 ✓; k=2: 51·2 = 102 > 100 ✗ → winner {1}.
    /// p_1: other 0 (φ 51): r=1 min(51, 100)=51; r=2 min(∞, 50)=50 → 51.
    /// The tie caveat: bidding exactly p_1 = 51 ties with provider 0, who has the lower index and
    /// therefore sorts first; then 51·2 = 102 > 100 and provider 1 loses. Every bid < p wins and every
    /// bid > p loses; the bid p itself can lose to a lower-index tie.
    function test_example_tieAtThreshold() public view {
        uint256[] memory b = _arr2(51, 50);
        (uint256[] memory p, bool[] memory won) = h.settle(b, _arr2(1, 1), 100);
        _expect(p, won, _arr2(0, 51), _won2(false, true));

        b[1] = 51;
        (p, won) = h.settle(b, _arr2(1, 1), 100);
        vm.assertFalse(won[1], "bid == p loses to the lower-index tie");
        vm.assertTrue(won[0], "provider 0 now wins");
        // p_0 = max(min(51, 100), min(∞, 50)) = 51
        vm.assertEq(p[0], 51, "p_0");
    }

    /// Rounding down: B = 10; w = (3, 3, 3); b = (1, 1, 1). φ all 1/3, order 0,1,2.
    /// k=3: 1·9 = 9 ≤ 10·3 = 30 ✓ → all win.
    /// p_0: others φ' = (1/3, 1/3): r=1 min(⌊3·1/3⌋=1, ⌊30/3⌋=10)=1; r=2 min(1, ⌊30/6⌋=5)=1;
    ///      r=3 min(∞, ⌊30/9⌋=3)=3 → 3; same for everyone. Σ = 9 ≤ 10 (1 wei of rounding stays with the buyer).
    function test_example_roundingDown() public view {
        (uint256[] memory p, bool[] memory won) = h.settle(_arr(1, 1, 1), _arr(3, 3, 3), 10);
        _expect(p, won, _arr(3, 3, 3), _won(true, true, true));
    }

    /// 18-decimal scale as the auction uses it: weights from q·Δ/1e18.
    /// q = (0.9, 0.5, 1.0), Δ = (2.0, 4.0, -1.0) → w = (1.8e18, 2e18, 0) (harmful data is clipped).
    /// B = 10 ether; b = (1 ether, 3 ether, 0). φ_0 = 1e18/1.8e18 ≈ 0.556, φ_1 = 1.5 → order 0,1.
    /// k=1: 1e18·1.8e18 ≤ 1e19·1.8e18 ✓; k=2: 3e18·3.8e18 = 11.4e36 ≤ 1e19·2e18 = 20e36 ✓ → {0, 1} win.
    /// p_0: other 1 (w 2e18, b 3e18): r=1 min(⌊1.8e18·3e18/2e18⌋ = 2.7e18, ⌊1e19·1.8e18/1.8e18⌋ = 1e19) = 2.7e18;
    ///      r=2 min(∞, ⌊1e19·1.8e18/3.8e18⌋ = 4736842105263157894) → 4736842105263157894
    /// p_1: other 0 (w 1.8e18, b 1e18): r=1 min(⌊2e18·1e18/1.8e18⌋ = 1111111111111111111, 1e19) = 1111111111111111111;
    ///      r=2 min(∞, ⌊1e19·2e18/3.8e18⌋ = 5263157894736842105) → 5263157894736842105
    /// Σ = 9999999999999999999 ≤ 1e19.
    function test_example_fixedPointScale() public view {
        uint256[] memory w = new uint256[](3);
        w[0] = h.weight(0.9e18, 2e18);
        w[1] = h.weight(0.5e18, 4e18);
        w[2] = h.weight(1e18, -1e18);
        vm.assertEq(w[0], 1.8e18, "w0");
        vm.assertEq(w[1], 2e18, "w1");
        vm.assertEq(w[2], 0, "negative delta clipped");
        (uint256[] memory p, bool[] memory won) = h.settle(_arr(1 ether, 3 ether, 0), w, 10 ether);
        _expect(p, won, _arr(4736842105263157894, 5263157894736842105, 0), _won(true, true, false));
    }

    function test_example_noEligibleOrNoBudget() public view {
        (uint256[] memory p, bool[] memory won) = h.settle(_arr(1, 2, 3), _arr(0, 0, 0), 100);
        _expect(p, won, _arr(0, 0, 0), _won(false, false, false));
        // B = 0: only a zero bid passes b·W ≤ 0, and it is paid ⌊0⌋ = 0.
        (p, won) = h.settle(_arr(0, 2, 3), _arr(1, 1, 1), 0);
        _expect(p, won, _arr(0, 0, 0), _won(true, false, false));
        (p, won) = h.settle(new uint256[](0), new uint256[](0), 100);
        vm.assertEq(p.length, 0, "empty");
    }

    // =====================================================================================
    // Fuzz
    // =====================================================================================

    /// Every property of one settlement against the brute-force reference.
    function testFuzz_settlementProperties(
        uint256[12] memory rawBids,
        uint256[12] memory rawWeights,
        uint256 n,
        uint256 rawBudget,
        uint256 mode
    ) public view {
        (uint256[] memory bids, uint256[] memory weights, uint256 budget) =
            _inputs(rawBids, rawWeights, n, rawBudget, mode);
        (uint256[] memory pay, bool[] memory won) = h.settle(bids, weights, budget);
        bool[] memory refWon = _refAllocation(bids, weights, budget);

        uint256 total = 0;
        for (uint256 i = 0; i < bids.length; ++i) {
            vm.assertEq(won[i], refWon[i], "allocation == reference");
            if (!won[i]) {
                vm.assertEq(pay[i], 0, "losers get 0");
                continue;
            }
            vm.assertGt(weights[i], 0, "w = 0 never wins");
            vm.assertGe(pay[i], bids[i], "IR: payment >= bid");
            vm.assertEq(pay[i], _refPayment(bids, weights, budget, i), "payment == brute-force max-min");
            total += pay[i];
            // Winners precede every eligible loser in virtual-cost order.
            for (uint256 j = 0; j < bids.length; ++j) {
                if (!won[j] && weights[j] > 0) vm.assertTrue(_before(i, j, bids, weights), "prefix");
            }
        }
        vm.assertLe(total, budget, "WBB: sum of payments <= budget");
    }

    /// Threshold characterisation of every winner: any bid below p wins (with the same payment),
    /// any bid above p loses.
    function testFuzz_paymentIsThreshold(
        uint256[12] memory rawBids,
        uint256[12] memory rawWeights,
        uint256 n,
        uint256 rawBudget,
        uint256 mode
    ) public view {
        (uint256[] memory bids, uint256[] memory weights, uint256 budget) =
            _inputs(rawBids, rawWeights, n, rawBudget, mode);
        (uint256[] memory pay, bool[] memory won) = h.settle(bids, weights, budget);
        for (uint256 i = 0; i < bids.length; ++i) {
            if (!won[i]) continue;
            uint256 p = pay[i];
            uint256 original = bids[i];
            if (p > 0) {
                bids[i] = p - 1 > MAX_BID ? MAX_BID : p - 1;
                (uint256[] memory pay2, bool[] memory won2) = h.settle(bids, weights, budget);
                vm.assertTrue(won2[i], "bid below p wins");
                vm.assertEq(pay2[i], p, "payment independent of own bid");
            }
            if (p < MAX_BID) {
                bids[i] = p + 1;
                (, bool[] memory won3) = h.settle(bids, weights, budget);
                vm.assertFalse(won3[i], "bid above p loses");
            }
            bids[i] = original;
        }
    }

    /// DSIC monotonicity for one random winner: lowering its bid keeps it a winner with the same
    /// payment; bidding anywhere above its payment makes it lose (strictly above: no tie exception).
    function testFuzz_monotoneInOwnBid(
        uint256[12] memory rawBids,
        uint256[12] memory rawWeights,
        uint256 n,
        uint256 rawBudget,
        uint256 mode,
        uint256 pick,
        uint256 lower,
        uint256 higher
    ) public view {
        (uint256[] memory bids, uint256[] memory weights, uint256 budget) =
            _inputs(rawBids, rawWeights, n, rawBudget, mode);
        (uint256[] memory pay, bool[] memory won) = h.settle(bids, weights, budget);
        uint256 nWon = 0;
        for (uint256 t = 0; t < won.length; ++t) {
            if (won[t]) ++nWon;
        }
        vm.assume(nWon > 0);
        uint256 target = bound(pick, 0, nWon - 1);
        uint256 i = 0;
        for (uint256 t = 0; t < won.length; ++t) {
            if (!won[t]) continue;
            if (target == 0) {
                i = t;
                break;
            }
            --target;
        }

        uint256 original = bids[i];
        bids[i] = bound(lower, 0, original);
        (uint256[] memory payLow, bool[] memory wonLow) = h.settle(bids, weights, budget);
        vm.assertTrue(wonLow[i], "lower bid still wins");
        vm.assertEq(payLow[i], pay[i], "same payment");

        if (pay[i] < MAX_BID) {
            bids[i] = bound(higher, pay[i] + 1, MAX_BID);
            (uint256[] memory payHigh, bool[] memory wonHigh) = h.settle(bids, weights, budget);
            vm.assertFalse(wonHigh[i], "bid above payment loses");
            vm.assertEq(payHigh[i], 0, "and is paid nothing");
        }
    }

    // =====================================================================================
    // Input shaping and the independent reference
    // =====================================================================================

    /// mode 0: full allowed range, log-uniform magnitudes (so budgets bind as often as not);
    /// mode 1: tiny values (many ties and zero weights); mode 2: 18-decimal magnitudes as the
    /// oracles produce them.
    function _inputs(
        uint256[12] memory rawBids,
        uint256[12] memory rawWeights,
        uint256 n,
        uint256 rawBudget,
        uint256 mode
    ) internal pure returns (uint256[] memory bids, uint256[] memory weights, uint256 budget) {
        n = bound(n, 1, MAX_N);
        mode = mode % 3;
        bids = new uint256[](n);
        weights = new uint256[](n);
        for (uint256 i = 0; i < n; ++i) {
            if (mode == 0) {
                bids[i] = bound(_logScale(rawBids[i], 96), 0, MAX_BID);
                weights[i] = bound(_logScale(rawWeights[i], 120), 0, MAX_WEIGHT);
            } else if (mode == 1) {
                bids[i] = rawBids[i] % 21;
                weights[i] = rawWeights[i] % 5;
            } else {
                bids[i] = bound(rawBids[i], 1e15, 1e20);
                weights[i] = rawWeights[i] % 7 == 0 ? 0 : bound(rawWeights[i], 1e12, 1e18);
            }
        }
        if (mode == 0) budget = bound(_logScale(rawBudget, 128), 0, MAX_BUDGET);
        else if (mode == 1) budget = rawBudget % 201;
        else budget = bound(rawBudget, 1e18, 1e21);
    }

    /// A value below 2^k for k uniform in [0, maxBits] (k from the low byte, the value from the rest).
    function _logScale(uint256 raw, uint256 maxBits) internal pure returns (uint256) {
        uint256 bits = (raw & 0xff) % (maxBits + 1);
        return (raw >> 8) & ((uint256(1) << bits) - 1);
    }

    /// Strict total order of SPEC §4: b_i/w_i < b_j/w_j by cross-multiplication, ties by index.
    function _before(uint256 i, uint256 j, uint256[] memory bids, uint256[] memory weights)
        internal
        pure
        returns (bool)
    {
        uint256 left = bids[i] * weights[j];
        uint256 right = bids[j] * weights[i];
        return left < right || (left == right && i < j);
    }

    /// Eligible (w > 0) indices sorted by `_before` (selection sort; independent of the heap sort).
    function _order(uint256[] memory bids, uint256[] memory weights, uint256 skip)
        internal
        pure
        returns (uint256[] memory order)
    {
        uint256 m = 0;
        for (uint256 i = 0; i < bids.length; ++i) {
            if (weights[i] > 0 && i != skip) ++m;
        }
        order = new uint256[](m);
        bool[] memory used = new bool[](bids.length);
        for (uint256 t = 0; t < m; ++t) {
            uint256 best = type(uint256).max;
            for (uint256 i = 0; i < bids.length; ++i) {
                if (weights[i] == 0 || i == skip || used[i]) continue;
                if (best == type(uint256).max || _before(i, best, bids, weights)) best = i;
            }
            used[best] = true;
            order[t] = best;
        }
    }

    /// Evaluates the prefix condition at every sorted position, asserts it is prefix-closed (once it
    /// fails it fails for all later providers, as SPEC §4 claims), and returns the winners.
    function _refAllocation(uint256[] memory bids, uint256[] memory weights, uint256 budget)
        internal
        pure
        returns (bool[] memory won)
    {
        uint256[] memory order = _order(bids, weights, type(uint256).max);
        won = new bool[](bids.length);
        uint256 cum = 0;
        bool failed = false;
        for (uint256 t = 0; t < order.length; ++t) {
            uint256 i = order[t];
            cum += weights[i];
            bool ok = bids[i] * cum <= budget * weights[i];
            if (ok) {
                vm.assertFalse(failed, "winner condition is prefix-closed");
                won[i] = true;
            } else {
                failed = true;
            }
        }
    }

    /// p_i = max over r of min(A(r), C(r)), scanning every r (no binary search).
    function _refPayment(uint256[] memory bids, uint256[] memory weights, uint256 budget, uint256 i)
        internal
        pure
        returns (uint256 best)
    {
        uint256[] memory others = _order(bids, weights, i);
        uint256 wi = weights[i];
        uint256 cum = 0;
        for (uint256 r = 0; r <= others.length; ++r) {
            uint256 a = r == others.length ? type(uint256).max : (wi * bids[others[r]]) / weights[others[r]];
            uint256 c = (budget * wi) / (cum + wi);
            uint256 v = a < c ? a : c;
            if (v > best) best = v;
            if (r < others.length) cum += weights[others[r]];
        }
    }

    // ----- small helpers

    function _expect(uint256[] memory p, bool[] memory won, uint256[] memory ep, bool[] memory ew) internal pure {
        vm.assertEq(p.length, ep.length, "length");
        uint256 total = 0;
        for (uint256 i = 0; i < p.length; ++i) {
            vm.assertEq(won[i], ew[i], "winner set");
            vm.assertEq(p[i], ep[i], "payment");
            total += p[i];
        }
    }

    function _arr(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory x) {
        x = new uint256[](3);
        (x[0], x[1], x[2]) = (a, b, c);
    }

    function _arr2(uint256 a, uint256 b) internal pure returns (uint256[] memory x) {
        x = new uint256[](2);
        (x[0], x[1]) = (a, b);
    }

    function _arr4(uint256 a, uint256 b, uint256 c, uint256 d) internal pure returns (uint256[] memory x) {
        x = new uint256[](4);
        (x[0], x[1], x[2], x[3]) = (a, b, c, d);
    }

    function _won(bool a, bool b, bool c) internal pure returns (bool[] memory x) {
        x = new bool[](3);
        (x[0], x[1], x[2]) = (a, b, c);
    }

    function _won2(bool a, bool b) internal pure returns (bool[] memory x) {
        x = new bool[](2);
        (x[0], x[1]) = (a, b);
    }
}
