"""Built-in tlgen plugins, registered through the `tlgen` entry-point group."""
