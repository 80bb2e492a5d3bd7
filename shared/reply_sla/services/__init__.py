"""Use-cases: poll an account, check SLAs, build a weekly summary, dispatch polls."""
