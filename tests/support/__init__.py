"""What the tests and the benchmarks share: sample requests, local servers, processes, a real PayloadCMS.

Tests and benchmarks import helpers from here only, never from a test module or a conftest.
"""
