/**
 * Progress of a long CLI command on standard error: a bar on a terminal, a
 * line every 5 s (and at the end) otherwise, so CI logs show it too.
 */
import { SingleBar } from 'cli-progress'
import { io } from './io.ts'

export interface Progress<P extends object> {
  update(value: number, payload: P): void
  stop(): void
}

/** `format` is the bar's (cli-progress tokens, `{name}` for payload fields); `line` writes one plain line. */
export function progress<P extends object> (
  format: string, total: number, initial: P, line: (value: number, payload: P) => string
): Progress<P> {
  const { stderr } = io()
  if (stderr.isTTY === true) {
    const bar = new SingleBar({ stream: stderr as NodeJS.WriteStream, format, hideCursor: true })
    bar.start(total, 0, initial)
    return { update: (value, payload) => bar.update(value, payload), stop: () => bar.stop() }
  }
  let last = 0
  return {
    update (value, payload) {
      if (Date.now() - last < 5000 && value < total) return
      last = Date.now()
      stderr.write(`${line(value, payload)}\n`)
    },
    stop () {}
  }
}
