// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC5267} from "@openzeppelin/contracts/interfaces/IERC5267.sol";
import {OrderEntry} from "../lib/OrderEntry.sol";

/// @title IMiaAuction
/// @notice The whole external face of the mia sealed-bid data-procurement auction: its types, events,
///         custom errors and functions. `eip712Domain` (ERC-5267) describes the domain reports are signed in.
/// @dev Events carry everything an auditor needs to rebuild an auction and re-derive every payment.
///      Moving the asset in or out reverts with `AssetTransfer`'s errors (WrongPaymentValue,
///      TokenAmountMismatch, EthTransferFailed), which the MUT pools share.
interface IMiaAuction is IERC5267 {
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

    /// @notice Lifecycle status stored with an auction (the phase adds the clock to it: see `phase`).
    enum Status {
        None,
        Open,
        Scored,
        Settled,
        Cancelled
    }

    /// @notice An auction's stored parameters and counters (see `AuctionParams` for the buyer's terms).
    /// @param buyer The account that created the auction and receives refunds and forfeited deposits.
    /// @param commitDeadline End of the commit phase.
    /// @param nCommitted Providers that committed (their commit indices run from 1 to nCommitted).
    /// @param asset Payment asset: address(0) for ETH, otherwise an ERC-20.
    /// @param revealDeadline End of the reveal phase.
    /// @param nRevealed Providers that revealed.
    /// @param budget The budget B.
    /// @param deposit The fixed provider deposit.
    /// @param scoringDeadline End of the scoring window.
    /// @param maxProviders Cap on commitments.
    /// @param methodId Valuation method the reports must name.
    /// @param threshold k: the quorum of reports per scoring chunk.
    /// @param nOracles n: the committee size.
    /// @param status Lifecycle status.
    /// @param taskHash Commitment to the buyer's task.
    /// @param mechanism Settlement rule.
    /// @param liquidity λ, 18 decimals: the share of each payment made in cash.
    /// @param mutToken The auction's MUT, minted to winners when λ < 1 (zero otherwise).
    /// @param rho Fairshare price per unit of utility.
    /// @param cashEscrow Cash the buyer escrowed: floor(λ·B) for the MIA family, B for Fairshare.
    /// @param faultTolerance f: corrupted committee members tolerated (n >= 3f+1, 2f+1 <= k <= n-f).
    /// @param scoreChunk Providers per scoring chunk.
    /// @param allowlistRoot 0 = open to anyone; else the Merkle root of the admitted providers.
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
        uint64 liquidity;
        address mutToken;
        uint128 rho;
        uint128 cashEscrow;
        uint8 faultTolerance;
        uint16 scoreChunk;
        bytes32 allowlistRoot;
    }

    /// @notice Reports posted for one scoring chunk (revealed positions [c·scoreChunk, (c+1)·scoreChunk)).
    /// @param providersHash EIP-712 hash of the chunk's providers, set by its first valid report.
    /// @param rootsHash EIP-712 hash of their dataset roots.
    /// @param endIndex Commit index of the chunk's last provider (0 = no report yet).
    /// @param posters Bitmap of the committee slots that posted.
    /// @param count Number of reports posted.
    /// @param finalized Whether the chunk was aggregated over every posted report.
    struct ScoreChunk {
        bytes32 providersHash;
        bytes32 rootsHash;
        uint32 endIndex;
        uint32 posters;
        uint8 count;
        bool finalized;
    }

    /// @notice A provider's bid. Two storage slots: the reveal overwrites the sealed commitment with the
    ///         dataset root (`BidCommitted` keeps the commitment for audits), so a reveal writes no new slot.
    /// @param datasetRoot The commitment while unrevealed, the revealed dataset root after.
    /// @param cost The revealed cost (0 until the reveal).
    /// @param index 1-based commit order; 0 = never committed.
    /// @param revealed Whether the bid was opened.
    /// @param depositRefunded Whether the deposit was credited back (see `refundDeposit`).
    struct Bid {
        bytes32 datasetRoot;
        uint96 cost;
        uint32 index;
        bool revealed;
        bool depositRefunded;
    }

    /// @notice Progress of chunked scoring and settlement of one auction.
    /// @param scored Revealed providers holding an aggregated weight.
    /// @param scoredChunks Scoring chunks aggregated.
    /// @param eligible Scored providers with weight > 0: the length of the settlement order.
    /// @param ordered Entries of the settlement order verified so far.
    /// @param paid Entries of the settlement order paid out so far.
    /// @param winners Payment events emitted so far.
    /// @param lastWeight Weight of the last ordered entry.
    /// @param lastEntry The last ordered entry.
    /// @param orderHash Hash chain over the ordered entries.
    /// @param fairTotal Fairshare: the sum of the posted values of the ordered entries.
    /// @param totalCash Cash credited to winners so far.
    /// @param totalMut MUT minted to winners so far.
    struct Progress {
        uint32 scored;
        uint32 scoredChunks;
        uint32 eligible;
        uint32 ordered;
        uint32 paid;
        uint32 winners;
        uint128 lastWeight;
        OrderEntry lastEntry;
        bytes32 orderHash;
        uint256 fairTotal;
        uint128 totalCash;
        uint128 totalMut;
    }

    // ------------------------------------------------------------------ events

    /// @notice An auction was created and its cash escrow taken, in the same transaction.
    /// @param auctionId The new auction's id.
    /// @param buyer Its creator.
    /// @param asset Payment asset (address(0) = ETH).
    /// @param budget The budget B.
    /// @param deposit The fixed provider deposit.
    /// @param commitDeadline End of the commit phase.
    /// @param revealDeadline End of the reveal phase.
    /// @param scoringDeadline End of the scoring window.
    /// @param maxProviders Cap on commitments.
    /// @param threshold k: the quorum of reports per scoring chunk.
    /// @param oracles The oracle committee, in slot order.
    /// @param oracleEncryptionKeys The oracles' X25519 keys, in slot order.
    /// @param taskHash Commitment to the buyer's task.
    /// @param methodId Valuation method the reports must name.
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
    /// @notice Fires with `AuctionCreated`: the settlement rule and what the buyer escrowed for it.
    /// @param auctionId The auction.
    /// @param mechanism Settlement rule.
    /// @param liquidity λ in 18-decimal fixed point.
    /// @param rho Fairshare price per unit of utility (0 for the MIA family).
    /// @param cashEscrow Cash escrowed by the buyer.
    /// @param mutToken The auction's MUT (address(0) when λ = 1).
    event MechanismConfigured(
        uint256 indexed auctionId,
        Mechanism mechanism,
        uint64 liquidity,
        uint128 rho,
        uint256 cashEscrow,
        address mutToken
    );
    /// @notice A provider posted a sealed bid and its deposit.
    /// @param auctionId The auction.
    /// @param provider The bidder.
    /// @param commitment The seal (see `commitmentOf`); kept here after the reveal overwrites it in storage.
    /// @param index Its 1-based commit index.
    event BidCommitted(uint256 indexed auctionId, address indexed provider, bytes32 commitment, uint32 index);
    /// @notice A provider opened its sealed bid.
    /// @param auctionId The auction.
    /// @param provider The bidder.
    /// @param cost Its bid.
    /// @param salt The salt of its commitment.
    /// @param datasetRoot The Merkle root of the dataset it offers.
    event BidRevealed(
        uint256 indexed auctionId, address indexed provider, uint256 cost, bytes32 salt, bytes32 datasetRoot
    );
    /// @notice Fires at creation with the committee policy the buyer declared (enforced then: n >= 3f+1,
    ///         2f+1 <= k <= n-f, buyer not a member).
    /// @param auctionId The auction.
    /// @param faultTolerance f: corrupted members tolerated.
    /// @param threshold k: the quorum.
    /// @param committeeSize n.
    /// @param scoreChunk Providers per scoring chunk.
    event ScoringConfigured(
        uint256 indexed auctionId, uint8 faultTolerance, uint8 threshold, uint8 committeeSize, uint16 scoreChunk
    );
    /// @notice One oracle's signed report for one scoring chunk was posted (by anyone) and recorded. It carries
    ///         everything needed to re-verify the signature: the chunk's providers and roots are the revealed
    ///         providers at positions [chunk·scoreChunk, ...) with their revealed roots.
    /// @param auctionId The auction.
    /// @param oracle The committee member that signed.
    /// @param chunk The scoring chunk.
    /// @param digest The EIP-712 digest it signed.
    /// @param transcriptHash Commitment to the oracle's valuation transcript.
    /// @param deadline The report's expiry.
    /// @param q Quality per provider (18 decimals).
    /// @param delta Marginal utility per provider (18 decimals, signed).
    /// @param signature The signature.
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
    /// @notice A scoring chunk was aggregated over every report posted for it.
    /// @param auctionId The auction.
    /// @param chunk The scoring chunk.
    /// @param reports Reports aggregated.
    /// @param posters Bitmap of the committee slots that posted them.
    /// @param scored Revealed providers holding an aggregated weight now.
    /// @param revealed Revealed providers in all.
    event ScoreChunkFinalized(
        uint256 indexed auctionId,
        uint256 indexed chunk,
        uint256 reports,
        uint256 posters,
        uint256 scored,
        uint256 revealed
    );
    /// @notice Every chunk is aggregated: the auction is Scored.
    /// @param auctionId The auction.
    /// @param round The scoring round (SCORING_ROUND).
    /// @param chunks Scoring chunks aggregated.
    event ScoresFinalized(uint256 indexed auctionId, uint32 round, uint256 chunks);
    /// @notice One chunk of the settlement order was verified.
    /// @param auctionId The auction.
    /// @param ordered Entries placed so far.
    /// @param eligible Entries the whole order has.
    /// @param orderHash The hash chain over the placed entries.
    event SettlementOrdered(uint256 indexed auctionId, uint256 ordered, uint256 eligible, bytes32 orderHash);
    /// @notice A winner was paid: cash credited and MUT minted, adding up to the mechanism's payment.
    /// @param auctionId The auction.
    /// @param provider The winner.
    /// @param amount Cash credited.
    /// @param mutAmount MUT minted.
    event Payment(uint256 indexed auctionId, address indexed provider, uint256 amount, uint256 mutAmount);
    /// @notice The auction was settled: every winner paid, the buyer's refund credited.
    /// @param auctionId The auction.
    /// @param winners Number of winners paid.
    /// @param totalPaid Cash credited to winners.
    /// @param totalMut MUT minted to winners.
    /// @param forfeited Deposits forfeited to the buyer (non-revealers and weight-0 providers).
    /// @param buyerRefund Unspent cash escrow plus forfeited deposits, credited to the buyer.
    event AuctionSettled(
        uint256 indexed auctionId,
        uint256 winners,
        uint256 totalPaid,
        uint256 totalMut,
        uint256 forfeited,
        uint256 buyerRefund
    );
    /// @notice The auction was cancelled: the cash escrow and the non-revealers' deposits go to the buyer.
    /// @param auctionId The auction.
    /// @param caller Who cancelled.
    /// @param forfeited Deposits forfeited to the buyer (non-revealers).
    /// @param buyerRefund Cash escrow plus forfeited deposits, credited to the buyer.
    event AuctionCancelled(uint256 indexed auctionId, address indexed caller, uint256 forfeited, uint256 buyerRefund);
    /// @notice An account withdrew its whole credit in one asset.
    /// @param asset The asset (address(0) = ETH).
    /// @param account The account paid.
    /// @param amount The amount paid.
    event Withdrawal(address indexed asset, address indexed account, uint256 amount);
    /// @notice Fires at creation when the auction admits only providers of a Merkle allowlist.
    /// @param auctionId The auction.
    /// @param allowlistRoot The allowlist's root.
    event AllowlistSet(uint256 indexed auctionId, bytes32 allowlistRoot);
    /// @notice A revealed provider's deposit was credited back (aggregated weight > 0, or a cancel).
    /// @param auctionId The auction.
    /// @param provider The provider credited.
    /// @param amount The deposit.
    event DepositRefunded(uint256 indexed auctionId, address indexed provider, uint256 amount);

    // ------------------------------------------------------------------ errors

    /// @notice No auction has this id.
    /// @param auctionId The id asked for.
    error AuctionNotFound(uint256 auctionId);
    /// @notice The call is not allowed in the auction's current phase.
    /// @param auctionId The auction.
    /// @param current Its phase now.
    error WrongPhase(uint256 auctionId, Phase current);
    /// @notice The commit deadline must lie in the future.
    /// @param commitDeadline The deadline given.
    /// @param now_ The block timestamp.
    error CommitDeadlineNotInFuture(uint64 commitDeadline, uint256 now_);
    /// @notice The reveal deadline must come strictly after the commit deadline.
    /// @param commitDeadline The commit deadline given.
    /// @param revealDeadline The reveal deadline given.
    error RevealDeadlineNotAfterCommit(uint64 commitDeadline, uint64 revealDeadline);
    /// @notice The scoring deadline must come strictly after the reveal deadline.
    /// @param revealDeadline The reveal deadline given.
    /// @param scoringDeadline The scoring deadline given.
    error ScoringDeadlineNotAfterReveal(uint64 revealDeadline, uint64 scoringDeadline);
    /// @notice The committee must have between 1 and MAX_ORACLES members.
    /// @param size The committee size given.
    /// @param maximum MAX_ORACLES.
    error CommitteeSizeOutOfRange(uint256 size, uint256 maximum);
    /// @notice Every committee member needs exactly one encryption key.
    /// @param oracles The committee size.
    /// @param keys The number of keys given.
    error EncryptionKeyCountMismatch(uint256 oracles, uint256 keys);
    /// @notice A committee slot holds the zero address.
    /// @param slot The slot (0-based).
    error ZeroOracleAddress(uint256 slot);
    /// @notice An oracle appears twice on the committee.
    /// @param oracle The repeated address.
    error DuplicateOracle(address oracle);
    /// @notice The budget must be positive.
    error ZeroBudget();
    /// @notice maxProviders must lie in [1, MAX_PROVIDERS].
    /// @param maxProviders The value given.
    /// @param maximum MAX_PROVIDERS.
    error MaxProvidersOutOfRange(uint256 maxProviders, uint256 maximum);
    /// @notice scoreChunk exceeds min(MAX_SCORE_CHUNK, MAX_SCORE_CELLS / n).
    /// @param scoreChunk The value given.
    /// @param maximum The cap for this committee size.
    error ScoreChunkTooLarge(uint256 scoreChunk, uint256 maximum);
    /// @notice MixedMIA needs λ <= 1e18 (all cash).
    /// @param liquidity The λ given.
    error LiquidityAboveOne(uint256 liquidity);
    /// @notice Fairshare needs a positive price per unit of utility ρ.
    error ZeroRho();
    /// @notice The provider already committed in this auction.
    /// @param provider The provider.
    error AlreadyCommitted(address provider);
    /// @notice A commitment may not be zero (zero marks "no commitment").
    error ZeroCommitment();
    /// @notice Every slot of the auction is taken.
    /// @param maxProviders The auction's cap.
    error TooManyProviders(uint32 maxProviders);
    /// @notice The caller never committed in this auction.
    /// @param provider The caller.
    error NotCommitted(address provider);
    /// @notice The caller already revealed.
    /// @param provider The caller.
    error AlreadyRevealed(address provider);
    /// @notice The opening does not match the caller's commitment.
    /// @param provider The caller.
    error CommitmentMismatch(address provider);
    /// @notice A revealed cost must fit in 96 bits.
    /// @param cost The cost given.
    error CostOutOfRange(uint256 cost);
    /// @notice A revealed dataset root may not be zero.
    error ZeroDatasetRoot();
    /// @notice The committee policy is inconsistent: needs n >= 3f+1 and 2f+1 <= threshold <= n-f.
    /// @param committeeSize n.
    /// @param faultTolerance f.
    /// @param threshold k.
    error InvalidFaultTolerance(uint256 committeeSize, uint256 faultTolerance, uint256 threshold);
    /// @notice The buyer may not sit on its own committee.
    /// @param buyer The buyer.
    error BuyerOnCommittee(address buyer);
    /// @notice A call carried no report.
    error NoReports();
    /// @notice Every report needs exactly one signature.
    /// @param reports Reports given.
    /// @param signatures Signatures given.
    error SignatureCountMismatch(uint256 reports, uint256 signatures);
    /// @notice The chunk does not exist in this auction, or its predecessor has no report yet.
    /// @param chunk The chunk.
    error ChunkUnavailable(uint256 chunk);
    /// @notice This committee member already posted a report for this chunk.
    /// @param oracle The member.
    /// @param chunk The chunk.
    error AlreadyPosted(address oracle, uint256 chunk);
    /// @notice The chunk was already aggregated.
    /// @param chunk The chunk.
    error ChunkFinalized(uint256 chunk);
    /// @notice The chunk cannot be aggregated yet: not every member posted and the window is open, or
    ///         the window closed with fewer than `threshold` reports (then the auction may be cancelled).
    /// @param chunk The chunk.
    /// @param posted Reports posted for it.
    /// @param threshold The quorum.
    error ChunkNotFinalizable(uint256 chunk, uint256 posted, uint256 threshold);
    /// @notice Finalization must carry the weights of exactly the reports posted, in committee-slot order.
    /// @param chunk The chunk.
    /// @param position The first report (or the count) that does not match.
    error PostedReportsMismatch(uint256 chunk, uint256 position);
    /// @notice A report names another auction.
    /// @param report Position of the report in the call.
    /// @param auctionId The auction it names.
    error ReportAuctionMismatch(uint256 report, uint256 auctionId);
    /// @notice A report names another scoring round than SCORING_ROUND.
    /// @param report Position of the report in the call.
    /// @param round The round it names.
    error ReportRoundMismatch(uint256 report, uint32 round);
    /// @notice A report names another valuation method than the auction's.
    /// @param report Position of the report in the call.
    /// @param methodId The method it names.
    error ReportMethodMismatch(uint256 report, uint32 methodId);
    /// @notice A report's deadline has passed.
    /// @param report Position of the report in the call.
    /// @param deadline Its deadline.
    error ReportExpired(uint256 report, uint64 deadline);
    /// @notice A report's arrays do not all have the chunk's length.
    /// @param report Position of the report in the call.
    error ReportLengthMismatch(uint256 report);
    /// @notice A report does not list the chunk's revealed providers in commit order.
    /// @param report Position of the report in the call.
    /// @param position The first provider that does not match.
    error ProviderMismatch(uint256 report, uint256 position);
    /// @notice A report does not list the providers' revealed dataset roots.
    /// @param report Position of the report in the call.
    /// @param position The first root that does not match.
    error DatasetRootMismatch(uint256 report, uint256 position);
    /// @notice A score is out of bounds: q > MAX_QUALITY or |Δ| > MAX_ABS_DELTA.
    /// @param report Position of the report in the call.
    /// @param position The provider whose score is out of bounds.
    error ScoreOutOfBounds(uint256 report, uint256 position);
    /// @notice A signature is malformed or malleable (high s).
    /// @param report Position of the report in the call.
    error InvalidSignature(uint256 report);
    /// @notice A report's signer is not on the auction's committee.
    /// @param signer The recovered signer.
    error NotOracle(address signer);
    /// @notice The auction cannot be cancelled now (see `cancel`).
    /// @param auctionId The auction.
    /// @param current Its phase now.
    error CannotCancel(uint256 auctionId, Phase current);
    /// @notice The account has no credit in this asset.
    /// @param asset The asset.
    /// @param account The account.
    error NothingToWithdraw(address asset, address account);
    /// @notice The settlement order given is not the true order (or `settleChunk`'s entries are not the
    ///         verified ones).
    /// @param position The first entry that does not fit.
    error SettlementOrderMismatch(uint256 position);
    /// @notice `settleChunk` needs the whole settlement order verified first.
    /// @param ordered Entries verified so far.
    /// @param eligible Entries the order has.
    error SettlementOrderIncomplete(uint256 ordered, uint256 eligible);
    /// @notice One-shot `settle` is refused once chunked settlement has paid someone.
    /// @param auctionId The auction.
    /// @param paid Entries already paid.
    error SettlementInProgress(uint256 auctionId, uint256 paid);
    /// @notice An auction open to anyone needs deposit >= `minimum` (see AuctionParams.deposit).
    /// @param minimum The smallest deposit allowed.
    error DepositTooLow(uint256 minimum);
    /// @notice The auction admits only invited providers: use `commitInvited` with a Merkle proof.
    /// @param auctionId The auction.
    error InvitationRequired(uint256 auctionId);
    /// @notice The proof does not place `provider` in the auction's allowlist (or it has none).
    /// @param provider The caller.
    error NotInvited(address provider);
    /// @notice Nothing to refund: not revealed, already refunded, zero deposit, not yet settled or
    ///         cancelled, or forfeited (aggregated weight 0 at settlement).
    /// @param auctionId The auction.
    /// @param provider The provider.
    error DepositNotRefundable(uint256 auctionId, address provider);

    // ------------------------------------------------------------------ constants and public state

    /// @notice Largest committee an auction may name (bounds median and signature loops).
    /// @return The maximum committee size.
    function MAX_ORACLES() external view returns (uint256);

    /// @notice Largest number of providers an auction may accept (bounds settlement loops).
    /// @return The maximum of `maxProviders`.
    function MAX_PROVIDERS() external view returns (uint32);

    /// @notice Upper bound of a quality score: 1.0 in 18-decimal fixed point.
    /// @return The largest q a report may carry.
    function MAX_QUALITY() external view returns (uint256);

    /// @notice Bound on |Δ| in 18-decimal fixed point; keeps every mechanism product in 256 bits.
    /// @return The largest |Δ| a report may carry.
    function MAX_ABS_DELTA() external view returns (int256);

    /// @notice Scoring round of every report in this version (one scoring round per auction).
    /// @return The round reports must name.
    function SCORING_ROUND() external view returns (uint32);

    /// @notice Largest scoring chunk: providers one report (and one aggregation call) covers.
    /// @return The cap on `scoreChunk` for any committee.
    function MAX_SCORE_CHUNK() external view returns (uint16);

    /// @notice Bound on providers × committee members per chunk: a chunk holds at most MAX_SCORE_CELLS / n
    ///         providers, which bounds one aggregation call (medians of n weights per provider).
    /// @return The cap on chunk size times committee size.
    function MAX_SCORE_CELLS() external view returns (uint256);

    /// @notice Open auctions need deposit * maxProviders >= budget / MIN_SLOT_BOND_DIVISOR (rounded up per
    ///         slot): a Sybil filling every slot with junk forfeits at least 1% of the budget to the buyer.
    /// @return The divisor.
    function MIN_SLOT_BOND_DIVISOR() external view returns (uint256);

    /// @notice The EIP-712 type hash of `ScoreReport`.
    /// @return keccak256 of the ScoreReport type string.
    function SCORE_REPORT_TYPEHASH() external view returns (bytes32);

    /// @notice Number of auctions created; ids run from 1 to `auctionCount`.
    /// @return The number of auctions.
    function auctionCount() external view returns (uint256);

    /// @notice Everything this contract owes in one asset: unsettled escrows, unreturned deposits and
    ///         unwithdrawn credits. Its balance of the asset is at least this.
    /// @param asset The asset (address(0) = ETH).
    /// @return The amount owed.
    function totalOwed(address asset) external view returns (uint256);

    /// @notice Withdrawable balance of an account in one asset.
    /// @param asset The asset (address(0) = ETH).
    /// @param account The account.
    /// @return The credit `withdraw` pays out.
    function credits(address asset, address account) external view returns (uint256);

    /// @notice The factory that deploys every MUT token of this contract (keeps their code out of this one).
    /// @return The factory's address.
    function mutFactory() external view returns (address);

    // ------------------------------------------------------------------ create

    /// @notice Creates an auction and escrows its cash in the same transaction. For ETH send exactly the
    ///         cash escrow as value; for an ERC-20 approve it first. Tokens that deliver less than
    ///         requested (fee-on-transfer) are rejected.
    /// @param p The buyer's terms.
    /// @return auctionId The new auction's id.
    function createAuction(AuctionParams calldata p) external payable returns (uint256 auctionId);

    /// @notice Smallest deposit an auction open to anyone may ask: ceil(budget / (100 * maxProviders)), so
    ///         that the deposits of all slots together are at least 1% of the budget.
    /// @param budget The budget B.
    /// @param maxProviders The cap on commitments.
    /// @return The minimum deposit.
    function minimumDeposit(uint256 budget, uint256 maxProviders) external pure returns (uint256);

    // ------------------------------------------------------------------ commit / reveal

    /// @notice The commitment a provider posts: binds chain, contract, auction and the sender.
    /// @param auctionId The auction.
    /// @param provider The committing account.
    /// @param cost Its bid.
    /// @param salt A secret random salt.
    /// @param datasetRoot The Merkle root of the dataset it offers.
    /// @return The commitment.
    function commitmentOf(uint256 auctionId, address provider, uint256 cost, bytes32 salt, bytes32 datasetRoot)
        external
        view
        returns (bytes32);

    /// @notice Posts a sealed bid with the fixed deposit (ETH value, or an approved ERC-20 amount), in an
    ///         auction open to anyone.
    /// @param auctionId The auction.
    /// @param commitment The seal (see `commitmentOf`).
    function commit(uint256 auctionId, bytes32 commitment) external payable;

    /// @notice Posts a sealed bid in an auction that admits only listed providers.
    /// @param auctionId The auction.
    /// @param commitment The seal (see `commitmentOf`).
    /// @param proof Shows that the sender is a leaf of the auction's allowlist tree (OpenZeppelin standard,
    ///        sorted pairs).
    function commitInvited(uint256 auctionId, bytes32 commitment, bytes32[] calldata proof) external payable;

    /// @notice Opens the caller's own commitment. The deposit stays in escrow until the auction ends: see
    ///         `refundDeposit`.
    /// @param auctionId The auction.
    /// @param cost The bid committed to (at most 2^96 - 1).
    /// @param salt The salt committed to.
    /// @param datasetRoot The dataset root committed to (not zero).
    function reveal(uint256 auctionId, uint256 cost, bytes32 salt, bytes32 datasetRoot) external;

    // ------------------------------------------------------------------ scoring

    /// @notice The digest an oracle signs for `report` (EIP-712, bound to this chain and contract).
    /// @param report The report.
    /// @return The digest.
    function scoreReportDigest(ScoreReport calldata report) external view returns (bytes32);

    /// @notice Posts signed oracle reports for one scoring chunk while the scoring window is open. Anyone
    ///         may post (the oracle itself or a relayer); each member's first valid report for a chunk is
    ///         recorded, and the chunk is later aggregated over every recorded report, so no relayer and no
    ///         order of arrival decides which reports count. A call carrying every member's report
    ///         aggregates the chunk at once.
    /// @param auctionId The auction.
    /// @param chunk The scoring chunk: revealed providers at positions [chunk·scoreChunk, (chunk+1)·scoreChunk).
    /// @param reports Reports of committee members that have not posted for this chunk yet.
    /// @param signatures One low-s signature per report, over `scoreReportDigest`.
    function postReports(uint256 auctionId, uint256 chunk, ScoreReport[] calldata reports, bytes[] calldata signatures)
        external;

    /// @notice Aggregates a scoring chunk over every report posted for it (the lower median per provider):
    ///         as soon as all n members have posted, or once the scoring window has closed with at least
    ///         `threshold` reports. Anyone may call; the inputs are checked against stored hashes, so the
    ///         caller chooses nothing.
    /// @param auctionId The auction.
    /// @param chunk The scoring chunk.
    /// @param providers The chunk's providers (from the `ReportPosted` events).
    /// @param weights Each posted report's weights w = q·max(Δ,0)/1e18, in committee-slot order.
    function finalizeScores(
        uint256 auctionId,
        uint256 chunk,
        address[] calldata providers,
        uint256[][] calldata weights
    ) external;

    // ------------------------------------------------------------------ settle / cancel

    /// @notice Settles in one call: computes the winners and payments from the revealed bids and aggregated
    ///         weights, credits them, and credits the unspent cash and forfeited deposits to the buyer.
    ///         Anyone may call once the auction is Scored, or after the reveal deadline if nobody revealed.
    /// @param auctionId The auction.
    function settle(uint256 auctionId) external;

    /// @notice Verifies the next chunk of the settlement order: the commit indices of the eligible
    ///         providers (weight > 0) ascending in virtual cost b/w, ties by index. Anyone may call; only
    ///         the unique true continuation is accepted.
    /// @param auctionId The auction.
    /// @param indices Commit indices of the next providers of the order.
    function orderForSettlement(uint256 auctionId, uint256[] calldata indices) external;

    /// @notice Pays up to `maxPayments` more entries of the verified settlement order and, after the last,
    ///         credits the buyer's refund exactly as `settle` does. Anyone may call.
    /// @param auctionId The auction.
    /// @param entries The whole order as `orderForSettlement` hashed it (packed `OrderEntry` words).
    /// @param maxPayments Most entries to pay in this call.
    function settleChunk(uint256 auctionId, uint256[] calldata entries, uint256 maxPayments) external;

    /// @notice Chunked scoring and settlement progress of an auction.
    /// @param auctionId The auction.
    /// @return The progress record.
    function settlementProgress(uint256 auctionId) external view returns (Progress memory);

    /// @notice Cancels an auction: by anyone once the scoring window has closed with some scoring chunk
    ///         short of the quorum (or nobody revealed), or by the buyer before anyone committed. The cash
    ///         escrow and the deposits of non-revealers go to the buyer; revealed providers get theirs
    ///         through `refundDeposit`.
    /// @param auctionId The auction.
    function cancel(uint256 auctionId) external;

    /// @notice Credits a revealed provider's deposit back once the auction has ended: after settlement if
    ///         its aggregated weight is > 0, after a cancel in every case. Anyone may call; the credit goes
    ///         to `provider`.
    /// @param auctionId The auction.
    /// @param provider The provider whose deposit is due.
    function refundDeposit(uint256 auctionId, address provider) external;

    /// @notice Pays out the caller's whole credit in one asset.
    /// @param asset The asset (address(0) = ETH).
    function withdraw(address asset) external;

    // ------------------------------------------------------------------ views

    /// @notice The auction's current phase, derived from its status and the block timestamp.
    /// @param auctionId The auction.
    /// @return Its phase.
    function phase(uint256 auctionId) external view returns (Phase);

    /// @notice The auction's stored parameters and counters.
    /// @param auctionId The auction.
    /// @return The auction record.
    function getAuction(uint256 auctionId) external view returns (Auction memory);

    /// @notice A provider's bid record (`datasetRoot` holds the commitment until the reveal).
    /// @param auctionId The auction.
    /// @param provider The provider.
    /// @return The bid record (all zero if it never committed).
    function getBid(uint256 auctionId, address provider) external view returns (Bid memory);

    /// @notice Committed providers in commit order.
    /// @param auctionId The auction.
    /// @return The providers.
    function providersOf(uint256 auctionId) external view returns (address[] memory);

    /// @notice A provider's aggregated weight (median over every posted report); 0 until scored.
    /// @param auctionId The auction.
    /// @param provider The provider.
    /// @return The weight.
    function weightOf(uint256 auctionId, address provider) external view returns (uint256);

    /// @notice The reports posted so far for one scoring chunk.
    /// @param auctionId The auction.
    /// @param chunk The scoring chunk.
    /// @return The chunk record.
    function scoreChunkOf(uint256 auctionId, uint256 chunk) external view returns (ScoreChunk memory);

    /// @notice Whether anyone may cancel the auction now (the buyer also may before any commit).
    /// @param auctionId The auction.
    /// @return True when the scoring window closed short of the quorum.
    function cancellable(uint256 auctionId) external view returns (bool);

    /// @notice The oracle committee of an auction, in slot order.
    /// @param auctionId The auction.
    /// @return The committee.
    function oraclesOf(uint256 auctionId) external view returns (address[] memory);

    /// @notice Revealed providers and their dataset roots in commit order: what reports must list.
    /// @param auctionId The auction.
    /// @return providers The revealed providers.
    /// @return datasetRoots Their dataset roots.
    function revealedProviders(uint256 auctionId)
        external
        view
        returns (address[] memory providers, bytes32[] memory datasetRoots);
}
