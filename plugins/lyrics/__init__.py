"""Built-in lyrics plugin: fine-tune a causal LM on one artist's songs (see plugin.py)."""
