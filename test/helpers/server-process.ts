/** `npm start` as a user runs it: the server as a process of its own, on a port the system picks. */
import { spawn, type ChildProcess } from 'node:child_process'
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
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`server did not start:\n${output}`)) }, 60_000)
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
