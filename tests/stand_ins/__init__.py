"""Targets that stand in for the live API in the tests: each a mock that breaks or reads the contract its own way."""
