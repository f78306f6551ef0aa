"""Use cases, one module per capability: each function takes an unlocked ``Session``,
the instant ``now`` and the command's inputs, and does its work in one transaction
with its audit entries."""
