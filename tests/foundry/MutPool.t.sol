// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MarginalUtilityToken} from "../../contracts/token/MarginalUtilityToken.sol";
import {AssetTransfer} from "../../contracts/lib/AssetTransfer.sol";
import {TestToken} from "../../contracts/test/TestToken.sol";
import {Vm, VM} from "./utils/Vm.sol";
import {TestBase} from "./utils/TestBase.sol";

/// @notice Random mints, transfers, revenue deposits and claims on one MUT (the handler is its
///         minter). Ghost state keeps, per holder, the sum of its exact pro-rata shares of every
///         deposit rounded down and rounded up, so the invariants can bracket what the pool pays.
contract MutHandler {
    Vm internal constant vm = VM;
    uint256 internal constant N = 5;

    MarginalUtilityToken public immutable mut;
    address[N] public holders;

    mapping(address => uint256) public shareFloor; // Σ floor(amount·balance/supply) over deposits
    mapping(address => uint256) public shareCeil; // Σ ceil(amount·balance/supply) over deposits
    mapping(address => uint256) public claimed;
    uint256 public minted;
    uint256 public deposited;
    uint256 public operations; // each can cost a holder at most one wei of rounding
    uint256 public ghostClaimMismatch; // a claim that paid something other than `claimable`
    mapping(bytes32 => uint256) public calls;

    constructor() {
        mut = new MarginalUtilityToken(
            "MUT", "MUT", address(0), address(this), bytes32("model"), address(this), 1, type(uint128).max
        );
        for (uint256 i = 0; i < N; ++i) {
            holders[i] = address(uint160(uint256(keccak256(abi.encode("holder", i)))));
        }
    }

    function mint(uint256 who, uint256 amount) external {
        amount = 1 + amount % 1e30;
        mut.mint(holders[who % N], amount);
        minted += amount;
        ++operations;
        ++calls["mint"];
    }

    function transfer(uint256 from, uint256 to, uint256 amount) external {
        address a = holders[from % N];
        uint256 bal = mut.balanceOf(a);
        amount = bal == 0 ? 0 : amount % (bal + 1);
        vm.prank(a);
        mut.transfer(holders[to % N], amount);
        ++operations;
        ++calls["transfer"];
    }

    function deposit(uint256 amount) external {
        uint256 supply = mut.totalSupply();
        if (supply == 0) return;
        amount = 1 + amount % 1000 ether;
        for (uint256 i = 0; i < N; ++i) {
            uint256 num = amount * mut.balanceOf(holders[i]);
            shareFloor[holders[i]] += num / supply;
            shareCeil[holders[i]] += (num + supply - 1) / supply;
        }
        vm.deal(address(this), amount);
        mut.depositRevenue{value: amount}(amount);
        deposited += amount;
        ++operations;
        ++calls["deposit"];
    }

    function claim(uint256 who) external {
        address a = holders[who % N];
        uint256 due = mut.claimable(a);
        if (due == 0) return;
        uint256 before = a.balance;
        vm.prank(a);
        mut.claim();
        if (a.balance - before != due || mut.claimable(a) != 0) ++ghostClaimMismatch;
        claimed[a] += due;
        ++operations;
        ++calls["claim"];
    }
}

/// @notice MUT revenue pool: fuzzed unit properties and invariants under random interleavings.
contract MutPoolTest is TestBase {
    MutHandler internal handler;
    MarginalUtilityToken internal mut;

    function setUp() public {
        handler = MutHandler(deploy("MutPool.t.sol:MutHandler"));
        mut = handler.mut();
        targetContract(address(handler));
    }

    /// Minting is the minter's alone.
    function testFuzz_onlyMinterMints(address caller, uint256 amount) public {
        vm.assume(caller != address(handler));
        vm.prank(caller);
        vm.expectRevert(abi.encodeWithSelector(MarginalUtilityToken.NotMinter.selector, caller));
        mut.mint(caller, amount);
    }

    /// Two holders, one deposit: each gets its share rounded down, never more than was deposited.
    function testFuzz_twoHoldersSplitOneDeposit(uint128 a, uint128 b, uint128 amount) public {
        a = uint128(bound(a, 1, type(uint128).max));
        b = uint128(bound(b, 0, type(uint128).max));
        amount = uint128(bound(amount, 1, 1e30));
        handler.mint(0, a - 1);
        if (b > 0) handler.mint(1, b - 1);
        uint256 supply = mut.totalSupply();
        vm.deal(address(this), amount);
        mut.depositRevenue{value: amount}(amount);
        uint256 c0 = mut.claimable(handler.holders(0));
        uint256 c1 = mut.claimable(handler.holders(1));
        vm.assertLe(c0, uint256(amount) * mut.balanceOf(handler.holders(0)) / supply, "holder 0 <= floor share");
        vm.assertLe(c1, uint256(amount) * mut.balanceOf(handler.holders(1)) / supply, "holder 1 <= floor share");
        vm.assertLe(c0 + c1, amount, "claims <= deposit");
        vm.assertGe(c0 + c1 + 2, amount, "at most a wei of dust per holder");
    }

    /// A transfer after a deposit does not move the revenue already earned.
    function testFuzz_transferKeepsEarnedRevenue(uint96 bal, uint96 moved, uint96 amount) public {
        bal = uint96(bound(bal, 1, type(uint96).max));
        amount = uint96(bound(amount, 1, type(uint96).max));
        handler.mint(0, bal - 1);
        vm.deal(address(this), amount);
        mut.depositRevenue{value: amount}(amount);
        address h0 = handler.holders(0);
        address h1 = handler.holders(1);
        uint256 earned = mut.claimable(h0);
        vm.prank(h0);
        mut.transfer(h1, bound(moved, 0, bal));
        vm.assertEq(mut.claimable(h0), earned, "sender keeps what it earned");
        vm.assertEq(mut.claimable(h1), 0, "receiver earns nothing from the past");
    }

    /// Deposits with nobody holding, zero deposits and wrong values are refused.
    function test_depositRejections() public {
        vm.deal(address(this), 10 ether);
        vm.expectRevert(MarginalUtilityToken.NoHolders.selector);
        mut.depositRevenue{value: 1}(1);
        handler.mint(0, 5);
        vm.expectRevert(MarginalUtilityToken.ZeroAmount.selector);
        mut.depositRevenue(0);
        vm.expectRevert(abi.encodeWithSelector(AssetTransfer.WrongPaymentValue.selector, 2, 1));
        mut.depositRevenue{value: 1}(2);
        vm.expectRevert(abi.encodeWithSelector(MarginalUtilityToken.NothingToClaim.selector, address(this)));
        mut.claim();
        vm.assertEq(address(mut).balance, 0, "nothing moved");
    }

    /// ERC-20 revenue: the pool credits exactly what arrived.
    function testFuzz_erc20Revenue(uint96 amount) public {
        amount = uint96(bound(amount, 2, type(uint96).max)); // 1 wei over 3 tokens is all dust
        TestToken usd = TestToken(deploy("TestToken.sol:TestToken", abi.encode("USD", "USD")));
        MarginalUtilityToken t =
            new MarginalUtilityToken("M", "M", address(usd), address(this), bytes32(0), address(this), 1, 3);
        t.mint(address(0xBEEF), 3);
        usd.mint(address(this), amount);
        usd.approve(address(t), amount);
        t.depositRevenue(amount);
        uint256 due = t.claimable(address(0xBEEF));
        vm.assertLe(due, amount, "never more than deposited");
        vm.assertGe(due + 1, amount, "a single holder loses at most one wei to rounding");
        vm.prank(address(0xBEEF));
        t.claim();
        vm.assertEq(usd.balanceOf(address(0xBEEF)), due, "paid in the asset");
        vm.assertEq(usd.balanceOf(address(t)), amount - due, "only the dust stays");
        vm.assertEq(t.unclaimed(), amount - due, "dust is tracked");
    }

    // ------------------------------------------------------------------ invariants

    /// No holder has ever been credited more than the sum of its rounded-up shares, nor lost more
    /// than one wei per operation against its rounded-down shares.
    function invariant_noHolderClaimsMoreThanItsShare() public view {
        uint256 ops = handler.operations();
        for (uint256 i = 0; i < 5; ++i) {
            address h = handler.holders(i);
            uint256 total = handler.claimed(h) + mut.claimable(h);
            vm.assertLe(total, handler.shareCeil(h), "claimed + claimable <= share");
            vm.assertGe(total + ops + 1, handler.shareFloor(h), "rounding loses at most a wei per operation");
        }
        vm.assertEq(handler.ghostClaimMismatch(), 0, "claims pay exactly claimable");
    }

    /// The pool holds everything deposited and not yet claimed, which covers every entitlement.
    function invariant_poolCoversUnclaimedEntitlements() public view {
        uint256 owed = 0;
        for (uint256 i = 0; i < 5; ++i) {
            owed += mut.claimable(handler.holders(i));
        }
        vm.assertEq(address(mut).balance, mut.totalDeposited() - mut.totalClaimed(), "balance == unclaimed");
        vm.assertGe(address(mut).balance, owed, "balance >= entitlements");
        vm.assertEq(mut.totalDeposited(), handler.deposited(), "deposits recorded");
    }

    /// Supply is exactly what was minted (transfers and claims never mint or burn).
    function invariant_supplyEqualsMints() public view {
        vm.assertEq(mut.totalSupply(), handler.minted(), "supply == sum of mints");
    }
}
