"""tlgen-abc: a tlgen plugin that fine-tunes a character-level GPT-2 on folk tunes in ABC
notation."""

__version__ = "0.1.0"
