/**
 * `npm test`'s first step (its `pretest`): rebuilds tap for the plugins
 * package.json names when the installed build was made for others.
 *
 * package.json turns tap's TypeScript plugin off: tsx compiles the tests. A
 * fresh install holds tap built with every default plugin, and tap's runner
 * rebuilds itself when the lists differ, but only after it has loaded the old
 * build, whose loaders it then hands to every test process of that run. Among
 * them is the TypeScript plugin's ts-node, which type-checks each file a test
 * loads before tsx compiles it: importing the application took 6.4 s of CPU
 * instead of 1.8 s, in every one of the run's test processes. So the first
 * `npm test` after `npm ci` (every CI run) paid it on every file. Building
 * before the runner starts makes every run use the configured plugins; it
 * takes about 20 s, once per install.
 */
import { spawnSync } from 'node:child_process'
import { TapConfig } from '@tapjs/config'
import { signature } from '@tapjs/test'

const config = await TapConfig.load()
if (config.pluginSignature !== signature) {
  console.log('tap is built for other plugins than package.json names: rebuilding it (once per install)')
  const built = spawnSync('npx', ['tap', 'build'], { stdio: 'inherit' })
  if (built.status !== 0) process.exit(built.status ?? 1)
}
