// package:js runs this first: the npm package must carry the bundles that the construct uploads as assets.
// (A plain node script: projen's task shell has no `{ ...; }` grouping.)
const fs = require('fs');
const missing = ['assets/runtime/cli/heartbeat.js', 'assets/log-forwarder/index/index.js', 'assets/local/cli/index.js'].filter((f) => !fs.existsSync(f));
if (missing.length > 0) {
  console.error(`assets/ lacks ${missing.join(', ')}: run npx projen bundle (or the whole build) first`);
  process.exit(1);
}
