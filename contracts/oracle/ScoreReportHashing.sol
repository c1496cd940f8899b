// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {IMiaAuction} from "../interfaces/IMiaAuction.sol";

/// @title ScoreReportHashing
/// @notice EIP-712 typed-data digest of an oracle score report, bound to this chain and contract.
/// @dev Arrays are hashed as keccak256 of their 32-byte-padded elements, as EIP-712 prescribes, so
///      any standard signer (eth-account's `encode_typed_data`) produces the same digest.
///      It implements IMiaAuction's hashing functions, so the auction inherits them through one path.
abstract contract ScoreReportHashing is IMiaAuction, EIP712 {
    /// @inheritdoc IMiaAuction
    bytes32 public constant SCORE_REPORT_TYPEHASH = keccak256(
        "ScoreReport(uint256 auctionId,uint32 round,address[] providers,uint256[] q,int256[] delta,"
        "bytes32[] datasetRoots,uint32 methodId,bytes32 transcriptHash,uint64 deadline)"
    );

    constructor() EIP712("mia", "1") {}

    /// @inheritdoc IMiaAuction
    function scoreReportDigest(ScoreReport calldata report) public view returns (bytes32) {
        return _scoreReportDigest(report, hashWords(report.providers), hashWords(report.datasetRoots));
    }

    /// @dev EIP-712 hash of an array of 32-byte atomic values, read straight from calldata: it equals
    ///      keccak256(abi.encodePacked(v)) but uses scratch memory past the free-memory pointer, so
    ///      verifying many reports does not grow memory (whose cost is quadratic) report by report.
    function hashWords(bytes32[] calldata v) internal pure returns (bytes32 h) {
        assembly ("memory-safe") {
            let size := shl(5, v.length)
            let p := mload(0x40)
            calldatacopy(p, v.offset, size)
            h := keccak256(p, size)
        }
    }

    function hashWords(address[] calldata v) internal pure returns (bytes32) {
        bytes32[] calldata w;
        assembly ("memory-safe") {
            w.offset := v.offset
            w.length := v.length
        }
        return hashWords(w);
    }

    function hashWords(uint256[] calldata v) internal pure returns (bytes32) {
        bytes32[] calldata w;
        assembly ("memory-safe") {
            w.offset := v.offset
            w.length := v.length
        }
        return hashWords(w);
    }

    function hashWords(int256[] calldata v) internal pure returns (bytes32) {
        bytes32[] calldata w;
        assembly ("memory-safe") {
            w.offset := v.offset
            w.length := v.length
        }
        return hashWords(w);
    }

    /// @dev The digest of `report` given the EIP-712 hashes of its providers and dataset roots, which the
    ///      caller has already computed to compare reports (hashing them again costs gas per signer).
    function _scoreReportDigest(ScoreReport calldata report, bytes32 providersHash, bytes32 rootsHash)
        internal
        view
        returns (bytes32)
    {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    SCORE_REPORT_TYPEHASH,
                    report.auctionId,
                    report.round,
                    providersHash,
                    hashWords(report.q),
                    hashWords(report.delta),
                    rootsHash,
                    report.methodId,
                    report.transcriptHash,
                    report.deadline
                )
            )
        );
    }
}
