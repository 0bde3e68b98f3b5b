// SPDX-License-Identifier: MIT
pragma solidity ^0.8.28;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";

/// @title PieceToken
/// @notice The ERC-20 (with EIP-2612 permit) that piecepay deploys on devnets and testnets. The escrow works
/// with any ERC-20 given at its construction; this one exists so a fresh chain has something to pay with.
/// @dev The whole fixed supply goes to `holder` at deployment; there is no minting afterwards and no owner.
contract PieceToken is ERC20, ERC20Permit {
    constructor(string memory name_, string memory symbol_, address holder, uint256 supply)
        ERC20(name_, symbol_)
        ERC20Permit(name_)
    {
        _mint(holder, supply);
    }
}
