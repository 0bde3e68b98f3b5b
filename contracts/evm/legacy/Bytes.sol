// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

/// @notice Replaces OpenZeppelin's utils/Bytes.sol in the `legacy` build's copy of OpenZeppelin
/// (deps-legacy/, made by tools/legacy-openzeppelin.sh). OpenZeppelin 5.7's Bytes uses MCOPY (Cancun)
/// throughout, which solc refuses to compile for an older EVM, and it is reached only through
/// utils/Strings.sol (MessageHashUtils → EIP712, ECDSA), which calls nothing of it but `equal`. This is that
/// function, as OpenZeppelin writes it; a build that needs more of Bytes fails to compile here rather than
/// silently changing behaviour.
library Bytes {
    /// @dev Returns true if the two byte buffers are equal.
    function equal(bytes memory a, bytes memory b) internal pure returns (bool) {
        return a.length == b.length && keccak256(a) == keccak256(b);
    }
}
