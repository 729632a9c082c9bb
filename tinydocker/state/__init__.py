"""What tinydocker keeps on disk: the data root, and the container records under one lock."""
