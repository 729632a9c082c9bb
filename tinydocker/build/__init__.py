"""tinydocker build: images from Dockerfiles and Containerfiles."""
