// What the benchmark drivers share: the median, and writing one section of
// BENCHMARKS.md between its `<!-- bench:NAME:start/end -->` markers.
import { readFileSync, writeFileSync } from 'node:fs';

/** The median (the upper one of an even count). */
export const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

/** Put `md` (markers included) in place of section `name`, or append it. */
export function writeSection(name, md) {
  const doc = readFileSync('BENCHMARKS.md', 'utf8');
  const re = new RegExp(`<!-- bench:${name}:start -->[\\s\\S]*<!-- bench:${name}:end -->\\n`);
  writeFileSync('BENCHMARKS.md', re.test(doc) ? doc.replace(re, () => md) : `${doc.trimEnd()}\n\n${md}`);
}
