"""The molecule data: reading, cleaning and splitting molecule sets (``molecules``), and from
the ``[data]`` config to split sets and token sequences (``sequences``)."""
