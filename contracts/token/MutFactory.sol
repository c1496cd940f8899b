// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {MarginalUtilityToken} from "./MarginalUtilityToken.sol";

/// @title MutFactory
/// @notice Deploys MUT tokens on behalf of one auction contract, which becomes each token's minter.
/// @dev Exists so that the token's creation code lives outside MiaAuction's runtime bytecode (the
///      24,576-byte limit); the auction deploys its factory in its own constructor.
contract MutFactory {
    /// @notice The auction contract that deployed this factory: the only caller and every token's minter.
    address public immutable auction;

    error NotAuction(address caller);

    constructor() {
        auction = msg.sender;
    }

    /// @notice A new MUT for auction `auctionId` alone (at most `maxSupply`), minted only by the auction.
    function create(address asset, address buyer, bytes32 modelId, uint256 auctionId, uint256 maxSupply)
        external
        returns (address)
    {
        if (msg.sender != auction) revert NotAuction(msg.sender);
        return address(
            new MarginalUtilityToken(
                "mia Marginal Utility Token", "MUT", asset, buyer, modelId, auction, auctionId, maxSupply
            )
        );
    }
}
