"""Volumes: host directories and named volumes mounted into containers."""
