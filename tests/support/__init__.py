"""The tests' shared harness: fixtures and helpers that more than one test folder uses."""
