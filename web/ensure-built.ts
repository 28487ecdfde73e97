/**
 * Builds the dashboard when its build is missing or older than its sources:
 * run before `npm start` and by the browser tests, so a fresh clone's
 * `npm ci && npm start` serves it and nothing built is committed. The build
 * goes to a fresh folder that replaces the old one in one rename, so a server
 * never serves half a build and two callers at once do not mix their files.
 */
import { existsSync, readdirSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const webRoot = fileURLToPath(new URL('.', import.meta.url))
export const webDist = join(webRoot, 'dist')
const STAMP = '.built'

function newest (path: string): number {
  const stat = statSync(path)
  if (!stat.isDirectory()) return stat.mtimeMs
  return readdirSync(path).reduce((latest, name) => Math.max(latest, newest(join(path, name))), stat.mtimeMs)
}

/** True when web/dist holds a build newer than every source file. */
export function webBuildFresh (): boolean {
  const stamp = join(webDist, STAMP)
  if (!existsSync(stamp)) return false
  const sources = ['src', 'index.html', 'vite.config.ts', 'public'].map((name) => join(webRoot, name)).filter(existsSync)
  return Math.max(...sources.map(newest)) <= statSync(stamp).mtimeMs
}

export async function ensureWebBuilt (): Promise<'fresh' | 'built'> {
  if (webBuildFresh()) return 'fresh'
  const { build } = await import('vite')
  // The stamp carries the time the build started: a source saved while it ran is newer, so the next call builds again.
  const started = new Date()
  const outDir = join(webRoot, `dist.${process.pid}.${started.getTime()}`)
  await build({ configFile: join(webRoot, 'vite.config.ts'), logLevel: 'warn', build: { outDir } })
  writeFileSync(join(outDir, STAMP), started.toISOString())
  utimesSync(join(outDir, STAMP), started, started)
  const old = `${webDist}.old.${process.pid}`
  if (existsSync(webDist)) renameSync(webDist, old)
  renameSync(outDir, webDist)
  rmSync(old, { recursive: true, force: true })
  return 'built'
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const result = await ensureWebBuilt()
  console.log(result === 'fresh' ? 'dashboard: build is up to date' : 'dashboard: built into web/dist')
}
