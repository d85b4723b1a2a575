import anyio
from django.core.management.base import BaseCommand

from distribution.mcp import serve_http, serve_stdio


class Command(BaseCommand):
    help = "Run the Distribution MCP server over stdio (default) or streamable HTTP (--http)."

    def add_arguments(self, parser):
        parser.add_argument("--http", action="store_true", help="Serve streamable HTTP at http://HOST:PORT/mcp.")
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)

    def handle(self, *args, http, host, port, **options):
        if http:
            self.stderr.write(f"Distribution MCP server at http://{host}:{port}/mcp")
            anyio.run(serve_http, host, port)
        else:
            anyio.run(serve_stdio)
