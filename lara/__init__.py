"""lara: measure when long context beats RAG, and ship the answer as a routing policy.

Importing ``lara`` does nothing but define the version: every subsystem is imported on use.
"""

__version__ = "0.1.0"
