// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

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
import {AssetTransfer} from "./lib/AssetTransfer.sol";
import {OrderEntry, OrderEntryLib} from "./lib/OrderEntry.sol";
import {ScoreReportHashing} from "./oracle/ScoreReportHashing.sol";

/// @title MiaAuction
/// @notice Sealed-bid (commit-reveal) procurement auctions for training data, settled on-chain with
///         the Q-MIA mechanism from oracle-committee scores. Many auctions live in one deployment.
///         Scoring is Byzantine-robust: the buyer declares the committee's fault tolerance f (n >= 3f+1,
///         quorum 2f+1 <= k <= n-f, buyer not a member); each member's signed report is posted by anyone
///         during the scoring window (`postReports`), and each provider's weight is the median over EVERY
///         posted report (`finalizeScores`), which at most f corrupted members cannot move outside the
///         honest members' range. Large auctions (up to MAX_PROVIDERS) are scored in fixed chunks and
///         settled in chunks (`orderForSettlement`, which accepts only the true order, then `settleChunk`),
///         each resumable by anyone, with the same result as one-shot `settle`.
/// @dev Escrow invariant: for every asset, `totalOwed[asset]` is the sum of unsettled budgets,
///      unreturned deposits and unwithdrawn credits, and this contract's balance is at least that. The
///      accounting never reads the balance (ERC-20 inflows are measured as differences), so a forced send
///      (SELFDESTRUCT, a plain token transfer) only leaves a surplus nobody can withdraw. All payouts are
///      pull-based.
contract MiaAuction is IMiaAuction, ScoreReportHashing, ReentrancyGuard {
    /// @inheritdoc IMiaAuction
    uint256 public constant MAX_ORACLES = 32;
    /// @inheritdoc IMiaAuction
    uint32 public constant MAX_PROVIDERS = 1000;
    /// @inheritdoc IMiaAuction
    uint256 public constant MAX_QUALITY = 1e18;
    /// @inheritdoc IMiaAuction
    int256 public constant MAX_ABS_DELTA = 1e36;
    /// @inheritdoc IMiaAuction
    uint32 public constant SCORING_ROUND = 1;
    /// @inheritdoc IMiaAuction
    uint16 public constant MAX_SCORE_CHUNK = 250;
    /// @inheritdoc IMiaAuction
    uint256 public constant MAX_SCORE_CELLS = 1000;
    /// @inheritdoc IMiaAuction
    uint256 public constant MIN_SLOT_BOND_DIVISOR = 100;
    uint256 internal constant WAD = 1e18;

    /// @inheritdoc IMiaAuction
    uint256 public auctionCount;
    /// @inheritdoc IMiaAuction
    mapping(address asset => uint256) public totalOwed;
    /// @inheritdoc IMiaAuction
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
    // slither-disable-next-line uninitialized-state
    mapping(uint256 auctionId => mapping(uint256 chunk => ScoreChunk)) internal _chunks;
    /// @dev keccak256 of the weights w = q·max(Δ,0)/1e18 each posted report implies, per chunk and slot.
    mapping(uint256 auctionId => mapping(uint256 chunk => mapping(uint256 slot => bytes32))) internal _weightsHash;
    /// @dev Aggregated scores by commit index: cost << 128 | weight, written only for weight > 0.
    mapping(uint256 auctionId => mapping(uint256 index => uint256)) internal _scores;

    /// @inheritdoc IMiaAuction
    address public immutable mutFactory;

    constructor() {
        mutFactory = address(new MutFactory());
    }

    // ------------------------------------------------------------------ create

    /// @inheritdoc IMiaAuction
    /// @dev Every field the buyer sets is checked, each with its own error; a revert leaves nothing behind.
    function createAuction(AuctionParams calldata p) external payable nonReentrant returns (uint256 auctionId) {
        if (p.commitDeadline <= block.timestamp) revert CommitDeadlineNotInFuture(p.commitDeadline, block.timestamp);
        if (p.revealDeadline <= p.commitDeadline) {
            revert RevealDeadlineNotAfterCommit(p.commitDeadline, p.revealDeadline);
        }
        if (p.scoringDeadline <= p.revealDeadline) {
            revert ScoringDeadlineNotAfterReveal(p.revealDeadline, p.scoringDeadline);
        }
        uint256 nOracles = p.oracles.length;
        if (nOracles == 0 || nOracles > MAX_ORACLES) revert CommitteeSizeOutOfRange(nOracles, MAX_ORACLES);
        if (p.oracleEncryptionKeys.length != nOracles) {
            revert EncryptionKeyCountMismatch(nOracles, p.oracleEncryptionKeys.length);
        }
        // Also bounds the quorum: 1 <= 2f+1 <= threshold <= n-f <= n.
        uint256 f = p.faultTolerance;
        if (nOracles < 3 * f + 1 || p.threshold < 2 * f + 1 || p.threshold > nOracles - f) {
            revert InvalidFaultTolerance(nOracles, f, p.threshold);
        }
        if (p.budget == 0) revert ZeroBudget();
        if (p.maxProviders == 0 || p.maxProviders > MAX_PROVIDERS) {
            revert MaxProvidersOutOfRange(p.maxProviders, MAX_PROVIDERS);
        }
        uint256 chunkCap = MAX_SCORE_CELLS / nOracles < MAX_SCORE_CHUNK ? MAX_SCORE_CELLS / nOracles : MAX_SCORE_CHUNK;
        if (p.scoreChunk > chunkCap) revert ScoreChunkTooLarge(p.scoreChunk, chunkCap);
        uint16 scoreChunk = uint16(p.scoreChunk == 0 ? chunkCap : p.scoreChunk);
        if (p.allowlistRoot == 0) {
            uint256 minDeposit = minimumDeposit(p.budget, p.maxProviders);
            if (p.deposit < minDeposit) revert DepositTooLow(minDeposit);
        }
        (uint64 liquidity, uint256 cashEscrow) = _mechanismTerms(p);

        auctionId = ++auctionCount;
        for (uint256 i = 0; i < nOracles; ++i) {
            address oracle = p.oracles[i];
            if (oracle == address(0)) revert ZeroOracleAddress(i);
            if (_oracleSlot[auctionId][oracle] != 0) revert DuplicateOracle(oracle);
            if (oracle == msg.sender) revert BuyerOnCommittee(msg.sender);
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
            faultTolerance: uint8(f),
            scoreChunk: scoreChunk,
            allowlistRoot: p.allowlistRoot
        });
        // One MUT per auction, capped at the budget (its payments, cash and MUT, add up to at most B):
        // no other auction can mint into it. The factory is this contract's own immutable deployment,
        // and this function holds the lock.
        address mut = address(0);
        if (liquidity < WAD) {
            // slither-disable-next-line reentrancy-no-eth,reentrancy-benign
            mut = MutFactory(mutFactory).create(p.asset, msg.sender, p.modelId, auctionId, p.budget);
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
        emit ScoringConfigured(auctionId, uint8(f), p.threshold, uint8(nOracles), scoreChunk);
        if (p.allowlistRoot != 0) emit AllowlistSet(auctionId, p.allowlistRoot);
    }

    /// @inheritdoc IMiaAuction
    function minimumDeposit(uint256 budget, uint256 maxProviders) public pure returns (uint256) {
        uint256 d = MIN_SLOT_BOND_DIVISOR * maxProviders;
        return (budget + d - 1) / d;
    }

    /// @dev λ and the cash escrow each mechanism implies; rejects inconsistent parameters.
    function _mechanismTerms(AuctionParams calldata p) internal pure returns (uint64 liquidity, uint256 cashEscrow) {
        if (p.mechanism == Mechanism.QMIA) {
            liquidity = uint64(WAD);
        } else if (p.mechanism == Mechanism.MixedMIA) {
            if (p.liquidity > WAD) revert LiquidityAboveOne(p.liquidity);
            liquidity = p.liquidity;
        } else if (p.mechanism == Mechanism.MUT) {
            liquidity = 0;
        } else {
            if (p.rho == 0) revert ZeroRho();
            return (uint64(WAD), p.budget);
        }
        cashEscrow = MixedMIA.cashEscrow(p.budget, liquidity);
    }

    // ------------------------------------------------------------------ commit / reveal

    /// @inheritdoc IMiaAuction
    function commitmentOf(uint256 auctionId, address provider, uint256 cost, bytes32 salt, bytes32 datasetRoot)
        public
        view
        returns (bytes32)
    {
        return keccak256(abi.encode(block.chainid, address(this), auctionId, provider, cost, salt, datasetRoot));
    }

    /// @inheritdoc IMiaAuction
    function commit(uint256 auctionId, bytes32 commitment) external payable nonReentrant {
        Auction storage a = _open(auctionId, Phase.Commit);
        if (a.allowlistRoot != 0) revert InvitationRequired(auctionId);
        _commit(auctionId, a, commitment);
    }

    /// @inheritdoc IMiaAuction
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

    /// @inheritdoc IMiaAuction
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

    /// @inheritdoc IMiaAuction
    /// @dev Each report must come from a committee member that has not posted for this chunk, carry a
    ///      low-s signature over this chain and contract, name this auction, round and method, be
    ///      unexpired, list the chunk's revealed providers (commit order, none skipped) with their dataset
    ///      roots, and keep every value in bounds. Only keccak256 of the report's weights
    ///      w_j = q_j·max(Δ_j,0)/1e18 is stored (one slot per report); the full report goes into the
    ///      `ReportPosted` event. A call that carries every member's report aggregates the chunk at once.
    function postReports(uint256 auctionId, uint256 chunk, ScoreReport[] calldata reports, bytes[] calldata signatures)
        external
    {
        Auction storage a = _open(auctionId, Phase.Scoring);
        uint256 count = reports.length;
        if (count == 0) revert NoReports();
        if (signatures.length != count) revert SignatureCountMismatch(count, signatures.length);
        ScoreChunk storage c = _chunks[auctionId][chunk];
        uint256 len = _chunkLength(a, chunk);
        if (c.endIndex == 0) {
            uint256 prevEnd = chunk == 0 ? 0 : _chunks[auctionId][chunk - 1].endIndex;
            if (chunk != 0 && prevEnd == 0) revert ChunkUnavailable(chunk);
            c.endIndex = uint32(_checkProviders(auctionId, reports[0], prevEnd, len));
            c.providersHash = hashWords(reports[0].providers);
            c.rootsHash = hashWords(reports[0].datasetRoots);
        }
        bool all = count == a.nOracles;
        uint256[][] memory weights = new uint256[][](all ? count : 0);
        uint256 posters = c.posters;
        for (uint256 r = 0; r < count; ++r) {
            (uint256 slot, uint256[] memory w) = _postOne(a, auctionId, chunk, c, reports[r], signatures[r], r, posters);
            posters |= 1 << slot;
            if (all) weights[slot] = w;
        }
        c.posters = uint32(posters);
        c.count += uint8(count);
        if (all) _aggregate(auctionId, a, chunk, c, reports[0].providers, weights);
    }

    /// @dev Verifies and records one report; returns its committee slot (0-based) and its weights.
    function _postOne(
        Auction storage a,
        uint256 auctionId,
        uint256 chunk,
        ScoreChunk storage c,
        ScoreReport calldata report,
        bytes calldata signature,
        uint256 r,
        uint256 posters
    ) internal returns (uint256 slot, uint256[] memory w) {
        uint256 len = report.providers.length;
        _checkReport(a, auctionId, report, r, len);
        bytes32 providersHash = c.providersHash;
        bytes32 rootsHash = c.rootsHash;
        if (hashWords(report.providers) != providersHash) revert ProviderMismatch(r, 0);
        if (hashWords(report.datasetRoots) != rootsHash) revert DatasetRootMismatch(r, 0);
        bytes32 digest = _scoreReportDigest(report, providersHash, rootsHash);
        address signer;
        (signer, slot) = _recoverMember(auctionId, digest, signature, r);
        --slot;
        if (posters & (1 << slot) != 0) revert AlreadyPosted(signer, chunk);
        w = new uint256[](len);
        for (uint256 j = 0; j < len; ++j) {
            w[j] = QMIA.weight(report.q[j], report.delta[j]);
        }
        _weightsHash[auctionId][chunk][slot] = keccak256(abi.encodePacked(w));
        emit ReportPosted(
            auctionId, signer, chunk, digest, report.transcriptHash, report.deadline, report.q, report.delta, signature
        );
    }

    /// @inheritdoc IMiaAuction
    /// @dev The aggregate of provider j is the lower median of the posted weights w_rj. Robustness: among
    ///      m >= 2f+1 posted values at most f come from corrupted members, and the lower median sits at
    ///      sorted position p = floor((m-1)/2), with p >= f and m-1-p >= f. If it were below every honest
    ///      value, positions 0..p (p+1 >= f+1 values) would all be corrupted; if above every honest value,
    ///      positions p..m-1 (m-p >= f+1 values) would: both contradict "at most f". So the aggregate lies
    ///      within [min, max] of the honest members' weights for that provider, whoever relays and in
    ///      whatever order or timing the reports arrive. n >= 3f+1 and k <= n-f keep the quorum reachable
    ///      by the honest members alone.
    function finalizeScores(
        uint256 auctionId,
        uint256 chunk,
        address[] calldata providers,
        uint256[][] calldata weights
    ) external {
        Auction storage a = _auctions[auctionId];
        Phase current = _phase(auctionId, a);
        if (current != Phase.Scoring && current != Phase.Expired) revert WrongPhase(auctionId, current);
        ScoreChunk storage c = _chunks[auctionId][chunk];
        if (c.endIndex == 0) revert ChunkUnavailable(chunk);
        if (c.finalized) revert ChunkFinalized(chunk);
        uint256 count = c.count;
        if (count != a.nOracles && (current != Phase.Expired || count < a.threshold)) {
            revert ChunkNotFinalizable(chunk, count, a.threshold);
        }
        if (hashWords(providers) != c.providersHash) revert ProviderMismatch(0, 0);
        if (weights.length != count) revert PostedReportsMismatch(chunk, weights.length);
        uint256[][] memory w = new uint256[][](count);
        uint256 posters = c.posters;
        uint256 r = 0;
        for (uint256 slot = 0; posters >> slot != 0; ++slot) {
            if ((posters >> slot) & 1 == 0) continue;
            if (hashWords(weights[r]) != _weightsHash[auctionId][chunk][slot]) revert PostedReportsMismatch(chunk, r);
            w[r] = weights[r];
            ++r;
        }
        _aggregate(auctionId, a, chunk, c, providers, w);
    }

    /// @dev Stores the lower median of each provider's posted weights (see `finalizeScores`).
    function _aggregate(
        uint256 auctionId,
        Auction storage a,
        uint256 chunk,
        ScoreChunk storage c,
        address[] calldata providers,
        uint256[][] memory w
    ) internal {
        uint256 m = w.length;
        uint256 len = providers.length;
        uint256[] memory column = new uint256[](m);
        uint256 eligible = 0;
        for (uint256 j = 0; j < len; ++j) {
            for (uint256 r = 0; r < m; ++r) {
                if (w[r].length != len) revert PostedReportsMismatch(chunk, r);
                column[r] = w[r][j];
            }
            uint256 agg = Median.ofUint(column);
            if (agg == 0) continue;
            Bid storage bid = _bids[auctionId][providers[j]];
            _scores[auctionId][bid.index] = (uint256(bid.cost) << 128) | agg;
            ++eligible;
        }
        c.finalized = true;
        Progress storage g = _progress[auctionId];
        uint256 scored = g.scored + len;
        g.scored = uint32(scored);
        g.eligible += uint32(eligible);
        uint256 chunks = ++g.scoredChunks;
        uint256 n = a.nRevealed;
        emit ScoreChunkFinalized(auctionId, chunk, m, c.posters, scored, n);
        if (scored == n) {
            a.status = Status.Scored;
            emit ScoresFinalized(auctionId, SCORING_ROUND, chunks);
        }
    }

    /// @dev Number of providers in `chunk`; reverts if the auction has no such chunk.
    function _chunkLength(Auction storage a, uint256 chunk) internal view returns (uint256) {
        uint256 n = a.nRevealed;
        uint256 size = a.scoreChunk;
        if (chunk >= (n + size - 1) / size) revert ChunkUnavailable(chunk);
        uint256 left = n - chunk * size;
        return left < size ? left : size;
    }

    /// @dev Whether every scoring chunk holds at least `threshold` reports (then cancelling is refused:
    ///      the chunks can, and must, be aggregated). Bounded: at most MAX_PROVIDERS chunks.
    function _quorate(uint256 auctionId, Auction storage a) internal view returns (bool) {
        uint256 n = a.nRevealed;
        if (n == 0) return false;
        uint256 chunks = (n + a.scoreChunk - 1) / a.scoreChunk;
        for (uint256 k = 0; k < chunks; ++k) {
            if (_chunks[auctionId][k].count < a.threshold) return false;
        }
        return true;
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

    /// @dev The report must list `n` revealed providers in commit order, with their roots, after commit
    ///      index `lastIndex`, skipping no revealed provider: the unique run a chunk covers.
    /// @return The commit index of the last provider listed.
    function _checkProviders(uint256 auctionId, ScoreReport calldata report, uint256 lastIndex, uint256 n)
        internal
        view
        returns (uint256)
    {
        if (report.providers.length != n || report.datasetRoots.length != n) revert ReportLengthMismatch(0);
        address[] storage all = _providers[auctionId];
        for (uint256 j = 0; j < n; ++j) {
            Bid storage bid = _bids[auctionId][report.providers[j]];
            uint256 index = bid.index;
            if (!bid.revealed || index <= lastIndex) revert ProviderMismatch(0, j);
            for (uint256 k = lastIndex; k + 1 < index; ++k) {
                if (_bids[auctionId][all[k]].revealed) revert ProviderMismatch(0, j);
            }
            if (bid.datasetRoot != report.datasetRoots[j]) revert DatasetRootMismatch(0, j);
            lastIndex = index;
        }
        return lastIndex;
    }

    // ------------------------------------------------------------------ settle / cancel

    /// @inheritdoc IMiaAuction
    /// @dev Callable by anyone once scores are in, or after the reveal deadline if nobody revealed.
    function settle(uint256 auctionId) external {
        Auction storage a = _settleable(auctionId);
        Progress storage g = _progress[auctionId];
        if (g.paid != 0) revert SettlementInProgress(auctionId, g.paid);

        // Only eligible providers (weight > 0) can win; they are read in commit order.
        uint256 nAll = a.nCommitted;
        uint256 m = g.eligible;
        uint256[] memory indices = new uint256[](m);
        uint256[] memory bids = new uint256[](m);
        uint256[] memory weights = new uint256[](m);
        uint256 t = 0;
        for (uint256 i = 1; i <= nAll && t < m; ++i) {
            uint256 key = _scores[auctionId][i];
            if (key == 0) continue;
            indices[t] = i;
            bids[t] = key >> 128;
            weights[t] = uint128(key);
            ++t;
        }

        (uint256[] memory payments, bool[] memory won) = a.mechanism == Mechanism.Fairshare
            ? Fairshare.settle(bids, weights, a.rho, a.budget)
            : QMIA.settle(bids, weights, a.budget);
        address mut = a.mutToken;
        address[] storage providers = _providers[auctionId];
        for (uint256 i = 0; i < m; ++i) {
            if (won[i]) _payOne(auctionId, a, g, mut, providers[indices[i] - 1], payments[i]);
        }
        _finishSettlement(auctionId, a, g);
    }

    /// @inheritdoc IMiaAuction
    /// @dev No caller can leave a wrong prefix behind: the chunk must be strictly increasing in the order,
    ///      every entry eligible, and the number of eligible providers that lie after the previous chunk's
    ///      last entry and up to this chunk's last entry must equal the chunk's length (one pass over the
    ///      auction's providers), which rules out any skipped or foreign entry. Folds each `OrderEntry` into a
    ///      hash chain that `settleChunk` checks its calldata against, so the order is never stored.
    function orderForSettlement(uint256 auctionId, uint256[] calldata indices) external {
        Auction storage a = _auctions[auctionId];
        Phase current = _phase(auctionId, a);
        if (current != Phase.Scored) revert WrongPhase(auctionId, current);
        Progress storage g = _progress[auctionId];
        uint256 s = g.ordered;
        uint256 len = indices.length;
        if (len == 0 || s + len > g.eligible) revert SettlementOrderMismatch(s);
        OrderEntry last = g.lastEntry;
        uint256 lastWeight = g.lastWeight;
        OrderEntry low = last; // the previous chunk's last entry (none when s == 0)
        uint256 lowWeight = lastWeight;
        bytes32 h = g.orderHash;
        uint256 fairTotal = g.fairTotal;
        uint256 rho = a.rho;
        uint256 nAll = a.nCommitted;
        for (uint256 k = 0; k < len; ++k) {
            uint256 index = indices[k];
            if (index == 0 || index > nAll) revert SettlementOrderMismatch(s + k);
            uint256 key = _scores[auctionId][index];
            uint256 w = uint128(key);
            uint256 cost = key >> 128;
            if (w == 0) revert SettlementOrderMismatch(s + k);
            if (s + k > 0 && !_before(last.bid(), lastWeight, last.index(), cost, w, index)) {
                revert SettlementOrderMismatch(s + k);
            }
            last = OrderEntryLib.pack(index, cost, last.running() + w);
            lastWeight = w;
            h = keccak256(abi.encode(h, last));
            fairTotal += Fairshare.value(w, rho);
        }
        // Completeness: exactly `len` eligible providers lie in (low, last].
        uint256 inside = 0;
        for (uint256 i = 1; i <= nAll; ++i) {
            uint256 key = _scores[auctionId][i];
            if (key == 0) continue;
            uint256 w = uint128(key);
            uint256 cost = key >> 128;
            if (s > 0 && !_before(low.bid(), lowWeight, low.index(), cost, w, i)) continue;
            if (_before(last.bid(), lastWeight, last.index(), cost, w, i)) continue;
            ++inside;
        }
        if (inside != len) revert SettlementOrderMismatch(s);
        s += len;
        g.ordered = uint32(s);
        g.lastEntry = last;
        g.lastWeight = uint128(lastWeight);
        g.orderHash = h;
        g.fairTotal = fairTotal;
        emit SettlementOrdered(auctionId, s, g.eligible, h);
    }

    /// @dev Whether (cost1, w1, index1) comes strictly before (cost2, w2, index2) in virtual cost b/w,
    ///      ties by commit index (cross-multiplied; bids < 2^96 and weights <= 1e36 keep it in range).
    function _before(uint256 cost1, uint256 w1, uint256 index1, uint256 cost2, uint256 w2, uint256 index2)
        internal
        pure
        returns (bool)
    {
        uint256 left = cost1 * w2;
        uint256 right = cost2 * w1;
        return left < right || (left == right && index1 < index2);
    }

    /// @inheritdoc IMiaAuction
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
            OrderEntry e = OrderEntry.wrap(entries[s]);
            h = keccak256(abi.encode(h, e));
            order[s] = s;
            bids[s] = e.bid();
            prefix[s + 1] = e.running();
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
            _payOne(auctionId, a, g, mut, _providers[auctionId][OrderEntry.wrap(entries[s]).index() - 1], payment);
        }
        g.paid = uint32(to);
        if (to == limit) _finishSettlement(auctionId, a, g);
    }

    /// @inheritdoc IMiaAuction
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

    /// @inheritdoc IMiaAuction
    /// @dev When every chunk reached the quorum the auction cannot be cancelled: anyone can aggregate it
    ///      (`finalizeScores`) and settle it.
    function cancel(uint256 auctionId) external {
        Auction storage a = _auctions[auctionId];
        Phase current = _phase(auctionId, a);
        bool expired = current == Phase.Expired && !_quorate(auctionId, a);
        bool buyerEarly = msg.sender == a.buyer && a.nCommitted == 0 && current == Phase.Commit;
        if (!expired && !buyerEarly) revert CannotCancel(auctionId, current);
        uint256 forfeited = uint256(a.nCommitted - a.nRevealed) * a.deposit;
        uint256 refund = uint256(a.cashEscrow) + forfeited;
        credits[a.asset][a.buyer] += refund;
        a.status = Status.Cancelled;
        emit AuctionCancelled(auctionId, msg.sender, forfeited, refund);
    }

    /// @inheritdoc IMiaAuction
    /// @dev Deposits of weight-0 providers were forfeited to the buyer at settlement, so a slot squatter's
    ///      junk bid costs it the deposit.
    function refundDeposit(uint256 auctionId, address provider) external {
        Auction storage a = _auctions[auctionId];
        Phase current = _phase(auctionId, a);
        Bid storage bid = _bids[auctionId][provider];
        uint256 amount = a.deposit;
        bool ended =
            current == Phase.Cancelled || (current == Phase.Settled && uint128(_scores[auctionId][bid.index]) > 0);
        if (!ended || !bid.revealed || bid.depositRefunded || amount == 0) {
            revert DepositNotRefundable(auctionId, provider);
        }
        bid.depositRefunded = true;
        credits[a.asset][provider] += amount;
        emit DepositRefunded(auctionId, provider, amount);
    }

    // ------------------------------------------------------------------ withdraw

    /// @inheritdoc IMiaAuction
    function withdraw(address asset) external nonReentrant {
        uint256 amount = credits[asset][msg.sender];
        if (amount == 0) revert NothingToWithdraw(asset, msg.sender);
        credits[asset][msg.sender] = 0;
        totalOwed[asset] -= amount;
        emit Withdrawal(asset, msg.sender, amount);
        AssetTransfer.pay(asset, msg.sender, amount);
    }

    // ------------------------------------------------------------------ views

    /// @inheritdoc IMiaAuction
    function phase(uint256 auctionId) external view returns (Phase) {
        Auction storage a = _auctions[auctionId];
        return _phase(auctionId, a);
    }

    /// @inheritdoc IMiaAuction
    function getAuction(uint256 auctionId) external view returns (Auction memory) {
        if (_auctions[auctionId].status == Status.None) revert AuctionNotFound(auctionId);
        return _auctions[auctionId];
    }

    /// @inheritdoc IMiaAuction
    function getBid(uint256 auctionId, address provider) external view returns (Bid memory) {
        return _bids[auctionId][provider];
    }

    /// @inheritdoc IMiaAuction
    function providersOf(uint256 auctionId) external view returns (address[] memory) {
        return _providers[auctionId];
    }

    /// @inheritdoc IMiaAuction
    function weightOf(uint256 auctionId, address provider) external view returns (uint256) {
        return uint128(_scores[auctionId][_bids[auctionId][provider].index]);
    }

    /// @inheritdoc IMiaAuction
    function scoreChunkOf(uint256 auctionId, uint256 chunk) external view returns (ScoreChunk memory) {
        return _chunks[auctionId][chunk];
    }

    /// @inheritdoc IMiaAuction
    function cancellable(uint256 auctionId) external view returns (bool) {
        Auction storage a = _auctions[auctionId];
        return _phase(auctionId, a) == Phase.Expired && !_quorate(auctionId, a);
    }

    /// @inheritdoc IMiaAuction
    function oraclesOf(uint256 auctionId) external view returns (address[] memory) {
        return _oracles[auctionId];
    }

    /// @inheritdoc IMiaAuction
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
        AssetTransfer.collectExact(asset, amount, msg.value);
        totalOwed[asset] += amount;
    }
}
