/**
 * Where a CLI command's output, exit code and resources come from. Run as a
 * process of its own, that is the process: its stdout, stderr, working
 * directory and a runtime of its own. Run inside a server (a CLI call beside
 * a server on the embedded store, src/cli/control.ts), each call gets the
 * caller's streams, the caller's working directory and the server's runtime,
 * so concurrent calls never share an exit code or a stream.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import { resolve } from 'node:path'
import type { Writable } from 'node:stream'
import type { Runtime } from '../runtime.ts'

export interface CliIo {
  readonly stdout: Writable & { isTTY?: boolean }
  readonly stderr: Writable & { isTTY?: boolean }
  /** The caller's working directory: relative paths in options are the caller's. */
  readonly cwd: string
  /** Aborted when the caller goes away (Ctrl-C, a closed connection). */
  readonly signal: AbortSignal
  /** A runtime to use instead of opening one; its owner closes it. */
  readonly runtime?: Runtime
  exitCode: number
}

const current = new AsyncLocalStorage<CliIo>()

let processIo: CliIo | undefined

/**
 * The process's own streams. Its signal aborts on SIGINT or SIGTERM, and is
 * made only when a command asks for it: a listener on SIGINT stops Ctrl-C
 * from ending the process, which every other command relies on.
 */
function ownProcess (): CliIo {
  if (processIo !== undefined) return processIo
  let signal: AbortSignal | undefined
  processIo = {
    stdout: process.stdout,
    stderr: process.stderr,
    cwd: process.cwd(),
    get signal () {
      if (signal !== undefined) return signal
      const controller = new AbortController()
      const abort = (): void => controller.abort()
      process.once('SIGINT', abort)
      process.once('SIGTERM', abort)
      signal = controller.signal
      return signal
    },
    get exitCode () { return typeof process.exitCode === 'number' ? process.exitCode : 0 },
    set exitCode (code: number) { process.exitCode = code }
  }
  return processIo
}

export function io (): CliIo {
  return current.getStore() ?? ownProcess()
}

/** Runs `fn` with `context` as the CLI's io. */
export function withIo<T> (context: CliIo, fn: () => Promise<T>): Promise<T> {
  return current.run(context, fn)
}

/** A path given on the command line, resolved against the caller's working directory. */
export function callerPath (path: string): string {
  return resolve(io().cwd, path)
}

/** Marks the command failed (exit status 1 unless said otherwise). */
export function fail (code = 1): void {
  io().exitCode = code
}
