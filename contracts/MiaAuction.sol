// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

import {IMiaAuction} from "./interfaces/IMiaAuction.sol";
import {QMIA} from "./mechanism/QMIA.sol";
import {Fairshare} from "./mechanism/Fairshare.sol";
import {MixedMIA} from "./mechanism/MixedMIA.sol";
import {MarginalUtilityToken} from "./token/MarginalUtilityToken.sol";
import {MutFactory} from "./token/MutFactory.sol";
import {Median} from "./lib/Median.sol";
import {ScoreReportHashing} from "./oracle/ScoreReportHashing.sol";

/// @title MiaAuction
/// @notice Sealed-bid (commit-reveal) procurement auctions for training data, settled on-chain with
///         the Q-MIA mechanism from oracle-committee scores. Many auctions live in one deployment.
///         Large auctions (up to MAX_PROVIDERS) are scored and settled in chunks: `submitScoreChunk`,
///         then `orderForSettlement` and `settleChunk`, each resumable by anyone, with the same result
///         as the one-shot `submitScores` and `settle`.
/// @dev Escrow invariant: for every asset, `totalOwed[asset]` is the sum of unsettled budgets,
///      unreturned deposits and unwithdrawn credits, and this contract's balance is at least that. The
///      accounting never reads the balance (ERC-20 inflows are measured as differences), so a forced send
///      (SELFDESTRUCT, a plain token transfer) only leaves a surplus nobody can withdraw. All payouts are
///      pull-based.
contract MiaAuction is IMiaAuction, ScoreReportHashing, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Largest committee an auction may name (bounds median and signature loops).
    uint256 public constant MAX_ORACLES = 32;
    /// @notice Largest number of providers an auction may accept (bounds settlement loops).
    uint32 public constant MAX_PROVIDERS = 1000;
    /// @notice Upper bound of a quality score: 1.0 in 18-decimal fixed point.
    uint256 public constant MAX_QUALITY = 1e18;
    /// @notice Bound on |Δ| in 18-decimal fixed point; keeps every mechanism product in 256 bits.
    int256 public constant MAX_ABS_DELTA = 1e36;
    /// @notice Scoring round of every report in this version (one scoring round per auction).
    uint32 public constant SCORING_ROUND = 1;
    /// @notice Open auctions need deposit * maxProviders >= budget / MIN_SLOT_BOND_DIVISOR (rounded up per
    ///         slot): a Sybil filling every slot with junk forfeits at least 1% of the budget to the buyer.
    uint256 public constant MIN_SLOT_BOND_DIVISOR = 100;
    uint256 internal constant WAD = 1e18;

    enum Status {
        None,
        Open,
        Scored,
        Settled,
        Cancelled
    }

    struct Auction {
        address buyer;
        uint64 commitDeadline;
        uint32 nCommitted;
        address asset;
        uint64 revealDeadline;
        uint32 nRevealed;
        uint128 budget;
        uint128 deposit;
        uint64 scoringDeadline;
        uint32 maxProviders;
        uint32 methodId;
        uint8 threshold;
        uint8 nOracles;
        Status status;
        bytes32 taskHash;
        Mechanism mechanism;
        uint64 liquidity; // λ, 18 decimals: share of each payment made in cash
        address mutToken; // MUT minted to winners when λ < 1 (zero otherwise)
        uint128 rho; // Fairshare price per unit of utility
        uint128 cashEscrow; // cash the buyer escrowed: floor(λ·B) for the MIA family, B for Fairshare
        bytes32 allowlistRoot; // 0 = open to anyone; else the Merkle root of the admitted providers
    }

    /// @dev Three slots. The first holds the sealed commitment until the reveal, which overwrites it with
    ///      the revealed dataset root (the commitment is then spent; `BidCommitted` keeps it for audits):
    ///      a reveal writes no new slot.
    struct Bid {
        bytes32 datasetRoot; // the commitment while unrevealed, the revealed dataset root after
        uint96 cost;
        uint32 index; // 1-based commit order; 0 = never committed
        bool revealed;
        uint64 q; // median quality, set when scores are accepted
        int128 delta; // median marginal utility, set when scores are accepted
        bool depositRefunded; // the deposit was credited back (see refundDeposit)
    }

    /// @dev Progress of chunked scoring and settlement of one auction.
    struct Progress {
        uint32 scored; // revealed providers holding medians
        uint32 scorePos; // commit index of the last provider scored
        uint32 eligible; // scored providers with weight > 0: the length of the settlement order
        uint32 ordered; // entries of the settlement order verified so far
        uint32 paid; // entries of the settlement order paid out so far
        uint32 winners; // Payment events emitted so far
        uint128 lastWeight; // weight of the last ordered entry
        uint256 lastEntry; // last ordered entry: commit index << 240 | bid << 144 | running weight
        bytes32 orderHash; // hash chain over the ordered entries
        uint256 fairTotal; // Fairshare: sum of the posted values of the ordered entries
        uint128 totalCash;
        uint128 totalMut;
    }

    /// @notice Number of auctions created; ids run from 1 to `auctionCount`.
    uint256 public auctionCount;
    /// @notice Everything this contract owes, per asset (address(0) = ETH).
    mapping(address asset => uint256) public totalOwed;
    /// @notice Withdrawable balance of each account, per asset.
    mapping(address asset => mapping(address account => uint256)) public credits;

    mapping(uint256 auctionId => Auction) internal _auctions;
    mapping(uint256 auctionId => address[]) internal _providers;
    // Written through storage pointers (commit, reveal, scoring), which the detector does not follow.
    // slither-disable-next-line uninitialized-state
    mapping(uint256 auctionId => mapping(address provider => Bid)) internal _bids;
    mapping(uint256 auctionId => mapping(address oracle => uint256)) internal _oracleSlot; // index + 1
    mapping(uint256 auctionId => address[]) internal _oracles;
    // slither-disable-next-line uninitialized-state
    mapping(uint256 auctionId => Progress) internal _progress;

    /// @notice Deploys every MUT token of this auction contract (keeps their code out of this one).
    MutFactory public immutable mutFactory;

    constructor() {
        mutFactory = new MutFactory();
    }

    // ------------------------------------------------------------------ create

    /// @notice Creates an auction and escrows its budget in the same transaction.
    /// @dev For ETH send exactly `budget` as value; for an ERC-20 approve `budget` first. Tokens that
    ///      deliver less than requested (fee-on-transfer) are rejected.
    /// @return auctionId The new auction's id.
    function createAuction(AuctionParams calldata p) external payable nonReentrant returns (uint256 auctionId) {
        if (
            p.commitDeadline <= block.timestamp || p.revealDeadline <= p.commitDeadline
                || p.scoringDeadline <= p.revealDeadline
        ) revert InvalidSchedule();
        uint256 nOracles = p.oracles.length;
        if (
            nOracles == 0 || nOracles > MAX_ORACLES || p.threshold == 0 || p.threshold > nOracles
                || p.oracleEncryptionKeys.length != nOracles
        ) revert InvalidCommittee();
        if (p.budget == 0 || p.maxProviders == 0 || p.maxProviders > MAX_PROVIDERS) revert InvalidParameter();
        if (p.allowlistRoot == 0) {
            uint256 minDeposit = minimumDeposit(p.budget, p.maxProviders);
            if (p.deposit < minDeposit) revert DepositTooLow(minDeposit);
        }
        (uint64 liquidity, uint256 cashEscrow) = _mechanismTerms(p);

        auctionId = ++auctionCount;
        for (uint256 i = 0; i < nOracles; ++i) {
            address oracle = p.oracles[i];
            if (oracle == address(0) || _oracleSlot[auctionId][oracle] != 0) revert InvalidCommittee();
            _oracleSlot[auctionId][oracle] = i + 1;
        }
        _oracles[auctionId] = p.oracles;
        _auctions[auctionId] = Auction({
            buyer: msg.sender,
            commitDeadline: p.commitDeadline,
            nCommitted: 0,
            asset: p.asset,
            revealDeadline: p.revealDeadline,
            nRevealed: 0,
            budget: p.budget,
            deposit: p.deposit,
            scoringDeadline: p.scoringDeadline,
            maxProviders: p.maxProviders,
            methodId: p.methodId,
            threshold: p.threshold,
            nOracles: uint8(nOracles),
            status: Status.Open,
            taskHash: p.taskHash,
            mechanism: p.mechanism,
            liquidity: liquidity,
            mutToken: address(0),
            rho: p.rho,
            cashEscrow: uint128(cashEscrow),
            allowlistRoot: p.allowlistRoot
        });
        // One MUT per auction, capped at the budget (its payments, cash and MUT, add up to at most B):
        // no other auction can mint into it. The factory is this contract's own immutable deployment,
        // and this function holds the lock.
        address mut = address(0);
        if (liquidity < WAD) {
            // slither-disable-next-line reentrancy-no-eth,reentrancy-benign
            mut = mutFactory.create(p.asset, msg.sender, p.modelId, auctionId, p.budget);
            _auctions[auctionId].mutToken = mut;
        }
        _collect(p.asset, cashEscrow);
        emit AuctionCreated(
            auctionId,
            msg.sender,
            p.asset,
            p.budget,
            p.deposit,
            p.commitDeadline,
            p.revealDeadline,
            p.scoringDeadline,
            p.maxProviders,
            p.threshold,
            p.oracles,
            p.oracleEncryptionKeys,
            p.taskHash,
            p.methodId
        );
        emit MechanismConfigured(auctionId, p.mechanism, liquidity, p.rho, cashEscrow, mut);
        if (p.allowlistRoot != 0) emit AllowlistSet(auctionId, p.allowlistRoot);
    }

    /// @notice Smallest deposit an auction open to anyone may ask: ceil(budget / (100 * maxProviders)),
    ///         so that the deposits of all slots together are at least 1% of the budget.
    function minimumDeposit(uint256 budget, uint256 maxProviders) public pure returns (uint256) {
        uint256 d = MIN_SLOT_BOND_DIVISOR * maxProviders;
        return (budget + d - 1) / d;
    }

    /// @dev λ and the cash escrow each mechanism implies; rejects inconsistent parameters.
    function _mechanismTerms(AuctionParams calldata p) internal pure returns (uint64 liquidity, uint256 cashEscrow) {
        if (p.mechanism == Mechanism.QMIA) {
            liquidity = uint64(WAD);
        } else if (p.mechanism == Mechanism.MixedMIA) {
            if (p.liquidity > WAD) revert InvalidParameter();
            liquidity = p.liquidity;
        } else if (p.mechanism == Mechanism.MUT) {
            liquidity = 0;
        } else {
            if (p.rho == 0) revert InvalidParameter();
            return (uint64(WAD), p.budget);
        }
        cashEscrow = MixedMIA.cashEscrow(p.budget, liquidity);
    }

    // ------------------------------------------------------------------ commit / reveal

    /// @notice The commitment a provider posts: binds chain, contract, auction and the sender.
    function commitmentOf(
        uint256 auctionId,
        address provider,
        uint256 cost,
        bytes32 salt,
        bytes32 datasetRoot
    ) public view returns (bytes32) {
        return keccak256(abi.encode(block.chainid, address(this), auctionId, provider, cost, salt, datasetRoot));
    }

    /// @notice Posts a sealed bid with the fixed deposit (ETH value, or an approved ERC-20 amount), in an
    ///         auction open to anyone.
    function commit(uint256 auctionId, bytes32 commitment) external payable nonReentrant {
        Auction storage a = _open(auctionId, Phase.Commit);
        if (a.allowlistRoot != 0) revert InvitationRequired(auctionId);
        _commit(auctionId, a, commitment);
    }

    /// @notice Posts a sealed bid in an auction that admits only listed providers: `proof` shows that the
    ///         sender is a leaf of the auction's allowlist tree (OpenZeppelin standard, sorted pairs).
    function commitInvited(uint256 auctionId, bytes32 commitment, bytes32[] calldata proof)
        external
        payable
        nonReentrant
    {
        Auction storage a = _open(auctionId, Phase.Commit);
        bytes32 root = a.allowlistRoot;
        bytes32 leaf = keccak256(bytes.concat(keccak256(abi.encode(msg.sender))));
        if (root == 0 || !MerkleProof.verifyCalldata(proof, root, leaf)) revert NotInvited(msg.sender);
        _commit(auctionId, a, commitment);
    }

    function _commit(uint256 auctionId, Auction storage a, bytes32 commitment) internal {
        if (commitment == bytes32(0)) revert ZeroCommitment();
        Bid storage bid = _bids[auctionId][msg.sender];
        if (bid.index != 0) revert AlreadyCommitted(msg.sender);
        if (a.nCommitted >= a.maxProviders) revert TooManyProviders(a.maxProviders);
        uint32 index = ++a.nCommitted;
        bid.datasetRoot = commitment; // the seal, until the reveal replaces it with the dataset root
        bid.index = index;
        _providers[auctionId].push(msg.sender);
        _collect(a.asset, a.deposit);
        emit BidCommitted(auctionId, msg.sender, commitment, index);
    }

    /// @notice Opens the caller's own commitment. The deposit stays in escrow until the auction ends: see
    ///         `refundDeposit`.
    function reveal(uint256 auctionId, uint256 cost, bytes32 salt, bytes32 datasetRoot) external {
        Auction storage a = _open(auctionId, Phase.Reveal);
        Bid storage bid = _bids[auctionId][msg.sender];
        if (bid.index == 0) revert NotCommitted(msg.sender);
        if (bid.revealed) revert AlreadyRevealed(msg.sender);
        if (commitmentOf(auctionId, msg.sender, cost, salt, datasetRoot) != bid.datasetRoot) {
            revert CommitmentMismatch(msg.sender);
        }
        if (cost > type(uint96).max) revert CostOutOfRange(cost);
        if (datasetRoot == bytes32(0)) revert ZeroDatasetRoot();
        bid.revealed = true;
        bid.cost = uint96(cost);
        bid.datasetRoot = datasetRoot;
        ++a.nRevealed;
        emit BidRevealed(auctionId, msg.sender, cost, salt, datasetRoot);
    }

    // ------------------------------------------------------------------ scoring

    /// @notice Accepts k or more signed oracle reports and stores each provider's median score.
    /// @dev Anyone may relay. Reports must come from distinct committee members, carry low-s
    ///      signatures over this chain and contract, name this auction, round and method, be
    ///      unexpired, list the revealed providers and dataset roots in commit order, and keep every
    ///      value in bounds.
    function submitScores(uint256 auctionId, ScoreReport[] calldata reports, bytes[] calldata signatures) external {
        _acceptScores(auctionId, reports, signatures, false);
    }

    /// @notice Accepts scores for the next run of revealed providers, for auctions too large for one
    ///         transaction. A chunk's reports are ordinary signed reports listing the next revealed
    ///         providers (commit order, none skipped) after those already scored; the last chunk
    ///         finalizes the scores exactly as `submitScores` would.
    function submitScoreChunk(uint256 auctionId, ScoreReport[] calldata reports, bytes[] calldata signatures)
        external
    {
        _acceptScores(auctionId, reports, signatures, true);
    }

    function _acceptScores(
        uint256 auctionId,
        ScoreReport[] calldata reports,
        bytes[] calldata signatures,
        bool chunk
    ) internal {
        Auction storage a = _open(auctionId, Phase.Scoring);
        uint256 count = reports.length;
        if (count < a.threshold || count > a.nOracles) revert ReportCountOutOfRange(count, a.threshold, a.nOracles);
        if (signatures.length != count) revert SignatureCountMismatch(count, signatures.length);

        Progress storage g = _progress[auctionId];
        uint256 n = a.nRevealed;
        uint256 len = reports[0].providers.length;
        if (!chunk && g.scored != 0) revert ScoresInProgress(auctionId, g.scored);
        if (chunk ? len == 0 || g.scored + len > n : len != n) revert ReportLengthMismatch(0);
        g.scorePos = uint32(_checkProviders(auctionId, reports[0], g.scorePos, len, chunk));
        _verifyReports(a, auctionId, reports, signatures, len);

        uint256[] memory qs = new uint256[](count);
        int256[] memory ds = new int256[](count);
        uint256 eligible = 0;
        for (uint256 j = 0; j < len; ++j) {
            for (uint256 r = 0; r < count; ++r) {
                qs[r] = reports[r].q[j];
                ds[r] = reports[r].delta[j];
            }
            Bid storage bid = _bids[auctionId][reports[0].providers[j]];
            uint256 q = Median.ofUint(qs);
            int256 d = Median.ofInt(ds);
            bid.q = uint64(q);
            bid.delta = int128(d);
            if (QMIA.weight(q, d) > 0) ++eligible;
        }
        uint256 scored = g.scored + len;
        g.scored = uint32(scored);
        g.eligible += uint32(eligible);
        if (chunk) emit ScoreChunkAccepted(auctionId, scored, n, count);
        if (scored == n) {
            a.status = Status.Scored;
            emit ScoresFinalized(auctionId, SCORING_ROUND, count);
        }
    }

    /// @dev Checks every report and signature; the signers must be distinct committee members.
    function _verifyReports(
        Auction storage a,
        uint256 auctionId,
        ScoreReport[] calldata reports,
        bytes[] calldata signatures,
        uint256 n
    ) internal {
        bytes32 providersHash = hashWords(reports[0].providers);
        bytes32 rootsHash = hashWords(reports[0].datasetRoots);
        uint256 seen = 0; // bitmap of committee slots
        for (uint256 r = 0; r < reports.length; ++r) {
            ScoreReport calldata report = reports[r];
            _checkReport(a, auctionId, report, r, n);
            if (r != 0) {
                if (hashWords(report.providers) != providersHash) revert ProviderMismatch(r, 0);
                if (hashWords(report.datasetRoots) != rootsHash) revert DatasetRootMismatch(r, 0);
            }
            bytes32 digest = _scoreReportDigest(report, providersHash, rootsHash);
            (address signer, uint256 slot) = _recoverMember(auctionId, digest, signatures[r], r);
            uint256 bit = 1 << slot;
            if (seen & bit != 0) revert DuplicateSigner(signer);
            seen |= bit;
            emit ReportAccepted(auctionId, signer, report.round, digest, report.transcriptHash, report.q, report.delta);
        }
    }

    /// @dev Recovers a low-s signer (OpenZeppelin rejects malleable signatures) that sits on the committee.
    function _recoverMember(uint256 auctionId, bytes32 digest, bytes calldata signature, uint256 r)
        internal
        view
        returns (address signer, uint256 slot)
    {
        ECDSA.RecoverError err;
        // The third value only details `err`, which is checked.
        // slither-disable-next-line unused-return
        (signer, err,) = ECDSA.tryRecoverCalldata(digest, signature);
        if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(r);
        slot = _oracleSlot[auctionId][signer];
        if (slot == 0) revert NotOracle(signer);
    }

    function _checkReport(Auction storage a, uint256 auctionId, ScoreReport calldata report, uint256 r, uint256 n)
        internal
        view
    {
        if (report.auctionId != auctionId) revert ReportAuctionMismatch(r, report.auctionId);
        if (report.round != SCORING_ROUND) revert ReportRoundMismatch(r, report.round);
        if (report.methodId != a.methodId) revert ReportMethodMismatch(r, report.methodId);
        if (report.deadline < block.timestamp) revert ReportExpired(r, report.deadline);
        if (
            report.providers.length != n || report.q.length != n || report.delta.length != n
                || report.datasetRoots.length != n
        ) revert ReportLengthMismatch(r);
        for (uint256 j = 0; j < n; ++j) {
            int256 d = report.delta[j];
            if (report.q[j] > MAX_QUALITY || d > MAX_ABS_DELTA || d < -MAX_ABS_DELTA) revert ScoreOutOfBounds(r, j);
        }
    }

    /// @dev The report must list revealed providers in commit order, with their roots, after commit
    ///      index `lastIndex`; a chunk must also skip no revealed provider. (A full report needs no gap
    ///      check: n strictly increasing revealed providers are all of them.)
    /// @return The commit index of the last provider listed.
    function _checkProviders(uint256 auctionId, ScoreReport calldata report, uint256 lastIndex, uint256 n, bool chunk)
        internal
        view
        returns (uint256)
    {
        if (report.datasetRoots.length != n) revert ReportLengthMismatch(0);
        address[] storage all = _providers[auctionId];
        for (uint256 j = 0; j < n; ++j) {
            Bid storage bid = _bids[auctionId][report.providers[j]];
            uint256 index = bid.index;
            if (!bid.revealed || index <= lastIndex) revert ProviderMismatch(0, j);
            if (chunk) {
                for (uint256 k = lastIndex; k + 1 < index; ++k) {
                    if (_bids[auctionId][all[k]].revealed) revert ProviderMismatch(0, j);
                }
            }
            if (bid.datasetRoot != report.datasetRoots[j]) revert DatasetRootMismatch(0, j);
            lastIndex = index;
        }
        return lastIndex;
    }

    // ------------------------------------------------------------------ settle / cancel

    /// @notice Computes Q-MIA winners and critical payments from revealed bids and median scores and
    ///         credits them; the unspent budget and forfeited deposits are credited to the buyer.
    /// @dev Callable by anyone once scores are in, or after the reveal deadline if nobody revealed.
    function settle(uint256 auctionId) external {
        Auction storage a = _settleable(auctionId);
        Progress storage g = _progress[auctionId];
        if (g.paid != 0) revert SettlementInProgress(auctionId, g.paid);

        address[] storage providers = _providers[auctionId];
        uint256 nAll = providers.length;
        uint256 n = a.nRevealed;
        address[] memory revealed = new address[](n);
        uint256[] memory bids = new uint256[](n);
        uint256[] memory weights = new uint256[](n);
        uint256 t = 0;
        for (uint256 i = 0; i < nAll; ++i) {
            Bid storage bid = _bids[auctionId][providers[i]];
            if (!bid.revealed) continue;
            revealed[t] = providers[i];
            bids[t] = bid.cost;
            weights[t] = QMIA.weight(bid.q, bid.delta);
            ++t;
        }

        (uint256[] memory payments, bool[] memory won) = a.mechanism == Mechanism.Fairshare
            ? Fairshare.settle(bids, weights, a.rho, a.budget)
            : QMIA.settle(bids, weights, a.budget);
        address mut = a.mutToken;
        for (uint256 i = 0; i < n; ++i) {
            if (won[i]) _payOne(auctionId, a, g, mut, revealed[i], payments[i]);
        }
        _finishSettlement(auctionId, a, g);
    }

    /// @notice Verifies the next chunk of the settlement order: the commit indices of the eligible
    ///         providers (weight > 0) ascending in virtual cost b/w, ties by index — the order one-shot
    ///         settlement sorts into. Anyone may call; the order is unique, so a wrong chunk reverts.
    /// @dev Folds each entry (commit index << 240 | bid << 144 | running weight) into a hash chain that
    ///      `settleChunk` checks its calldata against, so the order is never stored.
    function orderForSettlement(uint256 auctionId, uint256[] calldata indices) external {
        Auction storage a = _auctions[auctionId];
        Phase current = _phase(auctionId, a);
        if (current != Phase.Scored) revert WrongPhase(auctionId, current);
        Progress storage g = _progress[auctionId];
        uint256 s = g.ordered;
        if (s + indices.length > g.eligible) revert SettlementOrderMismatch(g.eligible);
        uint256 last = g.lastEntry;
        uint256 lastWeight = g.lastWeight;
        bytes32 h = g.orderHash;
        uint256 fairTotal = g.fairTotal;
        uint256 rho = a.rho;
        for (uint256 k = 0; k < indices.length; ++k) {
            uint256 index = indices[k];
            if (index == 0 || index > a.nCommitted) revert SettlementOrderMismatch(s + k);
            Bid storage bid = _bids[auctionId][_providers[auctionId][index - 1]];
            uint256 w = QMIA.weight(bid.q, bid.delta);
            uint256 cost = bid.cost;
            if (!bid.revealed || w == 0) revert SettlementOrderMismatch(s + k);
            if (s + k > 0) {
                uint256 left = uint96(last >> 144) * w;
                uint256 right = cost * lastWeight;
                if (left > right || (left == right && (last >> 240) >= index)) revert SettlementOrderMismatch(s + k);
            }
            last = (index << 240) | (cost << 144) | (uint144(last) + w);
            lastWeight = w;
            h = keccak256(abi.encode(h, last));
            fairTotal += Fairshare.value(w, rho);
        }
        s += indices.length;
        g.ordered = uint32(s);
        g.lastEntry = last;
        g.lastWeight = uint128(lastWeight);
        g.orderHash = h;
        g.fairTotal = fairTotal;
        emit SettlementOrdered(auctionId, s, g.eligible, h);
    }

    /// @notice Pays up to `maxPayments` more entries of the verified settlement order and, after the
    ///         last, credits the buyer's refund exactly as `settle` does. `entries` is the whole order
    ///         as `orderForSettlement` hashed it. Anyone may call.
    function settleChunk(uint256 auctionId, uint256[] calldata entries, uint256 maxPayments) external {
        Auction storage a = _settleable(auctionId);
        Progress storage g = _progress[auctionId];
        uint256 m = g.eligible;
        if (g.ordered != m) revert SettlementOrderIncomplete(g.ordered, m);
        if (entries.length != m) revert SettlementOrderMismatch(entries.length);

        uint256[] memory order = new uint256[](m);
        uint256[] memory bids = new uint256[](m);
        uint256[] memory weights = new uint256[](m);
        uint256[] memory prefix = new uint256[](m + 1);
        bytes32 h = 0;
        for (uint256 s = 0; s < m; ++s) {
            uint256 e = entries[s];
            h = keccak256(abi.encode(h, e));
            order[s] = s;
            bids[s] = uint96(e >> 144);
            prefix[s + 1] = uint144(e);
            weights[s] = prefix[s + 1] - prefix[s];
        }
        if (h != g.orderHash) revert SettlementOrderMismatch(m);

        bool fair = a.mechanism == Mechanism.Fairshare;
        uint256 limit = fair ? m : QMIA.winnerCount(order, prefix, bids, weights, a.budget);
        uint256 from = g.paid;
        uint256 to = from + maxPayments < limit ? from + maxPayments : limit;
        address mut = a.mutToken;
        for (uint256 s = from; s < to; ++s) {
            uint256 payment;
            if (fair) {
                payment = Fairshare.price(Fairshare.value(weights[s], a.rho), g.fairTotal, a.budget);
                if (payment == 0 || bids[s] > payment) continue;
            } else {
                payment = QMIA.criticalPayment(order, prefix, bids, weights, a.budget, s);
            }
            _payOne(auctionId, a, g, mut, _providers[auctionId][(entries[s] >> 240) - 1], payment);
        }
        g.paid = uint32(to);
        if (to == limit) _finishSettlement(auctionId, a, g);
    }

    /// @notice Chunked scoring and settlement progress of an auction.
    function settlementProgress(uint256 auctionId) external view returns (Progress memory) {
        return _progress[auctionId];
    }

    /// @dev The auction if it may be settled now: scored, or nobody revealed and the reveal phase is over.
    function _settleable(uint256 auctionId) internal view returns (Auction storage a) {
        a = _auctions[auctionId];
        Phase current = _phase(auctionId, a);
        bool nobodyRevealed = a.nRevealed == 0 && (current == Phase.Scoring || current == Phase.Expired);
        if (current != Phase.Scored && !nobodyRevealed) revert WrongPhase(auctionId, current);
    }

    /// @dev Credits λ·p in cash and mints the rest in MUT to one winner.
    function _payOne(
        uint256 auctionId,
        Auction storage a,
        Progress storage g,
        address mut,
        address provider,
        uint256 payment
    ) internal {
        (uint256 cash, uint256 minted) = MixedMIA.split(payment, a.liquidity);
        g.totalCash += uint128(cash);
        g.totalMut += uint128(minted);
        ++g.winners;
        credits[a.asset][provider] += cash;
        // The auction's own MUT: `_mint` has no receiver hook, so no code of others runs here.
        // slither-disable-next-line reentrancy-no-eth,reentrancy-events,calls-loop
        if (minted > 0) MarginalUtilityToken(mut).mint(provider, minted);
        emit Payment(auctionId, provider, cash, minted);
    }

    /// @dev Credits the unspent cash escrow and the forfeited deposits to the buyer; closes the auction.
    ///      Forfeited: every deposit but those of the scored providers with weight > 0 (`eligible`), that is
    ///      the deposits of non-revealers and of revealed providers whose aggregated weight is 0.
    function _finishSettlement(uint256 auctionId, Auction storage a, Progress storage g) internal {
        uint256 forfeited = uint256(a.nCommitted - g.eligible) * a.deposit;
        uint256 totalCash = g.totalCash;
        uint256 refund = a.cashEscrow - totalCash + forfeited;
        credits[a.asset][a.buyer] += refund;
        a.status = Status.Settled;
        emit AuctionSettled(auctionId, g.winners, totalCash, g.totalMut, forfeited, refund);
    }

    /// @notice Cancels an auction: by anyone once the scoring deadline has passed without scores, or
    ///         by the buyer before anyone committed. The budget and the deposits of non-revealers go back
    ///         to the buyer; revealed providers get theirs through `refundDeposit`.
    function cancel(uint256 auctionId) external {
        Auction storage a = _auctions[auctionId];
        Phase current = _phase(auctionId, a);
        bool expired = current == Phase.Expired;
        bool buyerEarly = msg.sender == a.buyer && a.nCommitted == 0 && current == Phase.Commit;
        if (!expired && !buyerEarly) revert CannotCancel(auctionId, current);
        uint256 forfeited = uint256(a.nCommitted - a.nRevealed) * a.deposit;
        uint256 refund = uint256(a.cashEscrow) + forfeited;
        credits[a.asset][a.buyer] += refund;
        a.status = Status.Cancelled;
        emit AuctionCancelled(auctionId, msg.sender, forfeited, refund);
    }

    /// @notice Credits a revealed provider's deposit back once the auction has ended: after settlement if
    ///         its aggregated weight is > 0, after a cancel in every case. Anyone may call (for example a
    ///         keeper); the credit goes to `provider`. Deposits of weight-0 providers were forfeited to
    ///         the buyer at settlement, so a slot squatter's junk bid costs it the deposit.
    function refundDeposit(uint256 auctionId, address provider) external {
        Auction storage a = _auctions[auctionId];
        Phase current = _phase(auctionId, a);
        Bid storage bid = _bids[auctionId][provider];
        uint256 amount = a.deposit;
        bool ended = current == Phase.Cancelled || (current == Phase.Settled && QMIA.weight(bid.q, bid.delta) > 0);
        if (!ended || !bid.revealed || bid.depositRefunded || amount == 0) {
            revert DepositNotRefundable(auctionId, provider);
        }
        bid.depositRefunded = true;
        credits[a.asset][provider] += amount;
        emit DepositRefunded(auctionId, provider, amount);
    }

    // ------------------------------------------------------------------ withdraw

    /// @notice Pays out the caller's whole credit in `asset` (address(0) = ETH).
    function withdraw(address asset) external nonReentrant {
        uint256 amount = credits[asset][msg.sender];
        if (amount == 0) revert NothingToWithdraw(asset, msg.sender);
        credits[asset][msg.sender] = 0;
        totalOwed[asset] -= amount;
        emit Withdrawal(asset, msg.sender, amount);
        if (asset == address(0)) {
            (bool ok,) = payable(msg.sender).call{value: amount}("");
            if (!ok) revert EthTransferFailed(msg.sender, amount);
        } else {
            IERC20(asset).safeTransfer(msg.sender, amount);
        }
    }

    // ------------------------------------------------------------------ views

    /// @notice The auction's current phase (derived from its status and the block timestamp).
    function phase(uint256 auctionId) external view returns (Phase) {
        Auction storage a = _auctions[auctionId];
        return _phase(auctionId, a);
    }

    /// @notice The auction's stored parameters and counters.
    function getAuction(uint256 auctionId) external view returns (Auction memory) {
        if (_auctions[auctionId].status == Status.None) revert AuctionNotFound(auctionId);
        return _auctions[auctionId];
    }

    /// @notice A provider's bid record in an auction (`datasetRoot` holds the commitment until the reveal).
    function getBid(uint256 auctionId, address provider) external view returns (Bid memory) {
        return _bids[auctionId][provider];
    }

    /// @notice Committed providers in commit order.
    function providersOf(uint256 auctionId) external view returns (address[] memory) {
        return _providers[auctionId];
    }

    /// @notice Oracle committee of an auction.
    function oraclesOf(uint256 auctionId) external view returns (address[] memory) {
        return _oracles[auctionId];
    }

    /// @notice Revealed providers and their dataset roots in commit order: what a report must list.
    function revealedProviders(uint256 auctionId)
        external
        view
        returns (address[] memory providers, bytes32[] memory datasetRoots)
    {
        address[] storage all = _providers[auctionId];
        uint256 n = _auctions[auctionId].nRevealed;
        providers = new address[](n);
        datasetRoots = new bytes32[](n);
        uint256 t = 0;
        for (uint256 i = 0; i < all.length; ++i) {
            Bid storage bid = _bids[auctionId][all[i]];
            if (!bid.revealed) continue;
            providers[t] = all[i];
            datasetRoots[t] = bid.datasetRoot;
            ++t;
        }
    }

    // ------------------------------------------------------------------ internals

    function _phase(uint256 auctionId, Auction storage a) internal view returns (Phase) {
        Status status = a.status;
        if (status == Status.None) revert AuctionNotFound(auctionId);
        if (status == Status.Settled) return Phase.Settled;
        if (status == Status.Cancelled) return Phase.Cancelled;
        if (status == Status.Scored) return Phase.Scored;
        if (block.timestamp < a.commitDeadline) return Phase.Commit;
        if (block.timestamp < a.revealDeadline) return Phase.Reveal;
        if (block.timestamp < a.scoringDeadline) return Phase.Scoring;
        return Phase.Expired;
    }

    function _open(uint256 auctionId, Phase expected) internal view returns (Auction storage a) {
        a = _auctions[auctionId];
        Phase current = _phase(auctionId, a);
        if (current != expected) revert WrongPhase(auctionId, current);
    }

    /// @dev Pulls `amount` of `asset` from the sender and books it as owed. Exact amounts only.
    ///      Reached only from the payable createAuction and commit.
    // slither-disable-next-line msg-value-in-nonpayable
    function _collect(address asset, uint256 amount) internal {
        if (asset == address(0)) {
            if (msg.value != amount) revert WrongPaymentValue(amount, msg.value);
        } else {
            if (msg.value != 0) revert WrongPaymentValue(0, msg.value);
            if (amount > 0) {
                IERC20 token = IERC20(asset);
                uint256 before = token.balanceOf(address(this));
                token.safeTransferFrom(msg.sender, address(this), amount);
                uint256 received = token.balanceOf(address(this)) - before;
                if (received != amount) revert TokenAmountMismatch(amount, received);
            }
        }
        totalOwed[asset] += amount;
    }
}
