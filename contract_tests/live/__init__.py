"""Live conformance runs against the paid API: a planned run under a spend guard, its reports,
recording to cassettes, and drift between a recording and the mock."""
