"""The one rule for choosing a torch device (torch is imported only when a device is resolved)."""

from __future__ import annotations


class DeviceUnavailableError(ValueError, RuntimeError):
    """A configured device is not present on this machine."""


def resolve_device(name: str, where: str = "device") -> str:
    """``auto`` -> cuda, then mps, then cpu; an explicit CUDA device must be available.

    ``where`` is the parameter key that holds ``name``, so the error says what to change.
    """
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise DeviceUnavailableError(
            f"{where} is {name!r} but CUDA is not available here; set it to 'auto' or 'cpu'"
        )
    return name
