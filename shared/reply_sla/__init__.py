"""replysla: a serverless reply-SLA monitor for a brand's social and community channels."""

__version__ = "0.1.0"
