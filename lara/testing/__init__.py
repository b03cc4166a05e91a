"""Test helpers shipped with the package (a loopback OpenAI server) so benchmarks can use them too."""
