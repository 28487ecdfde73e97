/**
 * webhook-ingest: verified inbound Stripe events per second through the
 * Ledgerline server's `POST /v1/webhooks/stripe` (Stripe's SDK verifies the
 * signature on the raw body, the event is stored once with `no_stream`, the
 * processing job scheduled, 200), against the bare Fastify route of
 * webhook-peer-server.ts taking the same bodies. Every request is a new
 * event (its own id), signed with the SDK's generateTestHeaderString, so
 * none is a duplicate; the signing happens in the load generator for both.
 */
import { spawn } from 'node:child_process'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import Stripe from 'stripe'
import { compete, versusResults, type Contender, type LoadPlan, type Target } from './load.ts'
import { log } from './log.ts'
import type { BenchResult } from './results.ts'
import { processCpu, type Server } from './server.ts'

export const STRIPE_ROUTE = '/v1/webhooks/stripe'
const PEER_NAME = 'a bare Fastify route taking the same body'
const ROOT = fileURLToPath(new URL('../..', import.meta.url))

/** An event of a type the Stripe handler records as skipped (`unhandled_type`): what is measured is the receipt. */
export function stripeEvent (id: string, created: number): string {
  return JSON.stringify({
    id, object: 'event', api_version: '2025-03-31.basil', created, livemode: false, pending_webhooks: 1, type: 'charge.succeeded',
    request: { id: null, idempotency_key: null },
    data: {
      object: { id: `ch_${id.slice(4)}`, object: 'charge', amount: 2900, currency: 'eur', customer: 'cus_bench', status: 'succeeded' }
    }
  })
}

/** Every request a new event, signed for `secret`; `prefix` keeps the runs' event ids apart. */
function signedEvents (url: string, secret: string, prefix: string): Target {
  let next = 0
  return {
    url,
    requests: [{
      method: 'POST',
      path: STRIPE_ROUTE,
      setupRequest: (request) => {
        const body = stripeEvent(`evt_${prefix}_${next++}`, Math.floor(Date.now() / 1000))
        const signature = Stripe.webhooks.generateTestHeaderString({ payload: body, secret })
        return { ...request, body, headers: { 'content-type': 'application/json', 'stripe-signature': signature } }
      }
    }]
  }
}

export async function webhookIngest (plan: LoadPlan, server: Server, secret: string): Promise<BenchResult[]> {
  const peer = await startPeer()
  try {
    const contenders: Contender[] = [
      { label: `peer ${STRIPE_ROUTE}`, target: signedEvents(peer.url, secret, 'peer'), server: peer },
      { label: `Ledgerline ${STRIPE_ROUTE}`, target: signedEvents(server.url, secret, 'ours'), server }
    ]
    const [peerLoad, ours] = await compete(plan, contenders)
    return versusResults('webhook-ingest', PEER_NAME, ours!, peerLoad!, { ratio: '>= 0.5' })
  } finally {
    await peer.stop()
  }
}

/** The peer in its own process, started as the Ledgerline server is (`node --import tsx`). */
async function startPeer (): Promise<Server> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/lib/webhook-peer-server.ts'], {
    cwd: ROOT, env: { ...process.env, NODE_ENV: 'production' }, stdio: ['ignore', 'pipe', 'inherit']
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const lines = createInterface({ input: child.stdout })
  const url = await new Promise<string>((resolve, reject) => {
    lines.once('line', (line) => resolve(line.replace(/^listening /, '')))
    child.once('exit', (code) => reject(new Error(`the peer exited with ${String(code)} while starting`)))
  })
  lines.close()
  log(`  peer at ${url}`)
  return {
    name: 'webhook-peer',
    url,
    cpuMs: () => child.pid === undefined ? undefined : processCpu(child.pid),
    output: () => '',
    clearOutput: () => {},
    async stop () {
      if (child.exitCode !== null) return
      child.kill('SIGTERM')
      await exited
    }
  }
}
