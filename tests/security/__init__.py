"""The threat model, one file per threat: what a model writes, what Kestra logs say and what files hold is
untrusted, and the user's credentials, history and machine must survive it.

- test_consent.py      a model's flow is deployed or run only with the user's yes (or a documented opt-in)
- test_namespaces.py   it lands only where the user allowed, with namespace and id set on the parsed flow
- test_secrets*.py     credentials never reach the model, the logs, the store or another server
- test_integrity.py    concurrent use and corrupt state lose nothing and end in no traceback
- test_limits.py       hostile sizes, files, paths and bytes are refused with a clear message

Every test runs against loopback doubles only (tests/fakes).
"""
