"""exolab: a laboratory of operating-system structures on one simulated machine."""
__version__ = "0.1.0"
