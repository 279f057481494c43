/**
 * The README's Python and Java quick starts are jsii-rosetta's translations of the TypeScript one (the tablet is
 * written by `rosetta:extract`, which the build runs after compile), and they are real code: the Python
 * byte-compiles and the Java parses (javac stopped after parsing: the jsii and CDK jars are on Maven Central only).
 */
import { execFileSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { javaCompilationUnit, quickstartTranslations, withQuickstarts } from '../../projenrc/quickstarts';

const ROOT = path.resolve(__dirname, '..', '..');
const README = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');

describe('README quick starts', () => {
  const translations = quickstartTranslations(ROOT);

  test('the Python and Java blocks are the current rosetta translations (npx projen readme:quickstarts)', () => {
    expect(withQuickstarts(README, translations)).toEqual(README);
  });

  test('a stale block is detected', () => {
    const stale = withQuickstarts(README, { ...translations, python: translations.python.replace('job_timeout', 'jobTimeout') });
    expect(withQuickstarts(stale, translations)).not.toEqual(stale);
  });

  test('the Python quick start byte-compiles', () => {
    expect(() => execFileSync('python3', ['-c', 'import sys; compile(sys.stdin.read(), "quickstart.py", "exec")'], { input: translations.python })).not.toThrow();
    // ...and the check can fail.
    expect(() => execFileSync('python3', ['-c', 'import sys; compile(sys.stdin.read(), "bad.py", "exec")'], { input: 'ShellScriptPipeline(stack,', stdio: 'pipe' })).toThrow();
  });

  test('the Java quick start parses', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ssp-java-'));
    const javac = (name: string, source: string) => {
      fs.writeFileSync(path.join(dir, `${name}.java`), javaCompilationUnit(source, name));
      // Hidden javac options: stop after the parser, so only syntax is checked (no jars needed).
      execFileSync('javac', ['-XDshould-stop.ifNoError=PARSE', '-XDshould-stop.ifError=PARSE', '-d', dir, path.join(dir, `${name}.java`)], { stdio: 'pipe' });
    };
    try {
      expect(() => javac('QuickStart', translations.java)).not.toThrow();
      expect(() => javac('Broken', translations.java.replace('.build();', '.build(;'))).toThrow();
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
