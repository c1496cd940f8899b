// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IMiaAuction
/// @notice Types, events and custom errors of the mia sealed-bid data-procurement auction.
/// @dev Events carry everything an auditor needs to rebuild an auction and re-derive every payment.
interface IMiaAuction {
    /// @notice Where an auction stands, derived from its status and the block timestamp.
    /// @dev `Expired` means the scoring window closed before every chunk was aggregated: anyone may
    ///      finalize the chunks that reached the quorum and, if some chunk did not, anyone may cancel.
    enum Phase {
        Commit,
        Reveal,
        Scoring,
        Scored,
        Expired,
        Settled,
        Cancelled
    }

    /// @notice Settlement rule, fixed at creation (SPEC §4).
    /// @dev QMIA pays cash; MixedMIA pays λ·p in cash and (1-λ)·p in MUT; MUT pays only MUT (λ = 0);
    ///      Fairshare posts prices ρ·w_i·min(1, B/Σρw) and buys from every provider bidding at most its price.
    enum Mechanism {
        QMIA,
        MixedMIA,
        MUT,
        Fairshare
    }

    /// @notice Everything the buyer fixes when creating an auction.
    /// @param asset Payment asset: address(0) for ETH, otherwise an ERC-20 token.
    /// @param budget Budget B escrowed at creation (same transaction).
    /// @param deposit Fixed, bid-independent provider deposit (same asset). Refundable after settlement to
    ///        revealed providers whose aggregated weight is > 0 (to every revealed provider on cancel);
    ///        forfeited to the buyer otherwise. Unless `allowlistRoot` is set, at least
    ///        ceil(budget / (MIN_SLOT_BOND_DIVISOR * maxProviders)): filling every slot costs >= 1% of B.
    /// @param commitDeadline Commits are accepted strictly before this timestamp.
    /// @param revealDeadline Reveals are accepted from commitDeadline strictly before this timestamp.
    /// @param scoringDeadline Oracle scores are accepted from revealDeadline strictly before this timestamp.
    /// @param maxProviders Cap on commitments, which bounds every loop of this auction.
    /// @param threshold k: the quorum; a scoring chunk finalizes with every posted report once n have
    ///        posted, or at the scoring deadline once at least k have posted (else the auction cancels).
    /// @param oracles Oracle committee (secp256k1 addresses signing EIP-712 score reports).
    /// @param oracleEncryptionKeys X25519 public keys of the oracles, for sealed data delivery.
    /// @param taskHash Commitment to the buyer's task (validation set, valuation method, model id).
    /// @param methodId Valuation method the oracles must use; reports name it.
    /// @param mechanism Settlement rule.
    /// @param liquidity λ in 18-decimal fixed point, for MixedMIA only (QMIA implies 1e18, MUT implies 0).
    /// @param rho Fairshare only: price per unit of utility, in asset units per 1e18 weight.
    /// @param modelId Names the buyer's model; MUT is one token per (buyer, asset, modelId).
    /// @param faultTolerance f: how many committee members may be corrupted. The committee must have
    ///        n >= 3f+1 members and the quorum `threshold` must satisfy 2f+1 <= threshold <= n-f.
    /// @param scoreChunk Providers per scoring chunk, at most min(MAX_SCORE_CHUNK, MAX_SCORE_CELLS / n)
    ///        (0 = that cap); reports cover one chunk each.
    /// @param modelId Names the buyer's model; recorded in the auction's MUT (one MUT token per auction).
    /// @param allowlistRoot 0 = anyone may commit; otherwise the root of an OpenZeppelin-standard Merkle
    ///        tree over the admitted providers (leaf = keccak256(bytes.concat(keccak256(abi.encode(provider))))),
    ///        and only `commitInvited` with a valid proof is accepted.
    struct AuctionParams {
        address asset;
        uint128 budget;
        uint128 deposit;
        uint64 commitDeadline;
        uint64 revealDeadline;
        uint64 scoringDeadline;
        uint32 maxProviders;
        uint8 threshold;
        address[] oracles;
        bytes32[] oracleEncryptionKeys;
        bytes32 taskHash;
        uint32 methodId;
        Mechanism mechanism;
        uint64 liquidity;
        uint128 rho;
        bytes32 modelId;
        uint8 faultTolerance;
        uint16 scoreChunk;
        bytes32 allowlistRoot;
    }

    /// @notice One oracle's EIP-712 signed valuation of every revealed provider.
    /// @dev `providers` and `datasetRoots` must list the revealed providers in commit order.
    ///      `q` is an 18-decimal quality in [0, 1e18]; `delta` an 18-decimal signed marginal utility.
    struct ScoreReport {
        uint256 auctionId;
        uint32 round;
        address[] providers;
        uint256[] q;
        int256[] delta;
        bytes32[] datasetRoots;
        uint32 methodId;
        bytes32 transcriptHash;
        uint64 deadline;
    }

    event AuctionCreated(
        uint256 indexed auctionId,
        address indexed buyer,
        address indexed asset,
        uint256 budget,
        uint256 deposit,
        uint64 commitDeadline,
        uint64 revealDeadline,
        uint64 scoringDeadline,
        uint32 maxProviders,
        uint8 threshold,
        address[] oracles,
        bytes32[] oracleEncryptionKeys,
        bytes32 taskHash,
        uint32 methodId
    );
    event MechanismConfigured(
        uint256 indexed auctionId,
        Mechanism mechanism,
        uint64 liquidity,
        uint128 rho,
        uint256 cashEscrow,
        address mutToken
    );
    event BidCommitted(uint256 indexed auctionId, address indexed provider, bytes32 commitment, uint32 index);
    event BidRevealed(
        uint256 indexed auctionId, address indexed provider, uint256 cost, bytes32 salt, bytes32 datasetRoot
    );
    /// @dev The committee policy the buyer declared: fault tolerance f, quorum k, committee size n and
    ///      the scoring chunk size. Enforced at creation: n >= 3f+1, 2f+1 <= k <= n-f, buyer not a member.
    event ScoringConfigured(
        uint256 indexed auctionId, uint8 faultTolerance, uint8 threshold, uint8 committeeSize, uint16 scoreChunk
    );
    /// @dev One oracle's signed report for one scoring chunk, posted (by anyone) and recorded. Carries
    ///      everything needed to re-verify the signature: the chunk's providers and roots are the revealed
    ///      providers at positions [chunk·scoreChunk, ...) with their revealed roots.
    event ReportPosted(
        uint256 indexed auctionId,
        address indexed oracle,
        uint256 indexed chunk,
        bytes32 digest,
        bytes32 transcriptHash,
        uint64 deadline,
        uint256[] q,
        int256[] delta,
        bytes signature
    );
    /// @dev A scoring chunk aggregated over every report posted for it (`posters`: bitmap of committee
    ///      slots); `scored` of the `revealed` providers now hold an aggregated weight.
    event ScoreChunkFinalized(
        uint256 indexed auctionId,
        uint256 indexed chunk,
        uint256 reports,
        uint256 posters,
        uint256 scored,
        uint256 revealed
    );
    /// @dev Every chunk is finalized: the auction is Scored.
    event ScoresFinalized(uint256 indexed auctionId, uint32 round, uint256 chunks);
    /// @dev One chunk of the settlement order verified: `ordered` of the `eligible` providers placed.
    event SettlementOrdered(uint256 indexed auctionId, uint256 ordered, uint256 eligible, bytes32 orderHash);
    /// @dev `amount` is the cash credited, `mutAmount` the MUT minted; their sum is the mechanism's payment.
    event Payment(uint256 indexed auctionId, address indexed provider, uint256 amount, uint256 mutAmount);
    event AuctionSettled(
        uint256 indexed auctionId,
        uint256 winners,
        uint256 totalPaid,
        uint256 totalMut,
        uint256 forfeited,
        uint256 buyerRefund
    );
    event AuctionCancelled(uint256 indexed auctionId, address indexed caller, uint256 forfeited, uint256 buyerRefund);
    event Withdrawal(address indexed asset, address indexed account, uint256 amount);
    /// @dev The auction admits only providers proven to be in the Merkle tree of root `allowlistRoot`.
    event AllowlistSet(uint256 indexed auctionId, bytes32 allowlistRoot);
    /// @dev A revealed provider's deposit was credited back (aggregated weight > 0, or the auction was cancelled).
    event DepositRefunded(uint256 indexed auctionId, address indexed provider, uint256 amount);

    error AuctionNotFound(uint256 auctionId);
    error WrongPhase(uint256 auctionId, Phase current);
    error InvalidSchedule();
    error InvalidCommittee();
    error InvalidParameter();
    error WrongPaymentValue(uint256 expected, uint256 received);
    error TokenAmountMismatch(uint256 expected, uint256 received);
    error AlreadyCommitted(address provider);
    error ZeroCommitment();
    error TooManyProviders(uint32 maxProviders);
    error NotCommitted(address provider);
    error AlreadyRevealed(address provider);
    error CommitmentMismatch(address provider);
    error CostOutOfRange(uint256 cost);
    error ZeroDatasetRoot();
    /// @notice The committee policy is inconsistent: needs n >= 3f+1 and 2f+1 <= threshold <= n-f.
    error InvalidFaultTolerance(uint256 committeeSize, uint256 faultTolerance, uint256 threshold);
    /// @notice The buyer may not sit on its own committee.
    error BuyerOnCommittee(address buyer);
    /// @notice A call carried no report.
    error NoReports();
    error SignatureCountMismatch(uint256 reports, uint256 signatures);
    /// @notice The chunk does not exist in this auction, or its predecessor has no report yet.
    error ChunkUnavailable(uint256 chunk);
    /// @notice This committee member already posted a report for this chunk.
    error AlreadyPosted(address oracle, uint256 chunk);
    /// @notice The chunk was already aggregated.
    error ChunkFinalized(uint256 chunk);
    /// @notice The chunk cannot be aggregated yet: not every member posted and the window is open, or
    ///         the window closed with fewer than `threshold` reports (then the auction may be cancelled).
    error ChunkNotFinalizable(uint256 chunk, uint256 posted, uint256 threshold);
    /// @notice Finalization must carry the weights of exactly the reports posted, in committee-slot order.
    error PostedReportsMismatch(uint256 chunk, uint256 position);
    error ReportAuctionMismatch(uint256 report, uint256 auctionId);
    error ReportRoundMismatch(uint256 report, uint32 round);
    error ReportMethodMismatch(uint256 report, uint32 methodId);
    error ReportExpired(uint256 report, uint64 deadline);
    error ReportLengthMismatch(uint256 report);
    error ProviderMismatch(uint256 report, uint256 position);
    error DatasetRootMismatch(uint256 report, uint256 position);
    error ScoreOutOfBounds(uint256 report, uint256 position);
    error InvalidSignature(uint256 report);
    error NotOracle(address signer);
    error NotBuyer(address caller);
    error CannotCancel(uint256 auctionId, Phase current);
    error NothingToWithdraw(address asset, address account);
    error EthTransferFailed(address to, uint256 amount);
    error SettlementOrderMismatch(uint256 position);
    error SettlementOrderIncomplete(uint256 ordered, uint256 eligible);
    error SettlementInProgress(uint256 auctionId, uint256 paid);
    /// @notice An auction open to anyone needs deposit >= `minimum` (see AuctionParams.deposit).
    error DepositTooLow(uint256 minimum);
    /// @notice The auction admits only invited providers: use `commitInvited` with a Merkle proof.
    error InvitationRequired(uint256 auctionId);
    /// @notice The proof does not place `provider` in the auction's allowlist (or it has none).
    error NotInvited(address provider);
    /// @notice Nothing to refund: not revealed, already refunded, zero deposit, not yet settled or
    ///         cancelled, or forfeited (aggregated weight 0 at settlement).
    error DepositNotRefundable(uint256 auctionId, address provider);
}
