"""The Linux interfaces Python does not wrap (system calls through ctypes) and /proc."""
