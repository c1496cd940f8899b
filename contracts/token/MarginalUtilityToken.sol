// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {AssetTransfer} from "../lib/AssetTransfer.sol";

/// @title MarginalUtilityToken (MUT)
/// @notice ERC-20 share in a buyer's future model revenue, one token per auction. Only the auction
///         contract mints, at that auction's settlement, in proportion to each winner's critical payment,
///         and never more than `maxSupply` (the auction's budget, fixed at creation): no later
///         auction can dilute its holders. Anyone may deposit revenue in the payment asset; every holder
///         can claim its pro-rata share of each deposit, correctly across transfers, mints and claims
///         made at any time.
/// @dev Cumulative revenue-per-token accounting (no loops over holders): `revenuePerToken` grows by
///      amount·1e36/supply on each deposit; an account's entitlement is settled into `accrued` whenever
///      its balance changes. Divisions round down, so claims never exceed deposits; the sub-unit
///      remainder of each deposit is carried into the next one and tracked in `carry`.
contract MarginalUtilityToken is ERC20, ReentrancyGuard {
    uint256 internal constant PRECISION = 1e36;

    /// @notice The only address allowed to mint (the auction contract whose factory deployed this token).
    address public immutable minter;
    /// @notice Revenue asset: address(0) for ETH, otherwise an ERC-20.
    address public immutable asset;
    /// @notice The buyer whose model revenue this token shares.
    address public immutable buyer;
    /// @notice Identifier of the model (the auction's task commitment or a buyer-chosen id).
    bytes32 public immutable modelId;
    /// @notice The auction whose winners alone hold this token.
    uint256 public immutable auctionId;
    /// @notice Most MUT that can ever exist: the auction's budget (the payments it mints for add up to at most B).
    uint256 public immutable maxSupply;

    /// @notice Revenue per token, scaled by 1e36, accumulated over all deposits.
    uint256 public revenuePerToken;
    /// @notice Remainder (scaled by 1e36) not yet distributed because of rounding; joins the next deposit.
    uint256 public carry;
    /// @notice Total revenue deposited and total claimed, in asset units.
    uint256 public totalDeposited;
    uint256 public totalClaimed;

    mapping(address account => uint256) public accrued;
    mapping(address account => uint256) internal _paidPerToken;

    event RevenueDeposited(address indexed from, uint256 amount, uint256 revenuePerToken, uint256 supply);
    event RevenueClaimed(address indexed account, uint256 amount);

    error NotMinter(address caller);
    error SupplyCapExceeded(uint256 maxSupply, uint256 supply);
    error NoHolders();
    error ZeroAmount();
    error NothingToClaim(address account);

    constructor(
        string memory name_,
        string memory symbol_,
        address asset_,
        address buyer_,
        bytes32 modelId_,
        address minter_,
        uint256 auctionId_,
        uint256 maxSupply_
    ) ERC20(name_, symbol_) {
        minter = minter_;
        asset = asset_;
        buyer = buyer_;
        modelId = modelId_;
        auctionId = auctionId_;
        maxSupply = maxSupply_;
    }

    /// @notice Mints `amount` MUT to `to`; only the auction contract, never beyond `maxSupply`.
    function mint(address to, uint256 amount) external {
        if (msg.sender != minter) revert NotMinter(msg.sender);
        uint256 supply = totalSupply() + amount;
        if (supply > maxSupply) revert SupplyCapExceeded(maxSupply, supply);
        _mint(to, amount);
    }

    /// @notice Deposits `amount` of revenue for current holders (send ETH as value, or approve the token).
    function depositRevenue(uint256 amount) external payable nonReentrant {
        if (amount == 0) revert ZeroAmount();
        uint256 supply = totalSupply();
        if (supply == 0) revert NoHolders();
        AssetTransfer.collectExact(asset, amount, msg.value);
        uint256 scaled = amount * PRECISION + carry;
        // Intended: the quotient's remainder is carried into the next deposit, never lost.
        // slither-disable-next-line divide-before-multiply
        uint256 increment = scaled / supply;
        carry = scaled - increment * supply;
        revenuePerToken += increment;
        totalDeposited += amount;
        emit RevenueDeposited(msg.sender, amount, revenuePerToken, supply);
    }

    /// @notice Revenue `account` can claim now.
    function claimable(address account) public view returns (uint256) {
        return accrued[account] + _pending(account);
    }

    /// @notice Pays the caller everything it can claim.
    function claim() external nonReentrant returns (uint256 amount) {
        _checkpoint(msg.sender);
        amount = accrued[msg.sender];
        if (amount == 0) revert NothingToClaim(msg.sender);
        accrued[msg.sender] = 0;
        totalClaimed += amount;
        emit RevenueClaimed(msg.sender, amount);
        AssetTransfer.pay(asset, msg.sender, amount);
    }

    /// @notice Deposited revenue not yet claimed (entitlements plus rounding dust).
    function unclaimed() external view returns (uint256) {
        return totalDeposited - totalClaimed;
    }

    function _pending(address account) internal view returns (uint256) {
        return Math.mulDiv(balanceOf(account), revenuePerToken - _paidPerToken[account], PRECISION);
    }

    function _checkpoint(address account) internal {
        if (account == address(0)) return;
        accrued[account] += _pending(account);
        _paidPerToken[account] = revenuePerToken;
    }

    /// @dev Settles both parties' entitlements at the old balances before any balance moves.
    function _update(address from, address to, uint256 value) internal override {
        _checkpoint(from);
        _checkpoint(to);
        super._update(from, to, value);
    }
}
