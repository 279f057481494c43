/**
 * The memory floor of Node.js itself, for bench/bench.ts: one HTTP request to a local server, then its peak RSS
 * (VmHWM, kB).
 */
import * as fs from 'fs';
import * as http from 'http';

const server = http.createServer((_req, res) => res.end('{}'));
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  http.get(`http://127.0.0.1:${port}`, (res) => {
    res.resume();
    res.on('end', () => {
      process.stdout.write(`${/^VmHWM:\s+(\d+) kB$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1]}\n`);
      server.close();
    });
  });
});
