// SPDX-License-Identifier: Apache-2.0
pragma solidity ^0.8.24;

/// @title Vitalog anchor registry
/// @notice Records signed transparency-log checkpoints (C2SP tlog-checkpoint) on an EVM ledger.
/// @dev Who may write: anyone, but only into their own namespace. A log is identified on chain by the
///      pair (writer account, logId): the latest anchor is stored under keccak(writer, logId), so no
///      account can squat, block or roll back another account's log. Consumers MUST filter by the
///      gateway's writer account (tx `from`, or `latest(writer, logId)`) and MUST verify the Ed25519
///      signature of the anchored checkpoint; `checkpointHash` = SHA-256(exact note text) binds the
///      event to that signed note. The contract is immutable: no owner, no upgrade, no ether.
/// @dev Storage: one slot per (writer, logId), packed as treeSize (uint64) | first 24 bytes of
///      checkpointHash (bytes24). First anchor: one zero->non-zero SSTORE; later anchors: one
///      non-zero->non-zero SSTORE. The full hashes live in the `Anchored` event.
contract AnchorRegistry {
    struct Latest {
        uint64 treeSize;
        bytes24 checkpointHashPrefix;
    }

    /// @notice Emitted for every accepted anchor.
    event Anchored(bytes32 indexed logId, uint64 treeSize, bytes32 rootHash, bytes32 checkpointHash);

    /// @notice treeSize is not larger than the latest anchored size for (msg.sender, logId).
    error TreeSizeNotGrowing(uint64 latest, uint64 offered);

    mapping(address => mapping(bytes32 => Latest)) private _latest;

    /// @notice Anchors a checkpoint. Reverts unless treeSize grows strictly for (msg.sender, logId);
    ///         anchoring the same checkpoint twice therefore reverts.
    function anchor(bytes32 logId, uint64 treeSize, bytes32 rootHash, bytes32 checkpointHash) external {
        Latest storage slot = _latest[msg.sender][logId];
        uint64 previous = slot.treeSize;
        if (treeSize <= previous) revert TreeSizeNotGrowing(previous, treeSize);
        _latest[msg.sender][logId] = Latest(treeSize, bytes24(checkpointHash));
        emit Anchored(logId, treeSize, rootHash, checkpointHash);
    }

    /// @notice The latest anchor of (writer, logId); zero values when none.
    function latest(address writer, bytes32 logId)
        external
        view
        returns (uint64 treeSize, bytes24 checkpointHashPrefix)
    {
        Latest storage slot = _latest[writer][logId];
        return (slot.treeSize, slot.checkpointHashPrefix);
    }
}
