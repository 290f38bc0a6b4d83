"""An MCP client on the official Python SDK (PyPI `mcp`), driven line by line.

Reads one JSON command per line on stdin and answers each with one JSON line on
stdout (progress notifications of a call come first, as lines of their own):

  {"op":"open","stdio":[argv...]}          start the server, talk over its stdin/stdout
  {"op":"open","http":URL}                 Streamable HTTP
      optional "mode": "auto" (default: discover, else initialize) or "legacy"
  {"op":"tools"}                           every tool: name, description, schemas
  {"op":"call","tool":T,"args":{..},"progress":true,"cancel_after":N}
      progress lines {"op":"progress",...}; with cancel_after, the call is
      cancelled (an anyio cancel scope) once N notifications arrived
  {"op":"close"}                           ends the session (and a stdio server)

Answers: {"op":..., ...} with what was observed, or {"op":..., "error": text}.
"""

import json
import sys

import anyio
from mcp import Client, MCPError, StdioServerParameters


def emit(obj):
    print(json.dumps(obj), flush=True)


def text_of(result):
    return "\n".join(getattr(c, "text", "") for c in result.content if getattr(c, "type", "") == "text")


class Driver:
    def __init__(self):
        self.client = None

    async def open(self, cmd):
        if self.client is not None:
            raise RuntimeError("a session is open already")
        mode = cmd.get("mode", "auto")
        if "stdio" in cmd:
            argv = cmd["stdio"]
            target = StdioServerParameters(command=argv[0], args=argv[1:])
        else:
            target = cmd["http"]
        client = Client(target, mode=mode)
        await client.__aenter__()
        self.client = client
        info = client.server_info
        return {"protocol": client.protocol_version, "server": info.name if info else None}

    async def close(self, _cmd):
        client, self.client = self.client, None
        if client is not None:
            await client.__aexit__(None, None, None)
        return {}

    async def tools(self, _cmd):
        tools, cursor = [], None
        while True:
            page = await self.client.list_tools(cursor=cursor)
            tools += [
                {
                    "name": t.name,
                    "description": t.description,
                    "input_schema": t.input_schema,
                    "output_schema": t.output_schema,
                }
                for t in page.tools
            ]
            cursor = page.next_cursor
            if not cursor:
                return {"tools": tools}

    async def call(self, cmd):
        seen = 0
        cancel_after = cmd.get("cancel_after")
        scope = anyio.CancelScope()

        async def progress(value, total, message):
            nonlocal seen
            seen += 1
            emit({"op": "progress", "progress": value, "total": total, "message": message})
            if cancel_after is not None and seen >= cancel_after:
                scope.cancel()

        callback = progress if cmd.get("progress") or cancel_after is not None else None
        result = None
        with scope:
            result = await self.client.call_tool(cmd["tool"], cmd.get("args") or {}, progress_callback=callback)
        if scope.cancelled_caught or result is None:
            return {"cancelled": True, "progress_seen": seen}
        return {
            "is_error": result.is_error,
            "structured": result.structured_content,
            "text": text_of(result),
            "progress_seen": seen,
        }


async def main():
    driver = Driver()
    ops = {"open": driver.open, "close": driver.close, "tools": driver.tools, "call": driver.call}
    while True:
        line = await anyio.to_thread.run_sync(sys.stdin.readline)
        if not line:
            break
        if not line.strip():
            continue
        cmd = json.loads(line)
        op = cmd["op"]
        try:
            answer = await ops[op](cmd)
        except MCPError as e:
            answer = {"error": e.message, "code": e.code}
        except Exception as e:  # reported to the test, which decides
            answer = {"error": f"{type(e).__name__}: {e}"}
        emit({"op": op, **answer})
    await driver.close({})


anyio.run(main)
