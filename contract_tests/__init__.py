"""Contract suites for the wan2.6-i2v-spark API (issue 3)."""
