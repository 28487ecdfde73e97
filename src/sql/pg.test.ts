/**
 * The pg driver's dedicated connections (advisory locks, LISTEN) and its
 * transactions are shared by concurrent callers; pg itself runs one query at
 * a time per connection and warns when asked for a second. These tests send
 * many at once and expect every answer right and no warning.
 */
import t from 'tap'
import { drivers, openTestDatabase } from '../../test/helpers/databases.ts'

const concurrentQueryWarning = (warning: Error): boolean => /already executing a query/i.test(warning.message)

if (!drivers().includes('postgres')) {
  t.comment('skipped: DATABASE_URL is not set, and these tests are about the PostgreSQL driver')
} else {
  t.test('concurrent locks, listens and transaction queries queue on their connection, without pg\'s warning', async (t) => {
    const db = await openTestDatabase('postgres')
    t.teardown(db.dispose)
    const warnings: Error[] = []
    const onWarning = (warning: Error): void => { if (concurrentQueryWarning(warning)) warnings.push(warning) }
    process.on('warning', onWarning)
    t.teardown(() => { process.off('warning', onWarning) })

    for (const size of [0, 1, 2, 50]) {
      const keys = Array.from({ length: size }, (_, i) => BigInt(9_000_000 + i))
      const leases = await Promise.all(keys.map((key) => db.sql.tryLock(key)))
      t.equal(leases.filter((lease) => lease?.held === true).length, size, `${size} locks taken at once, each held`)
      const again = await Promise.all(keys.map((key) => db.sql.tryLock(key)))
      t.equal(again.filter((lease) => lease !== null).length, 0, `none of the ${size} taken twice`)
      await Promise.all(leases.map((lease) => lease!.release()))
      const after = await Promise.all(keys.map((key) => db.sql.tryLock(key)))
      t.equal(after.filter((lease) => lease?.held === true).length, size, `${size} taken again once released`)
      await Promise.all(after.map((lease) => lease!.release()))
    }

    const heard: string[] = []
    const channels = Array.from({ length: 20 }, (_, i) => `ledgerline_pg_test_${i}`)
    const stops = await Promise.all(channels.map((channel) => db.sql.listen(channel, () => { heard.push(channel) })))
    await Promise.all(channels.map((channel) => db.sql.query('SELECT pg_notify($1, $2)', [channel, 'x'])))
    for (let i = 0; i < 100 && heard.length < channels.length; i++) await new Promise((resolve) => setTimeout(resolve, 20))
    t.same([...heard].sort(), [...channels].sort(), 'every channel listened to at once hears its notification')
    const listening = await db.sql.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %'")
    t.equal(listening.rows[0]!.n, 1, 'the listens made at once share one connection (a second would never be closed)')
    await Promise.all(stops.map((stop) => stop()))

    const sums = await db.sql.transaction((tx) =>
      Promise.all(Array.from({ length: 30 }, (_, i) => tx.query<{ n: number }>('SELECT $1::int + 1 AS n', [i]))))
    const expected = Array.from({ length: 30 }, (_, i) => i + 1)
    t.same(sums.map((result) => result.rows[0]!.n), expected, '30 queries at once in a transaction, answered in order')

    await new Promise((resolve) => setImmediate(resolve))
    t.same(warnings.map((warning) => warning.message), [], 'pg never warned about a query sent while another ran')
  })
}
