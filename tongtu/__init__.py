"""tongtu (同图): self-hosted same-image search, wire-compatible with Baidu's same_hq API."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
