"""The contract suites. Run them with `spark-contract` (or `make contract`), not with plain pytest."""
