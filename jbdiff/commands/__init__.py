"""Subcommands of the ``jbdiff`` CLI that live in the model library (sample, info)."""
