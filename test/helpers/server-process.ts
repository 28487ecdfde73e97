/** `npm start` as a user runs it: the server as a process of its own, on a port the system picks. */
import { spawn, type ChildProcess } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

export interface ServerProcess { child: ChildProcess, address: string, exited: Promise<number | null>, output: () => string }

/** `src/main.ts` as a process with only `env` (and PATH, and PORT 0 unless given). */
export function spawnServer (env: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'],
    { cwd: ROOT, env: { PATH: process.env.PATH ?? '', PORT: '0', ...env } })
}

/** Starts the server with `env`; resolves once it listens, rejects if it exits first. */
export function startServer (env: Record<string, string>): Promise<ServerProcess> {
  const child = spawnServer(env)
  let output = ''
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  return new Promise((resolve, reject) => {
    // A fresh embedded store starts in seconds; a CI machine at load 20 once needed more than a minute.
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`server did not start in 120 s:\n${output}`)) }, 120_000)
    const onData = (chunk: Buffer): void => {
      output += chunk.toString()
      const match = /Ledgerline listening on (http:\/\/[^"\s]+)/.exec(output)
      if (match !== null) {
        clearTimeout(timer)
        resolve({ child, address: match[1]!, exited, output: () => output })
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`server exited with ${code}:\n${output}`)) })
  })
}

/** SIGTERM, then the exit code. */
export async function stopServer (server: ServerProcess): Promise<number | null> {
  server.child.kill('SIGTERM')
  return await server.exited
}

/**
 * Production refuses to start without the key that signs audit digests, or with /metrics open;
 * a test gives it a key and a metrics token.
 */
const SIGNING_KEY = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
const METRICS_TOKEN = 'server-test-metrics-token-0123'

/** The environment of a server on `dataDir` (PGlite) in `nodeEnv`, with what production requires, then `env` over it. */
export function serverEnvironment (dataDir: string, nodeEnv: string, env: Record<string, string> = {}): Record<string, string> {
  return {
    LEDGERLINE_DATA_DIR: dataDir,
    NODE_ENV: nodeEnv,
    ...(nodeEnv === 'production' ? { AUDIT_SIGNING_KEY: SIGNING_KEY, METRICS_TOKEN } : {}),
    ...env
  }
}

/** Waits until the server printed `pattern` (first-run lines come right after the listening line). */
export async function printed (server: ServerProcess, pattern: RegExp): Promise<RegExpExecArray | null> {
  for (let i = 0; i < 100; i++) {
    const match = pattern.exec(server.output())
    if (match !== null) return match
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  return null
}
