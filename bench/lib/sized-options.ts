/**
 * A benchmark's settings (readOptions) with two sizes: a full run, and a
 * smoke run (`--quick` / BENCH_QUICK=1); a number left empty takes the size's.
 */
import { readOptions, type OptionSpec, type Options } from './options.ts'

export interface SizedOptions<K extends string, S> {
  readonly options: Options<K>
  readonly quick: boolean
  readonly size: S
  /** The setting's number, or `otherwise` when it was not given. */
  given(key: K, otherwise: number): number
}

export function sizedOptions<K extends string, S> (
  specs: Readonly<Record<K | 'quick', OptionSpec>>, sizes: { readonly full: S, readonly quick: S }
): SizedOptions<K | 'quick', S> {
  const options = readOptions(specs)
  const quick = ['1', 'true'].includes(options.get('quick'))
  return {
    options,
    quick,
    size: sizes[quick ? 'quick' : 'full'],
    given: (key, otherwise) => options.get(key) === '' ? otherwise : options.num(key)
  }
}
