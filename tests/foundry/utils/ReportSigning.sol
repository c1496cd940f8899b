// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IMiaAuction} from "../../../contracts/interfaces/IMiaAuction.sol";
import {VM} from "./Vm.sol";

/// @notice EIP-712 encoding of a score report written out by hand (independently of
///         `ScoreReportHashing`), plus signing helpers for tests.
library ReportSigning {
    string internal constant SCORE_REPORT_TYPE = "ScoreReport(uint256 auctionId,uint32 round,address[] providers,"
        "uint256[] q,int256[] delta,bytes32[] datasetRoots,uint32 methodId,bytes32 transcriptHash,uint64 deadline)";
    string internal constant DOMAIN_TYPE =
        "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)";
    /// secp256k1 group order.
    uint256 internal constant SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141;

    function domainSeparator(uint256 chainId, address verifyingContract) internal pure returns (bytes32) {
        return keccak256(
            abi.encode(keccak256(bytes(DOMAIN_TYPE)), keccak256("mia"), keccak256("1"), chainId, verifyingContract)
        );
    }

    /// EIP-712 `encodeData` of an array of atomic values: keccak256 of the concatenated 32-byte words.
    function _hashWords(bytes32[] memory words) private pure returns (bytes32) {
        bytes memory out;
        for (uint256 i = 0; i < words.length; ++i) {
            out = bytes.concat(out, words[i]);
        }
        return keccak256(out);
    }

    function structHash(IMiaAuction.ScoreReport memory r) internal pure returns (bytes32) {
        uint256 n = r.providers.length;
        bytes32[] memory providers = new bytes32[](n);
        for (uint256 i = 0; i < n; ++i) {
            providers[i] = bytes32(uint256(uint160(r.providers[i]))); // address: left-padded
        }
        bytes32[] memory q = new bytes32[](r.q.length);
        for (uint256 i = 0; i < q.length; ++i) {
            q[i] = bytes32(r.q[i]);
        }
        bytes32[] memory delta = new bytes32[](r.delta.length);
        for (uint256 i = 0; i < delta.length; ++i) {
            delta[i] = bytes32(uint256(r.delta[i])); // int256: two's complement word
        }
        return keccak256(
            bytes.concat(
                keccak256(bytes(SCORE_REPORT_TYPE)),
                bytes32(r.auctionId),
                bytes32(uint256(r.round)),
                _hashWords(providers),
                _hashWords(q),
                _hashWords(delta),
                _hashWords(r.datasetRoots),
                bytes32(uint256(r.methodId)),
                r.transcriptHash,
                bytes32(uint256(r.deadline))
            )
        );
    }

    function digest(IMiaAuction.ScoreReport memory r, uint256 chainId, address verifyingContract)
        internal
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(hex"1901", domainSeparator(chainId, verifyingContract), structHash(r)));
    }

    /// 65-byte r ‖ s ‖ v signature, as eth-account produces it.
    function sign(uint256 privateKey, bytes32 d) internal pure returns (bytes memory) {
        (uint8 v, bytes32 r, bytes32 s) = VM.sign(privateKey, d);
        return abi.encodePacked(r, s, v);
    }

    /// The malleated twin (r, n - s, v ^ 1): recovers the same signer but has a high s.
    function highS(bytes memory sig) internal pure returns (bytes memory) {
        (bytes32 r, bytes32 s, uint8 v) = split(sig);
        return abi.encodePacked(r, bytes32(SECP256K1_N - uint256(s)), v == 27 ? uint8(28) : uint8(27));
    }

    function split(bytes memory sig) internal pure returns (bytes32 r, bytes32 s, uint8 v) {
        require(sig.length == 65, "sig length");
        assembly ("memory-safe") {
            r := mload(add(sig, 0x20))
            s := mload(add(sig, 0x40))
            v := byte(0, mload(add(sig, 0x60)))
        }
    }

    /// What `ecrecover` makes of `sig` over `d` (used to predict the NotOracle(address) argument).
    function recover(bytes32 d, bytes memory sig) internal pure returns (address) {
        (bytes32 r, bytes32 s, uint8 v) = split(sig);
        return ecrecover(d, v, r, s);
    }

    /// Oracle `o`'s report for round 1 of auction `id` over `providers`, with zeroed scores to fill in.
    function blankReport(uint256 id, address[] memory providers, bytes32[] memory roots, uint256 o, uint64 deadline)
        internal
        pure
        returns (IMiaAuction.ScoreReport memory r)
    {
        r.auctionId = id;
        r.round = 1;
        r.providers = providers;
        r.datasetRoots = roots;
        r.q = new uint256[](providers.length);
        r.delta = new int256[](providers.length);
        r.methodId = 1;
        r.transcriptHash = keccak256(abi.encode("transcript", id, o));
        r.deadline = deadline;
    }

    /// Oracle `o`'s pseudo-random report for `providers` (q in [0, 1], some exactly 1; Δ in [-2, 10], some
    /// exactly 0). Values are keyed by provider address, so chunks of one run agree with the whole report.
    function randomReport(uint256 id, address[] memory providers, bytes32[] memory roots, uint256 seed, uint256 o)
        internal
        pure
        returns (IMiaAuction.ScoreReport memory r)
    {
        r = blankReport(id, providers, roots, o, type(uint64).max);
        for (uint256 j = 0; j < providers.length; ++j) {
            uint256 h = uint256(keccak256(abi.encode(seed, o, providers[j])));
            r.q[j] = h % 5 == 0 ? 1e18 : (h >> 8) % (1e18 + 1);
            r.delta[j] = h % 7 == 0 ? int256(0) : int256((h >> 80) % 12e18) - 2e18;
        }
    }
}
