import type { FastifyRequest } from 'fastify'
import t from 'tap'
import { loadConfig } from '../../config.ts'
import { checkOrigin, hostnameOf, originPolicy } from './origin.ts'

/** A request as the checks read it: Host, Origin and the protocol. */
function request (host: string, origin?: string, protocol: 'http' | 'https' = 'http'): FastifyRequest {
  return { host, protocol, headers: origin === undefined ? {} : { origin } } as unknown as FastifyRequest
}

function refusal (check: () => void): string | undefined {
  try {
    check()
    return undefined
  } catch (error) {
    return (error as { code?: string }).code
  }
}

t.test('by default: loopback names on any port, the bound HOST, and same-origin requests', async (t) => {
  const policy = originPolicy(loadConfig({ NODE_ENV: 'test', HOST: '10.0.0.5' }))
  t.same([...policy.hostnames].sort(), ['10.0.0.5', '127.0.0.1', '[::1]', 'localhost'])
  t.equal(policy.publicOrigin, undefined)
  for (const host of ['localhost:3000', '127.0.0.1:41234', '[::1]:80', 'LOCALHOST', '10.0.0.5:3000']) {
    t.equal(refusal(() => checkOrigin(policy, request(host))), undefined, `Host ${host}`)
  }
  for (const host of ['attacker.example', 'attacker.example:3000', 'localhost.attacker.example', '127.0.0.2', '', 'bad host']) {
    t.equal(refusal(() => checkOrigin(policy, request(host))), 'mcp.host_not_allowed', `Host ${JSON.stringify(host)}`)
  }
  t.equal(refusal(() => checkOrigin(policy, request('localhost:3000', 'http://localhost:3000'))), undefined, 'its own origin')
  for (const origin of ['http://localhost:3001', 'https://localhost:3000', 'https://attacker.example', 'null']) {
    t.equal(refusal(() => checkOrigin(policy, request('localhost:3000', origin))), 'mcp.origin_not_allowed', `Origin ${origin}`)
  }
})

t.test('a wildcard HOST adds no name; an IPv6 HOST is written in brackets', async (t) => {
  t.same([...originPolicy(loadConfig({ NODE_ENV: 'test', HOST: '0.0.0.0' })).hostnames].sort(), ['127.0.0.1', '[::1]', 'localhost'])
  t.same([...originPolicy(loadConfig({ NODE_ENV: 'test', HOST: '::' })).hostnames].sort(), ['127.0.0.1', '[::1]', 'localhost'])
  t.ok(originPolicy(loadConfig({ NODE_ENV: 'test', HOST: 'fd00::1' })).hostnames.has('[fd00::1]'))
  t.equal(hostnameOf('Ledgerline.Example.COM:443'), 'ledgerline.example.com')
})

t.test('PUBLIC_URL adds its host name and origin; MCP_ALLOWED_ORIGINS adds browser origins', async (t) => {
  const policy = originPolicy(loadConfig({
    NODE_ENV: 'test', HOST: '0.0.0.0', PUBLIC_URL: 'https://Ledgerline.example.com/', MCP_ALLOWED_ORIGINS: ' https://app.example.com , http://localhost:5173'
  }))
  t.equal(policy.publicOrigin, 'https://ledgerline.example.com')
  t.ok(policy.hostnames.has('ledgerline.example.com'))
  t.same([...policy.origins].sort(), ['http://localhost:5173', 'https://app.example.com', 'https://ledgerline.example.com'])
  const behindProxy = request('ledgerline.example.com', 'https://app.example.com', 'https')
  t.equal(refusal(() => checkOrigin(policy, behindProxy)), undefined)
  t.equal(refusal(() => checkOrigin(policy, request('ledgerline.example.com', 'https://other.example.com', 'https'))),
    'mcp.origin_not_allowed')
})

t.test('PUBLIC_URL and MCP_ALLOWED_ORIGINS take origins only', async (t) => {
  for (const bad of ['ledgerline.example.com', 'ftp://ledgerline.example.com', 'https://ledgerline.example.com/api', 'https://x.example?a=1',
    'https://user:pw@x.example']) {
    t.throws(() => loadConfig({ PUBLIC_URL: bad }), { code: 'config.invalid', message: /PUBLIC_URL: an http\(s\) origin/ }, bad)
    t.throws(() => loadConfig({ MCP_ALLOWED_ORIGINS: `https://ok.example,${bad}` }), { code: 'config.invalid', message: /MCP_ALLOWED_ORIGINS/ })
  }
  t.same(loadConfig({}).mcpAllowedOrigins, [])
  t.equal(loadConfig({}).publicUrl, undefined)
})
