// An MCP client on the official TypeScript SDK (npm `@modelcontextprotocol/sdk`),
// driven line by line, with the same commands and answers as mcp_client.py:
//
//   {"op":"open","stdio":[argv...]} | {"op":"open","http":URL}
//   {"op":"tools"}
//   {"op":"call","tool":T,"args":{..},"progress":true,"cancel_after":N}
//       progress lines {"op":"progress",...}; with cancel_after, the call is
//       cancelled (an AbortController) once N notifications arrived
//   {"op":"close"}
//
// Answers: {"op":..., ...} with what was observed, or {"op":..., "error": text}.

'use strict';

const readline = require('node:readline');
const { Client } = require('@modelcontextprotocol/sdk/client/index.js');
const { StdioClientTransport } = require('@modelcontextprotocol/sdk/client/stdio.js');
const { StreamableHTTPClientTransport } = require('@modelcontextprotocol/sdk/client/streamableHttp.js');

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

let client = null;
let transport = null;

const ops = {
  async open(cmd) {
    if (client) throw new Error('a session is open already');
    if (cmd.stdio) {
      transport = new StdioClientTransport({
        command: cmd.stdio[0],
        args: cmd.stdio.slice(1),
        stderr: 'inherit',
      });
    } else {
      transport = new StreamableHTTPClientTransport(new URL(cmd.http));
    }
    const c = new Client({ name: 'mailwire-tests', version: '1.0.0' });
    await c.connect(transport);
    client = c;
    const info = c.getServerVersion();
    return { protocol: transport.protocolVersion ?? null, server: info ? info.name : null };
  },

  async close() {
    const c = client;
    client = null;
    if (c) await c.close();
    return {};
  },

  async tools() {
    const tools = [];
    let cursor;
    do {
      const page = await client.listTools(cursor ? { cursor } : undefined);
      for (const t of page.tools) {
        tools.push({
          name: t.name,
          description: t.description ?? null,
          input_schema: t.inputSchema,
          output_schema: t.outputSchema ?? null,
        });
      }
      cursor = page.nextCursor;
    } while (cursor);
    return { tools };
  },

  async call(cmd) {
    let seen = 0;
    const abort = new AbortController();
    const options = { timeout: 300000, signal: abort.signal };
    if (cmd.progress || cmd.cancel_after != null) {
      options.onprogress = (p) => {
        seen += 1;
        emit({ op: 'progress', progress: p.progress, total: p.total ?? null, message: p.message ?? null });
        if (cmd.cancel_after != null && seen >= cmd.cancel_after) abort.abort('cancelled by the test');
      };
    }
    let result;
    try {
      result = await client.callTool({ name: cmd.tool, arguments: cmd.args || {} }, undefined, options);
    } catch (e) {
      if (abort.signal.aborted) return { cancelled: true, progress_seen: seen };
      throw e;
    }
    const text = (result.content || [])
      .filter((c) => c.type === 'text')
      .map((c) => c.text)
      .join('\n');
    return {
      is_error: result.isError === true,
      structured: result.structuredContent ?? null,
      text,
      progress_seen: seen,
    };
  },
};

async function main() {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    const cmd = JSON.parse(line);
    let answer;
    try {
      answer = await ops[cmd.op](cmd);
    } catch (e) {
      answer = { error: e && e.message ? e.message : String(e) };
      if (e && typeof e.code === 'number') answer.code = e.code;
    }
    emit({ op: cmd.op, ...answer });
  }
  await ops.close();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
