/**
 * CLI calls beside a running server on the embedded store. PGlite is one
 * PostgreSQL backend inside the server's process, so no second process can
 * open its data directory. Instead the server listens on a Unix socket in
 * that directory (`<data dir>/run/cli.sock`, in a directory only its owner
 * can enter), and `bin/ledgerline.js` hands each command line to it: the
 * command runs in the server, on the server's runtime, with the caller's
 * output streams, working directory and exit status.
 *
 * Why not share the database instead: PGlite has one connection, so a second
 * client's transaction would interleave with the server's own queries; and a
 * socket only the data directory's owner can open gives the CLI no more than
 * reading the data directory already does.
 *
 * The protocol, one JSON object a line: the caller sends
 * `{"argv": [...], "cwd": "...", "tty": {"stdout": bool, "stderr": bool}}`;
 * the server answers `{"out": text}` and `{"err": text}` frames, then
 * `{"exit": code}`. A caller that goes away aborts the command's signal.
 */
import { chmodSync, mkdirSync, rmSync } from 'node:fs'
import { createServer, type Server, type Socket } from 'node:net'
import { join, resolve } from 'node:path'
import { Writable } from 'node:stream'
import { finished } from 'node:stream/promises'
import { z } from 'zod'
import type { Logger } from 'pino'
import type { Runtime } from '../runtime.ts'
import { withIo, type CliIo } from './io.ts'
import { run } from './main.ts'

/** Where the server listens for CLI calls, for a data directory (bin/ledgerline.js computes the same path). */
export function controlSocketPath (dataDir: string): string {
  return join(resolve(dataDir), 'run', 'cli.sock')
}

/** A Unix socket path longer than this does not fit in `sockaddr_un` on Linux. */
const MAX_SOCKET_PATH = 107

/** The first line a caller sends: its command line, where it stands, whether its outputs are terminals. */
const Call = z.object({
  argv: z.array(z.string().max(10_000)).min(2).max(1000),
  cwd: z.string().min(1).max(4096),
  tty: z.object({ stdout: z.boolean(), stderr: z.boolean() }).partial().optional()
})

const MAX_CALL_BYTES = 1024 * 1024

export interface ControlServer {
  readonly path: string
  close(): Promise<void>
}

/** Starts listening for CLI calls; undefined (with a warning) where the socket cannot be made. */
export async function serveCliCalls (runtime: Runtime, dataDir: string, logger: Logger): Promise<ControlServer | undefined> {
  const path = controlSocketPath(dataDir)
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    logger.warn({ path },
      'the data directory\'s path is too long for a Unix socket: CLI calls cannot reach this server; stop it to use the CLI')
    return undefined
  }
  // Only this process may hold the data directory (src/sql/pglite.ts), so a socket left here is a dead server's.
  mkdirSync(join(path, '..'), { recursive: true, mode: 0o700 })
  chmodSync(join(path, '..'), 0o700)
  rmSync(path, { force: true })
  const calls = new Set<AbortController>()
  const server = createServer((socket) => { serve(socket, runtime, logger, calls) })
  await new Promise<void>((resolveListen, reject) => {
    server.once('error', reject)
    server.listen(path, () => { server.off('error', reject); resolveListen() })
  })
  chmodSync(path, 0o600)
  return {
    path,
    async close () {
      for (const call of calls) call.abort()
      await closeServer(server)
      rmSync(path, { force: true })
    }
  }
}

function closeServer (server: Server): Promise<void> {
  return new Promise((resolveClose) => server.close(() => resolveClose()))
}

function serve (socket: Socket, runtime: Runtime, logger: Logger, calls: Set<AbortController>): void {
  let buffered = ''
  const onData = (chunk: Buffer): void => {
    buffered += chunk.toString('utf8')
    const end = buffered.indexOf('\n')
    if (end === -1) {
      if (buffered.length > MAX_CALL_BYTES) refuse(socket, 'the command line is too long')
      return
    }
    socket.off('data', onData)
    let call: z.infer<typeof Call>
    try {
      call = Call.parse(JSON.parse(buffered.slice(0, end)))
    } catch {
      refuse(socket, 'not a CLI call')
      return
    }
    void answer(socket, call, runtime, logger, calls)
  }
  socket.on('data', onData)
  socket.on('error', () => socket.destroy())
}

function refuse (socket: Socket, message: string): void {
  socket.end(`${JSON.stringify({ err: `ledgerline: ${message}\n` })}\n${JSON.stringify({ exit: 2 })}\n`)
}

/** A stream whose writes become frames of one kind on the socket, at the pace the caller reads them. */
function frames (socket: Socket, kind: 'out' | 'err', isTTY: boolean): Writable & { isTTY: boolean } {
  const stream = new Writable({
    write (chunk: Buffer | string, _encoding, callback) {
      if (socket.destroyed) return callback()
      if (socket.write(`${JSON.stringify({ [kind]: chunk.toString() })}\n`)) return callback()
      const go = (): void => { socket.off('drain', go); socket.off('close', go); callback() }
      socket.on('drain', go)
      socket.on('close', go)
    }
  })
  return Object.assign(stream, { isTTY })
}

async function answer (
  socket: Socket, call: z.infer<typeof Call>, runtime: Runtime, logger: Logger, calls: Set<AbortController>
): Promise<void> {
  const controller = new AbortController()
  calls.add(controller)
  socket.once('close', () => controller.abort())
  const context: CliIo = {
    stdout: frames(socket, 'out', call.tty?.stdout === true),
    stderr: frames(socket, 'err', call.tty?.stderr === true),
    cwd: call.cwd,
    signal: controller.signal,
    runtime,
    exitCode: 0
  }
  logger.info({ command: call.argv.slice(2, 4) }, 'CLI call')
  try {
    await withIo(context, () => run(call.argv))
  } catch (error) {
    // run() reports what it knows; anything else still ends the call, not the server.
    logger.error({ err: error }, 'CLI call failed')
    context.exitCode = 1
  } finally {
    calls.delete(controller)
    // Every frame written before the exit status, which is the last line.
    context.stdout.end()
    context.stderr.end()
    await Promise.all([finished(context.stdout), finished(context.stderr)]).catch(() => {})
    if (!socket.destroyed) socket.end(`${JSON.stringify({ exit: context.exitCode })}\n`)
  }
}
