"""Entry points: the CLI, the worker loop, `check`, `reconcile`, and the one bootstrap they share."""
