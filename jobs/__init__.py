"""Ray job entrypoints: each module has ``main(cfg)`` and runs as ``python jobs/<name>.py [overrides]``
or under ``ray job submit --working-dir . -- python jobs/<name>.py``."""
