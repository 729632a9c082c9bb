"""A container's life: the parent side (runtime, exec), the child side (init), the resident
monitor of detached containers, its stdio, terminal and log."""
