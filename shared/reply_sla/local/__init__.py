"""The embedded local stack: moto provisioning from the template, fake channel servers, the demo."""
