// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title QMIA — quality-weighted marginal-incentive auction (SPEC §4)
/// @notice Allocation and Myerson critical payments for a budget-feasible procurement auction.
/// @dev Pure integer arithmetic; every division rounds down. `offchain/mechanism/qmia.py` mirrors this
///      library line for line and the two must agree to the wei. Inputs are in "index order" (the
///      order in which providers committed), which also breaks ties in virtual cost.
///      Bounds (enforced by the caller): bids < 2^96, weights <= 1e36, budget < 2^128, n < 2^24,
///      so every product below fits in 256 bits.
library QMIA {
    uint256 internal constant WAD = 1e18;

    /// @notice Weight w_i = q_i * max(Δ_i, 0) / 1e18, the quality-weighted marginal utility.
    function weight(uint256 q, int256 delta) internal pure returns (uint256) {
        if (delta <= 0) return 0;
        return (q * uint256(delta)) / WAD;
    }

    /// @notice Computes winners and critical payments.
    /// @param bids Declared costs b_i, in index order.
    /// @param weights Weights w_i, in index order; providers with w_i = 0 cannot win.
    /// @param budget Budget B.
    /// @return payments Critical payment p_i of each provider (0 for losers).
    /// @return won Whether each provider wins.
    function settle(uint256[] memory bids, uint256[] memory weights, uint256 budget)
        internal
        pure
        returns (uint256[] memory payments, bool[] memory won)
    {
        uint256 n = bids.length;
        payments = new uint256[](n);
        won = new bool[](n);

        // Eligible providers (w > 0) sorted by virtual cost b/w, ties by index.
        uint256[] memory order = _eligible(weights);
        _heapSort(order, bids, weights);
        uint256[] memory prefix = prefixWeights(order, weights);
        uint256 winners = winnerCount(order, prefix, bids, weights, budget);
        for (uint256 s = 0; s < winners; ++s) {
            uint256 i = order[s];
            payments[i] = criticalPayment(order, prefix, bids, weights, budget, s);
            won[i] = true;
        }
    }

    /// @notice prefix[t] = total weight of the first t providers of `order`.
    function prefixWeights(uint256[] memory order, uint256[] memory weights)
        internal
        pure
        returns (uint256[] memory prefix)
    {
        uint256 m = order.length;
        prefix = new uint256[](m + 1);
        for (uint256 s = 0; s < m; ++s) {
            prefix[s + 1] = prefix[s] + weights[order[s]];
        }
    }

    /// @notice Winners: the longest prefix of `order` with b_k * W_k <= B * w_k (once false, false after).
    /// @dev Shared by one-shot and chunked settlement, so both pick the same winners.
    function winnerCount(
        uint256[] memory order,
        uint256[] memory prefix,
        uint256[] memory bids,
        uint256[] memory weights,
        uint256 budget
    ) internal pure returns (uint256 winners) {
        uint256 m = order.length;
        while (winners < m) {
            uint256 i = order[winners];
            if (bids[i] * prefix[winners + 1] > budget * weights[i]) break;
            ++winners;
        }
    }

    /// @dev p = max_r min(A(r), C(r)) over r = 1..m where, with the others sorted without s,
    ///      A(r) = floor(w_s * b'_r / w'_r) (infinite for r = m) rises and
    ///      C(r) = floor(B * w_s / (W'_{r-1} + w_s)) falls; binary search finds the crossing.
    function criticalPayment(
        uint256[] memory order,
        uint256[] memory prefix,
        uint256[] memory bids,
        uint256[] memory weights,
        uint256 budget,
        uint256 s
    ) internal pure returns (uint256) {
        uint256 m = order.length;
        uint256 ws = weights[order[s]];
        // Smallest r in [1, m] with A(r) >= C(r); r = m always qualifies.
        uint256 lo = 1;
        uint256 hi = m;
        while (lo < hi) {
            uint256 mid = (lo + hi) / 2;
            if (_a(order, bids, weights, ws, s, mid) >= _c(prefix, ws, budget, s, mid)) hi = mid;
            else lo = mid + 1;
        }
        uint256 p = _c(prefix, ws, budget, s, lo);
        if (lo > 1) {
            uint256 prev = _a(order, bids, weights, ws, s, lo - 1);
            if (prev > p) p = prev;
        }
        return p;
    }

    /// @dev A(r) for r < m: the r-th other (1-based) is sorted position r-1 if before s, else r.
    function _a(
        uint256[] memory order,
        uint256[] memory bids,
        uint256[] memory weights,
        uint256 ws,
        uint256 s,
        uint256 r
    ) private pure returns (uint256) {
        if (r == order.length) return type(uint256).max;
        uint256 g = order[r - 1 < s ? r - 1 : r];
        return (ws * bids[g]) / weights[g];
    }

    /// @dev C(r) with W'_{r-1} the weight of the first r-1 others.
    function _c(uint256[] memory prefix, uint256 ws, uint256 budget, uint256 s, uint256 r)
        private
        pure
        returns (uint256)
    {
        uint256 others = r - 1 <= s ? prefix[r - 1] : prefix[r] - ws;
        return (budget * ws) / (others + ws);
    }

    function _eligible(uint256[] memory weights) private pure returns (uint256[] memory order) {
        uint256 n = weights.length;
        uint256 m = 0;
        for (uint256 i = 0; i < n; ++i) {
            if (weights[i] > 0) ++m;
        }
        order = new uint256[](m);
        uint256 t = 0;
        for (uint256 i = 0; i < n; ++i) {
            if (weights[i] > 0) order[t++] = i;
        }
    }

    /// @dev Strict total order: b_i / w_i < b_j / w_j by cross-multiplication, ties by index.
    function _less(uint256 i, uint256 j, uint256[] memory bids, uint256[] memory weights) private pure returns (bool) {
        uint256 left = bids[i] * weights[j];
        uint256 right = bids[j] * weights[i];
        return left < right || (left == right && i < j);
    }

    /// @dev In-place heap sort: O(m log m) worst case, no recursion, deterministic.
    function _heapSort(uint256[] memory a, uint256[] memory bids, uint256[] memory weights) private pure {
        uint256 m = a.length;
        if (m < 2) return;
        for (uint256 start = m / 2; start > 0; --start) {
            _siftDown(a, start - 1, m, bids, weights);
        }
        for (uint256 end = m - 1; end > 0; --end) {
            (a[0], a[end]) = (a[end], a[0]);
            _siftDown(a, 0, end, bids, weights);
        }
    }

    function _siftDown(uint256[] memory a, uint256 root, uint256 end, uint256[] memory bids, uint256[] memory weights)
        private
        pure
    {
        while (true) {
            uint256 child = 2 * root + 1;
            if (child >= end) return;
            if (child + 1 < end && _less(a[child], a[child + 1], bids, weights)) ++child;
            if (!_less(a[root], a[child], bids, weights)) return;
            (a[root], a[child]) = (a[child], a[root]);
            root = child;
        }
    }
}
