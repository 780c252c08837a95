"""Storage: the contract (base) and its back ends."""
