"""Generator backends behind one interface; see `proofloop.generate.base`."""

from proofloop.generate.base import Completion, Generator, SamplingParams

__all__ = ["Completion", "Generator", "SamplingParams"]
