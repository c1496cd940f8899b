// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @notice The subset of Foundry's cheatcodes this suite uses.
/// @dev forge-std is not installable here: the npm package `forge-std` is an unofficial 2022-era
///      copy (no `src/`, imports `ds-test/test.sol` which it does not ship), so it does not compile.
///      The signatures below are those of forge 1.x (`forge-std/src/Vm.sol`); a cheatcode is
///      dispatched by selector, so only names and parameter types matter.
interface Vm {
    struct Log {
        bytes32[] topics;
        bytes data;
        address emitter;
    }

    // ----- environment
    function warp(uint256 newTimestamp) external;
    function getBlockTimestamp() external view returns (uint256);
    function chainId(uint256 newChainId) external;
    function deal(address account, uint256 newBalance) external;
    function label(address account, string calldata newLabel) external;
    function toString(uint256 value) external pure returns (string memory);

    // ----- compiled artifacts ("File.sol:Contract")
    function getCode(string calldata artifactPath) external view returns (bytes memory creationBytecode);

    // ----- callers
    function prank(address msgSender) external;
    function startPrank(address msgSender) external;
    function stopPrank() external;

    // ----- keys
    function addr(uint256 privateKey) external pure returns (address keyAddr);
    function sign(uint256 privateKey, bytes32 digest) external pure returns (uint8 v, bytes32 r, bytes32 s);

    // ----- expectations
    function expectRevert(bytes calldata revertData) external;
    function expectRevert(bytes4 revertData) external;
    function expectRevert() external;
    function expectEmit(bool checkTopic1, bool checkTopic2, bool checkTopic3, bool checkData, address emitter) external;
    function recordLogs() external;
    function getRecordedLogs() external returns (Log[] memory logs);

    // ----- fuzzing
    function assume(bool condition) external pure;

    // ----- assertions (revert with a formatted message on failure)
    function assertTrue(bool condition, string calldata error) external pure;
    function assertFalse(bool condition, string calldata error) external pure;
    function assertEq(bool left, bool right, string calldata error) external pure;
    function assertEq(uint256 left, uint256 right, string calldata error) external pure;
    function assertEq(int256 left, int256 right, string calldata error) external pure;
    function assertEq(address left, address right, string calldata error) external pure;
    function assertEq(bytes32 left, bytes32 right, string calldata error) external pure;
    function assertEq(bytes calldata left, bytes calldata right, string calldata error) external pure;
    function assertGe(uint256 left, uint256 right, string calldata error) external pure;
    function assertGt(uint256 left, uint256 right, string calldata error) external pure;
    function assertLe(uint256 left, uint256 right, string calldata error) external pure;
    function assertLt(uint256 left, uint256 right, string calldata error) external pure;
}

/// @dev address(uint160(uint256(keccak256("hevm cheat code"))))
Vm constant VM = Vm(0x7109709ECfa91a80626fF3989D68f67F5b1DD12D);
