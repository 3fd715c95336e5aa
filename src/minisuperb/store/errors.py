"""The store's user-facing error."""

from minisuperb.errors import MinisuperbError


class StoreError(MinisuperbError):
    """A feature store is missing, incomplete, from another model, or could not be written."""
