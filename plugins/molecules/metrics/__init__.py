"""Measuring molecules: MOSES set metrics and per-molecule RDKit scores (``molecular``), and a
stage's metrics and per-sample rows against the run's references (``stages``)."""
