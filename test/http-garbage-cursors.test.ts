/**
 * Garbage in, problem+json out (4 of 4; see test/http-garbage.test.ts): the
 * cursor of every GET route that pages, one hostile cursor at a time: not
 * base64url, garbage JSON, another list's cursor, and the right shape
 * holding impossible values. Each must be refused as http.invalid_cursor
 * (or answered), never a 5xx.
 */
import t from 'tap'
import { forEachDatabase } from './helpers/databases.ts'
import { world } from './helpers/garbage.ts'
import { hostileValues } from './helpers/garbage-params.ts'

t.test('the cursor walk, on one application of each driver', async (t) => {
  await forEachDatabase(t, async (t, { sql }) => {
    const w = await world(t, sql)
    await t.test('every cursor of every GET route, one hostile value at a time, gets 2xx or 4xx problem+json, never a 5xx',
      (t) => hostileValues(t, w, 'cursors'))
  })
})
