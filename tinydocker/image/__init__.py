"""Images: the store of read-only root filesystems, and how they are made."""
