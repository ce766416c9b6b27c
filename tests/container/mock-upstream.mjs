// The OpenAI-compatible upstream for tests/container/run.sh: the end-to-end tests' mock
// (tests/e2e/lib/mock-upstream.mjs, Node built-ins only) on 127.0.0.1, on a port the kernel picks.
//
//   node tests/container/mock-upstream.mjs PORT_FILE LOG_FILE
//
// Writes its port to PORT_FILE once listening, then one JSON line per request received to LOG_FILE:
// {"method","path","model","auth_ok"}, where auth_ok says whether the Authorization header was
// "Bearer $CT_EXPECT_KEY" (the key comes from the environment, never the command line, and is never
// written). It answers every chat completion with the mock's default text (DEFAULT_OAI_TEXT), after
// CT_SLOW_MS milliseconds (default 3000) when the model's name contains "slow" (a request that is
// still in flight when the container is stopped).
// Exits on SIGTERM/SIGINT, or by itself after CT_MOCK_MAX_S seconds (default 900) so that a
// killed test leaves nothing behind.
import fs from 'node:fs';
import { startMock, oaiCompletion, DEFAULT_OAI_TEXT } from '../e2e/lib/mock-upstream.mjs';

const [portFile, logFile] = process.argv.slice(2);
if (!portFile || !logFile) {
  console.error('usage: mock-upstream.mjs PORT_FILE LOG_FILE');
  process.exit(2);
}
const want = `Bearer ${process.env.CT_EXPECT_KEY || ''}`;
const m = await startMock({ name: 'container' });
m.enqueue({
  match: (r) => typeof r.json?.model === 'string' && r.json.model.includes('slow'),
  times: Infinity,
  delayMs: Number(process.env.CT_SLOW_MS) || 3000,
  json: (r) => oaiCompletion({ model: r.json.model }),
});
let seen = 0;
const flush = () => {
  for (; seen < m.requests.length; seen++) {
    const r = m.requests[seen];
    const line = {
      method: r.method,
      path: r.path,
      model: r.json && typeof r.json.model === 'string' ? r.json.model : null,
      auth_ok: r.headers.authorization === want,
    };
    fs.appendFileSync(logFile, JSON.stringify(line) + '\n');
  }
};
const timer = setInterval(flush, 50);
fs.writeFileSync(portFile + '.tmp', `${m.port}\n`);
fs.renameSync(portFile + '.tmp', portFile);
console.error(`mock upstream on ${m.url}, answering "${DEFAULT_OAI_TEXT}"`);

const stop = async () => {
  clearInterval(timer);
  flush();
  await m.close();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
setTimeout(stop, (Number(process.env.CT_MOCK_MAX_S) || 900) * 1000).unref();
