import t from 'tap'
import { csvCell, csvLine } from './csv.ts'

t.test('cells a spreadsheet would execute are neutralized; quoting follows RFC 4180', async (t) => {
  for (const dangerous of ['=1+2', '+SUM(A1)', '-2+3', '@cmd', '\tTAB', '\rCR', '=HYPERLINK("http://x","y")']) {
    const cell = csvCell(dangerous)
    t.notOk(/^"?[=+\-@\t\r]/.test(cell), `${JSON.stringify(dangerous)} → ${JSON.stringify(cell)}`)
  }
  t.equal(csvCell('=HYPERLINK("http://x","y")'), '"\'=HYPERLINK(""http://x"",""y"")"')
  t.equal(csvCell(-5), '-5', 'a number stays a number')
  t.equal(csvCell('a,b'), '"a,b"')
  t.equal(csvCell('line\nbreak'), '"line\nbreak"')
  t.equal(csvCell(null), '')
  t.equal(csvCell({ name: { before: 'a', after: '=b' } }), '"{""name"":{""before"":""a"",""after"":""=b""}}"',
    'JSON cells are quoted; they start with {')
  t.equal(csvLine(['x', 1, null]), 'x,1,\r\n')
})
