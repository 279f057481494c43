// After the local runner's bundle: writes the licenses of every npm package esbuild put into it next to it
// (THIRD-PARTY-NOTICES.txt; MIT and ISC ask that their notice travel with copies), from esbuild's metafile, which it
// then removes so the package does not ship it. Usage: node projenrc/third-party-notices.js <bundle.js>
const fs = require('fs');
const path = require('path');

const bundle = process.argv[2];
const metafile = bundle.replace(/\.js$/, '.meta.json');
const meta = JSON.parse(fs.readFileSync(metafile, 'utf8'));
const packages = new Map();
for (const input of Object.keys(meta.inputs)) {
  // The innermost node_modules: a dependency's own nested copy is its own package.
  const at = input.lastIndexOf('node_modules/');
  if (at < 0) continue;
  const name = /^(?:@[^/]+\/)?[^/]+/.exec(input.slice(at + 'node_modules/'.length))[0];
  const dir = input.slice(0, at + 'node_modules/'.length + name.length);
  const version = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8')).version;
  packages.set(`${name}@${version}`, dir);
}
const sections = [];
for (const [, dir] of [...packages.entries()].sort()) {
  const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const licenseFile = fs.readdirSync(dir).find((f) => /^(licen[cs]e|copying)(\.(md|txt))?$/i.test(f));
  const text = licenseFile ? fs.readFileSync(path.join(dir, licenseFile), 'utf8').trim() : `(no license file; package.json says ${pkg.license})`;
  sections.push(`${pkg.name}@${pkg.version} (${pkg.license})\n\n${text}`);
}
const out = path.join(path.dirname(bundle), 'THIRD-PARTY-NOTICES.txt');
fs.writeFileSync(out, `Packages bundled into ${path.basename(bundle)}:\n\n${sections.join('\n\n' + '-'.repeat(78) + '\n\n')}\n`);
fs.rmSync(metafile);
console.log(`${out}: ${packages.size} packages`);
