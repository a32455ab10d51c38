"""Runnable examples: ``python -m cyreactor.examples.echo``."""
