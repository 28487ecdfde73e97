/**
 * Imported first by the assistant's page, before the AI SDK: the SDK checks
 * each streamed part with zod, and zod, unless told to run without compiled
 * parsers, probes for eval (`new Function`) as its first schema is built.
 * The dashboard's CSP refuses eval and reports the probe as a violation.
 */
import { config } from 'zod'

config({ jitless: true })
