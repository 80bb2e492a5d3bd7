"""The only code that talks to AWS or the channels' APIs."""
