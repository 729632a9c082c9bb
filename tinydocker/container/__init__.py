"""A container's life: the parent side (runtime, exec), the child side (init), the resident
supervisor of a detached container, its stdio, terminal and log."""
