"""`kestra-copilot mcp`: the MCP server for coding agents (copilot/mcp_server.py), on stdio or HTTP.

    kestra-copilot mcp                      # stdio: what Claude Code, Gemini CLI, VS Code and Cursor start
    kestra-copilot mcp --http 8765          # streamable HTTP at http://127.0.0.1:8765/mcp

A host that is not loopback is refused unless --allow-remote says so: the server has no authentication of
its own, and with mcp_writes on it deploys and runs flows. The `mcp` SDK is imported only when it runs.
"""

from __future__ import annotations

import argparse

from .cli_args import Commands
from .errors import CopilotError
from .exitcodes import EXIT_OK

__all__ = ["add_parsers", "parse_listen"]


def add_parsers(commands: Commands) -> None:
    mcp = commands.add_parser(
        "mcp",
        help="serve the validator, plugin catalog, search, deploy and test-run to coding agents (MCP)",
        description="An MCP server for coding agents: stdio by default (the agent starts it), or streamable "
        "HTTP with --http. Deploy and test-run are off unless the mcp_writes setting is on.",
    )
    mcp.add_argument(
        "--http",
        metavar="[HOST:]PORT",
        type=parse_listen,
        help="serve streamable HTTP at http://HOST:PORT/mcp instead of stdio (HOST: 127.0.0.1)",
    )
    mcp.add_argument(
        "--allow-remote",
        action="store_true",
        help="with --http, allow a HOST that is not loopback (the server has no authentication of its own)",
    )
    mcp.set_defaults(handler=mcp_command)


def parse_listen(value: str) -> tuple[str, int]:
    """`8765`, `127.0.0.1:8765`, `[::1]:8765` → (host, port); the host defaults to 127.0.0.1."""
    host, colon, port = value.rpartition(":")
    host = host.strip("[]") if colon else "127.0.0.1"
    if not port.isdigit() or not 0 < int(port) < 65536 or not host:
        raise argparse.ArgumentTypeError(f"{value!r} is not [HOST:]PORT (e.g. 8765 or 127.0.0.1:8765)")
    return host, int(port)


def mcp_command(args: argparse.Namespace) -> int:
    from .config import load_settings

    settings = load_settings()  # a bad config file is said here, before the agent sees a server
    if args.http is not None:
        from .mcp_server import is_loopback

        host = args.http[0]
        if not is_loopback(host) and not args.allow_remote:
            raise CopilotError(
                f"{host} is not a loopback address: the MCP server would be open to the network, without "
                "authentication.",
                hint="Serve on 127.0.0.1 (the default), or pass --allow-remote behind a proxy that authenticates.",
            )
    elif args.allow_remote:
        raise CopilotError("--allow-remote is about --http: stdio serves only the agent that started it.")
    from .mcp_server import serve

    serve(settings, http=args.http)
    return EXIT_OK
