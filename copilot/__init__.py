"""kestra-copilot: write, validate, review, deploy and test-run Kestra flows with an AI model.

The library is usable without any UI: `copilot.flows` holds the pure flow toolkit
(extract, parse, schema, validate, lint, diff).
"""

__version__ = "0.1.0"
