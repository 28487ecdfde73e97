#!/usr/bin/env node
// The `ledgerline` command. Beside a server running on the embedded store it
// hands the command line to that server over the data directory's socket
// (src/cli/control.ts): PGlite lets one process open the data directory, and
// this path loads no TypeScript, so a call starts at once. Otherwise it
// registers the TypeScript loader and runs the CLI from source.
//
// It reads two settings itself, to find that socket before anything loads:
// DATABASE_URL (set: no embedded store, no socket) and LEDGERLINE_DATA_DIR,
// whose default must stay src/config.ts's (test/cli-control.test.ts checks).
import { existsSync } from 'node:fs'
import { connect } from 'node:net'
import { join, resolve } from 'node:path'

const DEFAULT_DATA_DIR = './.ledgerline'

function socketPath () {
  if ((process.env.DATABASE_URL ?? '') !== '') return undefined
  const dataDir = process.env.LEDGERLINE_DATA_DIR || DEFAULT_DATA_DIR
  if (dataDir.startsWith('memory://')) return undefined
  const path = join(resolve(dataDir), 'run', 'cli.sock')
  return existsSync(path) ? path : undefined
}

/** Runs the call in the server; undefined when no server answers there (a socket left by a crash). */
function forward (path) {
  return new Promise((resolveCall) => {
    const socket = connect(path)
    let connected = false
    let exit
    let buffered = ''
    socket.on('connect', () => {
      connected = true
      const tty = { stdout: process.stdout.isTTY === true, stderr: process.stderr.isTTY === true }
      socket.write(`${JSON.stringify({ argv: process.argv, cwd: process.cwd(), tty })}\n`)
      // Ctrl-C ends the call: the server aborts the command when the connection closes.
      process.once('SIGINT', () => socket.destroy())
      process.once('SIGTERM', () => socket.destroy())
    })
    socket.on('data', (chunk) => {
      buffered += chunk.toString('utf8')
      let end
      while ((end = buffered.indexOf('\n')) !== -1) {
        const frame = JSON.parse(buffered.slice(0, end))
        buffered = buffered.slice(end + 1)
        if (typeof frame.out === 'string') paced(process.stdout, frame.out)
        else if (typeof frame.err === 'string') paced(process.stderr, frame.err)
        else if (typeof frame.exit === 'number') exit = frame.exit
      }
    })
    // A long export is read no faster than this process can write it.
    const paced = (stream, text) => {
      if (stream.write(text)) return
      socket.pause()
      stream.once('drain', () => socket.resume())
    }
    socket.on('error', () => {})
    socket.on('close', () => {
      if (!connected) return resolveCall(undefined)
      if (exit === undefined) process.stderr.write('ledgerline: the server closed the call before it finished\n')
      resolveCall(exit ?? 1)
    })
  })
}

const path = socketPath()
const code = path === undefined ? undefined : await forward(path)
if (code !== undefined) {
  process.exitCode = code
} else {
  const { register } = await import('tsx/esm/api')
  register()
  const { run } = await import('../src/cli/main.ts')
  await run(process.argv)
}
