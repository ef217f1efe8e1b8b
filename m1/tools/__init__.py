"""Video tools for the agent team: a registry of seven tools over shared perception.

Entry points: :func:`m1.tools.registry.catalogue`, :func:`m1.tools.registry.execute`,
:class:`m1.tools.context.ToolContext`. See :mod:`m1.tools.builtin` for each tool's semantics.
Imports nothing heavy at package import (no torch, no OCR models until first use).
"""
