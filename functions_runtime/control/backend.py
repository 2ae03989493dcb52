"""A backend bundles the three stores the control plane needs."""

from __future__ import annotations

from dataclasses import dataclass

from .ports import BlobStore, MetadataStore, SecretBox

__all__ = ["Backend"]


@dataclass(frozen=True)
class Backend:
    metadata: MetadataStore
    blobs: BlobStore
    box: SecretBox
