"""Contract suites for the wan2.6-i2v-spark API: the suites, their runner, and live runs (live/)."""
