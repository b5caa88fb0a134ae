"""Choosing the device a model runs on."""

from __future__ import annotations

__all__ = ["choose_device"]

_CHOICES = ("auto", "cpu", "cuda", "mps")


def _mps_available(torch) -> bool:
    backend = getattr(torch.backends, "mps", None)
    return bool(backend is not None and backend.is_available())


def choose_device(request: str = "auto"):
    """Pick the torch device for training or inference and say why.

    Parameters
    ----------
    request : {"auto", "cpu", "cuda", "mps"}
        ``"auto"`` takes CUDA when a CUDA GPU is usable, then Apple's MPS, then the CPU.
        A named device must be available; ``"cuda:1"`` style indices are accepted.

    Returns
    -------
    device : torch.device
        The chosen device.
    message : str
        One sentence naming the device and the reason, for a status bar or a log.

    Raises
    ------
    ValueError
        For an unknown request, or a named device that is not available here.
    """
    import torch

    text = str(request).strip().lower()
    kind = text.split(":", 1)[0]
    if kind not in _CHOICES:
        raise ValueError(f"unknown device {request!r}: choose one of {', '.join(_CHOICES)}")
    cuda = torch.cuda.is_available()
    mps = _mps_available(torch)
    if kind == "auto":
        if cuda:
            name = torch.cuda.get_device_name(0)
            return torch.device("cuda"), f"using CUDA GPU {name} (auto: CUDA is available)"
        if mps:
            return torch.device("mps"), "using Apple MPS (auto: no CUDA GPU; MPS is available)"
        threads = torch.get_num_threads()
        return torch.device("cpu"), f"using the CPU, {threads} threads (auto: no CUDA GPU and no MPS)"
    if kind == "cuda":
        if not cuda:
            raise ValueError(f"device {request!r} asked for, but torch {torch.__version__} sees no CUDA GPU")
        device = torch.device(text)
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {request!r} asked for, but only {torch.cuda.device_count()} CUDA GPU(s) exist")
        return device, f"using CUDA GPU {torch.cuda.get_device_name(index)} (asked for)"
    if kind == "mps":
        if not mps:
            raise ValueError(f"device {request!r} asked for, but MPS is not available here")
        return torch.device("mps"), "using Apple MPS (asked for)"
    return torch.device("cpu"), f"using the CPU, {torch.get_num_threads()} threads (asked for)"
