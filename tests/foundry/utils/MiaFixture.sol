// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MiaAuction} from "../../../contracts/MiaAuction.sol";
import {IMiaAuction} from "../../../contracts/interfaces/IMiaAuction.sol";
import {TestToken} from "../../../contracts/test/TestToken.sol";
import {TestBase} from "./TestBase.sol";
import {QMIAHarness} from "../../../contracts/test/QMIAHarness.sol";
import {ReportSigning} from "./ReportSigning.sol";

/// @notice Shared world for the MiaAuction tests: one deployment, a TestToken, a 3-member oracle
///         committee whose keys the tests hold, a buyer, four providers (the fourth commits and never
///         reveals), an attacker and a relayer, on a fixed schedule.
abstract contract MiaFixture is TestBase {
    address internal constant ETH = address(0);
    uint64 internal constant T0 = 1_700_000_000;
    uint64 internal constant COMMIT_END = T0 + 1 days;
    uint64 internal constant REVEAL_END = T0 + 2 days;
    uint64 internal constant SCORING_END = T0 + 3 days;
    uint64 internal constant REPORT_DEADLINE = SCORING_END - 1;
    uint128 internal constant BUDGET = 10 ether;
    uint128 internal constant DEPOSIT = 0.5 ether;
    uint32 internal constant METHOD = 7;
    uint8 internal constant THRESHOLD = 2;
    uint256 internal constant OUTSIDER_PK = 0xBAD;

    MiaAuction internal auction;
    TestToken internal token;
    QMIAHarness internal qmia;
    uint256 internal chainId0;

    uint256[3] internal oraclePk = [uint256(0xA1), 0xA2, 0xA3];
    address[3] internal oracle;
    address internal buyer;
    address[4] internal provider;
    address internal attacker;
    address internal relayer;
    /// Declared costs b_i of the four providers.
    uint256[4] internal cost = [uint256(1 ether), 2 ether, 4 ether, 1.5 ether];

    // Standard oracle scores for the three revealing providers (18-decimal fixed point).
    // q       oracle 0: 0.9 0.5 1.0   oracle 1: 0.8 0.5 0.2   oracle 2: 1.0 0.6 0.9  -> median 0.9 0.5 0.9
    // delta   oracle 0: 2   4   1     oracle 1: 3  -1   1     oracle 2: 1   5   1    -> median 2   4   1
    uint256[3][3] internal stdQ =
        [[uint256(0.9e18), 0.5e18, 1e18], [uint256(0.8e18), 0.5e18, 0.2e18], [uint256(1e18), 0.6e18, 0.9e18]];
    int256[3][3] internal stdDelta =
        [[int256(2e18), 4e18, 1e18], [int256(3e18), -1e18, 1e18], [int256(1e18), 5e18, 1e18]];

    function setUp() public virtual {
        vm.warp(T0);
        chainId0 = block.chainid;
        auction = _deployAuction();
        token = TestToken(deploy("TestToken.sol:TestToken", abi.encode("Test Token", "TST")));
        qmia = QMIAHarness(deploy("QMIAHarness.sol:QMIAHarness"));
        for (uint256 o = 0; o < 3; ++o) {
            oracle[o] = vm.addr(oraclePk[o]);
        }
        buyer = _named("buyer");
        for (uint256 i = 0; i < 4; ++i) {
            provider[i] = _named(string.concat("provider", vm.toString(i)));
        }
        attacker = _named("attacker");
        relayer = _named("relayer");
        vm.label(address(auction), "MiaAuction");
        vm.label(address(token), "TestToken");
    }

    /// The compiled artifact, not `new MiaAuction()` (see TestBase.deploy).
    function _deployAuction() internal returns (MiaAuction) {
        return MiaAuction(deploy("MiaAuction.sol:MiaAuction"));
    }

    function _named(string memory name) internal returns (address a) {
        a = address(uint160(uint256(keccak256(bytes(name)))));
        vm.label(a, name);
    }

    // ----------------------------------------------------------------- create / commit / reveal

    function _params(address asset, uint128 budget, uint128 deposit)
        internal
        view
        returns (IMiaAuction.AuctionParams memory p)
    {
        address[] memory oracles = new address[](3);
        bytes32[] memory keys = new bytes32[](3);
        for (uint256 o = 0; o < 3; ++o) {
            oracles[o] = oracle[o];
            keys[o] = keccak256(abi.encode("x25519", o));
        }
        p = IMiaAuction.AuctionParams({
            asset: asset,
            budget: budget,
            deposit: deposit,
            commitDeadline: COMMIT_END,
            revealDeadline: REVEAL_END,
            scoringDeadline: SCORING_END,
            maxProviders: 16,
            threshold: THRESHOLD,
            oracles: oracles,
            oracleEncryptionKeys: keys,
            taskHash: keccak256("task: validation set, method, model"),
            methodId: METHOD,
            mechanism: IMiaAuction.Mechanism.QMIA,
            liquidity: 1e18,
            rho: 0,
            modelId: bytes32(0),
            faultTolerance: 0,
            scoreChunk: 0,
            allowlistRoot: bytes32(0)
        });
    }

    /// Gives `who` `amount` more of `asset` and (for tokens) approves the auction for everything.
    function _fund(address asset, address who, uint256 amount) internal {
        if (asset == ETH) {
            vm.deal(who, who.balance + amount);
        } else {
            TestToken(asset).mint(who, amount);
            vm.prank(who);
            TestToken(asset).approve(address(auction), type(uint256).max);
        }
    }

    function _create(address asset) internal returns (uint256 id) {
        return _createWith(auction, asset, BUDGET, DEPOSIT);
    }

    function _createWith(MiaAuction target, address asset, uint128 budget, uint128 deposit)
        internal
        returns (uint256 id)
    {
        IMiaAuction.AuctionParams memory p = _params(asset, budget, deposit);
        if (asset == ETH) {
            vm.deal(buyer, buyer.balance + budget);
            vm.prank(buyer);
            id = target.createAuction{value: budget}(p);
        } else {
            TestToken(asset).mint(buyer, budget);
            vm.prank(buyer);
            TestToken(asset).approve(address(target), type(uint256).max);
            vm.prank(buyer);
            id = target.createAuction(p);
        }
    }

    function _salt(uint256 id, uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encode("salt", id, i));
    }

    /// Dataset roots do not depend on the auction (the replay tests need equal roots in two auctions).
    function _root(uint256 i) internal pure returns (bytes32) {
        return keccak256(abi.encode("datasetRoot", i));
    }

    function _commitment(uint256 id, uint256 i) internal view returns (bytes32) {
        return auction.commitmentOf(id, provider[i], cost[i], _salt(id, i), _root(i));
    }

    function _commit(uint256 id, uint256 i) internal {
        address asset = _asset(id);
        bytes32 c = _commitment(id, i);
        _fund(asset, provider[i], DEPOSIT);
        vm.prank(provider[i]);
        auction.commit{value: asset == ETH ? DEPOSIT : 0}(id, c);
    }

    function _reveal(uint256 id, uint256 i) internal {
        vm.prank(provider[i]);
        auction.reveal(id, cost[i], _salt(id, i), _root(i));
    }

    /// Creates an auction, has all four providers commit and the first three reveal, and moves
    /// time into the scoring window.
    function _toScoring(address asset) internal returns (uint256 id) {
        id = _create(asset);
        for (uint256 i = 0; i < 4; ++i) {
            _commit(id, i);
        }
        vm.warp(COMMIT_END);
        for (uint256 i = 0; i < 3; ++i) {
            _reveal(id, i);
        }
        vm.warp(REVEAL_END);
    }

    function _asset(uint256 id) internal view returns (address) {
        return auction.getAuction(id).asset;
    }

    // ----------------------------------------------------------------- reports

    /// Oracle `o`'s standard report for auction `id` (revealed providers in commit order).
    function _report(uint256 id, uint256 o, uint64 deadline) internal view returns (IMiaAuction.ScoreReport memory r) {
        (address[] memory providers, bytes32[] memory roots) = auction.revealedProviders(id);
        r = ReportSigning.blankReport(id, providers, roots, o, deadline);
        r.methodId = METHOD;
        for (uint256 j = 0; j < providers.length; ++j) {
            r.q[j] = stdQ[o][j];
            r.delta[j] = stdDelta[o][j];
        }
    }

    function _signReport(uint256 pk, IMiaAuction.ScoreReport memory r) internal view returns (bytes memory) {
        return ReportSigning.sign(pk, auction.scoreReportDigest(r));
    }

    /// Standard reports and signatures from the given committee members.
    function _signed(uint256 id, uint256[] memory members)
        internal
        view
        returns (IMiaAuction.ScoreReport[] memory reports, bytes[] memory sigs)
    {
        reports = new IMiaAuction.ScoreReport[](members.length);
        sigs = new bytes[](members.length);
        for (uint256 k = 0; k < members.length; ++k) {
            reports[k] = _report(id, members[k], REPORT_DEADLINE);
            sigs[k] = _signReport(oraclePk[members[k]], reports[k]);
        }
    }

    function _members(uint256 a, uint256 b) internal pure returns (uint256[] memory m) {
        m = new uint256[](2);
        (m[0], m[1]) = (a, b);
    }

    function _members(uint256 a, uint256 b, uint256 c) internal pure returns (uint256[] memory m) {
        m = new uint256[](3);
        (m[0], m[1], m[2]) = (a, b, c);
    }

    function _submitStandard(uint256 id) internal {
        (IMiaAuction.ScoreReport[] memory reports, bytes[] memory sigs) = _signed(id, _members(0, 1, 2));
        vm.prank(relayer);
        auction.postReports(id, 0, reports, sigs);
    }

    /// The weights w_j = q_j·max(Δ_j,0)/1e18 a report implies (what the contract aggregates).
    function _weights(IMiaAuction.ScoreReport memory r) internal view returns (uint256[] memory w) {
        w = new uint256[](r.q.length);
        for (uint256 j = 0; j < w.length; ++j) {
            w[j] = qmia.weight(r.q[j], r.delta[j]);
        }
    }

    /// Aggregates chunk `chunk` of `id` from the reports that were posted for it (any order): their
    /// weights go in committee-slot order, recovered from the signatures.
    function _finalize(uint256 id, uint256 chunk, IMiaAuction.ScoreReport[] memory reports, bytes[] memory sigs)
        internal
    {
        address[] memory committee = auction.oraclesOf(id);
        uint256[][] memory w = new uint256[][](reports.length);
        uint256 t = 0;
        for (uint256 slot = 0; slot < committee.length; ++slot) {
            for (uint256 k = 0; k < reports.length; ++k) {
                if (ReportSigning.recover(auction.scoreReportDigest(reports[k]), sigs[k]) == committee[slot]) {
                    w[t++] = _weights(reports[k]);
                }
            }
        }
        auction.finalizeScores(id, chunk, reports[0].providers, w);
    }

    /// Posts the reports and, unless that already aggregated them (all n posted), closes the scoring
    /// window and aggregates every posted report.
    function _postAndFinalize(uint256 id, IMiaAuction.ScoreReport[] memory reports, bytes[] memory sigs) internal {
        vm.prank(relayer);
        auction.postReports(id, 0, reports, sigs);
        if (auction.phase(id) == IMiaAuction.Phase.Scored) return;
        vm.warp(SCORING_END);
        _finalize(id, 0, reports, sigs);
    }

    // ----------------------------------------------------------------- accounting checks

    function _balance(address asset, address who) internal view returns (uint256) {
        return asset == ETH ? who.balance : TestToken(asset).balanceOf(who);
    }

    /// The escrow invariant of SPEC §3 for both assets of the fixture.
    function _assertEscrow() internal view {
        vm.assertEq(address(auction).balance, auction.totalOwed(ETH), "escrow: ETH balance == totalOwed");
        vm.assertEq(
            token.balanceOf(address(auction)), auction.totalOwed(address(token)), "escrow: token balance == totalOwed"
        );
    }

    /// Fingerprint of every balance, credit and bid the tests can touch (for "nothing changed").
    function _state(uint256 id) internal view returns (bytes32) {
        bytes memory acc = abi.encode(
            address(auction).balance,
            token.balanceOf(address(auction)),
            auction.totalOwed(ETH),
            auction.totalOwed(address(token)),
            auction.auctionCount()
        );
        address[7] memory who = [buyer, provider[0], provider[1], provider[2], provider[3], attacker, relayer];
        for (uint256 k = 0; k < who.length; ++k) {
            acc = abi.encode(
                acc,
                who[k].balance,
                token.balanceOf(who[k]),
                auction.credits(ETH, who[k]),
                auction.credits(address(token), who[k])
            );
        }
        if (id != 0) {
            acc = abi.encode(acc, auction.phase(id), auction.getAuction(id));
            for (uint256 i = 0; i < 4; ++i) {
                acc = abi.encode(acc, auction.getBid(id, provider[i]));
            }
            acc = abi.encode(acc, auction.getBid(id, attacker));
        }
        return keccak256(acc);
    }
}
