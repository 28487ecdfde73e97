/**
 * The `ledgerline` CLI run inside the test's process, as a server runs a CLI
 * call (src/cli/control.ts): the command line goes through the same program
 * (src/cli/main.ts), with streams of its own, an exit status of its own, and
 * the test's runtime instead of one the command would open. A process of
 * its own takes seconds to start (TypeScript through tsx, a runtime, PGlite's
 * WebAssembly), so tests run their cases here and keep a process call
 * (test/helpers/cli.ts) for what only a process shows: signals, the exit
 * status of the process, its data-directory lock, its own runtime's closing.
 */
import { Writable } from 'node:stream'
import { withIo } from '../../src/cli/io.ts'
import { run } from '../../src/cli/main.ts'
import type { Runtime } from '../../src/runtime.ts'

export interface CliRun { code: number, stdout: string, stderr: string }

export interface InProcessOptions {
  /** stderr is a terminal (progress bars). */
  readonly tty?: boolean
  /** The caller's working directory (relative paths in options). */
  readonly cwd?: string
  /**
   * The environment the command reads its configuration from, as a process
   * given `env` (and PATH) would: commands that read it themselves (migrate,
   * preflight, drill, and any command without a runtime) see only this.
   */
  readonly env?: Record<string, string>
}

function collector (isTTY: boolean): Writable & { isTTY: boolean, text: () => string } {
  const chunks: string[] = []
  const stream = new Writable({ write (chunk: Buffer | string, _encoding, callback) { chunks.push(chunk.toString()); callback() } })
  return Object.assign(stream, { isTTY, text: () => chunks.join('') })
}

/** The environment in force while calls run, and how many run: overlapping calls must ask for the same one. */
let swap: { key: string, calls: number, saved: NodeJS.ProcessEnv } | undefined

/** Runs `fn` with `env` (and PATH) as the whole of process.env, which is the process's: calls at once must agree on it. */
async function withEnv<T> (env: Record<string, string>, fn: () => Promise<T>): Promise<T> {
  const key = JSON.stringify(env)
  if (swap !== undefined && swap.key !== key) throw new Error('in-process CLI calls at once must run with the same environment')
  if (swap === undefined) {
    swap = { key, calls: 0, saved: process.env }
    process.env = { PATH: swap.saved.PATH ?? '', ...env }
  }
  swap.calls++
  try {
    return await fn()
  } finally {
    if (--swap.calls === 0) {
      process.env = swap.saved
      swap = undefined
    }
  }
}

/** `ledgerline <args>` in this process, on `runtime` (or on one the command opens from `env`), with its output and exit status. */
export async function ledgerline (runtime: Runtime | undefined, args: string[],
  { tty = false, cwd = process.cwd(), env = { NODE_ENV: 'test' } }: InProcessOptions = {}): Promise<CliRun> {
  const stdout = collector(false)
  const stderr = collector(tty)
  const context = { stdout, stderr, cwd, signal: new AbortController().signal, runtime, exitCode: 0 }
  await withEnv(env, () => withIo(context, () => run(['node', 'ledgerline', ...args])))
  return { code: context.exitCode, stdout: stdout.text(), stderr: stderr.text() }
}
