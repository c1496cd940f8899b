// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IMiaAuction} from "../interfaces/IMiaAuction.sol";

/// @title ScoreReportHashing
/// @notice EIP-712 typed-data digest of an oracle score report, bound to this chain and contract.
/// @dev Arrays are hashed as keccak256 of their 32-byte-padded elements, as EIP-712 prescribes, so
///      any standard signer (eth-account's `encode_typed_data`) produces the same digest.
abstract contract ScoreReportHashing is EIP712 {
    bytes32 public constant SCORE_REPORT_TYPEHASH = keccak256(
        "ScoreReport(uint256 auctionId,uint32 round,address[] providers,uint256[] q,int256[] delta,"
        "bytes32[] datasetRoots,uint32 methodId,bytes32 transcriptHash,uint64 deadline)"
    );

    constructor() EIP712("mia", "1") {}

    /// @notice The digest an oracle signs for `report`.
    function scoreReportDigest(IMiaAuction.ScoreReport calldata report) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    SCORE_REPORT_TYPEHASH,
                    report.auctionId,
                    report.round,
                    keccak256(abi.encodePacked(report.providers)),
                    keccak256(abi.encodePacked(report.q)),
                    keccak256(abi.encodePacked(report.delta)),
                    keccak256(abi.encodePacked(report.datasetRoots)),
                    report.methodId,
                    report.transcriptHash,
                    report.deadline
                )
            )
        );
    }
}
