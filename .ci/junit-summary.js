// Prints "tests: N passed, M failed" from jest-junit's report and fails when no test ran or any failed.
const fs = require('fs');
const file = process.argv[2];
if (!fs.existsSync(file)) {
  console.log(`tests: 0 passed, 0 failed (no report at ${file}: the test step did not run)`);
  process.exit(1);
}
const head = /<testsuites\b[^>]*>/.exec(fs.readFileSync(file, 'utf8'));
const attr = (name) => Number((new RegExp(`${name}="(\\d+)"`).exec(head ? head[0] : '') || [0, 0])[1]);
const total = attr('tests');
const failed = attr('failures') + attr('errors');
const skipped = attr('skipped');
console.log(`tests: ${total - failed - skipped} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(total === 0 || failed > 0 ? 1 : 0);
