"""Developer tools run from the repository root (`uv run python -m tools.NAME`)."""
