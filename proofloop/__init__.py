"""proofloop: a formal-verification feedback loop (generate, check, train, repeat)."""

__version__ = "0.1.0"
