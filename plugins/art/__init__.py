"""The art plugin: style transfer with diffusion models (see plugin.py)."""
