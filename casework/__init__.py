"""casework: a school's attendance policy, running."""
__version__ = "0.1.0"
