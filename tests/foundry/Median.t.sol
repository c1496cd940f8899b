// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./utils/TestBase.sol";
import {QMIAHarness} from "../../contracts/test/QMIAHarness.sol";

/// @notice Median (SPEC §3.4): the lower-middle element of the sorted values, for any k ≤ 32.
contract MedianTest is TestBase {
    uint256 internal constant MAX_K = 32; // MiaAuction.MAX_ORACLES

    QMIAHarness internal h;

    function setUp() public {
        h = QMIAHarness(deploy("QMIAHarness.sol:QMIAHarness"));
    }

    function test_examples() public view {
        uint256[] memory u = new uint256[](1);
        u[0] = 7;
        vm.assertEq(h.medianUint(u), 7, "k=1");

        u = new uint256[](2);
        (u[0], u[1]) = (9, 3);
        vm.assertEq(h.medianUint(u), 3, "k=2: lower middle");

        u = new uint256[](3);
        (u[0], u[1], u[2]) = (1e18, 0.8e18, 0.9e18);
        vm.assertEq(h.medianUint(u), 0.9e18, "k=3");

        u = new uint256[](4);
        (u[0], u[1], u[2], u[3]) = (5, 1, 5, 2);
        vm.assertEq(h.medianUint(u), 2, "k=4: sorted 1,2,5,5 -> 2");

        int256[] memory s = new int256[](4);
        (s[0], s[1], s[2], s[3]) = (int256(3), -7, 0, -1);
        vm.assertEq(h.medianInt(s), -1, "sorted -7,-1,0,3 -> -1");

        s = new int256[](3);
        (s[0], s[1], s[2]) = (type(int256).min, type(int256).max, -1);
        vm.assertEq(h.medianInt(s), -1, "extremes");
    }

    function testFuzz_ofUintIsLowerMiddleOfSortedCopy(uint256[32] memory raw, uint256 k, bool smallValues) public view {
        k = bound(k, 1, MAX_K);
        uint256[] memory v = new uint256[](k);
        for (uint256 i = 0; i < k; ++i) {
            v[i] = smallValues ? raw[i] % 4 : raw[i]; // small values force many duplicates
        }
        uint256[] memory sorted = _sortedCopy(v);
        uint256 m = h.medianUint(v);
        vm.assertEq(m, sorted[(k - 1) / 2], "median == sorted[(k-1)/2]");

        // Order-free characterisation: #{x < m} <= (k-1)/2 < #{x <= m}.
        uint256 below = 0;
        uint256 atMost = 0;
        for (uint256 i = 0; i < k; ++i) {
            if (v[i] < m) ++below;
            if (v[i] <= m) ++atMost;
        }
        vm.assertLe(below, (k - 1) / 2, "rank lower bound");
        vm.assertGt(atMost, (k - 1) / 2, "rank upper bound");
    }

    function testFuzz_ofIntIsLowerMiddleOfSortedCopy(int256[32] memory raw, uint256 k, bool smallValues) public view {
        k = bound(k, 1, MAX_K);
        int256[] memory v = new int256[](k);
        for (uint256 i = 0; i < k; ++i) {
            v[i] = smallValues ? raw[i] % 3 : raw[i]; // in {-2..2}: duplicates and both signs
        }
        int256[] memory sorted = _sortedCopyInt(v);
        int256 m = h.medianInt(v);
        vm.assertEq(m, sorted[(k - 1) / 2], "median == sorted[(k-1)/2]");

        uint256 below = 0;
        uint256 atMost = 0;
        for (uint256 i = 0; i < k; ++i) {
            if (v[i] < m) ++below;
            if (v[i] <= m) ++atMost;
        }
        vm.assertLe(below, (k - 1) / 2, "rank lower bound");
        vm.assertGt(atMost, (k - 1) / 2, "rank upper bound");
    }

    /// The median of k copies of one report is that report (k-of-k honest oracles agree).
    function testFuzz_unanimous(uint256 x, uint256 k) public view {
        k = bound(k, 1, MAX_K);
        uint256[] memory v = new uint256[](k);
        for (uint256 i = 0; i < k; ++i) {
            v[i] = x;
        }
        vm.assertEq(h.medianUint(v), x, "unanimous");
    }

    // Selection sort into a fresh array (a different algorithm from the library's insertion sort).
    function _sortedCopy(uint256[] memory v) internal pure returns (uint256[] memory s) {
        s = new uint256[](v.length);
        for (uint256 i = 0; i < v.length; ++i) {
            s[i] = v[i];
        }
        for (uint256 i = 0; i < s.length; ++i) {
            uint256 min = i;
            for (uint256 j = i + 1; j < s.length; ++j) {
                if (s[j] < s[min]) min = j;
            }
            (s[i], s[min]) = (s[min], s[i]);
        }
    }

    function _sortedCopyInt(int256[] memory v) internal pure returns (int256[] memory s) {
        s = new int256[](v.length);
        for (uint256 i = 0; i < v.length; ++i) {
            s[i] = v[i];
        }
        for (uint256 i = 0; i < s.length; ++i) {
            uint256 min = i;
            for (uint256 j = i + 1; j < s.length; ++j) {
                if (s[j] < s[min]) min = j;
            }
            (s[i], s[min]) = (s[min], s[i]);
        }
    }
}
