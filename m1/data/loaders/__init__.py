"""One module per benchmark; each exposes ``NAME``, ``DEFAULT_SPLIT``, ``KNOWN_FIELDS``,
``records(ctx)`` and ``convert(ctx, where, record)`` (see :mod:`m1.data.loaders.base`)."""
