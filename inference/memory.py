"""Running out of accelerator memory: what torch raises, and giving back what it cached.

torch raises ``torch.OutOfMemoryError`` when an allocation fails (``torch.cuda.OutOfMemoryError``
is the same class). The engine and the verifier turn it into ``inference.types.ModelOutOfMemory``
for the requests of the batch that failed, release the memory, and go on with later work.
"""

from __future__ import annotations

import gc

import torch

OutOfMemoryError = torch.OutOfMemoryError


def release_memory(device: torch.device) -> None:
    """Give the allocator's cached blocks back to the device.

    Call it once the failed batch's tensors are unreachable (outside the ``except`` block, whose
    traceback holds the frames that held them).
    """
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def first_line(exc: BaseException) -> str:
    """torch's own message is several lines of allocator statistics: its first line says enough."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
